"""Classic wrong answers of kata 11 (the SwiGLU MLP of a small Llama).

h = silu(a) * u with silu(a) = a * sigmoid(a): du = silu(a) * dh, and
da = s * (1 + a * (1 - s)) * u * dh with s = sigmoid(a); dx = da @ W_gate.T + du @ W_up.T.
"""

import inspect

import torch

from backprop_ninja.checks.mistakes import linear, mistake

K = "11_swiglu"


def _silu(a):
    return a * torch.sigmoid(a)


def _silu_prime(a):
    s = torch.sigmoid(a)
    return s * (1 + a * (1 - s))


# --- the three linear maps, no biases: dW_down, dh, dW_gate, dW_up ------------------------------

linear.weight(K, "dW_down", "h", "dout", "H, C")
linear.inputs(K, "dh", "W_down", "dout", "out = h @ W_down")
linear.weight(K, "dW_gate", "x", "da", "C, H")
linear.weight(K, "dW_up", "x", "du", "C, H")


def _flat(t):
    """(B, T, n) -> (B*T, n): every (b, t) row one row of a matrix."""
    return t.reshape(-1, t.shape[-1])


def _weight_slips(step: str, x: str, dy: str, shape: str, line: str) -> None:
    """A weight's gradient transposed, and summed over B only, for `step`(x, dy) of `line`."""
    W = step[1:]
    params = [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in (x, dy)]

    def transposed(**given):
        return _flat(given[dy]).T @ _flat(given[x])

    def summed_over_batch_only(**given):
        return torch.einsum("btm,btn->tmn", given[x], given[dy])

    for fn in (transposed, summed_over_batch_only):
        fn.__name__ = fn.__qualname__ = f"{step}_{fn.__name__}"
        fn.__signature__ = inspect.Signature(params)
    mistake(K, step, "transposed",
            f"{step} is {dy}^T @ {x}, ({shape}) transposed: for {line}, d{W} = {x}^T @ {dy}, the input's "
            f"rows on the left, so that the shapes give {W}'s ({shape})")(transposed)
    mistake(K, step, "missing-sum",
            f"{step} is summed over B only, one matrix per position, (T, {shape}): {W} is shared by every "
            f"position of every sequence, so sum over T too; flatten B and T into the rows "
            f"({x}.reshape(-1, n).T @ {dy}.reshape(-1, m))")(summed_over_batch_only)


_weight_slips("dW_down", "h", "dout", "H, C", "out = h @ W_down")
_weight_slips("dW_gate", "x", "da", "C, H", "a = x @ W_gate")
_weight_slips("dW_up", "x", "du", "C, H", "u = x @ W_up")


# --- dh(W_down, dout) --------------------------------------------------------------------------

@mistake(K, "dh", "shape",
         "the rows are summed away: a weight is shared by every (b, t) row, an activation is not; each row "
         "of h keeps its own gradient, dout @ W_down.T, (B, T, H)")
def dh_rows_summed(W_down, dout):
    return dout.sum((0, 1)) @ W_down.T


# --- du(a, dh) ---------------------------------------------------------------------------------

@mistake(K, "du", "derivative",
         "du forgot the silu: h = silu(a) * u, so dh/du is the other factor, the gate's value "
         "silu(a) = a * sigmoid(a), not its input a: du = silu(a) * dh")
def du_without_silu(a, dh):
    return a * dh


@mistake(K, "du", "derivative",
         "du uses sigmoid(a) where silu(a) belongs: silu(a) = a * sigmoid(a), and h = silu(a) * u, so "
         "dh/du = a * sigmoid(a)")
def du_sigmoid_for_silu(a, dh):
    return torch.sigmoid(a) * dh


@mistake(K, "du", "derivative",
         "du uses silu's derivative: that belongs to da, the gate's path. h = silu(a) * u is linear in u, "
         "so dh/du is silu(a) itself, the value of the other factor")
def du_silu_derivative(a, dh):
    return _silu_prime(a) * dh


@mistake(K, "du", "chain-rule",
         "du is the local derivative silu(a) alone: the chain rule multiplies it by the upstream gradient dh")
def du_local_only(a, dh):
    return _silu(a)


# --- da(a, u, dh) ------------------------------------------------------------------------------

@mistake(K, "da", "derivative",
         "silu's derivative is taken as sigmoid(a) alone: silu(a) = a * sigmoid(a) is a product, and both "
         "factors depend on a, so silu'(a) = sigmoid(a) + a * sigmoid'(a) = s * (1 + a * (1 - s))")
def da_sigmoid_alone(a, u, dh):
    return torch.sigmoid(a) * u * dh


@mistake(K, "da", "derivative",
         "s * (1 - s) is sigmoid's derivative, not silu's: silu(a) = a * s, so its product rule gives "
         "s + a * s * (1 - s) = s * (1 + a * (1 - s))")
def da_sigmoid_derivative(a, u, dh):
    s = torch.sigmoid(a)
    return s * (1 - s) * u * dh


@mistake(K, "da", "derivative",
         "this is silu(a) itself, where its derivative belongs: the chain rule through g = silu(a) multiplies "
         "by dg/da = s * (1 + a * (1 - s)) with s = sigmoid(a), not by g")
def da_silu_not_its_derivative(a, u, dh):
    return _silu(a) * u * dh


@mistake(K, "da", "missing-branch",
         "the product rule lost a term: silu(a) = a * s with s = sigmoid(a), both factors depend on a, so "
         "add s (from d a/da = 1) to a * s * (1 - s)")
def da_product_rule_second_term_only(a, u, dh):
    s = torch.sigmoid(a)
    return a * s * (1 - s) * u * dh


@mistake(K, "da", "derivative",
         "sigmoid's derivative is taken as sigmoid itself (as exp's is): d sigmoid(a)/da = s * (1 - s), so "
         "silu'(a) = s + a * s * (1 - s), not s + a * s")
def da_sigmoid_prime_as_sigmoid(a, u, dh):
    s = torch.sigmoid(a)
    return s * (1 + a) * u * dh


@mistake(K, "da", "missing-factor",
         "u is dropped: h = silu(a) * u, so the gate's gradient carries the other factor, "
         "da = silu'(a) * u * dh")
def da_without_u(a, u, dh):
    return _silu_prime(a) * dh


@mistake(K, "da", "derivative",
         "this is du, the up path's gradient, silu(a) * dh: the gate's and the up's roles are swapped. "
         "h = silu(a) * u, so d h/d a carries the other factor u, times silu'(a)")
def da_is_du(a, u, dh):
    return _silu(a) * dh


@mistake(K, "da", "derivative",
         "the silu is on the wrong factor: this is the gradient for h = a * silu(u), silu(u) * dh. Here the "
         "gate is a: h = silu(a) * u, so da = silu'(a) * u * dh")
def da_silu_on_u(a, u, dh):
    return _silu(u) * dh


@mistake(K, "da", "chain-rule",
         "da is the local derivative silu'(a) * u alone: the chain rule multiplies it by the upstream "
         "gradient dh")
def da_local_only(a, u, dh):
    return _silu_prime(a) * u


# --- dx(W_gate, W_up, da, du) ------------------------------------------------------------------

@mistake(K, "dx", "missing-branch",
         "only the gate's path: x is read by two lines, a = x @ W_gate and u = x @ W_up, so add the up's "
         "path, du @ W_up.T")
def dx_gate_path_only(W_gate, W_up, da, du):
    return da @ W_gate.T


@mistake(K, "dx", "missing-branch",
         "only the up's path: x is read by two lines, a = x @ W_gate and u = x @ W_up, so add the gate's "
         "path, da @ W_gate.T")
def dx_up_path_only(W_gate, W_up, da, du):
    return du @ W_up.T


@mistake(K, "dx", "order",
         "the paths are crossed: each line's gradient goes back through its own weight, da through W_gate "
         "(a = x @ W_gate), du through W_up (u = x @ W_up): dx = da @ W_gate.T + du @ W_up.T")
def dx_paths_crossed(W_gate, W_up, da, du):
    return da @ W_up.T + du @ W_gate.T


@mistake(K, "dx", "transposed",
         "W.reshape(H, C) is not W.T: reshape keeps the memory order and only regroups it; a transpose swaps "
         "rows and columns: dx = da @ W_gate.T + du @ W_up.T")
def dx_reshape_not_transpose(W_gate, W_up, da, du):
    C, H = W_gate.shape
    return da @ W_gate.reshape(H, C) + du @ W_up.reshape(H, C)


@mistake(K, "dx", "scale",
         "the two paths are averaged, where a sum belongs: x is read by two lines, and each adds its whole "
         "gradient, dx = da @ W_gate.T + du @ W_up.T")
def dx_paths_averaged(W_gate, W_up, da, du):
    return (da @ W_gate.T + du @ W_up.T) / 2
