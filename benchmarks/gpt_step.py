"""Where one training step of `train --model gpt` spends its time, part by part, in one process.

    python benchmarks/gpt_step.py                  # reference/08_gpt's backward
    python benchmarks/gpt_step.py --impl katas     # your own
    python benchmarks/gpt_step.py --compile        # and its forward + backward under torch.compile, as bench --compile

The manual step is what the worker runs at every step (train/gpt.py's in_worker): the forward pass
that saves the activations (backward_kwargs), the learner's copies of the parameters, kata 08's
backward, the check of its result (gradient_problem), AdamW. The autograd step is the --autograd
twin's: gpt.forward and loss.backward(), then the same AdamW. Each part is timed on its own, every
part once per round, in alternation, one thread; the table shows medians and each part's share,
and the matmul FLOPs beside the throughput of one large matmul measured in the same run, so that
what a part could gain at most is plain. A benchmark: it prints, it asserts nothing, and no test runs it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_backward(root: Path):
    """kata 08's backward from the tree at root (a folder shaped like katas/), imported here (trusted code)."""
    spec = importlib.util.spec_from_file_location("kata08_backward", root / "08_gpt" / "gpt.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import would (torch.compile looks its module up)
    spec.loader.exec_module(module)
    return module.backward


def flops(fn) -> int:
    """The matmul FLOPs of fn() as torch.utils.flop_counter counts them (2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


MATMUL = 1024  # the square float32 matmul that stands for this machine's limit, as bench's


def matmul_gflops(rounds: int) -> float:
    """GFLOP/s of one MATMUL-square float32 matmul on this thread (the median of `rounds` timings)."""
    import torch

    a, b = torch.randn(MATMUL, MATMUL), torch.randn(MATMUL, MATMUL)
    us = medians({"matmul": lambda: torch.mm(a, b)}, rounds, 3)["matmul"]
    return 2 * MATMUL**3 / us / 1e3


def medians(parts: dict, rounds: int, per: int) -> dict:
    """Median µs per call of each part, the parts timed in turn within every round."""
    for fn in parts.values():
        fn()
    times: dict = {name: [] for name in parts}
    for _ in range(rounds):
        for name, fn in parts.items():
            start = time.perf_counter()
            for _ in range(per):
                fn()
            times[name].append((time.perf_counter() - start) / per * 1e6)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", default="reference", help="the tree whose 08_gpt/gpt.py is timed (default reference)")
    p.add_argument("--rounds", type=int, default=15, help="rounds of every part (default 15; the median is shown)")
    p.add_argument("--per", type=int, default=10, help="calls of a part within one round (default 10)")
    p.add_argument("--compile", action="store_true",
                   help="also the forward + backward under torch.compile (bench --compile's step; AdamW eager)")
    p.add_argument("--malloc-default", action="store_true",
                   help="leave glibc's malloc as it starts (train, bench and the worker keep freed blocks: "
                        "sandbox/allocator.py), to see what that gains")
    args = p.parse_args()

    sys.path.insert(0, str(REPO))
    from backprop_ninja.sandbox.allocator import keep_freed_blocks

    if not args.malloc_default:
        keep_freed_blocks()
    import torch

    from backprop_ninja.models import gpt
    from backprop_ninja.train import gpt as training

    torch.set_num_threads(1)
    backward = load_backward((REPO / args.impl).resolve())
    cfg = gpt.TRAIN
    idx, targets = training.batch(gpt.stream(), cfg.B, cfg.T, torch.Generator().manual_seed(0))  # (B, T)
    params = gpt.init_training(cfg)
    opt = training.AdamW({k: v.clone() for k, v in params.items()})  # its own parameters: lr 0 keeps them
    _, kwargs = training.backward_kwargs(params, idx, targets, cfg.nh)
    grads = backward(**kwargs)
    with torch.enable_grad():
        leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        _, loss = gpt.forward(leaves, idx, targets, cfg.nh)

    def autograd_backward():  # the graph of one forward pass, kept: only the backward is timed
        return torch.autograd.grad(loss, list(leaves.values()), retain_graph=True)

    def autograd_forward():
        with torch.enable_grad():
            return gpt.forward({k: v.detach().requires_grad_(True) for k, v in params.items()}, idx, targets, cfg.nh)

    manual = {
        "forward, saving the activations": lambda: training.backward_kwargs(params, idx, targets, cfg.nh),
        "the learner's copies of the parameters": lambda: {k: v.clone() for k, v in params.items()},
        "kata 08's backward": lambda: backward(**kwargs),
        "the check of its result": lambda: training.gradient_problem(grads, params),
        "AdamW": lambda: opt.step(grads, 0.0),
    }
    twin = {"forward, recording the graph": autograd_forward, "loss.backward()": autograd_backward}
    compiled = {}
    if args.compile:
        def forward_backward():
            return backward(**training.backward_kwargs(params, idx, targets, cfg.nh)[1])

        compiled["forward + kata 08's backward, compiled"] = torch.compile(forward_backward)
    with torch.no_grad():
        us = medians({**manual, **twin, **compiled}, args.rounds, args.per)
    peak = matmul_gflops(args.rounds)
    work = {"forward, saving the activations": flops(lambda: gpt.forward(params, idx, targets, cfg.nh)),
            "kata 08's backward": flops(lambda: backward(**kwargs)), "loss.backward()": flops(autograd_backward)}
    work["forward, recording the graph"] = work["forward, saving the activations"]
    for name in compiled:
        work[name] = work["forward, saving the activations"] + work["kata 08's backward"]

    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.impl}/08_gpt/gpt.py; "
          f"one {MATMUL}x{MATMUL} matmul: {peak:.0f} GFLOP/s")
    sections = [("manual step (the worker's loop)", list(manual)),
                ("autograd step (--autograd)", list(twin) + ["AdamW"])]
    if compiled:
        sections.append(("compiled step (bench --compile)", list(compiled) + ["AdamW"]))
    for title, rows in sections:
        total = sum(us[name] for name in rows)
        print(f"\n{title}: {total:,.0f} µs")
        for name in rows:
            line = f"  {name:40s} {us[name]:8,.0f} µs {us[name] / total:5.0%}"
            if work.get(name):
                gflops = work[name] / us[name] / 1e3
                line += f"  {work[name] / 1e6:6.1f} MFLOP at {gflops:5.1f} GFLOP/s ({gflops / peak:.0%} of the matmul)"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
