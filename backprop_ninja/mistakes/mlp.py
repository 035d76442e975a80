"""Classic wrong answers of kata 07 (the MLP of a small GPT, tanh-GELU).

dfch = (0.5*(1 + t) + 0.5*fch*(1 - t**2)*s*(1 + 3*0.044715*fch**2)) * dfch_gelu,
with s = sqrt(2/pi) and t = tanh(s*(fch + 0.044715*fch**3)).
"""

import math

import torch

from . import CATALOGUE, attention, mistake

K = "07_mlp"
S = math.sqrt(2 / math.pi)


def _flat(t):
    """(B, T, n) -> (B*T, n): every (b, t) row one row of a matrix."""
    return t.reshape(-1, t.shape[-1])


# --- dW_proj(fch_gelu, dout) -------------------------------------------------------------------

@mistake(K, "dW_proj", "missing-sum",
         "dW_proj is one matrix per sequence, (B, 4C, C): W_proj is shared by every sequence, so add them "
         "up, or flatten B and T into the rows (fch_gelu.reshape(-1, 4C).T @ dout.reshape(-1, C))")
def dW_proj_per_sequence(fch_gelu, dout):
    return fch_gelu.transpose(-2, -1) @ dout


@mistake(K, "dW_proj", "wrong-values",
         "dW_proj uses the first sequence only: W_proj is shared by all B sequences, so every one adds its "
         "fch_gelu^T @ dout; flatten B and T into the rows")
def dW_proj_first_sequence(fch_gelu, dout):
    return fch_gelu[0].T @ dout[0]


@mistake(K, "dW_proj", "scale",
         "dW_proj is averaged over the B*T rows, where a sum belongs: every row adds its whole gradient; the "
         "loss's own 1/(B*T) is already inside dout")
def dW_proj_mean_over_rows(fch_gelu, dout):
    return _flat(fch_gelu).T @ _flat(dout) / _flat(dout).shape[0]


# --- db_proj(dout): the same slips as the attention's projection bias ---------------------------

for _m in list(CATALOGUE[(attention.K, "db_proj")]):
    mistake(K, "db_proj", _m.id, _m.sentence)(_m.fn)


# --- dfch_gelu(W_proj, dout) -------------------------------------------------------------------

@mistake(K, "dfch_gelu", "transposed",
         "W_proj.reshape(C, 4C) is not W_proj.T: reshape keeps the memory order and only regroups it; a "
         "transpose swaps rows and columns: dfch_gelu = dout @ W_proj.T")
def dfch_gelu_reshape_not_transpose(W_proj, dout):
    return dout @ W_proj.reshape(W_proj.shape[1], W_proj.shape[0])


@mistake(K, "dfch_gelu", "sign",
         "dfch_gelu has the wrong sign: out = fch_gelu @ W_proj + b_proj has no minus")
def dfch_gelu_negated(W_proj, dout):
    return -(dout @ W_proj.T)


@mistake(K, "dfch_gelu", "shape",
         "the rows are summed away: a weight is shared by every (b, t) row, an activation is not; each row "
         "of fch_gelu keeps its own gradient, dout @ W_proj.T, (B, T, 4C)")
def dfch_gelu_rows_summed(W_proj, dout):
    return dout.sum((0, 1)) @ W_proj.T


# --- dfch(fch, dfch_gelu) ----------------------------------------------------------------------

@mistake(K, "dfch", "wrong-values",
         "this is the exact GELU's derivative, Φ(fch) + fch·φ(fch) (erf and the normal density): the model "
         "uses GPT-2's tanh approximation, whose derivative differs from it by up to 9e-4 (near |fch| = 2); "
         "differentiate "
         "0.5*fch*(1 + tanh(sqrt(2/pi)*(fch + 0.044715*fch**3))) itself")
def dfch_exact_erf_gelu(fch, dfch_gelu):
    cdf = 0.5 * (1 + torch.erf(fch / math.sqrt(2)))
    pdf = torch.exp(-0.5 * fch**2) / math.sqrt(2 * math.pi)
    return (cdf + fch * pdf) * dfch_gelu


@mistake(K, "dfch", "wrong-values",
         "the cubic's derivative is missing: u = sqrt(2/pi)*(fch + 0.044715*fch**3), so "
         "du/dfch = sqrt(2/pi)*(1 + 3*0.044715*fch**2), not sqrt(2/pi)")
def dfch_without_cubic_term(fch, dfch_gelu):
    t = torch.tanh(S * (fch + 0.044715 * fch**3))
    return (0.5 * (1 + t) + 0.5 * fch * (1 - t**2) * S) * dfch_gelu


@mistake(K, "dfch", "wrong-values",
         "tanh' is taken from the tanh's input: d tanh(u)/du = 1 - tanh(u)**2, from its output t = tanh(u), "
         "not 1 - u**2")
def dfch_tanh_prime_of_input(fch, dfch_gelu):
    u = S * (fch + 0.044715 * fch**3)
    t = torch.tanh(u)
    return (0.5 * (1 + t) + 0.5 * fch * (1 - u**2) * S * (1 + 3 * 0.044715 * fch**2)) * dfch_gelu


@mistake(K, "dfch", "wrong-values",
         "tanh' is taken from fch: the tanh's argument is u = sqrt(2/pi)*(fch + 0.044715*fch**3), so its "
         "derivative is 1 - tanh(u)**2, not 1 - tanh(fch)**2")
def dfch_tanh_prime_of_fch(fch, dfch_gelu):
    t = torch.tanh(S * (fch + 0.044715 * fch**3))
    return (0.5 * (1 + t) + 0.5 * fch * (1 - torch.tanh(fch) ** 2) * S * (1 + 3 * 0.044715 * fch**2)) * dfch_gelu


@mistake(K, "dfch", "missing-branch",
         "the product rule lost a term: fch_gelu = 0.5*fch * (1 + t), and both factors depend on fch, so "
         "add 0.5*fch * (1 - t**2) * du/dfch to 0.5*(1 + t)")
def dfch_without_product_rule(fch, dfch_gelu):
    t = torch.tanh(S * (fch + 0.044715 * fch**3))
    return 0.5 * (1 + t) * dfch_gelu


@mistake(K, "dfch", "chain-rule",
         "dfch is GELU's local derivative alone: the chain rule multiplies it by the upstream gradient "
         "dfch_gelu")
def dfch_local_only(fch, dfch_gelu):
    t = torch.tanh(S * (fch + 0.044715 * fch**3))
    return 0.5 * (1 + t) + 0.5 * fch * (1 - t**2) * S * (1 + 3 * 0.044715 * fch**2)


# --- dW_fc(x, dfch) ----------------------------------------------------------------------------

@mistake(K, "dW_fc", "missing-sum",
         "dW_fc is one matrix per sequence, (B, C, 4C): W_fc is shared by every sequence, so add them up, "
         "or flatten B and T into the rows")
def dW_fc_per_sequence(x, dfch):
    return x.transpose(-2, -1) @ dfch


@mistake(K, "dW_fc", "wrong-values",
         "dW_fc uses the first sequence only: W_fc is shared by all B sequences, so every one adds its "
         "x^T @ dfch; flatten B and T into the rows")
def dW_fc_first_sequence(x, dfch):
    return x[0].T @ dfch[0]


@mistake(K, "dW_fc", "scale",
         "dW_fc is averaged over the B*T rows, where a sum belongs: every row adds its whole gradient")
def dW_fc_mean_over_rows(x, dfch):
    return _flat(x).T @ _flat(dfch) / _flat(x).shape[0]


# --- db_fc(dfch) -------------------------------------------------------------------------------

@mistake(K, "db_fc", "missing-sum",
         "db_fc is summed over B only: the bias is added at every position of every sequence, so sum dfch "
         "over both B and T")
def db_fc_summed_over_batch_only(dfch):
    return dfch.sum(0)


@mistake(K, "db_fc", "keepdim",
         "db_fc kept the summed dimensions, (1, 1, 4C): the bias is (4C,), so sum without keepdim=True")
def db_fc_kept_dims(dfch):
    return dfch.sum((0, 1), keepdim=True)


@mistake(K, "db_fc", "scale",
         "db_fc is a mean over the rows, where a sum belongs: every (b, t) row adds its whole gradient")
def db_fc_mean_not_sum(dfch):
    return dfch.mean((0, 1))


# --- dx(W_fc, dfch) ----------------------------------------------------------------------------

@mistake(K, "dx", "transposed",
         "W_fc.reshape(4C, C) is not W_fc.T: reshape keeps the memory order and only regroups it; a "
         "transpose swaps rows and columns: dx = dfch @ W_fc.T")
def dx_reshape_not_transpose(W_fc, dfch):
    return dfch @ W_fc.reshape(W_fc.shape[1], W_fc.shape[0])


@mistake(K, "dx", "sign",
         "dx has the wrong sign: fch = x @ W_fc + b_fc has no minus")
def dx_negated(W_fc, dfch):
    return -(dfch @ W_fc.T)


@mistake(K, "dx", "wrong-values",
         "the product of the sums is not the matmul: dfch @ W_fc.T pairs each hidden unit's gradient with "
         "its own weights; dfch.sum(-1) * W_fc.sum(1) mixes every pair")
def dx_product_of_sums(W_fc, dfch):
    return dfch.sum(-1, keepdim=True) * W_fc.sum(1)
