"""A step that raises is told what kind of error it is and the way out; only shape errors talk of shapes."""

import torch

from backprop_ninja.checks.checker import check_step
from backprop_ninja.checks.diagnose.errors import free_names
from backprop_ninja.models.katas import kata

ATOMIC = kata("01_atomic_graph")


def line(fn, step=None):
    v = check_step(ATOMIC, step or fn.__name__, fn)
    assert v.status == "wrong" and v.diagnosis == "exception", v.report
    return v.sentence


def test_free_names_are_those_read_and_never_bound():
    src = "def f(a, b):\n    c = a + n\n    return torch.ones_like(counts) * c + sum(x for x in b)\n"
    assert free_names(src) == ["n", "torch", "counts", "sum"]


def test_every_undefined_name_is_named_at_once_with_its_way_out():
    def dhprebn(dbndiff, dbnmeani):
        return dbndiff + torch.ones_like(hprebn) * dbnmeani / n  # noqa: F821

    s = line(dhprebn)
    assert "2 names it does not define" in s
    assert "hprebn → add `hprebn` as a parameter" in s and "torch.ones_like(dbndiff) (same shape)" in s
    assert "n → `n = dbndiff.shape[0]`, or a parameter `n`" in s
    assert "shape" not in s.replace("same shape", "").replace(".shape", "")


def test_the_lectures_dcounts_line_is_told_to_take_counts_or_ones_like_dprobs():
    def dcounts(counts_sum_inv, dprobs, dcounts_sum):
        return counts_sum_inv * dprobs + torch.ones_like(counts) * dcounts_sum  # noqa: F821

    s = line(dcounts)
    assert "counts → add `counts` as a parameter" in s and "torch.ones_like(dprobs) (same shape)" in s


def test_a_module_used_but_never_imported_is_told_its_import_line():
    def dhpreact(h, dh):
        return (1.0 - h**2) * dh * math.exp(0)  # noqa: F821  (math is never imported here, on purpose)

    s = line(dhpreact)
    assert "math → a module the file never imports: add `import math` at the top of the file" in s


def test_a_misspelt_method_gets_the_close_name():
    s = line(lambda W2, dlogits: dlogits @ W2.tranpose(0, 1), "dh")
    assert "no `tranpose`" in s and "did you mean `transpose`" in s
    assert "Check the shapes" not in s


def test_a_misspelt_torch_function_gets_the_close_name():
    s = line(lambda counts, dcounts: torch.onse_like(counts) * dcounts, "dnorm_logits")
    assert "torch has no `onse_like`" in s and "`ones_like`" in s


def test_a_mistyped_keyword_names_the_call_and_the_keyword():
    s = line(lambda dhpreact: dhpreact.sum(0, keepdm=True), "dbnbias")
    assert "sum() takes no keyword `keepdm`" in s and "did you mean `keepdim=`" in s
    assert "Check the shapes" not in s


def test_a_shape_mismatch_inside_the_step_names_the_operands_sizes():
    s = line(lambda h, dlogits: h @ dlogits, "dW2")
    assert "(32 (n), 64 (n_hidden)) by (32 (n), 27 (vocab_size))" in s
    s = line(lambda probs, dlogprobs: dlogprobs / probs.T, "dprobs")
    assert "27 (vocab_size)" in s and "32 (n)" in s and "Check the shapes" in s


def test_any_other_error_says_what_the_line_raised_without_shape_advice():
    def dprobs(probs, dlogprobs):
        raise ValueError("no")

    s = line(dprobs)
    assert "raised ValueError: no" in s and "shape" not in s
