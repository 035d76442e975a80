"""The run-time diagnosis: a wrong answer is named by the rule it breaks.

Each test hands check_step a wrong answer written for the test, one that
is not in the catalogue (or with the catalogue switched off), and reads the
diagnosis a learner would see: the generic patterns must stand on their own.
"""

import pytest
import torch

from backprop_ninja.checks import diagnose, mistakes
from backprop_ninja.checks.checker import check_step
from backprop_ninja.checks.mistakes.training import _backward
from backprop_ninja.models.katas import kata

ATOMIC = kata("01_atomic_graph")
TRAINING = kata("04_training")


@pytest.fixture
def no_catalogue(monkeypatch):
    """Only the generic patterns: the catalogue has nothing to offer."""
    monkeypatch.setattr(mistakes, "of", lambda kata, step: [])


def verdict(step, fn, k=ATOMIC):
    v = check_step(k, step, fn)
    assert v.status == "wrong", v.report
    assert v.line in v.report
    return v


# --- constant factors ---------------------------------------------------------------------------

def test_an_answer_three_times_too_large_is_scale_naming_3():
    v = verdict("dW1", lambda embcat, dhprebn: 3 * (embcat.T @ dhprebn))
    assert v.diagnosis == "scale"
    assert "times 3:" in v.sentence


def test_an_answer_n_times_too_large_is_scale_naming_n_from_the_configuration():
    v = verdict("dembcat", lambda W1, dhprebn: dhprebn.shape[0] * (dhprebn @ W1.T))
    assert v.diagnosis == "scale"
    assert "times n (= 32, with n = 32)" in v.sentence
    assert "a 1/n is missing" in v.sentence


def test_an_answer_with_n_where_n_minus_1_belongs_is_bessel(no_catalogue):
    def dbndiff2(bndiff2, dbnvar):
        return 1 / bndiff2.shape[0] * torch.ones_like(bndiff2) * dbnvar
    v = verdict("dbndiff2", dbndiff2)
    assert v.diagnosis == "bessel"
    assert "(n-1)/n" in v.sentence


def test_a_factor_32_over_31_at_every_size_is_not_called_bessel(no_catalogue):
    def dbnvar(bnvar, dbnvar_inv):
        return -0.5 * (bnvar + 1e-5) ** -1.5 * dbnvar_inv * 32 / 31
    v = verdict("dbnvar", dbnvar)
    assert v.diagnosis == "scale"
    assert "times 1.032 at every size checked" in v.sentence
    assert "n/(n-1)" in v.sentence  # what it is at the lecture's sizes


def test_a_negated_and_scaled_answer_names_the_factor_and_the_sign():
    v = verdict("dh", lambda W2, dlogits: -2 * (dlogits @ W2.T))
    assert v.diagnosis == "scale"
    assert "times 2 and the opposite sign" in v.sentence


def test_a_ratio_of_two_sizes_is_named_by_their_names():
    v = verdict("dW2", lambda h, dlogits: h.T @ dlogits * h.shape[0] / dlogits.shape[1])
    assert v.diagnosis == "scale"
    assert "n/vocab_size (= 32/27 here)" in v.sentence


# --- sign ---------------------------------------------------------------------------------------

def test_a_flipped_sign_is_sign():
    v = verdict("dW2", lambda h, dlogits: -(h.T @ dlogits))
    assert v.diagnosis == "sign"
    assert "opposite sign" in v.sentence


def test_one_branch_with_the_wrong_sign_names_that_branch():
    v = verdict("dhprebn", lambda dbndiff, dbnmeani: dbndiff - dbnmeani / dbndiff.shape[0])
    assert v.diagnosis == "sign"
    assert "through bnmeani has the wrong sign" in v.sentence


# --- branches -----------------------------------------------------------------------------------

def test_one_branch_alone_is_missing_branch_naming_the_one_left_out(no_catalogue):
    v = verdict("dcounts", lambda counts_sum_inv, dprobs, dcounts_sum: dprobs / (1 / counts_sum_inv))
    assert v.diagnosis == "missing-branch"
    assert "only the gradient through probs" in v.sentence
    assert "through counts_sum is left out" in v.sentence


def test_the_max_branch_left_out_is_found_by_the_local_probe(no_catalogue):
    v = verdict("dlogits", lambda logits, dnorm_logits, dlogit_maxes: dnorm_logits * 1.0)
    assert v.diagnosis == "missing-branch"
    assert "through logit_maxes is left out" in v.sentence
    assert "local probe" in v.report


def test_one_branch_off_by_a_factor_names_the_branch_and_the_factor():
    def dcounts(counts_sum_inv, dprobs, dcounts_sum):
        return counts_sum_inv * dprobs + 2 * dcounts_sum
    v = verdict("dcounts", dcounts)
    assert v.diagnosis == "scale"
    assert "through counts_sum is off by a factor 2" in v.sentence


# --- the chain rule -----------------------------------------------------------------------------

def test_the_upstream_gradient_passed_through_is_chain_rule():
    v = verdict("dnorm_logits", lambda counts, dcounts: dcounts.clone())
    assert v.diagnosis == "chain-rule"
    assert "dcounts passed through" in v.sentence


def test_the_local_derivative_alone_is_chain_rule(no_catalogue):
    v = verdict("dhpreact", lambda h, dh: (1 - h) * (1 + h))
    assert v.diagnosis == "chain-rule"
    assert "local derivative alone" in v.sentence
    assert "dh" in v.sentence


# --- dC -----------------------------------------------------------------------------------------

def test_repeated_rows_overwritten_is_accumulate(no_catalogue):
    def dC(C, Xb, demb):
        out = torch.zeros_like(C)
        for k in range(Xb.shape[0]):
            for j in range(Xb.shape[1]):
                out[Xb[k, j]] = demb[k, j]  # = where += belongs
        return out
    v = verdict("dC", dC)
    assert v.diagnosis == "accumulate"
    assert "several times" in v.sentence


# --- shapes -------------------------------------------------------------------------------------

def test_a_dropped_size_one_dimension_where_nothing_is_summed_says_no_sum_is_needed():
    for drop in (lambda t: t.view(-1), lambda t: t.sum(0)):
        v = verdict("dbnvar", lambda bnvar, dbnvar_inv, drop=drop: drop(-0.5 * (bnvar + 1e-5) ** -1.5 * dbnvar_inv))
        assert v.diagnosis == "shape"
        assert "no sum is needed here" in v.sentence and "keepdim" not in v.sentence
        assert "Its values are right" in v.sentence


def test_a_dropped_keepdim_says_the_values_are_right_and_what_the_lectures_cmp_accepted():
    v = verdict("dbnmeani", lambda dbndiff: (-dbndiff).sum(0))
    assert v.diagnosis == "keepdim"
    assert "Its values are right" in v.sentence
    assert "the lecture's cmp compared (64,) with (1, 64) by broadcasting" in v.sentence
    assert "keepdim=True makes it the shape of bnmeani" in v.sentence


def test_a_kept_dimension_that_must_go_is_keepdim_saying_so():
    v = verdict("db1", lambda dhprebn: dhprebn.sum(0)[None, :] * 1.0)
    assert v.diagnosis == "keepdim"
    assert "must go" in v.sentence


def test_a_transposed_result_is_transposed():
    v = verdict("dbnraw", lambda bngain, dhpreact: (bngain * dhpreact).T)
    assert v.diagnosis == "transposed"


def test_an_unsummed_broadcast_is_missing_sum_with_the_sum_to_write():
    v = verdict("dbngain", lambda bnraw, dhpreact: 2 * bnraw * dhpreact)
    assert v.diagnosis == "missing-sum"
    assert ".sum(0, keepdim=True)" in v.sentence


def test_a_sum_over_the_wrong_dimension_says_which_dimension():
    v = verdict("dbnbias", lambda dhpreact: dhpreact.sum(1, keepdim=True))
    assert v.diagnosis == "shape"
    assert "sum over dim 1" in v.sentence
    assert ".sum(0, keepdim=True)" in v.sentence


def test_a_sum_not_broadcast_back_says_to_spread_it():
    v = verdict("dhprebn", lambda dbndiff, dbnmeani: dbnmeani / dbndiff.shape[0])
    assert v.diagnosis == "shape"
    assert "the shape of dbnmeani" in v.sentence
    assert "broadcast" in v.sentence


def test_a_shape_from_the_lecture_at_odd_sizes_is_hard_coded():
    def dlogprobs(logprobs, Yb):
        out = torch.zeros(32, 27)
        out[range(logprobs.shape[0]), Yb] = -1.0 / logprobs.shape[0]
        return out
    v = verdict("dlogprobs", dlogprobs)
    assert v.diagnosis == "hard-coded"
    assert "32 is n (the batch size) at the lecture sizes, which is 5 here" in v.sentence
    assert "27 is vocab_size at the lecture sizes, which is 11 here" in v.sentence


# --- sizes and precision ------------------------------------------------------------------------

def test_values_right_only_at_the_lecture_sizes_are_hard_coded_with_a_guess():
    v = verdict("dhprebn", lambda dbndiff, dbnmeani: dbndiff + dbnmeani / 32)
    assert v.diagnosis == "hard-coded"
    assert "odd sizes" in v.sentence


def test_a_slip_only_float64_sees_is_named_as_such():
    v = verdict("dbnvar", lambda bnvar, dbnvar_inv: -0.5 * (bnvar + 1.001e-5) ** -1.5 * dbnvar_inv)
    assert v.diagnosis == "precision"
    assert "right to float32 precision but off in float64" in v.sentence


# --- nothing known ------------------------------------------------------------------------------

def test_wrong_values_name_the_worst_index_and_how_many_elements_differ():
    def dW1(embcat, dhprebn):
        out = embcat.T @ dhprebn
        out[3, 5] += 1.0
        return out
    v = verdict("dW1", dW1)
    assert v.diagnosis == "wrong-values"
    assert "1 of 1920 elements differ" in v.sentence
    assert "the worst at [3, 5]" in v.sentence


def test_zeros_where_the_gradient_is_not_zero_say_so():
    v = verdict("dW2", lambda h, dlogits: torch.zeros_like(h.T @ dlogits))
    assert v.diagnosis == "zero"
    assert "zero everywhere" in v.sentence


# --- the catalogue first ------------------------------------------------------------------------

def test_an_answer_equal_to_a_catalogued_mistake_is_named_by_it_however_written():
    v = verdict("dcounts", lambda counts_sum_inv, dprobs, dcounts_sum: dprobs / (1 / counts_sum_inv))
    (m,) = [m for m in mistakes.of("01_atomic_graph", "dcounts") if m.name == "dcounts_without_the_sum_branch"]
    assert v.diagnosis == m.id
    assert v.sentence == m.sentence


def test_a_catalogued_wrong_shape_is_named_by_the_catalogue():
    v = verdict("db2", lambda dlogits: dlogits.T.sum(0))
    (m,) = [m for m in mistakes.of("01_atomic_graph", "db2") if m.name == "db2_wrong_dim"]
    assert (v.diagnosis, v.sentence) == (m.id, m.sentence)


# --- a step with several gradients --------------------------------------------------------------

def test_kata_04_says_which_gradients_are_right_and_where_the_slip_lies():
    def backward(Xb, Yb, C, W1, b1, W2, b2, bngain, bnbias, emb, embcat, hprebn, bnvar_inv, bnraw, h, logits):
        dC, dW1, db1, dW2, db2, dbngain, dbnbias = _backward(**locals())
        return -dC, -dW1, -db1, dW2, db2, dbngain, dbnbias  # a sign slip between hpreact and hprebn
    v = verdict("backward", backward, TRAINING)
    assert v.diagnosis == "sign", v.report
    assert "right: dW2, db2, dbngain, dbnbias" in v.sentence
    assert "after dbnbias and before dW1" in v.sentence


def test_factor_names_cover_the_batch_size_and_bessel():
    cfg = ATOMIC.configs[1]  # odd sizes, n = 5
    assert diagnose.numbers._factor(5.0, cfg)[0].startswith("n (= 5")
    assert diagnose.numbers._factor(0.2, cfg)[0].startswith("1/n")
    assert diagnose.numbers._factor(1.25, cfg)[0].startswith("n/(n-1)")
    assert diagnose.numbers._factor(3.0, cfg)[0] == "3"


# --- a claim holds at every probe ---------------------------------------------------------------

def test_tanh_of_the_upstream_is_not_called_a_pass_through():
    v = verdict("dhpreact", lambda h, dh: (1 - dh**2) * dh)
    assert v.diagnosis == "wrong-values", v.sentence
    assert "passed through" not in v.sentence


def test_a_sum_branch_divided_by_the_width_is_not_called_a_missing_branch():
    v = verdict("dcounts", lambda counts_sum_inv, dprobs, dcounts_sum:
                counts_sum_inv * dprobs + dcounts_sum / dprobs.shape[1])
    assert v.diagnosis == "wrong-values", v.sentence
    assert "left out" not in v.sentence


def test_plus_typed_for_times_in_a_chain_rule_line_is_named():
    v = verdict("dhpreact", lambda h, dh: (1.0 - h**2) + dh)
    assert v.diagnosis == "chain-rule"
    assert "`* dh` where the line has `+ dh`" in v.sentence


# --- what the learner reads beside the diagnosis ------------------------------------------------

def test_float64_values_are_printed_with_the_digits_that_differ():
    from backprop_ninja.checks.compare import figures

    assert figures(-0.0033950317, -0.003395) == ("-0.00339503", "-0.003395")
    assert figures(-0.0033949963, -0.0033949959) == ("-0.0033949963", "-0.0033949959")


def test_a_hard_coded_diagnosis_quotes_the_line_that_holds_the_number(tmp_path):
    from backprop_ninja.sandbox import loader

    path = tmp_path / "mine.py"
    path.write_text("import torch\n\n\ndef dhprebn(dbndiff, dbnmeani):\n    n = 32\n"
                    "    return dbndiff + dbnmeani / n\n")
    v = verdict("dhprebn", loader.load(path).dhprebn)
    assert v.diagnosis == "hard-coded"
    assert "your line 5 holds it: `n = 32`" in v.sentence


def test_a_step_with_several_gradients_is_headed_by_the_first_wrong_one_in_backward_order():
    def backward(**kw):
        grads = list(_backward(**kw))
        grads[1] = grads[1] * 2  # dW1
        grads[0] = grads[0] * 2  # dC, which the backward pass reaches last
        return tuple(grads)

    v = verdict("backward", backward, TRAINING)
    assert v.report.startswith("backward: dW1 is wrong")
    called = next(line for line in v.report.splitlines() if line.startswith("  called:"))
    assert "Xb" not in called and "emb " not in called and "embcat (" in called
    assert "more dW1 does not depend on" in called
