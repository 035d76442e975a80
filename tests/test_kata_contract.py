"""The contract every kata keeps: the reference passes, the stubs are todo, the trees agree."""

import inspect

import pytest
from conftest import ROOT, built_katas, kata_module

from backprop_ninja.checks.checker import check_step
from backprop_ninja.models.hints import load_hints

STEPS = [(k, s.name) for k in built_katas() for s in k.steps]
IDS = [f"{k.number}-{s}" for k, s in STEPS]


@pytest.mark.parametrize(("kata", "step"), STEPS, ids=IDS)
def test_reference_passes_every_step(kata, step):
    verdict = check_step(kata, step, getattr(kata_module("reference", kata), step))
    assert verdict.status == "done", verdict.report


@pytest.mark.parametrize(("kata", "step"), STEPS, ids=IDS)
def test_shipped_stub_is_todo(kata, step):
    verdict = check_step(kata, step, getattr(kata_module("katas", kata), step))
    assert (verdict.status, verdict.diagnosis) == ("todo", "not-implemented")


@pytest.mark.parametrize("kata", built_katas(), ids=lambda k: k.folder)
def test_katas_and_reference_define_the_same_steps_in_order(kata):
    for tree in ("katas", "reference"):
        module = kata_module(tree, kata)
        defined = [n for n, f in vars(module).items() if inspect.isfunction(f) and f.__module__ == module.__name__]
        assert defined == list(kata.step_names), f"{tree}/{kata.folder}"
        for step in kata.steps:
            params = tuple(inspect.signature(getattr(module, step.name)).parameters)
            assert params == step.params, f"{tree}/{kata.folder}: {step.name}{params}"


@pytest.mark.parametrize("kata", built_katas(), ids=lambda k: k.folder)
def test_every_step_has_three_hint_levels(kata):
    hints = load_hints(ROOT / "katas" / kata.folder / "hints.toml")
    assert list(hints) == list(kata.step_names)
    for step, levels in hints.items():
        assert sorted(levels) == ["1", "2", "3"], step
        assert all(text.strip() for text in levels.values()), step


@pytest.mark.parametrize("kata", built_katas(), ids=lambda k: k.folder)
def test_every_stub_says_todo_with_its_task_id(kata):
    source = (ROOT / "katas" / kata.folder / kata.module).read_text()
    assert source.count("# TODO") >= len(kata.steps)
    assert source.count("raise NotImplementedError") == len(kata.steps)
