"""`backprop-ninja show STEP [--kata KATA] [--impl PATH] [--out DIR]`: draw a wrong step as a PNG.

Checks your step as pytest does and, when its values are wrong, writes the
picture of the first failing check: yours, autograd's and the difference as
heatmaps on one colour scale, the worst element boxed (picture.py). Needs
matplotlib: pip install "backprop-ninja[plot]".
"""

from __future__ import annotations

import sys

from backprop_ninja.commands.status import seconds_option
from backprop_ninja.models.paths import shown


def register(subparsers) -> None:
    p = subparsers.add_parser("show", help="draw a wrong step beside autograd's, as a PNG (needs matplotlib)",
                              description="Check one step; when it is wrong, draw yours, autograd's and the "
                                          "difference side by side, and print the PNG's path.")
    p.add_argument("step", metavar="STEP", help="a step name, e.g. dlogits")
    p.add_argument("--kata", metavar="KATA", default=None,
                   help="the kata (its number, e.g. 02), for a step name several katas share (dlogits, dx, ...)")
    p.add_argument("--impl", metavar="PATH", default=None, help="check the modules under PATH (default katas/)")
    p.add_argument("--out", metavar="DIR", default=None, help="where the PNG goes (default .backprop-ninja/pictures)")
    p.add_argument("--step-timeout", type=seconds_option, default=None, metavar="SECONDS",
                   help="stop a step that runs longer than this (default 10)")
    p.set_defaults(func=run)


def run(args) -> int:
    from backprop_ninja import picture
    from backprop_ninja.checks.checker import check_in
    from backprop_ninja.checks.report import todo
    from backprop_ninja.models import katas
    from backprop_ninja.sandbox import client, loader
    from backprop_ninja.sandbox.loader import DEFAULT_SECONDS

    def fail(message: str, code: int = 1) -> int:
        print(f"backprop-ninja show: {message}", file=sys.stderr)
        return code

    try:
        having = [katas.kata(args.kata)] if args.kata else [k for k in katas.KATAS if args.step in k.step_names]
    except KeyError as e:
        return fail(e.args[0], 2)
    if not having or args.step not in having[0].step_names:
        where = f"kata {having[0].number}" if having else "any kata"
        return fail(f"no step {args.step!r} in {where}; `backprop-ninja hint {args.step}` lists the steps", 2)
    kata = having[0]
    seconds = args.step_timeout or DEFAULT_SECONDS
    try:
        path = loader.kata_file(loader.impl_root(args.impl), kata)
        client.start()  # its import of torch overlaps this process's
        module = loader.open_file(path, seconds)  # read, then imported in the worker, as status and pytest do
    except loader.ImplError as e:
        return fail(str(e))
    wide = module.wide_finding(kata.step_names)
    if wide:  # a line outside every step stops every step alike: status's words
        return fail(f"{wide.ident}: {wide.sentence('')}; remove line {wide.line} of {shown(str(path))}")
    verdict = check_in(kata, module, args.step, seconds)
    others = [k.number for k in katas.KATAS if k is not kata and args.step in k.step_names]
    note = (f"\n(this is kata {kata.number}'s {args.step}; kata {others[0]}'s: backprop-ninja show {args.step} "
            f"--kata {others[0]})") if others else ""
    if verdict.status == "done":
        print(f"{args.step}: done — matches autograd, nothing to draw{note}")
        return 0
    if verdict.status == "todo":
        print(todo(args.step, f"{shown(verdict.where)}: write it first") + note)
        return 1
    print(verdict.report + note)
    print(picture.show(verdict, args.out or picture.PICTURES))
    return 1
