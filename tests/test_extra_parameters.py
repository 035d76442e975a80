"""Extra parameters : a step may declare forward values, the batch, n and the sizes, by name."""

import torch
from conftest import solution_changed

from backprop_ninja.checks.chain import check_chain
from backprop_ninja.checks.checker import check_step
from backprop_ninja.checks.feeding import feedable
from backprop_ninja.models.katas import kata
from backprop_ninja.sandbox import loader

ATOMIC = kata("01")


def test_the_lectures_dcounts_line_runs_as_written_with_counts_declared():
    def dcounts(counts_sum_inv, dprobs, dcounts_sum, counts):
        return counts_sum_inv * dprobs + torch.ones_like(counts) * dcounts_sum

    assert check_step(ATOMIC, "dcounts", dcounts).status == "done"


def test_n_is_fed_as_the_batch_size_at_every_configuration():
    def dlogprobs(logprobs, Yb, n):
        assert isinstance(n, int) and n == logprobs.shape[0]
        d = torch.zeros_like(logprobs)
        d[range(n), Yb] = -1.0 / n
        return d

    assert check_step(ATOMIC, "dlogprobs", dlogprobs).status == "done"


def test_a_forward_value_and_the_batch_are_fed_at_the_local_probe_too():
    def dnorm_logits(counts, dcounts, norm_logits, Xb):
        assert Xb.dtype == torch.int64 and torch.allclose(norm_logits.exp(), counts)
        return norm_logits.exp() * dcounts

    assert check_step(ATOMIC, "dnorm_logits", dnorm_logits).status == "done"


def test_a_name_the_harness_cannot_feed_is_a_signature_verdict_listing_what_it_can():
    def dprobs(probs, dlogprobs, temperature):
        return dlogprobs / probs

    v = check_step(ATOMIC, "dprobs", dprobs)
    assert v.diagnosis == "signature"
    assert "temperature" in v.sentence and "counts_sum_inv" in v.sentence and "n_hidden" in v.sentence


def test_an_upstream_gradient_the_step_is_not_given_is_never_fed():
    def dcounts_sum(counts_sum, dcounts_sum_inv, dprobs):
        return -counts_sum**-2 * dcounts_sum_inv

    v = check_step(ATOMIC, "dcounts_sum", dcounts_sum)
    assert v.diagnosis == "signature" and "dprobs is an upstream gradient" in v.sentence


def test_what_can_be_fed_comes_from_the_graph_and_the_configuration():
    names = feedable(ATOMIC)
    assert {"Xb", "Yb", "C", "counts", "hprebn", "logprobs", "n", "n_embd", "vocab_size"} <= set(names)
    assert "seed" not in names and "dcounts" not in names


def test_the_chain_feeds_extra_parameters_too(tmp_path, root):
    folder = tmp_path / "01_atomic_graph"
    folder.mkdir()
    source = (root / "reference" / "01_atomic_graph" / "atomic_graph.py").read_text()
    old = "def dlogprobs(logprobs, Yb):"
    assert old in source
    source = source.replace(old, "def dlogprobs(logprobs, Yb, n, counts):")
    (folder / "atomic_graph.py").write_text(source)
    learner = loader.open_file(folder / "atomic_graph.py")
    assert learner.function("dlogprobs").params[2][0] == "n"
    assert check_chain(ATOMIC, learner).status == "done"


def checked(module, k, name: str):
    return check_step(k, name, loader.step_function(module, k, name))


def test_what_a_gpt_kata_can_feed_comes_from_its_model_never_params_nor_a_size_that_is_no_name():
    for number in ("05", "06", "07"):
        names = feedable(kata(number))
        assert {"x", "idx", "targets", "mask", "nh", "B", "T", "C", "hs"} <= set(names)
        assert "params" not in names and "B*T" not in names and "seed" not in names


def test_a_layernorm_step_may_declare_the_forward_value_x_and_the_size_T(tmp_path):
    module = solution_changed(tmp_path, "05_layernorm", "def dx(dout, w, norm, rstd):",
                    "def dx(dout, w, norm, rstd, x, T):\n    assert x.shape[1] == T and x.is_contiguous()")
    assert checked(module, kata("05"), "dx").status == "done"


def test_an_attention_step_may_declare_mask_and_hs_and_gets_a_view_as_a_contiguous_tensor(tmp_path):
    module = solution_changed(tmp_path, "06_attention", "def dq(k, dpreatt):\n",
                              "def dq(k, dpreatt, hs, mask, v):\n"
                              "    assert mask.shape == dpreatt.shape[-2:] and v.is_contiguous()\n")
    assert checked(module, kata("06"), "dq").status == "done"


def test_an_mlp_step_may_declare_the_head_size_and_the_batch(tmp_path):
    module = solution_changed(tmp_path, "07_mlp", "def dfch(fch, dfch_gelu):",
                    "def dfch(fch, dfch_gelu, hs, nh, idx, targets):\n    assert hs * nh == fch.shape[-1] // 4")
    assert checked(module, kata("07"), "dfch").status == "done"


def test_params_of_a_gpt_kata_is_a_signature_verdict_listing_what_can_be_fed(tmp_path):
    module = solution_changed(tmp_path, "05_layernorm", "def db(dout):", "def db(dout, params):")
    v = checked(module, kata("05"), "db")
    assert v.diagnosis == "signature"
    assert "params is not a name the harness knows" in v.sentence
    assert "mask" in v.sentence and "hs" in v.sentence and "params," not in v.sentence
    assert v.report.splitlines()[:2] == ["db: signature", f"diagnosis: signature — {v.sentence}"]  # no blank line


def test_the_called_line_shows_what_the_step_declared_beyond_the_table(tmp_path):
    module = solution_changed(tmp_path, "01_atomic_graph", "def dhprebn(dbndiff, dbnmeani):",
                              "def dhprebn(dbndiff, dbnmeani, n, hprebn):\n    return hprebn * 0")
    v = checked(module, ATOMIC, "dhprebn")
    assert "called: dhprebn(dbndiff (32, 64) float32, dbnmeani (1, 64) float32, n=32, hprebn (32, 64) float32)" \
        in v.report
