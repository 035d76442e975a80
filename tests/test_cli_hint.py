"""`backprop-ninja hint STEP [--level 1|2|3] [--kata KATA]`."""

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from backprop_ninja import cli
from backprop_ninja.commands import hint
from backprop_ninja.models.hints import load_hints
from backprop_ninja.models.katas import KATAS


def run(capsys, *args):
    code = cli.main(["hint", *args])
    out, err = capsys.readouterr()
    return code, out, err


def flat(text: str) -> str:
    return " ".join(text.split())


def needs_kata(folder):
    if not (ROOT / "katas" / folder / "hints.toml").exists():
        pytest.skip(f"kata {folder} is not in this checkout")


@pytest.mark.parametrize("level", [1, 2, 3])
def test_each_level_shows_the_text_of_hints_toml(project, capsys, level):
    want = load_hints(ROOT / "katas" / "01_atomic_graph" / "hints.toml")["dprobs"][str(level)]
    code, out, err = run(capsys, "dprobs", "--level", str(level))
    assert code == 0, err
    assert out.startswith(f"dprobs · kata 01 · hint {level} of 3 ({hint.LEVEL_NAMES[level]})")
    assert flat(want) in flat(out)


def test_level_1_is_the_default_and_names_the_next_levels(project, capsys):
    _, out, _ = run(capsys, "dprobs")
    assert "hint 1 of 3" in out
    assert "more:  backprop-ninja hint dprobs --level 2   (level 2: the rule, level 3: nearly the line)" in out


def test_level_3_keeps_code_line_for_line_and_says_it_is_the_last(project, capsys):
    want = load_hints(ROOT / "katas" / "01_atomic_graph" / "hints.toml")["dlogprobs"]["3"].strip("\n")
    _, out, _ = run(capsys, "dlogprobs", "--level", "3")
    for line in want.splitlines():
        assert "    " + line in out.splitlines()
    assert "that was the last hint; check it: pytest katas/01_atomic_graph -k dlogprobs" in out


def test_the_check_line_selects_exactly_that_step(project, capsys):
    _, out, _ = run(capsys, "dcounts", "--level", "3")  # -k dcounts would also pick dcounts_sum
    assert "check it: pytest katas/01_atomic_graph/test_atomic_graph.py::test_dcounts\n" in out


def test_an_unknown_step_lists_the_steps_and_fails(project, capsys):
    code, out, err = run(capsys, "probs")
    assert code != 0
    assert "no step 'probs'" in err and "Did you mean dprobs" in err
    assert "kata 01: dlogprobs  dprobs" in err and "dC" in err


def test_an_unknown_kata_fails_with_the_katas_that_have_hints(project, capsys):
    code, _, err = run(capsys, "dprobs", "--kata", "99")
    assert code != 0
    assert "01_atomic_graph" in err


def test_a_step_not_in_the_given_kata_lists_that_katas_steps(project, capsys):
    code, _, err = run(capsys, "dprobs", "--kata", "04")
    assert code != 0
    assert "kata 04: backward" in err


def test_a_shared_step_goes_to_the_first_kata_where_it_is_a_stub(project, capsys):
    needs_kata("02_cross_entropy")
    code, out, _ = run(capsys, "dlogits")
    assert code == 0
    assert out.startswith("dlogits · kata 01 ·")
    assert "more:  backprop-ninja hint dlogits --kata 01 --level 2" in out
    assert "also in kata 02: backprop-ninja hint dlogits --kata 02" in out

    shutil.copy(ROOT / "reference" / "01_atomic_graph" / "atomic_graph.py",
                project / "katas" / "01_atomic_graph" / "atomic_graph.py")
    _, out, _ = run(capsys, "dlogits")
    assert out.startswith("dlogits · kata 02 ·")
    assert "also in kata 01: backprop-ninja hint dlogits --kata 01" in out


def test_kata_picks_the_other_one(project, capsys):
    needs_kata("03_batchnorm")
    want = load_hints(ROOT / "katas" / "03_batchnorm" / "hints.toml")["dhprebn"]["2"]
    code, out, _ = run(capsys, "dhprebn", "--kata", "3", "--level", "2")
    assert code == 0
    assert out.startswith("dhprebn · kata 03 · hint 2 of 3")
    assert flat(want) in flat(out)
    assert "also in kata 01: backprop-ninja hint dhprebn --kata 01\n" in out


def test_outside_a_repository_it_reads_the_hints_that_came_with_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "dprobs")
    assert code == 0
    assert out.startswith("dprobs · kata 01 · hint 1 of 3")


def test_the_steps_hint_knows_are_the_katas_steps():
    """hint reads the steps from hints.toml (to stay free of torch): they must be the katas' steps."""
    found = {k.folder: k for k in hint.all_hints(ROOT)}
    for kata in KATAS:
        if kata.folder in found:
            assert tuple(found[kata.folder].hints) == kata.step_names
            for levels in found[kata.folder].hints.values():
                assert set(levels) == {"1", "2", "3"}
    assert "01_atomic_graph" in found


def test_is_stub_reads_the_learners_file():
    stub = ROOT / "katas" / "01_atomic_graph" / "atomic_graph.py"
    solved = ROOT / "reference" / "01_atomic_graph" / "atomic_graph.py"
    assert hint.is_stub(stub, "dprobs") and not hint.is_stub(solved, "dprobs")
    assert hint.is_stub(stub.parent / "missing.py", "dprobs")


def test_hint_does_not_import_torch(project):
    code = ("import argparse, sys\n"
            "from backprop_ninja.commands import hint\n"
            "rc = hint.run(argparse.Namespace(step='dprobs', level=2, kata=None))\n"
            "assert rc == 0 and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:3]\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "hint 2 of 3" in result.stdout
