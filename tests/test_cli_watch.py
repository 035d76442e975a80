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
from backprop_ninja.katas import kata as find_kata

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
    assert cli.main(["watch", "09"]) == 2
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
