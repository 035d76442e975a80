"""Kata 08 — the whole GPT's backward pass: every gradient you wrote, chained through the model.

Katas 05-07 each asked for one layer's backward: layernorm, attention and the
MLP. Here you chain them through the whole model, from the loss back to the
embeddings, and then train the GPT with your gradients instead of
loss.backward(). Paste your steps of katas 05-07 into the three classes
below (the same names and parameters), then write `backward`. A step that
took an extra parameter in katas 05-07 (x, mean, ...) is called here with the
stub's parameters only: compute the extra value inside the step, or pass it
from the class's backward, which is yours to change too.

    pytest katas/08_gpt                          check it
    backprop-ninja hint backward --kata 08       a hint (--level 2, --level 3 for more)
    backprop-ninja train --model gpt             then train the GPT with it

B, T, C, nh and hs come from shapes.
"""

import math  # noqa: F401  (GELU's sqrt(2/pi))

import torch  # noqa: F401
import torch.nn.functional as F  # noqa: F401


class layernorm:
    """Kata 05's steps, pasted in: out = norm * w + b, norm = (x - mean) * rstd, per row of x (B, T, C).

    `layernorm.backward` chains them; the same for attention and mlp below.
    """

    def db(dout):
        ...  # paste your kata 05 db(dout) here -> (C,)

    def dw(norm, dout):
        ...  # paste your kata 05 dw(norm, dout) here -> (C,)

    def dx(dout, w, norm, rstd):
        ...  # paste your kata 05 dx(dout, w, norm, rstd) here -> (B, T, C)

    def backward(dout, w, norm, rstd):
        """dout (B, T, C) -> (dx (B, T, C), dw (C,), db (C,))."""
        return layernorm.dx(dout, w, norm, rstd), layernorm.dw(norm, dout), layernorm.db(dout)


class attention:
    """Kata 06's steps, pasted in: causal self-attention, x (B, T, C) the layernormed input."""

    def dW_proj(ycat, dout):
        ...  # paste your kata 06 steps here, in backward order -> (C, C)

    def db_proj(dout):
        ...  # -> (C,)

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

    def db_attn(dqkv):
        ...  # -> (3C,)

    def dx(W_attn, dqkv):
        ...  # -> (B, T, C)

    def backward(dout, x, W_attn, W_proj, q, k, v, att, y, ycat):
        """dout (B, T, C) -> (dx, dW_attn, db_attn, dW_proj, db_proj)."""
        dycat = attention.dycat(W_proj, dout)
        dy = attention.dy(y, dycat)
        datt = attention.datt(v, dy)
        dpreatt = attention.dpreatt(att, datt)
        dqkv = attention.dqkv(attention.dq(k, dpreatt), attention.dk(q, dpreatt), attention.dv(att, dy))
        return (attention.dx(W_attn, dqkv), attention.dW_attn(x, dqkv), attention.db_attn(dqkv),
                attention.dW_proj(ycat, dout), attention.db_proj(dout))


class mlp:
    """Kata 07's steps, pasted in: fch = x @ W_fc + b_fc; fch_gelu = GELU(fch) (tanh form);
    out = fch_gelu @ W_proj + b_proj."""

    def dW_proj(fch_gelu, dout):
        ...  # paste your kata 07 steps here -> (4C, C)

    def db_proj(dout):
        ...  # -> (C,)

    def dfch_gelu(W_proj, dout):
        ...  # -> (B, T, 4C)

    def dfch(fch, dfch_gelu):
        ...  # -> (B, T, 4C)

    def dW_fc(x, dfch):
        ...  # -> (C, 4C)

    def db_fc(dfch):
        ...  # -> (4C,)

    def dx(W_fc, dfch):
        ...  # -> (B, T, C)

    def backward(dout, x, W_fc, W_proj, fch, fch_gelu):
        """dout (B, T, C) -> (dx, dW_fc, db_fc, dW_proj, db_proj)."""
        dfch = mlp.dfch(fch, mlp.dfch_gelu(W_proj, dout))
        return (mlp.dx(W_fc, dfch), mlp.dW_fc(x, dfch), mlp.db_fc(dfch),
                mlp.dW_proj(fch_gelu, dout), mlp.db_proj(dout))


def backward(idx, targets, params, acts):
    """Every parameter's gradient of the mean cross entropy, without autograd.

    idx, targets (B, T) int64: the tokens and the next token at every position.
    params: the parameters by name (gpt.parameter_names): wte (V, C), wpe (block_size, C),
      per block l: h{l}_ln_1_w, h{l}_ln_1_b (C,), h{l}_attn_W_attn (C, 3C), h{l}_attn_b_attn (3C,),
      h{l}_attn_W_proj (C, C), h{l}_attn_b_proj (C,), h{l}_ln_2_w, h{l}_ln_2_b (C,),
      h{l}_mlp_W_fc (C, 4C), h{l}_mlp_b_fc (4C,), h{l}_mlp_W_proj (4C, C), h{l}_mlp_b_proj (C,);
      lnf_w, lnf_b (C,).
    acts: the forward pass's saved values by name, per block l: h{l}_ln_1_norm (B, T, C),
      h{l}_ln_1_rstd (B, T, 1), h{l}_ln_1_out (B, T, C) (attention's x), h{l}_attn_q, _k, _v,
      _y (B, nh, T, hs), h{l}_attn_att (B, nh, T, T), h{l}_attn_ycat (B, T, C), h{l}_ln_2_norm,
      h{l}_ln_2_rstd, h{l}_ln_2_out (the MLP's x), h{l}_mlp_fch, h{l}_mlp_fch_gelu (B, T, 4C);
      lnf_norm, lnf_rstd, lnf_out (B, T, C) and logits (B, T, V).

    Returns a dict with a gradient for every name of params, each of its parameter's shape.
    """
    # TODO: the loss's dlogits, the tied lm_head, lnf, each block from the last (residuals add), the embeddings
    raise NotImplementedError("kata 08: backward — write every parameter's gradient of the whole GPT")
