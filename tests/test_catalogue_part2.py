"""Part 2's slips, written as a learner writes them, fail and are named; ids mean one thing each."""

import math
import re
from pathlib import Path

import numpy as np
import torch

from backprop_ninja.checks import mistakes
from backprop_ninja.checks.checker import check_step
from backprop_ninja.models.katas import kata

ROOT = Path(__file__).resolve().parents[1]
S = math.sqrt(2 / math.pi)


def verdict(folder, step, fn):
    v = check_step(kata(folder), step, fn)
    assert v.status == "wrong", v.report
    return v


# --- kata 07: the GELU ------------------------------------------------------------------------

def test_the_3_of_the_cube_dropped_is_named():
    def dfch(fch, dfch_gelu):
        u = S * (fch + 0.044715 * fch**3)
        du = S * (1 + 0.044715 * fch**2)  # the 3 of d(fch**3) dropped
        t = torch.tanh(u)
        return (0.5 * (1 + t) + 0.5 * fch * (1 - t * t) * du) * dfch_gelu
    v = verdict("07_mlp", "dfch", dfch)
    assert v.diagnosis == "missing-factor"
    assert "the 3 of d(fch**3) is dropped" in v.sentence
    assert "sqrt(2/pi)*(1 + 3*0.044715*fch**2)" in v.sentence


def test_a_float64_result_of_numpy_promotion_is_told_to_convert_back():
    def dfch(fch, dfch_gelu):
        x = fch.numpy()
        s = np.sqrt(2 / np.pi)  # a np.float64: NumPy 2 promotes the float32 array with it
        t = np.tanh(s * (x + 0.044715 * x**3))
        local = 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * s * (1 + 3 * 0.044715 * x**2)
        return torch.from_numpy(local) * dfch_gelu
    v = verdict("07_mlp", "dfch", dfch)
    assert v.diagnosis == "dtype"
    assert "NumPy promoted it" in v.sentence  # the catalogue's sentence, not the generic one
    assert "end with .to(fch.dtype)" in v.sentence


# --- kata 06: the mask and the scale ------------------------------------------------------------

def test_the_forwards_minus_inf_mask_copied_into_dpreatt_is_named_not_non_finite():
    def dpreatt(att, datt, mask):
        d = att * (datt - (att * datt).sum(-1, keepdim=True))
        return d.masked_fill(mask == 0, float("-inf"))
    v = verdict("06_attention", "dpreatt", dpreatt)
    assert v.diagnosis == "mask", v.report
    assert "-inf" in v.sentence and "leave out the masked_fill" in v.sentence


def test_the_mask_transposed_is_named():
    def dpreatt(att, datt, mask):
        d = att * (datt - (att * datt).sum(-1, keepdim=True))
        return d.masked_fill(mask.T == 0, 0.0)
    v = verdict("06_attention", "dpreatt", dpreatt)
    assert v.diagnosis == "mask", v.report
    assert "mask.T" in v.sentence


def test_a_single_heads_scale_on_heads_is_named_with_nh():
    def dq(k, dpreatt, C):
        return (dpreatt @ k) * C**-0.5
    v = verdict("06_attention", "dq", dq)
    assert v.diagnosis == "scale", v.report
    assert "C**-0.5 is off by nh**-0.5" in v.sentence


# --- one meaning per id -------------------------------------------------------------------------

def test_no_catalogued_mistake_is_called_wrong_values():
    """wrong-values means nothing matched; a catalogued slip always has its own id."""
    found = [f"{m.kata}/{m.step}/{m.name}" for m in mistakes.everything() if m.id == "wrong-values"]
    assert found == []


def test_every_id_the_catalogue_uses_is_listed_in_the_readme_and_contributing():
    ids = {m.id for m in mistakes.everything()}
    for doc in ("README.md", "CONTRIBUTING.md"):
        listed = set(re.findall(r"`([a-z0-9-]+)`", (ROOT / doc).read_text()))
        assert ids <= listed, (doc, sorted(ids - listed))


# --- the two generic rules ----------------------------------------------------------------------

def test_a_number_that_is_no_size_of_the_kata_is_told_right_if_the_size_were_that_number():
    v = verdict("06_attention", "dq", lambda k, dpreatt: (dpreatt @ k) * 32**-0.5)
    assert v.diagnosis == "hard-coded", v.report
    assert "right if hs were 32" in v.sentence


def test_a_constant_factor_is_not_called_a_size():
    v = verdict("05_layernorm", "db", lambda dout: dout.sum((0, 1)) / 32)
    assert v.diagnosis == "scale", v.report


def test_a_constant_with_float32_digits_is_told_so_not_a_missing_eps():
    def dfch(fch, dfch_gelu):
        s = 0.79788456  # sqrt(2/pi) to float32's digits
        t = torch.tanh(s * (fch + 0.044715 * fch**3))
        return (0.5 * (1 + t) + 0.5 * fch * (1 - t**2) * s * (1 + 3 * 0.044715 * fch**2)) * dfch_gelu
    v = verdict("07_mlp", "dfch", dfch)
    assert v.diagnosis == "precision", v.report
    assert "0.79788456 for sqrt(2/pi)" in v.sentence


def test_an_answer_wrong_in_float64_beyond_float32_precision_is_not_called_a_precision_slip():
    def dfch(fch, dfch_gelu):
        t = torch.tanh(S * (fch + 0.044715 * fch**3))
        right = (0.5 * (1 + t) + 0.5 * fch * (1 - t**2) * S * (1 + 3 * 0.044715 * fch**2)) * dfch_gelu
        return right * 1.01 if fch.dtype == torch.float64 else right
    v = verdict("07_mlp", "dfch", dfch)
    assert v.diagnosis != "precision", v.report
