"""Kata 01: right answers written differently from the reference. Each must pass."""

import torch
import torch.nn.functional as F

from variants import variant

K = "01_atomic_graph"


# dlogprobs ----------------------------------------------------------------------------------

@variant(K, "dlogprobs")
def dlogprobs_by_scatter(logprobs, Yb):
    n = logprobs.shape[0]
    return torch.zeros_like(logprobs).scatter(1, Yb[:, None], -1.0 / n)


@variant(K, "dlogprobs")
def dlogprobs_by_one_hot(logprobs, Yb):
    return -F.one_hot(Yb, num_classes=logprobs.shape[1]).to(logprobs.dtype) / logprobs.shape[0]


@variant(K, "dlogprobs")
def dlogprobs_by_a_loop(logprobs, Yb):
    out = torch.zeros_like(logprobs)
    for i, y in enumerate(Yb.tolist()):
        out[i, y] = -1.0 / len(Yb)
    return out


# dprobs -------------------------------------------------------------------------------------

@variant(K, "dprobs")
def dprobs_by_division(probs, dlogprobs):
    return dlogprobs / probs


@variant(K, "dprobs")
def dprobs_by_negative_power(probs, dlogprobs):
    return probs**-1 * dlogprobs


@variant(K, "dprobs")
def dprobs_by_reciprocal(probs, dlogprobs):
    return torch.reciprocal(probs) * dlogprobs


# dcounts_sum_inv ----------------------------------------------------------------------------

@variant(K, "dcounts_sum_inv")
def dcounts_sum_inv_by_einsum(counts, dprobs):
    return torch.einsum("ij,ij->i", counts, dprobs)[:, None]


@variant(K, "dcounts_sum_inv")
def dcounts_sum_inv_by_row_dot(counts, dprobs):
    return (counts * dprobs).sum(-1).unsqueeze(1)


# dcounts_sum --------------------------------------------------------------------------------

@variant(K, "dcounts_sum")
def dcounts_sum_by_division(counts_sum, dcounts_sum_inv):
    return -dcounts_sum_inv / counts_sum**2


@variant(K, "dcounts_sum")
def dcounts_sum_by_pow(counts_sum, dcounts_sum_inv):
    return -torch.pow(counts_sum, -2) * dcounts_sum_inv


# dcounts ------------------------------------------------------------------------------------

@variant(K, "dcounts")
def dcounts_by_plain_broadcast(counts_sum_inv, dprobs, dcounts_sum):
    return counts_sum_inv * dprobs + dcounts_sum


@variant(K, "dcounts")
def dcounts_by_expand(counts_sum_inv, dprobs, dcounts_sum):
    return counts_sum_inv * dprobs + dcounts_sum.expand_as(dprobs)


@variant(K, "dcounts")
def dcounts_accumulated(counts_sum_inv, dprobs, dcounts_sum):
    out = counts_sum_inv * dprobs  # a new tensor: adding into it mutates nothing handed in
    out += dcounts_sum
    return out


# dnorm_logits -------------------------------------------------------------------------------

@variant(K, "dnorm_logits")
def dnorm_logits_by_mul(counts, dcounts):
    return torch.mul(dcounts, counts)


@variant(K, "dnorm_logits")
def dnorm_logits_recomputed_from_log(counts, dcounts):
    return counts.log().exp() * dcounts  # exp(norm_logits) again; float noise only


# dlogit_maxes -------------------------------------------------------------------------------

@variant(K, "dlogit_maxes")
def dlogit_maxes_by_sum_of_negation(dnorm_logits):
    return (-dnorm_logits).sum(1, keepdim=True)


@variant(K, "dlogit_maxes")
def dlogit_maxes_by_matmul(dnorm_logits):
    return -dnorm_logits @ torch.ones(dnorm_logits.shape[1], 1, dtype=dnorm_logits.dtype)


# dlogits ------------------------------------------------------------------------------------

@variant(K, "dlogits")
def dlogits_by_scatter(logits, dnorm_logits, dlogit_maxes):
    return dnorm_logits.scatter_add(1, logits.argmax(1, keepdim=True), dlogit_maxes)


@variant(K, "dlogits")
def dlogits_by_comparison_mask(logits, dnorm_logits, dlogit_maxes):
    # no ties in these logits: exactly one True per row
    mask = (logits == logits.max(1, keepdim=True).values).to(logits.dtype)
    return dnorm_logits + mask * dlogit_maxes


@variant(K, "dlogits")
def dlogits_by_indexed_add(logits, dnorm_logits, dlogit_maxes):
    out = dnorm_logits.clone()
    n = logits.shape[0]
    out[torch.arange(n), logits.argmax(1)] += dlogit_maxes[:, 0]
    return out


@variant(K, "dlogits")
def dlogits_by_one_hot_of_argmax(logits, dnorm_logits, dlogit_maxes):
    return dnorm_logits + F.one_hot(logits.argmax(1), logits.shape[1]) * dlogit_maxes


# dh, dW2, db2 -------------------------------------------------------------------------------

@variant(K, "dh")
def dh_by_transposed_product(W2, dlogits):
    return (W2 @ dlogits.T).T


@variant(K, "dh")
def dh_by_einsum(W2, dlogits):
    return torch.einsum("ik,jk->ij", dlogits, W2)


@variant(K, "dW2")
def dW2_by_einsum(h, dlogits):
    return torch.einsum("ni,nj->ij", h, dlogits)


@variant(K, "dW2")
def dW2_by_sum_of_outer_products(h, dlogits):
    return (h[:, :, None] * dlogits[:, None, :]).sum(0)


@variant(K, "db2")
def db2_by_matmul(dlogits):
    return torch.ones(dlogits.shape[0], dtype=dlogits.dtype) @ dlogits


@variant(K, "db2")
def db2_by_keepdim_then_squeeze(dlogits):
    return dlogits.sum(0, keepdim=True).squeeze(0)


# dhpreact -----------------------------------------------------------------------------------

@variant(K, "dhpreact")
def dhpreact_by_factored_square(h, dh):
    return (1 - h) * (1 + h) * dh


@variant(K, "dhpreact")
def dhpreact_by_sech(h, dh):
    return torch.cosh(torch.atanh(h)) ** -2 * dh  # sech**2 of the recovered input


# dbngain, dbnbias, dbnraw, dbnvar_inv -------------------------------------------------------

@variant(K, "dbngain")
def dbngain_by_einsum(bnraw, dhpreact):
    return torch.einsum("ij,ij->j", bnraw, dhpreact)[None, :]


@variant(K, "dbnbias")
def dbnbias_by_matmul(dhpreact):
    return torch.ones(1, dhpreact.shape[0], dtype=dhpreact.dtype) @ dhpreact


@variant(K, "dbnraw")
def dbnraw_by_expand(bngain, dhpreact):
    return bngain.expand_as(dhpreact) * dhpreact


@variant(K, "dbnvar_inv")
def dbnvar_inv_by_diagonal(bndiff, dbnraw):
    return torch.diagonal(bndiff.T @ dbnraw)[None, :]


# dbnvar -------------------------------------------------------------------------------------

@variant(K, "dbnvar")
def dbnvar_by_rsqrt(bnvar, dbnvar_inv):
    return -0.5 * torch.rsqrt(bnvar + 1e-5) ** 3 * dbnvar_inv


@variant(K, "dbnvar")
def dbnvar_by_division(bnvar, dbnvar_inv):
    return -dbnvar_inv / (2 * (bnvar + 1e-5) ** 1.5)


# dbndiff2 -----------------------------------------------------------------------------------

@variant(K, "dbndiff2")
def dbndiff2_by_expand(bndiff2, dbnvar):
    n = bndiff2.shape[0]
    return (dbnvar / (n - 1)).expand_as(bndiff2).clone()


@variant(K, "dbndiff2")
def dbndiff2_by_repeat(bndiff2, dbnvar):
    return dbnvar.repeat(bndiff2.shape[0], 1) / (bndiff2.shape[0] - 1)


@variant(K, "dbndiff2")
def dbndiff2_by_full_like(bndiff2, dbnvar):
    return torch.full_like(bndiff2, 1.0 / (bndiff2.shape[0] - 1)) * dbnvar


# dbndiff, dbnmeani, dhprebn -----------------------------------------------------------------

@variant(K, "dbndiff")
def dbndiff_by_addcmul(bndiff, bnvar_inv, dbnraw, dbndiff2):
    return torch.addcmul(bnvar_inv * dbnraw, bndiff, dbndiff2, value=2)


@variant(K, "dbnmeani")
def dbnmeani_by_matmul(dbndiff):
    return -torch.ones(1, dbndiff.shape[0], dtype=dbndiff.dtype) @ dbndiff


@variant(K, "dhprebn")
def dhprebn_by_mean_of_branch(dbndiff, dbnmeani):
    return dbndiff + dbnmeani / dbndiff.shape[0]


@variant(K, "dhprebn")
def dhprebn_by_expand(dbndiff, dbnmeani):
    n = dbndiff.shape[0]
    return dbndiff + dbnmeani.expand(n, -1) / n


# dembcat, dW1, db1, demb --------------------------------------------------------------------

@variant(K, "dembcat")
def dembcat_by_matmul_function(W1, dhprebn):
    return torch.matmul(dhprebn, W1.transpose(0, 1))


@variant(K, "dW1")
def dW1_by_transposed_product(embcat, dhprebn):
    return (dhprebn.T @ embcat).T


@variant(K, "db1")
def db1_by_einsum(dhprebn):
    return torch.einsum("ij->j", dhprebn)


@variant(K, "demb")
def demb_by_reshape(emb, dembcat):
    return dembcat.reshape(emb.shape[0], emb.shape[1], emb.shape[2])


@variant(K, "demb")
def demb_by_unflatten(emb, dembcat):
    return dembcat.unflatten(1, emb.shape[1:])


# dC -----------------------------------------------------------------------------------------

@variant(K, "dC")
def dC_by_a_loop(C, Xb, demb):
    # the lecture's loop: every position of every example adds its gradient to its row
    out = torch.zeros_like(C)
    for k in range(Xb.shape[0]):
        for j in range(Xb.shape[1]):
            out[Xb[k, j]] += demb[k, j]
    return out


@variant(K, "dC")
def dC_by_index_put_accumulate(C, Xb, demb):
    out = torch.zeros_like(C)
    out.index_put_((Xb.reshape(-1),), demb.reshape(-1, C.shape[1]), accumulate=True)
    return out


@variant(K, "dC")
def dC_by_one_hot_matmul(C, Xb, demb):
    onehot = F.one_hot(Xb.reshape(-1), num_classes=C.shape[0]).to(C.dtype)  # (n*block_size, vocab_size)
    return onehot.T @ demb.reshape(-1, C.shape[1])


@variant(K, "dC")
def dC_by_scatter_add(C, Xb, demb):
    index = Xb.reshape(-1, 1).expand(-1, C.shape[1])  # (n*block_size, n_embd)
    return torch.zeros_like(C).scatter_add(0, index, demb.reshape(-1, C.shape[1]))


@variant(K, "dC")
def dC_by_index_add_out_of_place(C, Xb, demb):
    return torch.zeros_like(C).index_add(0, Xb.flatten(), demb.flatten(0, 1))
