"""`backprop-ninja hint STEP [--level 1|2|3] [--kata KATA]`: progressive hints from hints.toml.

Kept free of torch (and of backprop_ninja.models.katas, which imports it): a hint
is text, and it should appear at once. The kata lookup (paths.names_kata), the stub
detector (sandbox/scan.stubs) and the hint line (models/hints.command) are the ones
every face uses. The katas and their steps come from
katas/NN_name/hints.toml of the repository (one table per step, in order);
whether a step is still a stub is read from the learner's file with `ast`.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import shutil
import sys
import textwrap
from pathlib import Path

from backprop_ninja.models import paths
from backprop_ninja.models.hints import command
from backprop_ninja.models.paths import names_kata, repo_root
from backprop_ninja.sandbox import scan

LEVEL_NAMES = {1: "what to look at", 2: "the rule", 3: "nearly the line"}


def register(subparsers) -> None:
    p = subparsers.add_parser("hint", help="a hint for one step (--level 2, 3 for more)",
                              description="Progressive hints: level 1 says what to look at, level 2 the rule, "
                                          "level 3 nearly the line.")
    p.add_argument("step", metavar="STEP", help="a step name, e.g. dprobs")
    p.add_argument("--level", type=int, choices=(1, 2, 3), default=1, help="1 (default), 2 or 3")
    p.add_argument("--kata", metavar="KATA", default=None,
                   help="the kata (its number, e.g. 02), for a step name several katas share (dlogits, dx, ...); "
                        "without it, the first of those katas where the step is still a stub")
    p.set_defaults(func=run)


@dataclasses.dataclass
class KataHints:
    folder: str  # 01_atomic_graph
    hints: dict  # {step: {"1": ..., "2": ..., "3": ...}}, in the kata's order

    @property
    def number(self) -> str:
        return self.folder[:2]

    @property
    def module(self) -> Path:
        return Path(self.folder[3:] + ".py")

    def matches(self, key: str) -> bool:
        return names_kata(key, self.folder)


def all_hints(root: Path | None = None, katas_dir: Path | None = None) -> list[KataHints]:
    """Every kata of root/katas (or of katas_dir) that has a hints.toml, in kata order."""
    from backprop_ninja.models.hints import load_hints

    found = []
    for path in sorted((katas_dir or root / "katas").glob("[0-9][0-9]_*/hints.toml")):
        try:
            found.append(KataHints(path.parent.name, load_hints(path)))
        except (OSError, ValueError) as e:  # tomllib.TOMLDecodeError is a ValueError
            print(f"backprop-ninja hint: skipping {path}: {e}", file=sys.stderr)
    return found


def is_stub(path: Path, step: str) -> bool:
    """True when `step` in the file at `path` is still a stub (or the file or function is missing, or the
    file does not parse: nothing there is done)."""
    try:
        return step in stubs(path.read_text(encoding="utf-8"), [step])
    except (OSError, ValueError):
        return True


def stubs(source: str, steps) -> set[str]:
    """The names in `steps` that `source` leaves undone: a stub (scan.stubs, the one stub detector), or no
    def at all (all of them when the source does not parse)."""
    try:
        tree = ast.parse(source)
        stubbed = scan.stubs(source)
    except (SyntaxError, ValueError):
        return set(steps)
    written = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)} - stubbed
    return set(steps) - written


def check_command(kata: KataHints, step: str) -> str:
    """The pytest line that checks that one step."""
    return paths.check_command(kata.folder, list(kata.hints), step)


def choose(katas_dir: Path, found: list[KataHints], step: str) -> KataHints:
    """Of the katas that have `step`, the first where it is still a stub; else the lowest."""
    for k in found:
        if is_stub(katas_dir / k.folder / k.module, step):
            return k
    return found[0]


def _err(message: str) -> int:
    print(f"backprop-ninja hint: {message}", file=sys.stderr)
    return 2


def _step_list(katas: list[KataHints], width: int = 88) -> str:
    return "\n".join(textwrap.fill("  ".join(k.hints), width=width, initial_indent=f"  kata {k.number}: ",
                                   subsequent_indent=" " * 11, break_on_hyphens=False)
                     for k in katas)


def run(args) -> int:
    root = repo_root()
    # outside a clone or workspace (a notebook in Colab): the hints that came with the package
    katas_dir = root / "katas" if root else paths.shipped_katas()
    katas = all_hints(katas_dir=katas_dir)
    step, level = args.step, args.level
    call = getattr(args, "call", False)  # asked from Python (a notebook): show hint(...) calls
    if args.kata:
        katas_given = [k for k in katas if k.matches(args.kata)]
        if not katas_given:
            return _err(f"no hints for kata {args.kata!r} in this checkout; the katas with hints: "
                        f"{', '.join(k.folder for k in katas) or 'none'}")
        candidates = katas_given
    else:
        candidates = katas
    having = [k for k in candidates if step in k.hints]
    if not having:
        names = [s for k in candidates for s in k.hints]
        close = difflib.get_close_matches(step, names, n=3, cutoff=0.6) or \
            difflib.get_close_matches("d" + step, names, n=3, cutoff=0.6)
        where = f"kata {candidates[0].number}" if args.kata else "any kata"
        msg = f"no step {step!r} in {where}."
        if close:
            msg += f" Did you mean {' or '.join(close)}?"
        width = min(shutil.get_terminal_size((88, 24)).columns, 88)
        print(f"backprop-ninja hint: {msg}\nThe steps:\n{_step_list(candidates, width)}", file=sys.stderr)
        return 2
    kata = having[0] if args.kata else choose(katas_dir, having, step)
    shared = len([k for k in katas if step in k.hints]) > 1
    text = kata.hints[step].get(str(level), "")
    if not text.strip():
        return _err(f"hints.toml of kata {kata.number} has no level {level} for {step}")
    number = kata.number if shared else None
    width = min(shutil.get_terminal_size((88, 24)).columns, 88)

    print(f"{step} · kata {kata.number} · hint {level} of 3 ({LEVEL_NAMES[level]})")
    print()
    print(_body(text, level, width))
    print()
    if level < 3:
        more = ", ".join(f"level {n}: {LEVEL_NAMES[n]}" for n in range(level + 1, 4))
        print(f"more:  {command(step, number, level + 1, call)}   ({more})")
    else:
        check = f"check({step!r}" + (f", kata={number!r})" if number else ")") if call else check_command(kata, step)
        print(f"that was the last hint; check it: {check}")
    for other in katas:
        if other is not kata and step in other.hints:
            print(f"also in kata {other.number}: {command(step, other.number, call=call)}")
    return 0


def _body(text: str, level: int, width: int) -> str:
    """Prose (levels 1, 2) wrapped and indented; code (level 3) kept line for line."""
    text = textwrap.dedent(text.strip("\n"))
    if "\n" in text or level == 3:
        return textwrap.indent(text, "    ")
    return textwrap.fill(text, width=width, initial_indent="  ", subsequent_indent="  ")
