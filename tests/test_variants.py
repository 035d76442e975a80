"""Correct variants pass: a right answer written another way is never failed."""

import pytest
import variants

from backprop_ninja.checks.checker import check_step
from backprop_ninja.models.katas import kata

VARIANTS = variants.everything()


@pytest.mark.parametrize(("folder", "step", "fn"), VARIANTS, ids=[f"{k[:2]}-{s}-{f.__name__}" for k, s, f in VARIANTS])
def test_correct_variant_passes(folder, step, fn):
    verdict = check_step(kata(folder), step, fn)
    assert verdict.status == "done", verdict.report
