"""The lecture's network: configuration, initialisation, and forward passes.

A forward pass is a *graph*: a table of named lines, each a function whose
parameter names are the lines (or leaves) it reads. Written once, the table
gives the autograd trace of the whole pass and, for any tensor, the lines
that consume it (what a local probe recomputes).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Callable

import torch
import torch.nn.functional as F

#: the tensors a training step updates, in the order kata 04 returns them
PARAMETERS = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")
#: the batch: integer inputs, never differentiated
BATCH = ("Xb", "Yb")
EPS = 1e-5  # batchnorm's epsilon, as in the lecture


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes and number type of one network; the defaults are the lecture's."""

    label: str = "lecture sizes"
    n: int = 32  # batch size
    n_embd: int = 10
    block_size: int = 3
    vocab_size: int = 27
    n_hidden: int = 64
    dtype: torch.dtype = torch.float32
    seed: int = 2147483647
    device: str = "cpu"
    w2_scale: float = 0.1  # the lecture's; kata 02 raises it for huge logits

    def sizes(self) -> tuple[tuple[str, int], ...]:
        """The named sizes, (name, value): two configurations with equal sizes differ only in number type."""
        return (("n", self.n), ("vocab_size", self.vocab_size), ("n_hidden", self.n_hidden),
                ("n_embd", self.n_embd), ("block_size", self.block_size))

    def size_pairs(self) -> list[tuple[str, int, int]]:
        """(name, size here, size at the lecture's sizes) for each size (kata 04 trains with 200 hidden)."""
        return [("n", self.n, LECTURE.n), ("n_embd", self.n_embd, LECTURE.n_embd),
                ("block_size", self.block_size, LECTURE.block_size),
                ("vocab_size", self.vocab_size, LECTURE.vocab_size),
                ("n_hidden", self.n_hidden, LECTURE.n_hidden), ("n_hidden", self.n_hidden, 200),
                ("block_size*n_embd", self.block_size * self.n_embd, LECTURE.block_size * LECTURE.n_embd)]

    def describe(self) -> str:
        dtype = str(self.dtype).replace("torch.", "")
        return (f"{self.label} (n={self.n}, n_embd={self.n_embd}, block_size={self.block_size}, "
                f"vocab_size={self.vocab_size}, n_hidden={self.n_hidden}, {dtype})")


LECTURE = Config()
#: sizes that share no number with the lecture: catches a hard-coded 32, 64 or 27
ODD = Config(label="odd sizes", n=5, n_embd=4, block_size=2, vocab_size=11, n_hidden=7, seed=7)
#: float64, where a tight tolerance catches small-factor slips such as a missing eps
FLOAT64 = Config(label="float64", dtype=torch.float64, seed=1337)


def init_parameters(cfg: Config) -> dict[str, torch.Tensor]:
    """The lecture's initialisation (small non-zero biases, so no gradient hides).

    Returns C (vocab_size, n_embd), W1 (block_size*n_embd, n_hidden),
    b1 (n_hidden,), W2 (n_hidden, vocab_size), b2 (vocab_size,),
    bngain and bnbias (1, n_hidden). Every tensor, bngain and bnbias too,
    comes from one generator seeded with cfg.seed, so a run is repeatable.
    """
    g = torch.Generator().manual_seed(cfg.seed)
    fan_in = cfg.n_embd * cfg.block_size

    def randn(*shape):
        return torch.randn(shape, generator=g, dtype=torch.float64)

    p = {
        "C": randn(cfg.vocab_size, cfg.n_embd),  # (vocab_size, n_embd)
        "W1": randn(fan_in, cfg.n_hidden) * (5 / 3) / fan_in**0.5,  # (fan_in, n_hidden)
        "b1": randn(cfg.n_hidden) * 0.1,  # (n_hidden,)
        "W2": randn(cfg.n_hidden, cfg.vocab_size) * cfg.w2_scale,  # (n_hidden, vocab_size)
        "b2": randn(cfg.vocab_size) * 0.1,  # (vocab_size,)
        "bngain": randn(1, cfg.n_hidden) * 0.1 + 1.0,  # (1, n_hidden)
        "bnbias": randn(1, cfg.n_hidden) * 0.1,  # (1, n_hidden)
    }
    # drawn in float64 and then cast, so float32 and float64 share values
    return {k: v.to(device=cfg.device, dtype=cfg.dtype) for k, v in p.items()}


def make_batch(cfg: Config) -> dict[str, torch.Tensor]:
    """A random batch: Xb (n, block_size) and Yb (n,), int64.

    The last character of the last example repeats the first of the first,
    so some embedding row is used twice or more in every configuration (dC
    must accumulate), while the examples themselves stay different (two
    equal rows would make a batch of 2 have zero variance).
    """
    g = torch.Generator().manual_seed(cfg.seed + 1)
    Xb = torch.randint(0, cfg.vocab_size, (cfg.n, cfg.block_size), generator=g)  # (n, block_size)
    Xb[-1, -1] = Xb[0, 0]
    Yb = torch.randint(0, cfg.vocab_size, (cfg.n,), generator=g)  # (n,)
    return {"Xb": Xb.to(cfg.device), "Yb": Yb.to(cfg.device)}


@dataclasses.dataclass(frozen=True)
class Model:
    """What a graph's leaves are, for a configuration: parameters (differentiated) and a batch (not).

    `leaves` names the leaves a step may be fed; a batch may also hold values only the
    lines read (a GPT's head count, its other blocks' parameters).
    """

    init_parameters: Callable  # cfg -> {name: float tensor}
    make_batch: Callable  # cfg -> {name: tensor or value}
    leaves: tuple[str, ...]
    probe: str = "lecture probe"  # what the true forward's probe is called in a report


#: the lecture's network: its seven parameters and a batch Xb, Yb
LECTURE_MODEL = Model(init_parameters, make_batch, PARAMETERS + BATCH)


class Graph:
    """A forward pass as an ordered table of named lines.

    Each line is a function; its parameter names are the names it reads.
    The last line is the scalar loss. `model` makes the leaves the lines read.
    """

    def __init__(self, title: str, lines: dict, model: Model = LECTURE_MODEL):
        self.title = title
        self.lines = dict(lines)
        self.model = model
        self.inputs = {name: tuple(inspect.signature(fn).parameters) for name, fn in self.lines.items()}
        self.loss = list(self.lines)[-1]

    def __contains__(self, name: str) -> bool:
        return name in self.lines or name in self.model.leaves

    def feeds(self, cfg: Config) -> dict[str, torch.Tensor]:
        """Every tensor of the forward pass at `cfg` by name (leaves, batch, lines), fresh contiguous
        clones (a GPT's q, k, v are transposed views); not the values only fused lines read (nh)."""
        return {name: t.detach().clone(memory_format=torch.contiguous_format)
                for name, t in trace(self, cfg).values.items() if torch.is_tensor(t)}

    def extra_names(self, cfg: Config) -> tuple[str, ...]:
        """Every name a step may declare beyond its table parameters: the lines, the leaves, the
        batch's names and the configuration's named sizes, each a tensor or an int; never a value
        only the lines read, such as a GPT's `params` (a dict), nor a size that is not a name ("B*T")."""
        values = {**self.model.make_batch(cfg), **dict(cfg.sizes())}
        feedable = [k for k, v in values.items()
                    if torch.is_tensor(v) or (isinstance(v, int) and not isinstance(v, bool))]
        names = (*self.lines, *self.model.leaves, *feedable)
        return tuple(name for name in dict.fromkeys(names) if name.isidentifier())

    def consumers(self, name: str) -> list[str]:
        """The lines that read `name` directly, in table order."""
        return [line for line, reads in self.inputs.items() if name in reads]

    def run(self, values: dict[str, torch.Tensor], start: str | None = None,
            stop: frozenset = frozenset()) -> dict[str, torch.Tensor]:
        """Evaluate the lines in order; return `values` updated with what was computed.

        With `start`, only the lines that depend on `start` are recomputed.
        Lines in `stop` are recomputed but not looked through: what reads
        them keeps their given value, so each stop line carries only its own
        direct dependence on `start` (the lecture's d<line> semantics).
        """
        out, seen = dict(values), dict(values)
        live = {start} if start else None
        for name, fn in self.lines.items():
            reads = self.inputs[name]
            if live is not None:
                if not any(r in live for r in reads):
                    continue
                if name not in stop:
                    live.add(name)
            out[name] = fn(*(seen[r] for r in reads))
            if name not in stop:
                seen[name] = out[name]
        return out


@dataclasses.dataclass
class Trace:
    """A forward pass run with autograd: every value and every gradient."""

    graph: Graph
    cfg: Config
    values: dict  # name -> tensor, detached
    grads: dict  # name -> d loss / d name, for every float tensor


@functools.lru_cache(maxsize=32)
def trace(graph: Graph, cfg: Config) -> Trace:
    """Run `graph` on its model's parameters and a batch, then loss.backward().

    Cached per (graph, configuration): callers must not modify what it
    returns (probes hand steps clones).
    """
    params = graph.model.init_parameters(cfg)
    for p in params.values():
        p.requires_grad_(True)
    values = {**graph.model.make_batch(cfg), **params}
    live = graph.run(values)
    for name in graph.lines:
        if live[name].requires_grad:
            live[name].retain_grad()
    live[graph.loss].backward()
    grads = {k: v.grad.detach() for k, v in live.items() if torch.is_tensor(v) and v.grad is not None}
    values = {k: v.detach() if torch.is_tensor(v) else v for k, v in live.items()}
    return Trace(graph, cfg, values, grads)


# The lecture's forward pass, exercises 1-3, "chunked into smaller steps that
# are possible to backward one at a time". n comes from a shape, never a constant.
ATOMIC = Graph("the lecture's forward pass, atomic lines", {
    "emb": lambda C, Xb: C[Xb],  # (n, block_size, n_embd)
    "embcat": lambda emb: emb.view(emb.shape[0], -1),  # (n, block_size*n_embd)
    "hprebn": lambda embcat, W1, b1: embcat @ W1 + b1,  # (n, n_hidden)
    "bnmeani": lambda hprebn: 1 / hprebn.shape[0] * hprebn.sum(0, keepdim=True),  # (1, n_hidden)
    "bndiff": lambda hprebn, bnmeani: hprebn - bnmeani,  # (n, n_hidden)
    "bndiff2": lambda bndiff: bndiff**2,  # (n, n_hidden)
    "bnvar": lambda bndiff2: 1 / (bndiff2.shape[0] - 1) * bndiff2.sum(0, keepdim=True),  # (1, n_hidden)
    "bnvar_inv": lambda bnvar: (bnvar + EPS) ** -0.5,  # (1, n_hidden)
    "bnraw": lambda bndiff, bnvar_inv: bndiff * bnvar_inv,  # (n, n_hidden)
    "hpreact": lambda bngain, bnraw, bnbias: bngain * bnraw + bnbias,  # (n, n_hidden)
    "h": lambda hpreact: torch.tanh(hpreact),  # (n, n_hidden)
    "logits": lambda h, W2, b2: h @ W2 + b2,  # (n, vocab_size)
    "logit_maxes": lambda logits: logits.max(1, keepdim=True).values,  # (n, 1)
    "norm_logits": lambda logits, logit_maxes: logits - logit_maxes,  # (n, vocab_size)
    "counts": lambda norm_logits: norm_logits.exp(),  # (n, vocab_size)
    "counts_sum": lambda counts: counts.sum(1, keepdims=True),  # (n, 1)
    "counts_sum_inv": lambda counts_sum: counts_sum**-1,  # (n, 1)
    "probs": lambda counts, counts_sum_inv: counts * counts_sum_inv,  # (n, vocab_size)
    "logprobs": lambda probs: probs.log(),  # (n, vocab_size)
    "loss": lambda logprobs, Yb: -logprobs[range(logprobs.shape[0]), Yb].mean(),  # ()
})

# Exercise 2: the same network, the loss in one call.
CROSS_ENTROPY = Graph("the lecture's forward pass with F.cross_entropy", {
    **{k: v for k, v in ATOMIC.lines.items() if k in ("emb", "embcat", "hprebn", "bnmeani", "bndiff",
                                                       "bndiff2", "bnvar", "bnvar_inv", "bnraw",
                                                       "hpreact", "h", "logits")},
    "loss": lambda logits, Yb: F.cross_entropy(logits, Yb),  # ()
})

# Exercise 4: the fused forward pass the training loop runs.
FUSED = Graph("the exercise-4 forward pass", {
    "emb": lambda C, Xb: C[Xb],  # (n, block_size, n_embd)
    "embcat": lambda emb: emb.view(emb.shape[0], -1),  # (n, block_size*n_embd)
    "hprebn": lambda embcat, W1, b1: embcat @ W1 + b1,  # (n, n_hidden)
    "bnmean": lambda hprebn: hprebn.mean(0, keepdim=True),  # (1, n_hidden)
    "bnvar": lambda hprebn: hprebn.var(0, keepdim=True, unbiased=True),  # (1, n_hidden)
    "bnvar_inv": lambda bnvar: (bnvar + EPS) ** -0.5,  # (1, n_hidden)
    "bnraw": lambda hprebn, bnmean, bnvar_inv: (hprebn - bnmean) * bnvar_inv,  # (n, n_hidden)
    "hpreact": lambda bngain, bnraw, bnbias: bngain * bnraw + bnbias,  # (n, n_hidden)
    "h": lambda hpreact: torch.tanh(hpreact),  # (n, n_hidden)
    "logits": lambda h, W2, b2: h @ W2 + b2,  # (n, vocab_size)
    "loss": lambda logits, Yb: F.cross_entropy(logits, Yb),  # ()
})
