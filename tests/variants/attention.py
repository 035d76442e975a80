"""Correct variants of kata 06 (causal self-attention): the same gradients, written other ways."""

import torch

from . import variant

K = "06_attention"


@variant(K, "dW_proj")
def dW_proj_einsum(ycat, dout):
    return torch.einsum("btc,btd->cd", ycat, dout)


@variant(K, "dW_proj")
def dW_proj_batched_then_summed(ycat, dout):
    """One matrix per sequence, then the sum over the sequences."""
    return (ycat.transpose(-2, -1) @ dout).sum(0)


@variant(K, "db_proj")
def db_proj_two_sums(dout):
    return dout.sum(0).sum(0)


@variant(K, "dycat")
def dycat_einsum(W_proj, dout):
    return torch.einsum("btd,cd->btc", dout, W_proj)


@variant(K, "dy")
def dy_reshape_permute(y, dycat):
    B, nh, T, hs = y.shape
    return dycat.reshape(B, T, nh, hs).permute(0, 2, 1, 3).contiguous()


@variant(K, "dy")
def dy_loop_over_heads(y, dycat):
    """Head h owns channels h*hs ... (h+1)*hs - 1 of ycat."""
    B, nh, T, hs = y.shape
    return torch.stack([dycat[:, :, h * hs:(h + 1) * hs] for h in range(nh)], dim=1)


@variant(K, "datt")
def datt_einsum(v, dy):
    return torch.einsum("bhts,bhus->bhtu", dy, v)


@variant(K, "datt")
def datt_loop_over_heads(v, dy):
    return torch.stack([dy[:, h] @ v[:, h].transpose(-2, -1) for h in range(v.shape[1])], dim=1)


@variant(K, "dv")
def dv_einsum(att, dy):
    return torch.einsum("bhtu,bhts->bhus", att, dy)


@variant(K, "dv")
def dv_loop_over_heads(att, dy):
    return torch.stack([att[:, h].transpose(-2, -1) @ dy[:, h] for h in range(att.shape[1])], dim=1)


@variant(K, "dpreatt")
def dpreatt_softmax_jacobian(att, datt):
    """The full (T, T) Jacobian of each row, d att_i / d preatt_j = att_i (δij - att_j), applied to datt."""
    T = att.shape[-1]
    eye = torch.eye(T, dtype=att.dtype, device=att.device)
    jac = att.unsqueeze(-1) * (eye - att.unsqueeze(-2))  # (B, nh, T, T_i, T_j)
    return torch.einsum("bhtij,bhti->bhtj", jac, datt)


@variant(K, "dpreatt")
def dpreatt_atomic_chain(att, datt):
    """The softmax as the lecture's atomic lines (counts, counts_sum_inv, probs), walked back.

    att = counts * counts_sum_inv with counts = exp(preatt - max); any row scale cancels, so the
    counts can be taken as att itself (counts_sum = 1 then).
    """
    counts = att
    counts_sum_inv = 1.0 / counts.sum(-1, keepdim=True)  # (B, nh, T, 1), all ones here
    dcounts_sum_inv = (counts * datt).sum(-1, keepdim=True)
    dcounts_sum = -counts_sum_inv**2 * dcounts_sum_inv
    dcounts = counts_sum_inv * datt + dcounts_sum  # the product's path, then the sum's broadcast
    return counts * dcounts  # counts = exp(norm), and the masked entries have counts = 0


@variant(K, "dq")
def dq_einsum(k, dpreatt):
    return torch.einsum("bhtu,bhus->bhts", dpreatt, k) / k.shape[-1] ** 0.5


@variant(K, "dk")
def dk_einsum(q, dpreatt):
    return torch.einsum("bhtu,bhts->bhus", dpreatt, q) / q.shape[-1] ** 0.5


@variant(K, "dk")
def dk_transpose_of_the_product(q, dpreatt):
    """d(k^T) = q^T @ dP, then transposed back."""
    return (q.transpose(-2, -1) @ dpreatt).transpose(-2, -1) * q.shape[-1] ** -0.5


@variant(K, "dq")
def dq_causal_loop(k, dpreatt):
    """llm.c's attention backward: query t meets only the keys t2 <= t; above the diagonal the mask
    makes dpreatt zero in every model, so the loop skips it."""
    B, nh, T, hs = k.shape
    scale = hs**-0.5
    dq = torch.zeros_like(k)
    for t in range(T):
        for t2 in range(t + 1):
            dq[:, :, t] += dpreatt[:, :, t, t2, None] * k[:, :, t2] * scale
    return dq


@variant(K, "dk")
def dk_causal_loop(q, dpreatt):
    """llm.c's attention backward: key t2 is met by the queries t >= t2 only (t2 <= t)."""
    B, nh, T, hs = q.shape
    scale = hs**-0.5
    dk = torch.zeros_like(q)
    for t in range(T):
        for t2 in range(t + 1):
            dk[:, :, t2] += dpreatt[:, :, t, t2, None] * q[:, :, t] * scale
    return dk


@variant(K, "dq")
def dq_tril(k, dpreatt):
    """The mask applied again: dpreatt is zero above the diagonal anyway."""
    return (dpreatt.tril() @ k) * k.shape[-1] ** -0.5


@variant(K, "dqkv")
def dqkv_into_zeros(dq, dk, dv):
    """Each gradient written into its slice of the channels."""
    B, nh, T, hs = dq.shape
    C = nh * hs
    out = dq.new_zeros(B, T, 3 * C)
    for i, d in enumerate((dq, dk, dv)):
        out[:, :, i * C:(i + 1) * C] = d.permute(0, 2, 1, 3).reshape(B, T, C)
    return out


@variant(K, "dqkv")
def dqkv_stack_then_merge(dq, dk, dv):
    """(3, B, nh, T, hs) -> (B, T, 3, nh, hs) -> (B, T, 3C): the split and the heads undone at once."""
    B, nh, T, hs = dq.shape
    return torch.stack([dq, dk, dv]).permute(1, 3, 0, 2, 4).reshape(B, T, 3 * nh * hs)


@variant(K, "dW_attn")
def dW_attn_einsum(x, dqkv):
    return torch.einsum("btc,btd->cd", x, dqkv)


@variant(K, "db_attn")
def db_attn_einsum(dqkv):
    return torch.einsum("btc->c", dqkv)


@variant(K, "dx")
def dx_one_third_at_a_time(W_attn, dqkv):
    """x feeds q, k and v: the three paths, added."""
    C = W_attn.shape[0]
    return sum(dqkv[..., i * C:(i + 1) * C] @ W_attn[:, i * C:(i + 1) * C].T for i in range(3))
