"""Exercise 4's training: the loop, its autograd twin (backprop_ninja.train.mlp), and the `train` command.

Everything trains small networks on a few hundred synthetic names the test
writes itself: no names.txt, no network.
"""

import argparse
import inspect
import random
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from backprop_ninja.commands import train
from backprop_ninja.models import data, lecture
from backprop_ninja.sandbox import loader
from backprop_ninja.train import mlp as training

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
    code = "import sys, argparse; from backprop_ninja.commands import train; " \
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


def test_learning_rate_drops_at_step_100000_whenever_the_run_is_that_long():
    for steps in (100_001, 150_000, 200_000, 1_000_000):
        assert training.learning_rate(99_999, steps) == 0.1
        assert training.learning_rate(100_000, steps) == 0.01


def test_a_shorter_run_drops_the_learning_rate_at_half_its_steps():
    for steps in (1_000, 100_000):
        assert training.learning_rate(steps // 2 - 1, steps) == 0.1
        assert training.learning_rate(steps // 2, steps) == 0.01


def test_help_says_when_the_learning_rate_drops(capsys):
    with pytest.raises(SystemExit):
        train_cli("--help")
    help_text = " ".join(capsys.readouterr().out.split())
    assert "0.01 from step 100,000 as in the notebook" in help_text
    assert "at most 100,000 steps drops it at half its steps" in help_text


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


def test_plot_failing_after_training_keeps_the_results(tmp_path, names_file, monkeypatch, capsys):
    pytest.importorskip("matplotlib")

    def disk_full(losses, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(training, "plot_losses", disk_full)
    code = train_cli("--impl", str(REPO / "reference"), "--data", str(names_file), "--steps", "5",
                     "--hidden", "5", "--plot", str(tmp_path / "loss.png"))
    captured = capsys.readouterr()
    assert code == 1
    out = captured.out.splitlines()
    assert any(line.startswith("train ") for line in out) and any(line.startswith("val ") for line in out)
    assert sum(line.endswith(".") for line in out) >= 20  # the sampled names
    assert_one_sentence(captured.err, "the run finished, but the loss curve could not be written",
                        "No space left on device")


def test_plot_without_matplotlib_stops_before_training(names_file, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    assert train_cli("--impl", str(REPO / "reference"), "--data", str(names_file), "--plot", "x.png") != 0
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing trained
    assert 'pip install "backprop-ninja[plot]"' in captured.err


# --------------------------------------------------------------------------- faults: one sentence, before training

def assert_one_sentence(err: str, *parts: str) -> None:
    """One line for the learner besides the progress bar, no traceback, holding every part."""
    lines = [line for line in re.split(r"[\r\n]", err) if line.strip() and not line.startswith("training:")]
    assert "Traceback" not in err and len(lines) == 1, err
    for part in parts:
        assert part in lines[0], err


def fails_before_training(capsys, *argv: str, parts=()) -> str:
    """Run `train ARGV`: exit 1, nothing trained (stdout empty), one sentence on stderr."""
    assert train_cli(*argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_sentence(captured.err, *parts)
    return captured.err


@pytest.mark.parametrize("argv, parts", [
    (["--steps", str(10**12)], ["--steps 1000000000000 is out of range", "10,000,000"]),
    (["--steps", "0"], ["--steps 0 is out of range"]),
    (["--seed", str(10**23)], ["--seed 10000000…(24 digits) is out of range", "2**63-1"]),
    (["--seed", "-1"], ["--seed -1 is out of range"]),
    (["--hidden", "0"], ["--hidden 0 is out of range"]),
    (["--hidden", str(10**9)], ["--hidden 1000000000 is out of range"]),
    (["--threads", "0"], ["--threads 0 is out of range"]),
    (["--device", "meta"], ["--device meta holds shapes but no numbers"]),
    (["--device", "nonsense"], ["--device nonsense is not a device torch knows"]),
])
def test_an_option_out_of_range_is_one_sentence_before_anything_runs(names_file, capsys, argv, parts):
    fails_before_training(capsys, "--impl", str(REPO / "reference"), "--data", str(names_file), *argv, parts=parts)


@pytest.mark.parametrize("plot, parts", [
    ("{tmp}/nowhere/loss.png", ["cannot be written: the folder", "nowhere does not exist"]),
    ("{tmp}/loss.jpg", ["must name a .png file", "--plot loss.png"]),
    ("{tmp}", ["is a folder: name a file inside it"]),
])
def test_a_plot_path_that_cannot_be_written_stops_before_training(tmp_path, names_file, capsys, plot, parts):
    fails_before_training(capsys, "--impl", str(REPO / "reference"), "--data", str(names_file),
                          "--plot", plot.format(tmp=tmp_path), parts=parts)


def test_a_plot_folder_that_takes_no_files_stops_before_training(tmp_path, names_file, monkeypatch, capsys):
    def read_only(*args, **kwargs):  # what a read-only folder does (file modes do not stop root)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(train.tempfile, "NamedTemporaryFile", read_only)
    fails_before_training(capsys, "--impl", str(REPO / "reference"), "--data", str(names_file),
                          "--plot", str(tmp_path / "loss.png"), parts=["does not take new files", "Permission denied"])
    assert list(tmp_path.iterdir()) == [names_file]  # the probe left nothing behind


@pytest.mark.parametrize("count", [1, 4, 5])
def test_too_few_names_for_the_three_splits_is_one_sentence(tmp_path, capsys, count):
    few = tmp_path / "few.txt"
    few.write_text("\n".join(synthetic_names(count)) + "\n")
    fails_before_training(capsys, "--impl", str(REPO / "reference"), "--data", str(few),
                          parts=[f"holds only {count} name", "at least 6 names"])


def test_six_names_are_enough_to_train(tmp_path, capsys):
    six = tmp_path / "six.txt"
    six.write_text("\n".join(synthetic_names(6)) + "\n")
    assert train_cli("--impl", str(REPO / "reference"), "--data", str(six), "--steps", "2", "--hidden", "3") == 0


def test_the_run_uses_the_threads_asked_for_and_restores_them(names_file, monkeypatch):
    from backprop_ninja.sandbox import guard

    seen = []
    run_loop = guard.run_loop
    monkeypatch.setattr(guard, "run_loop", lambda *a, threads, **k: (
        seen.append((torch.get_num_threads(), threads)), run_loop(*a, threads=threads, **k))[1])
    torch.set_num_threads(2)
    assert train_cli("--impl", str(REPO / "reference"), "--data", str(names_file), "--steps", "2",
                     "--hidden", "3") == 0
    assert train_cli("--impl", str(REPO / "reference"), "--data", str(names_file), "--steps", "2",
                     "--hidden", "3", "--threads", "2") == 0
    assert seen == [(1, 1), (2, 2)] and torch.get_num_threads() == 2  # here and in the worker


def test_a_short_run_prints_its_loss_ten_times(names_file, capsys):
    assert training.log_every(200_000) == 10_000 and training.log_every(2_000) == 200
    assert training.log_every(3) == 1
    assert train_cli("--impl", str(REPO / "reference"), "--data", str(names_file), "--steps", "45",
                     "--hidden", "5") == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if re.match(r" +\d+/ +45: \d", line)]
    assert [int(line.split("/")[0]) for line in lines] == list(range(0, 45, 4))


def test_the_learners_run_prints_the_numbers_of_the_same_run_in_this_process(splits, reference_backward, capsys):
    # the loop in the worker, its loss lines computed here, is the loop in this process, number for number
    remote = loader.step_function(loader.open_file(REFERENCE), lecture_kata(), "backward")
    kw = dict(steps=40, n_hidden=12, seed=5, progress=False)
    theirs, their_losses = training.guarded_fit(remote, splits, **kw)
    printed = capsys.readouterr().out
    mine, my_losses = training.fit(training.manual_gradients(reference_backward), splits, **kw)
    assert capsys.readouterr().out == printed and printed.count("\n") == 10
    torch.testing.assert_close(their_losses, my_losses, rtol=0, atol=0)
    for name in lecture.PARAMETERS:
        torch.testing.assert_close(theirs[name], mine[name], rtol=0, atol=0, msg=name)


def lecture_kata():
    from backprop_ninja.models import katas

    return katas.kata("04")


def test_autograd_is_the_same_seeded_run(names_file, capsys):
    argv = ["--data", str(names_file), "--steps", "30", "--hidden", "8"]
    assert train_cli("--impl", str(REPO / "reference"), *argv) == 0
    mine = capsys.readouterr().out.splitlines()
    assert train_cli("--autograd", *argv) == 0
    twin = capsys.readouterr().out.splitlines()
    assert "autograd's gradients" in twin[0] and "reference" in mine[0]
    at = next(i for i, line in enumerate(mine) if line.startswith("train "))
    for a, b in zip(mine[at:at + 2], twin[at:at + 2]):
        assert abs(float(a.split()[1]) - float(b.split()[1])) < 1e-3
    assert mine[at + 2:] == twin[at + 2:]  # the same 20 names


# --------------------------------------------------------------------------- faults of the learner's backward

LATER = """
CALLS = 0


def backward(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw, h, logits):
    global CALLS
    CALLS += 1
    grads = reference_backward(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv,
                               bnraw, h, logits)
    if CALLS > 3:  # the check before training and two iterations go well
        {fault}
    return grads
"""


def later_fault(tmp_path, fault: str) -> Path:  # synthetic_names() have 18 letters: vocab_size 19
    """A kata tree whose backward is the reference's until its 4th call, then does `fault`."""
    source = REFERENCE.read_text().replace("def backward(", "def reference_backward(")
    return write_impl(tmp_path / "mine", source + LATER.format(fault=fault))


@pytest.mark.parametrize("fault, parts", [
    ("raise ValueError('boom')", ["raised ValueError: boom", "training.py:", "raise ValueError('boom')"]),
    ("grads = (grads[0], grads[1] * float('nan'), *grads[2:])", ["returned a dW1 holding nan"]),
    ("grads = (grads[0] / 0.0, *grads[1:])", ["returned a dC holding inf"]),
    ("grads = grads[:3]", ["returned 3 values, not the 7 gradients"]),
    ("grads = (grads[0].T, *grads[1:])", ["returned (10, 19) for dC, which must have shape (19, 10)"]),
    ("import time; time.sleep(5)", ["ran longer than 0.5 s and was stopped"]),
])
def test_a_backward_failing_mid_run_stops_it_with_the_iteration_and_one_sentence(tmp_path, names_file, monkeypatch,
                                                                                   capsys, fault, parts):
    monkeypatch.setattr(training, "BACKWARD_SECONDS", 0.5)
    code = train_cli("--impl", str(later_fault(tmp_path, fault)), "--data", str(names_file), "--steps", "10",
                     "--hidden", "5")
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.startswith("training ")  # it had started: the failure came during the run
    assert_one_sentence(captured.err, "training stopped at iteration 2 of 10: kata 04's backward", *parts)


def test_a_backward_that_raises_at_once_is_one_sentence_before_any_data(tmp_path, no_data, capsys):
    impl = write_impl(tmp_path / "mine", "def backward(*args, **kwargs):\n    return 1 / 0\n")
    fails_before_training(capsys, "--impl", str(impl),
                          parts=["kata 04's backward raised ZeroDivisionError: division by zero", "return 1 / 0"])
    assert not (tmp_path / "empty-cache").exists()


def test_the_learners_backward_is_called_only_through_the_guard(names_file, monkeypatch):
    from backprop_ninja.sandbox import guard

    calls, loops = [], []
    call_step, run_loop = guard.call_step, guard.run_loop
    monkeypatch.setattr(guard, "call_step", lambda fn, kwargs, seconds, **options: (
        calls.append(fn), call_step(fn, kwargs, seconds, **options))[1])
    monkeypatch.setattr(guard, "run_loop", lambda fn, loop, *a, **k: (
        loops.append((fn, loop)), run_loop(fn, loop, *a, **k))[1])
    assert train_cli("--impl", str(REPO / "reference"), "--data", str(names_file), "--steps", "3",
                     "--hidden", "3") == 0
    assert len(calls) == 1 and calls[0].__name__ == "backward"  # the check before training
    assert [(fn.__name__, loop) for fn, loop in loops] == [("backward", training.LOOP)]  # then the run, in the worker


def test_a_backward_that_changes_its_inputs_cannot_reach_the_run(tmp_path, names_file, capsys):
    impl = later_fault(tmp_path, "W1.add_(100.0); C.zero_(); Xb.zero_()")
    assert train_cli("--impl", str(impl), "--data", str(names_file), "--steps", "12", "--hidden", "5") == 0
    changed = capsys.readouterr().out
    assert train_cli("--impl", str(REPO / "reference"), "--data", str(names_file), "--steps", "12",
                     "--hidden", "5") == 0
    assert capsys.readouterr().out.splitlines()[1:] == changed.splitlines()[1:]


def test_a_backward_that_ends_the_worker_stops_the_run_in_one_sentence(tmp_path, names_file, capsys):
    code = train_cli("--impl", str(later_fault(tmp_path, "import os; os._exit(3)")), "--data", str(names_file),
                     "--steps", "10", "--hidden", "5")
    captured = capsys.readouterr()
    assert code == 1 and captured.out.startswith("training ")
    assert_one_sentence(captured.err, "training stopped at iteration", "kata 04's backward raised ProcessExit",
                        "exit code 3")


def test_ctrl_c_during_training_stops_the_run_and_the_worker(names_file, monkeypatch, capsys):
    from backprop_ninja.sandbox import client

    def interrupted(i, steps):
        if i == 3:
            raise KeyboardInterrupt
        return 0.1

    monkeypatch.setattr(training, "log_every", lambda steps: 1)
    real = training.forward
    monkeypatch.setattr(training, "forward", lambda p, X, Y: (interrupted(len(seen), 0), seen.append(1),
                                                              real(p, X, Y))[2])
    seen = []
    code = train_cli("--impl", str(REPO / "reference"), "--data", str(names_file), "--steps", "50", "--hidden", "5")
    captured = capsys.readouterr()
    assert code == 130
    assert_one_sentence(captured.err, "training interrupted: nothing was saved")
    assert client.worker().proc is None  # stopped with the run


# --------------------------------------------------------------------------- data faults, through the command

@pytest.mark.parametrize("fault, parts", [
    ("folder", ["which is a folder, not a file"]),
    ("latin-1", ["is not UTF-8 text: byte 0xe9 on line 1"]),
    ("cached folder", ["the cache holds a folder named names.txt"]),
    ("garbage url", ["BACKPROP_NINJA_DATA_URL is 'garbage'"]),
])
def test_a_data_fault_is_one_sentence_and_exit_1(tmp_path, monkeypatch, capsys, fault, parts):
    argv = ["--impl", str(REPO / "reference"), "--steps", "2"]
    monkeypatch.setenv("BACKPROP_NINJA_CACHE", str(tmp_path / "cache"))
    if fault == "folder":
        argv += ["--data", str(tmp_path)]
    elif fault == "latin-1":
        (tmp_path / "names.txt").write_bytes("renée\n".encode("latin-1") * 10)
        argv += ["--data", str(tmp_path / "names.txt")]
    elif fault == "cached folder":
        (tmp_path / "cache" / "names.txt").mkdir(parents=True)
    else:
        monkeypatch.setenv("BACKPROP_NINJA_DATA_URL", "garbage")
    fails_before_training(capsys, *argv, parts=parts)
