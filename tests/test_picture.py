"""Pictures of a wrong gradient: check(show=True), `pytest --show DIR` and `backprop-ninja show STEP`."""

import shutil
import sys

import pytest
import torch
from conftest import ROOT, kata_module

from backprop_ninja import check, cli, picture
from backprop_ninja.checks.verdict import Verdict
from backprop_ninja.models.katas import kata

pytest_plugins = ["pytester"]
pytest.importorskip("matplotlib")
# imported here, once: a pytester run in this process forgets the modules it imported, and a figure built from
# a second import of matplotlib.figure rejects the first import's GridSpec (the order xdist picks decides)
import matplotlib.figure  # noqa: E402, F401

REFERENCE = kata_module("reference", kata("01"))
PNG = b"\x89PNG\r\n\x1a\n"
MAX_BRANCH = "return dnorm_logits.clone() + onehot * dlogit_maxes"


def dlogits_without_the_max_branch(logits, dnorm_logits, dlogit_maxes):
    return dnorm_logits.clone()


def test_a_wrong_step_carries_its_first_failing_probe_for_the_picture(capsys):
    verdict = check("dlogits", dlogits_without_the_max_branch, kata="01", quiet=True)
    label, target, yours, autograds = verdict.first_failure
    assert verdict.diagnosis == "missing-branch" and target == "logits"
    assert label == "local probe, lecture sizes"  # the lecture's dlogit_maxes is float noise: the local probe shows it
    assert yours.shape == autograds.shape == (32, 27) and not torch.allclose(yours, autograds)


def test_check_with_show_writes_a_png_outside_a_notebook_and_prints_its_path(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    verdict = check("dlogits", dlogits_without_the_max_branch, kata="01", show=True)
    out = capsys.readouterr().out
    path = tmp_path / picture.PICTURES / "01_dlogits.png"
    assert out.rstrip().endswith(f"picture: {(picture.PICTURES / '01_dlogits.png').as_posix()}")
    assert path.read_bytes().startswith(PNG) and verdict.status == "wrong"


def test_a_right_or_unshaped_step_draws_nothing_and_says_why(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    check("dlogits", REFERENCE.dlogits, kata="01", show=True)
    assert "picture" not in capsys.readouterr().out  # done: nothing to draw, nothing said
    check("dlogits", lambda logits, dnorm_logits, dlogit_maxes: dlogit_maxes, kata="01", show=True)
    assert "no picture of dlogits: there is one only for wrong values" in capsys.readouterr().out
    assert not (tmp_path / picture.PICTURES).exists()


def test_without_matplotlib_one_sentence_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    check("dlogits", dlogits_without_the_max_branch, kata="01", show=True)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == picture.INSTALL and 'pip install "backprop-ninja[plot]"' in last


@pytest.mark.parametrize("shape", [(5, 4, 3), (2, 3, 5, 4)])
def test_a_gradient_of_three_or_four_axes_is_drawn_as_the_slice_that_holds_the_worst_element(shape):
    want = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    got = want.clone()
    worst = tuple(s - 2 for s in shape)
    got[worst] += 10.0
    values, at, note = picture.plane(got, worst)
    assert torch.equal(values, got[worst[:-2]]) and at == worst[-2:]
    assert note == f"slice [{', '.join(map(str, worst[:-2]))}, :, :] of {shape}, which holds the worst element"
    verdict = Verdict("06_attention", "dq", "wrong", "scale", first_failure=("local probe", "q", got, want))
    fig = picture.figure(verdict)
    assert note in fig._suptitle.get_text() and f"worst element [{', '.join(map(str, worst))}]" in \
        fig._suptitle.get_text()
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 3 and images[0].get_clim() == images[1].get_clim()  # yours and autograd's: one scale


def test_a_small_difference_gets_its_own_labelled_colour_scale():
    """A 3% slip (Bessel's n-1 for n) would be a blank panel on the gradients' scale."""
    want = torch.randn(32, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    got = want * 1.03
    fig = picture.figure(Verdict("03_batchnorm", "dbnvar", "wrong", "scale",
                                 first_failure=("lecture probe", "bnvar", got, want)))
    images = [ax.images[0] for ax in fig.axes if ax.images]
    off = float((got - want).abs().max())
    assert images[2].get_clim() == pytest.approx((-off, off))
    labels = [ax.get_ylabel() for ax in fig.axes if not ax.images]
    assert any("the difference, its own scale" in label for label in labels)


def test_the_axes_count_whole_rows_and_columns():
    want = torch.randn(32, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    fig = picture.figure(Verdict("03_batchnorm", "dbnvar", "wrong", "scale",
                                 first_failure=("lecture probe", "bnvar", want + 1, want)))
    panel = next(ax for ax in fig.axes if ax.images)
    assert all(float(t).is_integer() for t in panel.get_xticks() if -0.5 <= t <= 0.5)
    assert [t for t in panel.get_xticks() if -0.5 <= t <= 0.5] == [0]


def test_one_and_zero_axes_are_drawn_as_one_row():
    assert picture.plane(torch.arange(4.0), (2,))[0].shape == (1, 4)
    assert picture.plane(torch.tensor(3.0), ())[0].shape == (1, 1)


@pytest.fixture
def tree(pytester):
    """Kata 01 with every step solved except dlogits' max branch, as the learner's katas/."""
    shutil.copytree(ROOT / "reference" / "01_atomic_graph", pytester.path / "katas" / "01_atomic_graph")
    shutil.copytree(ROOT / "reference" / "01_atomic_graph", pytester.path / "reference" / "01_atomic_graph")
    shutil.copy2(ROOT / "katas" / "01_atomic_graph" / "test_atomic_graph.py",
                 pytester.path / "katas" / "01_atomic_graph")
    path = pytester.path / "katas" / "01_atomic_graph" / "atomic_graph.py"
    path.write_text(path.read_text().replace(MAX_BRANCH, "return dnorm_logits.clone()"))
    return pytester


def test_pytest_show_draws_each_wrong_step_into_the_folder(tree):
    result = tree.runpytest_inprocess("katas/01_atomic_graph", "-k", "dlogits", "--show", "pictures")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*diagnosis: missing-branch*", "picture: pictures/01_dlogits.png"])
    assert (tree.path / "pictures" / "01_dlogits.png").read_bytes().startswith(PNG)


def test_pytest_show_has_an_ini_twin(tree):
    tree.makeini("[pytest]\nbackprop_ninja_show = drawn\n")
    tree.runpytest_inprocess("katas/01_atomic_graph", "-k", "dlogits").assert_outcomes(failed=1)
    assert (tree.path / "drawn" / "01_dlogits.png").exists()


def test_backprop_ninja_show_checks_the_step_and_prints_the_png(tree, monkeypatch, capsys):
    monkeypatch.chdir(tree.path)
    monkeypatch.delenv("BACKPROP_NINJA_IMPL", raising=False)
    assert cli.main(["show", "dlogits"]) == 1
    out = capsys.readouterr().out
    assert "diagnosis: missing-branch" in out
    assert "(this is kata 01's dlogits; kata 02's: backprop-ninja show dlogits --kata 02)" in out
    assert out.rstrip().endswith("picture: .backprop-ninja/pictures/01_dlogits.png")
    assert cli.main(["show", "dprobs"]) == 0
    assert capsys.readouterr().out.startswith("dprobs: done — matches autograd, nothing to draw")
    assert cli.main(["show", "probs"]) == 2
    assert "no step 'probs' in any kata" in capsys.readouterr().err
