"""Classic wrong answers of kata 02: dlogits = (softmax(logits) - one_hot(Yb)) / n."""

import torch.nn.functional as F

from backprop_ninja.checks.mistakes import mistake

K = "02_cross_entropy"


def _one_hot(logits, Yb):
    return F.one_hot(Yb, logits.shape[1]).to(logits.dtype)  # (n, vocab_size)


@mistake(K, "dlogits", "scale",
         "dlogits is n times too large (a forgotten 1/n): F.cross_entropy averages over the batch, "
         "so every row of dlogits is divided by n = logits.shape[0]")
def dlogits_forgot_over_n(logits, Yb):
    return F.softmax(logits, 1) - _one_hot(logits, Yb)


@mistake(K, "dlogits", "scale",
         "dlogits is divided by vocab_size instead of n: the mean of cross_entropy is over the batch "
         "(dim 0, n = logits.shape[0]), not over the classes")
def dlogits_over_vocab_size(logits, Yb):
    return (F.softmax(logits, 1) - _one_hot(logits, Yb)) / logits.shape[1]


@mistake(K, "dlogits", "sign",
         "dlogits has the opposite sign: it is softmax minus one-hot, not one-hot minus softmax "
         "(the loss is minus the log-probability, and gradient descent must pull the correct logit up)")
def dlogits_one_hot_minus_softmax(logits, Yb):
    return (_one_hot(logits, Yb) - F.softmax(logits, 1)) / logits.shape[0]


@mistake(K, "dlogits", "missing-branch",
         "dlogits is only softmax/n: the loss also reads the correct logit directly "
         "(-logits[i, Yb[i]] + logsumexp), so subtract 1 at the correct class of each row (one-hot of Yb) "
         "before dividing by n; then each row sums to zero")
def dlogits_forgot_one_hot(logits, Yb):
    return F.softmax(logits, 1) / logits.shape[0]


@mistake(K, "dlogits", "indexing",
         "dlogits[:, Yb] -= 1 subtracts 1 in the columns Yb of *every* row; the correct class is one "
         "element per row: index with dlogits[range(n), Yb]")
def dlogits_indexed_columns(logits, Yb):
    n = logits.shape[0]
    out = F.softmax(logits, 1)
    out[:, Yb] -= 1
    return out / n


@mistake(K, "dlogits", "wrong-dim",
         "the softmax is taken over dim 0 (down the batch); each example's probabilities are a row, "
         "so normalise over the classes: F.softmax(logits, 1)")
def dlogits_softmax_over_batch(logits, Yb):
    return (F.softmax(logits, 0) - _one_hot(logits, Yb)) / logits.shape[0]


@mistake(K, "dlogits", "scale",
         "only the softmax is divided by n: the one-hot belongs inside the mean too, "
         "dlogits = (softmax - one_hot) / n")
def dlogits_one_hot_not_over_n(logits, Yb):
    return F.softmax(logits, 1) / logits.shape[0] - _one_hot(logits, Yb)


@mistake(K, "dlogits", "non-finite",
         "exp(logits) overflows to inf when a logit is above ~88 in float32, and inf/inf is NaN: "
         "subtract each row's max before exp (softmax does not change), or use F.softmax")
def dlogits_softmax_without_max(logits, Yb):
    counts = logits.exp()  # (n, vocab_size): inf for large logits
    probs = counts / counts.sum(1, keepdim=True)
    return (probs - _one_hot(logits, Yb)) / logits.shape[0]


# --- more classic slips (diagnosis catalogue) ---------------------------------------------------

@mistake(K, "dlogits", "hard-coded",
         "this is exactly (softmax - one_hot) / 32: 32 is the lecture's batch size, right there and wrong at "
         "any other; take n = logits.shape[0]")
def dlogits_over_32(logits, Yb):
    return (F.softmax(logits, 1) - _one_hot(logits, Yb)) / 32


@mistake(K, "dlogits", "derivative",
         "this is exactly (log_softmax - one_hot) / n: the gradient of -log softmax[Yb] is the softmax itself "
         "(the probabilities) minus the one-hot, not the log-probabilities")
def dlogits_log_softmax(logits, Yb):
    return (F.log_softmax(logits, 1) - _one_hot(logits, Yb)) / logits.shape[0]


@mistake(K, "dlogits", "mutated-input",
         "logits -= logits.max(...) subtracts the max in place, inside the tensor the harness handed in: "
         "compute logits - logits.max(1, keepdim=True).values as a new tensor")
def dlogits_max_subtracted_in_place(logits, Yb):
    logits -= logits.max(1, keepdim=True).values
    counts = logits.exp()  # (n, vocab_size)
    return (counts / counts.sum(1, keepdim=True) - _one_hot(logits, Yb)) / logits.shape[0]
