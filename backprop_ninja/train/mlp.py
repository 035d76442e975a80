"""Exercise 4's training: the lecture's loop, run with a hand-written backward pass.

`manual_gradients(backward)` wraps a kata-04 `backward` called in this
process; `autograd_gradients` is its twin with `loss.backward()`, for the
tests, the bench and `train --autograd`. Both plug into the same
`train_step` / `train_loop`, so the loops differ only in where the
gradients come from.

`guarded_fit` is what `backprop-ninja train` runs: the whole loop in the
worker process (`in_worker`, named to the worker by its module path), the
learner's backward imported there once and called directly, each result
checked (`gradient_problem`), so that an exception, a hang (a limit per
call) or a NaN stops the run with the iteration and one sentence. Only
progress crosses the pipe; at each loss line the worker sends the
parameters and the batch, and this process computes the loss it prints.
`check_backward` tries the backward once before training. After
training, `calibrate` fixes BatchNorm's statistics, `split_loss` evaluates
a split and `sample` draws names, all as in the lecture, here.
"""

from __future__ import annotations

import re
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from backprop_ninja.models import lecture
from backprop_ninja.models.data import Splits

#: what the learner's backward receives, by name (the order of its signature)
BACKWARD_ARGS = ("Xb", "Yb", "C", "W1", "b1", "W2", "b2", "bngain", "bnbias",
                 "emb", "embcat", "hprebn", "bnvar_inv", "bnraw", "h", "logits")
SEED = 2147483647  # the lecture's generator seed, for the parameters and the batches
SAMPLE_SEED = 2147483647 + 10  # the lecture's seed for sampling names
STEPS = 200_000
LR_DROP = 100_000  # the notebook's `lr = 0.1 if i < 100000 else 0.01`
BATCH_SIZE = 32
N_EMBD = 10
N_HIDDEN = 200
BLOCK_SIZE = 3
LOG_EVERY = 10_000  # the lecture's; a shorter run prints its loss ten times (log_every)
BACKWARD_SECONDS = 10.0  # a call of the learner's backward that takes longer is stopped (one takes ~1 ms)

#: (params, Xb, Yb) -> (loss, grads in lecture.PARAMETERS order)
Gradients = Callable[[dict, torch.Tensor, torch.Tensor], tuple]


class BackwardError(Exception):
    """The learner's backward cannot train the network; the message is one sentence saying what to do."""


class StoppedAt:
    """A failure of the learner's backward during training, for either model; the loop adds the iteration.

    Mixed into each model's error class; KATA names the kata folder the sentence points to.
    """

    KATA = ""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what  # e.g. "raised ValueError: boom (training.py:12: ...)"
        self.iteration: int | None = None
        self.steps: int | None = None

    def __str__(self) -> str:
        at = f" at iteration {self.iteration:,} of {self.steps:,}" if self.iteration is not None else ""
        return (f"training stopped{at}: kata {self.KATA[:2]}'s backward {self.what}; "
                f"pytest katas/{self.KATA} says what is wrong.")


class BackwardFailed(StoppedAt, BackwardError):
    """Kata 04's backward failed during training; train_loop adds the iteration it failed at."""

    KATA = "04_training"


# --------------------------------------------------------------------------- one step

def init_model(vocab_size: int, *, n_hidden: int = N_HIDDEN, seed: int = SEED, device="cpu",
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The lecture's parameters (lecture.init_parameters), by name; shapes in lecture.PARAMETERS."""
    cfg = lecture.Config(label="training", n=BATCH_SIZE, n_embd=N_EMBD, block_size=BLOCK_SIZE,
                         vocab_size=vocab_size, n_hidden=n_hidden, dtype=dtype, seed=seed, device=str(device))
    return lecture.init_parameters(cfg)


def forward(params: dict, Xb: torch.Tensor, Yb: torch.Tensor) -> dict[str, torch.Tensor]:
    """The exercise-4 forward pass (lecture.FUSED): every named value, the scalar `loss` last."""
    return lecture.FUSED.run({**params, "Xb": Xb, "Yb": Yb})


def manual_gradients(backward: Callable) -> Gradients:
    """The learner's way: forward without a graph, then `backward` by hand."""
    def gradients(params, Xb, Yb):
        with torch.no_grad():  # no autograd anywhere in the manual loop
            values = forward(params, Xb, Yb)
            grads = backward(**{name: values[name] for name in BACKWARD_ARGS})
        return values["loss"], grads
    return gradients


def guarded_gradients(backward: Callable, seconds: float) -> Gradients:
    """The learner's way, guarded: backward runs through guard.call_step (autograd out of reach,
    at most `seconds` per call), and what it returns must be the seven gradients, of the
    parameters' shapes, finite. Anything else raises BackwardFailed."""
    from backprop_ninja.sandbox import guard

    def gradients(params, Xb, Yb):
        with torch.no_grad():
            values = forward(params, Xb, Yb)
        call = guard.call_step(backward, {name: values[name] for name in BACKWARD_ARGS}, seconds,
                               watch_inputs=False)  # the worker's copies: a change cannot reach params
        if call.error is not None:
            raise BackwardFailed(raised_sentence(call.error, seconds))
        problem = gradient_problem(call.result, params)
        if problem:
            raise BackwardFailed(problem)
        return values["loss"], call.result
    return gradients


def raised_sentence(error, seconds: float) -> str:
    """'raised ValueError: boom (katas/04_training/training.py:12: x = ...)' for a guard.Raised."""
    from backprop_ninja.models.paths import shown

    if error.type == "StepTimeout":
        return f"ran longer than {seconds:g} s and was stopped (an endless loop?)"
    text = f"raised {error.type}"
    if error.message:
        text += f": {error.message.splitlines()[0]}"
    where = re.match(r"(.+?):(\d+): ?(.*)$", error.where)
    if where:
        text += f" ({shown(f'{where[1]}:{where[2]}')}: {where[3]})"
    return text


def gradient_problem(grads, params: dict) -> str:
    """What is wrong with backward's result as gradients of `params`, or "" when it can update them:
    a tuple of len(lecture.PARAMETERS) tensors, each of its parameter's shape, device, and finite."""
    if type(grads) not in (tuple, list) or len(grads) != len(lecture.PARAMETERS):
        got = f"{len(grads)} values" if type(grads) in (tuple, list) else type(grads).__name__
        return (f"returned {got}, not the {len(lecture.PARAMETERS)} gradients "
                f"({', '.join('d' + name for name in lecture.PARAMETERS)})")
    for name, grad in zip(lecture.PARAMETERS, grads):
        problem = tensor_problem(grad, params[name], f"d{name}", name)
        if problem:
            return problem
    if all_finite(grads):
        return ""  # the fast path, every step
    for name, grad in zip(lecture.PARAMETERS, grads):
        finite = torch.isfinite(grad)  # (shape of the parameter)
        if not bool(finite.all()):
            bad = grad[~finite][0].item()
            return f"returned a d{name} holding {bad} ({int((~finite).sum())} of {grad.numel()} elements not finite)"
    return ""  # every element finite: only a norm overflowed


def all_finite(tensors) -> bool:
    """Whether every element of every tensor is finite, in one pass over each and four calls in all: NaN and
    inf carry into each tensor's norm (a norm that overflows only sends the caller to its element-by-element
    check, which names the first bad element)."""
    return bool(torch.stack(torch._foreach_norm(list(tensors))).isfinite().all())


def tensor_problem(grad, want: torch.Tensor, called: str, name: str) -> str:
    """What keeps `grad` from updating the parameter `want` in place, or "" (finiteness is checked apart)."""
    if type(grad) is not torch.Tensor or grad.shape != want.shape:
        shape = tuple(grad.shape) if type(grad) is torch.Tensor else type(grad).__name__
        return f"returned {shape} for {called}, which must have shape {tuple(want.shape)}"
    if grad.device != want.device:
        return f"returned {called} on {grad.device}, but {name} is on {want.device}"
    if grad.layout != torch.strided or not grad.dtype.is_floating_point:
        return f"returned {called} as a {grad.layout} tensor of {grad.dtype}, where {name} is a dense {want.dtype}"
    return ""


def autograd_gradients(params: dict, Xb: torch.Tensor, Yb: torch.Tensor) -> tuple:
    """The twin: the same forward pass, gradients from loss.backward()."""
    for p in params.values():
        p.requires_grad_(True)
        p.grad = None
    loss = forward(params, Xb, Yb)["loss"]
    loss.backward()
    return loss.detach(), tuple(params[name].grad for name in lecture.PARAMETERS)


@torch.no_grad()
def sgd_step(params: dict, grads: tuple, lr: float) -> None:
    """p -= lr * dp for every parameter, in place: two torch._foreach_ calls for all seven, the same
    operations on each tensor (the same numbers to the bit) as a loop of `params[name] -= lr * grad`."""
    torch._foreach_sub_([params[name] for name in lecture.PARAMETERS], torch._foreach_mul(list(grads), lr))


def train_step(gradients: Gradients, params: dict, Xb: torch.Tensor, Yb: torch.Tensor, lr: float) -> torch.Tensor:
    """One SGD step; returns the batch loss (a 0-d tensor, not synchronised)."""
    loss, grads = gradients(params, Xb, Yb)
    sgd_step(params, grads, lr)
    return loss


def learning_rate(i: int, steps: int) -> float:
    """The lecture's step decay: 0.1, then 0.01 from step 100,000, as the notebook's code does,
    whenever the run is that long; a run of at most 100,000 steps drops it at half its steps."""
    drop = LR_DROP if steps > LR_DROP else steps // 2
    return 0.1 if i < drop else 0.01


# --------------------------------------------------------------------------- the loop

def log_every(steps: int) -> int:
    """Every how many steps the loss is printed: the lecture's 10,000, or often enough for ten lines."""
    return LOG_EVERY if steps >= 10 * LOG_EVERY else max(1, steps // 10)


def train_loop(gradients: Gradients, params: dict, Xtr: torch.Tensor, Ytr: torch.Tensor, *, steps: int = STEPS,
               seed: int = SEED, batch_size: int = BATCH_SIZE, progress: bool = True, log=None,
               tick=None) -> torch.Tensor:
    """Minibatch SGD on (Xtr (N, block_size), Ytr (N,)); updates params in place.

    Batches come from a CPU generator seeded with `seed` (so a run picks the
    same batches on every device). The loss is printed every log_every(steps)
    steps (the lecture's 10,000 in a full run); with `log`, log(i, params, ix)
    is called instead, before step i, for whoever prints it (the worker's
    loop sends it to the parent). tick(i), if given, is called before each
    step. Returns every step's batch loss, (steps,) on the CPU.
    """
    g = torch.Generator().manual_seed(seed)
    every = log_every(steps)
    losses = torch.empty(steps, device=Xtr.device)  # (steps,) filled on the device: no sync per step
    for i in tqdm(range(steps), desc="training", unit="step", disable=not progress, mininterval=0.5):
        ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)  # (batch_size,)
        ix = ix.to(Xtr.device)
        Xb, Yb = Xtr[ix], Ytr[ix]  # (batch_size, block_size), (batch_size,)
        if tick is not None:
            tick(i)
        if log is not None and i % every == 0:
            log(i, params, ix)
        try:
            loss = train_step(gradients, params, Xb, Yb, learning_rate(i, steps))
        except BackwardFailed as failed:
            failed.iteration, failed.steps = i, steps
            raise
        losses[i] = loss.detach()
        if log is None and i % every == 0:
            tqdm.write(f"{i:7d}/{steps:7d}: {loss.item():.4f}")  # above the bar, not through it
    return losses.cpu()


def fit(gradients: Gradients, splits: Splits, *, steps: int = STEPS, n_hidden: int = N_HIDDEN, seed: int = SEED,
        device="cpu", dtype: torch.dtype = torch.float32, progress: bool = True) -> tuple[dict, torch.Tensor]:
    """A fresh lecture network trained on splits.Xtr; returns (params, losses (steps,))."""
    params = init_model(splits.vocab_size, n_hidden=n_hidden, seed=seed, device=device, dtype=dtype)
    Xtr, Ytr = splits.Xtr.to(device), splits.Ytr.to(device)
    losses = train_loop(gradients, params, Xtr, Ytr, steps=steps, seed=seed, progress=progress)
    return {k: v.detach() for k, v in params.items()}, losses


# --------------------------------------------------------------------------- the run in the worker

LOOP = "backprop_ninja.train.mlp:in_worker"  # what guarded_fit asks the worker to run


def in_worker(session, backward, *, params: dict, Xtr: torch.Tensor, Ytr: torch.Tensor, steps: int, seed: int,
              device: str) -> dict:
    """The training loop as the worker runs it (sandbox/worker.py's "train" request), beside the learner's
    `backward`, which `session.call` calls within its time limit.

    The learner is given copies of the parameters (a change in place cannot reach the run). At every
    loss line the parameters and the batch go to the parent, which computes the loss it prints.
    Returns {"params", "losses"}, or {"stopped": {"iteration", "what"}} when the backward failed.
    """
    from backprop_ninja.sandbox.results import StepFailed

    device = torch.device(device)
    params = {name: params[name].to(device) for name in lecture.PARAMETERS}
    Xtr, Ytr = Xtr.to(device), Ytr.to(device)

    def gradients(params, Xb, Yb):
        values = forward(params, Xb, Yb)
        kwargs = {name: values[name] for name in BACKWARD_ARGS}
        kwargs.update({name: params[name].clone() for name in lecture.PARAMETERS})  # the learner's copies
        try:
            grads = session.call(backward, kwargs)
        except StepFailed as failed:
            raise BackwardFailed(raised_sentence(failed.raised, session.seconds)) from None
        problem = gradient_problem(grads, params)
        if problem:
            raise BackwardFailed(problem)
        return values["loss"], tuple(grads)

    def log(i, params, ix):
        session.send({"tick": i, "log": i, "params": params, "ix": ix})

    try:
        losses = train_loop(gradients, params, Xtr, Ytr, steps=steps, seed=seed, progress=False, log=log,
                            tick=session.tick)
    except BackwardFailed as failed:
        return {"stopped": {"iteration": failed.iteration, "what": failed.what}}
    return {"params": params, "losses": losses}


def guarded_fit(backward, splits: Splits, *, steps: int = STEPS, n_hidden: int = N_HIDDEN, seed: int = SEED,
                device="cpu", threads: int = 1, seconds: float | None = None,
                progress: bool = True) -> tuple[dict, torch.Tensor]:
    """fit() with the learner's backward (a sandbox Remote): the loop runs in the worker (in_worker).

    Prints the loss lines (computed here from the parameters the worker sends) and a progress bar.
    Raises BackwardFailed, with the iteration, when the backward raised, ran over `seconds`
    (default BACKWARD_SECONDS), returned something that cannot train, or ended the worker.
    """
    from backprop_ninja.sandbox import guard

    seconds = BACKWARD_SECONDS if seconds is None else seconds
    params = init_model(splits.vocab_size, n_hidden=n_hidden, seed=seed, device=device)
    Xtr, Ytr = splits.Xtr.to(device), splits.Ytr.to(device)
    bar = tqdm(total=steps, desc="training", unit="step", disable=not progress, mininterval=0.5)

    def shown(message):
        i = message.get("tick") if isinstance(message, dict) else None
        if not isinstance(i, int) or not 0 <= i < steps:
            return
        if "log" in message:
            sent = sent_params(message.get("params"), params)
            ix = message.get("ix")
            if sent is None or type(ix) is not torch.Tensor or ix.dtype != torch.int64 or ix.dim() != 1:
                return
            with torch.no_grad():
                loss = forward(sent, Xtr[ix.to(device)], Ytr[ix.to(device)])["loss"]
            tqdm.write(f"{i:7d}/{steps:7d}: {loss.item():.4f}")
        bar.update(i - bar.n)

    try:
        answer = guard.run_loop(backward, LOOP, {"params": params, "Xtr": splits.Xtr, "Ytr": splits.Ytr,
                                                 "steps": steps, "seed": seed, "device": str(device)},
                                seconds, shown, threads=threads, device=str(device))
    except BaseException:
        bar.close()
        raise
    trained = sent_params(answer.get("params"), params)
    losses = answer.get("losses")
    if trained is not None and type(losses) is torch.Tensor and losses.shape == (steps,):
        bar.update(steps - bar.n)
        bar.close()
        return trained, losses
    bar.close()
    raise stopped(answer, steps, seconds)


def sent_params(sent, like: dict) -> dict | None:
    """The parameters the worker sent, when they are tensors of `like`'s names, shapes and dtypes; else None."""
    if not isinstance(sent, dict) or set(sent) != set(like):
        return None
    for name, want in like.items():
        got = sent[name]
        if type(got) is not torch.Tensor or got.shape != want.shape or got.dtype != want.dtype:
            return None
    return {name: sent[name].to(like[name].device) for name in like}


def stopped(answer: dict, steps: int, seconds: float, failure=BackwardFailed) -> BackwardFailed:
    """The `failure` (BackwardFailed, or train.gpt's) of a run the worker did not finish (its answer, plain data)."""
    from backprop_ninja.sandbox.results import raised

    stop = answer.get("stopped") if isinstance(answer.get("stopped"), dict) else answer
    what = stop.get("what")
    if not isinstance(what, str):
        error = stop.get("error")
        what = raised_sentence(raised(error), seconds)
    iteration = stop.get("iteration")
    if not isinstance(iteration, int) and isinstance(stop.get("error"), dict):
        iteration = stop["error"].get("iteration")
    failed = failure(what)
    failed.iteration = iteration if isinstance(iteration, int) and 0 <= iteration < steps else None
    failed.steps = steps
    return failed


# --------------------------------------------------------------------------- after training

def _hprebn(params: dict, X: torch.Tensor) -> torch.Tensor:
    emb = params["C"][X]  # (N, block_size, n_embd)
    embcat = emb.view(emb.shape[0], -1)  # (N, block_size*n_embd)
    return embcat @ params["W1"] + params["b1"]  # (N, n_hidden)


@torch.no_grad()
def calibrate(params: dict, Xtr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """BatchNorm's statistics over the whole training set: bnmean, bnvar (1, n_hidden), unbiased.

    At inference there is no batch to normalise over, so these fixed numbers replace it.
    """
    hprebn = _hprebn(params, Xtr.to(params["C"].device))  # (N, n_hidden)
    return hprebn.mean(0, keepdim=True), hprebn.var(0, keepdim=True, unbiased=True)


@torch.no_grad()
def inference_logits(params: dict, bn: tuple, X: torch.Tensor) -> torch.Tensor:
    """logits (N, vocab_size) for contexts X (N, block_size), BatchNorm fixed at bn = (bnmean, bnvar)."""
    bnmean, bnvar = bn
    hpreact = params["bngain"] * (_hprebn(params, X) - bnmean) * (bnvar + lecture.EPS) ** -0.5 + params["bnbias"]
    h = torch.tanh(hpreact)  # (N, n_hidden)
    return h @ params["W2"] + params["b2"]  # (N, vocab_size)


def split_loss(params: dict, bn: tuple, X: torch.Tensor, Y: torch.Tensor) -> float:
    """The mean cross-entropy over a whole split (X (N, block_size), Y (N,))."""
    device = params["C"].device
    return F.cross_entropy(inference_logits(params, bn, X.to(device)), Y.to(device)).item()


@torch.no_grad()
def sample(params: dict, bn: tuple, itos: dict, block_size: int = BLOCK_SIZE, count: int = 20,
           seed: int = SAMPLE_SEED) -> list[str]:
    """Names drawn from the model as the lecture does, each ending with '.'.

    Runs on the CPU with a CPU generator: the same names on every device.
    """
    params = {k: v.cpu() for k, v in params.items()}
    bn = tuple(t.cpu() for t in bn)
    g = torch.Generator().manual_seed(seed)
    names = []
    for _ in range(count):
        out, context = [], [0] * block_size  # start with '...'
        while True:
            logits = inference_logits(params, bn, torch.tensor([context]))  # (1, vocab_size)
            probs = F.softmax(logits, dim=1)
            ix = torch.multinomial(probs, num_samples=1, generator=g).item()
            context = context[1:] + [ix]
            out.append(ix)
            if ix == 0:  # '.' ends the name
                break
        names.append("".join(itos[i] for i in out))
    return names


# --------------------------------------------------------------------------- before training

def check_backward(backward: Callable, *, n_hidden: int = N_HIDDEN, seed: int = SEED, device="cpu",
                   seconds: float = BACKWARD_SECONDS) -> str | None:
    """Try the learner's backward once before training, on a lecture batch (no data needed).

    Raises BackwardError when it cannot train at all (not written yet, raises,
    wrong number or shapes of gradients, not finite); returns a warning when
    it runs but disagrees with autograd (the loss may not fall), else None.
    """
    cfg = lecture.Config(label="training", n=BATCH_SIZE, n_embd=N_EMBD, block_size=BLOCK_SIZE,
                         n_hidden=n_hidden, seed=seed, device=str(device))
    params, batch = lecture.init_parameters(cfg), lecture.make_batch(cfg)
    Xb, Yb = batch["Xb"], batch["Yb"]  # (n, block_size), (n,); a row of Xb repeats
    try:
        _, grads = guarded_gradients(backward, seconds)({k: v.clone() for k, v in params.items()}, Xb, Yb)
    except BackwardFailed as failed:
        if failed.what.startswith("raised NotImplementedError"):
            raise BackwardError("kata 04's backward is not written yet: finish it (pytest katas/04_training), "
                                "or train with the worked solution: backprop-ninja train --impl reference.") from None
        raise BackwardError(f"kata 04's backward {failed.what}, so it cannot train the network: "
                            "pytest katas/04_training shows what is wrong.") from None
    _, expected = autograd_gradients({k: v.clone() for k, v in params.items()}, Xb, Yb)
    for name, got, want in zip(lecture.PARAMETERS, grads, expected):
        if not torch.allclose(got.to(want.dtype), want, rtol=1e-3, atol=1e-5):
            return (f"warning: your d{name} differs from autograd's by up to "
                    f"{(got - want).abs().max().item():.2e}, so the loss may not fall: "
                    "pytest katas/04_training says where.")
    return None


def plot_losses(losses: torch.Tensor, path) -> None:
    """A PNG of log10(loss) per step (losses (steps,)), with its 1,000-step mean on top. Needs matplotlib."""
    import matplotlib
    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    lossi = losses.log10()  # (steps,)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(lossi.tolist(), linewidth=0.3, alpha=0.5, label="log10(loss), each step")
    if len(lossi) >= 1000:
        mean = lossi[: len(lossi) // 1000 * 1000].view(-1, 1000).mean(1)  # (steps // 1000,)
        ax.plot([1000 * k + 500 for k in range(len(mean))], mean.tolist(), label="mean of 1,000 steps")
    ax.set_xlabel("step")
    ax.set_ylabel("log10(loss)")
    ax.set_title("exercise 4: training loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
