"""`backprop-ninja train --model gpt` (or llama): train a whole model on names with your kata 08 (12) backward.

The model is data (models/gpt_trace.py's WholeModel: Part 2's GPT, Part 3's
Llama, each with its kata); every function here takes it as `model`, the GPT
by default, and the worker's loop by its name.

The names are shuffled and split 80/10/10 by name as in the lecture
(data.make_splits' order), and each split is joined into one stream of
tokens, every name followed by "." (token 0). A batch is B random windows of
T+1 tokens of the training stream. The optimiser is AdamW with a linear
warm-up and a cosine decay (the optimiser is not the kata); the gradients
come from the learner's backward or, with --autograd, from loss.backward():
the same seeded run, the yardstick, in this process (`fit`).

`guarded_fit` runs the learner's: the whole loop in the worker process
(`in_worker`), the backward imported there once and called directly
(autograd out of reach, a time limit per call), each result checked
(`gradient_problem`); a backward that raises, hangs or returns NaN or a
wrong shape stops the run with the iteration and one sentence. At each
evaluation the worker sends the parameters and this process computes the
val loss it prints; the final losses and the names are computed here too.
"""

from __future__ import annotations

import dataclasses
import math
import random

import torch
import torch.nn.functional as F
from tqdm import tqdm

from backprop_ninja.models import gpt
from backprop_ninja.models.gpt_trace import GPT, MODELS, WholeModel
from backprop_ninja.sandbox.guard import call_step
from backprop_ninja.train import mlp

STEPS = 8_000
WARMUP = 200
LR = 3e-3
MIN_LR = 3e-4  # the cosine decays to a tenth
WEIGHT_DECAY = 0.01
BETAS = (0.9, 0.99)
EVAL_EVERY = 1_000
SECONDS = 10.0  # per call of the learner's backward
SAMPLE_SEED = 2147483647 + 10


class GPTTrainError(Exception):
    """The GPT (or the Llama) cannot train; the message is one sentence saying what to do."""


class GPTBackwardFailed(mlp.StoppedAt, GPTTrainError):
    """Kata 08's (or 12's: `kata`) backward failed during training, at `iteration` (0-based) of `steps`."""

    KATA = "08_gpt"

    def __init__(self, what: str, kata: str = KATA):
        super().__init__(what)
        self.KATA = kata


# --------------------------------------------------------------------------- data

@dataclasses.dataclass
class Streams:
    """The lecture's split by name, each part one stream of tokens (N,) int64."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor
    itos: dict

    @property
    def vocab_size(self) -> int:
        return len(self.itos)


def make_streams(words: list[str], seed: int = 42) -> Streams:
    """Shuffle as the lecture does (random.Random(42)), split 80/10/10, join each part with '.'."""
    from backprop_ninja.models.data import vocabulary

    stoi, itos = vocabulary(words)
    words = list(words)
    random.Random(seed).shuffle(words)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))

    def join(part):
        return torch.tensor([stoi[ch] for w in part for ch in w + "."], dtype=torch.int64)  # (N,)

    return Streams(join(words[:n1]), join(words[n1:n2]), join(words[n2:]), itos)


def batch(data: torch.Tensor, B: int, T: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """idx, targets (B, T): B random windows of data, targets shifted by one. g is a CPU generator."""
    starts = torch.randint(0, len(data) - T, (B,), generator=g).to(data.device)  # (B,)
    offsets = torch.arange(T, device=data.device)  # (T,)
    idx = data[starts[:, None] + offsets]  # (B, T)
    return idx, data[starts[:, None] + offsets + 1]


# --------------------------------------------------------------------------- gradients

def backward_kwargs(params: dict, idx, targets, nh: int, model: WholeModel = GPT) -> tuple[torch.Tensor, dict]:
    """The forward pass without a graph: (loss, what the model's kata's backward is fed)."""
    with torch.no_grad():
        loss, acts, _ = model.module.forward_saved(params, idx, targets, nh)
    return loss, {"idx": idx, "targets": targets, "params": dict(params),
                  "acts": {k: v.contiguous() for k, v in acts.items()}}


def manual_gradients(backward, nh: int, seconds: float = SECONDS, model: WholeModel = GPT):
    """(params, idx, targets) -> (loss, grads dict) with the learner's backward."""
    def gradients(params, idx, targets):
        loss, kwargs = backward_kwargs(params, idx, targets, nh, model)
        call = call_step(backward, kwargs, seconds, watch_inputs=False)  # the worker's copies: params stay
        if call.error is not None:
            where = f" at {call.where}" if call.where else ""
            raise GPTTrainError(f"your backward raised {call.error.type}: {call.error}{where}; "
                                f"pytest katas/{model.kata} says what is wrong.")
        return loss, call.result
    return gradients


def autograd_gradients(params: dict, idx, targets, nh: int, model: WholeModel = GPT) -> tuple[torch.Tensor, dict]:
    """The twin: the model's forward and loss.backward(); the parameters themselves stay plain tensors."""
    leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    _, loss = model.module.forward(leaves, idx, targets, nh)
    loss.backward()
    return loss.detach(), {k: v.grad for k, v in leaves.items()}


class AdamW:
    """AdamW on a dict of plain tensors, updated in place (decoupled weight decay on the matrices).

    The moments m and v of all the parameters live in two flat tensors (N,), N the parameters'
    elements in all, one parameter after another in the dict's order, so that most operations of a
    step are one call over every element rather than one call per parameter.
    """

    def __init__(self, params: dict, betas=BETAS, eps: float = 1e-8, weight_decay: float = WEIGHT_DECAY):
        self.params, self.betas, self.eps, self.weight_decay = params, betas, eps, weight_decay
        self.names = list(params)
        self.sizes = [params[k].numel() for k in self.names]
        first = params[self.names[0]]
        self.m = first.new_zeros(sum(self.sizes))  # (N,)
        self.v = first.new_zeros(sum(self.sizes))  # (N,)
        self.t = 0

    @torch.no_grad()
    def step(self, grads: dict, lr: float) -> None:
        """For every parameter p with gradient g:
            m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g**2;  mhat = m / (1 - b1**t);  vhat = v / (1 - b2**t)
            p *= 1 - lr * weight_decay (matrices only);  p -= lr * mhat / (sqrt(vhat) + eps)
        The gradients are copied once into one flat tensor beside m and v; the updates are computed
        flat and taken off the parameters in one torch._foreach_ call. Every element goes through the
        same operations in the same order as with one call per parameter (the same numbers to the bit,
        tests/test_gpt_training.py), in about half the time at train --model gpt's sizes."""
        self.t += 1
        b1, b2 = self.betas
        p = [self.params[k] for k in self.names]
        g = torch.cat([grads[k].reshape(-1) for k in self.names])  # (N,)
        self.m.mul_(b1).add_(g, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
        mhat = self.m / (1 - b1**self.t)  # (N,)
        vhat = self.v / (1 - b2**self.t)  # (N,)
        matrices = [x for x in p if x.dim() >= 2]
        if matrices:
            torch._foreach_mul_(matrices, 1 - lr * self.weight_decay)
        updates = mhat.mul_(lr).div_(vhat.sqrt_().add_(self.eps))  # (N,), in mhat's buffer
        torch._foreach_sub_(p, [u.view_as(x) for u, x in zip(updates.split(self.sizes), p)])


def learning_rate(i: int, steps: int, warmup: int = WARMUP, lr: float = LR, min_lr: float = MIN_LR) -> float:
    """Linear warm-up over `warmup` steps, then a cosine from lr down to min_lr at the last step."""
    if i < warmup:
        return lr * (i + 1) / warmup
    progress = (i - warmup) / max(1, steps - warmup)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))


# --------------------------------------------------------------------------- evaluation and sampling

@torch.no_grad()
def split_loss(params: dict, data: torch.Tensor, cfg: gpt.GPTConfig, chunk: int = 512,
               model: WholeModel = GPT) -> float:
    """Mean cross entropy over a whole stream, cut into windows of T (every token predicted once)."""
    T = cfg.T
    n = (len(data) - 1) // T
    idx = data[: n * T].view(n, T)  # (n, T)
    targets = data[1: n * T + 1].view(n, T)  # (n, T)
    total = 0.0
    for s in range(0, n, chunk):
        _, loss = model.module.forward(params, idx[s:s + chunk], targets[s:s + chunk], cfg.nh)
        total += float(loss) * idx[s:s + chunk].numel()
    return total / idx.numel()


@torch.no_grad()
def sample(params: dict, cfg: gpt.GPTConfig, itos: dict, count: int = 20, seed: int = SAMPLE_SEED,
           max_len: int = 40, model: WholeModel = GPT) -> list[str]:
    """Names drawn from the model, each ending with '.'; on the CPU with a CPU generator (the same on every device)."""
    params = {k: v.cpu() for k, v in params.items()}
    g = torch.Generator().manual_seed(seed)
    names = []
    for _ in range(count):
        context, out = [0], []  # a name starts after a '.'
        while len(out) < max_len:
            logits, _ = model.module.forward(params, torch.tensor([context[-cfg.T:]]), None, cfg.nh)  # (1, t, V)
            ix = torch.multinomial(F.softmax(logits[0, -1], -1), 1, generator=g).item()
            context.append(ix)
            out.append(ix)
            if ix == 0:
                break
        names.append("".join(itos[i] for i in out))
    return names


# --------------------------------------------------------------------------- the loop

def log_every(steps: int) -> int:
    """Every how many steps the losses are printed: EVAL_EVERY, or often enough for ten lines."""
    return max(1, min(EVAL_EVERY, steps // 10))


def progress_line(i: int, steps: int, recent: float, every: int, val: float) -> str:
    """One evaluation's line: the recent batches' mean training loss and the whole val split's loss."""
    return (f"{i:7d}/{steps:7d}: train {recent:.4f} (mean of the last {min(every, i):,} batches)  "
            f"val {val:.4f} (the whole val split)")


def train_loop(gradients, params: dict, data: torch.Tensor, *, B: int, T: int, seed: int, steps: int, every: int,
               evaluate, tick=None, progress: bool = False) -> torch.Tensor:
    """AdamW on batches of `data` (a stream on params' device); updates params in place.

    evaluate(i, params, recent) is called after step i (1-based) every `every` steps and at the
    last, with the mean of the last `every` batch losses; tick(i) before each step. Returns every
    step's batch loss, (steps,) on the CPU.
    """
    opt = AdamW(params)
    g = torch.Generator().manual_seed(seed)
    losses = torch.empty(steps, device=data.device)  # (steps,): no sync per step
    for i in tqdm(range(steps), desc="training", unit="step", disable=not progress, mininterval=0.5):
        if tick is not None:
            tick(i)
        idx, targets = batch(data, B, T, g)
        try:
            loss, grads = gradients(params, idx, targets)
        except GPTBackwardFailed as failed:
            failed.iteration, failed.steps = i, steps
            raise
        opt.step(grads, learning_rate(i, steps))
        losses[i] = loss
        if (i + 1) % every == 0 or i + 1 == steps:
            evaluate(i + 1, params, float(losses[max(0, i + 1 - every):i + 1].mean()))
    return losses.cpu()


def fit(gradients, streams: Streams, cfg: gpt.GPTConfig, *, steps: int = STEPS, progress: bool = True,
        eval_every: int | None = None, model: WholeModel = GPT) -> tuple[dict, torch.Tensor]:
    """Train a fresh model (its init_training, seeded by cfg.seed) here; returns (params, losses (steps,))."""
    params = model.module.init_training(cfg)
    val = streams.val.to(cfg.device)
    every = log_every(steps) if eval_every is None else eval_every

    def evaluate(i, params, recent):
        tqdm.write(progress_line(i, steps, recent, every, split_loss(params, val, cfg, model=model)))

    losses = train_loop(gradients, params, streams.train.to(cfg.device), B=cfg.B, T=cfg.T, seed=cfg.seed,
                        steps=steps, every=every, evaluate=evaluate, progress=progress)
    return params, losses


# --------------------------------------------------------------------------- the run in the worker

LOOP = "backprop_ninja.train.gpt:in_worker"  # what guarded_fit asks the worker to run


def gradient_problem(grads, params: dict) -> str:
    """What is wrong with backward's result as gradients of `params`, or "" when AdamW can take it:
    a dict with every parameter's name, each a tensor of its shape and device, finite."""
    if type(grads) is not dict:
        return f"returned a {type(grads).__name__}, not a dict of gradients by parameter name"
    missing, extra = [k for k in params if k not in grads], [k for k in grads if k not in params]
    if missing or extra:
        return (f"returned a dict without {', '.join(map(str, missing[:3]))}" if missing else
                f"returned a dict with {', '.join(map(repr, extra[:3]))}, which is not a parameter's name")
    for name, want in params.items():
        problem = mlp.tensor_problem(grads[name], want, f"the gradient of {name}", name)
        if problem:
            return problem
    if mlp.all_finite(grads[name] for name in params):
        return ""  # the fast path, every step
    for name in params:
        finite = torch.isfinite(grads[name])
        if not bool(finite.all()):
            bad = grads[name][~finite][0].item()
            return (f"returned a gradient of {name} holding {bad} "
                    f"({int((~finite).sum())} of {finite.numel()} elements not finite)")
    return ""


def in_worker(session, backward, *, params: dict, data: torch.Tensor, B: int, T: int, nh: int, seed: int,
              steps: int, every: int, device: str, model: str = GPT.name) -> dict:
    """The training loop as the worker runs it (sandbox/worker.py's "train" request), beside the
    learner's `backward`, which `session.call` calls within its time limit, fed copies of the parameters.
    `model` is the whole model's name (models/gpt_trace.MODELS), plain data across the pipe.

    At each evaluation the parameters go to the parent, which computes the val loss it prints.
    Returns {"params", "losses"}, or {"stopped": {"iteration", "what"}} when the backward failed.
    """
    from backprop_ninja.sandbox.results import StepFailed

    device = torch.device(device)
    params = {name: t.to(device) for name, t in params.items()}
    spec = MODELS[model]

    def gradients(params, idx, targets):
        loss, kwargs = backward_kwargs(params, idx, targets, nh, spec)
        kwargs["params"] = {name: t.clone() for name, t in params.items()}  # the learner's copies
        try:
            grads = session.call(backward, kwargs)
        except StepFailed as failed:
            raise GPTBackwardFailed(mlp.raised_sentence(failed.raised, session.seconds), spec.kata) from None
        problem = gradient_problem(grads, params)
        if problem:
            raise GPTBackwardFailed(problem, spec.kata)
        return loss, grads

    def evaluate(i, params, recent):
        session.send({"tick": i - 1, "eval": i, "params": params, "recent": recent})

    try:
        losses = train_loop(gradients, params, data.to(device), B=B, T=T, seed=seed, steps=steps, every=every,
                            evaluate=evaluate, tick=session.tick)
    except GPTBackwardFailed as failed:
        return {"stopped": {"iteration": failed.iteration, "what": failed.what}}
    return {"params": params, "losses": losses}


def guarded_fit(backward, streams: Streams, cfg: gpt.GPTConfig, *, steps: int = STEPS, threads: int = 1,
                seconds: float | None = None, progress: bool = True,
                model: WholeModel = GPT) -> tuple[dict, torch.Tensor]:
    """fit() with the learner's backward (a sandbox Remote): the loop runs in the worker (in_worker).

    Prints each evaluation's line, its val loss computed here from the parameters the worker sends,
    and a progress bar. Raises GPTBackwardFailed, with the iteration, when the backward raised, ran
    over `seconds` (default SECONDS), returned something AdamW cannot take, or ended the worker.
    """
    from backprop_ninja.sandbox import guard

    seconds = SECONDS if seconds is None else seconds
    params = model.module.init_training(cfg)
    val = streams.val.to(cfg.device)
    every = log_every(steps)
    bar = tqdm(total=steps, desc="training", unit="step", disable=not progress, mininterval=0.5)

    def shown(message):
        i = message.get("tick") if isinstance(message, dict) else None
        if not isinstance(i, int) or not 0 <= i < steps:
            return
        if "eval" in message:
            sent = mlp.sent_params(message.get("params"), params)
            recent = message.get("recent")
            if sent is None or not isinstance(recent, float):
                return
            tqdm.write(progress_line(i + 1, steps, recent, every, split_loss(sent, val, cfg, model=model)))
        bar.update(i - bar.n)

    args = {"params": params, "data": streams.train, "B": cfg.B, "T": cfg.T, "nh": cfg.nh, "seed": cfg.seed,
            "steps": steps, "every": every, "device": str(cfg.device), "model": model.name}
    try:
        answer = guard.run_loop(backward, LOOP, args, seconds, shown, threads=threads, device=str(cfg.device))
    except BaseException:
        bar.close()
        raise
    trained = mlp.sent_params(answer.get("params"), params)
    losses = answer.get("losses")
    bar.update(steps - bar.n if trained is not None else 0)
    bar.close()
    if trained is not None and type(losses) is torch.Tensor and losses.shape == (steps,):
        return trained, losses
    raise mlp.stopped(answer, steps, seconds, lambda what: GPTBackwardFailed(what, model.kata))


def check_backward(backward, device, model: WholeModel = GPT) -> str | None:
    """Try the learner's backward once on the model's MODEL sizes before training (no data needed).

    Raises GPTTrainError when it cannot train (not written yet, not a dict of
    right-shaped gradients); returns a warning when its values differ from autograd's.
    """
    from backprop_ninja.checks.checker import check_step
    from backprop_ninja.checks.probes import cloned, probes
    from backprop_ninja.checks.problems import form_problem
    from backprop_ninja.models import katas

    found = list(getattr(backward, "findings", ()))
    if found:
        raise GPTTrainError(f"{found[0].sentence('backward')}; pytest katas/{model.kata} shows where.")
    cfg = dataclasses.replace(model.module.MODEL, device=str(device))
    kata = dataclasses.replace(katas.kata(model.kata), configs=(cfg,))
    verdict = check_step(kata, "backward", backward)
    if verdict.status == "todo":
        raise GPTTrainError(f"kata {model.kata[:2]}'s backward is not written yet: finish it (pytest "
                            f"katas/{model.kata}), or train with the worked solution: backprop-ninja train "
                            f"--model {model.name} --impl reference.")
    if verdict.status != "done":
        step = kata.step("backward")
        probe = probes(step, kata.graph, cfg)[0]
        call = call_step(backward, cloned(probe.kwargs), SECONDS)
        if call.error is not None or form_problem(step, probe, call.result):
            raise GPTTrainError(f"backward cannot train the {model.title.split()[-1]} ({verdict.diagnosis}: "
                                f"{verdict.sentence}); pytest katas/{model.kata} shows what is wrong.")
        return (f"warning: your backward differs from autograd's ({verdict.diagnosis}), so the loss may not fall: "
                f"pytest katas/{model.kata} says where.")
    return None

