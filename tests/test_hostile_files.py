"""`pytest katas/...` on a learner's file that exits, hangs, crashes, cheats or patches the harness.

Each run is on a copy of kata 01 whose file is the worked solution with one
hostile change: the run gives that step (or the file) its own verdict, no
pass, no harness traceback, and exits non-zero; the other steps still run.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT

pytest_plugins = ["pytester"]

RIGHT = "    return (1.0 / probs) * dlogprobs"  # dprobs's line in reference/01_atomic_graph


@pytest.fixture
def tree(pytester):
    for part in ("katas", "reference"):
        shutil.copytree(ROOT / part / "01_atomic_graph", pytester.path / part / "01_atomic_graph")
    return pytester


def hostile(pytester, old: str, new: str, top: str = "") -> str:
    """A copy of the worked solution as `mine/`, with `old` replaced by `new` and `top` put first."""
    target = pytester.path / "mine" / "01_atomic_graph"
    shutil.copytree(pytester.path / "reference" / "01_atomic_graph", target)
    path = target / "atomic_graph.py"
    source = path.read_text()
    assert old in source
    path.write_text(top + source.replace(old, new))
    return "mine"


def run(pytester, *args):
    result = pytester.runpytest_inprocess("katas/01_atomic_graph", "--impl", "mine", *args)
    out = result.stdout.str()
    assert "Traceback" not in out and "INTERNALERROR" not in out
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    return result


@pytest.mark.parametrize("body, ident", [
    ("    import os; os._exit(0)", "exit"),
    ("    import sys; sys.exit(0)", "exit"),
    ("    raise KeyboardInterrupt", "exit"),
    ("    while True:\n        pass", "timeout"),
    ("    import time\n    while True:\n        try:\n            time.sleep(60)\n"
     "        except Exception:\n            pass", "timeout"),
    ("    import ctypes; return ctypes.string_at(0)", "crash"),
])
def test_a_step_that_exits_hangs_or_crashes_gets_its_verdict_and_the_run_goes_on(tree, body, ident):
    hostile(tree, RIGHT, body)
    result = run(tree, "-k", "dlogprobs or dprobs", "--step-timeout", "1")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"*diagnosis: {ident} — dprobs*"])


def test_a_hang_at_import_is_stopped_and_named(tree):
    hostile(tree, RIGHT, RIGHT, top="while True:\n    pass\n")
    result = run(tree, "-k", "dprobs", "--step-timeout", "1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*does not finish loading within 1 s*"])


def test_three_lines_that_patch_the_checker_pass_nothing(tree):
    patch = ("import backprop_ninja.checks.checker as c\nfrom backprop_ninja.checks.checker import Verdict\n"
             "c.check_step = lambda kata, name, fn, seconds=10: Verdict(kata.folder, name, 'done')\n")
    stub = tree.path / "katas" / "01_atomic_graph" / "atomic_graph.py"
    stub.write_text(patch + stub.read_text())
    result = tree.runpytest_inprocess("katas/01_atomic_graph")
    assert "passed" not in result.parseoutcomes()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*diagnosis: not-your-own — import backprop_ninja.checks.checker on line 1*"])


@pytest.mark.parametrize("top", ["from torch.autograd import grad\n", "import torch\ntorch.set_grad_enabled(False)\n"])
def test_autograd_at_import_time_is_one_autograd_verdict_that_blocks_every_step(tree, top):
    hostile(tree, RIGHT, RIGHT, top=top)
    result = run(tree, "-k", "dlogprobs or dprobs")
    assert result.parseoutcomes() == {"failed": 1, "blocked": 1, "deselected": 25}
    result.stdout.fnmatch_lines(["*diagnosis: autograd — *"])


@pytest.mark.parametrize("body, ident", [
    ("    p = probs.clone().requires_grad_()\n    return p.log().grad_fn(dlogprobs)", "autograd"),
    ("    return torch.func.jvp(torch.log, (probs,), (dlogprobs,))[1]", "autograd"),
    ("    import sys\n    return sys._getframe(2).f_locals['probe'].expected[0]", "not-your-own"),
    # names the scan cannot read, and torch._C's own switch, which the worker does not replace
    ("    on = getattr(torch._C, '_set_grad' + '_enabled')\n    on(True)\n"
     "    p = torch.nn.Parameter(probs.clone())\n"
     "    d = getattr(p.log(), 'grad' + '_fn')(dlogprobs).detach()\n    on(False)\n    return d", "autograd"),
    ("    with getattr(torch, 'inference' + '_mode')(False):\n"
     "        p = torch.nn.Parameter(probs.clone())\n"
     "        return getattr(p.log(), 'grad' + '_fn')(dlogprobs).detach()", "autograd"),
    ("    class Zero(torch.Tensor):\n"
     "        @classmethod\n"
     "        def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
     "            return torch.zeros(())\n"
     "    return torch.zeros_like(probs).as_subclass(Zero)", "not-a-tensor"),
])
def test_a_step_that_cheats_never_passes(tree, body, ident):
    hostile(tree, RIGHT, body)
    result = run(tree, "-k", "dlogprobs or dprobs")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"*diagnosis: {ident} — *"])


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "soon"])
def test_a_step_timeout_that_is_not_a_positive_number_is_a_usage_error(tree, value):
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "-k", "dprobs", f"--step-timeout={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--step-timeout {value}: give the time limit per step as a number of seconds*"])


def test_the_ini_twin_of_step_timeout_is_checked_too(tree):
    tree.makeini("[pytest]\nbackprop_ninja_step_timeout = -1\n")
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "-k", "dprobs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*backprop_ninja_step_timeout -1: *"])


def test_status_gives_a_step_that_exits_its_verdict(project):
    from backprop_ninja.commands.status import survey

    path = project / "katas" / "01_atomic_graph" / "atomic_graph.py"
    path.write_text((project / "reference" / "01_atomic_graph" / "atomic_graph.py").read_text()
                    .replace(RIGHT, "    import sys; sys.exit(0)"))
    (state, *_) = survey(project / "katas", seconds=2)
    verdicts = {v.step: v for v in state.verdicts}
    assert verdicts["dprobs"].diagnosis == "exit"
    assert state.count("done") == 25


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to a process group")
def test_a_real_ctrl_c_still_stops_the_run(tree):
    running = tree.path / "step-is-running"
    hostile(tree, RIGHT, f"    import time\n    open({str(running)!r}, 'w').close()\n    while True:\n"
                         "        try:\n            time.sleep(60)\n        except BaseException:\n            pass")
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "katas/01_atomic_graph", "--impl", "mine",
                             "-k", "dprobs", "-p", "no:cacheprovider"], cwd=tree.path, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    waited = time.monotonic()
    while not running.exists() and time.monotonic() - waited < 120:  # torch imported, the step running
        time.sleep(0.1)
    assert running.exists(), "the step never started"
    start = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # as the terminal does: the whole foreground group
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert time.monotonic() - start < 10
    assert "KeyboardInterrupt" in out


@pytest.mark.parametrize("value", ["-1", "nan", "0"])
def test_status_refuses_a_step_timeout_that_is_not_a_positive_number(value, capsys):
    from backprop_ninja import cli

    with pytest.raises(SystemExit) as stop:
        cli.main(["status", f"--step-timeout={value}"])
    assert stop.value.code == 2
    assert "--step-timeout" in capsys.readouterr().err


@pytest.mark.parametrize("top, said", [
    ("import os; os._exit(7)\n", "ends the Python process while loading (the Python process ended (exit code 7))"),
    ("import ctypes; ctypes.string_at(0)\n", "crashes Python while loading"),
    ("while True:\n    pass\n", "does not finish loading within 2 s"),
])
def test_show_gives_a_file_that_exits_crashes_or_hangs_at_import_the_verdict_status_gives(project, capsys,
                                                                                          top, said):
    """show opens the file as status does (scan, then the worker): it never runs in show's own process."""
    from backprop_ninja import cli
    from backprop_ninja.commands.status import survey

    path = project / "katas" / "01_atomic_graph" / "atomic_graph.py"
    path.write_text(top + (project / "reference" / "01_atomic_graph" / "atomic_graph.py").read_text())
    (state, *_) = survey(project / "katas", seconds=2)
    assert said in state.problem
    assert cli.main(["show", "dprobs", "--step-timeout", "2"]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"backprop-ninja show: {state.problem}\n" and captured.out == ""


@pytest.mark.parametrize("value", ["-1", "nan", "0", "soon"])
def test_show_refuses_a_step_timeout_that_is_not_a_positive_number(value, capsys):
    from backprop_ninja import cli

    with pytest.raises(SystemExit) as stop:
        cli.main(["show", "dprobs", f"--step-timeout={value}"])
    assert stop.value.code == 2
    assert "--step-timeout" in capsys.readouterr().err


@pytest.mark.parametrize("top, said", [
    ("import os; os._exit(7)\n", "ends the Python process while loading (the Python process ended (exit code 7))"),
    ("import ctypes; ctypes.string_at(0)\n", "crashes Python while loading"),
    ("while True:\n    pass\n", "does not finish loading within 2 s"),
])
def test_bench_gives_a_file_that_exits_crashes_or_hangs_at_import_the_verdict_status_gives(project, capsys,
                                                                                           top, said):
    """bench opens the learner's file as status does (scan, then the worker): it never runs in bench's process."""
    from backprop_ninja import cli
    from backprop_ninja.commands.status import survey

    path = project / "katas" / "01_atomic_graph" / "atomic_graph.py"
    path.write_text(top + (project / "reference" / "01_atomic_graph" / "atomic_graph.py").read_text())
    (state, *_) = survey(project / "katas", seconds=2)
    assert said in state.problem
    assert cli.main(["bench", "--step-timeout", "2", "--min-time", "0.01"]) == 1
    out = capsys.readouterr().out
    assert f"kata 01: {state.problem}\n" in out
    assert "Traceback" not in out


def test_bench_never_imports_the_learners_file_in_its_own_process(project, capsys):
    """What a kata file does at its top level happens in the worker, never in bench's process."""
    from backprop_ninja import cli

    seen = project / "imported-by"
    path = project / "katas" / "02_cross_entropy" / "cross_entropy.py"
    path.write_text(f"import os\nopen({str(seen)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
                    + (project / "reference" / "02_cross_entropy" / "cross_entropy.py").read_text())
    assert cli.main(["bench", "--min-time", "0.01"]) == 0
    assert "cross-entropy backward" in capsys.readouterr().out
    assert str(os.getpid()) not in seen.read_text().split()
