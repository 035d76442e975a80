"""Exercise 4's training: the lecture's loop, run with a hand-written backward pass.

`manual_gradients(backward)` wraps the learner's kata-04 `backward`;
`autograd_gradients` is its twin with `loss.backward()`, for the tests and
the bench. Both plug into the same `train_step` / `train_loop`, so the two
loops differ only in where the gradients come from. `guarded_gradients` is
what `backprop-ninja train` runs: the learner's backward through
guard.call_step, every result checked, so that an exception, a hang or a
NaN stops the run with the iteration and one sentence. After training,
`calibrate` fixes BatchNorm's statistics, `split_loss` evaluates a split
and `sample` draws names, all as in the lecture.
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
LOG_EVERY = 10_000
BACKWARD_SECONDS = 10.0  # a call of the learner's backward that takes longer is stopped (one takes ~1 ms)

#: (params, Xb, Yb) -> (loss, grads in lecture.PARAMETERS order)
Gradients = Callable[[dict, torch.Tensor, torch.Tensor], tuple]


class BackwardError(Exception):
    """The learner's backward cannot train the network; the message is one sentence saying what to do."""


class BackwardFailed(BackwardError):
    """The learner's backward failed during training; train_loop adds the iteration it failed at."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what  # e.g. "raised ValueError: boom (training.py:12: ...)"
        self.iteration: int | None = None
        self.steps: int | None = None

    def __str__(self) -> str:
        at = f" at iteration {self.iteration:,} of {self.steps:,}" if self.iteration is not None else ""
        return (f"training stopped{at}: kata 04's backward {self.what}; "
                "pytest katas/04_training shows which gradient is wrong.")


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
            raise BackwardFailed(_raised(call.error, seconds))
        problem = gradient_problem(call.result, params)
        if problem:
            raise BackwardFailed(problem)
        return values["loss"], call.result
    return gradients


def _raised(error, seconds: float) -> str:
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
    if not isinstance(grads, (tuple, list)) or len(grads) != len(lecture.PARAMETERS):
        got = f"{len(grads)} values" if isinstance(grads, (tuple, list)) else type(grads).__name__
        return (f"returned {got}, not the {len(lecture.PARAMETERS)} gradients "
                f"({', '.join('d' + name for name in lecture.PARAMETERS)})")
    for name, grad in zip(lecture.PARAMETERS, grads):
        want = params[name]
        if not torch.is_tensor(grad) or grad.shape != want.shape:
            shape = tuple(grad.shape) if torch.is_tensor(grad) else type(grad).__name__
            return f"returned {shape} for d{name}, which must have shape {tuple(want.shape)}"
        if grad.device != want.device:
            return f"returned d{name} on {grad.device}, but {name} is on {want.device}"
    if bool(torch.stack([grad.sum() for grad in grads]).isfinite().all()):  # (7,): NaN and inf carry into a sum
        return ""  # the fast path, every step: a quarter of the time of a check per tensor
    for name, grad in zip(lecture.PARAMETERS, grads):
        finite = torch.isfinite(grad)  # (shape of the parameter)
        if not bool(finite.all()):
            bad = grad[~finite][0].item()
            return f"returned a d{name} holding {bad} ({int((~finite).sum())} of {grad.numel()} elements not finite)"
    return ""  # every element finite: only a sum overflowed


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
    """p -= lr * dp for every parameter, in place."""
    for name, grad in zip(lecture.PARAMETERS, grads):
        params[name] -= lr * grad


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

def train_loop(gradients: Gradients, params: dict, Xtr: torch.Tensor, Ytr: torch.Tensor, *, steps: int = STEPS,
               seed: int = SEED, batch_size: int = BATCH_SIZE, progress: bool = True) -> torch.Tensor:
    """Minibatch SGD on (Xtr (N, block_size), Ytr (N,)); updates params in place.

    Batches come from a CPU generator seeded with `seed` (so a run picks the
    same batches on every device). Prints the loss every 10,000 steps as the
    lecture does. Returns every step's batch loss, (steps,) on the CPU.
    """
    g = torch.Generator().manual_seed(seed)
    losses = torch.empty(steps, device=Xtr.device)  # (steps,) filled on the device: no sync per step
    for i in tqdm(range(steps), desc="training", unit="step", disable=not progress, mininterval=0.5):
        ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)  # (batch_size,)
        ix = ix.to(Xtr.device)
        Xb, Yb = Xtr[ix], Ytr[ix]  # (batch_size, block_size), (batch_size,)
        try:
            loss = train_step(gradients, params, Xb, Yb, learning_rate(i, steps))
        except BackwardFailed as failed:
            failed.iteration, failed.steps = i, steps
            raise
        losses[i] = loss.detach()
        if i % LOG_EVERY == 0:
            tqdm.write(f"{i:7d}/{steps:7d}: {loss.item():.4f}")  # above the bar, not through it
    return losses.cpu()


def fit(gradients: Gradients, splits: Splits, *, steps: int = STEPS, n_hidden: int = N_HIDDEN, seed: int = SEED,
        device="cpu", dtype: torch.dtype = torch.float32, progress: bool = True) -> tuple[dict, torch.Tensor]:
    """A fresh lecture network trained on splits.Xtr; returns (params, losses (steps,))."""
    params = init_model(splits.vocab_size, n_hidden=n_hidden, seed=seed, device=device, dtype=dtype)
    Xtr, Ytr = splits.Xtr.to(device), splits.Ytr.to(device)
    losses = train_loop(gradients, params, Xtr, Ytr, steps=steps, seed=seed, progress=progress)
    return {k: v.detach() for k, v in params.items()}, losses


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
