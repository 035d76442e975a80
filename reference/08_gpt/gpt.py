"""Kata 08 — the whole GPT's backward pass, solved.

This is the worked solution. `backprop-ninja train --model gpt --impl reference`
trains the model with it; `pytest katas/08_gpt --impl reference` checks it.
The three classes hold the layer steps of katas 05-07 (their names and
parameters, as those katas' READMEs give them); `backward` chains them
through the whole model.

It is also written to be fast, since training calls it at every step: a weight
gradient is one matmul over the B*T rows, a bias gradient one sum; layernorm's,
softmax's and GELU's backwards are fused, and their widest chains work in
place on a fresh buffer instead of making a new tensor per operation; the
loss's gradient is one softmax with the targets taken off in place; the tied
wte collects the lm_head's and the embedding's gradients in one tensor.
"""

import math

import torch
import torch.nn.functional as F


class layernorm:
    """Kata 05's steps: out = norm * w + b, norm = (x - mean) * rstd, per row of x (B, T, C)."""

    def db(dout):
        return dout.sum((0, 1))  # (C,): b was broadcast over every (b, t)

    def dw(norm, dout):
        return (norm * dout).sum((0, 1))  # (C,)

    def dx(dout, w, norm, rstd):
        # dnorm = dout * w; the row's mean and variance depend on every x of the row, hence the two means:
        # dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), the subtractions done in place
        dnorm = dout * w  # (B, T, C)
        mean_dnorm = dnorm.mean(-1, keepdim=True)  # (B, T, 1)
        mean_dnorm_norm = (dnorm * norm).mean(-1, keepdim=True)  # (B, T, 1)
        dnorm -= mean_dnorm
        return dnorm.addcmul_(norm, mean_dnorm_norm, value=-1).mul_(rstd)  # (B, T, C)

    def backward(dout, w, norm, rstd):
        """dout (B, T, C) -> (dx (B, T, C), dw (C,), db (C,))."""
        return layernorm.dx(dout, w, norm, rstd), layernorm.dw(norm, dout), layernorm.db(dout)


class attention:
    """Kata 06's steps: causal self-attention, x (B, T, C) the layernormed input."""

    def dW_proj(ycat, dout):
        C = ycat.shape[-1]
        return ycat.reshape(-1, C).T @ dout.reshape(-1, C)  # (C, C)

    def db_proj(dout):
        return dout.sum((0, 1))  # (C,)

    def dycat(W_proj, dout):
        return dout @ W_proj.T  # (B, T, C)

    def dy(y, dycat):
        # the heads as a batch dimension: datt and dv both read dy, so it is made contiguous once here
        # (a matmul on the transposed view would copy it for each of them)
        B, nh, T, hs = y.shape
        return dycat.view(B, T, nh, hs).transpose(1, 2).contiguous()  # (B, nh, T, hs)

    def datt(v, dy):
        return dy @ v.transpose(-2, -1)  # (B, nh, T, T)

    def dv(att, dy):
        return att.transpose(-2, -1) @ dy  # (B, nh, T, hs)

    def dpreatt(att, datt):
        # softmax's backward per row, att * (datt - sum(att * datt)); masked entries have att 0, so
        # their gradient is 0 too. att * datt is computed once and the row's sum taken off in place
        dpreatt = att * datt  # (B, nh, T, T)
        return dpreatt.addcmul_(att, dpreatt.sum(-1, keepdim=True), value=-1)

    def dq(k, dpreatt):
        # the matmul's result is a fresh tensor: scaled in place, not copied
        return (dpreatt @ k).mul_(k.shape[-1] ** -0.5)  # (B, nh, T, hs)

    def dk(q, dpreatt):
        return (dpreatt.transpose(-2, -1) @ q).mul_(q.shape[-1] ** -0.5)  # (B, nh, T, hs)

    def dqkv(dq, dk, dv):
        # one copy into (B, T, 3, nh, hs) layout: cat the head-transposed views, then view as (B, T, 3C)
        B, nh, T, hs = dq.shape
        return torch.cat([d.transpose(1, 2) for d in (dq, dk, dv)], dim=2).view(B, T, 3 * nh * hs)  # (B, T, 3C)

    def dW_attn(x, dqkv):
        return x.reshape(-1, x.shape[-1]).T @ dqkv.reshape(-1, dqkv.shape[-1])  # (C, 3C)

    def db_attn(dqkv):
        return dqkv.sum((0, 1))  # (3C,)

    def dx(W_attn, dqkv):
        return dqkv @ W_attn.T  # (B, T, C)

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
    """Kata 07's steps: fch = x @ W_fc + b_fc; fch_gelu = GELU(fch) (tanh form); out = fch_gelu @ W_proj + b_proj."""

    def dW_proj(fch_gelu, dout):
        return fch_gelu.reshape(-1, fch_gelu.shape[-1]).T @ dout.reshape(-1, dout.shape[-1])  # (4C, C)

    def db_proj(dout):
        return dout.sum((0, 1))  # (C,)

    def dfch_gelu(W_proj, dout):
        return dout @ W_proj.T  # (B, T, 4C)

    def dfch(fch, dfch_gelu):
        # GELU(x) = 0.5 x (1 + tanh u), u = s (x + a x**3); since 0.5 (1 + tanh u) = sigmoid(2u),
        # GELU(x) = x g with g = sigmoid(2u), and sigmoid' = g (1 - g): the product rule gives
        #   local = g + x g (1 - g) 2u'  with u' = s (1 + 3 a x**2)
        #         = g (1 + 2 x u' (1 - g))
        # (the same number as the tanh form's 0.5 (1 + t) + 0.5 x (1 - t**2) u', in fewer operations).
        # These are the model's widest tensors: two buffers of (B, T, 4C) changed in place, not a
        # fresh tensor per operation (allocating one costs more than its arithmetic)
        s, a = math.sqrt(2 / math.pi), 0.044715
        fch2 = fch * fch  # (B, T, 4C)
        g = torch.addcmul(fch, fch, fch2, value=a).mul_(2 * s).sigmoid_()  # sigmoid(2u), (B, T, 4C)
        xdu2 = fch2.mul_(6 * a * s).add_(2 * s).mul_(fch)  # 2 x u', in fch2's buffer
        local = xdu2.addcmul_(xdu2, g, value=-1).add_(1).mul_(g)  # g (1 + 2 x u' (1 - g))
        return local.mul_(dfch_gelu)  # (B, T, 4C)

    def dW_fc(x, dfch):
        return x.reshape(-1, x.shape[-1]).T @ dfch.reshape(-1, dfch.shape[-1])  # (C, 4C)

    def db_fc(dfch):
        return dfch.sum((0, 1))  # (4C,)

    def dx(W_fc, dfch):
        return dfch @ W_fc.T  # (B, T, C)

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
    B, T = idx.shape
    wte = params["wte"]
    V, C = wte.shape
    n_layer = sum(1 for name in params if name.endswith("_ln_1_w"))
    grads = {}

    # cross entropy over all B*T positions, its gradient in one expression: (softmax - one_hot) / (B*T).
    # F.softmax makes a fresh tensor, so the one-hot part is taken off in place: scatter_add_ adds -1
    # at (i, targets[i]) of every row i in one call
    logits = acts["logits"].reshape(B * T, V)  # (B*T, V): every position a row
    dlogits = F.softmax(logits, -1)  # (B*T, V)
    dlogits.scatter_add_(1, targets.reshape(B * T, 1), logits.new_full((B * T, 1), -1.0))
    dlogits /= B * T

    # the tied lm_head, logits = lnf @ wte.T: wte's first gradient (one matmul over the B*T rows), and lnf's
    dwte = dlogits.T @ acts["lnf_out"].reshape(B * T, C)  # (V, C)
    dlnf = (dlogits @ wte).view(B, T, C)  # (B, T, C)
    dx, grads["lnf_w"], grads["lnf_b"] = layernorm.backward(dlnf, params["lnf_w"], acts["lnf_norm"],
                                                            acts["lnf_rstd"])

    for l in reversed(range(n_layer)):
        p = f"h{l}_"
        a = {name[len(p):]: value for name, value in acts.items() if name.startswith(p)}  # this block's, by role
        # x = x + mlp(ln_2(x)): the residual passes dx on unchanged, and the branch's gradient adds to it
        # (in place: dx is this function's own tensor, and the branch has read it already)
        dxm, grads[p + "mlp_W_fc"], grads[p + "mlp_b_fc"], grads[p + "mlp_W_proj"], grads[p + "mlp_b_proj"] = \
            mlp.backward(dx, a["ln_2_out"], params[p + "mlp_W_fc"], params[p + "mlp_W_proj"], a["mlp_fch"],
                         a["mlp_fch_gelu"])
        dln, grads[p + "ln_2_w"], grads[p + "ln_2_b"] = layernorm.backward(dxm, params[p + "ln_2_w"],
                                                                           a["ln_2_norm"], a["ln_2_rstd"])
        dx += dln
        # x = x + attention(ln_1(x)): the same again
        dxa, grads[p + "attn_W_attn"], grads[p + "attn_b_attn"], grads[p + "attn_W_proj"], \
            grads[p + "attn_b_proj"] = attention.backward(
                dx, a["ln_1_out"], params[p + "attn_W_attn"], params[p + "attn_W_proj"], a["attn_q"],
                a["attn_k"], a["attn_v"], a["attn_att"], a["attn_y"], a["attn_ycat"])
        dln, grads[p + "ln_1_w"], grads[p + "ln_1_b"] = layernorm.backward(dxa, params[p + "ln_1_w"],
                                                                           a["ln_1_norm"], a["ln_1_rstd"])
        dx += dln

    # x = wte[idx] + wpe[:T]: each position's row of wpe is used by every sequence of the batch
    dwpe = torch.zeros_like(params["wpe"])  # (block_size, C)
    dwpe[:T] = dx.sum(0)
    # a token used several times collects every use's gradient, added in the same tensor as the lm_head's
    dwte.index_add_(0, idx.reshape(-1), dx.reshape(B * T, C))
    grads["wte"], grads["wpe"] = dwte, dwpe
    return {name: grads[name] for name in params}
