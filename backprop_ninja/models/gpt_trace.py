"""Kata 08's data: the whole GPT's forward pass with autograd, as the probes of its one step.

The learner's `backward(idx, targets, params, acts)` returns a dict of
gradients, one per parameter name (gpt.parameter_names), whose number depends
on the configuration's layers. The whole model is kata 08's "graph": the
probes (checks/probes.py) take from it what backward is fed, what each
gradient must be, the order a backward pass reaches them, and each one's
scale. Shapes: idx, targets (B, T) int64; params and acts as in models/gpt.py.
"""

from __future__ import annotations

import dataclasses
import functools

import torch

from backprop_ninja.models import gpt


@dataclasses.dataclass
class GPTTrace:
    """One configuration's forward pass with autograd: what backward is fed and what it must return."""

    cfg: gpt.GPTConfig
    batch: dict  # idx, targets (B, T) int64
    params: dict  # name -> tensor, detached
    acts: dict  # gpt.saved_names -> tensor, detached and contiguous
    grads: dict  # name -> autograd's gradient through gpt.forward
    scales: dict  # name -> the size of its computation

    def kwargs(self) -> dict:
        """Fresh clones of everything backward is fed."""
        return {"idx": self.batch["idx"].clone(), "targets": self.batch["targets"].clone(),
                "params": {k: v.clone() for k, v in self.params.items()},
                "acts": {k: v.clone() for k, v in self.acts.items()}}

    def order(self) -> tuple[str, ...]:
        return gpt.backward_order(self.params)


@functools.lru_cache(maxsize=16)
def trace(cfg: gpt.GPTConfig) -> GPTTrace:
    """gpt.forward with loss.backward() (the yardstick), and forward_saved for the saved values.

    A gradient's scale is the largest of its own magnitude and the gradients of the
    values its parameter feeds (gpt.fed_by): the size of the computation that makes it.
    """
    batch = gpt.make_batch(cfg)
    params = {k: v.requires_grad_(True) for k, v in gpt.init_parameters(cfg).items()}
    _, loss = gpt.forward(params, batch["idx"], batch["targets"], cfg.nh)
    loss.backward()
    grads = {k: v.grad.detach() for k, v in params.items()}
    again = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    again_loss, acts, outs = gpt.forward_saved(again, batch["idx"], batch["targets"], cfg.nh)
    out_grads = dict(zip(outs, torch.autograd.grad(again_loss, list(outs.values()))))
    scales = {}
    for name, g in grads.items():
        sizes = [float(g.abs().max())] + [float(out_grads[o].abs().max()) for o in gpt.fed_by(name)]
        scales[name] = max(sizes) or 1.0
    return GPTTrace(cfg, batch, {k: v.detach() for k, v in params.items()},
                    {k: v.detach().contiguous() for k, v in acts.items()}, grads, scales)


@dataclasses.dataclass(frozen=True)
class WholeModel:
    """The whole GPT as a kata's source of probes: one model probe per configuration, a dict of gradients."""

    probe: str = "model probe"

    def __contains__(self, name: str) -> bool:
        """A gradient this model's step returns (its parameters), as for a graph's lines."""
        return name in gpt.parameter_names(gpt.MODEL)

    def feeds(self, cfg: gpt.GPTConfig) -> dict:
        """What backward is fed at `cfg`: idx, targets, and the params and acts dicts; fresh clones."""
        return trace(cfg).kwargs()

    def extra_names(self, cfg: gpt.GPTConfig) -> tuple[str, ...]:
        """Nothing beyond backward's four parameters: every value it may need is in params or acts."""
        return ()


WHOLE = WholeModel()
