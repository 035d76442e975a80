"""Katas 08 and 12's data: a whole model's forward pass with autograd, as the probes of its one step.

A whole model is a module of models/ with one shape (gpt.py, Part 2's GPT;
llama.py, Part 3's Llama): its configurations (MODEL, ODD, FLOAT64, TRAIN),
parameter_names, init_parameters, init_training, make_batch, stream, forward,
forward_saved, fed_by and backward_order. `WholeModel` names one such module
with the kata whose `backward(idx, targets, params, acts)` it checks and
`train --model NAME` trains: the "model spec" that the probes, the training
check (train/follow.py), the training loop (train/gpt.py) and the `train`
command read, so a new whole model is one more entry in MODELS.

The learner's backward returns a dict of gradients, one per parameter name,
whose number depends on the configuration's layers. The whole model is the
kata's "graph": the probes (checks/probes.py) take from it what backward is
fed, what each gradient must be, the order a backward pass reaches them, and
each one's scale. Shapes: idx, targets (B, T) int64; params and acts as in the
model's module.
"""

from __future__ import annotations

import dataclasses
import functools
import types

import torch

from backprop_ninja.models import gpt, llama


@dataclasses.dataclass
class GPTTrace:
    """One configuration's forward pass with autograd: what backward is fed and what it must return."""

    cfg: gpt.GPTConfig
    batch: dict  # idx, targets (B, T) int64
    params: dict  # name -> tensor, detached
    acts: dict  # the module's saved_names -> tensor, detached and contiguous
    grads: dict  # name -> autograd's gradient through the module's forward
    scales: dict  # name -> the size of its computation
    module: types.ModuleType = gpt

    def kwargs(self) -> dict:
        """Fresh clones of everything backward is fed."""
        return {"idx": self.batch["idx"].clone(), "targets": self.batch["targets"].clone(),
                "params": {k: v.clone() for k, v in self.params.items()},
                "acts": {k: v.clone() for k, v in self.acts.items()}}

    def order(self) -> tuple[str, ...]:
        return self.module.backward_order(self.params)


@functools.lru_cache(maxsize=16)
def trace(cfg: gpt.GPTConfig, module: types.ModuleType = gpt) -> GPTTrace:
    """module.forward with loss.backward() (the yardstick), and forward_saved for the saved values.

    A gradient's scale is the largest of its own magnitude and the gradients of the
    values its parameter feeds (module.fed_by): the size of the computation that makes it.
    """
    batch = module.make_batch(cfg)
    params = {k: v.requires_grad_(True) for k, v in module.init_parameters(cfg).items()}
    _, loss = module.forward(params, batch["idx"], batch["targets"], cfg.nh)
    loss.backward()
    grads = {k: v.grad.detach() for k, v in params.items()}
    again = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    again_loss, acts, outs = module.forward_saved(again, batch["idx"], batch["targets"], cfg.nh)
    out_grads = dict(zip(outs, torch.autograd.grad(again_loss, list(outs.values()))))
    scales = {}
    for name, g in grads.items():
        sizes = [float(g.abs().max())] + [float(out_grads[o].abs().max()) for o in module.fed_by(name)]
        scales[name] = max(sizes) or 1.0
    return GPTTrace(cfg, batch, {k: v.detach() for k, v in params.items()},
                    {k: v.detach().contiguous() for k, v in acts.items()}, grads, scales, module)


@dataclasses.dataclass(frozen=True)
class WholeModel:
    """A whole model as a kata's source of probes (one model probe per configuration, a dict of
    gradients) and as what `train --model NAME` trains with that kata's backward."""

    name: str = "gpt"  # what `train --model` calls it
    module: types.ModuleType = gpt  # its configurations, forward passes and initialisations
    kata: str = "08_gpt"  # the kata folder whose backward trains it
    title: str = "a GPT"  # how a sentence names it: "training a GPT (...)"
    probe: str = "model probe"

    def __contains__(self, name: str) -> bool:
        """A gradient this model's step returns (its parameters), as for a graph's lines."""
        return name in self.module.parameter_names(self.module.MODEL)

    def trace(self, cfg) -> GPTTrace:
        """The forward pass with autograd at `cfg`, computed once."""
        return trace(cfg, self.module)

    def feeds(self, cfg) -> dict:
        """What backward is fed at `cfg`: idx, targets, and the params and acts dicts; fresh clones."""
        return self.trace(cfg).kwargs()

    def extra_names(self, cfg) -> tuple[str, ...]:
        """Nothing beyond backward's four parameters: every value it may need is in params or acts."""
        return ()


WHOLE = GPT = WholeModel()
LLAMA = WholeModel("llama", llama, "12_llama", "a Llama")
#: --model's names of the whole models, each trained with its kata's backward
MODELS = {m.name: m for m in (GPT, LLAMA)}
