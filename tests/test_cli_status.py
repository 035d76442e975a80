"""`backprop-ninja status` (and bare `backprop-ninja`) on copies of the kata tree."""

import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from backprop_ninja import cli
from backprop_ninja.models.katas import KATAS

KATA01 = "katas/01_atomic_graph/atomic_graph.py"


def status(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def def_line(path, name):
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(f"def {name}("))


def solve(project, folder="01_atomic_graph"):
    kata = next(k for k in KATAS if k.folder == folder)
    shutil.copy(ROOT / "reference" / folder / kata.module, project / "katas" / folder / kata.module)


def edit(project, old, new):
    path = project / KATA01
    source = path.read_text()
    assert old in source
    path.write_text(source.replace(old, new))


def test_a_fresh_clone_names_dlogprobs_next_with_its_file_line_and_hint(project, capsys):
    code, out, err = status(capsys, "status")
    assert code == 0, err
    line = def_line(project / KATA01, "dlogprobs")
    assert f"next:  dlogprobs (kata 01) — {KATA01}:{line}" in out
    assert "hint:  backprop-ninja hint dlogprobs" in out
    assert re.search(r"kata 01 +the atomic compute graph +0/26 done · 26 todo", out)
    assert "Traceback" not in out + err


def test_bare_backprop_ninja_is_status(project, capsys):
    code, out, _ = status(capsys)
    assert code == 0
    assert "next:  dlogprobs (kata 01)" in out


def test_output_has_no_colour_when_not_a_terminal_and_reports_its_time(project, capsys):
    _, out, _ = status(capsys, "status")
    assert "\033[" not in out
    assert re.search(r"checked \d+ steps in \d+\.\d s", out)


def test_after_kata_01_is_solved_the_next_step_is_kata_02_dlogits(project, capsys):
    if not (project / "katas" / "02_cross_entropy" / "cross_entropy.py").exists():
        pytest.skip("kata 02 is not in this checkout")
    solve(project)
    _, out, _ = status(capsys, "status")
    assert re.search(r"kata 01 +the atomic compute graph +26/26 done", out)
    assert "next:  dlogits (kata 02) — katas/02_cross_entropy/cross_entropy.py:" in out
    assert "hint:  backprop-ninja hint dlogits --kata 02" in out


def test_a_wrong_step_shows_its_diagnosis_id_and_the_counts(project, capsys):
    edit(project, 'raise NotImplementedError("01.01 dlogprobs: not written yet")',
         "d = torch.zeros_like(logprobs)\n    d[range(logprobs.shape[0]), Yb] = -1.0 / logprobs.shape[0]\n"
         "    return d")
    edit(project, 'raise NotImplementedError("01.02 dprobs: not written yet")',
         'print("debugging")\n    return -(1.0 / probs) * dlogprobs')
    _, out, _ = status(capsys, "status")
    assert "1/26 done · 1 wrong · 24 todo" in out
    assert re.search(r"done +dlogprobs\n", out)
    assert re.search(r"wrong +dprobs \(sign\)", out)
    assert "next:  dprobs (kata 01)" in out
    assert "diagnosis: sign — " in out
    assert "debugging" not in out  # a learner's print stays out of the table


def test_a_missing_function_is_wrong_with_no_step(project, capsys):
    edit(project, "def dcounts_sum(", "def dcounts_sum_renamed(")
    _, out, _ = status(capsys, "status")
    assert "dcounts_sum (no-step)" in out


def test_a_kata_not_in_the_checkout_says_so(project, capsys):
    shutil.rmtree(project / "katas" / "03_batchnorm", ignore_errors=True)
    code, out, _ = status(capsys, "status")
    assert code == 0
    assert re.search(r"kata 03 +batchnorm in one expression +not in this checkout", out)


def test_a_file_that_does_not_load_is_named_without_a_traceback(project, capsys):
    edit(project, "def dprobs(probs, dlogprobs):", "def dprobs(probs, dlogprobs)")
    code, out, err = status(capsys, "status")
    assert code == 0
    assert "cannot load" in out and "SyntaxError" in out
    assert f"next:  fix {KATA01} so that it loads (kata 01)" in out
    assert "Traceback" not in out + err


def test_a_use_of_autograd_outside_every_step_is_said_once_for_the_kata(project, capsys):
    solve(project)
    edit(project, "import torch\n", "import torch\nimport torch.autograd\n")
    code, out, _ = status(capsys, "status")
    assert re.search(r"kata 01 +the atomic compute graph +not checked", out)
    assert out.count("import torch.autograd on line") == 1
    line = (project / KATA01).read_text().splitlines().index("import torch.autograd") + 1
    assert f"next:  remove line {line} of {KATA01} (kata 01)" in out


def test_impl_reference_is_every_step_done(project, capsys):
    code, out, _ = status(capsys, "status", "--impl", "reference")
    assert code == 0
    assert "backprop-ninja status — reference/" in out
    assert re.search(r"26/26 done", out)
    assert "every kata" in out and "done" in out.splitlines()[-2]
    assert "todo" not in out and "wrong" not in out


def test_outside_a_kata_repository_it_says_where_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BACKPROP_NINJA_IMPL", raising=False)
    code, out, err = status(capsys, "status")
    assert code == 1
    assert "no kata repository here" in err


@pytest.mark.parametrize("argv", [["status", "--impl", "reference"], [], ["hint", "dlogprobs"], ["--help"],
                                  ["train", "--help"]])
def test_a_reader_that_stops_early_ends_the_command_quietly(argv):
    """`backprop-ninja status | head`: the pipe is closed before anything is written."""
    proc = subprocess.Popen([sys.executable, "-m", "backprop_ninja", *argv], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader has gone
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    assert err == ""


@pytest.mark.parametrize("command", [["status"], ["show", "dprobs"]])
def test_an_impl_path_the_system_refuses_is_one_sentence(command, capsys):
    code, out, err = status(capsys, *command, "--impl", "x" * 5000)
    assert code == 1 and out == ""
    assert err.startswith(f"backprop-ninja {command[0]}: --impl xxx")
    assert err.rstrip().endswith("(5,000 characters): the operating system refuses this path (File name too long); "
                                 "give a shorter, plain path")


def test_a_status_is_a_str_enum_that_compares_with_the_verdicts_words():
    from backprop_ninja.checks.status import Status

    assert [s.value for s in Status] == ["done", "wrong", "todo", "waits", "blocked"]
    assert Status.DONE == "done" and {"todo": 1}[Status.TODO] == 1 and f"{Status.WAITS:<6}|" == "waits |"
    assert Status("wrong") is Status.WRONG and str(Status.BLOCKED) == "blocked"
