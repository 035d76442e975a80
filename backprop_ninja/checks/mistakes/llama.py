"""Kata 12's catalogue: classic wrong answers of the whole Llama's backward, one slip each.

`backward(idx, targets, params, acts)` returns a dict of gradients by
parameter name. Each mistake below is the reference with exactly one slip, so
a slip early in the pass (dlogits) shows in every gradient after it; the
check names the first gradient that differs in backward order, and the
catalogue recognises the slip from the whole result. Kata 08's plumbing slips
(the tie, the residual, repeated tokens) are here again, with the slips of the
new layers as they sit in the model (RoPE's backward inside attention,
RMSNorm, SwiGLU).
"""

import torch
import torch.nn.functional as F

from backprop_ninja.checks.mistakes import mistake, model_slips

K = "12_llama"


def _rotate_half(u):
    half = u.shape[-1] // 2
    return torch.cat([-u[..., half:], u[..., :half]], dim=-1)


def _rmsnorm(dout, w, x, inv_rms, norm, slip):
    dnorm = dout * w  # (B, T, C)
    mean_term = dnorm.mean(-1, keepdim=True) if slip == "rms-layernorm-mean" else 0
    dx = inv_rms * (dnorm - mean_term - norm * (dnorm * norm).mean(-1, keepdim=True))
    return dx, (norm * dout).sum((0, 1))


def _rope(dq_rot, cos, sin, slip):
    if slip == "rope-skipped":
        return dq_rot
    if slip == "rope-forward":
        return dq_rot * cos + _rotate_half(dq_rot) * sin  # the forward rotation again
    return dq_rot * cos - _rotate_half(dq_rot) * sin  # (B, nh, T, hs): the inverse rotation


def _swiglu(dout, x, W_gate, W_up, W_down, a, u, h, slip):
    C, H = W_gate.shape
    dW_down = h.reshape(-1, H).T @ dout.reshape(-1, C)  # (H, C)
    dh = dout @ W_down.T  # (B, T, H)
    s = torch.sigmoid(a)
    du = dh * a * s  # (B, T, H)
    local = s if slip == "silu-sigmoid-only" else s * (1 + a * (1 - s))
    da = dh * u * local  # (B, T, H)
    dx = da @ W_gate.T if slip == "swiglu-gate-path-only" else da @ W_gate.T + du @ W_up.T
    return dx, x.reshape(-1, C).T @ da.reshape(-1, H), x.reshape(-1, C).T @ du.reshape(-1, H), dW_down


def _attention(dout, x, W_attn, W_proj, q_rot, k_rot, v, att, y, ycat, cos, sin, slip):
    B, nh, T, hs = y.shape
    C = nh * hs
    dW_proj = ycat.reshape(-1, C).T @ dout.reshape(-1, C)  # (C, C)
    dy = (dout @ W_proj.T).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
    datt = dy @ v.transpose(-2, -1)  # (B, nh, T, T)
    dv = att.transpose(-2, -1) @ dy  # (B, nh, T, hs)
    dpreatt = att * (datt - (att * datt).sum(-1, keepdim=True))  # (B, nh, T, T)
    scale = 1.0 if slip == "attention-no-scale" else hs**-0.5
    dq = _rope(dpreatt @ k_rot * scale, cos, sin, slip)  # (B, nh, T, hs)
    dk = _rope(dpreatt.transpose(-2, -1) @ q_rot * scale, cos, sin, slip)
    dqkv = torch.cat([d.transpose(1, 2).reshape(B, T, C) for d in (dq, dk, dv)], dim=2)  # (B, T, 3C)
    return dqkv @ W_attn.T, x.reshape(-1, C).T @ dqkv.reshape(-1, 3 * C), dW_proj


def _backward(idx, targets, params, acts, slip: str = ""):
    """The reference backward pass, with one named slip."""
    B, T = idx.shape
    wte = params["wte"]
    V, C = wte.shape
    n_layer = sum(1 for name in params if name.endswith("_rms_1_w"))
    cos, sin = acts["cos"], acts["sin"]
    grads = {}
    logits = acts["logits"]  # (B, T, V)
    onehot = F.one_hot(targets, V).to(logits.dtype)  # (B, T, V)
    positions = B if slip == "loss-over-B" else B * T
    dlogits = (F.softmax(logits, -1) - onehot) / positions  # (B, T, V)

    if slip == "no-lm-head-path":
        dwte = torch.zeros_like(wte)
    else:
        dwte = dlogits.reshape(-1, V).T @ acts["rmsf_out"].reshape(-1, C)  # (V, C)
    drmsf = dlogits @ wte  # (B, T, C)
    if slip == "rmsf-skipped":
        dx, grads["rmsf_w"] = drmsf, (acts["rmsf_norm"] * drmsf).sum((0, 1))
    else:
        dx, grads["rmsf_w"] = _rmsnorm(drmsf, params["rmsf_w"], acts["rmsf_x"], acts["rmsf_inv_rms"],
                                       acts["rmsf_norm"], slip)
    for l in reversed(range(n_layer)):
        p = f"h{l}_"
        a = {name[len(p):]: value for name, value in acts.items() if name.startswith(p)}
        dxm, grads[p + "mlp_W_gate"], grads[p + "mlp_W_up"], grads[p + "mlp_W_down"] = _swiglu(
            dx, a["rms_2_out"], params[p + "mlp_W_gate"], params[p + "mlp_W_up"], params[p + "mlp_W_down"],
            a["mlp_a"], a["mlp_u"], a["mlp_h"], slip)
        dln, grads[p + "rms_2_w"] = _rmsnorm(dxm, params[p + "rms_2_w"], a["rms_2_x"], a["rms_2_inv_rms"],
                                             a["rms_2_norm"], slip)
        dx = dln if slip == "residual-overwritten" else dx + dln
        dxa, grads[p + "attn_W_attn"], grads[p + "attn_W_proj"] = _attention(
            dx, a["rms_1_out"], params[p + "attn_W_attn"], params[p + "attn_W_proj"], a["attn_q_rot"],
            a["attn_k_rot"], a["attn_v"], a["attn_att"], a["attn_y"], a["attn_ycat"], cos, sin, slip)
        dln, grads[p + "rms_1_w"] = _rmsnorm(dxa, params[p + "rms_1_w"], a["rms_1_x"], a["rms_1_inv_rms"],
                                             a["rms_1_norm"], slip)
        dx = dln if slip == "residual-overwritten" else dx + dln

    if slip == "dwte-overwritten":
        dwte[idx.reshape(-1)] += dx.reshape(-1, C)  # an indexed +=: a repeated token keeps one use
    elif slip != "no-embedding-path":
        dwte.index_add_(0, idx.reshape(-1), dx.reshape(-1, C))
    grads["wte"] = dwte
    return {name: grads[name] for name in params}


_slip = model_slips(K, _backward)  # _slip(name, how, id, sentence): _backward with slip=how, registered


# --- the loss, the tied lm_head and the final RMSNorm -------------------------------------------

_slip("backward_loss_over_B", "loss-over-B", "scale",
      "this is exactly the backward pass with dlogits divided by B: the loss averages over all B*T positions, "
      "so dlogits = (softmax - one_hot) / (B*T), and every gradient after it inherits the factor")
_slip("backward_without_the_tie", "no-lm-head-path", "missing-branch",
      "this is exactly the backward pass with dwte from the embedding alone: the lm_head is tied to wte "
      "(logits = rmsf_out @ wte.T), so wte's two paths add: dwte also collects dlogits.T @ rmsf_out")
_slip("backward_without_the_embedding_path", "no-embedding-path", "missing-branch",
      "this is exactly the backward pass with dwte from the lm_head alone: wte is also the token embedding, "
      "so wte's two paths add: each position's dx goes into the row of its token (index_add_)")
_slip("backward_final_rmsnorm_skipped", "rmsf-skipped", "chain-rule",
      "this is exactly the backward pass with the final RMSNorm's input gradient taken as its output gradient: "
      "rmsf divides each row by its RMS and scales it by rmsf_w, so dx comes through kata 09's "
      "dx(dout, w, x, inv_rms)")

# --- the blocks ---------------------------------------------------------------------------------

_slip("backward_residual_overwritten", "residual-overwritten", "missing-branch",
      "this is exactly the backward pass with dx = the branch's input gradient: x = x + branch(x) uses x twice, "
      "so dx passes on unchanged and the branch's gradient adds to it (dx = dx + dln)")
_slip("backward_rope_skipped", "rope-skipped", "chain-rule",
      "this is exactly the backward pass with RoPE's backward skipped: dq(k_rot, dpreatt) is the gradient of "
      "q_rot, not of q, so turn it back with kata 10's rope.dq(dq_rot, cos, sin) (and dk the same) "
      "before dqkv")
_slip("backward_rope_rotated_forward", "rope-forward", "sign",
      "this is exactly the backward pass with RoPE's forward rotation applied to dq_rot: a rotation's backward "
      "is its inverse, the transpose, and rotate_half's transpose is -rotate_half, so "
      "dq = dq_rot * cos - rotate_half(dq_rot) * sin")
_slip("backward_rmsnorm_with_layernorms_mean", "rms-layernorm-mean", "derivative",
      "this is exactly the backward pass with layernorm's dx in the RMSNorms: its term - dnorm.mean(-1) comes "
      "from the path through the row's mean, and RMSNorm subtracts no mean, so two terms remain")
_slip("backward_attention_without_scale", "attention-no-scale", "scale",
      "this is exactly the backward pass with dq and dk missing hs**-0.5: preatt was scaled by it, so its "
      "gradient carries the same factor back to q_rot and k_rot")
_slip("backward_silu_derivative_as_the_sigmoid", "silu-sigmoid-only", "derivative",
      "this is exactly the backward pass with silu's derivative taken as sigmoid(a): silu(a) = a * sigmoid(a) "
      "is a product, so its derivative is s * (1 + a * (1 - s)) with s = sigmoid(a)")
_slip("backward_swiglu_through_the_gate_alone", "swiglu-gate-path-only", "missing-branch",
      "this is exactly the backward pass with the SwiGLU's dx through the gate alone: x feeds both "
      "a = x @ W_gate and u = x @ W_up, so dx = da @ W_gate.T + du @ W_up.T")

# --- the embedding ------------------------------------------------------------------------------

_slip("backward_dwte_overwritten", "dwte-overwritten", "accumulate",
      "this is exactly dwte[idx] += dx: an indexed += writes a repeated token's row once, keeping one use; a "
      "token used several times must collect all of them (index_add_)")


# --- the form of the answer ---------------------------------------------------------------------

@mistake(K, "backward", "not-a-tensor",
         "backward returns a dict of gradients keyed by the parameter names, not a tuple: "
         "return {name: gradient for each name of params}")
def backward_returning_a_tuple(idx, targets, params, acts):
    return tuple(_backward(idx, targets, params, acts).values())


@mistake(K, "backward", "autograd",
         "loss.backward() is what the kata replaces: derive each gradient with the chain rule")
def backward_by_autograd(idx, targets, params, acts):
    from backprop_ninja.models import llama

    leaves = {k: v.requires_grad_(True) for k, v in params.items()}
    _, loss = llama.forward(leaves, idx, targets, acts["h0_attn_q_rot"].shape[1])
    loss.backward()
    return {k: v.grad for k, v in leaves.items()}
