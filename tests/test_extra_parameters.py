"""Extra parameters (DESIGN §2): a step may declare forward values, the batch, n and the sizes, by name."""

import torch

from backprop_ninja import loader
from backprop_ninja.checker import check_chain, check_step, feedable
from backprop_ninja.katas import kata

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
