"""Kata 12: the Llama's saved forward pass, its training size, the check's report, and the training check."""

import textwrap
import types

import pytest
import torch
import variants
from conftest import ROOT, after_a_step, kata_module, learner_file

from backprop_ninja.checks import mistakes
from backprop_ninja.checks.checker import check_in, check_step
from backprop_ninja.checks.mistakes.llama import _backward
from backprop_ninja.models import gpt, gpt_trace, llama
from backprop_ninja.models.katas import kata
from backprop_ninja.train import follow

LLAMA = kata("12")


def as_module(fn):
    return types.SimpleNamespace(backward=fn)


def named(name):
    return next(m for m in mistakes.of(LLAMA.folder, "backward") if m.name == name)


# --------------------------------------------------------------------------- the model's saved values

@pytest.mark.parametrize("cfg", llama.CONFIGS, ids=lambda c: c.label)
def test_forward_saved_is_forward_line_for_line(cfg):
    params, batch = llama.init_parameters(cfg), llama.make_batch(cfg)
    logits, loss = llama.forward(params, batch["idx"], batch["targets"], cfg.nh)
    again, saved, _ = llama.forward_saved(params, batch["idx"], batch["targets"], cfg.nh)
    assert torch.equal(loss, again) and torch.equal(logits, saved["logits"])
    assert tuple(saved) == llama.saved_names(cfg.n_layer)


def test_the_saved_values_have_the_documented_shapes():
    cfg = llama.MODEL
    B, T, C, nh, hs, H = cfg.B, cfg.T, cfg.C, cfg.nh, cfg.hs, cfg.H
    tr = gpt_trace.LLAMA.trace(cfg)
    assert tr.acts["cos"].shape == tr.acts["sin"].shape == (T, hs)
    assert tr.acts["h1_attn_q_rot"].shape == (B, nh, T, hs) and tr.acts["h1_attn_att"].shape == (B, nh, T, T)
    assert tr.acts["h0_rms_1_inv_rms"].shape == (B, T, 1) and tr.acts["h0_mlp_h"].shape == (B, T, H)
    assert tr.acts["rmsf_out"].shape == (B, T, C) and all(v.is_contiguous() for v in tr.acts.values())


def test_one_trace_serves_both_whole_models():
    assert LLAMA.graph is gpt_trace.LLAMA and kata("08").graph is gpt_trace.GPT
    assert gpt_trace.MODELS == {"gpt": gpt_trace.GPT, "llama": gpt_trace.LLAMA}
    assert "h0_mlp_W_gate" in LLAMA.graph and "wpe" not in LLAMA.graph and "wpe" in kata("08").graph
    assert gpt_trace.LLAMA.trace(llama.MODEL).module is llama and gpt_trace.GPT.trace(gpt.MODEL).module is gpt


def test_backward_order_runs_from_the_final_rmsnorm_to_wte():
    order = llama.backward_order(llama.parameter_names(llama.MODEL))
    assert order[:2] == ("rmsf_w", "h1_mlp_W_down") and order[-1] == "wte"
    assert sorted(order) == sorted(llama.parameter_names(llama.MODEL))


def test_the_training_model_has_the_gpts_size_and_a_gpt_style_init():
    p = llama.init_training(llama.TRAIN)
    n_llama = sum(v.numel() for v in p.values())
    n_gpt = sum(v.numel() for v in gpt.init_training(gpt.TRAIN).values())
    assert (n_llama, n_gpt) == (100_864, 102_848) and abs(n_llama - n_gpt) <= 0.1 * n_gpt
    assert set(p) == set(llama.parameter_names(llama.TRAIN))
    assert torch.equal(p["h0_rms_1_w"], torch.ones(64)) and torch.equal(p["rmsf_w"], torch.ones(64))
    assert 0.015 < float(p["wte"].std()) < 0.025 and p["h1_mlp_W_gate"].shape == (64, 172)
    for residual in ("h0_attn_W_proj", "h1_mlp_W_down"):  # 1/sqrt(2*n_layer)
        assert float(p[residual].std()) < 0.6 * float(p["h0_mlp_W_up"].std())
    assert (llama.TRAIN.B, llama.TRAIN.T, llama.TRAIN.C, llama.TRAIN.nh, llama.TRAIN.n_layer) == \
        (gpt.TRAIN.B, gpt.TRAIN.T, gpt.TRAIN.C, gpt.TRAIN.nh, gpt.TRAIN.n_layer)


# --------------------------------------------------------------------------- the report

@pytest.mark.parametrize(("name", "first"), [
    ("backward_rope_skipped", "dh1_attn_W_attn"),
    ("backward_rope_rotated_forward", "dh1_attn_W_attn"),
    ("backward_swiglu_through_the_gate_alone", "dh1_rms_2_w"),
    ("backward_final_rmsnorm_skipped", "dh1_mlp_W_down"),
    ("backward_without_the_tie", "dwte"),
])
def test_a_slip_of_a_new_layer_is_named_and_placed_by_the_first_wrong_gradient(name, first):
    m = named(name)
    verdict = check_step(LLAMA, "backward", m.fn)
    assert (verdict.status, verdict.diagnosis) == ("wrong", m.id)
    assert verdict.sentence.startswith(m.sentence)
    assert f"first wrong in backward order: {first};" in verdict.sentence


def test_a_missing_gradient_is_named():
    def without_rmsf_w(idx, targets, params, acts):
        grads = _backward(idx, targets, params, acts)
        del grads["rmsf_w"]
        return grads

    verdict = check_step(LLAMA, "backward", without_rmsf_w)
    assert verdict.diagnosis == "not-a-tensor" and "no gradient for rmsf_w" in verdict.sentence



def test_a_layer_step_not_pasted_in_yet_is_named(tmp_path):
    stub = (ROOT / "katas" / LLAMA.folder / LLAMA.module).read_text()
    rmsnorm = stub[stub.index("class rmsnorm:"):stub.index("class rope:")]  # kata 09's steps still `...`
    mine = learner_file(tmp_path, LLAMA, "import torch\n\n\n" + rmsnorm + textwrap.dedent("""
        def backward(idx, targets, params, acts):
            B, T = idx.shape
            V, C = params["wte"].shape
            dlogits = (torch.softmax(acts["logits"], -1) - torch.nn.functional.one_hot(targets, V)) / (B * T)
            dx, _ = rmsnorm.backward(dlogits @ params["wte"], params["rmsf_w"], acts["rmsf_x"],
                                     acts["rmsf_inv_rms"], acts["rmsf_norm"])
            return {"rmsf": dx + dx}
        """))

    verdict = check_in(LLAMA, mine, "backward")
    assert verdict.diagnosis == "exception" and "still has its `...` placeholder" in verdict.sentence


# --------------------------------------------------------------------------- 100 AdamW steps beside autograd

def test_the_training_check_of_kata_12_is_the_whole_models():
    assert follow.FOLLOWERS["12_llama"] is follow.FOLLOWERS["08_gpt"]


def test_the_reference_backward_trains_like_autograd():
    verdict = follow.check_training(LLAMA, kata_module("reference", LLAMA))
    assert verdict.status == "done", verdict.report


def test_the_stub_waits_as_todo():
    verdict = follow.check_training(LLAMA, kata_module("katas", LLAMA))
    assert (verdict.status, verdict.diagnosis) == ("todo", "not-implemented")


def test_a_form_slip_mid_run_stops_it_with_the_checkers_id():
    tuple_after_a_step = after_a_step(LLAMA, named("backward_returning_a_tuple").fn)
    verdict = follow.check_training(LLAMA, as_module(tuple_after_a_step), steps=3)
    assert (verdict.status, verdict.diagnosis) == ("wrong", "not-a-tensor")
    assert "at step 2, backward's result cannot update the parameters" in verdict.sentence


@pytest.mark.parametrize("fn", [fn for k, _, fn in variants.everything() if k == LLAMA.folder],
                         ids=lambda fn: fn.__name__)
def test_a_correct_variant_trains_like_autograd(fn):
    verdict = follow.check_training(LLAMA, as_module(fn), steps=20)
    assert verdict.status == "done", verdict.report
