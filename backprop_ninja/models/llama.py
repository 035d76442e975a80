"""Part 3's model: a small Llama-style transformer, character-level on names.

The block of today's models: RMSNorm instead of layernorm, rotary position
embeddings (RoPE) on q and k instead of a learned position table, SwiGLU
instead of the GELU MLP, and no biases anywhere. Pre-norm blocks (RMSNorm ->
causal self-attention with RoPE -> residual; RMSNorm -> SwiGLU -> residual), a
final RMSNorm, and an lm_head tied to the token embedding (`logits = out @ wte.T`),
as in Part 2's GPT, so that the two models differ only in their three new layers.

Shapes: B batch, T time, C channels, nh heads, hs = C/nh head size (even, for
RoPE's halves), H SwiGLU's hidden size, V vocabulary. The layer functions are
the katas' forward lines, written once; katas 09-11 check one layer inside this
model, kata 12 the whole model.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from backprop_ninja.models import gpt
from backprop_ninja.models.lecture import Graph, Model

EPS = 1e-5  # RMSNorm's epsilon, inside the root
ROPE_BASE = 10000.0  # theta_i = ROPE_BASE ** (-2i / hs)


@dataclasses.dataclass(frozen=True)
class LlamaConfig(gpt.GPTConfig):
    """Part 2's sizes and number type, plus SwiGLU's hidden size H.

    H is about 8C/3 at the model sizes (128 for C 48) and shares no number with
    any other size of its configuration.
    """

    H: int = 128  # SwiGLU's hidden size

    def sizes(self) -> tuple[tuple[str, int], ...]:
        return super().sizes() + (("H", self.H),)

    def size_pairs(self) -> list[tuple[str, int, int]]:
        """(name, size here, size at the model sizes) for each size, 3C (qkv) too."""
        here = self.sizes() + (("3C", 3 * self.C),)
        there = MODEL.sizes() + (("3C", 3 * MODEL.C),)
        return [(name, a, b) for (name, a), (_, b) in zip(here, there)]

    def describe(self) -> str:
        dtype = str(self.dtype).replace("torch.", "")
        return (f"{self.label} (B={self.B}, T={self.T}, C={self.C}, nh={self.nh}, hs={self.hs}, H={self.H}, "
                f"n_layer={self.n_layer}, {dtype})")

    def training_sizes(self) -> str:
        return f"C={self.C}, H={self.H}, {self.n_layer} layers, {self.nh} heads, T={self.T}, batch {self.B}"


MODEL = LlamaConfig()
#: sizes that share no number with the model sizes (hs 4: even)
ODD = LlamaConfig(label="odd sizes", B=2, T=5, C=12, nh=3, n_layer=1, seed=7, H=20)
#: float64, where a tight tolerance catches small-factor slips (a missing eps)
FLOAT64 = LlamaConfig(label="float64", dtype=torch.float64, seed=4242)
CONFIGS = (MODEL, ODD, FLOAT64)


def block_names(l: int) -> dict[str, str]:
    """The parameter names of block `l`, by role: {"rms_1_w": "h0_rms_1_w", ...}."""
    roles = ("rms_1_w", "attn_W_attn", "attn_W_proj", "rms_2_w", "mlp_W_gate", "mlp_W_up", "mlp_W_down")
    return {r: f"h{l}_{r}" for r in roles}


def parameter_names(cfg: LlamaConfig) -> tuple[str, ...]:
    """Every parameter, in forward order: wte, each block's, rmsf_w."""
    names = ["wte"]
    for l in range(cfg.n_layer):
        names += block_names(l).values()
    return tuple(names + ["rmsf_w"])


def init_parameters(cfg: LlamaConfig) -> dict[str, torch.Tensor]:
    """Every parameter by name (see parameter_names), from one generator seeded with cfg.seed.

    wte (V, C); per block: rms_*_w (C,), attn_W_attn (C, 3C), attn_W_proj (C, C),
    mlp_W_gate, mlp_W_up (C, H), mlp_W_down (H, C); rmsf_w (C,). Gains are not all
    one, so no gradient hides behind a one. Drawn in float64 and then cast, so
    float32 and float64 share values.
    """
    g = torch.Generator().manual_seed(cfg.seed)
    C, H, s = cfg.C, cfg.H, cfg.std

    def randn(*shape):
        return torch.randn(shape, generator=g, dtype=torch.float64)

    p = {"wte": randn(cfg.vocab_size, C) * s}  # (V, C)
    for l in range(cfg.n_layer):
        n = block_names(l)
        p[n["rms_1_w"]] = 1 + 0.1 * randn(C)  # (C,)
        p[n["attn_W_attn"]] = randn(C, 3 * C) * s  # (C, 3C)
        p[n["attn_W_proj"]] = randn(C, C) * s  # (C, C)
        p[n["rms_2_w"]] = 1 + 0.1 * randn(C)  # (C,)
        p[n["mlp_W_gate"]] = randn(C, H) * s  # (C, H)
        p[n["mlp_W_up"]] = randn(C, H) * s  # (C, H)
        p[n["mlp_W_down"]] = randn(H, C) * s  # (H, C)
    p["rmsf_w"] = 1 + 0.1 * randn(C)  # (C,)
    return {k: v.to(device=cfg.device, dtype=cfg.dtype) for k, v in p.items()}


# --------------------------------------------------------------------------- the layers

def rmsnorm(x, w):
    """x (B, T, C), w (C,) -> out (B, T, C): each row divided by its root mean square, then scaled."""
    inv_rms = (x.pow(2).mean(-1, keepdim=True) + EPS).rsqrt()  # (B, T, 1): 1/RMS, eps inside the root
    return x * inv_rms * w  # (B, T, C)


def rope_tables(T: int, hs: int, device="cpu", dtype=torch.float32):
    """cos, sin (T, hs) for positions 0..T-1, in the half layout of HF transformers.

    theta_i = 10000 ** (-2i/hs) for i < hs/2; channel i and channel i + hs/2 share
    the angle t * theta_i. Computed in float64, then cast.
    """
    theta = ROPE_BASE ** (-torch.arange(0, hs, 2, dtype=torch.float64) / hs)  # (hs/2,)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * theta[None, :]  # (T, hs/2)
    angles = torch.cat([angles, angles], dim=-1)  # (T, hs)
    return angles.cos().to(device=device, dtype=dtype), angles.sin().to(device=device, dtype=dtype)


def rotate_half(u):
    """u (..., hs) -> (..., hs): the halves swapped, the new first half negated: (-u2, u1)."""
    half = u.shape[-1] // 2
    return torch.cat([-u[..., half:], u[..., :half]], dim=-1)


def rope(q, cos, sin):
    """Rotate each pair (channel i, channel i + hs/2) of q (B, nh, T, hs) by its position's angle."""
    return q * cos + rotate_half(q) * sin  # (B, nh, T, hs)


def silu(a):
    """SiLU (swish), elementwise: a * sigmoid(a)."""
    return a * torch.sigmoid(a)


def swiglu(x, W_gate, W_up, W_down):
    """x (B, T, C) -> out (B, T, C) through H hidden units, silu(gate) times up."""
    h = silu(x @ W_gate) * (x @ W_up)  # (B, T, H)
    return h @ W_down  # (B, T, C)


def attention(x, W_attn, W_proj, nh: int, cos, sin):
    """Causal self-attention with RoPE on q and k, no biases. x (B, T, C) -> out (B, T, C)."""
    B, T, C = x.shape
    qkv = x @ W_attn  # (B, T, 3C)
    q, k, v = (_heads(qkv, i, nh) for i in range(3))  # each (B, nh, T, hs)
    q_rot, k_rot = rope(q, cos, sin), rope(k, cos, sin)  # (B, nh, T, hs)
    preatt = (q_rot @ k_rot.transpose(-2, -1)) * (C // nh) ** -0.5  # (B, nh, T, T)
    att = preatt.masked_fill(gpt.causal_mask(T, x.device) == 0, float("-inf")).softmax(-1)  # (B, nh, T, T)
    ycat = (att @ v).transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
    return ycat @ W_proj  # (B, T, C)


def _heads(qkv, i: int, nh: int):
    """The i-th of q, k, v, split into heads: qkv (B, T, 3C) -> (B, nh, T, hs), a transposed view."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    return qkv.split(C, dim=2)[i].view(B, T, nh, C // nh).transpose(1, 2)  # (B, nh, T, hs)


def block_parameters(params: dict, l: int) -> dict:
    """Block `l`'s parameters by role: {"rms_1_w": params["h<l>_rms_1_w"], ...}."""
    return {r: params[n] for r, n in block_names(l).items()}


def n_layers(params: dict) -> int:
    """How many blocks the parameters describe."""
    return sum(1 for k in params if k.endswith("_rms_1_w"))


def attention_half(x, p: dict, nh: int, cos, sin):
    """x + attention(rmsnorm(x)): a block's first residual branch. x (B, T, C) -> (B, T, C)."""
    return x + attention(rmsnorm(x, p["rms_1_w"]), p["attn_W_attn"], p["attn_W_proj"], nh, cos, sin)


def mlp_half(x, p: dict):
    """x + swiglu(rmsnorm(x)): a block's second residual branch. x (B, T, C) -> (B, T, C)."""
    return x + swiglu(rmsnorm(x, p["rms_2_w"]), p["mlp_W_gate"], p["mlp_W_up"], p["mlp_W_down"])


def blocks(x, params: dict, nh: int, start: int = 0):
    """The blocks from `start` on. x (B, T, C) -> (B, T, C), the residual stream after the last."""
    B, T, C = x.shape
    cos, sin = rope_tables(T, C // nh, x.device, x.dtype)  # (T, hs) each
    for l in range(start, n_layers(params)):
        p = block_parameters(params, l)
        x = mlp_half(attention_half(x, p, nh, cos, sin), p)  # (B, T, C)
    return x


def head(x, params: dict):
    """The final RMSNorm and the tied lm_head. x (B, T, C) -> logits (B, T, V)."""
    return rmsnorm(x, params["rmsf_w"]) @ params["wte"].T  # (B, T, V)


def forward(params: dict, idx: torch.Tensor, targets: torch.Tensor | None, nh: int):
    """The whole model. idx (B, T) -> logits (B, T, V), and the mean cross entropy if targets.

    Written with the layer functions above, so autograd through it is the yardstick
    of every Part 3 check and of `train --model llama --autograd`.
    """
    logits = head(blocks(params["wte"][idx], params, nh), params)  # (B, T, V)
    return logits, (None if targets is None else gpt.lm_loss(logits, targets))


# --------------------------------------------------------------------------- the model as graphs (katas 09-11)
#
# As in Part 2: each layer kata's graph is the whole model, the checked layer written as its kata's
# lines under the kata's names, the rest as fused lines, ending in the real next-character loss.

def _layer_model(names: dict[str, str]) -> Model:
    """The leaves of a layer kata's graph: the layer's parameters under the kata's names ({kata name:
    model name}), differentiated; the batch idx, targets, the causal mask (T, T), RoPE's cos and sin
    (T, hs), and, for the fused lines only, the head count nh and every parameter by its model name."""
    def parameters(cfg: LlamaConfig) -> dict:
        p = init_parameters(cfg)
        return {mine: p[theirs] for mine, theirs in names.items()}

    def batch(cfg: LlamaConfig) -> dict:
        mask = gpt.causal_mask(cfg.T, cfg.device).to(cfg.dtype)  # (T, T)
        cos, sin = rope_tables(cfg.T, cfg.hs, cfg.device, cfg.dtype)  # (T, hs) each
        # the other parameters require grad too, so every activation of the model carries its gradient
        params = {k: v.requires_grad_(True) for k, v in init_parameters(cfg).items()}
        return {**gpt.make_batch(cfg), "mask": mask, "cos": cos, "sin": sin, "nh": cfg.nh, "params": params}

    return Model(parameters, batch, ("idx", "targets", "mask", "cos", "sin", *names), probe="model probe")


# Kata 09: the final RMSNorm, between the last block and the lm_head.
RMSNORM = Graph("a small Llama, its final RMSNorm as lines", {
    "x": lambda idx, params, nh: blocks(params["wte"][idx], params, nh),  # (B, T, C) after the last block
    "inv_rms": lambda x: (x.pow(2).mean(-1, keepdim=True) + EPS).rsqrt(),  # (B, T, 1)
    "norm": lambda x, inv_rms: x * inv_rms,  # (B, T, C)
    "out": lambda norm, w: norm * w,  # (B, T, C)
    "logits": lambda out, params: out @ params["wte"].T,  # (B, T, V)
    "loss": lambda logits, targets: gpt.lm_loss(logits, targets),  # ()
}, _layer_model({"w": "rmsf_w"}))

# Kata 10: the rotary embedding of block 0's queries and keys (its attention's input is block 0's first RMSNorm).
ROPE = Graph("a small Llama, block 0's rotary embedding as lines", {
    "emb": lambda idx, params: params["wte"][idx],  # (B, T, C)
    "x": lambda emb, params: rmsnorm(emb, params["h0_rms_1_w"]),  # (B, T, C)
    "qkv": lambda x, W_attn: x @ W_attn,  # (B, T, 3C)
    "q": lambda qkv, nh: _heads(qkv, 0, nh),  # (B, nh, T, hs)
    "k": lambda qkv, nh: _heads(qkv, 1, nh),  # (B, nh, T, hs)
    "v": lambda qkv, nh: _heads(qkv, 2, nh),  # (B, nh, T, hs)
    "q_rot": lambda q, cos, sin: q * cos + rotate_half(q) * sin,  # (B, nh, T, hs)
    "k_rot": lambda k, cos, sin: k * cos + rotate_half(k) * sin,  # (B, nh, T, hs)
    "preatt": lambda q_rot, k_rot: (q_rot @ k_rot.transpose(-2, -1)) * q_rot.shape[-1] ** -0.5,  # (B, nh, T, T)
    "att": lambda preatt, mask: preatt.masked_fill(mask == 0, float("-inf")).softmax(-1),  # (B, nh, T, T)
    "y": lambda att, v: att @ v,  # (B, nh, T, hs)
    "ycat": lambda y: y.transpose(1, 2).contiguous().view(y.shape[0], y.shape[2], -1),  # (B, T, C)
    "out": lambda ycat, W_proj: ycat @ W_proj,  # (B, T, C)
    "logits": lambda emb, out, params, nh: head(blocks(mlp_half(emb + out, block_parameters(params, 0)),
                                                       params, nh, start=1), params),  # (B, T, V)
    "loss": lambda logits, targets: gpt.lm_loss(logits, targets),  # ()
}, _layer_model({"W_attn": "h0_attn_W_attn", "W_proj": "h0_attn_W_proj"}))

# Kata 11: block 0's SwiGLU (its input is block 0's second RMSNorm).
SWIGLU = Graph("a small Llama, block 0's SwiGLU as lines", {
    "res": lambda idx, params, nh, cos, sin: attention_half(params["wte"][idx], block_parameters(params, 0), nh,
                                                            cos, sin),  # (B, T, C)
    "x": lambda res, params: rmsnorm(res, params["h0_rms_2_w"]),  # (B, T, C)
    "a": lambda x, W_gate: x @ W_gate,  # (B, T, H)
    "u": lambda x, W_up: x @ W_up,  # (B, T, H)
    "h": lambda a, u: a * torch.sigmoid(a) * u,  # (B, T, H): silu(a) * u
    "out": lambda h, W_down: h @ W_down,  # (B, T, C)
    "logits": lambda res, out, params, nh: head(blocks(res + out, params, nh, start=1), params),  # (B, T, V)
    "loss": lambda logits, targets: gpt.lm_loss(logits, targets),  # ()
}, _layer_model({"W_gate": "h0_mlp_W_gate", "W_up": "h0_mlp_W_up", "W_down": "h0_mlp_W_down"}))


# --------------------------------------------------------------------------- the saved activations (kata 12)

#: the batches of the checks, cut from the same built-in names as Part 2's (models/gpt.py)
stream, make_batch = gpt.stream, gpt.make_batch


def saved_names(n_layer: int) -> tuple[str, ...]:
    """The names of what the forward pass keeps for the backward pass (forward_saved), in forward order.

    cos, sin (RoPE's tables); per block l (prefix h{l}_): rms_1_x, rms_1_inv_rms, rms_1_norm,
    rms_1_out (attention's x), attn_q_rot, attn_k_rot, attn_v, attn_att, attn_y, attn_ycat, rms_2_x,
    rms_2_inv_rms, rms_2_norm, rms_2_out (the SwiGLU's x), mlp_a, mlp_u, mlp_h; then rmsf_x,
    rmsf_inv_rms, rmsf_norm, rmsf_out and logits.
    """
    roles = ("rms_1_x", "rms_1_inv_rms", "rms_1_norm", "rms_1_out", "attn_q_rot", "attn_k_rot", "attn_v",
             "attn_att", "attn_y", "attn_ycat", "rms_2_x", "rms_2_inv_rms", "rms_2_norm", "rms_2_out",
             "mlp_a", "mlp_u", "mlp_h")
    names = [f"h{l}_{r}" for l in range(n_layer) for r in roles]
    return tuple(["cos", "sin"] + names + ["rmsf_x", "rmsf_inv_rms", "rmsf_norm", "rmsf_out", "logits"])


def forward_saved(params: dict, idx: torch.Tensor, targets: torch.Tensor, nh: int):
    """`forward`, line by line as the layer functions above, keeping every value a backward pass reads.

    Returns (loss, saved, outs): saved holds the names of saved_names (cos, sin (T, hs);
    q_rot, k_rot, v, y (B, nh, T, hs), att (B, nh, T, T), inv_rms (B, T, 1), a, u, h (B, T, H),
    logits (B, T, V), the rest (B, T, C)); outs holds the outputs each parameter feeds ("x0",
    "h{l}_rms_1", "h{l}_attn_qkv", "h{l}_attn_out", "h{l}_rms_2", "h{l}_mlp_a", "h{l}_mlp_u",
    "h{l}_mlp_out", "rmsf"), for the checks' scales. Under autograd it is differentiable like
    `forward` (the checks compare the two).
    """
    B, T = idx.shape
    saved, outs = {}, {}

    def rms(prefix, x, w):
        inv_rms = (x.pow(2).mean(-1, keepdim=True) + EPS).rsqrt()  # (B, T, 1)
        norm = x * inv_rms  # (B, T, C)
        out = norm * w  # (B, T, C)
        saved.update({f"{prefix}_x": x, f"{prefix}_inv_rms": inv_rms, f"{prefix}_norm": norm, f"{prefix}_out": out})
        return out

    x = params["wte"][idx]  # (B, T, C): no position table, RoPE turns q and k instead
    C = x.shape[-1]
    cos, sin = rope_tables(T, C // nh, x.device, x.dtype)  # (T, hs) each
    saved["cos"], saved["sin"] = cos, sin
    outs["x0"] = x
    for l in range(n_layers(params)):
        p = block_parameters(params, l)
        h = f"h{l}"
        xa = rms(f"{h}_rms_1", x, p["rms_1_w"])  # (B, T, C)
        qkv = xa @ p["attn_W_attn"]  # (B, T, 3C)
        q, k, v = (_heads(qkv, i, nh) for i in range(3))  # each (B, nh, T, hs)
        q_rot, k_rot = rope(q, cos, sin), rope(k, cos, sin)  # (B, nh, T, hs)
        preatt = (q_rot @ k_rot.transpose(-2, -1)) * (C // nh) ** -0.5  # (B, nh, T, T)
        att = preatt.masked_fill(gpt.causal_mask(T, x.device) == 0, float("-inf")).softmax(-1)  # (B, nh, T, T)
        y = att @ v  # (B, nh, T, hs)
        ycat = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        attn_out = ycat @ p["attn_W_proj"]  # (B, T, C)
        saved.update({f"{h}_attn_q_rot": q_rot, f"{h}_attn_k_rot": k_rot, f"{h}_attn_v": v, f"{h}_attn_att": att,
                      f"{h}_attn_y": y, f"{h}_attn_ycat": ycat})
        x = x + attn_out  # (B, T, C): the residual adds the branch
        xm = rms(f"{h}_rms_2", x, p["rms_2_w"])  # (B, T, C)
        a = xm @ p["mlp_W_gate"]  # (B, T, H)
        u = xm @ p["mlp_W_up"]  # (B, T, H)
        hidden = silu(a) * u  # (B, T, H)
        mlp_out = hidden @ p["mlp_W_down"]  # (B, T, C)
        saved.update({f"{h}_mlp_a": a, f"{h}_mlp_u": u, f"{h}_mlp_h": hidden})
        x = x + mlp_out  # (B, T, C)
        outs.update({f"{h}_rms_1": xa, f"{h}_attn_qkv": qkv, f"{h}_attn_out": attn_out, f"{h}_rms_2": xm,
                     f"{h}_mlp_a": a, f"{h}_mlp_u": u, f"{h}_mlp_out": mlp_out})
    rmsf = rms("rmsf", x, params["rmsf_w"])  # (B, T, C)
    outs["rmsf"] = rmsf
    logits = rmsf @ params["wte"].T  # (B, T, V): the tied lm_head
    saved["logits"] = logits
    return gpt.lm_loss(logits, targets), saved, outs


def fed_by(name: str) -> tuple[str, ...]:
    """The outputs of forward_saved's `outs` that parameter `name` feeds directly (for its scale)."""
    if name == "wte":
        return ("x0", "rmsf")  # the embedding, and the lm_head reads rmsf against wte
    if name == "rmsf_w":
        return ("rmsf",)
    h, role = name.split("_", 1)
    where = {"rms_1_w": "rms_1", "attn_W_attn": "attn_qkv", "attn_W_proj": "attn_out", "rms_2_w": "rms_2",
             "mlp_W_gate": "mlp_a", "mlp_W_up": "mlp_u", "mlp_W_down": "mlp_out"}
    return (f"{h}_{where[role]}",)


def backward_order(names) -> tuple[str, ...]:
    """Parameter names in the order a backward pass finishes them: from rmsf_w back to block 0, wte
    last (its gradient is complete only once the embedding's part joins the lm_head's). Within a
    block, the SwiGLU's W_down before W_gate and W_up, as the pass reaches them."""
    return gpt.backward_order(names)


# --------------------------------------------------------------------------- training (train --model llama)

#: the model `train --model llama` trains: gpt.TRAIN's sizes (C 64, 2 layers, 4 heads, block size 16,
#: batch 32) and H 172, about 8C/3 as Llama's (rounded to a multiple of 4): 100,864 parameters
#: against the GPT's 102,848, so the two train at the same size
TRAIN = LlamaConfig(label="training", B=32, T=16, C=64, nh=4, n_layer=2, seed=1337, std=0.02, H=172)


def init_training(cfg: LlamaConfig) -> dict[str, torch.Tensor]:
    """The GPT's initialisation (gpt.init_training): weights N(0, std) with std 0.02 (as HF transformers
    initialises a Llama), the residual projections' (attn_W_proj, mlp_W_down) scaled by
    1/sqrt(2*n_layer) as in GPT-2, RMSNorm gains 1. Same names and shapes as init_parameters."""
    shapes = {k: v.shape for k, v in init_parameters(dataclasses.replace(cfg, device="cpu")).items()}
    g = torch.Generator().manual_seed(cfg.seed)
    p = {}
    for name, shape in shapes.items():
        if name.endswith("_w"):  # RMSNorm gains
            p[name] = torch.ones(shape, dtype=torch.float64)
        else:
            residual = name.endswith(("_W_proj", "_W_down"))
            std = cfg.std / math.sqrt(2 * cfg.n_layer) if residual else cfg.std
            p[name] = torch.randn(shape, generator=g, dtype=torch.float64) * std
    return {k: v.to(device=cfg.device, dtype=cfg.dtype) for k, v in p.items()}
