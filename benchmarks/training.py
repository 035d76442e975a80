"""Issue 17's targets, measured side by side in one run: whole `train` runs and bench's steps, as ratios.

    python benchmarks/training.py                       # the full runs: 25 to 30 minutes on 2 cores
    python benchmarks/training.py --gpt-steps 2000 --mlp-steps 50000 --repeat 3   # a shorter look
    python benchmarks/training.py --before /tmp/main ...    # and another checkout's runs beside these

Each pair of commands runs in alternation (A, B, A, B, ...), `--repeat` times each, as whole
processes (start-up included), on one thread; the table shows each side's median wall time and
their ratio, beside the issue's target. The bench rows come from `backprop-ninja bench`'s own
row functions (torch.utils.benchmark, baseline and candidate in alternation). The load average
before and after is printed: on a busy machine the ratios hold better than the seconds.

A benchmark: it prints, it asserts nothing, and no test runs it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def wall(argv: list[str], tree: Path = REPO) -> float:
    """Seconds one `python -m backprop_ninja ARGV` takes, start to exit (it must succeed), run in `tree`: a
    checkout of the project, whose own package `-m` then imports (the worker follows it, client.py)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "backprop_ninja", *argv], cwd=tree, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds


def pair(a: list[str], b: list[str], repeat: int, before: Path | None = None) -> tuple[float, ...]:
    """The median wall seconds of a and of b, run in alternation; with `before`, then also of a and b in
    that tree, each run beside this tree's (a, a there, b, b there, ...)."""
    runs = [(a, REPO), (b, REPO)]
    if before is not None:
        runs = [runs[0], (a, before), runs[1], (b, before)]
    times: list[list] = [[] for _ in runs]
    for _ in range(repeat):
        for i, (argv, tree) in enumerate(runs):
            times[i].append(wall(argv, tree))
    medians = [statistics.median(t) for t in times]
    return (medians[0], medians[2], medians[1], medians[3]) if before is not None else tuple(medians)


def ratio_text(mine: float, twin: float, was: tuple) -> str:
    """'a s ÷ b s = r', and what the `--before` tree measured beside it."""
    text = f"{mine:.1f} s ÷ {twin:.1f} s = {mine / twin:.2f}"
    return text + (f" (before: {was[0]:.1f} s ÷ {was[1]:.1f} s = {was[0] / was[1]:.2f})" if was else "")


def bench_rows(min_time: float, compile_too: bool) -> dict:
    """bench's MLP and GPT training rows for reference/, plus the GPT step's FLOPs and the matmul's GFLOP/s."""
    import torch

    from backprop_ninja.commands import bench
    from backprop_ninja.models import katas
    from backprop_ninja.sandbox.allocator import keep_freed_blocks

    keep_freed_blocks()  # as bench.run does
    torch.set_num_threads(1)
    b = bench.Bench((REPO / "reference").resolve(), katas.repo_root() or REPO, 1, min_time, "reference")
    out = {"mlp": bench.training_step(b), "gpt": bench.gpt_training_step(b)}
    if compile_too:
        b.compile = True
        compiled = {"mlp compiled": bench.compiled_training_step, "gpt compiled": bench.compiled_gpt_training_step}
        for key, row in compiled.items():
            try:
                out[key] = row(b)
            except bench.NotReady as e:  # e.g. no C++ compiler for torch.compile: say so, keep the other rows
                print(f"the {key} row: {e}", flush=True)
    out["flops"], out["peak"] = b.gpt_flops, b.peak
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gpt-steps", type=int, default=8_000, help="steps of each GPT run (default 8,000, the full run)")
    p.add_argument("--mlp-steps", type=int, default=200_000,
                   help="steps of each MLP run (default 200,000, the lecture's)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each command (default 3; the median is shown)")
    p.add_argument("--min-time", type=float, default=2.0,
                   help="bench: seconds of timing per measurement (default 2: at 0.5 the rows vary by a third)")
    p.add_argument("--compile", action="store_true",
                   help="also both steps' forward + backward under torch.compile, AdamW and SGD eager "
                        "(a minute more the first time)")
    p.add_argument("--skip-runs", action="store_true", help="only the bench rows")
    p.add_argument("--before", metavar="DIR", type=Path,
                   help="another checkout of the project (e.g. `git worktree add DIR main`): its runs beside "
                        "this tree's, each command in both, in alternation")
    args = p.parse_args()
    data = os.environ.get("BACKPROP_NINJA_DATA")
    if not data:
        raise SystemExit("set BACKPROP_NINJA_DATA to names.txt first")
    load_before = os.getloadavg()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}  ({os.cpu_count()} CPUs)", flush=True)
    lines = []
    if not args.skip_runs:
        gpt = ["train", "--model", "gpt", "--steps", str(args.gpt_steps)]
        mine, twin, *was = pair(gpt + ["--impl", "reference"], gpt + ["--autograd"], args.repeat, args.before)
        lines.append((f"train --model gpt ({args.gpt_steps:,} steps): reference wall ÷ --autograd wall",
                      ratio_text(mine, twin, was), "≤ 1.05"))
        print(" | ".join(lines[-1]), flush=True)
        mlp = ["train", "--steps", str(args.mlp_steps)]
        mine, twin, *was = pair(mlp + ["--impl", "reference"], mlp + ["--autograd"], args.repeat, args.before)
        lines.append((f"train ({args.mlp_steps:,} steps): reference wall ÷ --autograd wall",
                      ratio_text(mine, twin, was), "≤ 1.0"))
        lines.append((f"the lecture run, reference, one thread ({args.mlp_steps:,} steps)",
                      f"{mine:.1f} s" + (f" (before: {was[0]:.1f} s)" if was else ""), "≤ 180 s at 200,000 steps"))
        print(" | ".join(lines[-2]), flush=True)
    rows = bench_rows(args.min_time, args.compile)
    for key, target in (("gpt", "≥ 1.3"), ("gpt compiled", "≥ 3"), ("mlp", "≥ 1.6"), ("mlp compiled", "—")):
        r = rows.get(key)
        if r is not None:
            lines.append((f"bench {r.what}: autograd ÷ {r.candidate}",
                          f"{r.baseline_us:.0f} µs ÷ {r.candidate_us:.0f} µs = {r.baseline_us / r.candidate_us:.2f}",
                          target))
    for key, how in (("gpt", "kata 08"), ("gpt compiled", "kata 08 compiled")):
        if key in rows:
            achieved = rows["flops"] / rows[key].candidate_us / 1e3
            lines.append((f"bench GPT step ({how}): achieved GFLOP/s ÷ one large matmul's",
                          f"{achieved:.1f} ÷ {rows['peak']:.1f} = {achieved / rows['peak']:.0%} "
                          f"({rows['flops'] / 1e9:.2f} GFLOP a step)", "≥ 50%"))
    load_after = os.getloadavg()
    print()
    width = max(len(w) for w, _, _ in lines)
    measured = max(len(m) for _, m, _ in lines)
    print(f"{'what'.ljust(width)}  {'measured'.ljust(measured)}  target")
    for what, m, target in lines:
        print(f"{what.ljust(width)}  {m.ljust(measured)}  {target}")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in load_after)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
