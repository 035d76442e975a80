"""The worker process seen from the harness: start it, send one request, wait at most so long.

One Worker per process (pytest's, `status`'s, a notebook's), started on
demand and again after it is killed or dies.
"""

from __future__ import annotations

import atexit
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from backprop_ninja.sandbox.worker import MEMORY_ENV

STARTUP_SECONDS = 120.0  # a fresh worker imports torch; on a busy machine that can take a while


class Worker:
    """One worker process, started on demand and again after it is killed or dies."""

    def __init__(self, memory_limit: bool = True):
        self.memory_limit = memory_limit
        self.proc: subprocess.Popen | None = None
        self.answers: queue.Queue | None = None
        self.ready = False
        self.loaded: set = set()  # files this process has imported

    def start(self) -> None:
        """Start the process (it imports torch meanwhile); return at once."""
        if self.proc is not None and self.proc.poll() is None:
            return
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in [env.get("PYTHONPATH")] if p])
        if not self.memory_limit:
            env[MEMORY_ENV] = "0"
        self.proc = subprocess.Popen([sys.executable, "-m", "backprop_ninja.sandbox.worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        for pipe in (self.proc.stdin, self.proc.stdout):
            _widen(pipe)
        self.answers = queue.Queue()
        self.ready = False
        self.loaded = set()
        threading.Thread(target=_read_answers, args=(self.proc.stdout, self.answers), daemon=True).start()

    def request(self, message: dict, seconds: float, progress=None) -> dict:
        """Send one request; its answer, or {"error": ...} when the worker ran over or ended.

        With `progress`, the request may be answered by any number of progress frames
        ({"progress": ...}, each handed to progress(value) as it comes) before its answer;
        `seconds` then bounds the wait for each frame.
        """
        from backprop_ninja.sandbox import wire

        problem = self._ready()
        if problem:
            return {"error": problem}
        try:
            self.proc.stdin.write(wire.encode(message))
            self.proc.stdin.flush()
        except OSError:
            pass  # the worker has gone: its answer queue says how
        while True:
            answer = self._answer(seconds)
            if progress is None or not (isinstance(answer, dict) and set(answer) == {"progress"}):
                return answer
            try:
                progress(answer["progress"])
            except BaseException:  # the parent's own fault, or a Ctrl-C: the run stops, the worker with it
                self.stop()
                raise

    def _answer(self, seconds: float) -> dict:
        from backprop_ninja.sandbox import wire

        try:
            payload = self.answers.get(timeout=seconds)
        except queue.Empty:
            self.stop()
            return {"error": {"type": "StepTimeout", "message": f"stopped after {seconds:g} s",
                              "kinds": ["StepTimeout", "Exception"]}}
        except BaseException:  # a Ctrl-C while waiting: the run stops, the worker with it
            self.stop()
            raise
        if payload is None:
            return {"error": self._lost()}
        try:
            answer = wire.decode(payload)
        except wire.WireError as e:
            self.stop()
            return {"error": {"type": "WorkerError", "message": str(e), "kinds": ["WorkerError"]}}
        return answer if isinstance(answer, dict) else {"error": None}

    def _ready(self) -> dict | None:
        self.start()
        if self.ready:
            return None
        try:
            payload = self.answers.get(timeout=STARTUP_SECONDS)
        except queue.Empty:
            payload = None
        except BaseException:
            self.stop()
            raise
        if payload is None:
            lost = self._lost()
            lost["message"] = f"the worker process could not start ({lost['message']})"
            return lost
        self.ready = True
        return None

    def _lost(self) -> dict:
        """What ended the process: an exit code, or a signal (a crash, or the memory limit's kill)."""
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        self.stop()
        if code is not None and code < 0:
            import signal

            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return {"type": "ProcessCrash", "message": f"the Python process was killed by {name}",
                    "kinds": ["ProcessCrash", "WorkerLost"], "signal": name}
        return {"type": "ProcessExit", "message": f"the Python process ended (exit code {code})",
                "kinds": ["ProcessExit", "WorkerLost"]}

    def stop(self) -> None:
        """Kill the process (if any); the next request starts a fresh one."""
        proc, self.proc = self.proc, None
        self.ready = False
        self.loaded = set()
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


def _widen(pipe) -> None:
    """A 1 MiB pipe where Linux allows it: a step's inputs cross in one write, not in 64 KiB turns."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError, ValueError):
        pass


def _read_answers(stream, answers: queue.Queue) -> None:
    """The reader thread: each frame's payload onto the queue, then None at the end."""
    from backprop_ninja.sandbox import wire

    try:
        while True:
            payload = wire.read(stream)
            answers.put(payload)
            if payload is None:
                return
    except (OSError, ValueError):
        answers.put(None)


_WORKER: Worker | None = None


def worker(device: str = "cpu") -> Worker:
    """This process's worker (one per pytest process, `status`, notebook session).

    The memory limit is for the CPU: a GPU runtime reserves far more address space.
    """
    global _WORKER
    wanted = str(device).startswith("cpu")
    if _WORKER is None or (_WORKER.memory_limit and not wanted):
        if _WORKER is not None:
            _WORKER.stop()
        _WORKER = Worker(memory_limit=wanted)
    return _WORKER


def start(device: str = "cpu") -> None:
    """Start the worker now, so that its import of torch overlaps whatever comes next."""
    worker(device).start()


@atexit.register
def _stop_worker() -> None:
    if _WORKER is not None:
        _WORKER.stop()
