"""`backprop-ninja train`: exercise 4 — train the lecture's network with your own backward pass.

Loads `backward` from the learner's 04_training/training.py (--impl picks
another tree, `reference` the worked solution), trains the exercise-4
network with it as the lecture does (backprop_ninja.training), then prints
the train and val losses and 20 sampled names.

Everything that can fail fails before the long part starts, with one
sentence saying what to do: --plot without matplotlib, a device this
machine lacks, no kata folder, no names.txt, a backward not written yet.
torch is imported inside run(), so building the CLI stays fast.
"""

from __future__ import annotations

import argparse
import sys
import time

# the lecture's numbers, as the CLI's defaults (tests check they match backprop_ninja.training)
STEPS = 200_000
N_HIDDEN = 200
SEED = 2147483647


class TrainError(Exception):
    """Training cannot start; the message is one sentence telling the learner what to do."""


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `train` command to the CLI's subparsers; it calls run(args)."""
    p = subparsers.add_parser(
        "train", help="exercise 4: train the network with your backward()",
        description="Train the lecture's network with your kata 04 backward(): the loss every 10,000 steps, "
                    "then the train and val losses and 20 sampled names.",
        epilog="Exit code: 0 trained, 1 could not train (the message says why).")
    p.add_argument("--impl", metavar="PATH", default=None,
                   help="take 04_training/training.py from PATH, a tree shaped like katas/; "
                        "'reference' = the worked solutions (also $BACKPROP_NINJA_IMPL; default katas/)")
    p.add_argument("--data", metavar="FILE", default=None,
                   help="names.txt (default: $BACKPROP_NINJA_DATA, else the cache, else a download)")
    p.add_argument("--steps", metavar="N", type=int, default=STEPS, help=f"training steps (default {STEPS:,})")
    p.add_argument("--hidden", metavar="H", type=int, default=N_HIDDEN, help=f"n_hidden (default {N_HIDDEN})")
    p.add_argument("--seed", metavar="S", type=int, default=SEED,
                   help=f"seed of the initial parameters and of the batches (default {SEED})")
    p.add_argument("--device", metavar="D", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--plot", metavar="FILE", default=None,
                   help='write a PNG of log10(loss) per step (needs pip install "backprop-ninja[plot]")')
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """The `train` command; returns the exit code."""
    from . import loader
    from .data import DataError
    from .training import BackwardError

    try:
        _train(args)
    except (TrainError, loader.ImplError, DataError, BackwardError) as e:
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("training interrupted: nothing was saved (try fewer --steps for a quick run).", file=sys.stderr)
        return 130
    return 0


def require_matplotlib() -> None:
    """--plot needs matplotlib, an optional extra: fail before training, not after."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise TrainError('--plot needs matplotlib, which is not installed: pip install "backprop-ninja[plot]", '
                         "or leave out --plot.") from None


def resolve_device(name: str):
    """torch.device(name), or TrainError when this machine does not have it."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise TrainError(f"--device {name} is not a device torch knows: use cpu or cuda.") from None
    if device.type == "cuda" and (not torch.cuda.is_available()
                                  or (device.index or 0) >= torch.cuda.device_count()):
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise TrainError(f"--device {name} was asked for, but torch {torch.__version__} ({build}) sees no such "
                         "CUDA GPU here: leave out --device to train on the CPU.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise TrainError(f"--device {name} was asked for, but torch sees no Apple GPU here: "
                         "leave out --device to train on the CPU.")
    return device


def _train(args: argparse.Namespace) -> None:
    if args.steps < 1 or args.hidden < 1:
        raise TrainError("--steps and --hidden must be at least 1.")
    if args.plot:
        require_matplotlib()
    device = resolve_device(args.device)

    from . import data, katas, loader, training

    kata = katas.kata("04")
    path = loader.kata_file(loader.impl_root(args.impl), kata)
    backward = loader.step_function(loader.open_file(path), kata, "backward")
    warning = training.check_backward(backward, n_hidden=args.hidden, seed=args.seed, device=device)
    if warning:
        print(warning, file=sys.stderr)
    words = data.read_words(data.locate(args.data))  # after the check: no download for a stub
    splits = data.make_splits(words, block_size=training.BLOCK_SIZE)

    print(f"training {path} on {len(words):,} names ({splits.Xtr.shape[0]:,} examples), "
          f"n_hidden {args.hidden}, {args.steps:,} steps on {device}")
    start = time.perf_counter()
    params, losses = training.fit(training.manual_gradients(backward), splits, steps=args.steps,
                                  n_hidden=args.hidden, seed=args.seed, device=device)
    print(f"trained in {time.perf_counter() - start:.0f} s")
    bn = training.calibrate(params, splits.Xtr)
    print(f"train {training.split_loss(params, bn, splits.Xtr, splits.Ytr):.4f}")
    print(f"val {training.split_loss(params, bn, splits.Xdev, splits.Ydev):.4f}")
    for name in training.sample(params, bn, splits.itos, splits.block_size):
        print(name)
    if args.plot:
        training.plot_losses(losses, args.plot)
        print(f"loss curve written to {args.plot}")
