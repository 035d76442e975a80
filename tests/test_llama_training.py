"""`train --model llama`: the same loop as the GPT's with the Llama as data, its twin, and the command end to end.

Everything trains tiny runs on a few hundred synthetic names the tests write: no names.txt.
"""

import ast
import sys
from pathlib import Path

import pytest
import torch
from test_gpt_training import _final, names_file, train_cli  # noqa: F401 (a fixture)
from test_train import one_thread_and_a_clean_environment, synthetic_names  # noqa: F401 (an autouse fixture)

from backprop_ninja.commands import train
from backprop_ninja.models import gpt_trace, katas, llama, whole
from backprop_ninja.sandbox import loader
from backprop_ninja.train import gpt as gpt_training

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "reference" / "12_llama" / "llama.py"
TINY = llama.LlamaConfig(label="tiny", B=4, T=8, C=16, nh=2, n_layer=1, std=0.02, seed=3, H=24)
LLAMA = gpt_trace.LLAMA


def tiny(streams, **changes):
    return llama.LlamaConfig(**{**TINY.__dict__, "vocab_size": streams.vocab_size, **changes})


def test_the_commands_whole_models_are_the_models_data():
    assert train.WHOLE_MODELS == tuple(gpt_trace.MODELS)
    assert whole.KATAS == {name: model.kata for name, model in gpt_trace.MODELS.items()}
    assert LLAMA.kata == "12_llama" and katas.kata(LLAMA.kata).graph is LLAMA


def test_the_scans_layer_classes_are_the_whole_model_stubs_classes():
    for folder, names in whole.LAYER_CLASSES.items():
        kata = katas.kata(folder)
        tree = ast.parse((REPO / "katas" / folder / kata.module).read_text())
        assert tuple(n.name for n in tree.body if isinstance(n, ast.ClassDef)) == names


def test_manual_and_autograd_loops_stay_together():
    streams = gpt_training.make_streams(synthetic_names())
    cfg = tiny(streams, dtype=torch.float64)
    backward = loader.load(REFERENCE).backward
    mine, mine_losses = gpt_training.fit(gpt_training.manual_gradients(backward, cfg.nh, model=LLAMA), streams, cfg,
                                         steps=30, progress=False, eval_every=1000, model=LLAMA)
    twin, twin_losses = gpt_training.fit(lambda p, i, t: gpt_training.autograd_gradients(p, i, t, cfg.nh, LLAMA),
                                         streams, cfg, steps=30, progress=False, eval_every=1000, model=LLAMA)
    torch.testing.assert_close(mine_losses, twin_losses, rtol=1e-9, atol=1e-9)
    assert float(mine_losses[-5:].mean()) < float(mine_losses[:5].mean())  # it learns
    for name in mine:
        torch.testing.assert_close(mine[name], twin[name], rtol=1e-8, atol=1e-10, msg=name)


def test_samples_come_from_the_llama():
    streams = gpt_training.make_streams(synthetic_names())
    cfg = tiny(streams)
    params = llama.init_training(cfg)
    names = gpt_training.sample(params, cfg, streams.itos, max_len=12, model=LLAMA)
    assert len(names) == 20 and all("." not in n[:-1] and (n.endswith(".") or len(n) == 12) for n in names)
    assert gpt_training.sample(params, cfg, streams.itos, max_len=12, model=LLAMA) == names


def test_train_llama_prints_losses_and_twenty_names(names_file, capsys):  # noqa: F811
    assert train_cli("--model", "llama", "--impl", str(REPO / "reference"), "--data", str(names_file),
                     "--steps", "40") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("training a Llama (C=64, H=172, 2 layers, 4 heads, T=16, batch 32)")
    assert "reference/12_llama/llama.py" in out[0] and "40 steps" in out[0]
    assert sum(line.startswith(" ") and ": train " in line and " val " in line for line in out) == 10
    train_loss, val_loss, names = _final(out)
    assert 0 < train_loss < 4 and 0 < val_loss < 4
    assert len(names) == 20 and all("." not in n[:-1] for n in names)


def test_autograd_is_the_same_seeded_run(names_file, capsys):  # noqa: F811
    assert train_cli("--model", "llama", "--impl", str(REPO / "reference"), "--data", str(names_file),
                     "--steps", "20") == 0
    mine = _final(capsys.readouterr().out.splitlines())
    assert train_cli("--model", "llama", "--autograd", "--data", str(names_file), "--steps", "20") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("training a Llama") and "autograd's gradients" in out[0]
    twin = _final(out)
    assert abs(mine[0] - twin[0]) < 1e-3 and abs(mine[1] - twin[1]) < 1e-3


def test_the_stub_says_to_finish_kata_12_before_reading_data(tmp_path, capsys):
    assert train_cli("--model", "llama", "--impl", str(REPO / "katas"), "--data", str(tmp_path / "none.txt")) == 1
    err = capsys.readouterr().err
    assert err.startswith("kata 12's backward is not written yet: finish it (pytest katas/12_llama)")
    assert "train --model llama --impl reference" in err and err.count("\n") == 1


def test_the_learners_file_runs_in_the_worker_and_a_use_of_autograd_stops_it(tmp_path, names_file, capsys):  # noqa: F811
    mine = tmp_path / "mine" / "12_llama" / "llama.py"
    mine.parent.mkdir(parents=True)
    mine.write_text(REFERENCE.read_text() + "\n\ndef helper(loss):\n    loss.backward()\n")
    assert train_cli("--model", "llama", "--impl", str(tmp_path / "mine"), "--data", str(names_file)) == 1
    err = capsys.readouterr().err
    assert ".backward on line" in err and "uses autograd" in err and "pytest katas/12_llama" in err
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


@pytest.mark.parametrize("fault, parts", [
    ("raise ValueError('boom')", ["raised ValueError: boom", "llama.py:", "raise ValueError('boom')"]),
    ("grads['h0_mlp_W_gate'] = grads['h0_mlp_W_gate'] * float('nan')",
     ["returned a gradient of h0_mlp_W_gate holding nan"]),
    ("grads['h0_mlp_W_down'] = grads['h0_mlp_W_down'].T",
     ["returned (64, 172) for the gradient of h0_mlp_W_down, which must have shape (172, 64)"]),
])
def test_a_backward_failing_mid_run_stops_it_with_the_iteration_and_one_sentence(tmp_path, names_file, monkeypatch,  # noqa: F811
                                                                                   capsys, fault, parts):
    from test_train import assert_one_sentence

    source = REFERENCE.read_text().replace("\ndef backward(", "\ndef reference_backward(")
    mine = tmp_path / "mine" / "12_llama" / "llama.py"
    mine.parent.mkdir(parents=True)
    mine.write_text(source + LATER.format(fault=fault))
    code = train_cli("--model", "llama", "--impl", str(tmp_path / "mine"), "--data", str(names_file), "--steps", "10")
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.startswith("training a Llama")  # it had started: the failure came during the run
    assert_one_sentence(captured.err, "training stopped at iteration 3 of 10: kata 12's backward", *parts,
                        "pytest katas/12_llama")


def test_the_learners_run_is_the_same_run_as_in_this_process(capsys):
    # the loop in the worker, its val losses computed here, is the loop in this process, number for number
    streams = gpt_training.make_streams(synthetic_names())
    cfg = tiny(streams)
    remote = loader.step_function(loader.open_file(REFERENCE), katas.kata("12"), "backward")
    theirs, their_losses = gpt_training.guarded_fit(remote, streams, cfg, steps=20, progress=False, model=LLAMA)
    printed = capsys.readouterr().out
    mine, my_losses = gpt_training.fit(gpt_training.manual_gradients(loader.load(REFERENCE).backward, cfg.nh,
                                                                     model=LLAMA),
                                       streams, cfg, steps=20, progress=False, model=LLAMA)
    assert capsys.readouterr().out == printed and printed.count("\n") == 10
    torch.testing.assert_close(their_losses, my_losses, rtol=0, atol=0)
    for name in mine:
        torch.testing.assert_close(theirs[name], mine[name], rtol=0, atol=0, msg=name)


def test_hidden_is_refused_with_the_llama_too(names_file, capsys):  # noqa: F811
    assert train_cli("--model", "llama", "--hidden", "64", "--impl", "reference", "--data", str(names_file)) == 1
    assert "leave out --hidden with --model llama" in capsys.readouterr().err
