"""Kata 01's catalogue: the classic wrong answers of each atomic step.

Each function is a wrong answer with the step's exact signature. Its
sentence is what the learner reads when their answer equals it: what the
slip was, then the rule it breaks. n always comes from a shape here too, so
a mistake stays the same mistake at every configuration (except the ones
whose point is a hard-coded size).
"""

import torch
import torch.nn.functional as F

from backprop_ninja.checks.mistakes import mistake

K = "01_atomic_graph"


def _argmax_onehot(logits):
    return F.one_hot(logits.max(1).indices, num_classes=logits.shape[1]).to(logits.dtype)


# --- 1. dlogprobs(logprobs, Yb) ---------------------------------------------------------------

@mistake(K, "dlogprobs", "scale",
         "this is exactly what you get without the 1/n of the mean: the loss averages n picked entries, "
         "so each of them gets -1/n, not -1")
def dlogprobs_without_the_mean(logprobs, Yb):
    n = logprobs.shape[0]
    out = torch.zeros_like(logprobs)
    out[range(n), Yb] = -1.0
    return out


@mistake(K, "dlogprobs", "sign",
         "this is exactly what you get when the loss's minus is dropped: loss = -mean(...), so each picked "
         "entry gets -1/n")
def dlogprobs_without_the_minus(logprobs, Yb):
    n = logprobs.shape[0]
    out = torch.zeros_like(logprobs)
    out[range(n), Yb] = 1.0 / n
    return out


@mistake(K, "dlogprobs", "indexing",
         "this is exactly what out[:, Yb] = -1/n gives: it sets the columns Yb in every row; the loss picks "
         "one entry per row, row i's own label, so index with out[range(n), Yb]")
def dlogprobs_every_row_every_label(logprobs, Yb):
    n = logprobs.shape[0]
    out = torch.zeros_like(logprobs)
    out[:, Yb] = -1.0 / n
    return out


@mistake(K, "dlogprobs", "hard-coded",
         "this is exactly what -1/32 gives: 32 is the lecture's batch size, right there and wrong at any "
         "other; take n = logprobs.shape[0]")
def dlogprobs_with_32(logprobs, Yb):
    out = torch.zeros_like(logprobs)
    out[range(logprobs.shape[0]), Yb] = -1.0 / 32
    return out


@mistake(K, "dlogprobs", "not-a-tensor",
         "a step that builds its gradient and forgets `return` hands back None")
def dlogprobs_without_return(logprobs, Yb):
    n = logprobs.shape[0]
    out = torch.zeros_like(logprobs)
    out[range(n), Yb] = -1.0 / n


# --- 2. dprobs(probs, dlogprobs) --------------------------------------------------------------

@mistake(K, "dprobs", "chain-rule",
         "this is exactly 1/probs, the local derivative alone: the chain rule multiplies it by the upstream "
         "gradient, dprobs = (1/probs) * dlogprobs")
def dprobs_local_only(probs, dlogprobs):
    return 1.0 / probs


@mistake(K, "dprobs", "sign",
         "this is exactly -dlogprobs/probs: d log(x)/dx = +1/x; the loss's minus is already inside dlogprobs, "
         "do not apply it twice")
def dprobs_minus_twice(probs, dlogprobs):
    return -dlogprobs / probs


@mistake(K, "dprobs", "derivative",
         "this is exactly dlogprobs * probs: the derivative of log(x) is 1/x, so divide by probs")
def dprobs_times_probs(probs, dlogprobs):
    return probs * dlogprobs


# --- 3. dcounts_sum_inv(counts, dprobs) ---------------------------------------------------------

@mistake(K, "dcounts_sum_inv", "missing-sum",
         "counts * dprobs is the gradient of each use of counts_sum_inv; it was broadcast over the columns, "
         "so sum the uses: .sum(1, keepdim=True)")
def dcounts_sum_inv_not_summed(counts, dprobs):
    return counts * dprobs


@mistake(K, "dcounts_sum_inv", "keepdim",
         "sum(1) drops the dimension: counts_sum_inv is (n, 1), so sum with keepdim=True")
def dcounts_sum_inv_without_keepdim(counts, dprobs):
    return (counts * dprobs).sum(1)


@mistake(K, "dcounts_sum_inv", "shape",
         "summing over dim 0 adds up the rows, but counts_sum_inv (n, 1) was broadcast over the columns: "
         "sum over dim 1")
def dcounts_sum_inv_wrong_dim(counts, dprobs):
    return (counts * dprobs).sum(0, keepdim=True)


@mistake(K, "dcounts_sum_inv", "chain-rule",
         "this is exactly counts.sum(1, keepdim=True), the local derivative alone: multiply by the upstream "
         "gradient dprobs before summing")
def dcounts_sum_inv_local_only(counts, dprobs):
    return counts.sum(1, keepdim=True)


# --- 4. dcounts_sum(counts_sum, dcounts_sum_inv) ----------------------------------------------

@mistake(K, "dcounts_sum", "sign",
         "this is exactly counts_sum**-2 * dcounts_sum_inv, the power rule without its minus: "
         "d x**-1/dx = -1 * x**-2")
def dcounts_sum_without_minus(counts_sum, dcounts_sum_inv):
    return counts_sum**-2 * dcounts_sum_inv


@mistake(K, "dcounts_sum", "derivative",
         "this is exactly -counts_sum**-1 * dcounts_sum_inv, the power rule without lowering the power: "
         "d x**k/dx = k * x**(k-1), so x**-1 gives -x**-2")
def dcounts_sum_power_not_lowered(counts_sum, dcounts_sum_inv):
    return -(counts_sum**-1) * dcounts_sum_inv


@mistake(K, "dcounts_sum", "chain-rule",
         "this is exactly -counts_sum**-2, the local derivative alone: multiply it by the upstream gradient "
         "dcounts_sum_inv")
def dcounts_sum_local_only(counts_sum, dcounts_sum_inv):
    return -(counts_sum**-2)


# --- 5. dcounts(counts_sum_inv, dprobs, dcounts_sum) ------------------------------------------

@mistake(K, "dcounts", "missing-branch",
         "this is exactly what you get when the gradient through counts_sum is left out — counts feeds two "
         "lines (probs and counts_sum), and their gradients add")
def dcounts_without_the_sum_branch(counts_sum_inv, dprobs, dcounts_sum):
    return counts_sum_inv * dprobs


@mistake(K, "dcounts", "missing-branch",
         "this is exactly what you get when the gradient through probs is left out — counts feeds two lines "
         "(probs and counts_sum), and their gradients add")
def dcounts_without_the_probs_branch(counts_sum_inv, dprobs, dcounts_sum):
    return torch.ones_like(dprobs) * dcounts_sum


@mistake(K, "dcounts", "derivative",
         "this is exactly counts_sum_inv * (dprobs + dcounts_sum): the sum branch is dcounts_sum spread over "
         "the row (the sum's local derivative is 1), not multiplied by counts_sum_inv")
def dcounts_sum_branch_scaled(counts_sum_inv, dprobs, dcounts_sum):
    return counts_sum_inv * (dprobs + dcounts_sum)


@mistake(K, "dcounts", "mutated-input",
         "dprobs *= ... writes into the upstream gradient the harness handed in: compute a new tensor")
def dcounts_in_place(counts_sum_inv, dprobs, dcounts_sum):
    dprobs *= counts_sum_inv
    dprobs += dcounts_sum
    return dprobs


# --- 6. dnorm_logits(counts, dcounts) ---------------------------------------------------------

@mistake(K, "dnorm_logits", "chain-rule",
         "this is exactly counts, the local derivative of exp alone: multiply it by the upstream gradient "
         "dcounts")
def dnorm_logits_local_only(counts, dcounts):
    return counts.clone()


@mistake(K, "dnorm_logits", "derivative",
         "this is exactly counts.exp() * dcounts: counts already is exp(norm_logits), the derivative of exp, "
         "so use counts itself; exponentiating it again takes exp of the output")
def dnorm_logits_exp_of_output(counts, dcounts):
    return counts.exp() * dcounts


@mistake(K, "dnorm_logits", "mutated-input",
         "dcounts *= counts writes into the upstream gradient the harness handed in: return counts * dcounts, "
         "a new tensor")
def dnorm_logits_in_place(counts, dcounts):
    dcounts *= counts
    return dcounts


# --- 7. dlogit_maxes(dnorm_logits) ------------------------------------------------------------

@mistake(K, "dlogit_maxes", "sign",
         "this is exactly dnorm_logits.sum(1): norm_logits = logits - logit_maxes, and the local derivative "
         "of a subtracted term is -1")
def dlogit_maxes_without_minus(dnorm_logits):
    return dnorm_logits.sum(1, keepdim=True)


@mistake(K, "dlogit_maxes", "missing-sum",
         "-dnorm_logits is the gradient of each use of logit_maxes; it was broadcast over the columns, so "
         "sum them: .sum(1, keepdim=True)")
def dlogit_maxes_not_summed(dnorm_logits):
    return -dnorm_logits


@mistake(K, "dlogit_maxes", "keepdim",
         "sum(1) drops the dimension: logit_maxes is (n, 1), so sum with keepdim=True")
def dlogit_maxes_without_keepdim(dnorm_logits):
    return -dnorm_logits.sum(1)


# --- 8. dlogits(logits, dnorm_logits, dlogit_maxes) -------------------------------------------

@mistake(K, "dlogits", "missing-branch",
         "this is exactly what you get when the gradient through logit_maxes is left out — logits feeds "
         "norm_logits and the max, and their gradients add (the max's branch is ~0 in the lecture's numbers, "
         "not in general)")
def dlogits_without_the_max_branch(logits, dnorm_logits, dlogit_maxes):
    return dnorm_logits.clone()


@mistake(K, "dlogits", "indexing",
         "this is exactly dnorm_logits + dlogit_maxes, the max's gradient added to every column: max picks "
         "one element per row, so only the position that held the maximum gets dlogit_maxes "
         "(F.one_hot(logits.max(1).indices, ...) * dlogit_maxes)")
def dlogits_max_branch_everywhere(logits, dnorm_logits, dlogit_maxes):
    return dnorm_logits + dlogit_maxes


@mistake(K, "dlogits", "sign",
         "this is exactly dnorm_logits - onehot * dlogit_maxes: the minus of logits - logit_maxes is already "
         "inside dlogit_maxes; through the max, the local derivative is +1 at the argmax")
def dlogits_max_branch_subtracted(logits, dnorm_logits, dlogit_maxes):
    return dnorm_logits - _argmax_onehot(logits) * dlogit_maxes


@mistake(K, "dlogits", "mutated-input",
         "dnorm_logits[...] += ... writes into the upstream gradient the harness handed in: start from "
         "dnorm_logits.clone()")
def dlogits_in_place(logits, dnorm_logits, dlogit_maxes):
    n = logits.shape[0]
    dnorm_logits[range(n), logits.max(1).indices] += dlogit_maxes[:, 0]
    return dnorm_logits


# --- 9. dh(W2, dlogits) -----------------------------------------------------------------------

@mistake(K, "dh", "transposed",
         "W2 @ dlogits.T is dh transposed: in a matmul's backward, let the shapes choose: "
         "(n, vocab_size) @ (vocab_size, n_hidden)")
def dh_transposed(W2, dlogits):
    return W2 @ dlogits.T


@mistake(K, "dh", "scale",
         "this is exactly dlogits @ W2.T / n: the mean's 1/n is already inside dlogits (it came from "
         "dlogprobs); dividing again counts it twice")
def dh_divided_by_n_again(W2, dlogits):
    return dlogits @ W2.T / dlogits.shape[0]


@mistake(K, "dh", "graph-attached",
         "W2.requires_grad_() makes the result part of an autograd graph: the kata computes gradients by "
         "hand, with plain tensor operations")
def dh_with_requires_grad(W2, dlogits):
    W2 = W2.clone().requires_grad_(True)
    return dlogits @ W2.T


# --- 10. dW2(h, dlogits) ----------------------------------------------------------------------

@mistake(K, "dW2", "transposed",
         "dlogits.T @ h is dW2 transposed: in a matmul's backward, let the shapes choose: "
         "(n_hidden, n) @ (n, vocab_size)")
def dW2_transposed(h, dlogits):
    return dlogits.T @ h


@mistake(K, "dW2", "scale",
         "this is exactly h.T @ dlogits / n: the mean's 1/n is already inside dlogits; dividing again counts "
         "it twice")
def dW2_divided_by_n_again(h, dlogits):
    return h.T @ dlogits / h.shape[0]


@mistake(K, "dW2", "dtype",
         "torch.zeros(..., dtype=torch.float64) fixes the gradient's number type: build it from the inputs so "
         "it follows their dtype")
def dW2_in_float64(h, dlogits):
    out = torch.zeros(h.shape[1], dlogits.shape[1], dtype=torch.float64)
    return out + h.T.double() @ dlogits.double()


# --- 11. db2(dlogits) -------------------------------------------------------------------------

@mistake(K, "db2", "missing-sum",
         "dlogits is the gradient of each use of b2; b2 (vocab_size,) was broadcast over the n rows, so sum "
         "them: dlogits.sum(0)")
def db2_not_summed(dlogits):
    return dlogits.clone()


@mistake(K, "db2", "keepdim",
         "sum(0, keepdim=True) gives (1, vocab_size), but b2 is (vocab_size,): here the dimension must go")
def db2_with_keepdim(dlogits):
    return dlogits.sum(0, keepdim=True)


@mistake(K, "db2", "scale",
         "this is exactly dlogits.mean(0): a broadcast in the forward pass is a sum in the backward pass, not "
         "a mean (each row's use of b2 adds its whole gradient)")
def db2_mean(dlogits):
    return dlogits.mean(0)


@mistake(K, "db2", "shape",
         "dlogits.sum(1) adds up each row's columns; b2 was broadcast over the rows (dim 0): sum those")
def db2_wrong_dim(dlogits):
    return dlogits.sum(1)


@mistake(K, "db2", "not-a-tensor",
         ".tolist() leaves torch: a gradient is a tensor")
def db2_as_list(dlogits):
    return dlogits.sum(0).tolist()


# --- 12. dhpreact(h, dh) ----------------------------------------------------------------------

@mistake(K, "dhpreact", "derivative",
         "this is exactly (1 - tanh(h)**2) * dh, tanh's derivative taken at its output: h already is "
         "tanh(hpreact), so d tanh/dx = 1 - h**2")
def dhpreact_tanh_of_output(h, dh):
    return (1.0 - torch.tanh(h) ** 2) * dh


@mistake(K, "dhpreact", "chain-rule",
         "this is exactly 1 - h**2, tanh's local derivative alone: multiply by the upstream gradient dh")
def dhpreact_local_only(h, dh):
    return 1.0 - h**2


@mistake(K, "dhpreact", "derivative",
         "this is exactly (1 - h)**2 * dh: the derivative is 1 - h**2, the square of h alone (mind the "
         "parentheses)")
def dhpreact_square_of_difference(h, dh):
    return (1.0 - h) ** 2 * dh


@mistake(K, "dhpreact", "autograd",
         "calling backward() inside a step is what the kata replaces: derive it by hand")
def dhpreact_by_autograd(h, dh):
    hpreact = torch.atanh(h).requires_grad_(True)
    torch.tanh(hpreact).backward(dh)
    return hpreact.grad


# --- 13. dbngain(bnraw, dhpreact) -------------------------------------------------------------

@mistake(K, "dbngain", "missing-sum",
         "bnraw * dhpreact is the gradient of each use of bngain; bngain (1, n_hidden) was broadcast over the "
         "rows, so sum them: .sum(0, keepdim=True)")
def dbngain_not_summed(bnraw, dhpreact):
    return bnraw * dhpreact


@mistake(K, "dbngain", "keepdim",
         "sum(0) drops the dimension: bngain is (1, n_hidden), so sum with keepdim=True")
def dbngain_without_keepdim(bnraw, dhpreact):
    return (bnraw * dhpreact).sum(0)


@mistake(K, "dbngain", "shape",
         "summing over dim 1 adds up each row's columns, but bngain (1, n_hidden) was broadcast over the "
         "rows: sum over dim 0")
def dbngain_wrong_dim(bnraw, dhpreact):
    return (bnraw * dhpreact).sum(1, keepdim=True)


# --- 14. dbnbias(dhpreact) --------------------------------------------------------------------

@mistake(K, "dbnbias", "missing-sum",
         "dhpreact is the gradient of each use of bnbias; bnbias (1, n_hidden) was broadcast over the rows, "
         "so sum them: .sum(0, keepdim=True)")
def dbnbias_not_summed(dhpreact):
    return dhpreact.clone()


@mistake(K, "dbnbias", "keepdim",
         "sum(0) drops the dimension: bnbias is (1, n_hidden), so sum with keepdim=True")
def dbnbias_without_keepdim(dhpreact):
    return dhpreact.sum(0)


@mistake(K, "dbnbias", "scale",
         "this is exactly dhpreact.mean(0): a broadcast in the forward pass is a sum in the backward pass, "
         "not a mean")
def dbnbias_mean(dhpreact):
    return dhpreact.mean(0, keepdim=True)


# --- 15. dbnraw(bngain, dhpreact) -------------------------------------------------------------

@mistake(K, "dbnraw", "chain-rule",
         "this is exactly dhpreact, the upstream gradient without the local derivative: d(bngain*bnraw)/dbnraw "
         "is bngain, so multiply by it")
def dbnraw_without_bngain(bngain, dhpreact):
    return dhpreact.clone()


@mistake(K, "dbnraw", "shape",
         "bnraw (n, n_hidden) was not broadcast, so there is nothing to sum: bngain * dhpreact already has "
         "its shape")
def dbnraw_summed(bngain, dhpreact):
    return (bngain * dhpreact).sum(0, keepdim=True)


@mistake(K, "dbnraw", "chain-rule",
         "this is exactly bngain + dhpreact: the local derivative of a product is the other factor, and the "
         "chain rule multiplies it by the upstream gradient")
def dbnraw_added(bngain, dhpreact):
    return bngain + dhpreact


# --- 16. dbnvar_inv(bndiff, dbnraw) -----------------------------------------------------------

@mistake(K, "dbnvar_inv", "missing-sum",
         "bndiff * dbnraw is the gradient of each use of bnvar_inv; bnvar_inv (1, n_hidden) was broadcast "
         "over the rows, so sum them: .sum(0, keepdim=True)")
def dbnvar_inv_not_summed(bndiff, dbnraw):
    return bndiff * dbnraw


@mistake(K, "dbnvar_inv", "keepdim",
         "sum(0) drops the dimension: bnvar_inv is (1, n_hidden), so sum with keepdim=True")
def dbnvar_inv_without_keepdim(bndiff, dbnraw):
    return (bndiff * dbnraw).sum(0)


@mistake(K, "dbnvar_inv", "shape",
         "summing over dim 1 adds up each row's columns, but bnvar_inv (1, n_hidden) was broadcast over the "
         "rows: sum over dim 0")
def dbnvar_inv_wrong_dim(bndiff, dbnraw):
    return (bndiff * dbnraw).sum(1, keepdim=True)


# --- 17. dbnvar(bnvar, dbnvar_inv) ------------------------------------------------------------

@mistake(K, "dbnvar", "eps",
         "this is exactly -0.5 * bnvar**-1.5 * dbnvar_inv, without the eps: the forward pass is "
         "(bnvar + 1e-5)**-0.5, so the derivative is taken at bnvar + 1e-5 too (float32 hides it; float64 "
         "does not)")
def dbnvar_without_eps(bnvar, dbnvar_inv):
    return -0.5 * bnvar**-1.5 * dbnvar_inv


@mistake(K, "dbnvar", "sign",
         "this is exactly +0.5 * (bnvar + 1e-5)**-1.5 * dbnvar_inv: the power rule brings down -0.5, "
         "minus included")
def dbnvar_without_minus(bnvar, dbnvar_inv):
    return 0.5 * (bnvar + 1e-5) ** -1.5 * dbnvar_inv


@mistake(K, "dbnvar", "derivative",
         "this is exactly -0.5 * (bnvar + 1e-5)**-0.5 * dbnvar_inv, the power rule without lowering the "
         "power: d x**k/dx = k * x**(k-1), so x**-0.5 gives -0.5 * x**-1.5")
def dbnvar_power_not_lowered(bnvar, dbnvar_inv):
    return -0.5 * (bnvar + 1e-5) ** -0.5 * dbnvar_inv


@mistake(K, "dbnvar", "chain-rule",
         "this is exactly -0.5 * (bnvar + 1e-5)**-1.5, the local derivative alone: multiply by the upstream "
         "gradient dbnvar_inv")
def dbnvar_local_only(bnvar, dbnvar_inv):
    return -0.5 * (bnvar + 1e-5) ** -1.5


# --- 18. dbndiff2(bndiff2, dbnvar) ------------------------------------------------------------

@mistake(K, "dbndiff2", "bessel",
         "this is exactly 1/n * dbnvar: the lecture's variance divides by n-1 (Bessel's correction), so each "
         "element gets dbnvar / (n-1)")
def dbndiff2_with_n(bndiff2, dbnvar):
    n = bndiff2.shape[0]
    return 1.0 / n * torch.ones_like(bndiff2) * dbnvar


@mistake(K, "dbndiff2", "shape",
         "1/(n-1) * dbnvar is still (1, n_hidden): a sum in the forward pass is a broadcast in the backward "
         "pass, so spread it over the rows (torch.ones_like(bndiff2) * ...)")
def dbndiff2_not_broadcast(bndiff2, dbnvar):
    n = bndiff2.shape[0]
    return 1.0 / (n - 1) * dbnvar


@mistake(K, "dbndiff2", "scale",
         "this is exactly dbnvar spread over the rows without the 1/(n-1) that the variance multiplies its "
         "sum by")
def dbndiff2_without_the_factor(bndiff2, dbnvar):
    return torch.ones_like(bndiff2) * dbnvar


@mistake(K, "dbndiff2", "hard-coded",
         "this is exactly 1/31 * dbnvar: 31 is n-1 at the lecture's batch size; take n = bndiff2.shape[0]")
def dbndiff2_with_31(bndiff2, dbnvar):
    return 1.0 / 31 * torch.ones_like(bndiff2) * dbnvar


@mistake(K, "dbndiff2", "dtype",
         "torch.ones(..., dtype=torch.float64) promotes the result to float64: use torch.ones_like(bndiff2) "
         "so the gradient keeps bndiff2's dtype")
def dbndiff2_in_float64(bndiff2, dbnvar):
    n = bndiff2.shape[0]
    return 1.0 / (n - 1) * torch.ones(bndiff2.shape, dtype=torch.float64) * dbnvar


# --- 19. dbndiff(bndiff, bnvar_inv, dbnraw, dbndiff2) ------------------------------------------

@mistake(K, "dbndiff", "missing-branch",
         "this is exactly what you get when the gradient through bndiff2 is left out — bndiff feeds bnraw and "
         "bndiff2, and their gradients add")
def dbndiff_without_the_square_branch(bndiff, bnvar_inv, dbnraw, dbndiff2):
    return bnvar_inv * dbnraw


@mistake(K, "dbndiff", "missing-branch",
         "this is exactly what you get when the gradient through bnraw is left out — bndiff feeds bnraw and "
         "bndiff2, and their gradients add")
def dbndiff_without_the_bnraw_branch(bndiff, bnvar_inv, dbnraw, dbndiff2):
    return 2 * bndiff * dbndiff2


@mistake(K, "dbndiff", "scale",
         "this is exactly bnvar_inv * dbnraw + bndiff * dbndiff2, the square's derivative without its 2: "
         "d x**2/dx = 2x")
def dbndiff_square_without_2(bndiff, bnvar_inv, dbnraw, dbndiff2):
    return bnvar_inv * dbnraw + bndiff * dbndiff2


@mistake(K, "dbndiff", "mutated-input",
         "dbnraw *= ... writes into the upstream gradient the harness handed in: compute a new tensor")
def dbndiff_in_place(bndiff, bnvar_inv, dbnraw, dbndiff2):
    dbnraw *= bnvar_inv
    dbnraw += 2 * bndiff * dbndiff2
    return dbnraw


# --- 20. dbnmeani(dbndiff) --------------------------------------------------------------------

@mistake(K, "dbnmeani", "sign",
         "this is exactly dbndiff.sum(0): bndiff = hprebn - bnmeani, and the local derivative of a subtracted "
         "term is -1")
def dbnmeani_without_minus(dbndiff):
    return dbndiff.sum(0, keepdim=True)


@mistake(K, "dbnmeani", "missing-sum",
         "-dbndiff is the gradient of each use of bnmeani; it was broadcast over the rows, so sum them: "
         ".sum(0, keepdim=True)")
def dbnmeani_not_summed(dbndiff):
    return -dbndiff


@mistake(K, "dbnmeani", "keepdim",
         "sum(0) drops the dimension: bnmeani is (1, n_hidden), so sum with keepdim=True")
def dbnmeani_without_keepdim(dbndiff):
    return -dbndiff.sum(0)


@mistake(K, "dbnmeani", "scale",
         "this is exactly -dbndiff.sum(0) / n: the 1/n belongs to the line bnmeani = 1/n * hprebn.sum(...), "
         "so it goes into dhprebn; bndiff = hprebn - bnmeani has none")
def dbnmeani_divided_by_n(dbndiff):
    return -dbndiff.sum(0, keepdim=True) / dbndiff.shape[0]


# --- 21. dhprebn(dbndiff, dbnmeani) -----------------------------------------------------------

@mistake(K, "dhprebn", "missing-branch",
         "this is exactly what you get when the gradient through bnmeani is left out — hprebn feeds bndiff "
         "and the mean, and their gradients add")
def dhprebn_without_the_mean_branch(dbndiff, dbnmeani):
    return dbndiff.clone()


@mistake(K, "dhprebn", "missing-branch",
         "this is exactly what you get when the direct gradient through bndiff is left out — hprebn feeds "
         "bndiff and the mean, and their gradients add")
def dhprebn_only_the_mean_branch(dbndiff, dbnmeani):
    n = dbndiff.shape[0]
    return 1.0 / n * torch.ones_like(dbndiff) * dbnmeani


@mistake(K, "dhprebn", "scale",
         "this is exactly dbndiff + dbnmeani, the mean's branch without its 1/n: bnmeani = 1/n * sum, so "
         "each row gets dbnmeani / n")
def dhprebn_mean_branch_without_1_over_n(dbndiff, dbnmeani):
    return dbndiff + dbnmeani


@mistake(K, "dhprebn", "mutated-input",
         "dbndiff += ... writes into the upstream gradient the harness handed in: start from dbndiff.clone()")
def dhprebn_in_place(dbndiff, dbnmeani):
    dbndiff += dbnmeani / dbndiff.shape[0]
    return dbndiff


# --- 22. dembcat(W1, dhprebn) -----------------------------------------------------------------

@mistake(K, "dembcat", "transposed",
         "W1 @ dhprebn.T is dembcat transposed: in a matmul's backward, let the shapes choose: "
         "(n, n_hidden) @ (n_hidden, block_size*n_embd)")
def dembcat_transposed(W1, dhprebn):
    return W1 @ dhprebn.T


@mistake(K, "dembcat", "scale",
         "this is exactly dhprebn @ W1.T / n: the mean's 1/n is already inside dhprebn; dividing again counts "
         "it twice")
def dembcat_divided_by_n_again(W1, dhprebn):
    return dhprebn @ W1.T / dhprebn.shape[0]


@mistake(K, "dembcat", "sign",
         "this is exactly -dhprebn @ W1.T: a matmul's local derivative carries no minus")
def dembcat_negated(W1, dhprebn):
    return -(dhprebn @ W1.T)


# --- 23. dW1(embcat, dhprebn) -----------------------------------------------------------------

@mistake(K, "dW1", "transposed",
         "dhprebn.T @ embcat is dW1 transposed: in a matmul's backward, let the shapes choose: "
         "(block_size*n_embd, n) @ (n, n_hidden)")
def dW1_transposed(embcat, dhprebn):
    return dhprebn.T @ embcat


@mistake(K, "dW1", "scale",
         "this is exactly embcat.T @ dhprebn / n: the mean's 1/n is already inside dhprebn; dividing again "
         "counts it twice")
def dW1_divided_by_n_again(embcat, dhprebn):
    return embcat.T @ dhprebn / embcat.shape[0]


# --- 24. db1(dhprebn) -------------------------------------------------------------------------

@mistake(K, "db1", "keepdim",
         "sum(0, keepdim=True) gives (1, n_hidden), but b1 is (n_hidden,): here the dimension must go")
def db1_with_keepdim(dhprebn):
    return dhprebn.sum(0, keepdim=True)


@mistake(K, "db1", "missing-sum",
         "dhprebn is the gradient of each use of b1; b1 (n_hidden,) was broadcast over the n rows, so sum "
         "them: dhprebn.sum(0)")
def db1_not_summed(dhprebn):
    return dhprebn.clone()


@mistake(K, "db1", "scale",
         "this is exactly dhprebn.mean(0): a broadcast in the forward pass is a sum in the backward pass, not "
         "a mean")
def db1_mean(dhprebn):
    return dhprebn.mean(0)


@mistake(K, "db1", "zero",
         "this is exactly zeros: db1 is ~0 in the lecture only because batchnorm subtracts the batch mean "
         "right after b1; with any other upstream gradient it is dhprebn.sum(0)")
def db1_zero(dhprebn):
    return torch.zeros_like(dhprebn[0])


# --- 25. demb(emb, dembcat) -------------------------------------------------------------------

@mistake(K, "demb", "shape",
         "dembcat is (n, block_size*n_embd), but emb is (n, block_size, n_embd): undo the view with "
         "dembcat.view(emb.shape)")
def demb_not_reshaped(emb, dembcat):
    return dembcat.clone()


@mistake(K, "demb", "transposed",
         "this is exactly dembcat viewed as (n, n_embd, block_size) and then transposed: the view laid out "
         "emb's last two dimensions in order, so undo it with the same order, dembcat.view(emb.shape)")
def demb_wrong_layout(emb, dembcat):
    n, block_size, n_embd = emb.shape
    return dembcat.view(n, n_embd, block_size).transpose(1, 2).contiguous()


# --- 26. dC(C, Xb, demb) ----------------------------------------------------------------------

@mistake(K, "dC", "accumulate",
         "this is exactly dC[Xb] += demb (or dC[Xb] = demb): with repeated indices an indexed write keeps one "
         "of the copies' gradients; a row of C used several times must collect the sum of all of them "
         "(index_add_, or += inside a loop over positions)")
def dC_indexed_write(C, Xb, demb):
    out = torch.zeros_like(C)
    out[Xb] += demb
    return out


@mistake(K, "dC", "indexing",
         "this is exactly a loop over the rows of Xb that forgets its columns: every one of the block_size "
         "positions of each example copied a row of C, so loop over both k and j")
def dC_first_position_only(C, Xb, demb):
    out = torch.zeros_like(C)
    for k in range(Xb.shape[0]):
        out[Xb[k, 0]] += demb[k, 0]
    return out


@mistake(K, "dC", "non-finite",
         "dividing each row by how often it was used averages the copies (and gives 0/0 = NaN for unused "
         "rows): a row used several times gets the sum of its gradients")
def dC_averaged(C, Xb, demb):
    out = torch.zeros_like(C)
    out.index_add_(0, Xb.view(-1), demb.view(-1, C.shape[1]))
    uses = torch.bincount(Xb.view(-1), minlength=C.shape[0]).to(C.dtype)
    return out / uses[:, None]


@mistake(K, "dC", "graph-attached",
         "torch.zeros_like(C, requires_grad=True) starts a graph: the gradient is a plain tensor")
def dC_with_requires_grad(C, Xb, demb):
    out = torch.zeros_like(C, requires_grad=True)
    return out.index_add(0, Xb.view(-1), demb.view(-1, C.shape[1]))


@mistake(K, "dC", "hard-coded",
         "torch.zeros(27, ...) is the lecture's vocabulary size: take the shape from C (torch.zeros_like(C))")
def dC_with_27_rows(C, Xb, demb):
    out = torch.zeros(27, C.shape[1], dtype=C.dtype)
    out.index_add_(0, Xb.view(-1), demb.view(-1, C.shape[1]))
    return out
