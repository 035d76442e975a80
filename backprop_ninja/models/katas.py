"""The katas: where each lives, its steps and their parameters, how it is probed."""

from __future__ import annotations

import dataclasses

import torch

from backprop_ninja.models import gpt, gpt_trace, lecture, llama
from backprop_ninja.models.lecture import Config
from backprop_ninja.models.paths import names_kata, repo_root  # noqa: F401  (repo_root: where the katas live; re-exported)


@dataclasses.dataclass(frozen=True)
class Step:
    """One stub function: `name(*params)` returns the gradients of `targets`."""

    name: str
    params: tuple[str, ...]
    targets: tuple[str, ...]

    def signature(self) -> str:
        return f"{self.name}({', '.join(self.params)})"


def grad_step(name: str, *params: str) -> Step:
    """A step `d<x>` that returns the gradient of the one tensor `x`."""
    return Step(name, params, (name[1:],))


@dataclasses.dataclass(frozen=True)
class Kata:
    """A folder of katas/ and reference/: one module of steps, one test file, hints."""

    folder: str  # e.g. "01_atomic_graph"
    title: str
    # where its probes come from: a forward graph (a step per line), or a whole model (08, 12: a dict of gradients)
    graph: lecture.Graph | gpt_trace.WholeModel
    steps: tuple[Step, ...]
    configs: tuple  # lecture.Config, or gpt.GPTConfig for kata 08

    @property
    def number(self) -> str:
        return self.folder[:2]

    @property
    def module(self) -> str:
        """The learner's file, e.g. atomic_graph.py."""
        return self.folder[3:] + ".py"

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"kata {self.folder} has no step {name!r}; its steps: {', '.join(self.step_names)}")

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)


ATOMIC_STEPS = (
    grad_step("dlogprobs", "logprobs", "Yb"),
    grad_step("dprobs", "probs", "dlogprobs"),
    grad_step("dcounts_sum_inv", "counts", "dprobs"),
    grad_step("dcounts_sum", "counts_sum", "dcounts_sum_inv"),
    grad_step("dcounts", "counts_sum_inv", "dprobs", "dcounts_sum"),
    grad_step("dnorm_logits", "counts", "dcounts"),
    grad_step("dlogit_maxes", "dnorm_logits"),
    grad_step("dlogits", "logits", "dnorm_logits", "dlogit_maxes"),
    grad_step("dh", "W2", "dlogits"),
    grad_step("dW2", "h", "dlogits"),
    grad_step("db2", "dlogits"),
    grad_step("dhpreact", "h", "dh"),
    grad_step("dbngain", "bnraw", "dhpreact"),
    grad_step("dbnbias", "dhpreact"),
    grad_step("dbnraw", "bngain", "dhpreact"),
    grad_step("dbnvar_inv", "bndiff", "dbnraw"),
    grad_step("dbnvar", "bnvar", "dbnvar_inv"),
    grad_step("dbndiff2", "bndiff2", "dbnvar"),
    grad_step("dbndiff", "bndiff", "bnvar_inv", "dbnraw", "dbndiff2"),
    grad_step("dbnmeani", "dbndiff"),
    grad_step("dhprebn", "dbndiff", "dbnmeani"),
    grad_step("dembcat", "W1", "dhprebn"),
    grad_step("dW1", "embcat", "dhprebn"),
    grad_step("db1", "dhprebn"),
    grad_step("demb", "emb", "dembcat"),
    grad_step("dC", "C", "Xb", "demb"),
)

#: every kata runs at least these: the lecture's sizes, odd sizes, float64
CONFIGS = (lecture.LECTURE, lecture.ODD, lecture.FLOAT64)
#: huge logits: a softmax without the max subtraction overflows in float32
LARGE_LOGITS = Config(label="large logits", w2_scale=50.0, seed=99)
#: the smallest batch the unbiased variance allows; float64, because at n=2 the
#: normalised output hardly depends on the input and the gradient is a cancellation
#: of terms ~100x its size, which float32 cannot resolve
BATCH_OF_TWO = Config(label="batch of 2", n=2, seed=3, dtype=torch.float64)

#: Part 2: a small GPT at the model sizes, at odd sizes, and in float64 (models/gpt.py)
GPT_CONFIGS = (gpt.MODEL, gpt.ODD, gpt.FLOAT64)

LAYERNORM_STEPS = (
    grad_step("db", "dout"),
    grad_step("dw", "norm", "dout"),
    grad_step("dx", "dout", "w", "norm", "rstd"),
)

ATTENTION_STEPS = (
    grad_step("dW_proj", "ycat", "dout"),
    grad_step("db_proj", "dout"),
    grad_step("dycat", "W_proj", "dout"),
    grad_step("dy", "y", "dycat"),
    grad_step("datt", "v", "dy"),
    grad_step("dv", "att", "dy"),
    grad_step("dpreatt", "att", "datt"),
    grad_step("dq", "k", "dpreatt"),
    grad_step("dk", "q", "dpreatt"),
    grad_step("dqkv", "dq", "dk", "dv"),
    grad_step("dW_attn", "x", "dqkv"),
    grad_step("db_attn", "dqkv"),
    grad_step("dx", "W_attn", "dqkv"),
)

MLP_STEPS = (
    grad_step("dW_proj", "fch_gelu", "dout"),
    grad_step("db_proj", "dout"),
    grad_step("dfch_gelu", "W_proj", "dout"),
    grad_step("dfch", "fch", "dfch_gelu"),
    grad_step("dW_fc", "x", "dfch"),
    grad_step("db_fc", "dfch"),
    grad_step("dx", "W_fc", "dfch"),
)

#: Part 3: the final RMSNorm of a small Llama (models/llama.py)
RMSNORM_STEPS = (
    grad_step("dw", "norm", "dout"),
    grad_step("dx", "dout", "w", "x", "inv_rms"),
)

#: Part 3: block 0's SwiGLU inside a small Llama (models/llama.py), in backward order
SWIGLU_STEPS = (
    grad_step("dW_down", "h", "dout"),
    grad_step("dh", "W_down", "dout"),
    grad_step("du", "a", "dh"),
    grad_step("da", "a", "u", "dh"),
    grad_step("dW_gate", "x", "da"),
    grad_step("dW_up", "x", "du"),
    grad_step("dx", "W_gate", "W_up", "da", "du"),
)

KATAS = (
    Kata("01_atomic_graph", "the atomic compute graph", lecture.ATOMIC, ATOMIC_STEPS, CONFIGS),
    Kata("02_cross_entropy", "cross entropy in one expression", lecture.CROSS_ENTROPY,
         (grad_step("dlogits", "logits", "Yb"),), CONFIGS + (LARGE_LOGITS,)),
    Kata("03_batchnorm", "batchnorm in one expression", lecture.ATOMIC,
         (grad_step("dhprebn", "dhpreact", "bngain", "bnvar_inv", "bnraw"),), CONFIGS + (BATCH_OF_TWO,)),
    Kata("04_training", "training with your own backward pass", lecture.FUSED,
         (Step("backward", ("Xb", "Yb") + lecture.PARAMETERS
               + ("emb", "embcat", "hprebn", "bnvar_inv", "bnraw", "h", "logits"),
               lecture.PARAMETERS),),
         (dataclasses.replace(lecture.LECTURE, n_hidden=200), lecture.ODD, lecture.FLOAT64)),
    Kata("05_layernorm", "layernorm of a small GPT", gpt.LAYERNORM, LAYERNORM_STEPS, GPT_CONFIGS),
    Kata("06_attention", "causal self-attention of a small GPT", gpt.ATTENTION, ATTENTION_STEPS, GPT_CONFIGS),
    Kata("07_mlp", "the MLP of a small GPT", gpt.MLP, MLP_STEPS, GPT_CONFIGS),
    # the whole GPT: a dict of gradients whose names depend on the layers (probes.model_probe)
    Kata("08_gpt", "the whole GPT's backward pass", gpt_trace.WHOLE,
         (Step("backward", ("idx", "targets", "params", "acts"), ("params",)),),
         (gpt.MODEL, gpt.ODD, gpt.FLOAT64)),
    # Part 3: a small Llama-style model (models/llama.py)
    Kata("09_rmsnorm", "RMSNorm of a small Llama", llama.RMSNORM, RMSNORM_STEPS, llama.CONFIGS),
    Kata("10_rope", "rotary position embeddings of a small Llama", llama.ROPE,
         (grad_step("dq", "dq_rot", "cos", "sin"),), llama.CONFIGS),
    Kata("11_swiglu", "the SwiGLU MLP of a small Llama", llama.SWIGLU, SWIGLU_STEPS, llama.CONFIGS),
    # the whole Llama, as kata 08: from the layers of katas 09-11 and kata 06's attention
    Kata("12_llama", "the whole Llama's backward pass", gpt_trace.LLAMA,
         (Step("backward", ("idx", "targets", "params", "acts"), ("params",)),), llama.CONFIGS),
)


def kata(key: str) -> Kata:
    """Find a kata by folder name, number ("01", "1") or name ("atomic_graph")."""
    for k in KATAS:
        if names_kata(key, k.folder):
            return k
    raise KeyError(f"no kata {key.strip().rstrip('/').split('/')[-1]!r}; the katas are "
                   f"{', '.join(k.folder for k in KATAS)}")
