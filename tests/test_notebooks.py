"""Every kata's notebook: made from the kata's files, and run headless in a real Jupyter kernel.

One kernel per notebook run (xdist spreads them): the notebook as shipped
(every check says todo), and with the reference's functions in the step
cells (every check says done), followed by cells a learner gets wrong: a
name that is no step, a step that raises, and a wrong step drawn inline.
"""

import os
import re

import pytest
from conftest import ROOT, built_katas

from backprop_ninja import notebooks
from backprop_ninja.models.katas import KATAS

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

KATAS_WITH_FILES = built_katas()
KERNEL_SECONDS = 600  # a cell's limit; kata 01's reference run takes ~20 s on 2 shared cores


def read(kata):
    return nbformat.read(notebooks.notebook_path(ROOT / "katas", kata), as_version=4)


def execute(nb, cwd):
    """Run every cell in a fresh kernel (one torch thread: the suite's workers share the cores)."""
    os.environ["OMP_NUM_THREADS"] = "1"  # the kernel inherits the environment
    client = nbclient.NotebookClient(nb, timeout=KERNEL_SECONDS, kernel_name="python3",
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def text_of(cell) -> str:
    """What a cell printed (stdout and stderr), and the name of any error it raised."""
    out = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            out.append(o.text)
        elif o.output_type == "error":
            out.append(f"ERROR {o.ename}: {o.evalue}")
    return "".join(out)


def checks(nb) -> dict:
    """{step: what its check cell printed}."""
    return {c.id[len("check-"):]: text_of(c) for c in nb.cells if c.id.startswith("check-")}


def with_reference(nb, kata):
    """The notebook with the reference's functions in the step cells, its imports in the set-up cell."""
    source = (ROOT / "reference" / kata.folder / kata.module).read_text(encoding="utf-8")
    pieces = list(notebooks._segments(source))
    solved = {name: code for kind, name, code in pieces if kind == "function"}
    setup = next(c for c in nb.cells if c.id == "setup")
    setup.source += "\n" + "\n".join(code for kind, _, code in pieces if kind == "setup")
    shipped = set()
    for cell in nb.cells:
        if cell.id.startswith(("step-", "helper-")) and cell.id.split("-", 1)[1] in solved:
            shipped.add(cell.id.split("-", 1)[1])  # a helper the stub ships (kata 08's layers) is solved in place
            cell.source = solved[cell.id.split("-", 1)[1]]
    helpers = [nbformat.v4.new_code_cell(code) for name, code in solved.items()
               if name not in kata.step_names and name not in shipped]
    at = nb.cells.index(setup) + 1
    nb.cells[at:at] = helpers
    return nb


@pytest.mark.parametrize("kata", KATAS_WITH_FILES, ids=lambda k: k.folder)
def test_regenerating_a_notebook_changes_nothing(kata):
    path = notebooks.notebook_path(ROOT / "katas", kata)
    assert path.exists(), f"{path} is missing: python -m backprop_ninja.notebooks"
    assert path.read_text(encoding="utf-8") == notebooks.text(kata, ROOT / "katas"), \
        f"{path} is stale: python -m backprop_ninja.notebooks"


def test_every_kata_in_the_checkout_has_a_notebook_with_a_check_per_step():
    for kata in KATAS_WITH_FILES:
        nb = read(kata)
        assert list(checks(nb)) == list(kata.step_names)
        ids = [c.id for c in nb.cells]
        for step in kata.step_names:  # the stub, then its check
            assert ids.index(f"check-{step}") == ids.index(f"step-{step}") + 1
        assert nb.cells[0].source == (ROOT / "katas" / kata.folder / "README.md").read_text(encoding="utf-8").strip()


def test_a_step_name_two_katas_share_is_checked_with_its_kata():
    shared = {s for k in KATAS for s in k.step_names if sum(s in o.step_names for o in KATAS) > 1}
    for kata in KATAS_WITH_FILES:
        for cell in read(kata).cells:
            if cell.id.startswith("check-") and cell.id[len("check-"):] in shared:
                assert f'kata="{kata.number}"' in cell.source


@pytest.mark.parametrize("kata", KATAS_WITH_FILES, ids=lambda k: k.folder)
def test_as_shipped_every_check_in_the_notebook_says_todo(kata, tmp_path):
    nb = execute(read(kata), tmp_path)
    setup = text_of(next(c for c in nb.cells if c.id == "setup"))
    assert setup.startswith(f"kata {kata.number}, ")  # forward_values printed the tensors it made
    said = checks(nb)
    for step, out in said.items():
        assert out.startswith(f"todo: {step} — it still raises NotImplementedError"), out
    print(f"{kata.folder}: {len(said)} check cells, {len(said)} todo")


@pytest.mark.parametrize("kata", KATAS_WITH_FILES, ids=lambda k: k.folder)
def test_with_the_reference_every_check_says_done_and_mistakes_get_one_paragraph(kata, tmp_path):
    nb = with_reference(read(kata), kata)
    first = kata.steps[0]
    params = ", ".join(first.params)
    extra = {
        "unknown": 'check("no_such_step")',
        "raises": f'def broken({params}):\n    raise ValueError("a shape I did not expect")\n\n'
                  f'check({first.name!r}, broken, kata={kata.number!r})',
        "show": f"def doubled({params}):\n    got = {first.name}({params})\n"
                f"    if isinstance(got, dict):\n        return {{k: 2 * g for k, g in got.items()}}\n"
                f"    return tuple(2 * g for g in got) if isinstance(got, tuple) else 2 * got\n\n"
                f"check({first.name!r}, doubled, kata={kata.number!r}, show=True)",
        "hint": f"hint({first.name!r}, level=2, kata={kata.number!r})",
        "quiet": f"check({first.name!r}, kata={kata.number!r}, quiet=True)",
    }
    nb.cells += [nbformat.v4.new_code_cell(src, id=f"extra-{key}") for key, src in extra.items()]
    nb = execute(nb, tmp_path)
    said = checks(nb)
    for step, out in said.items():
        assert out.startswith(f"{step}: done — matches autograd"), out
    echoed = [c.id for c in nb.cells if c.id.startswith("check-") and
              any(o.output_type in ("execute_result", "display_data") for o in c.outputs)]
    assert not echoed, f"a check cell shows its verdict twice: {echoed}"  # the report, then <dx: done>
    out = {c.id[len("extra-"):]: c for c in nb.cells if c.id.startswith("extra-")}
    for key in ("unknown", "raises", "show"):
        printed = text_of(out[key])
        assert "ERROR" not in printed and "Traceback" not in printed, printed
    assert text_of(out["unknown"]).startswith("no_such_step: not checked\ndiagnosis: no-step — no step")
    assert re.search(r"diagnosis: exception — \w+ raised ValueError: a shape I did not expect",
                     text_of(out["raises"]))
    assert "diagnosis: scale" in text_of(out["show"])
    assert any("image/png" in o.get("data", {}) for o in out["show"].outputs), "no inline picture"
    assert text_of(out["quiet"]).strip() == f"<{first.name} (kata {kata.number}): done>"
    assert text_of(out["hint"]).startswith(f"{first.name} · kata {kata.number} · hint 2 of 3")
    print(f"{kata.folder}: {len(said)} check cells, {len(said)} done")
