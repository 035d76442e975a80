"""`backprop-ninja bench`: it prints ratios for what is done, and a plain line for the rest.

Speed is never asserted: these tests time with a tiny --min-time and only
check what is printed and the exit code.
"""

import re
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, needs_cxx

from backprop_ninja import cli
from backprop_ninja.commands import bench
from backprop_ninja.sandbox import client

# torch.utils.benchmark needs NumPy on older torch releases (2.1); bench then says so
pytest.importorskip("torch.utils.benchmark", reason="this torch's timing tools need NumPy")

QUICK = ["--min-time", "0.005"]
RATIO = re.compile(r"\d+(\.\d)?x (faster|slower)")


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("BACKPROP_NINJA_IMPL", raising=False)


def bench_run(capsys, *argv):
    rc = cli.main(["bench", *QUICK, *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out


def test_reference_prints_a_ratio_for_every_row(capsys):
    rc, out = bench_run(capsys, "--impl", "reference")
    assert rc == 0, out
    for what in ("cross-entropy backward", "batchnorm backward", "embedding backward dC"):
        line = next((ln for ln in out.splitlines() if ln.startswith(what)), None)
        assert line is not None, out
        assert RATIO.search(line), line
    assert "reference/01_atomic_graph" in out  # says where the atomic baselines come from
    assert "not written yet" not in out
    # the GPT step beside this machine's limit: its FLOPs, GFLOP/s each way, and the fraction of a large matmul's
    note = next(ln for ln in out.splitlines() if ln.startswith("note: GPT training step"))
    assert re.search(r"0\.\d\d GFLOP a step: [\d.]+ GFLOP/s kata 08, [\d.]+ with autograd; "
                     r"one 1024x1024 matmul here: [\d.]+ GFLOP/s, so kata 08 reaches \d+% of it", note), note


def test_the_step_flops_are_the_models_matmuls():
    from backprop_ninja.models import gpt

    cfg = gpt.TRAIN
    BT, C, V, L = cfg.B * cfg.T, cfg.C, 27, cfg.n_layer
    matmuls = 2 * BT * C * (3 * C + C + 4 * C + 4 * C) * L + 2 * BT * C * V  # qkv, proj, fc, fc proj; lm_head
    attention = 2 * 2 * cfg.B * cfg.T * cfg.T * C * L  # q @ k.T and att @ v
    assert bench.step_flops() == 3 * (matmuls + attention)  # forward, and twice that backward


def test_stubs_say_not_written_yet_and_exit_0(capsys):
    rc, out = bench_run(capsys)  # default: katas/, all stubs
    assert rc == 0
    assert "kata 02 dlogits: not written yet — pytest katas/02_cross_entropy" in out
    assert "kata 03 dhprebn: not written yet — pytest katas/03_batchnorm" in out
    assert "kata 01 dC: not written yet — pytest katas/01_atomic_graph" in out
    assert not RATIO.search(out)


def test_a_wrong_step_is_named_not_timed_and_exits_1(capsys, tmp_path):
    mine = tmp_path / "mine"
    shutil.copytree(ROOT / "reference", mine)
    path = mine / "02_cross_entropy" / "cross_entropy.py"
    source = path.read_text()
    assert ") / n\n" in source
    path.write_text(source.replace(") / n\n", ")\n"))  # forgot the 1/n
    rc, out = bench_run(capsys, "--impl", str(mine))
    assert rc == 1
    assert f"kata 02 dlogits: wrong (scale), so not timed — pytest katas/02_cross_entropy --impl {mine}" in out
    assert not any(ln.startswith("cross-entropy backward") for ln in out.splitlines())
    assert any(ln.startswith("batchnorm backward") and RATIO.search(ln) for ln in out.splitlines()), out


def test_a_file_that_does_not_load_is_reported_in_one_line(capsys, tmp_path):
    mine = tmp_path / "mine"
    shutil.copytree(ROOT / "reference", mine)
    (mine / "03_batchnorm" / "batchnorm.py").write_text("def dhprebn(:\n")
    rc, out = bench_run(capsys, "--impl", str(mine))
    assert rc == 1
    assert "kata 03: batchnorm.py line 1: SyntaxError" in out


def test_no_such_impl_exits_2(capsys, tmp_path):
    rc, out = bench_run(capsys, "--impl", str(tmp_path / "nowhere"))
    assert rc == 2
    assert "no such folder" in out


def test_threads_are_restored_after_the_run(capsys):
    before = torch.get_num_threads()
    bench_run(capsys, "--impl", "reference", "--threads", "2")
    assert torch.get_num_threads() == before


def test_rows_are_a_list_another_kata_can_extend(capsys, monkeypatch):
    def fake(b):
        return bench.Row("training step", "autograd", 30.0, "manual backward (kata 04)", 10.0)

    def waiting(b):
        raise bench.NotReady("kata 04 backward: not written yet — pytest katas/04_training")

    monkeypatch.setattr(bench, "ROWS", [fake, waiting])
    rc, out = bench_run(capsys, "--impl", "reference")
    assert rc == 0
    assert re.search(r"^training step +autograd +30\.0 +manual backward \(kata 04\) +10\.0 +3\.0x faster$",
                     out, re.M), out
    assert out.rstrip().endswith("kata 04 backward: not written yet — pytest katas/04_training")


@needs_cxx
def test_compile_times_both_training_steps_compiled_where_the_learners_code_runs(capsys, monkeypatch):
    monkeypatch.setattr(bench, "ROWS", [bench.compiled_training_step, bench.compiled_gpt_training_step])
    rc, out = bench_run(capsys, "--impl", "reference", "--compile")
    assert rc == 0, out
    for what in ("training step, n_hidden 200", "GPT training step, C 64"):
        assert re.search(rf"^{what} +forward \+ loss\.backward\(\) +[\d.]+ +torch\.compile\(forward \+ backward\) "
                         r"+[\d.]+ +\d+(\.\d)?x (faster|slower)$", out, re.M), out
    assert re.search(r"^note: GPT training step, C 64: .* so compiled kata 08 reaches \d+% of it", out, re.M), out
    assert "not timed" not in out and "could not compile" not in out


def test_compile_without_a_cpp_compiler_is_one_line_a_row_naming_the_file(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "ROWS", [bench.compiled_training_step, bench.compiled_gpt_training_step])
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-c++"))  # the worker inherits it
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))  # nothing built before to fall back on
    monkeypatch.setattr(client, "_WORKER", client.Worker())  # a worker of its own, started with that environment
    try:
        rc, out = bench_run(capsys, "--impl", "reference", "--compile")
    finally:
        client._WORKER.stop()
    assert rc == 0, out  # the eager rows are the learner's time; nothing is wrong with their code
    lines = [ln for ln in out.splitlines() if ln.startswith("torch.compile could not compile")]
    assert [ln.split(" (and")[0] for ln in lines] == [
        "torch.compile could not compile backward of reference/04_training/training.py",
        "torch.compile could not compile backward of reference/08_gpt/gpt.py"], out


def test_ratio_words():
    assert bench.Row("x", "a", 31.0, "b", 10.0).ratio == "3.1x faster"
    assert bench.Row("x", "a", 10.0, "b", 20.0).ratio == "2.0x slower"
    assert bench.Row("x", "a", 2500.0, "b", 10.0).ratio == "250x faster"


def test_the_loop_baseline_is_the_right_dC():
    C = torch.randn(5, 3, dtype=torch.float64)
    Xb = torch.tensor([[0, 1], [1, 1], [4, 0]])
    demb = torch.randn(3, 2, 3, dtype=torch.float64)
    want = torch.zeros_like(C).index_add_(0, Xb.reshape(-1), demb.reshape(-1, 3))
    assert torch.allclose(bench.dC_loop(C, Xb, demb), want)


def test_importing_the_command_does_not_import_torch():
    code = "import sys, backprop_ninja.commands.bench; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("option", [["--threads", "0"], ["--threads", "-3"], ["--min-time", "0"],
                                    ["--min-time", "nan"]])
def test_an_option_out_of_range_is_one_sentence_and_exit_2(capsys, option):
    assert cli.main(["bench", "--impl", "reference", *option]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err and err.count("\n") == 1
    assert err.startswith(f"backprop-ninja bench: {option[0]} ") and "is out of range" in err


def test_help_says_why_one_thread(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    assert "on a busy one they wait for each other" in " ".join(capsys.readouterr().out.split())
