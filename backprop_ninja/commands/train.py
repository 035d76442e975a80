"""`backprop-ninja train`: exercise 4 — train the lecture's network with your own backward pass.

Loads `backward` from the learner's 04_training/training.py (--impl picks
another tree, `reference` the worked solution), trains the exercise-4
network with it as the lecture does (backprop_ninja.train.mlp), then prints
the train and val losses and 20 sampled names.

Everything that can fail fails before the long part starts, with one
sentence saying what to do: an option out of range, a --plot path that
cannot be written or matplotlib missing, a device this machine lacks, no
kata folder, a backward not written yet (or that raises, or returns the
wrong gradients), no names.txt or too few names for the three splits.
During training, the whole loop runs in the worker process beside the
learner's backward (guard.run_loop): an exception, a hang or a NaN stops
the run at that iteration, in one sentence; this process computes every
number it prints. --autograd trains the same seeded run on
loss.backward(), here. After training, nothing can throw the run away: if the plot
cannot be written, the losses and names are printed all the same.
torch is imported inside run(), so building the CLI stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from backprop_ninja.models import whole

# the lecture's numbers, as the CLI's defaults (tests check they match backprop_ninja.train.mlp)
STEPS = 200_000
GPT_STEPS = 8_000  # --model gpt or llama (tests check it matches backprop_ninja.train.gpt)
#: the whole models, trained with their kata's backward (tests check they are models/gpt_trace.MODELS)
WHOLE_MODELS = tuple(whole.KATAS)  # gpt, llama
N_HIDDEN = 200
SEED = 2147483647
LR_DROP = 100_000
# the most this command accepts: far beyond the lecture, short of running out of memory or of time
MAX_STEPS = 10_000_000  # 50 lecture runs; the losses alone take 40 MB
MAX_HIDDEN = 2_000  # 10 times the lecture's; BatchNorm's calibration holds (N, n_hidden) floats: 1.5 GB
MAX_SEED = 2**63 - 1  # what torch.Generator.manual_seed takes (the batches use seed + 1)


class TrainError(Exception):
    """Training cannot start; the message is one sentence telling the learner what to do."""


def register(subparsers) -> argparse.ArgumentParser:
    """Add the `train` command to the CLI's subparsers; it calls run(args)."""
    p = subparsers.add_parser(
        "train", help="exercise 4: train the network with your backward()",
        description="Train the lecture's network with your kata 04 backward(): the loss every 10,000 steps "
                    "(ten times in a shorter run), then the train and val losses and 20 sampled names. "
                    "With --model gpt: the small GPT with your kata 08 backward (AdamW, 8,000 steps); "
                    "--model llama: the small Llama with your kata 12 backward, the same way. "
                    "With --autograd: the same seeded run on loss.backward(), the yardstick.",
        epilog="Exit code: 0 trained; 1 could not train, training stopped (your backward raised, hung or "
               "returned NaN), or the plot could not be written after training: one sentence says which.")
    p.add_argument("--impl", metavar="PATH", default=None,
                   help="take 04_training/training.py from PATH, a tree shaped like katas/; "
                        "'reference' = the worked solutions (also $BACKPROP_NINJA_IMPL; default katas/)")
    p.add_argument("--data", metavar="FILE", default=None,
                   help="names.txt (default: $BACKPROP_NINJA_DATA, else the cache, else a download)")
    p.add_argument("--model", choices=("mlp", *WHOLE_MODELS), default="mlp",
                   help="mlp: kata 04's network (default); gpt: the small GPT with your kata 08 backward; "
                        "llama: the small Llama with your kata 12 backward")
    p.add_argument("--autograd", action="store_true",
                   help="the same seeded run on autograd's gradients, loss.backward() (the yardstick; "
                        "no kata file is read)")
    p.add_argument("--steps", metavar="N", type=int, default=None,
                   help=f"training steps, 1 to {MAX_STEPS:,} (default {STEPS:,}; --model gpt, llama: {GPT_STEPS:,}). "
                        f"The MLP's learning rate is 0.1, then 0.01 from step {LR_DROP:,} as in the notebook; "
                        f"a run of at most {LR_DROP:,} steps drops it at half its steps")
    p.add_argument("--hidden", metavar="H", type=int, default=None,
                   help=f"n_hidden of the MLP, 1 to {MAX_HIDDEN:,} (default {N_HIDDEN}); the GPT's sizes are fixed")
    p.add_argument("--seed", metavar="S", type=int, default=SEED,
                   help=f"seed of the initial parameters and of the batches, 0 to 2**63-1 (default {SEED})")
    p.add_argument("--device", metavar="D", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--threads", metavar="N", type=int, default=1,
                   help="torch CPU threads (default 1: at this network's size more threads gain nothing "
                        "on an idle machine, and on a busy one they wait for each other, many times slower)")
    p.add_argument("--plot", metavar="FILE", default=None,
                   help='write a PNG of log10(loss) per step to FILE, a .png in a folder that exists '
                        '(needs pip install "backprop-ninja[plot]")')
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """The `train` command; returns the exit code."""
    from backprop_ninja.sandbox.allocator import keep_freed_blocks

    keep_freed_blocks()  # as the worker does: both sides of a comparison with the same allocator
    if not args.autograd:  # the learner's backward runs in the worker: start it now, its import of torch beside ours
        from backprop_ninja.sandbox import client

        client.start(args.device)
    import torch

    from backprop_ninja.models.data import DataError
    from backprop_ninja.sandbox import loader
    from backprop_ninja.train.gpt import GPTTrainError
    from backprop_ninja.train.mlp import BackwardError

    threads = torch.get_num_threads()
    try:
        plot, device = _prepare(args)
        if args.model in WHOLE_MODELS:
            return _train_whole(args, plot, device)
        return _train(args, plot, device)
    except (TrainError, loader.ImplError, DataError, BackwardError, GPTTrainError) as e:
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("training interrupted: nothing was saved (try fewer --steps for a quick run).", file=sys.stderr)
        return 130
    finally:
        torch.set_num_threads(threads)


def require_matplotlib() -> None:
    """--plot needs matplotlib, an optional extra: fail before training, not after."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise TrainError('--plot needs matplotlib, which is not installed: pip install "backprop-ninja[plot]", '
                         "or leave out --plot.") from None


def check_numbers(args: argparse.Namespace) -> None:
    """--steps, --hidden, --seed and --threads within what this command can run; TrainError if not."""
    for option, value, low, high in (("--steps", args.steps, 1, MAX_STEPS), ("--hidden", args.hidden, 1, MAX_HIDDEN),
                                     ("--seed", args.seed, 0, MAX_SEED)):
        if value is None:  # --hidden with --model gpt or llama
            continue
        if not low <= value <= high:
            raise TrainError(f"{option} {_short(value)} is out of range: it takes a whole number from "
                             f"{low:,} to {'2**63-1' if high == MAX_SEED else f'{high:,}'}.")
    if args.threads < 1:
        raise TrainError(f"--threads {args.threads} is out of range: give 1 or more CPU threads (default 1).")


def _short(value: int) -> str:
    """A number as typed, shortened when it is huge (10**23 has 24 digits)."""
    text = str(value)
    return text if len(text) <= 20 else f"{text[:8]}…({len(text)} digits)"


def check_plot_path(path: str) -> Path:
    """The --plot file: a .png whose folder exists and can be written; TrainError if not.

    Checked before training, so a five-minute run never ends in a path error.
    """
    plot = Path(path).expanduser()
    if plot.is_dir():
        raise TrainError(f"--plot {path} is a folder: name a file inside it, e.g. --plot {plot / 'loss.png'}.")
    if plot.suffix.lower() != ".png":
        raise TrainError(f"--plot {path} must name a .png file (the loss curve is written as a PNG): "
                         f"try --plot {plot.with_suffix('.png').name}.")
    folder = plot.parent
    if not folder.is_dir():
        raise TrainError(f"--plot {path} cannot be written: the folder {folder} does not exist "
                         "(create it, or pick a path in a folder that exists).")
    try:  # what the final write needs, tried now: a file created in that folder (then removed)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".backprop-ninja-plot-", suffix=".png"):
            pass
    except OSError as e:
        raise TrainError(f"--plot {path} cannot be written: the folder {folder} does not take new files "
                         f"({e.strerror or e}); pick a path in a folder you can write to.") from None
    if plot.exists() and not os.access(plot, os.W_OK):
        raise TrainError(f"--plot {path} cannot be written: the file is read-only; pick another path.")
    return plot


def resolve_device(name: str):
    """torch.device(name), or TrainError when this machine does not have it or it cannot train."""
    from backprop_ninja.models.devices import DeviceError, usable

    try:
        return usable(name, "--device", "trained", "train on the CPU")
    except DeviceError as e:
        raise TrainError(f"{e}.") from None


def _prepare(args: argparse.Namespace):
    """Every option checked before anything trains, the same for both models; returns (plot path or None, device)."""
    if args.model in WHOLE_MODELS and args.hidden is not None:
        raise TrainError(f"--hidden {args.hidden} sets the MLP's n_hidden; --model {args.model}'s sizes are fixed "
                         f"(C=64, 2 layers, 4 heads): leave out --hidden with --model {args.model}.")
    if args.steps is None:
        args.steps = GPT_STEPS if args.model in WHOLE_MODELS else STEPS
    if args.hidden is None and args.model == "mlp":
        args.hidden = N_HIDDEN
    check_numbers(args)
    plot = check_plot_path(args.plot) if args.plot else None
    if plot:
        require_matplotlib()
    return plot, resolve_device(args.device)


def _train(args: argparse.Namespace, plot: Path | None, device) -> int:
    """Kata 04's network: check the backward, train, report; returns the exit code (1: the plot failed)."""
    import torch

    from backprop_ninja.models import data, katas
    from backprop_ninja.sandbox import loader
    from backprop_ninja.train import mlp as training

    torch.set_num_threads(args.threads)
    if args.autograd:
        where, backward = "autograd's gradients (loss.backward())", None
    else:
        kata = katas.kata("04")
        path = loader.kata_file(loader.impl_root(args.impl), kata)
        backward = loader.step_function(loader.open_file(path), kata, "backward")
        warning = training.check_backward(backward, n_hidden=args.hidden, seed=args.seed, device=device)
        if warning:
            print(warning, file=sys.stderr)
        where = str(path)
    source = data.locate(args.data)  # after the check: no download for a stub
    words = data.read_words(source)
    splits = data.make_splits(words, block_size=training.BLOCK_SIZE, source=source)

    print(f"training {where} on {len(words):,} names ({splits.Xtr.shape[0]:,} examples), "
          f"n_hidden {args.hidden}, {args.steps:,} steps on {device}")
    start = time.perf_counter()
    if backward is None:  # the twin, here: the project's own code on autograd
        params, losses = training.fit(training.autograd_gradients, splits, steps=args.steps, n_hidden=args.hidden,
                                      seed=args.seed, device=device)
    else:  # the learner's backward and the whole loop in the worker
        params, losses = training.guarded_fit(backward, splits, steps=args.steps, n_hidden=args.hidden,
                                              seed=args.seed, device=device, threads=args.threads)
    print(f"trained in {time.perf_counter() - start:.0f} s")
    bn = training.calibrate(params, splits.Xtr)
    print(f"train {training.split_loss(params, bn, splits.Xtr, splits.Ytr):.4f}")
    print(f"val {training.split_loss(params, bn, splits.Xdev, splits.Ydev):.4f}")
    for name in training.sample(params, bn, splits.itos, splits.block_size):
        print(name)
    if plot:
        return _write_plot(training, losses, plot)
    return 0


def _train_whole(args: argparse.Namespace, plot: Path | None, device) -> int:
    """Kata 08's GPT or kata 12's Llama (the model as data: gpt_trace.MODELS): check the backward, train,
    then print train/val and 20 names; returns the exit code."""
    import dataclasses

    import torch

    from backprop_ninja.models import data, gpt_trace, katas
    from backprop_ninja.sandbox import loader
    from backprop_ninja.train import gpt as gpt_training
    from backprop_ninja.train import mlp as training

    torch.set_num_threads(args.threads)
    model = gpt_trace.MODELS[args.model]
    cfg = dataclasses.replace(model.module.TRAIN, seed=args.seed, device=str(device))
    kata = katas.kata(model.kata)
    if args.autograd:
        where, backward = "autograd's gradients (loss.backward())", None
    else:
        path = loader.kata_file(loader.impl_root(args.impl), kata)
        backward = loader.step_function(loader.open_file(path), kata, "backward")  # imported in the worker
        warning = gpt_training.check_backward(backward, device, model)
        if warning:
            print(warning, file=sys.stderr)
        where = str(path)
    words = data.read_words(data.locate(args.data))
    streams = gpt_training.make_streams(words)
    cfg = dataclasses.replace(cfg, vocab_size=streams.vocab_size)

    print(f"training {model.title} ({cfg.training_sizes()}) with "
          f"{where} on {len(words):,} names ({len(streams.train):,} tokens), {args.steps:,} steps on {device}")
    start = time.perf_counter()
    if backward is None:  # the twin, here: the project's own code on autograd
        params, losses = gpt_training.fit(
            lambda params, idx, targets: gpt_training.autograd_gradients(params, idx, targets, cfg.nh, model),
            streams, cfg, steps=args.steps, model=model)
    else:  # the learner's backward and the whole loop in the worker
        params, losses = gpt_training.guarded_fit(backward, streams, cfg, steps=args.steps, threads=args.threads,
                                                  model=model)
    print(f"trained in {time.perf_counter() - start:.0f} s")
    print(f"train {gpt_training.split_loss(params, streams.train.to(device), cfg, model=model):.4f} "
          "(the whole training split)")
    print(f"val {gpt_training.split_loss(params, streams.val.to(device), cfg, model=model):.4f} (the whole val split)")
    for name in gpt_training.sample(params, cfg, streams.itos, model=model):
        print(name)
    if plot:
        return _write_plot(training, losses, plot)
    return 0


def _write_plot(training, losses, plot: Path) -> int:
    """The loss curve, written last: a failure here costs the picture, never the run's results."""
    try:
        training.plot_losses(losses, plot)
    except Exception as e:  # the folder may have gone, the disk filled up, matplotlib failed: say so, keep the run
        reason = (e.strerror if isinstance(e, OSError) else None) or (str(e).splitlines() or [type(e).__name__])[0]
        print(f"the run finished, but the loss curve could not be written to {plot} ({reason}): "
              "the losses and names above are the run's results.", file=sys.stderr)
        return 1
    print(f"loss curve written to {plot}")
    return 0
