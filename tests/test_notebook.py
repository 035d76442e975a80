"""`from backprop_ninja import check`: one call checks a function and prints the pytest report."""

import subprocess
import sys
import textwrap

from conftest import kata_module

from backprop_ninja import check
from backprop_ninja.checks.checker import check_step
from backprop_ninja.checks.verdict import Verdict
from backprop_ninja.models.katas import KATAS, kata

REFERENCE = kata_module("reference", kata("01"))


def dprobs_flipped(probs, dlogprobs):
    return -(1.0 / probs) * dlogprobs


def test_a_right_function_prints_done_and_returns_the_verdict(capsys):
    verdict = check("dprobs", REFERENCE.dprobs)
    out = capsys.readouterr().out
    assert isinstance(verdict, Verdict) and verdict.status == "done" and verdict
    assert out.startswith("dprobs: done — matches autograd (lecture sizes, odd sizes, float64")


def test_a_wrong_function_prints_the_same_report_as_pytest(capsys):
    verdict = check("dprobs", dprobs_flipped)
    out = capsys.readouterr().out
    assert verdict.status == "wrong" and not verdict
    assert out == check_step(kata("01"), "dprobs", dprobs_flipped).report + "\n"
    assert "diagnosis: sign — " in out


def test_a_stub_is_todo(capsys):
    verdict = check("dh", kata_module("katas", kata("01")).dh)
    assert verdict.status == "todo"
    assert capsys.readouterr().out.startswith("todo: dh — ")


def test_without_fn_it_takes_the_function_of_that_name_from_the_caller(capsys):
    dprobs = REFERENCE.dprobs  # noqa: F841 (found by name)
    assert check("dprobs").status == "done"


def test_without_fn_it_reads_notebook_globals(capsys):
    """A notebook cell runs in a namespace of globals, as exec does."""
    namespace = {"check": check, "dprobs": dprobs_flipped}
    exec("verdict = check('dprobs')", namespace)
    assert namespace["verdict"].diagnosis == "sign"


def test_a_missing_function_or_an_unknown_step_answers_in_one_paragraph(capsys):
    """A notebook user never gets a traceback into the harness: the answer is printed, the verdict is no-step."""
    for args, kwargs, says in [(("dW2",), {}, r"define `def dW2(h, dlogits):`"),
                               (("probs", REFERENCE.dprobs), {}, "did you mean dprobs"),
                               (("dprobs", REFERENCE.dprobs), {"kata": "02"}, "kata 02 has no step 'dprobs'"),
                               (("dprobs", 3), {}, "fn must be your function for dprobs(probs, dlogprobs)")]:
        verdict = check(*args, **kwargs)
        out = capsys.readouterr().out
        assert verdict.status == "wrong" and verdict.diagnosis == "no-step" and not verdict
        assert says in out and "Traceback" not in out and "\n\n" not in out.strip()


def test_a_function_passed_alone_is_checked_as_the_step_of_its_name(capsys):
    assert check(REFERENCE.dprobs).status == "done"


def test_a_shared_name_means_kata_01_unless_kata_or_the_parameters_say_otherwise(capsys):
    assert check("dlogits", REFERENCE.dlogits).kata == "01_atomic_graph"
    assert "check('dlogits', kata='02')" in capsys.readouterr().out

    def dlogits(logits, Yb):  # kata 02's parameters
        import torch.nn.functional as F

        d = F.softmax(logits, 1)
        d[range(logits.shape[0]), Yb] -= 1
        return d / logits.shape[0]

    verdict = check("dlogits", dlogits)
    assert verdict.kata == "02_cross_entropy" and verdict.status == "done"
    assert check("dlogits", dlogits, kata="02").kata == "02_cross_entropy"
    assert check("dlogits", dlogits, kata="01").status == "wrong"  # kata 01's parameters differ


def test_the_repr_is_one_line_and_quiet_prints_nothing(capsys):
    verdict = check("dprobs", dprobs_flipped, quiet=True)
    assert capsys.readouterr().out == ""
    assert repr(verdict) == "<dprobs (kata 01): wrong (sign)>"


def test_every_kata_step_can_be_checked_from_a_notebook(capsys):
    for k in KATAS:
        for name in k.step_names:
            assert check(name, lambda **kw: None, kata=k.number, quiet=True).diagnosis == "not-a-tensor"


def test_it_needs_neither_pytest_nor_a_clone(tmp_path):
    """A Colab user: a folder with no katas/, the package installed, pytest never imported."""
    script = textwrap.dedent("""
        import sys
        sys.modules["pytest"] = None  # importing pytest would fail
        from backprop_ninja import check

        def dlogprobs(logprobs, Yb):
            import torch
            n = logprobs.shape[0]
            d = torch.zeros_like(logprobs)
            d[range(n), Yb] = -1.0 / n
            return d

        assert check("dlogprobs").status == "done"
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("dlogprobs: done")


def test_importing_the_package_does_not_import_torch():
    """`import backprop_ninja` stays light (the CLI's hint depends on it); check() imports torch."""
    code = "import sys, backprop_ninja; assert 'torch' not in sys.modules and callable(backprop_ninja.check)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60).returncode == 0


def test_a_step_reading_a_forward_value_from_the_notebooks_globals_is_told_to_take_it_as_a_parameter(capsys):
    # the set-up cell leaves counts (32, 27) in the globals; a step that reads it is right only at the
    # lecture sizes, and the truth is a missing parameter, not a hard-coded number
    namespace = {"torch": __import__("torch"), "counts": __import__("torch").ones(32, 27)}
    exec(textwrap.dedent("""
        def dcounts(counts_sum_inv, dprobs, dcounts_sum):
            return torch.ones_like(counts) * dcounts_sum + counts_sum_inv * dprobs
    """), namespace)
    verdict = check("dcounts", namespace["dcounts"])
    out = capsys.readouterr().out
    assert verdict.diagnosis == "signature" and "hard-coded" not in out
    assert "reads `counts` from the notebook's globals" in out
    assert "def dcounts(counts_sum_inv, dprobs, dcounts_sum, counts)" in out


def test_a_step_that_takes_the_value_as_a_parameter_is_checked_as_usual(capsys):
    namespace = {"torch": __import__("torch"), "counts": __import__("torch").ones(32, 27)}
    exec(textwrap.dedent("""
        def dcounts(counts_sum_inv, dprobs, dcounts_sum, counts):
            return torch.ones_like(counts) * dcounts_sum + counts_sum_inv * dprobs
    """), namespace)
    assert check("dcounts", namespace["dcounts"], quiet=True).status == "done"
