"""Classic wrong answers of kata 06 (causal self-attention of a small GPT).

Most slips of an attention backward are about axes and order: a missing
transpose(-2, -1), a sum over one of B and T only, a row sum over the wrong
axis, heads merged without their transpose, q, k, v in the wrong order, a
head count written as a number. Every size here comes from a shape except
where a hard-coded size is the point.
"""

import torch

from backprop_ninja.checks.mistakes import linear, mistake

K = "06_attention"


# --- dW_proj(ycat, dout) -----------------------------------------------------------------------

@mistake(K, "dW_proj", "transposed",
         "dW_proj is transposed: for out = ycat @ W_proj, dW_proj = ycat^T @ dout (rows of ycat, columns of "
         "dout); dout^T @ ycat has the same square shape and the wrong layout")
def dW_proj_transposed(ycat, dout):
    return dout.reshape(-1, dout.shape[-1]).T @ ycat.reshape(-1, ycat.shape[-1])


linear.weight(K, "dW_proj", "ycat", "dout", "C, C")


# --- db_proj(dout) -----------------------------------------------------------------------------

linear.bias(K, "db_proj", "dout", "C")



# --- dycat(W_proj, dout) -----------------------------------------------------------------------

@mistake(K, "dycat", "transposed",
         "W_proj is not transposed: for out = ycat @ W_proj, dycat = dout @ W_proj.T; W_proj is square, so "
         "the shape fits either way and only the values tell")
def dycat_without_transpose(W_proj, dout):
    return dout @ W_proj


@mistake(K, "dycat", "chain-rule",
         "dycat is dout passed through: the chain rule multiplies the upstream gradient by the local "
         "derivative of the matmul, dout @ W_proj.T")
def dycat_is_dout(W_proj, dout):
    return dout.clone()


@mistake(K, "dycat", "sign",
         "dycat has the wrong sign: out = ycat @ W_proj + b_proj has no minus, dycat = dout @ W_proj.T")
def dycat_negated(W_proj, dout):
    return -(dout @ W_proj.T)


# --- dy(y, dycat) ------------------------------------------------------------------------------

@mistake(K, "dy", "transposed",
         "the heads are split with view alone, (B, nh, T, hs), without the transpose: the forward merged "
         "them with y.transpose(1, 2) then view, so undo both: dycat.view(B, T, nh, hs).transpose(1, 2)")
def dy_view_without_transpose(y, dycat):
    return dycat.reshape(y.shape)


@mistake(K, "dy", "hard-coded",
         "the head count is written as 4: right at the model sizes, wrong at any other; take it from a "
         "shape, B, nh, T, hs = y.shape")
def dy_four_heads(y, dycat):
    B, T, C = dycat.shape
    return dycat.view(B, T, 4, C // 4).transpose(1, 2)


@mistake(K, "dy", "order",
         "the channels are split as (hs, nh) instead of (nh, hs): ycat's C channels are head 0's hs "
         "channels, then head 1's, ...; view(B, T, nh, hs) keeps that order")
def dy_split_hs_nh(y, dycat):
    B, nh, T, hs = y.shape
    return dycat.view(B, T, hs, nh).permute(0, 3, 1, 2)


# --- datt(v, dy) -------------------------------------------------------------------------------

@mistake(K, "datt", "transposed",
         "datt is transposed: for y = att @ v, datt = dy @ v.transpose(-2, -1); v @ dy^T is its transpose, "
         "the same (T, T) shape")
def datt_transposed(v, dy):
    return v @ dy.transpose(-2, -1)


@mistake(K, "datt", "mask",
         "datt is masked above the diagonal: att is 0 there, but y = att @ v still depends on those entries, "
         "so their gradient is dense; the softmax's backward (dpreatt) is what zeroes them")
def datt_masked(v, dy):
    return (dy @ v.transpose(-2, -1)).tril()


@mistake(K, "datt", "scale",
         "datt carries hs**-0.5: that scale belongs to preatt = (q @ k^T) * hs**-0.5, and y = att @ v has "
         "none")
def datt_scaled(v, dy):
    return (dy @ v.transpose(-2, -1)) * v.shape[-1] ** -0.5


# --- dv(att, dy) -------------------------------------------------------------------------------

@mistake(K, "dv", "transposed",
         "att is not transposed: for y = att @ v, dv = att.transpose(-2, -1) @ dy; att is (T, T), so the "
         "shape fits either way and only the values tell")
def dv_without_transpose(att, dy):
    return att @ dy


@mistake(K, "dv", "chain-rule",
         "dv is dy passed through: the chain rule multiplies the upstream gradient by the local derivative "
         "of the matmul, att^T @ dy")
def dv_is_dy(att, dy):
    return dy.clone()


@mistake(K, "dv", "scale",
         "dv carries hs**-0.5: that scale belongs to preatt = (q @ k^T) * hs**-0.5, and y = att @ v has none")
def dv_scaled(att, dy):
    return (att.transpose(-2, -1) @ dy) * dy.shape[-1] ** -0.5


# --- dpreatt(att, datt) ------------------------------------------------------------------------

@mistake(K, "dpreatt", "missing-branch",
         "the softmax backward lacks its row-sum term: every att_i of a row depends on every preatt_j "
         "through the normalisation, so dpreatt = att * (datt - (att * datt).sum(-1, keepdim=True))")
def dpreatt_without_row_sum(att, datt):
    return att * datt


@mistake(K, "dpreatt", "wrong-dim",
         "the row sum runs over dim -2 (down the columns); the softmax normalises each row of the last "
         "dimension, so sum (att * datt) over dim -1, keepdim=True")
def dpreatt_row_sum_over_wrong_axis(att, datt):
    return att * (datt - (att * datt).sum(-2, keepdim=True))


@mistake(K, "dpreatt", "derivative",
         "only the diagonal of the softmax's Jacobian, att * (1 - att): each att_i also depends on every "
         "other preatt_j of its row (-att_i * att_j), which the row sum collects")
def dpreatt_diagonal_jacobian(att, datt):
    return att * (1 - att) * datt


@mistake(K, "dpreatt", "sign",
         "the bracket is upside down: dpreatt = att * (datt - row sum), the row sum subtracted from datt")
def dpreatt_sign(att, datt):
    return att * ((att * datt).sum(-1, keepdim=True) - datt)


def _softmax_backward(att, datt):
    return att * (datt - (att * datt).sum(-1, keepdim=True))


def _causal(att):
    """The forward's mask, (T, T): 1 on and below the diagonal."""
    T = att.shape[-1]
    return torch.ones(T, T, dtype=att.dtype, device=att.device).tril()


@mistake(K, "dpreatt", "mask",
         "dpreatt carries the forward's -inf above the diagonal: the mask sets preatt to -inf there so "
         "that att is 0; the gradient there is 0, and att * (datt - (att * datt).sum(-1, keepdim=True)) "
         "already gives it: leave out the masked_fill (or fill with 0, not -inf)")
def dpreatt_minus_inf_mask(att, datt):
    return _softmax_backward(att, datt).masked_fill(_causal(att) == 0, float("-inf"))


@mistake(K, "dpreatt", "mask",
         "the mask is transposed (mask.T): it keeps the entries above the diagonal, the future, and zeroes "
         "the past; the causal mask is tril, and dpreatt is already 0 above the diagonal, so no mask is "
         "needed: att * (datt - (att * datt).sum(-1, keepdim=True))")
def dpreatt_mask_transposed(att, datt):
    return _softmax_backward(att, datt).masked_fill(_causal(att).T == 0, 0.0)


@mistake(K, "dpreatt", "missing-factor",
         "the factor att is dropped in front of the bracket: d att_i / d preatt_j = att_i (δij - att_j), so "
         "dpreatt = att * (datt - (att * datt).sum(-1, keepdim=True))")
def dpreatt_without_att_in_front(att, datt):
    return datt - (att * datt).sum(-1, keepdim=True)


@mistake(K, "dpreatt", "missing-factor",
         "att is dropped inside the row sum: the softmax's Jacobian weights each datt_j by att_j, so the sum "
         "is (att * datt).sum(-1, keepdim=True), not datt.sum(-1, keepdim=True)")
def dpreatt_row_sum_without_att(att, datt):
    return att * (datt - datt.sum(-1, keepdim=True))


# --- dq(k, dpreatt) ----------------------------------------------------------------------------

@mistake(K, "dq", "scale",
         "dq lacks hs**-0.5: preatt = (q @ k^T) * hs**-0.5, so every gradient through it carries that "
         "factor (hs = k.shape[-1])")
def dq_without_scale(k, dpreatt):
    return dpreatt @ k


@mistake(K, "dq", "scale",
         "dq divides by hs**-0.5 where it multiplies: preatt = (q @ k^T) * hs**-0.5, and the gradient keeps "
         "the same factor, (dpreatt @ k) * hs**-0.5")
def dq_divided_by_scale(k, dpreatt):
    return (dpreatt @ k) / k.shape[-1] ** -0.5


@mistake(K, "dq", "transposed",
         "dpreatt is transposed: for P = q @ k^T, dq = dP @ k; dP^T @ k is the gradient of k's role, not q's")
def dq_transposed(k, dpreatt):
    return (dpreatt.transpose(-2, -1) @ k) * k.shape[-1] ** -0.5


@mistake(K, "dq", "hard-coded",
         "hs is written as 12: right at the model sizes, wrong at any other; take it from a shape, "
         "hs = k.shape[-1]")
def dq_hs_twelve(k, dpreatt):
    return (dpreatt @ k) * 12**-0.5


@mistake(K, "dq", "scale",
         "dq carries a single head's scale C**-0.5: preatt is scaled per head, by hs**-0.5 with hs = C/nh "
         "= k.shape[-1], so C**-0.5 is off by nh**-0.5")
def dq_scale_of_all_channels(k, dpreatt):
    B, nh, T, hs = k.shape
    return (dpreatt @ k) * (nh * hs) ** -0.5


@mistake(K, "dq", "scale",
         "dq is divided by hs where hs**-0.5 belongs: preatt = (q @ k^T) * hs**-0.5, a square root, so "
         "(dpreatt @ k) * hs**-0.5")
def dq_divided_by_hs(k, dpreatt):
    return (dpreatt @ k) / k.shape[-1]


# --- dk(q, dpreatt) ----------------------------------------------------------------------------

@mistake(K, "dk", "transposed",
         "dk lacks the transpose: k enters as k^T in preatt = (q @ k^T) * hs**-0.5, so dk = dP^T @ q "
         "(dP @ q is what dq's rule gives)")
def dk_without_transpose(q, dpreatt):
    return (dpreatt @ q) * q.shape[-1] ** -0.5


@mistake(K, "dk", "scale",
         "dk lacks hs**-0.5: preatt = (q @ k^T) * hs**-0.5, so every gradient through it carries that "
         "factor (hs = q.shape[-1])")
def dk_without_scale(q, dpreatt):
    return dpreatt.transpose(-2, -1) @ q


@mistake(K, "dk", "hard-coded",
         "hs is written as 12: right at the model sizes, wrong at any other; take it from a shape, "
         "hs = q.shape[-1]")
def dk_hs_twelve(q, dpreatt):
    return (dpreatt.transpose(-2, -1) @ q) * 12**-0.5


@mistake(K, "dk", "scale",
         "dk carries a single head's scale C**-0.5: preatt is scaled per head, by hs**-0.5 with hs = C/nh "
         "= q.shape[-1], so C**-0.5 is off by nh**-0.5")
def dk_scale_of_all_channels(q, dpreatt):
    B, nh, T, hs = q.shape
    return (dpreatt.transpose(-2, -1) @ q) * (nh * hs) ** -0.5


@mistake(K, "dk", "scale",
         "dk divides by hs**-0.5 where it multiplies: preatt = (q @ k^T) * hs**-0.5, and the gradient keeps "
         "the same factor, (dpreatt^T @ q) * hs**-0.5")
def dk_divided_by_scale(q, dpreatt):
    return (dpreatt.transpose(-2, -1) @ q) / q.shape[-1] ** -0.5


# --- dqkv(dq, dk, dv) --------------------------------------------------------------------------

def _merge(d):
    """(B, nh, T, hs) -> (B, T, C), the split into heads undone."""
    B, nh, T, hs = d.shape
    return d.transpose(1, 2).reshape(B, T, nh * hs)


@mistake(K, "dqkv", "order",
         "dq and dk are swapped in the concatenation: qkv.split(C, dim=2) gives q, k, v in that order, so "
         "torch.cat([dq, dk, dv], dim=2) (each merged back to (B, T, C))")
def dqkv_k_q_v(dq, dk, dv):
    return torch.cat([_merge(dk), _merge(dq), _merge(dv)], dim=2)


@mistake(K, "dqkv", "order",
         "dk and dv are swapped in the concatenation: qkv.split(C, dim=2) gives q, k, v in that order")
def dqkv_q_v_k(dq, dk, dv):
    return torch.cat([_merge(dq), _merge(dv), _merge(dk)], dim=2)


@mistake(K, "dqkv", "order",
         "the three gradients are in the order v, q, k: qkv.split(C, dim=2) gives q, k, v, so "
         "torch.cat([dq, dk, dv], dim=2) (each merged back to (B, T, C))")
def dqkv_v_q_k(dq, dk, dv):
    return torch.cat([_merge(dv), _merge(dq), _merge(dk)], dim=2)


@mistake(K, "dqkv", "transposed",
         "the heads are merged with reshape alone, without transpose(1, 2): each of q, k, v was viewed as "
         "(B, T, nh, hs) then transposed, so undo the transpose before merging the heads")
def dqkv_merged_without_transpose(dq, dk, dv):
    B, nh, T, hs = dq.shape
    return torch.cat([d.reshape(B, T, nh * hs) for d in (dq, dk, dv)], dim=2)


@mistake(K, "dqkv", "shape",
         "dq, dk and dv are added, not concatenated: q, k and v are three different slices of qkv's "
         "channels, so each gradient goes back to its own slice (torch.cat along dim 2)")
def dqkv_added(dq, dk, dv):
    return _merge(dq) + _merge(dk) + _merge(dv)


# --- dW_attn(x, dqkv) --------------------------------------------------------------------------

linear.weight(K, "dW_attn", "x", "dqkv", "C, 3C")


# --- db_attn(dqkv) -----------------------------------------------------------------------------

linear.bias(K, "db_attn", "dqkv", "3C")


# --- dx(W_attn, dqkv) --------------------------------------------------------------------------

@mistake(K, "dx", "missing-branch",
         "only the path through q: x feeds q, k and v (all three thirds of qkv), so dx = dqkv @ W_attn.T "
         "takes every third")
def dx_through_q_only(W_attn, dqkv):
    C = W_attn.shape[0]
    return dqkv[..., :C] @ W_attn[:, :C].T


@mistake(K, "dx", "missing-branch",
         "the path through v is missing: x feeds q, k and v, so dx = dqkv @ W_attn.T takes all three thirds")
def dx_without_v(W_attn, dqkv):
    C = W_attn.shape[0]
    return dqkv[..., :2 * C] @ W_attn[:, :2 * C].T


@mistake(K, "dx", "missing-branch",
         "the path through k is missing: x feeds q, k and v, so dx = dqkv @ W_attn.T takes all three thirds")
def dx_without_k(W_attn, dqkv):
    C = W_attn.shape[0]
    keep = [0, 2]
    return sum(dqkv[..., i * C:(i + 1) * C] @ W_attn[:, i * C:(i + 1) * C].T for i in keep)


linear.inputs(K, "dx", "W_attn", "dqkv", "qkv = x @ W_attn + b_attn")
