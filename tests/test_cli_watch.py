"""`backprop-ninja watch [KATA]`: a run now, a run per save, Ctrl-C ends it cleanly."""

import io
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT

from backprop_ninja import cli
from backprop_ninja.commands import watch
from backprop_ninja.models.katas import kata as find_kata

KATA01 = "katas/01_atomic_graph/atomic_graph.py"


class Runner:
    def __init__(self, then=None):
        self.times = []
        self.then = then

    def __call__(self):
        self.times.append(time.monotonic())
        if self.then:
            self.then(len(self.times))
        return 0


def test_without_watchfiles_it_says_how_to_install_it(project, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "watchfiles", None)  # import watchfiles raises ImportError
    code = cli.main(["watch", "01"])
    err = capsys.readouterr().err
    assert code != 0
    assert 'pip install "backprop-ninja[watch]"' in err


def test_the_loop_runs_once_then_once_per_change():
    runner, out = Runner(), io.StringIO()
    changes = [{(2, "katas/01_atomic_graph/atomic_graph.py")}, {(2, "a.py"), (1, "b.py")}]
    assert watch.loop(runner, changes, banner="watching", out=out) == 0
    assert len(runner.times) == 3
    text = out.getvalue()
    assert "changed: katas/01_atomic_graph/atomic_graph.py" in text and "changed: a.py, b.py" in text
    assert text.count("watching") == 3 and "─" * 60 in text


def test_the_loop_clears_the_screen_before_each_run_when_asked():
    out = io.StringIO()
    watch.loop(Runner(), [{(2, "a.py")}], clear=True, out=out)
    assert out.getvalue().count(watch.CLEAR) == 2


def test_max_runs_stops_the_loop():
    runner = Runner()
    watch.loop(runner, iter(lambda: {(2, "a.py")}, None), max_runs=4, out=io.StringIO())
    assert len(runner.times) == 4


def test_ctrl_c_while_waiting_or_running_ends_with_0_and_no_traceback():
    def interrupted():
        yield {(2, "a.py")}
        raise KeyboardInterrupt

    out = io.StringIO()
    assert watch.loop(Runner(), interrupted(), out=out) == 0
    assert out.getvalue().rstrip().endswith("watch stopped")

    def interrupt(n):
        raise KeyboardInterrupt

    out = io.StringIO()
    assert watch.loop(Runner(interrupt), [], out=out) == 0
    assert "watch stopped" in out.getvalue()


def test_a_save_is_seen_within_a_few_seconds_even_during_a_run(project):
    """Real files, real watchfiles: one save after the first run, one during the second."""
    pytest.importorskip("watchfiles")
    path = project / KATA01
    saved = []

    def save(n):
        if n <= 2:  # the first save waits for the run to end; the second lands mid-run
            time.sleep(0.3)
            path.write_text(path.read_text() + f"\n# save {n}\n")
            saved.append(time.monotonic())

    runner = Runner(save)
    changes = watch.Changes([path.parent])
    done = threading.Thread(target=watch.loop, args=(runner, changes),
                            kwargs=dict(max_runs=3, out=io.StringIO()), daemon=True)
    done.start()
    done.join(timeout=120)  # a bound for a stuck loop, not a speed limit
    changes.close()
    assert len(runner.times) == 3, "a save was missed"
    latency = [runner.times[i + 1] - saved[i] for i in range(2)]
    print(f"save -> next run: {latency[0]:.2f} s, {latency[1]:.2f} s")  # measured, never asserted


def test_pycache_and_other_files_do_not_trigger_a_run(project):
    pytest.importorskip("watchfiles")
    folder = project / "katas" / "01_atomic_graph"
    changes = watch.Changes([folder])
    got: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: got.put(next(changes, None)), daemon=True).start()
    time.sleep(0.3)
    (folder / "__pycache__").mkdir(exist_ok=True)
    (folder / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"x")
    (folder / "notes.txt").write_text("x")
    with pytest.raises(queue.Empty):
        got.get(timeout=1.0)
    (folder / "atomic_graph.py").write_text((folder / "atomic_graph.py").read_text() + "\n")
    assert {os.path.basename(p) for _, p in got.get(timeout=60)} == {"atomic_graph.py"}
    changes.close()


def test_the_default_kata_is_the_first_not_fully_done(project):
    root = project / "katas"
    assert watch.default_kata(root)[0] == find_kata("01")
    shutil.copy(ROOT / "reference" / "01_atomic_graph" / "atomic_graph.py", project / KATA01)
    later = watch.default_kata(root)[0]
    assert later.number > "01"


def test_an_unknown_or_absent_kata_is_refused(project, capsys):
    assert cli.main(["watch", "99"]) == 2
    shutil.rmtree(project / "katas" / "03_batchnorm", ignore_errors=True)
    assert cli.main(["watch", "03"]) == 1
    assert "not in this checkout" in capsys.readouterr().err


def test_pytest_command_is_what_the_learner_would_type():
    cmd = watch.pytest_command(ROOT / "katas" / "01_atomic_graph", "reference", "dprobs")
    assert cmd[:3] == [sys.executable, "-m", "pytest"]
    assert cmd[3].endswith("katas/01_atomic_graph") and cmd[4:] == ["--impl", "reference", "-k", "dprobs"]


def test_backprop_ninja_watch_reruns_pytest_after_a_save_and_stops_on_ctrl_c(project):
    """End to end: the command, pytest in a subprocess, a real save, SIGINT."""
    pytest.importorskip("watchfiles")
    proc = subprocess.Popen([sys.executable, "-m", "backprop_ninja", "watch", "01", "-k", "dlogprobs"],
                            cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    seen = []

    def wait_for(text, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            seen.append(line)
            if text in line:
                return time.monotonic()
        raise AssertionError(f"no {text!r} within {timeout} s:\n{''.join(seen)}")

    try:
        wait_for("1 todo", 60)  # the first run: dlogprobs is still a stub
        wait_for("watching katas/01_atomic_graph/", 60)
        shutil.copy(ROOT / "reference" / "01_atomic_graph" / "atomic_graph.py", project / KATA01)
        saved = time.monotonic()
        seen_at = wait_for("changed: katas/01_atomic_graph/atomic_graph.py", 60)
        passed = wait_for("1 passed", 60)
        print(f"save -> rerun starts: {seen_at - saved:.2f} s; -> pytest reports '1 passed': {passed - saved:.2f} s")
        wait_for("watching", 60)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(seen) + "".join(iter(lambda: lines.get(timeout=1) if not lines.empty() else "", ""))
    assert "Traceback" not in output


# ---------------------------------------------------------------- the kata folder deleted and back

def next_change(changes, timeout=30):
    got: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: got.put(next(changes, None)), daemon=True).start()
    return got.get(timeout=timeout)


@pytest.mark.parametrize("pause", [1.0, 0.0])  # back after a while, or at once (a new folder of the same name)
def test_watching_re_arms_when_the_kata_folder_comes_back(project, pause):
    watchfiles = pytest.importorskip("watchfiles")
    folder = project / "katas" / "01_atomic_graph"
    kept = project / "kept"
    shutil.copytree(folder, kept)
    changes = watch.Changes([folder])
    try:
        time.sleep(0.5)
        shutil.rmtree(folder)
        time.sleep(pause)
        shutil.copytree(kept, folder)
        back = set()
        while (watchfiles.Change.added, str(folder / "atomic_graph.py")) not in back:
            back = next_change(changes)  # the deletion, then the files of the folder that came back
        time.sleep(1.0)
        while not changes._queue.empty():  # the rest of the copy's events
            next(changes)
        (folder / "atomic_graph.py").write_text((folder / "atomic_graph.py").read_text() + "\n# a save\n")
        saved = next_change(changes)
        assert (watchfiles.Change.modified, str(folder / "atomic_graph.py")) in saved
    finally:
        changes.close()


# ---------------------------------------------------------------- what a run shows on an 80x24 screen

def pytest_like_output(todo: int = 22) -> str:
    """The shape of a kata-01 run with 3 steps done, one wrong and the rest todo."""
    report = [
        "_" * 31 + " test_dcounts_sum " + "_" * 31,
        "dcounts_sum: wrong values",
        "  check                        | exact | approximate | maxdiff  | worst index",
        *[f"  probe {i}, lecture sizes        | False | False       | 7.4e-03  | [24, 0]" for i in range(6)],
        "  first failure: lecture probe, lecture sizes; at [24, 0] you returned -0.00370066, autograd says "
        "0.00370066",
        "  called: dcounts_sum(counts_sum (32, 1) float32, dcounts_sum_inv (32, 1) float32) at lecture sizes "
        "(n=32, n_embd=10, block_size=3, vocab_size=27, n_hidden=64, float32)",
        "diagnosis: sign — this is exactly counts_sum**-2 * dcounts_sum_inv, the power rule without its minus",
    ]
    return "\n".join([
        "=" * 29 + " test session starts " + "=" * 30, "platform linux -- Python 3.11.7, pytest-9.2.0",
        "rootdir: /tmp/project", "collected 27 items", "",
        "katas/01_atomic_graph/test_atomic_graph.py ...FTTTTTTTTTTTTTTTTTTTTTTT   [100%]", "",
        "=" * 35 + " FAILURES " + "=" * 35, *report,
        "=" * 32 + " backprop-ninja " + "=" * 32,
        *[f"todo  d{i:<14} katas/01_atomic_graph/atomic_graph.py:{47 + 6 * i}" for i in range(todo)],
        "kata 01 (the atomic compute graph): 3/26 steps done",
        "next: dcounts_sum — katas/01_atomic_graph/atomic_graph.py:41   hint: backprop-ninja hint dcounts_sum",
        "=" * 20 + " 1 failed, 3 passed, 23 todo in 0.28s " + "=" * 20,
    ]) + "\n"


def screen_rows(text: str, width: int) -> int:
    return sum(watch._rows(line, width) for line in text.rstrip("\n").split("\n"))


def test_a_tall_run_is_fitted_to_the_screen_keeping_the_diagnosis_and_the_summary():
    text = pytest_like_output()
    assert screen_rows(text, 80) > 24
    fitted = watch.fit_screen(text, 24 - watch.AROUND, 80)
    assert screen_rows(fitted, 80) <= 24 - watch.AROUND
    lines = fitted.splitlines()
    assert any(line.startswith("diagnosis: sign") for line in lines)
    assert "test_dcounts_sum" in fitted and lines[-3:] == text.splitlines()[-3:]
    assert "lines left out to fit the screen" in fitted
    kept = [line for line in lines if "left out" not in line]
    original = text.splitlines()
    assert [original.index(line) for line in kept] == sorted(original.index(line) for line in kept)  # in order


def test_a_run_that_fits_is_shown_whole():
    text = pytest_like_output(todo=1)
    assert watch.fit_screen(text, 200, 200) == text


def test_a_real_run_keeps_its_diagnosis_on_an_80x24_screen(project):
    """pytest itself, through watch's warm process: 3 steps done, 1 wrong, 22 todo, fitted to 80x24."""
    path = project / KATA01
    solved = (ROOT / "reference" / "01_atomic_graph" / "atomic_graph.py").read_text()
    stub = path.read_text()
    def body(src: str, name: str) -> str:
        start = src.index(f"def {name}(")
        return src[start:src.index("\ndef ", start + 1)]

    for name in ("dlogprobs", "dprobs", "dcounts_sum_inv"):
        stub = stub.replace(body(stub, name), body(solved, name))
    path.write_text(stub.replace('raise NotImplementedError("01.04 dcounts_sum: not written yet")',
                                 "return counts_sum**-2 * dcounts_sum_inv"))
    shown = []
    run = watch.WarmPytest(watch.pytest_command(project / "katas" / "01_atomic_graph")[3:], show=shown.append,
                           env={"COLUMNS": "80"})
    try:
        assert run() == 1
    finally:
        run.close()
    fitted = watch.fit_screen(shown[0], 24 - watch.AROUND, 80)
    assert screen_rows(fitted, 80) <= 24 - watch.AROUND
    assert "diagnosis: sign" in fitted, shown[0]


def test_a_run_prints_no_warning_about_the_harness_imported_early(project):
    """The warm process imports the harness before pytest starts; an installed (not editable) package is
    then a plugin pytest would have rewritten, and it says so on every run unless told not to."""
    shown = []
    run = watch.WarmPytest(["katas/01_atomic_graph", "-k", "dlogprobs",
                            "-p", "no:backprop_ninja", "-p", "backprop_ninja.plugin"], show=shown.append)
    try:
        run()
    finally:
        run.close()
    assert "collected" in shown[0]
    assert "PytestAssertRewriteWarning" not in shown[0] and "warnings summary" not in shown[0]
