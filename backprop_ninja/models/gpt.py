"""Part 2's model: a small GPT (GPT-2's architecture at toy size), character-level on names.

Token + position embedding, pre-LN blocks (layernorm -> causal self-attention ->
residual; layernorm -> MLP with tanh-GELU -> residual), a final layernorm, and an
lm_head tied to the token embedding (`logits = lnf @ wte.T`). No dropout.

Shapes: B batch, T time, C channels, nh heads, hs = C/nh head size, V vocabulary.
The layer functions below are the katas' forward lines, written once; katas 05-07
check the gradients of one layer inside this model, kata 08 the whole model.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from backprop_ninja.models.lecture import Graph, Model

EPS = 1e-5  # layernorm's epsilon, as in GPT-2 and llm.c

#: a handful of names, built in so that kata checks never need names.txt; the model
#: probe's batches are cut from their stream ("emma.olivia.ava. ..."), so tokens repeat
NAMES = ("emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper", "evelyn",
         "abigail", "emily", "elizabeth", "mila", "ella", "avery", "sofia", "camila", "aria", "scarlett",
         "liam", "noah", "oliver", "elijah", "james", "william", "benjamin", "lucas", "henry", "theodore")


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    """Sizes and number type of one small GPT; the defaults are the checks' model sizes.

    No two of B, T, nh, hs, C and B*T coincide within a configuration, and none is
    shared between the model and the odd sizes, so a swapped axis or a size written
    as a number shows.
    """

    label: str = "model sizes"
    B: int = 3  # batch
    T: int = 8  # time (block size)
    C: int = 48  # channels
    nh: int = 4  # heads
    n_layer: int = 2
    vocab_size: int = 27  # "." and a-z
    dtype: torch.dtype = torch.float32
    seed: int = 1337
    device: str = "cpu"
    std: float = 0.2  # weights' init scale: large enough that attention is far from uniform

    @property
    def hs(self) -> int:
        """Head size, C / nh."""
        return self.C // self.nh

    def sizes(self) -> tuple[tuple[str, int], ...]:
        """The named sizes, (name, value): two configurations with equal sizes differ only in number type."""
        return (("B", self.B), ("T", self.T), ("C", self.C), ("nh", self.nh), ("hs", self.hs),
                ("B*T", self.B * self.T), ("vocab_size", self.vocab_size))

    def size_pairs(self) -> list[tuple[str, int, int]]:
        """(name, size here, size at the model sizes) for each size, 3C and 4C (qkv, the MLP) too."""
        here = self.sizes() + (("3C", 3 * self.C), ("4C", 4 * self.C))
        there = MODEL.sizes() + (("3C", 3 * MODEL.C), ("4C", 4 * MODEL.C))
        return [(name, a, b) for (name, a), (_, b) in zip(here, there)]

    def describe(self) -> str:
        dtype = str(self.dtype).replace("torch.", "")
        return (f"{self.label} (B={self.B}, T={self.T}, C={self.C}, nh={self.nh}, hs={self.hs}, "
                f"n_layer={self.n_layer}, {dtype})")

    def training_sizes(self) -> str:
        """The sizes `train` names on its first line: "C=64, 2 layers, 4 heads, T=16, batch 32"."""
        return f"C={self.C}, {self.n_layer} layers, {self.nh} heads, T={self.T}, batch {self.B}"


MODEL = GPTConfig()
#: sizes that share no number with the model sizes
ODD = GPTConfig(label="odd sizes", B=2, T=5, C=12, nh=3, n_layer=1, seed=7)
#: float64, where a tight tolerance catches small-factor slips (a missing eps, erf-GELU)
FLOAT64 = GPTConfig(label="float64", dtype=torch.float64, seed=4242)


def block_names(l: int) -> dict[str, str]:
    """The parameter names of block `l`, by role: {"ln_1_w": "h0_ln_1_w", ...}."""
    roles = ("ln_1_w", "ln_1_b", "attn_W_attn", "attn_b_attn", "attn_W_proj", "attn_b_proj",
             "ln_2_w", "ln_2_b", "mlp_W_fc", "mlp_b_fc", "mlp_W_proj", "mlp_b_proj")
    return {r: f"h{l}_{r}" for r in roles}


def parameter_names(cfg: GPTConfig) -> tuple[str, ...]:
    """Every parameter, in forward order: wte, wpe, each block's, lnf_w, lnf_b."""
    names = ["wte", "wpe"]
    for l in range(cfg.n_layer):
        names += block_names(l).values()
    return tuple(names + ["lnf_w", "lnf_b"])


def init_parameters(cfg: GPTConfig) -> dict[str, torch.Tensor]:
    """Every parameter by name (see parameter_names), from one generator seeded with cfg.seed.

    wte (V, C), wpe (T, C); per block: ln_*_w, ln_*_b (C,), attn_W_attn (C, 3C),
    attn_b_attn (3C,), attn_W_proj (C, C), attn_b_proj (C,), mlp_W_fc (C, 4C),
    mlp_b_fc (4C,), mlp_W_proj (4C, C), mlp_b_proj (C,); lnf_w, lnf_b (C,).
    Biases are small and non-zero and gains are not all one, so no gradient hides
    behind a zero or a one (the lecture's reason for its own init). Drawn in
    float64 and then cast, so float32 and float64 share values.
    """
    g = torch.Generator().manual_seed(cfg.seed)
    C, s = cfg.C, cfg.std

    def randn(*shape):
        return torch.randn(shape, generator=g, dtype=torch.float64)

    p = {"wte": randn(cfg.vocab_size, C) * s,  # (V, C)
         "wpe": randn(cfg.T, C) * s}  # (T, C)
    for l in range(cfg.n_layer):
        n = block_names(l)
        p[n["ln_1_w"]] = 1 + 0.1 * randn(C)  # (C,)
        p[n["ln_1_b"]] = 0.1 * randn(C)  # (C,)
        p[n["attn_W_attn"]] = randn(C, 3 * C) * s  # (C, 3C)
        p[n["attn_b_attn"]] = 0.1 * randn(3 * C)  # (3C,)
        p[n["attn_W_proj"]] = randn(C, C) * s  # (C, C)
        p[n["attn_b_proj"]] = 0.1 * randn(C)  # (C,)
        p[n["ln_2_w"]] = 1 + 0.1 * randn(C)  # (C,)
        p[n["ln_2_b"]] = 0.1 * randn(C)  # (C,)
        p[n["mlp_W_fc"]] = randn(C, 4 * C) * s  # (C, 4C)
        p[n["mlp_b_fc"]] = 0.1 * randn(4 * C)  # (4C,)
        p[n["mlp_W_proj"]] = randn(4 * C, C) * s  # (4C, C)
        p[n["mlp_b_proj"]] = 0.1 * randn(C)  # (C,)
    p["lnf_w"] = 1 + 0.1 * randn(C)  # (C,)
    p["lnf_b"] = 0.1 * randn(C)  # (C,)
    return {k: v.to(device=cfg.device, dtype=cfg.dtype) for k, v in p.items()}


def stream(words=NAMES) -> torch.Tensor:
    """The names joined into one stream of tokens, each name followed by "." (token 0)."""
    text = "".join(w + "." for w in words)
    return torch.tensor([0 if ch == "." else ord(ch) - ord("a") + 1 for ch in text])  # (len,)


def make_batch(cfg: GPTConfig) -> dict[str, torch.Tensor]:
    """idx (B, T) and targets (B, T), int64: B windows of the names' stream, targets shifted by one.

    Tokens repeat within every batch (wte's rows must accumulate), and the windows
    start at different places, so no two rows of the batch are equal.
    """
    data = stream()
    g = torch.Generator().manual_seed(cfg.seed + 1)
    starts = torch.randperm(len(data) - cfg.T - 1, generator=g)[:cfg.B]  # (B,)
    idx = torch.stack([data[s:s + cfg.T] for s in starts.tolist()])  # (B, T)
    targets = torch.stack([data[s + 1:s + cfg.T + 1] for s in starts.tolist()])  # (B, T)
    return {"idx": idx.to(cfg.device), "targets": targets.to(cfg.device)}


# --------------------------------------------------------------------------- the layers

def layernorm(x, w, b):
    """x (B, T, C), w, b (C,) -> out (B, T, C): each row normalised with its biased variance."""
    mean = x.mean(-1, keepdim=True)  # (B, T, 1)
    xshift = x - mean  # (B, T, C)
    var = (xshift**2).mean(-1, keepdim=True)  # (B, T, 1)
    rstd = (var + EPS) ** -0.5  # (B, T, 1)
    norm = xshift * rstd  # (B, T, C)
    return norm * w + b  # (B, T, C)


def attention(x, W_attn, b_attn, W_proj, b_proj, nh: int):
    """Causal self-attention. x (B, T, C) -> out (B, T, C); nh heads of size hs = C/nh."""
    B, T, C = x.shape
    hs = C // nh
    qkv = x @ W_attn + b_attn  # (B, T, 3C)
    q, k, v = qkv.split(C, dim=2)  # each (B, T, C)
    q = q.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
    k = k.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
    v = v.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
    preatt = (q @ k.transpose(-2, -1)) * hs**-0.5  # (B, nh, T, T)
    mask = causal_mask(T, x.device)  # (T, T)
    att = preatt.masked_fill(mask == 0, float("-inf")).softmax(-1)  # (B, nh, T, T)
    y = att @ v  # (B, nh, T, hs)
    ycat = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
    return ycat @ W_proj + b_proj  # (B, T, C)


def causal_mask(T: int, device="cpu") -> torch.Tensor:
    """(T, T) lower-triangular ones: position t attends to positions 0..t."""
    return torch.tril(torch.ones(T, T, device=device))


def gelu(fch):
    """GPT-2's tanh approximation of GELU, elementwise: fch (B, T, 4C) -> (B, T, 4C)."""
    if torch.is_grad_enabled() and fch.requires_grad:
        return 0.5 * fch * (1 + torch.tanh(math.sqrt(2 / math.pi) * (fch + 0.044715 * fch**3)))
    return _gelu_without_graph(fch)


def _gelu_without_graph(fch):
    """gelu(fch) where no graph is recorded (training's forward pass, evaluation, sampling).

    The same operations in the same order, so the same numbers to the bit, in two buffers changed
    in place rather than eight fresh tensors, the model's widest. (Under autograd tanh's backward
    reads tanh's own output, which this overwrites: there gelu's one line.) Under torch.compile
    (bench --compile) it is written fch * sigmoid(2u), the same function since 0.5 (1 + tanh u) =
    sigmoid(2u): compiled for a CPU, tanh measured three times slower than sigmoid, and compiled
    code does not give eager's bits either way.
    """
    inner = fch**3  # (B, T, 4C)
    inner.mul_(0.044715).add_(fch).mul_(math.sqrt(2 / math.pi))  # u
    if _compiling():
        return fch * inner.mul_(2).sigmoid_()  # (B, T, 4C)
    inner.tanh_().add_(1)
    return (0.5 * fch).mul_(inner)  # (B, T, 4C)


def _compiling() -> bool:
    """True while torch.compile traces the code (always False with a torch that has no
    torch.compiler.is_compiling: there the in-place path is compiled, slower but the same function)."""
    is_compiling = getattr(torch.compiler, "is_compiling", None)
    return bool(is_compiling is not None and is_compiling())


def mlp(x, W_fc, b_fc, W_proj, b_proj):
    """x (B, T, C) -> out (B, T, C) through 4C hidden units with tanh-GELU."""
    fch = x @ W_fc + b_fc  # (B, T, 4C)
    return gelu(fch) @ W_proj + b_proj  # (B, T, C)


def embed(params: dict, idx: torch.Tensor) -> torch.Tensor:
    """Token plus position embedding. idx (B, T) -> (B, T, C)."""
    return params["wte"][idx] + params["wpe"][:idx.shape[1]]  # (B, T, C)


def block_parameters(params: dict, l: int) -> dict:
    """Block `l`'s parameters by role: {"ln_1_w": params["h<l>_ln_1_w"], ...}."""
    return {r: params[n] for r, n in block_names(l).items()}


def n_layers(params: dict) -> int:
    """How many blocks the parameters describe."""
    return sum(1 for k in params if k.endswith("_ln_1_w"))


def attention_half(x, p: dict, nh: int):
    """x + attention(layernorm(x)): a block's first residual branch. x (B, T, C) -> (B, T, C)."""
    return x + attention(layernorm(x, p["ln_1_w"], p["ln_1_b"]), p["attn_W_attn"], p["attn_b_attn"],
                         p["attn_W_proj"], p["attn_b_proj"], nh)


def mlp_half(x, p: dict):
    """x + mlp(layernorm(x)): a block's second residual branch. x (B, T, C) -> (B, T, C)."""
    return x + mlp(layernorm(x, p["ln_2_w"], p["ln_2_b"]), p["mlp_W_fc"], p["mlp_b_fc"],
                   p["mlp_W_proj"], p["mlp_b_proj"])


def blocks(x, params: dict, nh: int, start: int = 0):
    """The blocks from `start` on. x (B, T, C) -> (B, T, C), the residual stream after the last."""
    for l in range(start, n_layers(params)):
        p = block_parameters(params, l)
        x = mlp_half(attention_half(x, p, nh), p)  # (B, T, C)
    return x


def head(x, params: dict):
    """The final layernorm and the tied lm_head. x (B, T, C) -> logits (B, T, V)."""
    return layernorm(x, params["lnf_w"], params["lnf_b"]) @ params["wte"].T  # (B, T, V)


def lm_loss(logits, targets):
    """The mean next-character cross entropy over every position. logits (B, T, V), targets (B, T)."""
    B, T, V = logits.shape
    return F.cross_entropy(logits.view(B * T, V), targets.view(B * T))


def forward(params: dict, idx: torch.Tensor, targets: torch.Tensor | None, nh: int):
    """The whole model. idx (B, T) -> logits (B, T, V), and the mean cross entropy if targets.

    Written with the layer functions above, so autograd through it is the yardstick
    of every Part 2 check and of `train --model gpt --autograd`.
    """
    logits = head(blocks(embed(params, idx), params, nh), params)  # (B, T, V)
    return logits, (None if targets is None else lm_loss(logits, targets))


# --------------------------------------------------------------------------- the model as graphs (katas 05-07)
#
# Each layer kata's graph is the whole model: the checked layer written as its kata's lines, under
# the kata's names, and the rest of the model as fused lines, ending in the real next-character loss.
# The layer's input x is read by the layer alone, so dx is the gradient through the layer.

def _layer_model(names: dict[str, str]) -> Model:
    """The leaves of a layer kata's graph: the layer's parameters under the kata's names ({kata name:
    model name}), differentiated; the batch idx, targets, the causal mask (T, T), and, for the fused
    lines only, the head count nh and every parameter by its model name (params)."""
    def parameters(cfg: GPTConfig) -> dict:
        p = init_parameters(cfg)
        return {mine: p[theirs] for mine, theirs in names.items()}

    def batch(cfg: GPTConfig) -> dict:
        mask = causal_mask(cfg.T, cfg.device).to(cfg.dtype)  # (T, T)
        # the other parameters require grad too, so every activation of the model carries its gradient
        params = {k: v.requires_grad_(True) for k, v in init_parameters(cfg).items()}
        return {**make_batch(cfg), "mask": mask, "nh": cfg.nh, "params": params}

    return Model(parameters, batch, ("idx", "targets", "mask", *names), probe="model probe")


def _heads(qkv, i: int, nh: int):
    """The i-th of q, k, v, split into heads: qkv (B, T, 3C) -> (B, nh, T, hs), a transposed view."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    return qkv.split(C, dim=2)[i].view(B, T, nh, C // nh).transpose(1, 2)  # (B, nh, T, hs)


# Kata 05: the final layernorm, between the last block and the lm_head.
LAYERNORM = Graph("a small GPT, its final layernorm as lines", {
    "x": lambda idx, params, nh: blocks(embed(params, idx), params, nh),  # (B, T, C) after the last block
    "mean": lambda x: x.mean(-1, keepdim=True),  # (B, T, 1)
    "xshift": lambda x, mean: x - mean,  # (B, T, C)
    "var": lambda xshift: (xshift**2).mean(-1, keepdim=True),  # (B, T, 1)
    "rstd": lambda var: (var + EPS) ** -0.5,  # (B, T, 1)
    "norm": lambda xshift, rstd: xshift * rstd,  # (B, T, C)
    "out": lambda norm, w, b: norm * w + b,  # (B, T, C)
    "logits": lambda out, params: out @ params["wte"].T,  # (B, T, V)
    "loss": lambda logits, targets: lm_loss(logits, targets),  # ()
}, _layer_model({"w": "lnf_w", "b": "lnf_b"}))

# Kata 06: block 0's causal self-attention (its input is block 0's first layernorm).
ATTENTION = Graph("a small GPT, block 0's attention as lines", {
    "emb": lambda idx, params: embed(params, idx),  # (B, T, C)
    "x": lambda emb, params: layernorm(emb, params["h0_ln_1_w"], params["h0_ln_1_b"]),  # (B, T, C)
    "qkv": lambda x, W_attn, b_attn: x @ W_attn + b_attn,  # (B, T, 3C)
    "q": lambda qkv, nh: _heads(qkv, 0, nh),  # (B, nh, T, hs)
    "k": lambda qkv, nh: _heads(qkv, 1, nh),  # (B, nh, T, hs)
    "v": lambda qkv, nh: _heads(qkv, 2, nh),  # (B, nh, T, hs)
    "preatt": lambda q, k: (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5,  # (B, nh, T, T)
    "att": lambda preatt, mask: preatt.masked_fill(mask == 0, float("-inf")).softmax(-1),  # (B, nh, T, T)
    "y": lambda att, v: att @ v,  # (B, nh, T, hs)
    "ycat": lambda y: y.transpose(1, 2).contiguous().view(y.shape[0], y.shape[2], -1),  # (B, T, C)
    "out": lambda ycat, W_proj, b_proj: ycat @ W_proj + b_proj,  # (B, T, C)
    "logits": lambda emb, out, params, nh: head(blocks(mlp_half(emb + out, block_parameters(params, 0)),
                                                       params, nh, start=1), params),  # (B, T, V)
    "loss": lambda logits, targets: lm_loss(logits, targets),  # ()
}, _layer_model({"W_attn": "h0_attn_W_attn", "b_attn": "h0_attn_b_attn",
                 "W_proj": "h0_attn_W_proj", "b_proj": "h0_attn_b_proj"}))

# Kata 07: block 0's MLP (its input is block 0's second layernorm).
MLP = Graph("a small GPT, block 0's MLP as lines", {
    "res": lambda idx, params, nh: attention_half(embed(params, idx), block_parameters(params, 0), nh),  # (B, T, C)
    "x": lambda res, params: layernorm(res, params["h0_ln_2_w"], params["h0_ln_2_b"]),  # (B, T, C)
    "fch": lambda x, W_fc, b_fc: x @ W_fc + b_fc,  # (B, T, 4C)
    "fch_gelu": lambda fch: gelu(fch),  # (B, T, 4C)
    "out": lambda fch_gelu, W_proj, b_proj: fch_gelu @ W_proj + b_proj,  # (B, T, C)
    "logits": lambda res, out, params, nh: head(blocks(res + out, params, nh, start=1), params),  # (B, T, V)
    "loss": lambda logits, targets: lm_loss(logits, targets),  # ()
}, _layer_model({"W_fc": "h0_mlp_W_fc", "b_fc": "h0_mlp_b_fc",
                 "W_proj": "h0_mlp_W_proj", "b_proj": "h0_mlp_b_proj"}))


# --------------------------------------------------------------------------- the saved activations (kata 08)

def saved_names(n_layer: int) -> tuple[str, ...]:
    """The names of what the forward pass keeps for the backward pass (forward_saved), in forward order.

    Per block l (prefix h{l}_): ln_1_norm, ln_1_rstd, ln_1_out (attention's x), attn_q, attn_k,
    attn_v, attn_att, attn_y, attn_ycat, ln_2_norm, ln_2_rstd, ln_2_out (the MLP's x), mlp_fch,
    mlp_fch_gelu; then lnf_norm, lnf_rstd, lnf_out and logits.
    """
    roles = ("ln_1_norm", "ln_1_rstd", "ln_1_out", "attn_q", "attn_k", "attn_v", "attn_att", "attn_y",
             "attn_ycat", "ln_2_norm", "ln_2_rstd", "ln_2_out", "mlp_fch", "mlp_fch_gelu")
    names = [f"h{l}_{r}" for l in range(n_layer) for r in roles]
    return tuple(names + ["lnf_norm", "lnf_rstd", "lnf_out", "logits"])


def forward_saved(params: dict, idx: torch.Tensor, targets: torch.Tensor, nh: int):
    """`forward`, line by line as the layer functions above, keeping every value a backward pass reads.

    Returns (loss, saved, outs): saved holds the names of saved_names (each a
    contiguous tensor; q, k, v (B, nh, T, hs), att (B, nh, T, T), rstd (B, T, 1),
    the rest (B, T, C), (B, T, 4C) or logits (B, T, V)); outs holds the outputs
    each parameter feeds ("x0", "h{l}_ln_1", "h{l}_attn_qkv", "h{l}_attn_out",
    "h{l}_ln_2", "h{l}_mlp_fch", "h{l}_mlp_out", "lnf"), for the checks' scales.
    Under autograd it is differentiable like `forward` (the checks compare the two).
    """
    B, T = idx.shape
    saved, outs = {}, {}

    def ln(prefix, x, w, b):
        mean = x.mean(-1, keepdim=True)  # (B, T, 1)
        xshift = x - mean  # (B, T, C)
        var = (xshift**2).mean(-1, keepdim=True)  # (B, T, 1)
        rstd = (var + EPS) ** -0.5  # (B, T, 1)
        norm = xshift * rstd  # (B, T, C)
        out = norm * w + b  # (B, T, C)
        saved[f"{prefix}_norm"], saved[f"{prefix}_rstd"], saved[f"{prefix}_out"] = norm, rstd, out
        return out

    x = params["wte"][idx] + params["wpe"][:T]  # (B, T, C)
    outs["x0"] = x
    for l in range(n_layers(params)):
        p = {r: params[n] for r, n in block_names(l).items()}
        h = f"h{l}"
        xa = ln(f"{h}_ln_1", x, p["ln_1_w"], p["ln_1_b"])  # (B, T, C)
        C = xa.shape[-1]
        hs = C // nh
        qkv = xa @ p["attn_W_attn"] + p["attn_b_attn"]  # (B, T, 3C)
        q, k, v = qkv.split(C, dim=2)  # each (B, T, C)
        q = q.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        preatt = (q @ k.transpose(-2, -1)) * hs**-0.5  # (B, nh, T, T)
        att = preatt.masked_fill(causal_mask(T, idx.device) == 0, float("-inf")).softmax(-1)  # (B, nh, T, T)
        y = att @ v  # (B, nh, T, hs)
        ycat = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        attn_out = ycat @ p["attn_W_proj"] + p["attn_b_proj"]  # (B, T, C)
        saved.update({f"{h}_attn_q": q, f"{h}_attn_k": k, f"{h}_attn_v": v, f"{h}_attn_att": att,
                      f"{h}_attn_y": y, f"{h}_attn_ycat": ycat})
        x = x + attn_out  # (B, T, C): the residual adds the branch
        xm = ln(f"{h}_ln_2", x, p["ln_2_w"], p["ln_2_b"])  # (B, T, C)
        fch = xm @ p["mlp_W_fc"] + p["mlp_b_fc"]  # (B, T, 4C)
        fch_gelu = gelu(fch)  # (B, T, 4C)
        mlp_out = fch_gelu @ p["mlp_W_proj"] + p["mlp_b_proj"]  # (B, T, C)
        saved[f"{h}_mlp_fch"], saved[f"{h}_mlp_fch_gelu"] = fch, fch_gelu
        x = x + mlp_out  # (B, T, C)
        outs.update({f"{h}_ln_1": xa, f"{h}_attn_qkv": qkv, f"{h}_attn_out": attn_out, f"{h}_ln_2": xm,
                     f"{h}_mlp_fch": fch, f"{h}_mlp_out": mlp_out})
    lnf = ln("lnf", x, params["lnf_w"], params["lnf_b"])  # (B, T, C)
    outs["lnf"] = lnf
    logits = lnf @ params["wte"].T  # (B, T, V): the tied lm_head
    saved["logits"] = logits
    loss = torch.nn.functional.cross_entropy(logits.view(B * T, -1), targets.view(B * T))
    return loss, saved, outs


def fed_by(name: str) -> tuple[str, ...]:
    """The outputs of forward_saved's `outs` that parameter `name` feeds directly (for its scale)."""
    if name == "wte":
        return ("x0", "lnf")  # the embedding, and the lm_head reads lnf against wte
    if name == "wpe":
        return ("x0",)
    if name.startswith("lnf_"):
        return ("lnf",)
    h, role = name.split("_", 1)
    where = {"ln_1_w": "ln_1", "ln_1_b": "ln_1", "attn_W_attn": "attn_qkv", "attn_b_attn": "attn_qkv",
             "attn_W_proj": "attn_out", "attn_b_proj": "attn_out", "ln_2_w": "ln_2", "ln_2_b": "ln_2",
             "mlp_W_fc": "mlp_fch", "mlp_b_fc": "mlp_fch", "mlp_W_proj": "mlp_out", "mlp_b_proj": "mlp_out"}
    return (f"{h}_{where[role]}",)


def backward_order(names) -> tuple[str, ...]:
    """Parameter names in the order a backward pass finishes them: from lnf back to wpe, wte last
    (its gradient is complete only once the embedding's part joins the lm_head's)."""
    rest = [n for n in reversed(list(names)) if n != "wte"]
    return tuple(rest + ["wte"])


# --------------------------------------------------------------------------- training (train --model gpt)

#: the model `train --model gpt` trains: C 64, 2 layers, 4 heads, block size 16, batch 32
TRAIN = GPTConfig(label="training", B=32, T=16, C=64, nh=4, n_layer=2, seed=1337, std=0.02)


def init_training(cfg: GPTConfig) -> dict[str, torch.Tensor]:
    """GPT-2's initialisation: weights N(0, std) with std 0.02, the residual projections' scaled by
    1/sqrt(2*n_layer), biases 0, layernorm gains 1. Same names and shapes as init_parameters."""
    shapes = {k: v.shape for k, v in init_parameters(dataclasses.replace(cfg, device="cpu")).items()}
    g = torch.Generator().manual_seed(cfg.seed)
    p = {}
    for name, shape in shapes.items():
        if name.endswith("_w"):  # layernorm gains
            p[name] = torch.ones(shape, dtype=torch.float64)
        elif name.endswith(("_b", "_b_attn", "_b_proj", "_b_fc")):
            p[name] = torch.zeros(shape, dtype=torch.float64)
        else:
            std = cfg.std / math.sqrt(2 * cfg.n_layer) if name.endswith("_W_proj") else cfg.std
            p[name] = torch.randn(shape, generator=g, dtype=torch.float64) * std
    return {k: v.to(device=cfg.device, dtype=cfg.dtype) for k, v in p.items()}
