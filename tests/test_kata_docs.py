"""The katas' words are true to the harness and to the lecture."""

import ast

import pytest
from conftest import ROOT

from backprop_ninja.models.katas import KATAS

PART_1 = [k for k in KATAS if k.number in ("01", "02", "03", "04")]


@pytest.mark.parametrize("kata", PART_1, ids=lambda k: k.folder)
def test_every_stub_says_it_may_declare_forward_values_the_batch_or_n(kata):
    tree = ast.parse((ROOT / "katas" / kata.folder / kata.module).read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in kata.step_names:
            doc = ast.get_docstring(node)
            assert "any forward value of the graph, the batch Xb/Yb, or n" in doc, node.name


@pytest.mark.parametrize("kata", PART_1, ids=lambda k: k.folder)
def test_every_kata_readme_says_so_too(kata):
    text = " ".join((ROOT / "katas" / kata.folder / "README.md").read_text().split())
    assert "any forward value of the graph, the batch `Xb`/`Yb`, or `n`" in text


def test_kata_01_carries_the_notebooks_remarks_beside_their_lines():
    readme = (ROOT / "katas" / "01_atomic_graph" / "README.md").read_text()
    stub = (ROOT / "katas" / "01_atomic_graph" / "atomic_graph.py").read_text()
    for remark in ("can't get backprop to be bit exact", "numerical stability", "Bessel's correction"):
        assert remark in readme
    for remark in ("not bit-exact", "numerical stability", "Bessel's correction"):
        assert remark in stub


def test_the_reference_cross_entropy_pulls_the_correct_class_up():
    assert "pulled up" in (ROOT / "reference" / "02_cross_entropy" / "cross_entropy.py").read_text()
