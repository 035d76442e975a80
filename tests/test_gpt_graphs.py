"""Part 2's graphs: each is the whole small GPT, with one layer written as named lines."""

import pytest
import torch

from backprop_ninja.checks.probes import probes
from backprop_ninja.models import gpt
from backprop_ninja.models.katas import kata
from backprop_ninja.models.lecture import trace

GRAPHS = {"05": gpt.LAYERNORM, "06": gpt.ATTENTION, "07": gpt.MLP}
CONFIGS = (gpt.MODEL, gpt.ODD, gpt.FLOAT64)


@pytest.mark.parametrize("number", GRAPHS)
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.label)
def test_each_layer_graph_computes_the_models_loss(number, cfg):
    batch = gpt.make_batch(cfg)
    _, loss = gpt.forward(gpt.init_parameters(cfg), batch["idx"], batch["targets"], cfg.nh)
    assert torch.equal(trace(GRAPHS[number], cfg).values["loss"], loss.detach())


@pytest.mark.parametrize("number", GRAPHS)
def test_the_layers_input_is_read_by_the_layer_alone(number):
    """So dx is the gradient through the layer, not the residual stream's as well."""
    graph = GRAPHS[number]
    assert len(graph.consumers("x")) == (2 if number == "05" else 1)  # layernorm: mean and xshift
    assert trace(graph, gpt.MODEL).grads["x"].abs().max() > 0


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.label)
def test_no_two_sizes_coincide_within_a_configuration(cfg):
    sizes = [cfg.B, cfg.T, cfg.nh, cfg.hs, cfg.C, cfg.B * cfg.T]
    assert len(set(sizes)) == len(sizes)


def test_the_attention_is_far_from_uniform_and_masked():
    att = trace(gpt.ATTENTION, gpt.MODEL).values["att"]  # (B, nh, T, T)
    assert torch.equal(att.triu(1), torch.zeros_like(att))
    assert att[..., -1, :].max() > 2 / att.shape[-1]


def test_every_tensor_a_step_receives_is_contiguous():
    """q, k and v are transposed views in the forward; a step gets fresh contiguous copies."""
    k = kata("06")
    for name in ("dq", "dk", "datt", "dv", "dqkv"):
        for probe in probes(k.step(name), k.graph, gpt.MODEL):
            assert all(t.is_contiguous() for t in probe.kwargs.values()), (name, probe.label)


def test_the_true_forwards_probe_is_called_the_model_probe():
    k = kata("05")
    assert [p.label for p in probes(k.step("dx"), k.graph, gpt.MODEL)] == ["model probe", "local probe"]
