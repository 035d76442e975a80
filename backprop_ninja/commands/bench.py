"""`backprop-ninja bench`: how much faster the fused gradients are, measured side by side.

Each row of the table times a *baseline* and a *candidate* in the same run
with torch.utils.benchmark, at the lecture's sizes, on one CPU thread by
default. The candidate is always code of the tree chosen with --impl (the
learner's katas/ by default); the baseline is fixed, so the ratio says what
the learner's fusion buys:

- cross-entropy backward: the eight atomic steps dlogprobs … dlogits vs the
  fused kata-02 dlogits;
- batchnorm backward: the atomic steps dbnraw … dhprebn (the notebook's
  nine lines) vs the fused kata-03 dhprebn;
- dC: the lecture's Python loop vs the kata-01 dC;
- a training step of the exercise-4 network: forward + loss.backward() vs
  forward + the kata-04 backward (both with the same SGD update);
- a small GPT's layernorm backward: its atomic chain (layernorm_atomic) vs
  the fused kata-05 dx;
- a small GPT's attention backward: autograd's (torch.autograd.grad through
  the same lines) vs the 13 kata-06 steps chained;
- an AdamW step of `train --model gpt`'s small GPT: autograd vs the kata-08
  backward, with a note under the table: the step's FLOPs
  (torch.utils.flop_counter), the GFLOP/s each way, and the fraction of one
  large matmul's GFLOP/s on this machine, measured in the same run with the
  same dtype and threads: the ratio to the physical limit beside the ratio
  to autograd.

--compile adds both training steps again with the manual forward + backward
under torch.compile, compiled in the worker; the baseline stays eager
autograd, and the update (SGD, AdamW) is eager on both sides.

The two GPT layer rows run at bench sizes (B=16, T=64, C=128, 8 heads), where
the work outweighs the cost of a call; the kata checks' sizes are too small to time.

The candidate's file is opened the one way (loader.open_file: read, then
imported in the worker process) and its code is timed there, by a loop of
train/timing.py run as a training loop is (guard.run_loop): the inputs cross
the pipe once per measurement, never a call. The baselines (autograd, the
lecture's loop, the worked solution) are the project's own and are timed here.

The atomic baselines come from reference/01_atomic_graph, the worked
solution, never from the learner's kata 01: the row then measures fusion
alone, not how a particular kata 01 was written, and it is available before
kata 01 is done.

A candidate step is checked (check_step) before it is timed: one not
written yet is a line "kata 02 dlogits: not written yet — pytest …", one
that is wrong is named with its diagnosis and not timed. Speed is reported,
never asserted.

Adding a row: write `def my_row(bench: Bench) -> Row`, decorate it with
@row, and get the candidate's functions with bench.step("04", "backward")
(it raises NotReady when the step is not written or wrong). Rows run in
the order they are registered.

Exit code: 0 when every row was measured or waits for a step not written
yet; 1 when a step is wrong or its file cannot be loaded; 2 when --impl
names no folder.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Callable

from backprop_ninja.commands.status import seconds_option
from backprop_ninja.models.paths import shown
from backprop_ninja.train import timing

DEFAULT_MIN_TIME = 0.2  # seconds of timing per measurement (blocked_autorange's min_run_time)
ROUNDS = 2  # baseline and candidate are measured in alternation, this many times each
WORKER_SECONDS = 60.0  # the limit on one timing of a candidate in the worker (a hang is stopped)
COMPILE_SECONDS = 600.0  # ... and on compiling and timing it under --compile


def register(subparsers) -> None:
    """Add the `bench` command to the CLI's subparsers; it calls run(args)."""
    p = subparsers.add_parser(
        "bench", help="speed ratios: fused vs atomic gradients, loop vs vectorized dC, manual vs autograd step",
        description="Time your fused gradients against the atomic ones (and the lecture's dC loop "
                    "against your dC), side by side in one run, at the lecture's sizes.",
        epilog="Exit code: 0 measured (a step not written yet is skipped with a note), "
               "1 a step is wrong or cannot be loaded (it is not timed), 2 no such --impl folder.")
    p.add_argument("--impl", metavar="PATH", default=None,
                   help="time the kata modules under PATH, a tree shaped like katas/ (e.g. reference); "
                        "also $BACKPROP_NINJA_IMPL; default katas/")
    p.add_argument("--threads", metavar="N", type=int, default=1,
                   help="torch CPU threads while timing (default 1: at the lecture's sizes more threads gain "
                        "nothing on an idle machine, and on a busy one they wait for each other, many times slower)")
    p.add_argument("--min-time", metavar="SECONDS", type=float, default=DEFAULT_MIN_TIME,
                   help=f"timing per measurement, {ROUNDS} measurements per side (default {DEFAULT_MIN_TIME:g})")
    p.add_argument("--step-timeout", type=seconds_option, default=None, metavar="SECONDS",
                   help="stop loading your file, or a step while it is checked, after this long (default 10)")
    p.add_argument("--compile", action="store_true",
                   help="add rows with the manual training steps' forward + backward under torch.compile "
                        "(compiling takes up to a minute the first time; torch keeps what it built for the next run)")
    p.set_defaults(func=run)


class NotReady(Exception):
    """A row cannot be timed; the message is one line for the learner."""

    def __init__(self, message: str, wrong: bool = False):
        super().__init__(message)
        self.wrong = wrong  # True: a step is wrong or broken (exit code 1); False: not written yet


@dataclasses.dataclass
class Row:
    """One line of the table: the same work done two ways."""

    what: str
    baseline: str
    baseline_us: float
    candidate: str
    candidate_us: float
    note: str = ""

    @property
    def ratio(self) -> str:
        """'3.1x faster' (candidate vs baseline), or 'x slower' when the candidate loses."""
        r = self.baseline_us / self.candidate_us
        word, r = ("faster", r) if r >= 1 else ("slower", 1 / r)
        return f"{r:.0f}x {word}" if r >= 100 else f"{r:.1f}x {word}"


ROWS: list[Callable] = []  # row functions, in the order they are printed


def row(fn: Callable) -> Callable:
    """Register a row function: fn(bench) -> Row, or raise NotReady."""
    ROWS.append(fn)
    return fn


class Bench:
    """What a row function needs: the trees, the lecture's values, a timer, checked steps."""

    def __init__(self, impl: Path, repo: Path | None, threads: int, min_time: float, impl_option: str | None):
        from backprop_ninja.models import lecture
        from backprop_ninja.sandbox import loader

        self.impl = impl
        self.repo = repo
        self.threads = threads
        self.min_time = min_time
        self.cfg = lecture.LECTURE
        self._impl_option = impl_option
        self._modules: dict = {}
        self.compile = False  # --compile: time the compiled training step too
        self.seconds = loader.DEFAULT_SECONDS  # --step-timeout: loading the learner's file, checking a step
        self.gpt_flops: int | None = None  # one GPT step's FLOPs, once a row has counted them
        self.peak: float | None = None  # GFLOP/s of one large matmul, once a row has measured it

    # --- values -----------------------------------------------------------------------------------
    def trace(self, graph=None):
        """The lecture's forward pass and its autograd gradients (cached)."""
        from backprop_ninja.models import lecture

        return lecture.trace(graph or lecture.ATOMIC, self.cfg)

    # --- code ---------------------------------------------------------------------------------------
    def _module(self, root: Path, kata, trusted: bool = False):
        """A kata's file: the worked solution imported here (trusted); any other opened in the worker."""
        from backprop_ninja.sandbox import loader

        key = (root, kata.folder, trusted)
        if key not in self._modules:
            path = loader.kata_file(root, kata)
            try:
                self._modules[key] = loader.load(path) if trusted else loader.open_file(path, self.seconds)
            except loader.ImplError as e:
                self._modules[key] = e
        found = self._modules[key]
        if isinstance(found, Exception):
            raise NotReady(f"kata {kata.number}: {found}", wrong=True)
        return found

    def reference(self, kata_key: str):
        """The worked solution's module of a kata (the fixed baselines)."""
        from backprop_ninja.models import katas

        kata = katas.kata(kata_key)
        if self.repo is None or not (self.repo / "reference" / kata.folder).is_dir():
            raise NotReady(f"no reference/{kata.folder} found (run this inside your clone of backprop-ninja): "
                           "the atomic baseline is the worked solution", wrong=True)
        return self._module(self.repo / "reference", kata, trusted=True)

    def pytest_command(self, kata) -> str:
        default = self.repo is not None and self.impl == (self.repo / "katas").resolve()
        return f"pytest katas/{kata.folder}" + ("" if default or not self._impl_option
                                                 else f" --impl {self._impl_option}")

    def step(self, kata_key: str, name: str):
        """The candidate's function for a step, once check_step says it is done."""
        from backprop_ninja.checks.checker import check_step
        from backprop_ninja.models import katas
        from backprop_ninja.sandbox import loader

        kata = katas.kata(kata_key)
        module = self._module(self.impl, kata)
        try:
            fn = loader.step_function(module, kata, name)
        except loader.ImplError as e:
            raise NotReady(f"kata {kata.number} {name}: {e}", wrong=True) from None
        verdict = check_step(kata, name, fn, self.seconds)
        if verdict.status == "todo":
            raise NotReady(f"kata {kata.number} {name}: not written yet — {self.pytest_command(kata)}")
        if verdict.status != "done":
            raise NotReady(f"kata {kata.number} {name}: wrong ({verdict.diagnosis}), so not timed — "
                           f"{self.pytest_command(kata)}", wrong=True)
        return fn

    # --- time ----------------------------------------------------------------------------------------
    def time_pair(self, baseline: Callable, candidate: InWorker) -> tuple[float, float]:
        """Median µs per call of each, measured in alternation (the best median of ROUNDS each): the
        baseline here, the candidate in the worker, where the learner's code runs."""
        from torch.utils import benchmark

        best = [float("inf"), float("inf")]
        for _ in range(ROUNDS):
            timer = benchmark.Timer(stmt="fn()", globals={"fn": baseline}, num_threads=self.threads)
            best[0] = min(best[0], timer.blocked_autorange(min_run_time=self.min_time).median * 1e6)
            best[1] = min(best[1], self.in_worker(candidate))
        return best[0], best[1]

    def in_worker(self, candidate: InWorker) -> float:
        """The candidate's median µs per call, timed in the worker (train/timing.py); NotReady if it fails."""
        from backprop_ninja.sandbox import guard
        from backprop_ninja.sandbox.results import raised

        seconds = COMPILE_SECONDS if candidate.compiled else max(WORKER_SECONDS, 20 * self.min_time)
        args = {**candidate.args, "threads": self.threads, "min_time": self.min_time,
                **({"compiled": True} if candidate.compiled else {})}  # only the training loops compile
        answer = guard.run_loop(candidate.fn, timing.PREFIX + candidate.loop, args, seconds, lambda _: None,
                                threads=self.threads)
        us = answer.get("us")
        if isinstance(us, float) and us > 0:
            return us
        err = raised(answer.get("raised") or answer.get("stopped", {}).get("error") or answer.get("error"))
        what = f"{candidate.fn.name} of {shown(Path(candidate.fn.path))} (and the code it calls)"
        if candidate.compiled:
            raise NotReady(f"torch.compile could not compile {what}: {err.type}: "
                           f"{err.message.splitlines()[0] if err.message else ''}")
        if err.isa("StepTimeout"):
            raise NotReady(f"{what} ran past {seconds:g} s while timed, so it is not timed: "
                           "look for a loop that does not end", wrong=True)
        raise NotReady(f"{what} failed while timed, so it is not timed: {err.type}: {err.message}"
                       + (f" (at {err.where})" if err.where else ""), wrong=True)


@dataclasses.dataclass
class InWorker:
    """The candidate side of a row: a loop of train/timing.py, run in the worker beside the learner's fn."""

    loop: str  # a function of train/timing.py
    fn: object  # the learner's step (a sandbox Remote), checked by Bench.step
    args: dict  # plain data and plain tensors, sent once
    compiled: bool = False  # time it under torch.compile (--compile)


def _values(tr, *names):
    """Fresh copies of forward values or (for d<name>) autograd gradients from a trace."""
    return [(tr.grads[n[1:]] if n.startswith("d") and n not in tr.values else tr.values[n]).clone()
            for n in names]


@row
def cross_entropy(bench: Bench) -> Row:
    """Kata 02's fused dlogits vs the eight atomic steps of kata 01 (the lecture's 01:26:31)."""
    fused = bench.step("02", "dlogits")
    ref = bench.reference("01")
    logits, Yb, logprobs, probs, counts, counts_sum, counts_sum_inv = _values(
        bench.trace(), "logits", "Yb", "logprobs", "probs", "counts", "counts_sum", "counts_sum_inv")

    def atomic():
        dlogprobs = ref.dlogprobs(logprobs, Yb)
        dprobs = ref.dprobs(probs, dlogprobs)
        dcounts_sum_inv = ref.dcounts_sum_inv(counts, dprobs)
        dcounts_sum = ref.dcounts_sum(counts_sum, dcounts_sum_inv)
        dcounts = ref.dcounts(counts_sum_inv, dprobs, dcounts_sum)
        dnorm_logits = ref.dnorm_logits(counts, dcounts)
        dlogit_maxes = ref.dlogit_maxes(dnorm_logits)
        return ref.dlogits(logits, dnorm_logits, dlogit_maxes)

    a, f = bench.time_pair(atomic, InWorker("step", fused, {"args": [logits, Yb]}))
    return Row("cross-entropy backward", "8 atomic steps (ref. kata 01)", a, "fused dlogits (kata 02)", f)


@row
def batchnorm(bench: Bench) -> Row:
    """Kata 03's fused dhprebn vs the atomic steps dbnraw … dhprebn of kata 01 (01:36:37)."""
    fused = bench.step("03", "dhprebn")
    ref = bench.reference("01")
    dhpreact, bngain, bnvar_inv, bnraw, bndiff, bndiff2, bnvar = _values(
        bench.trace(), "dhpreact", "bngain", "bnvar_inv", "bnraw", "bndiff", "bndiff2", "bnvar")

    def atomic():
        dbnraw = ref.dbnraw(bngain, dhpreact)
        dbnvar_inv = ref.dbnvar_inv(bndiff, dbnraw)
        dbnvar = ref.dbnvar(bnvar, dbnvar_inv)
        dbndiff2 = ref.dbndiff2(bndiff2, dbnvar)
        dbndiff = ref.dbndiff(bndiff, bnvar_inv, dbnraw, dbndiff2)
        dbnmeani = ref.dbnmeani(dbndiff)
        return ref.dhprebn(dbndiff, dbnmeani)

    a, f = bench.time_pair(atomic, InWorker("step", fused, {"args": [dhpreact, bngain, bnvar_inv, bnraw]}))
    return Row("batchnorm backward", "7 atomic steps (ref. kata 01)", a, "fused dhprebn (kata 03)", f)


def dC_loop(C, Xb, demb):
    """The lecture's dC: a Python loop over every position of the batch. C (27, 10) -> (27, 10)."""
    dC = C.new_zeros(C.shape)
    for k in range(Xb.shape[0]):
        for j in range(Xb.shape[1]):
            dC[Xb[k, j]] += demb[k, j]
    return dC


@row
def embedding(bench: Bench) -> Row:
    """Kata 01's dC vs the lecture's loop over the batch."""
    mine = bench.step("01", "dC")
    C, Xb, demb = _values(bench.trace(), "C", "Xb", "demb")
    a, f = bench.time_pair(lambda: dC_loop(C, Xb, demb), InWorker("step", mine, {"args": [C, Xb, demb]}))
    r = Row("embedding backward dC", "Python loop (lecture)", a, "dC (kata 01)", f)
    if a / f < 2:
        r.note = ("this dC is about as slow as the loop: one tensor operation (index_add_, or a one-hot "
                  "matmul) does the whole batch at once")
    return r


def _training(bench: Bench, compiled: bool = False):
    """What both training rows time: the autograd step here and the kata-04 step in the worker, on one
    fixed batch."""
    import torch

    from backprop_ninja.train import mlp as training
    from backprop_ninja.train.follow import dataset

    backward = bench.step("04", "backward")
    X, Y = dataset()
    ix = torch.randint(0, X.shape[0], (32,), generator=torch.Generator().manual_seed(0))  # (32,)
    Xb, Yb = X[ix], Y[ix]  # (32, 3), (32,)
    theirs = training.init_model(27)
    return (lambda: training.train_step(training.autograd_gradients, theirs, Xb, Yb, 0.1),
            InWorker("mlp_step", backward, {"Xb": Xb, "Yb": Yb}, compiled))


@row
def training_step(bench: Bench) -> Row:
    """One SGD step of the exercise-4 network (n_hidden 200, batch 32): kata 04's backward vs autograd."""
    with_autograd, by_hand = _training(bench)
    a, f = bench.time_pair(with_autograd, by_hand)
    return Row("training step, n_hidden 200", "forward + loss.backward()", a, "forward + backward (kata 04)", f)


def _compiled(bench: Bench, pair, what: str) -> tuple[float, float]:
    """Time the autograd step against the manual one under torch.compile (µs each)."""
    print(f"compiling the manual {what} (up to a minute the first time) ...", flush=True)
    return bench.time_pair(*pair)


@row
def compiled_training_step(bench: Bench) -> Row | None:
    """The same step with the manual forward + backward under torch.compile, the update eager (--compile only)."""
    if not bench.compile:
        return None
    a, f = _compiled(bench, _training(bench, compiled=True), "training step")
    return Row("training step, n_hidden 200", "forward + loss.backward()", a,
               "torch.compile(forward + backward)", f)


# --- Part 2: a small GPT's layers, at sizes where the work outweighs the calls ------------------

def _gpt_values(graph, *names):
    """Fresh forward values and gradients of a small GPT's layer graph at the bench's GPT sizes."""
    from backprop_ninja.models import gpt, lecture

    cfg = gpt.GPTConfig(label="bench sizes", B=16, T=64, C=128, nh=8, n_layer=1, seed=11)
    return _values(lecture.trace(graph, cfg), *names)


def layernorm_atomic(dout, w, norm, rstd):
    """Layernorm's dx through its forward lines, one at a time (kata 05's forward, walked back).

    dout, norm (B, T, C), w (C,), rstd (B, T, 1) -> (B, T, C); xshift and var come back from norm and rstd.
    """
    C = dout.shape[-1]
    xshift = norm / rstd  # norm = xshift * rstd
    dnorm = dout * w  # out = norm * w + b
    dxshift = rstd * dnorm  # norm = xshift * rstd, through xshift
    drstd = (xshift * dnorm).sum(-1, keepdim=True)  # ... and through rstd
    dvar = -0.5 * rstd**3 * drstd  # rstd = (var + eps)**-0.5, and (var + eps)**-1.5 = rstd**3
    dxshift = dxshift + 2 * xshift / C * dvar  # var = (xshift**2).mean(-1)
    dmean = -dxshift.sum(-1, keepdim=True)  # xshift = x - mean
    return dxshift + dmean / C  # mean = x.mean(-1), and x's direct path through xshift


@row
def layernorm(bench: Bench) -> Row:
    """Kata 05's fused dx vs layernorm's atomic chain (bench sizes B=16, T=64, C=128)."""
    from backprop_ninja.models import gpt

    fused = bench.step("05", "dx")
    dout, w, norm, rstd = _gpt_values(gpt.LAYERNORM, "dout", "w", "norm", "rstd")
    a, f = bench.time_pair(lambda: layernorm_atomic(dout, w, norm, rstd),
                           InWorker("step", fused, {"args": [dout, w, norm, rstd]}))
    return Row("GPT layernorm backward", "atomic chain, 7 lines", a, "fused dx (kata 05)", f)


@row
def attention(bench: Bench) -> Row:
    """Kata 06's 13 steps vs autograd's backward of the same attention (bench sizes, 8 heads)."""
    import torch

    from backprop_ninja.models import gpt, katas

    steps = {name: bench.step("06", name) for name in katas.kata("06").step_names}
    x, W_attn, b_attn, W_proj, b_proj, dout, ycat, y, v, att, q, k = _gpt_values(
        gpt.ATTENTION, "x", "W_attn", "b_attn", "W_proj", "b_proj", "dout", "ycat", "y", "v", "att", "q", "k")
    q, k, v = (t.contiguous() for t in (q, k, v))
    leaves = [t.clone().requires_grad_(True) for t in (x, W_attn, b_attn, W_proj, b_proj)]
    out = gpt.attention(*leaves, nh=q.shape[1])  # (B, T, C), its graph kept for every timed backward

    def with_autograd():
        return torch.autograd.grad(out, leaves, dout, retain_graph=True)

    values = dict(zip(("x", "W_attn", "W_proj", "dout", "ycat", "y", "v", "att", "q", "k"),
                      (x, W_attn, W_proj, dout, ycat, y, v, att, q, k)))
    by_hand = InWorker("attention", steps["dycat"], {"values": values})

    a, f = bench.time_pair(with_autograd, by_hand)
    return Row("GPT attention backward", "autograd.grad of its lines", a, "13 steps (kata 06)", f)


def _gpt_training(bench: Bench, compiled: bool = False):
    """What both GPT rows time: one AdamW step of `train --model gpt`'s model (C 64, 2 layers, T 16,
    batch 32) with autograd here and with the kata-08 backward in the worker, on one fixed batch of the
    built-in names."""
    import torch

    from backprop_ninja.models import gpt
    from backprop_ninja.train import gpt as gpt_training

    backward = bench.step("08", "backward")
    cfg = gpt.TRAIN
    idx, targets = gpt_training.batch(gpt.stream(), cfg.B, cfg.T, torch.Generator().manual_seed(0))  # (B, T)
    theirs = gpt.init_training(cfg)
    opt_theirs = gpt_training.AdamW(theirs)

    def with_autograd():
        opt_theirs.step(gpt_training.autograd_gradients(theirs, idx, targets, cfg.nh)[1], gpt_training.LR)

    return with_autograd, InWorker("gpt_step", backward, {"idx": idx, "targets": targets}, compiled)


def step_flops() -> int:
    """The floating-point operations of one GPT training step (forward and backward of `train --model gpt`'s
    model), as torch.utils.flop_counter counts them: the matmuls, 2 per multiply-add."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from backprop_ninja.models import gpt
    from backprop_ninja.train import gpt as gpt_training

    cfg = gpt.TRAIN
    idx, targets = gpt_training.batch(gpt.stream(), cfg.B, cfg.T, torch.Generator().manual_seed(0))  # (B, T)
    with FlopCounterMode(display=False) as counter:
        gpt_training.autograd_gradients(gpt.init_training(cfg), idx, targets, cfg.nh)
    return counter.get_total_flops()


MATMUL_N = 1024  # the size of the square float32 matmul that stands for this machine's peak


def matmul_gflops(bench: Bench) -> float:
    """GFLOP/s of one large float32 matmul (MATMUL_N square) on bench.threads threads: the machine's limit."""
    import torch
    from torch.utils import benchmark

    a, b = torch.randn(MATMUL_N, MATMUL_N), torch.randn(MATMUL_N, MATMUL_N)
    timer = benchmark.Timer(stmt="torch.mm(a, b)", globals={"torch": torch, "a": a, "b": b},
                            num_threads=bench.threads)
    seconds = timer.blocked_autorange(min_run_time=bench.min_time).median
    return 2 * MATMUL_N**3 / seconds / 1e9


def limit_note(flops: int, autograd_us: float, manual_us: float, peak: float, by_hand: str) -> str:
    """The step's work beside this machine's matmul throughput: FLOPs, GFLOP/s each way, fraction of peak."""
    mine, theirs = flops / manual_us / 1e3, flops / autograd_us / 1e3  # GFLOP/s (flops / µs / 1e3)
    return (f"{flops / 1e9:.2f} GFLOP a step: {mine:.1f} GFLOP/s {by_hand}, {theirs:.1f} with autograd; "
            f"one {MATMUL_N}x{MATMUL_N} matmul here: {peak:.1f} GFLOP/s, so {by_hand} reaches "
            f"{mine / peak:.0%} of it ({theirs / peak:.0%} with autograd)")


@row
def gpt_training_step(bench: Bench) -> Row:
    """One AdamW step of the small GPT: kata 08's backward vs autograd; its FLOPs and the fraction of
    this machine's matmul throughput it reaches, measured in the same run."""
    with_autograd, by_hand = _gpt_training(bench)
    a, f = bench.time_pair(with_autograd, by_hand)
    bench.gpt_flops = step_flops()
    bench.peak = matmul_gflops(bench)
    return Row("GPT training step, C 64", "forward + loss.backward()", a, "forward + backward (kata 08)", f,
               note=limit_note(bench.gpt_flops, a, f, bench.peak, "kata 08"))


@row
def compiled_gpt_training_step(bench: Bench) -> Row | None:
    """The GPT step with the manual forward + backward under torch.compile, AdamW eager (--compile only)."""
    if not bench.compile:
        return None
    a, f = _compiled(bench, _gpt_training(bench, compiled=True), "GPT training step")
    flops, peak = bench.gpt_flops or step_flops(), bench.peak or matmul_gflops(bench)
    return Row("GPT training step, C 64", "forward + loss.backward()", a, "torch.compile(forward + backward)", f,
               note=limit_note(flops, a, f, peak, "compiled kata 08"))


def table(rows: list[Row]) -> str:
    """The rows as aligned columns: what | baseline µs | candidate µs | ratio."""
    head = ("what", "baseline", "µs", "candidate", "µs", "ratio")
    cells = [head] + [(r.what, r.baseline, f"{r.baseline_us:.1f}", r.candidate, f"{r.candidate_us:.1f}", r.ratio)
                      for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    right = {2, 4}  # numbers are right-aligned
    lines = ["  ".join(c[i].rjust(widths[i]) if i in right else c[i].ljust(widths[i]) for i in range(len(head)))
             .rstrip() for c in cells]
    return "\n".join(lines)


def run(args) -> int:
    """Time every row; print the table, then a line for each row that could not be timed."""
    from backprop_ninja.sandbox.allocator import keep_freed_blocks

    keep_freed_blocks()  # as the worker does, where the candidates run: the same allocator on both sides
    import torch

    from backprop_ninja.models import katas
    from backprop_ninja.sandbox import loader

    if args.threads < 1 or not args.min_time > 0:  # `not >`: NaN is refused too
        option = f"--threads {args.threads}" if args.threads < 1 else f"--min-time {args.min_time}"
        print(f"backprop-ninja bench: {option} is out of range: --threads takes 1 or more, "
              "--min-time a number of seconds above 0.", file=sys.stderr)
        return 2
    try:
        impl = loader.impl_root(args.impl)
    except loader.ImplError as e:
        print(f"backprop-ninja bench: {e}")
        return 2
    try:
        from torch.utils import benchmark  # noqa: F401  (older torch releases need NumPy for it)
    except ModuleNotFoundError as e:
        print(f"backprop-ninja bench: torch {torch.__version__}'s timing tools need {e.name}: "
              f"pip install {e.name}")
        return 2
    repo = katas.repo_root() or katas.repo_root(impl)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        bench = Bench(impl, repo, args.threads, args.min_time, args.impl)
        bench.compile = getattr(args, "compile", False)
        bench.seconds = getattr(args, "step_timeout", None) or bench.seconds
        print(f"backprop-ninja bench — {bench.cfg.describe()}, {bench.cfg.device}")
        print(f"torch {torch.__version__}, {args.threads} thread{'s' if args.threads != 1 else ''}; "
              f"each time is the median µs per call, baseline and candidate measured in alternation")
        print(f"candidate: {shown(impl)} (opened and timed in the worker process, where your code runs)")
        print(f"atomic baselines: "
              f"{shown(repo / 'reference' / '01_atomic_graph') if repo else '(no reference/ found)'} "
              "(the worked solution, timed here, so a row measures the fusion alone)")
        done, skipped, wrong = [], [], False
        for fn in ROWS:
            try:
                measured = fn(bench)
                if measured is not None:  # None: a row not asked for (--compile)
                    done.append(measured)
            except NotReady as e:
                skipped.append(str(e))
                wrong = wrong or e.wrong
        print()
        if done:
            print(table(done))
            for r in done:
                if r.note:
                    print(f"note: {r.what}: {r.note}")
        else:
            print("nothing to time yet")
        for line in skipped:
            print(line)
        return 1 if wrong else 0
    finally:
        torch.set_num_threads(threads_before)
