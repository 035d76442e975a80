"""The `backprop-ninja` command: one subcommand per module, each with register(subparsers)."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

# torch warns once at import when NumPy is absent; nothing here needs NumPy
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

#: subcommand -> its module, which has register(subparsers); the parser's func(args) returns the exit code
COMMANDS = {
    "status": "backprop_ninja.commands.status",
    "hint": "backprop_ninja.commands.hint",
    "watch": "backprop_ninja.commands.watch",
    "reset": "backprop_ninja.commands.reset",
    "train": "backprop_ninja.train",
    "bench": "backprop_ninja.bench",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="backprop-ninja",
                                description="Write every gradient of the makemore MLP by hand; "
                                            "checked against PyTorch autograd.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for path in COMMANDS.values():
        try:
            module = importlib.import_module(path)
        except ModuleNotFoundError as e:
            if e.name != path:
                raise
            continue  # a command not built yet
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command (bare `backprop-ninja` is `status`)."""
    args = parser().parse_args(argv)
    if args.command is None:
        args = parser().parse_args(["status", *(argv or [])])
    if not hasattr(args, "func"):
        parser().print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
