"""The local probe's random upstream is zero where the model makes it zero by structure, and only there."""

import torch

from backprop_ninja.checks.probes import local_probe
from backprop_ninja.models.katas import kata

ATTENTION = kata("06_attention")


def _local(step_name, cfg):
    (step,) = [s for s in ATTENTION.steps if s.name == step_name]
    return local_probe(step, ATTENTION.graph, cfg)


def test_dpreatt_fed_to_dq_and_dk_is_zero_above_the_diagonal_at_every_configuration():
    for cfg in ATTENTION.configs:
        for name in ("dq", "dk"):
            dpreatt = _local(name, cfg).kwargs["dpreatt"]
            T = dpreatt.shape[-1]
            above = ~torch.ones(T, T, dtype=torch.bool).tril()
            assert (dpreatt[..., above] == 0).all(), (name, cfg.label)
            assert (dpreatt[..., ~above] != 0).sum() > 0, (name, cfg.label)


def test_datt_stays_dense():
    for cfg in ATTENTION.configs:
        probe = _local("dpreatt", cfg)
        assert (probe.kwargs["datt"] != 0).all(), cfg.label
        assert (probe.expected[0] != 0).any()
