"""Kata 12 — the whole Llama's backward pass, solved.

This is the worked solution. `backprop-ninja train --model llama --impl reference`
trains the model with it; `pytest katas/12_llama --impl reference` checks it.
The four classes hold the layer steps of katas 09-11 and kata 06's attention
without its bias steps (their names and parameters, as those katas' READMEs
give them); `backward` chains them through the whole model.

It is also written to be fast, since training calls it at every step: a weight
gradient is one matmul over the B*T rows; RMSNorm's, softmax's and SwiGLU's
backwards are fused; the loss's gradient is one softmax with the targets taken
off in place; the tied wte collects the lm_head's and the embedding's
gradients in one tensor.
"""

import torch
import torch.nn.functional as F


class rmsnorm:
    """Kata 09's steps: out = norm * w, norm = x * inv_rms, inv_rms = 1/sqrt(mean(x**2) + eps), per row."""

    def dw(norm, dout):
        return (norm * dout).sum((0, 1))  # (C,): w is shared by every (b, t)

    def dx(dout, w, x, inv_rms):
        # dnorm = dout * w; inv_rms depends on every x of the row, hence the one mean (layernorm's
        # second; there is no mean to subtract): dx = inv_rms * (dnorm - x * inv_rms**2 * mean(dnorm * x))
        dnorm = dout * w  # (B, T, C)
        proj = (dnorm * x).mean(-1, keepdim=True).mul_(inv_rms * inv_rms)  # (B, T, 1)
        return dnorm.addcmul_(x, proj, value=-1).mul_(inv_rms)  # (B, T, C)

    def backward(dout, w, x, inv_rms, norm):
        """dout (B, T, C) -> (dx (B, T, C), dw (C,))."""
        return rmsnorm.dx(dout, w, x, inv_rms), rmsnorm.dw(norm, dout)


class rope:
    """Kata 10's step: q_rot = q * cos + rotate_half(q) * sin, q (B, nh, T, hs), cos, sin (T, hs)."""

    def dq(dq_rot, cos, sin):
        # a rotation's backward is the inverse rotation: rotate_half's transpose is -rotate_half, and cos,
        # sin have equal halves, so dq = dq_rot * cos - rotate_half(dq_rot) * sin
        half = dq_rot.shape[-1] // 2
        turned = torch.cat([dq_rot[..., half:], -dq_rot[..., :half]], dim=-1)  # -rotate_half(dq_rot)
        return turned.mul_(sin).addcmul_(dq_rot, cos)  # (B, nh, T, hs)


class swiglu:
    """Kata 11's steps: a = x @ W_gate; u = x @ W_up; h = silu(a) * u; out = h @ W_down."""

    def dW_down(h, dout):
        return h.reshape(-1, h.shape[-1]).T @ dout.reshape(-1, dout.shape[-1])  # (H, C)

    def dh(W_down, dout):
        return dout @ W_down.T  # (B, T, H)

    def du(a, dh):
        return F.silu(a).mul_(dh)  # (B, T, H): h = silu(a) * u

    def da(a, u, dh):
        # silu(a) = a * s with s = sigmoid(a): silu'(a) = s + a s (1 - s) = s (1 + a (1 - s))
        s = torch.sigmoid(a)  # (B, T, H)
        local = (1 - s).mul_(a).add_(1).mul_(s)  # silu'(a)
        return local.mul_(u).mul_(dh)  # (B, T, H)

    def dW_gate(x, da):
        return x.reshape(-1, x.shape[-1]).T @ da.reshape(-1, da.shape[-1])  # (C, H)

    def dW_up(x, du):
        return x.reshape(-1, x.shape[-1]).T @ du.reshape(-1, du.shape[-1])  # (C, H)

    def dx(W_gate, W_up, da, du):
        # x feeds both a and u: the two paths add (the second in place, into the first's fresh tensor)
        return (da @ W_gate.T).add_(du @ W_up.T)  # (B, T, C)

    def backward(dout, x, W_gate, W_up, W_down, a, u, h):
        """dout (B, T, C) -> (dx, dW_gate, dW_up, dW_down)."""
        dh = swiglu.dh(W_down, dout)
        du, da = swiglu.du(a, dh), swiglu.da(a, u, dh)
        return (swiglu.dx(W_gate, W_up, da, du), swiglu.dW_gate(x, da), swiglu.dW_up(x, du),
                swiglu.dW_down(h, dout))


class attention:
    """Kata 06's steps without the biases: causal self-attention of the RMSNormed x (B, T, C), RoPE on
    q and k. dq and dk give the gradients of q_rot and k_rot (fed k_rot and q_rot); rope.dq turns them
    back into q's and k's."""

    def dW_proj(ycat, dout):
        return ycat.reshape(-1, ycat.shape[-1]).T @ dout.reshape(-1, dout.shape[-1])  # (C, C)

    def dycat(W_proj, dout):
        return dout @ W_proj.T  # (B, T, C)

    def dy(y, dycat):
        B, nh, T, hs = y.shape
        return dycat.view(B, T, nh, hs).transpose(1, 2).contiguous()  # (B, nh, T, hs)

    def datt(v, dy):
        return dy @ v.transpose(-2, -1)  # (B, nh, T, T)

    def dv(att, dy):
        return att.transpose(-2, -1) @ dy  # (B, nh, T, hs)

    def dpreatt(att, datt):
        # softmax's backward per row, att * (datt - sum(att * datt)); masked entries have att 0
        dpreatt = att * datt  # (B, nh, T, T)
        return dpreatt.addcmul_(att, dpreatt.sum(-1, keepdim=True), value=-1)

    def dq(k, dpreatt):
        return (dpreatt @ k).mul_(k.shape[-1] ** -0.5)  # (B, nh, T, hs)

    def dk(q, dpreatt):
        return (dpreatt.transpose(-2, -1) @ q).mul_(q.shape[-1] ** -0.5)  # (B, nh, T, hs)

    def dqkv(dq, dk, dv):
        B, nh, T, hs = dq.shape
        return torch.cat([d.transpose(1, 2) for d in (dq, dk, dv)], dim=2).view(B, T, 3 * nh * hs)  # (B, T, 3C)

    def dW_attn(x, dqkv):
        return x.reshape(-1, x.shape[-1]).T @ dqkv.reshape(-1, dqkv.shape[-1])  # (C, 3C)

    def dx(W_attn, dqkv):
        return dqkv @ W_attn.T  # (B, T, C)

    def backward(dout, x, W_attn, W_proj, q_rot, k_rot, v, att, y, ycat, cos, sin):
        """dout (B, T, C) -> (dx, dW_attn, dW_proj)."""
        dy = attention.dy(y, attention.dycat(W_proj, dout))
        dpreatt = attention.dpreatt(att, attention.datt(v, dy))
        # preatt reads the rotated q and k: their gradients, then RoPE's backward to q and k themselves
        dq = rope.dq(attention.dq(k_rot, dpreatt), cos, sin)
        dk = rope.dq(attention.dk(q_rot, dpreatt), cos, sin)
        dqkv = attention.dqkv(dq, dk, attention.dv(att, dy))
        return attention.dx(W_attn, dqkv), attention.dW_attn(x, dqkv), attention.dW_proj(ycat, dout)


def backward(idx, targets, params, acts):
    """Every parameter's gradient of the mean cross entropy, without autograd.

    idx, targets (B, T) int64: the tokens and the next token at every position.
    params: the parameters by name (llama.parameter_names): wte (V, C); per block l:
      h{l}_rms_1_w (C,), h{l}_attn_W_attn (C, 3C), h{l}_attn_W_proj (C, C), h{l}_rms_2_w (C,),
      h{l}_mlp_W_gate, h{l}_mlp_W_up (C, H), h{l}_mlp_W_down (H, C); rmsf_w (C,).
    acts: the forward pass's saved values by name: cos, sin (T, hs), RoPE's tables; per block l:
      h{l}_rms_1_x, h{l}_rms_1_norm, h{l}_rms_1_out (B, T, C) (rms_1_out is attention's x),
      h{l}_rms_1_inv_rms (B, T, 1), h{l}_attn_q_rot, _k_rot, _v, _y (B, nh, T, hs),
      h{l}_attn_att (B, nh, T, T), h{l}_attn_ycat (B, T, C), h{l}_rms_2_x, _inv_rms, _norm, _out
      (rms_2_out is the SwiGLU's x), h{l}_mlp_a, h{l}_mlp_u, h{l}_mlp_h (B, T, H);
      rmsf_x, rmsf_inv_rms, rmsf_norm, rmsf_out and logits (B, T, V).

    Returns a dict with a gradient for every name of params, each of its parameter's shape.
    """
    B, T = idx.shape
    wte = params["wte"]
    V, C = wte.shape
    n_layer = sum(1 for name in params if name.endswith("_rms_1_w"))
    cos, sin = acts["cos"], acts["sin"]
    grads = {}

    # cross entropy over all B*T positions: (softmax - one_hot) / (B*T), the one-hot taken off in place
    logits = acts["logits"].reshape(B * T, V)  # (B*T, V)
    dlogits = F.softmax(logits, -1)  # (B*T, V)
    dlogits.scatter_add_(1, targets.reshape(B * T, 1), logits.new_full((B * T, 1), -1.0))
    dlogits /= B * T

    # the tied lm_head, logits = rmsf @ wte.T: wte's first gradient, and rmsf's
    dwte = dlogits.T @ acts["rmsf_out"].reshape(B * T, C)  # (V, C)
    drmsf = (dlogits @ wte).view(B, T, C)  # (B, T, C)
    dx, grads["rmsf_w"] = rmsnorm.backward(drmsf, params["rmsf_w"], acts["rmsf_x"], acts["rmsf_inv_rms"],
                                           acts["rmsf_norm"])

    for l in reversed(range(n_layer)):
        p = f"h{l}_"
        a = {name[len(p):]: value for name, value in acts.items() if name.startswith(p)}  # this block's, by role
        # x = x + swiglu(rms_2(x)): the residual passes dx on unchanged, and the branch's gradient adds to it
        dxm, grads[p + "mlp_W_gate"], grads[p + "mlp_W_up"], grads[p + "mlp_W_down"] = swiglu.backward(
            dx, a["rms_2_out"], params[p + "mlp_W_gate"], params[p + "mlp_W_up"], params[p + "mlp_W_down"],
            a["mlp_a"], a["mlp_u"], a["mlp_h"])
        dln, grads[p + "rms_2_w"] = rmsnorm.backward(dxm, params[p + "rms_2_w"], a["rms_2_x"], a["rms_2_inv_rms"],
                                                     a["rms_2_norm"])
        dx += dln
        # x = x + attention(rms_1(x)): the same again
        dxa, grads[p + "attn_W_attn"], grads[p + "attn_W_proj"] = attention.backward(
            dx, a["rms_1_out"], params[p + "attn_W_attn"], params[p + "attn_W_proj"], a["attn_q_rot"],
            a["attn_k_rot"], a["attn_v"], a["attn_att"], a["attn_y"], a["attn_ycat"], cos, sin)
        dln, grads[p + "rms_1_w"] = rmsnorm.backward(dxa, params[p + "rms_1_w"], a["rms_1_x"], a["rms_1_inv_rms"],
                                                     a["rms_1_norm"])
        dx += dln

    # x = wte[idx]: a token used several times collects every use's gradient, beside the lm_head's
    dwte.index_add_(0, idx.reshape(-1), dx.reshape(B * T, C))
    grads["wte"] = dwte
    return {name: grads[name] for name in params}
