"""Reading a learner's file before it runs: autograd and the harness are found, prose is not."""

import pytest

from backprop_ninja.sandbox.scan import scan_source


def found(source: str) -> list[tuple[str, str, int]]:
    return [(f.ident, f.what, f.line) for f in scan_source(source, "atomic_graph.py")]


@pytest.mark.parametrize("line", [
    "from torch.autograd import grad",
    "import torch.autograd.forward_ad as fwAD",
    "from torch import func",
    "import functorch",
    "torch.set_grad_enabled(False)",
    "x = torch.enable_grad",
    "y = torch.func.jvp",
    "t = torch.ones(3, requires_grad=True)",
    "t.requires_grad_()",
    "g = t.grad_fn",
    "t.sum().backward()",
])
def test_every_spelling_of_autograd_is_an_autograd_finding_even_uncalled(line):
    assert [(i, n) for i, _, n in found(f"import torch\n{line}\n")] == [("autograd", 2)]


@pytest.mark.parametrize("line", [
    "import backprop_ninja.checks.checker as c",
    "from backprop_ninja import checker",
    "from reference import atomic_graph",
    "__import__('backprop_ninja')",
    "import importlib; importlib.import_module('backprop_ninja.checks.checker')",
    "f = sys._getframe(2).f_locals",
])
def test_reaching_the_harness_or_the_solutions_is_not_your_own(line):
    assert {i for i, _, _ in found(f"import sys\n{line}\n")} == {"not-your-own"}


def test_comments_and_strings_do_not_count():
    source = ('"""Do not call .backward() or torch.autograd.grad here."""\n'
              "# x.backward() would be cheating; requires_grad=True too\n"
              "s = 'torch.func.jvp and backprop_ninja'\n")
    assert found(source) == []


def test_kata_04s_step_named_backward_is_not_a_use():
    source = ("def backward(Xb, Yb):\n    return helper()\n\n"
              "def train():\n    return backward(1, 2)\n")
    assert found(source) == []


def test_kata_08s_layer_classes_backward_is_the_learners_step_not_autograd():
    source = ("class layernorm:\n    def backward(dout, w, norm, rstd):\n        return dout\n\n"
              "def backward(idx, targets, params, acts):\n"
              "    return layernorm.backward(1, 2, 3, 4), mine.mlp.backward(1), attention.backward(2)\n")
    assert found(source) == []
    assert [(i, n) for i, _, n in found("def backward(x):\n    return x.mlp().backward()\n")] == [("autograd", 2)]


def test_a_finding_names_its_line_and_its_function():
    (f,) = scan_source("import torch\n\ndef dprobs(probs, dlogprobs):\n    return probs.grad_fn\n", "k.py")
    assert (f.line, f.code, f.function) == (4, "return probs.grad_fn", "dprobs")
    assert f.where == "k.py:4: return probs.grad_fn"
    assert "line 4" in f.sentence("dprobs")


def test_a_step_that_is_still_its_stub_is_known_without_running_it():
    from backprop_ninja.sandbox.scan import stubs

    source = ('def dprobs(probs, dlogprobs):\n    """Doc."""\n    # TODO\n    raise NotImplementedError("01.02")\n\n'
              "def dlogprobs(logprobs, Yb):\n    print(1)\n    raise NotImplementedError\n\n"
              "def dcounts(a):\n    raise NotImplementedError\n\ndcounts = dprobs\n")
    assert stubs(source) == {"dprobs"}  # dlogprobs runs code first; dcounts is rebound
    assert stubs("NotImplementedError = ValueError\ndef f():\n    raise NotImplementedError\n") == set()


def test_a_file_of_stubs_is_checked_without_starting_the_worker(tmp_path, monkeypatch, root):
    from backprop_ninja.checks.checker import check_in
    from backprop_ninja.models.katas import kata
    from backprop_ninja.sandbox import client, loader

    class NoWorker(client.Worker):
        def start(self):
            raise AssertionError("a file of stubs needs no worker")

    monkeypatch.setattr(client, "_WORKER", NoWorker())
    stub = tmp_path / "atomic_graph.py"
    stub.write_text((root / "katas" / "01_atomic_graph" / "atomic_graph.py").read_text())
    verdict = check_in(kata("01"), loader.open_file(stub), "dprobs")
    assert (verdict.status, verdict.diagnosis) == ("todo", "not-implemented")
    assert verdict.where.startswith(str(stub.resolve()))


LLM_C_LAYERNORM = '''
import torch


class LayerNorm:
    @staticmethod
    def backward(dout, cache):
        x, w, mean, rstd = cache
        norm = (x - mean) * rstd
        db = dout.sum((0, 1))
        dw = (dout * norm).sum((0, 1))
        dnorm = dout * w
        dx = dnorm - dnorm.mean(-1, keepdim=True) - (dnorm * norm).mean(-1, keepdim=True) * norm
        return dx * rstd, dw, db


def dx(dout, x, w, norm, rstd):
    mean = x.mean(-1, keepdim=True)
    return LayerNorm.backward(dout, (x, w, mean, rstd))[0]
'''


def test_a_class_of_the_learners_own_with_a_backward_method_is_not_autograd():
    assert found(LLM_C_LAYERNORM) == []


def test_a_numpy_style_parameter_whose_grad_the_file_assigns_is_not_autograd():
    source = ("class Parameter:\n    def __init__(self, data):\n        self.data = data\n        self.grad = None\n\n"
              "def dW(x, dout):\n    p = Parameter(x)\n    p.grad = x.T @ dout\n    return p.grad\n")
    assert found(source) == []


def test_the_other_spellings_of_autograd_count_beside_a_class_of_ones_own():
    source = LLM_C_LAYERNORM + "\n\ndef helper(t):\n    return t.requires_grad_()\n"
    assert [(i, what) for i, what, _ in found(source)] == [("autograd", ".requires_grad_")]
