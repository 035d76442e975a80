"""Kata 08's catalogue: classic wrong answers of the whole GPT's backward, one slip each.

`backward(idx, targets, params, acts)` returns a dict of gradients by
parameter name. Each mistake below is the reference with exactly one slip, so
a slip early in the pass (dlogits) shows in every gradient after it; the
check names the first gradient that differs in backward order, and the
catalogue recognises the slip from the whole result.
"""

import math

import torch
import torch.nn.functional as F

from backprop_ninja.checks.mistakes import mistake, model_slips

K = "08_gpt"


def _layernorm(dout, w, norm, rstd, slip):
    dnorm = dout * w  # (B, T, C)
    mean_term = 0 if slip == "ln-no-mean" else dnorm.mean(-1, keepdim=True)
    dx = rstd * (dnorm - mean_term - norm * (dnorm * norm).mean(-1, keepdim=True))
    return dx, (norm * dout).sum((0, 1)), dout.sum((0, 1), keepdim=slip == "ln-db-keepdim")


def _attention(dout, x, W_attn, W_proj, q, k, v, att, y, ycat, slip):
    B, nh, T, hs = y.shape
    C = nh * hs
    dW_proj = ycat.reshape(-1, C).T @ dout.reshape(-1, C)  # (C, C)
    dycat = dout @ W_proj.T  # (B, T, C)
    dy = dycat.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
    datt = dy @ v.transpose(-2, -1)  # (B, nh, T, T)
    dv = att.transpose(-2, -1) @ dy  # (B, nh, T, hs)
    if slip == "softmax-no-sum":
        dpreatt = att * datt
    else:
        dpreatt = att * (datt - (att * datt).sum(-1, keepdim=True))  # (B, nh, T, T)
    scale = 1.0 if slip == "attention-no-scale" else hs**-0.5
    dq, dk = dpreatt @ k * scale, dpreatt.transpose(-2, -1) @ q * scale  # (B, nh, T, hs)
    if slip == "heads-not-transposed":
        dqkv = torch.cat([d.reshape(B, T, C) for d in (dq, dk, dv)], dim=2)
    else:
        dqkv = torch.cat([d.transpose(1, 2).reshape(B, T, C) for d in (dq, dk, dv)], dim=2)  # (B, T, 3C)
    dW_attn = x.reshape(-1, C).T @ dqkv.reshape(-1, 3 * C)  # (C, 3C)
    return dqkv @ W_attn.T, dW_attn, dqkv.sum((0, 1)), dW_proj, dout.sum((0, 1))


def _mlp(dout, x, W_fc, W_proj, fch, fch_gelu, slip):
    C = x.shape[-1]
    dW_proj = fch_gelu.reshape(-1, 4 * C).T @ dout.reshape(-1, C)  # (4C, C)
    dfch_gelu = dout @ W_proj.T  # (B, T, 4C)
    s = math.sqrt(2 / math.pi)
    t = torch.tanh(s * (fch + 0.044715 * fch**3))
    inner = 1.0 if slip == "gelu-no-cubic" else 1 + 3 * 0.044715 * fch**2
    dfch = (0.5 * (1 + t) + 0.5 * fch * (1 - t**2) * s * inner) * dfch_gelu  # (B, T, 4C)
    dW_fc = x.reshape(-1, C).T @ dfch.reshape(-1, 4 * C)  # (C, 4C)
    return dfch @ W_fc.T, dW_fc, dfch.sum((0, 1)), dW_proj, dout.sum((0, 1))


def _backward(idx, targets, params, acts, slip: str = ""):
    """The reference backward pass, with one named slip."""
    B, T = idx.shape
    wte = params["wte"]
    V, C = wte.shape
    n_layer = sum(1 for name in params if name.endswith("_ln_1_w"))
    grads = {}
    logits = acts["logits"]  # (B, T, V)
    onehot = F.one_hot(targets, V).to(logits.dtype)  # (B, T, V)
    positions = {"loss-over-B": B, "loss-not-averaged": 1}.get(slip, B * T)
    dlogits = (F.softmax(logits, -1) - (0 if slip == "no-one-hot" else onehot)) / positions  # (B, T, V)

    lnf_out = acts["lnf_out"].reshape(-1, C)
    if slip == "no-lm-head-path":
        dwte = torch.zeros_like(wte)
    else:
        dwte = dlogits.reshape(-1, V).T @ lnf_out  # (V, C)
    dlnf = dlogits @ wte  # (B, T, C)
    if slip == "lnf-skipped":
        dx, grads["lnf_w"], grads["lnf_b"] = dlnf, (acts["lnf_norm"] * dlnf).sum((0, 1)), dlnf.sum((0, 1))
    else:
        dx, grads["lnf_w"], grads["lnf_b"] = _layernorm(dlnf, params["lnf_w"], acts["lnf_norm"], acts["lnf_rstd"],
                                                        slip)
    for l in reversed(range(n_layer)):
        p = f"h{l}_"
        a = {name[len(p):]: value for name, value in acts.items() if name.startswith(p)}
        dxm, grads[p + "mlp_W_fc"], grads[p + "mlp_b_fc"], grads[p + "mlp_W_proj"], grads[p + "mlp_b_proj"] = _mlp(
            dx, a["ln_2_out"], params[p + "mlp_W_fc"], params[p + "mlp_W_proj"], a["mlp_fch"], a["mlp_fch_gelu"], slip)
        dln, grads[p + "ln_2_w"], grads[p + "ln_2_b"] = _layernorm(dxm, params[p + "ln_2_w"], a["ln_2_norm"],
                                                                   a["ln_2_rstd"], slip)
        dx = dln if slip == "residual-overwritten" else dx + dln
        dxa, grads[p + "attn_W_attn"], grads[p + "attn_b_attn"], grads[p + "attn_W_proj"], \
            grads[p + "attn_b_proj"] = _attention(dx, a["ln_1_out"], params[p + "attn_W_attn"],
                                                  params[p + "attn_W_proj"], a["attn_q"], a["attn_k"], a["attn_v"],
                                                  a["attn_att"], a["attn_y"], a["attn_ycat"], slip)
        dln, grads[p + "ln_1_w"], grads[p + "ln_1_b"] = _layernorm(dxa, params[p + "ln_1_w"], a["ln_1_norm"],
                                                                   a["ln_1_rstd"], slip)
        dx = dln if slip == "residual-overwritten" else dx + dln

    if slip == "wpe-not-summed":
        dwpe = dx.clone()
    elif slip == "wpe-summed-over-time":
        dwpe = dx.sum(1)
    else:
        dwpe = torch.zeros_like(params["wpe"])  # (block_size, C)
        dwpe[:T] = dx.sum(0)
    if slip == "dwte-overwritten":
        dwte[idx.reshape(-1)] += dx.reshape(-1, C)  # an indexed +=: a repeated token keeps one use
    elif slip == "no-embedding-path":
        pass
    else:
        dwte.index_add_(0, idx.reshape(-1), dx.reshape(-1, C))
    grads["wte"], grads["wpe"] = dwte, dwpe
    return {name: grads[name] for name in params}


_slip = model_slips(K, _backward)  # _slip(name, how, id, sentence): _backward with slip=how, registered


# --- the loss -----------------------------------------------------------------------------------

_slip("backward_loss_over_B", "loss-over-B", "scale",
      "this is exactly the backward pass with dlogits divided by B: the loss averages over all B*T positions, "
      "so dlogits = (softmax - one_hot) / (B*T), and every gradient after it inherits the factor")
_slip("backward_loss_not_averaged", "loss-not-averaged", "scale",
      "this is exactly the backward pass without the 1/(B*T) of dlogits: cross entropy averages over every "
      "position of every sequence")
_slip("backward_without_one_hot", "no-one-hot", "missing-branch",
      "this is exactly the backward pass with dlogits = softmax / (B*T), without the one-hot: the loss also reads "
      "the target's logit directly, so subtract 1 at each target before dividing")

# --- the tied lm_head and the final layernorm ---------------------------------------------------

_slip("backward_without_the_tie", "no-lm-head-path", "missing-branch",
      "this is exactly the backward pass with dwte from the embedding alone: the lm_head is tied to wte "
      "(logits = lnf_out @ wte.T), so dwte also collects dlogits.T @ lnf_out")
_slip("backward_without_the_embedding_path", "no-embedding-path", "missing-branch",
      "this is exactly the backward pass with dwte from the lm_head alone: wte is also the token embedding, "
      "so each position's dx adds into the row of its token (index_add_)")
_slip("backward_layernorm_db_keepdim", "ln-db-keepdim", "keepdim",
      "dout.sum((0, 1), keepdim=True) gives a layernorm's db the shape (1, 1, C), but b is (C,)")
_slip("backward_final_layernorm_skipped", "lnf-skipped", "chain-rule",
      "this is exactly the backward pass with the final layernorm's input gradient taken as its output gradient: "
      "lnf normalises each row, so dx comes through kata 05's dx(dout, w, norm, rstd)")

# --- the blocks ---------------------------------------------------------------------------------

_slip("backward_residual_overwritten", "residual-overwritten", "missing-branch",
      "this is exactly the backward pass with dx = the branch's input gradient: x = x + branch(x) uses x twice, "
      "so dx passes on unchanged and the branch's gradient adds to it (dx = dx + dln)")
_slip("backward_layernorm_without_mean_term", "ln-no-mean", "missing-branch",
      "this is exactly the backward pass with layernorm's dx missing the mean's term: every x of a row moves "
      "the row's mean, so subtract dnorm.mean(-1, keepdim=True) as well")
_slip("backward_attention_without_scale", "attention-no-scale", "scale",
      "this is exactly the backward pass with dq and dk missing hs**-0.5: preatt was scaled by it, so its "
      "gradient carries the same factor back to q and k")
_slip("backward_softmax_without_the_sum", "softmax-no-sum", "missing-branch",
      "this is exactly the backward pass with dpreatt = att * datt: every preatt of a row moves the whole row "
      "of the softmax, so subtract (att * datt).sum(-1, keepdim=True) inside")
_slip("backward_heads_not_transposed_back", "heads-not-transposed", "transposed",
      "this is exactly the backward pass with dq, dk, dv reshaped to (B, T, C) without transposing the heads "
      "back: they are (B, nh, T, hs), so transpose(1, 2) before the reshape")
_slip("backward_gelu_without_the_cubic", "gelu-no-cubic", "derivative",
      "this is exactly the backward pass with GELU's inner derivative taken as 1: the tanh's argument is "
      "sqrt(2/pi) * (x + 0.044715 x**3), whose derivative is sqrt(2/pi) * (1 + 3 * 0.044715 x**2)")

# --- the embeddings -----------------------------------------------------------------------------

_slip("backward_wpe_not_summed", "wpe-not-summed", "missing-sum",
      "dwpe = dx is (B, T, C), but wpe is (T, C): the same position row is added to every sequence of the "
      "batch, so sum dx over the batch (dx.sum(0))")
_slip("backward_wpe_summed_over_time", "wpe-summed-over-time", "shape",
      "dx.sum(1) sums over the positions, giving (B, C): wpe's rows are positions, used by every sequence, so "
      "sum over the batch instead (dx.sum(0))")
_slip("backward_dwte_overwritten", "dwte-overwritten", "accumulate",
      "this is exactly dwte[idx] += dx: an indexed += writes a repeated token's row once, keeping one use; a "
      "token used several times must collect all of them (index_add_)")


# --- the form of the answer ---------------------------------------------------------------------

@mistake(K, "backward", "not-a-tensor",
         "backward returns a dict of gradients keyed by the parameter names, not a tuple: "
         "return {name: gradient for each name of params}")
def backward_returning_a_tuple(idx, targets, params, acts):
    return tuple(_backward(idx, targets, params, acts).values())


@mistake(K, "backward", "mutated-input",
         "dlogits = acts['logits'] and then -= changes the saved logits in place: start from a new tensor "
         "(F.softmax(...) makes one)")
def backward_softmax_in_place_on_the_logits(idx, targets, params, acts):
    grads = _backward(idx, targets, params, acts)
    acts["logits"].sub_(acts["logits"].amax(-1, keepdim=True))
    return grads


@mistake(K, "backward", "autograd",
         "loss.backward() is what the kata replaces: derive each gradient with the chain rule")
def backward_by_autograd(idx, targets, params, acts):
    from backprop_ninja.models import gpt

    leaves = {k: v.requires_grad_(True) for k, v in params.items()}
    _, loss = gpt.forward(leaves, idx, targets, acts["h0_attn_q"].shape[1])
    loss.backward()
    return {k: v.grad for k, v in leaves.items()}
