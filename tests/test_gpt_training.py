"""`train --model gpt`: the streams, the schedule, the twin loops, and the command end to end.

Everything trains tiny runs on a few hundred synthetic names the tests write: no names.txt.
"""

import argparse
import sys
from pathlib import Path

import pytest
import torch
from conftest import needs_cxx
from test_train import one_thread_and_a_clean_environment, synthetic_names  # noqa: F401 (an autouse fixture)

from backprop_ninja.commands import train
from backprop_ninja.models import gpt
from backprop_ninja.sandbox import loader
from backprop_ninja.train import gpt as gpt_training

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "reference" / "08_gpt" / "gpt.py"
TINY = gpt.GPTConfig(label="tiny", B=4, T=8, C=16, nh=2, n_layer=1, std=0.02, seed=3)


@pytest.fixture
def names_file(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\n".join(synthetic_names()) + "\n")
    return path


def train_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="backprop-ninja")
    train.register(parser.add_subparsers())
    args = parser.parse_args(["train", *argv])
    return args.func(args)


def test_streams_split_by_name_and_end_every_name_with_a_dot():
    words = synthetic_names()
    s = gpt_training.make_streams(words)
    assert (s.train == 0).sum() == int(0.8 * len(words))
    assert (s.val == 0).sum() == int(0.9 * len(words)) - int(0.8 * len(words))
    assert len(s.train) + len(s.val) + len(s.test) == sum(len(w) + 1 for w in words)
    assert s.train[-1] == 0 and s.itos[0] == "."


def test_a_batch_is_windows_with_targets_shifted_by_one():
    data = torch.arange(100)
    idx, targets = gpt_training.batch(data, 5, 7, torch.Generator().manual_seed(0))
    assert idx.shape == targets.shape == (5, 7)
    assert torch.equal(targets, idx + 1)


def test_the_learning_rate_warms_up_then_decays_by_a_cosine():
    lr = [gpt_training.learning_rate(i, 1000, warmup=100) for i in range(1000)]
    assert lr[0] == pytest.approx(gpt_training.LR / 100) and lr[99] == pytest.approx(gpt_training.LR)
    assert all(a >= b for a, b in zip(lr[100:], lr[101:]))
    assert lr[-1] == pytest.approx(gpt_training.MIN_LR, rel=1e-3)


def adamw_one_parameter_at_a_time(params: dict, steps: list, betas=gpt_training.BETAS, eps=1e-8,
                                  weight_decay=gpt_training.WEIGHT_DECAY) -> None:
    """AdamW's operations one parameter at a time, in place; steps is a list of (grads, lr)."""
    b1, b2 = betas
    m = {k: torch.zeros_like(v) for k, v in params.items()}
    v = {k: torch.zeros_like(x) for k, x in params.items()}
    for t, (grads, lr) in enumerate(steps, start=1):
        for k, p in params.items():
            g = grads[k]
            m[k].mul_(b1).add_(g, alpha=1 - b1)
            v[k].mul_(b2).addcmul_(g, g, value=1 - b2)
            mhat, vhat = m[k] / (1 - b1**t), v[k] / (1 - b2**t)
            if p.dim() >= 2:
                p.mul_(1 - lr * weight_decay)
            p.sub_((mhat * lr).div_(vhat.sqrt().add_(eps)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adamw_on_flat_moments_gives_the_formulas_numbers_to_the_bit(dtype):
    cfg = gpt.GPTConfig(**{**gpt.TRAIN.__dict__, "dtype": dtype})
    g = torch.Generator().manual_seed(0)
    start = {k: v + 0.01 * torch.randn(v.shape, generator=g, dtype=dtype) for k, v in gpt.init_training(cfg).items()}
    steps = []
    for i in range(50):  # gradients from 1e-6 to 1, so that no element's rounding hides behind another's scale
        scale = 10.0 ** -(i % 7)
        steps.append(({k: torch.randn(v.shape, generator=g, dtype=dtype) * scale for k, v in start.items()},
                      gpt_training.learning_rate(i, 50, warmup=5)))
    flat, formula = {k: v.clone() for k, v in start.items()}, {k: v.clone() for k, v in start.items()}
    opt = gpt_training.AdamW(flat)
    for grads, lr in steps:
        opt.step(grads, lr)
    adamw_one_parameter_at_a_time(formula, steps)
    for name in start:
        assert torch.equal(flat[name], formula[name]), name
        assert not torch.equal(flat[name], start[name]), name  # every parameter moved


def test_gelu_without_a_graph_gives_the_same_numbers_as_under_autograd():
    fch = torch.randn(4, 8, 64, generator=torch.Generator().manual_seed(1)) * 3  # (B, T, 4C), tanh's tails too
    recorded = gpt.gelu(fch.clone().requires_grad_(True))
    with torch.no_grad():
        plain = gpt.gelu(fch)
    assert recorded.grad_fn is not None
    assert torch.equal(plain, recorded.detach())
    assert torch.equal(fch, torch.randn(4, 8, 64, generator=torch.Generator().manual_seed(1)) * 3)  # input unchanged


@needs_cxx
def test_gelu_under_torch_compile_is_the_same_function():
    fch = torch.randn(4, 8, 64, generator=torch.Generator().manual_seed(1)) * 3  # (B, T, 4C)
    with torch.no_grad():
        compiled = torch.compile(gpt.gelu)(fch)  # written with sigmoid there (gpt._gelu_without_graph)
        torch.testing.assert_close(compiled, gpt.gelu(fch), rtol=1e-6, atol=1e-6)


def test_cli_default_steps_are_the_gpt_trainings():
    assert train.GPT_STEPS == gpt_training.STEPS


def test_manual_and_autograd_loops_stay_together():
    streams = gpt_training.make_streams(synthetic_names())
    cfg = gpt.GPTConfig(**{**TINY.__dict__, "dtype": torch.float64, "vocab_size": streams.vocab_size})
    backward = loader.load(REFERENCE).backward
    mine, mine_losses = gpt_training.fit(gpt_training.manual_gradients(backward, cfg.nh), streams, cfg, steps=30,
                                         progress=False, eval_every=1000)
    twin, twin_losses = gpt_training.fit(lambda p, i, t: gpt_training.autograd_gradients(p, i, t, cfg.nh), streams,
                                         cfg, steps=30, progress=False, eval_every=1000)
    torch.testing.assert_close(mine_losses, twin_losses, rtol=1e-9, atol=1e-9)
    for name in mine:
        torch.testing.assert_close(mine[name], twin[name], rtol=1e-8, atol=1e-10, msg=name)


def test_samples_are_reproducible_names_that_stop_at_a_dot_or_the_length_limit():
    streams = gpt_training.make_streams(synthetic_names())
    cfg = gpt.GPTConfig(**{**TINY.__dict__, "vocab_size": streams.vocab_size})
    params = gpt.init_training(cfg)  # untrained: some names run to the limit
    names = gpt_training.sample(params, cfg, streams.itos, max_len=12)
    assert len(names) == 20 and all("." not in n[:-1] and (n.endswith(".") or len(n) == 12) for n in names)
    assert gpt_training.sample(params, cfg, streams.itos, max_len=12) == names


def _final(out: list[str]) -> tuple[float, float, list[str]]:
    i = next(i for i, line in enumerate(out) if line.startswith("train "))
    assert out[i + 1].startswith("val ")
    return float(out[i].split()[1]), float(out[i + 1].split()[1]), out[i + 2:i + 22]


def test_train_gpt_prints_losses_and_twenty_names(names_file, capsys):
    assert train_cli("--model", "gpt", "--impl", str(REPO / "reference"), "--data", str(names_file),
                     "--steps", "40") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("training a GPT") and "reference/08_gpt/gpt.py" in out[0]
    assert any(line.startswith("     40/     40: train ") for line in out)
    train_loss, val_loss, names = _final(out)
    assert 0 < train_loss < 4 and 0 < val_loss < 4
    assert len(names) == 20 and all("." not in n[:-1] for n in names)


def test_autograd_is_the_same_seeded_run(names_file, capsys):
    assert train_cli("--model", "gpt", "--impl", str(REPO / "reference"), "--data", str(names_file),
                     "--steps", "20") == 0
    mine = _final(capsys.readouterr().out.splitlines())
    assert train_cli("--model", "gpt", "--autograd", "--data", str(names_file), "--steps", "20") == 0
    out = capsys.readouterr().out.splitlines()
    assert "autograd's gradients" in out[0]
    twin = _final(out)
    assert abs(mine[0] - twin[0]) < 1e-3 and abs(mine[1] - twin[1]) < 1e-3


def test_the_stub_says_to_finish_kata_08_before_reading_data(tmp_path, capsys):
    assert train_cli("--model", "gpt", "--impl", str(REPO / "katas"), "--data", str(tmp_path / "none.txt")) == 1
    err = capsys.readouterr().err
    assert err.startswith("kata 08's backward is not written yet") and "--impl reference" in err
    assert err.count("\n") == 1


def test_the_learners_file_runs_in_the_worker_and_a_use_of_autograd_stops_it(tmp_path, names_file, capsys):
    mine = tmp_path / "mine" / "08_gpt" / "gpt.py"
    mine.parent.mkdir(parents=True)
    mine.write_text(REFERENCE.read_text() + "\n\ndef helper(loss):\n    loss.backward()\n")
    assert train_cli("--model", "gpt", "--impl", str(tmp_path / "mine"), "--data", str(names_file)) == 1
    err = capsys.readouterr().err
    assert ".backward on line" in err and "uses autograd" in err
    assert not any(getattr(m, "__file__", None) == str(mine) for m in list(sys.modules.values()))


LATER = """
CALLS = 0


def backward(idx, targets, params, acts):
    global CALLS
    CALLS += params["wte"].shape[1] == 64  # the training run's width (the check before it uses others)
    grads = reference_backward(idx, targets, params, acts)
    if CALLS > 3:  # iterations 0, 1 and 2 go well
        {fault}
    return grads
"""


def later_fault(tmp_path, fault: str) -> Path:
    """A kata tree whose backward is the reference's until iteration 3 of a run at C=64, then does `fault`."""
    source = REFERENCE.read_text().replace("\ndef backward(", "\ndef reference_backward(")
    mine = tmp_path / "mine" / "08_gpt" / "gpt.py"
    mine.parent.mkdir(parents=True)
    mine.write_text(source + LATER.format(fault=fault))
    return tmp_path / "mine"


@pytest.mark.parametrize("fault, parts", [
    ("raise ValueError('boom')", ["raised ValueError: boom", "gpt.py:", "raise ValueError('boom')"]),
    ("grads['wte'] = grads['wte'] * float('nan')", ["returned a gradient of wte holding nan"]),
    ("grads['lnf_w'] = grads['lnf_w'] / 0.0", ["returned a gradient of lnf_w holding"]),
    ("grads.pop('wpe')", ["returned a dict without wpe"]),
    ("grads['wpe'] = grads['wpe'].T", ["returned (64, 16) for the gradient of wpe, which must have shape (16, 64)"]),
    ("grads = list(grads.values())", ["returned a list, not a dict of gradients by parameter name"]),
    ("import time; time.sleep(5)", ["ran longer than 0.5 s and was stopped"]),
])
def test_a_backward_failing_mid_run_stops_it_with_the_iteration_and_one_sentence(tmp_path, names_file, monkeypatch,
                                                                                   capsys, fault, parts):
    from test_train import assert_one_sentence

    monkeypatch.setattr(gpt_training, "SECONDS", 0.5)
    code = train_cli("--model", "gpt", "--impl", str(later_fault(tmp_path, fault)), "--data", str(names_file),
                     "--steps", "10")
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.startswith("training a GPT")  # it had started: the failure came during the run
    assert_one_sentence(captured.err, "training stopped at iteration 3 of 10: kata 08's backward", *parts,
                        "pytest katas/08_gpt")


def test_the_learners_run_is_the_same_run_as_in_this_process(names_file, capsys):
    # the loop in the worker, its val losses computed here, is the loop in this process, number for number
    from backprop_ninja.models import katas

    streams = gpt_training.make_streams(synthetic_names())
    cfg = gpt.GPTConfig(**{**TINY.__dict__, "vocab_size": streams.vocab_size})
    remote = loader.step_function(loader.open_file(REFERENCE), katas.kata("08"), "backward")
    theirs, their_losses = gpt_training.guarded_fit(remote, streams, cfg, steps=25, progress=False)
    printed = capsys.readouterr().out
    mine, my_losses = gpt_training.fit(gpt_training.manual_gradients(loader.load(REFERENCE).backward, cfg.nh),
                                       streams, cfg, steps=25, progress=False)
    assert capsys.readouterr().out == printed and printed.count("\n") == 13  # every 2 steps, and the last
    torch.testing.assert_close(their_losses, my_losses, rtol=0, atol=0)
    for name in mine:
        torch.testing.assert_close(theirs[name], mine[name], rtol=0, atol=0, msg=name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_one_sentence(names_file, capsys):
    assert train_cli("--model", "gpt", "--impl", str(REPO / "reference"), "--data", str(names_file),
                     "--device", "cuda") == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "sees no such CUDA GPU" in captured.err


def test_plot_writes_a_png(tmp_path, names_file):
    pytest.importorskip("matplotlib")
    png = tmp_path / "loss.png"
    assert train_cli("--model", "gpt", "--autograd", "--data", str(names_file), "--steps", "5",
                     "--plot", str(png)) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gpt_options_the_model_cannot_take_are_refused_before_anything_trains(tmp_path, names_file, capsys):
    # --hidden is the MLP's; a --plot into a folder that is not there fails up front, as for the MLP
    assert train_cli("--model", "gpt", "--hidden", "64", "--impl", "reference", "--data", str(names_file)) == 1
    assert "leave out --hidden with --model gpt" in capsys.readouterr().err
    no_dir = tmp_path / "no" / "dir" / "x.png"
    assert train_cli("--model", "gpt", "--plot", str(no_dir), "--impl", "reference", "--data", str(names_file)) == 1
    err = capsys.readouterr()
    assert "does not exist" in err.err and "training a GPT" not in err.out
