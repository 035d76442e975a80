"""Each kata as a Jupyter notebook, generated from the kata's own files, so the two never drift.

    python -m backprop_ninja.notebooks           write katas/<folder>/<module>.ipynb for every kata
    python -m backprop_ninja.notebooks --check   exit 1 if a notebook differs from what its files make

A notebook holds the kata's README; a set-up cell (the stub's imports,
`check`, `hint`, and the kata's forward-pass tensors); then, per step, the
stub's function in a cell of its own and a `check(...)` cell after it, with
the hint calls beside it. A function of the stub that is not a step (a
helper) gets its cell without a check. Nothing here is written per kata:
a new kata in katas.KATAS gets its notebook by running this again.
Needs nbformat (the `test` extra); the wheel ships the notebooks made.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

from backprop_ninja.models.hints import load_hints
from backprop_ninja.models.katas import KATAS, Kata

NBFORMAT_MINOR = 5  # cell ids (nbformat 4.5): fixed ids keep regeneration byte for byte

INTRO = """\
**In this notebook.** Each step below is a function to write: replace its `raise NotImplementedError`
with the gradient, run the cell, then run the `check(...)` cell under it. A check says `done`, `todo`,
or shows autograd's comparison with a diagnosis. Stuck? `hint("{step}"{more})` says what to look at,
`hint("{step}", level=2{more})` gives the rule, `level=3` nearly the line. `check("{step}"{more}, show=True)`
draws a wrong gradient beside autograd's (needs matplotlib).

The set-up cell below makes the tensors of the kata's forward pass available at the {home},
so you can look at shapes and try a line before you write it."""

COLAB = """\
# In Colab (or a Jupyter without the harness), install it once from your fork (README, "In Colab"):
# %pip install -q "backprop-ninja[plot] @ git+https://github.com/YOUR-NAME/backprop-ninja"
"""


def notebook_path(katas_dir: Path, kata: Kata) -> Path:
    """katas/01_atomic_graph/atomic_graph.ipynb: beside the kata's module, named after it."""
    return katas_dir / kata.folder / Path(kata.module).with_suffix(".ipynb").name


def _segments(source: str):
    """The stub's top-level pieces: ("setup", code) for each statement that is not a function
    or a class (imports), ("function", name, code) for each def and class (kata 08's layer
    classes get a cell of their own, like a helper), in file order. The docstring is dropped
    (the README says it better), and so are `# noqa` marks meant for the linter."""
    lines = source.splitlines()
    tree = ast.parse(source)
    body = tree.body[1:] if tree.body and isinstance(tree.body[0], ast.Expr) \
        and isinstance(tree.body[0].value, ast.Constant) and isinstance(tree.body[0].value.value, str) \
        else tree.body
    for node in body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        code = "\n".join(lines[start - 1:node.end_lineno])
        code = re.sub(r"\s*# noqa\b[^\n]*", "", code)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield "function", node.name, code
        else:
            yield "setup", None, code


def _kata_arg(kata: Kata, step: str) -> str:
    """`, kata="02"` where another kata has a step of that name, else nothing."""
    return f', kata="{kata.number}"' if any(k is not kata and step in k.step_names for k in KATAS) else ""


def _check_call(kata: Kata, step: str) -> str:
    return f'check("{step}"{_kata_arg(kata, step)})'


def _hint_line(kata: Kata, step: str) -> str:
    more = _kata_arg(kata, step)
    return (f'# stuck? hint("{step}"{more}), then hint("{step}", level=2{more})\n'
            f'# a wrong one drawn beside autograd\'s: check("{step}"{more}, show=True)')


def build(kata: Kata, katas_dir: Path):
    """The notebook of `kata`, from katas_dir/<folder>/{README.md, <module>, hints.toml}."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    folder = katas_dir / kata.folder
    readme = (folder / "README.md").read_text(encoding="utf-8").strip()
    source = (folder / kata.module).read_text(encoding="utf-8")
    pieces = list(_segments(source))
    hinted = load_hints(folder / "hints.toml") if (folder / "hints.toml").exists() else {}
    setup_lines = [code for kind, _, code in pieces if kind == "setup"]
    # standard library first, then torch, a blank line between (as isort and ruff write them)
    stdlib = [code for code in setup_lines if code.split()[1].split(".")[0] in sys.stdlib_module_names]
    imports = "\n\n".join(block for block in ("\n".join(stdlib),
                                               "\n".join(c for c in setup_lines if c not in stdlib)) if block)
    setup = (f"{COLAB}\n{imports}\n\nfrom backprop_ninja import check, forward_values, hint\n\n"
             f"# the tensors of the forward pass at the {kata.configs[0].label} (name and shape printed)\n"
             f'globals().update(forward_values("{kata.number}"))')
    cells = [new_markdown_cell(readme, id="readme"),
             new_markdown_cell(INTRO.format(step=kata.steps[0].name, more=_kata_arg(kata, kata.steps[0].name),
                                                  home=kata.configs[0].label), id="how-to"),
             new_code_cell(setup, id="setup")]
    total = len(kata.steps)
    for kind, name, code in pieces:
        if kind != "function":
            continue
        if name not in kata.step_names:  # a helper of the stub: its cell, no check
            cells.append(new_code_cell(code, id=f"helper-{name}"))
            continue
        number = kata.step_names.index(name) + 1
        title = f"## Step {number} of {total}: `{kata.step(name).signature()}`" if total > 1 else \
            f"## `{kata.step(name).signature()}`"
        check = _check_call(kata, name) + (f"\n{_hint_line(kata, name)}" if name in hinted else "")
        cells += [new_markdown_cell(title, id=f"title-{name}"),
                  new_code_cell(code, id=f"step-{name}"),
                  new_code_cell(check, id=f"check-{name}")]
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    nb.nbformat_minor = NBFORMAT_MINOR
    nbformat.validate(nb)
    return nb


def text(kata: Kata, katas_dir: Path) -> str:
    """The notebook as the file holds it."""
    import nbformat

    return nbformat.writes(build(kata, katas_dir)) + "\n"


def default_katas_dir() -> Path:
    from backprop_ninja.models.paths import repo_root, shipped_katas

    root = repo_root()
    return root / "katas" if root else shipped_katas()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m backprop_ninja.notebooks",
                                description="Write each kata's notebook from its README, stub and hints.")
    p.add_argument("--katas", type=Path, default=None, help="the katas/ folder (default: this repository's)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook is not up to date")
    args = p.parse_args(argv)
    katas_dir = args.katas or default_katas_dir()
    stale = []
    for kata in KATAS:
        if not (katas_dir / kata.folder / kata.module).exists():
            continue  # a kata not in this checkout yet
        path = notebook_path(katas_dir, kata)
        new = text(kata, katas_dir)
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if new == old:
            continue
        stale.append(path)
        if not args.check:
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(new)
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
