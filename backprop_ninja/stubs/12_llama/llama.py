"""Kata 12 — the whole Llama's backward pass: every gradient of Part 3, chained through the model.

Katas 09-11 each asked for one layer of today's block: RMSNorm, RoPE and
SwiGLU. Here you chain them, with kata 06's attention, through a whole small
Llama-style model, from the loss back to the token embedding, and then train
it with your gradients instead of loss.backward(). Paste your steps of katas
09-11 and 06 into the four classes below (the same names and parameters;
attention has no bias steps here), then write `backward`. A step that took an
extra parameter in those katas is called here with the stub's parameters
only: compute the extra value inside the step, or pass it from the class's
backward, which is yours to change too.

    pytest katas/12_llama                        check it
    backprop-ninja hint backward --kata 12       a hint (--level 2, --level 3 for more)
    backprop-ninja train --model llama           then train the Llama with it

B, T, C, nh, hs and H come from shapes.
"""

import torch  # noqa: F401
import torch.nn.functional as F  # noqa: F401


class rmsnorm:
    """Kata 09's steps, pasted in: inv_rms = (x.pow(2).mean(-1, keepdim=True) + 1e-5).rsqrt(),
    norm = x * inv_rms, out = norm * w, per row of x (B, T, C).

    `rmsnorm.backward` chains them; the same for the classes below.
    """

    def dw(norm, dout):
        ...  # paste your kata 09 dw(norm, dout) here -> (C,)

    def dx(dout, w, x, inv_rms):
        ...  # paste your kata 09 dx(dout, w, x, inv_rms) here -> (B, T, C)

    def backward(dout, w, x, inv_rms, norm):
        """dout (B, T, C) -> (dx (B, T, C), dw (C,))."""
        return rmsnorm.dx(dout, w, x, inv_rms), rmsnorm.dw(norm, dout)


class rope:
    """Kata 10's step, pasted in: q_rot = q * cos + rotate_half(q) * sin, q (B, nh, T, hs), cos, sin (T, hs),
    in the half layout (channel i paired with channel i + hs/2); the same function serves k."""

    def dq(dq_rot, cos, sin):
        ...  # paste your kata 10 dq(dq_rot, cos, sin) here -> (B, nh, T, hs)


class swiglu:
    """Kata 11's steps, pasted in: a = x @ W_gate; u = x @ W_up; h = silu(a) * u; out = h @ W_down."""

    def dW_down(h, dout):
        ...  # paste your kata 11 steps here, in backward order -> (H, C)

    def dh(W_down, dout):
        ...  # -> (B, T, H)

    def du(a, dh):
        ...  # -> (B, T, H)

    def da(a, u, dh):
        ...  # -> (B, T, H)

    def dW_gate(x, da):
        ...  # -> (C, H)

    def dW_up(x, du):
        ...  # -> (C, H)

    def dx(W_gate, W_up, da, du):
        ...  # -> (B, T, C)

    def backward(dout, x, W_gate, W_up, W_down, a, u, h):
        """dout (B, T, C) -> (dx, dW_gate, dW_up, dW_down)."""
        dh = swiglu.dh(W_down, dout)
        du, da = swiglu.du(a, dh), swiglu.da(a, u, dh)
        return (swiglu.dx(W_gate, W_up, da, du), swiglu.dW_gate(x, da), swiglu.dW_up(x, du),
                swiglu.dW_down(h, dout))


class attention:
    """Kata 06's steps, pasted in, without the bias steps (db_proj, db_attn): causal self-attention of
    the RMSNormed x (B, T, C), with RoPE on q and k. Fed k_rot and q_rot, dq and dk give the gradients
    of q_rot and k_rot; rope.dq takes them back to q and k."""

    def dW_proj(ycat, dout):
        ...  # paste your kata 06 steps here, in backward order -> (C, C)

    def dycat(W_proj, dout):
        ...  # -> (B, T, C)

    def dy(y, dycat):
        ...  # -> (B, nh, T, hs)

    def datt(v, dy):
        ...  # -> (B, nh, T, T)

    def dv(att, dy):
        ...  # -> (B, nh, T, hs)

    def dpreatt(att, datt):
        ...  # softmax and mask together -> (B, nh, T, T)

    def dq(k, dpreatt):
        ...  # -> (B, nh, T, hs)

    def dk(q, dpreatt):
        ...  # -> (B, nh, T, hs)

    def dqkv(dq, dk, dv):
        ...  # -> (B, T, 3C)

    def dW_attn(x, dqkv):
        ...  # -> (C, 3C)

    def dx(W_attn, dqkv):
        ...  # -> (B, T, C)

    def backward(dout, x, W_attn, W_proj, q_rot, k_rot, v, att, y, ycat, cos, sin):
        """dout (B, T, C) -> (dx, dW_attn, dW_proj)."""
        dy = attention.dy(y, attention.dycat(W_proj, dout))
        dpreatt = attention.dpreatt(att, attention.datt(v, dy))
        dq = rope.dq(attention.dq(k_rot, dpreatt), cos, sin)  # preatt reads q_rot: dq_rot, then RoPE's backward
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
    # TODO: the loss's dlogits, the tied lm_head, the final RMSNorm, each block from the last (residuals add),
    # and the token embedding (no position table here: RoPE's angles are not parameters)
    raise NotImplementedError("kata 12: backward — write every parameter's gradient of the whole Llama")
