"""Kata 08: the saved forward pass, the check's report, and the 100-step training check."""

import textwrap
import types

import pytest
import torch
import variants
from conftest import ROOT, kata_module, learner_file

from backprop_ninja.checks import mistakes
from backprop_ninja.checks.checker import check_in, check_step
from backprop_ninja.checks.mistakes.gpt import _backward
from backprop_ninja.models import gpt, gpt_trace
from backprop_ninja.models.katas import kata
from backprop_ninja.sandbox import loader
from backprop_ninja.train import follow

GPT = kata("08")


def as_module(fn):
    return types.SimpleNamespace(backward=fn)


def reference():
    return kata_module("reference", GPT).backward


# --------------------------------------------------------------------------- the model's saved values

@pytest.mark.parametrize("cfg", [gpt.MODEL, gpt.ODD, gpt.FLOAT64], ids=lambda c: c.label)
def test_forward_saved_is_forward_line_for_line(cfg):
    params, batch = gpt.init_parameters(cfg), gpt.make_batch(cfg)
    logits, loss = gpt.forward(params, batch["idx"], batch["targets"], cfg.nh)
    again, saved, _ = gpt.forward_saved(params, batch["idx"], batch["targets"], cfg.nh)
    assert torch.equal(loss, again) and torch.equal(logits, saved["logits"])
    assert tuple(saved) == gpt.saved_names(cfg.n_layer)


def test_the_saved_values_have_the_documented_shapes():
    cfg = gpt.MODEL
    B, T, C, nh, hs = cfg.B, cfg.T, cfg.C, cfg.nh, cfg.hs
    tr = gpt_trace.trace(cfg)
    assert tr.acts["h1_attn_q"].shape == (B, nh, T, hs) and tr.acts["h1_attn_att"].shape == (B, nh, T, T)
    assert tr.acts["h0_ln_1_rstd"].shape == (B, T, 1) and tr.acts["h0_mlp_fch"].shape == (B, T, 4 * C)
    assert all(v.is_contiguous() for v in tr.acts.values())


def test_backward_order_ends_with_wte_after_wpe():
    order = gpt.backward_order(gpt.parameter_names(gpt.MODEL))
    assert order[:2] == ("lnf_b", "lnf_w") and order[-2:] == ("wpe", "wte")
    assert sorted(order) == sorted(gpt.parameter_names(gpt.MODEL))


def test_training_init_is_gpt2s():
    p = gpt.init_training(gpt.TRAIN)
    assert set(p) == set(gpt.parameter_names(gpt.TRAIN))
    assert torch.equal(p["h0_ln_1_w"], torch.ones(64)) and torch.equal(p["h1_mlp_b_fc"], torch.zeros(256))
    assert 0.015 < float(p["wte"].std()) < 0.025
    assert float(p["h0_mlp_W_proj"].std()) < 0.6 * float(p["h0_mlp_W_fc"].std())  # 1/sqrt(2*n_layer)


# --------------------------------------------------------------------------- the report

def test_a_slip_is_placed_by_the_first_wrong_gradient_in_backward_order():
    def doubled_W_fc(idx, targets, params, acts):
        grads = _backward(idx, targets, params, acts)
        grads["h0_mlp_W_fc"] = 2 * grads["h0_mlp_W_fc"]
        return grads

    verdict = check_step(GPT, "backward", doubled_W_fc)
    assert (verdict.status, verdict.diagnosis) == ("wrong", "scale")
    assert "first wrong in backward order: dh0_mlp_W_fc" in verdict.sentence
    assert "times 2" in verdict.sentence


def test_a_catalogued_slip_early_in_the_pass_names_what_follows_as_inherited():
    m = next(m for m in mistakes.of(GPT.folder, "backward") if m.name == "backward_attention_without_scale")
    verdict = check_step(GPT, "backward", m.fn)
    assert "first wrong in backward order: dh1_attn_b_attn" in verdict.sentence
    assert "after dh1_attn_W_proj" in verdict.sentence and "inherits" in verdict.sentence


def test_a_missing_gradient_is_named():
    def without_wpe(idx, targets, params, acts):
        grads = _backward(idx, targets, params, acts)
        del grads["wpe"]
        return grads

    verdict = check_step(GPT, "backward", without_wpe)
    assert verdict.diagnosis == "not-a-tensor" and "no gradient for wpe" in verdict.sentence


def test_a_value_in_the_dict_that_is_not_a_tensor_is_named_by_its_key():
    def numpy_wpe(idx, targets, params, acts):
        grads = _backward(idx, targets, params, acts)
        grads["wpe"] = grads["wpe"].numpy()
        return grads

    verdict = check_step(GPT, "backward", numpy_wpe)
    assert verdict.diagnosis == "not-a-tensor"
    assert "grads['wpe'] (dwpe) must be a torch.Tensor" in verdict.sentence and "a NumPy array" in verdict.sentence


def test_a_change_in_place_names_the_tensor_by_its_dict_and_key():
    verdict = check_step(GPT, "backward", next(m.fn for m in mistakes.of(GPT.folder, "backward")
                                               if m.name == "backward_softmax_in_place_on_the_logits"))
    assert verdict.diagnosis == "mutated-input" and "acts['logits']" in verdict.sentence


@pytest.mark.parametrize("number", ["08", "12"])
@pytest.mark.parametrize(("line", "ident"), [
    ("    loss.backward()", "autograd"),
    ("    from backprop_ninja.checks.mistakes.{name} import _backward", "not-your-own"),
])
def test_the_scan_reads_a_whole_models_file_like_any_other(tmp_path, number, line, ident):
    whole = kata(number)  # kata 08's GPT or kata 12's Llama
    solved = (ROOT / "reference" / whole.folder / whole.module).read_text()
    line = line.format(name=whole.folder[3:])
    mine = learner_file(tmp_path, whole, solved + f"\n\ndef helper(loss):\n{line}\n")
    assert check_in(whole, mine, "backward").diagnosis == ident
    assert follow.check_training(whole, mine).diagnosis == ident


def test_an_exit_or_a_hidden_requires_grad_says_so_as_for_any_step():
    def exits(idx, targets, params, acts):
        import os

        os._exit(3)

    def attaches(idx, targets, params, acts):
        grads = _backward(idx, targets, params, acts)
        getattr(grads["wte"], "requires" + "_grad_")()  # spelled so that only the worker sees it
        return grads

    assert check_step(GPT, "backward", exits).diagnosis == "exit"
    assert check_step(GPT, "backward", attaches).diagnosis == "graph-attached"



def test_a_layer_step_not_pasted_in_yet_is_named(tmp_path):
    stub = (ROOT / "katas" / GPT.folder / GPT.module).read_text()
    layernorm = stub[stub.index("class layernorm:"):stub.index("class attention:")]  # kata 05's steps still `...`
    mine = learner_file(tmp_path, GPT, "import torch\n\n\n" + layernorm + textwrap.dedent("""
        def backward(idx, targets, params, acts):
            B, T = idx.shape
            V, C = params["wte"].shape
            dlogits = (torch.softmax(acts["logits"], -1) - torch.nn.functional.one_hot(targets, V)) / (B * T)
            dlnf = dlogits @ params["wte"]
            dx, _, _ = layernorm.backward(dlnf, params["lnf_w"], acts["lnf_norm"], acts["lnf_rstd"])
            return {"lnf": dx + dx}
        """))

    verdict = check_in(GPT, mine, "backward")
    assert verdict.diagnosis == "exception" and "still has its `...` placeholder" in verdict.sentence


def test_changing_a_parameter_in_place_is_caught():
    def zeroing_wte(idx, targets, params, acts):
        grads = _backward(idx, targets, params, acts)
        params["wte"].zero_()
        return grads

    assert check_step(GPT, "backward", zeroing_wte).diagnosis == "mutated-input"


# --------------------------------------------------------------------------- 100 AdamW steps beside autograd

def test_the_reference_backward_trains_like_autograd():
    verdict = follow.check_training(GPT, kata_module("reference", GPT))
    assert verdict.status == "done", verdict.report


def test_the_stub_waits_as_todo():
    verdict = follow.check_training(GPT, kata_module("katas", GPT))
    assert (verdict.status, verdict.diagnosis) == ("todo", "not-implemented")


def stale_dwte_buffer(tmp_path) -> loader.Learner:
    """A backward that keeps dwte's buffer between calls and forgets to zero it: right on the first call.

    A file, not a function of this test: the worker imports a file once and its
    module keeps the buffer from call to call, as a learner's file would.
    """
    solved = (ROOT / "reference" / GPT.folder / GPT.module).read_text()
    return learner_file(tmp_path, GPT, solved + textwrap.dedent("""

        right = backward
        kept = {}


        def backward(idx, targets, params, acts):
            grads = right(idx, targets, params, acts)
            wte = params["wte"]
            buffer = kept.setdefault((wte.shape, wte.dtype, wte.device), torch.zeros_like(wte))
            buffer += grads["wte"]  # the buffer should start from zero at every call
            grads["wte"] = buffer.clone()
            return grads
        """))


def test_a_slip_past_every_gradient_check_is_caught_by_training(tmp_path):
    mine = stale_dwte_buffer(tmp_path)
    assert check_in(GPT, mine, "backward").status == "done"
    verdict = follow.check_training(GPT, mine)
    assert (verdict.status, verdict.diagnosis) == ("wrong", "kept-state")
    assert "backward gave other gradients for the same inputs when called again" in verdict.sentence


@pytest.mark.parametrize("fn", [fn for k, _, fn in variants.everything() if k == GPT.folder],
                         ids=lambda fn: fn.__name__)
def test_a_correct_variant_trains_like_autograd(fn):
    verdict = follow.check_training(GPT, as_module(fn))
    assert verdict.status == "done", verdict.report
