"""Exercise 4's training: the loop, its autograd twin (backprop_ninja.training), and the `train` command.

Everything trains small networks on a few hundred synthetic names the test
writes itself: no names.txt, no network.
"""

import argparse
import inspect
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from backprop_ninja import data, lecture, loader, train, training

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "reference" / "04_training" / "training.py"


@pytest.fixture(autouse=True)
def one_thread_and_a_clean_environment(monkeypatch):
    """Tiny networks gain nothing from threads, and two pytest workers on two cores
    with two threads each spin against each other (10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for name in ("BACKPROP_NINJA_IMPL", "BACKPROP_NINJA_DATA", "BACKPROP_NINJA_DATA_URL"):
        monkeypatch.delenv(name, raising=False)
    yield
    torch.set_num_threads(threads)


def synthetic_names(count: int = 400, seed: int = 0) -> list[str]:
    """Names built from a few syllables: enough structure for the loss to fall fast."""
    rng = random.Random(seed)
    starts = ["ma", "jo", "el", "an", "li", "ka", "sa", "be", "ro", "da"]
    middles = ["ri", "la", "ne", "ta", "vi", "so"]
    ends = ["a", "ah", "ie", "on", "en", "y", "us"]
    return [rng.choice(starts) + "".join(rng.choice(middles) for _ in range(rng.randint(0, 2))) + rng.choice(ends)
            for _ in range(count)]


@pytest.fixture(scope="module")
def splits():
    return data.make_splits(synthetic_names())


@pytest.fixture
def names_file(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\n".join(synthetic_names()) + "\n")
    return path


@pytest.fixture(scope="module")
def reference_backward():
    return loader.load(REFERENCE).backward


def train_cli(*argv: str) -> int:
    """`backprop-ninja train ARGV...`, through the subparser train.register adds."""
    parser = argparse.ArgumentParser(prog="backprop-ninja")
    train.register(parser.add_subparsers())
    args = parser.parse_args(["train", *argv])
    return args.func(args)


def write_impl(root: Path, source: str) -> Path:
    """A tree shaped like katas/ whose 04_training/training.py is `source`."""
    (root / "04_training").mkdir(parents=True)
    (root / "04_training" / "training.py").write_text(source)
    return root


# --------------------------------------------------------------------------- the gradients

def test_reference_backward_matches_autograd(reference_backward):
    cfg = lecture.Config(n=17, vocab_size=13, n_hidden=9, dtype=torch.float64)
    params, batch = lecture.init_parameters(cfg), lecture.make_batch(cfg)  # Xb repeats a row
    _, manual = training.manual_gradients(reference_backward)(params, batch["Xb"], batch["Yb"])
    _, expected = training.autograd_gradients(params, batch["Xb"], batch["Yb"])
    for name, got, want in zip(lecture.PARAMETERS, manual, expected):
        assert got.shape == want.shape, name
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12, msg=name)


def test_stub_has_the_reference_signature():
    stub = loader.load(REPO / "katas" / "04_training" / "training.py").backward
    reference = loader.load(REFERENCE).backward
    assert inspect.signature(stub) == inspect.signature(reference)
    assert tuple(inspect.signature(reference).parameters) == training.BACKWARD_ARGS


def test_cli_defaults_are_the_lectures_numbers():
    assert (train.STEPS, train.N_HIDDEN, train.SEED) == (training.STEPS, training.N_HIDDEN, training.SEED)
    assert (training.STEPS, training.N_HIDDEN, training.SEED) == (200_000, 200, 2147483647)


def test_building_the_cli_does_not_import_torch():
    code = "import sys, argparse; from backprop_ninja import train; " \
           "train.register(argparse.ArgumentParser().add_subparsers()); assert 'torch' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- the loop

def test_training_with_the_reference_makes_the_loss_fall(splits, reference_backward):
    params, losses = training.fit(training.manual_gradients(reference_backward), splits, steps=300, n_hidden=20,
                               progress=False)
    assert losses.shape == (300,)
    assert losses[-30:].mean() < losses[:30].mean() - 0.4
    bn = training.calibrate(params, splits.Xtr)
    assert training.split_loss(params, bn, splits.Xdev, splits.Ydev) < losses[0].item() - 0.5


def test_manual_and_autograd_loops_stay_together(splits, reference_backward):
    kw = dict(steps=100, n_hidden=20, dtype=torch.float64, progress=False)
    manual, manual_losses = training.fit(training.manual_gradients(reference_backward), splits, **kw)
    twin, twin_losses = training.fit(training.autograd_gradients, splits, **kw)
    torch.testing.assert_close(manual_losses, twin_losses, rtol=1e-9, atol=1e-9)
    for name in lecture.PARAMETERS:
        torch.testing.assert_close(manual[name], twin[name], rtol=1e-9, atol=1e-9, msg=name)


def test_learning_rate_drops_tenfold_halfway():
    assert training.learning_rate(99_999, 200_000) == 0.1
    assert training.learning_rate(100_000, 200_000) == 0.01


def test_loss_is_printed_the_lectures_way(splits, reference_backward, capsys):
    training.fit(training.manual_gradients(reference_backward), splits, steps=3, n_hidden=5, progress=False)
    assert capsys.readouterr().out.startswith("      0/      3: ")


def test_samples_are_reproducible_names_ending_with_a_dot(splits, reference_backward):
    params, _ = training.fit(training.manual_gradients(reference_backward), splits, steps=20, n_hidden=8,
                             progress=False)
    bn = training.calibrate(params, splits.Xtr)
    names = training.sample(params, bn, splits.itos)
    assert len(names) == 20 and all(n.endswith(".") and "." not in n[:-1] for n in names)
    assert training.sample(params, bn, splits.itos) == names


# --------------------------------------------------------------------------- the command

def test_train_command_prints_losses_and_names(names_file, capsys):
    assert train_cli("--impl", str(REPO / "reference"), "--data", str(names_file), "--steps", "50",
                     "--hidden", "10") == 0
    out = capsys.readouterr().out.splitlines()
    assert "      0/     50: " in "\n".join(out)
    train_line = next(i for i, line in enumerate(out) if line.startswith("train "))
    assert out[train_line + 1].startswith("val ")
    assert 0 < float(out[train_line].split()[1]) < 5 and 0 < float(out[train_line + 1].split()[1]) < 5
    names = out[train_line + 2:train_line + 22]
    assert len(names) == 20 and all(n.endswith(".") for n in names)


def test_impl_reference_works_from_inside_the_repository(names_file, monkeypatch, capsys):
    monkeypatch.chdir(REPO / "katas")
    assert train_cli("--impl", "reference", "--data", str(names_file), "--steps", "2", "--hidden", "3") == 0
    assert capsys.readouterr().out.startswith(f"training {REFERENCE} on 400 names")


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """names.txt unreachable: an empty cache, and the download refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nobody listens there
    monkeypatch.setenv("BACKPROP_NINJA_DATA_URL", f"http://127.0.0.1:{port}/names.txt")
    monkeypatch.setenv("BACKPROP_NINJA_CACHE", str(tmp_path / "empty-cache"))


def test_train_without_data_exits_with_one_sentence(no_data, capsys):
    assert train_cli("--impl", str(REPO / "reference")) != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("names.txt is not available: the download from http://127.0.0.1:")
    assert captured.err.count("\n") == 1


def test_unwritten_backward_says_to_finish_kata_04_before_any_download(tmp_path, no_data, capsys):
    impl = write_impl(tmp_path / "mine", "def backward(*args, **kwargs):\n    raise NotImplementedError\n")
    assert train_cli("--impl", str(impl)) != 0
    err = capsys.readouterr().err
    assert err.startswith("kata 04's backward is not written yet")
    assert "pytest katas/04_training" in err and "--impl reference" in err and err.count("\n") == 1
    assert not (tmp_path / "empty-cache").exists()


def test_gradient_of_the_wrong_shape_is_named(tmp_path, names_file, capsys):
    impl = write_impl(tmp_path / "mine", REFERENCE.read_text().replace(
        "return dC, dW1, db1", "return dC, dW1.T, db1"))
    assert train_cli("--impl", str(impl), "--data", str(names_file)) != 0
    assert "for dW1, which must have shape" in capsys.readouterr().err


def test_wrong_gradient_warns_before_training(tmp_path, names_file, capsys):
    impl = write_impl(tmp_path / "mine", REFERENCE.read_text().replace(
        "return dC, dW1, db1", "return 2 * dC, dW1, db1"))
    assert train_cli("--impl", str(impl), "--data", str(names_file), "--steps", "5", "--hidden", "5") == 0
    assert "warning: your dC differs from autograd's" in capsys.readouterr().err


def test_missing_impl_folder_says_what_it_expects(tmp_path, names_file, capsys):
    assert train_cli("--impl", str(tmp_path / "nowhere"), "--data", str(names_file)) != 0
    assert "shaped like katas/" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_one_sentence(names_file, capsys):
    assert train_cli("--impl", str(REPO / "reference"), "--data", str(names_file), "--device", "cuda") != 0
    captured = capsys.readouterr()
    assert captured.out == "" and "sees no such CUDA GPU" in captured.err and captured.err.count("\n") == 1


def test_plot_writes_a_png(tmp_path, names_file):
    pytest.importorskip("matplotlib")
    png = tmp_path / "loss.png"
    assert train_cli("--impl", str(REPO / "reference"), "--data", str(names_file), "--steps", "20",
                     "--hidden", "5", "--plot", str(png)) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_stops_before_training(names_file, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    assert train_cli("--impl", str(REPO / "reference"), "--data", str(names_file), "--plot", "x.png") != 0
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing trained
    assert 'pip install "backprop-ninja[plot]"' in captured.err
