"""The `backprop-ninja` command: one subcommand per module, each with register(subparsers).

The command modules import torch only inside their run(), so `hint` and
`--help` answer at once; torch takes seconds to import.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

#: subcommand -> its module, which has register(subparsers); the parser's func(args) returns the exit code
COMMANDS = {
    "status": "backprop_ninja.commands.status",
    "hint": "backprop_ninja.commands.hint",
    "watch": "backprop_ninja.commands.watch",
    "reset": "backprop_ninja.commands.reset",
    "show": "backprop_ninja.commands.show",
    "init": "backprop_ninja.commands.init",
    "train": "backprop_ninja.commands.train",
    "bench": "backprop_ninja.commands.bench",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="backprop-ninja",
                                description="Write every gradient of the makemore MLP by hand; "
                                            "checked against PyTorch autograd. No command: status.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for path in COMMANDS.values():
        importlib.import_module(path).register(sub)
    return p


def _with_command(argv: list[str]) -> list[str]:
    """argv with `status` put first when it names no command (`backprop-ninja --impl reference`)."""
    if any(a in COMMANDS for a in argv) or any(a in ("-h", "--help") for a in argv[:1]):
        return argv
    return ["status", *argv]


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command (bare `backprop-ninja` is `status`)."""
    try:
        args = parser().parse_args(_with_command(sys.argv[1:] if argv is None else list(argv)))
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, not at exit: a closed pipe is then caught below
        return code
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `backprop-ninja status | head`: the reader has all it wanted
        _quiet_stdout()
        return 0


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that Python's final flush of what is still buffered for the
    closed pipe raises nothing (Python's documented way: docs.python.org, signal, SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (under a test's capture): nothing to flush
        pass


if __name__ == "__main__":
    sys.exit(main())
