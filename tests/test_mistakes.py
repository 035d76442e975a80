"""The mutation contract: every catalogued mistake fails its step's test, and is named."""

import pytest
from conftest import built_katas

from backprop_ninja.checks import mistakes
from backprop_ninja.checks.checker import check_step
from backprop_ninja.models.katas import kata

BUILT = {k.folder for k in built_katas()}
CATALOGUE = [m for m in mistakes.everything() if m.kata in BUILT]


@pytest.mark.parametrize("m", CATALOGUE, ids=lambda m: f"{m.kata[:2]}-{m.step}-{m.name}")
def test_catalogued_mistake_fails_and_its_diagnosis_names_it(m):
    verdict = check_step(kata(m.kata), m.step, m.fn)
    assert verdict.status == "wrong", f"{m.name} passed {m.step}'s test"
    assert verdict.diagnosis == m.id, verdict.report
    assert f"diagnosis: {m.id} — " in verdict.report


@pytest.mark.parametrize("step", [(k, s.name) for k in built_katas() for s in k.steps],
                         ids=lambda ks: f"{ks[0].number}-{ks[1]}")
def test_every_step_has_at_least_one_catalogued_mistake(step):
    k, name = step
    assert mistakes.of(k.folder, name), f"no catalogued mistake for {k.folder}/{name}"
