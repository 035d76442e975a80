"""Classic wrong answers of kata 07 (the MLP of a small GPT, tanh-GELU).

dfch = (0.5*(1 + t) + 0.5*fch*(1 - t**2)*s*(1 + 3*0.044715*fch**2)) * dfch_gelu,
with s = sqrt(2/pi) and t = tanh(s*(fch + 0.044715*fch**3)).
"""

import math

import torch

from backprop_ninja.checks.mistakes import linear, mistake

K = "07_mlp"
S = math.sqrt(2 / math.pi)


# --- the two linear layers: dW_proj, db_proj, dfch_gelu, dW_fc, db_fc, dx ------------------------

linear.weight(K, "dW_proj", "fch_gelu", "dout", "4C, C")
linear.bias(K, "db_proj", "dout", "C")
linear.inputs(K, "dfch_gelu", "W_proj", "dout", "out = fch_gelu @ W_proj + b_proj")
linear.weight(K, "dW_fc", "x", "dfch", "C, 4C")
linear.bias(K, "db_fc", "dfch", "4C")
linear.inputs(K, "dx", "W_fc", "dfch", "fch = x @ W_fc + b_fc")


# --- dfch_gelu(W_proj, dout) -------------------------------------------------------------------

@mistake(K, "dfch_gelu", "shape",
         "the rows are summed away: a weight is shared by every (b, t) row, an activation is not; each row "
         "of fch_gelu keeps its own gradient, dout @ W_proj.T, (B, T, 4C)")
def dfch_gelu_rows_summed(W_proj, dout):
    return dout.sum((0, 1)) @ W_proj.T


# --- dfch(fch, dfch_gelu) ----------------------------------------------------------------------

@mistake(K, "dfch", "derivative",
         "this is the exact GELU's derivative, Φ(fch) + fch·φ(fch) (erf and the normal density): the model "
         "uses GPT-2's tanh approximation, whose derivative differs from it by up to 9e-4 (near |fch| = 2); "
         "differentiate "
         "0.5*fch*(1 + tanh(sqrt(2/pi)*(fch + 0.044715*fch**3))) itself")
def dfch_exact_erf_gelu(fch, dfch_gelu):
    cdf = 0.5 * (1 + torch.erf(fch / math.sqrt(2)))
    pdf = torch.exp(-0.5 * fch**2) / math.sqrt(2 * math.pi)
    return (cdf + fch * pdf) * dfch_gelu


@mistake(K, "dfch", "derivative",
         "the cubic's derivative is missing: u = sqrt(2/pi)*(fch + 0.044715*fch**3), so "
         "du/dfch = sqrt(2/pi)*(1 + 3*0.044715*fch**2), not sqrt(2/pi)")
def dfch_without_cubic_term(fch, dfch_gelu):
    t = torch.tanh(S * (fch + 0.044715 * fch**3))
    return (0.5 * (1 + t) + 0.5 * fch * (1 - t**2) * S) * dfch_gelu


@mistake(K, "dfch", "derivative",
         "tanh' is taken from the tanh's input: d tanh(u)/du = 1 - tanh(u)**2, from its output t = tanh(u), "
         "not 1 - u**2")
def dfch_tanh_prime_of_input(fch, dfch_gelu):
    u = S * (fch + 0.044715 * fch**3)
    t = torch.tanh(u)
    return (0.5 * (1 + t) + 0.5 * fch * (1 - u**2) * S * (1 + 3 * 0.044715 * fch**2)) * dfch_gelu


@mistake(K, "dfch", "derivative",
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


@mistake(K, "dfch", "missing-factor",
         "the 3 of d(fch**3) is dropped: d(0.044715*fch**3)/dfch = 3*0.044715*fch**2, so "
         "du/dfch = sqrt(2/pi)*(1 + 3*0.044715*fch**2)")
def dfch_cube_without_its_three(fch, dfch_gelu):
    t = torch.tanh(S * (fch + 0.044715 * fch**3))
    return (0.5 * (1 + t) + 0.5 * fch * (1 - t**2) * S * (1 + 0.044715 * fch**2)) * dfch_gelu


@mistake(K, "dfch", "derivative",
         "d(fch**3) is written 3*fch, the power lowered but not the exponent: d x**3/dx = 3*x**2, so "
         "du/dfch = sqrt(2/pi)*(1 + 3*0.044715*fch**2)")
def dfch_cube_derivative_3x(fch, dfch_gelu):
    t = torch.tanh(S * (fch + 0.044715 * fch**3))
    return (0.5 * (1 + t) + 0.5 * fch * (1 - t**2) * S * (1 + 3 * 0.044715 * fch)) * dfch_gelu


@mistake(K, "dfch", "missing-factor",
         "sqrt(2/pi) is dropped from du/dfch: u = sqrt(2/pi)*(fch + 0.044715*fch**3), so "
         "du/dfch = sqrt(2/pi)*(1 + 3*0.044715*fch**2)")
def dfch_without_sqrt_2_over_pi(fch, dfch_gelu):
    t = torch.tanh(S * (fch + 0.044715 * fch**3))
    return (0.5 * (1 + t) + 0.5 * fch * (1 - t**2) * (1 + 3 * 0.044715 * fch**2)) * dfch_gelu


@mistake(K, "dfch", "missing-factor",
         "0.044715 is dropped from du/dfch: d(0.044715*fch**3)/dfch = 3*0.044715*fch**2, so "
         "du/dfch = sqrt(2/pi)*(1 + 3*0.044715*fch**2)")
def dfch_without_0044715(fch, dfch_gelu):
    t = torch.tanh(S * (fch + 0.044715 * fch**3))
    return (0.5 * (1 + t) + 0.5 * fch * (1 - t**2) * S * (1 + 3 * fch**2)) * dfch_gelu


@mistake(K, "dfch", "missing-factor",
         "the 0.5 is dropped from the first term: fch_gelu = 0.5*fch*(1 + t), so its product rule gives "
         "0.5*(1 + t) + 0.5*fch*(1 - t**2)*du/dfch, a half in both terms")
def dfch_first_term_without_half(fch, dfch_gelu):
    t = torch.tanh(S * (fch + 0.044715 * fch**3))
    return ((1 + t) + 0.5 * fch * (1 - t**2) * S * (1 + 3 * 0.044715 * fch**2)) * dfch_gelu


@mistake(K, "dfch", "missing-factor",
         "the 0.5 is dropped from the second term: fch_gelu = 0.5*fch*(1 + t), so its product rule gives "
         "0.5*(1 + t) + 0.5*fch*(1 - t**2)*du/dfch, a half in both terms")
def dfch_second_term_without_half(fch, dfch_gelu):
    t = torch.tanh(S * (fch + 0.044715 * fch**3))
    return (0.5 * (1 + t) + fch * (1 - t**2) * S * (1 + 3 * 0.044715 * fch**2)) * dfch_gelu


@mistake(K, "dfch", "missing-factor",
         "fch is dropped from the second term: fch_gelu = 0.5*fch*(1 + t), so the product rule's second "
         "term keeps the other factor, 0.5*fch*(1 - t**2)*du/dfch")
def dfch_second_term_without_fch(fch, dfch_gelu):
    t = torch.tanh(S * (fch + 0.044715 * fch**3))
    return (0.5 * (1 + t) + 0.5 * (1 - t**2) * S * (1 + 3 * 0.044715 * fch**2)) * dfch_gelu


@mistake(K, "dfch", "dtype",
         "dfch is float64 while fch is float32, its values right: NumPy promoted it (a np.float64 constant "
         "such as np.sqrt(2/np.pi) times a float32 array gives float64) and torch.from_numpy kept float64; "
         "end with .to(fch.dtype)")
def dfch_numpy_float64(fch, dfch_gelu):
    x = fch.double()  # NumPy computes the whole line in float64 once one operand is float64
    t = torch.tanh(S * (x + 0.044715 * x**3))
    return (0.5 * (1 + t) + 0.5 * x * (1 - t**2) * S * (1 + 3 * 0.044715 * x**2)) * dfch_gelu


# --- dx(W_fc, dfch) ----------------------------------------------------------------------------

@mistake(K, "dx", "derivative",
         "the product of the sums is not the matmul: dfch @ W_fc.T pairs each hidden unit's gradient with "
         "its own weights; dfch.sum(-1) * W_fc.sum(1) mixes every pair")
def dx_product_of_sums(W_fc, dfch):
    return dfch.sum(-1, keepdim=True) * W_fc.sum(1)
