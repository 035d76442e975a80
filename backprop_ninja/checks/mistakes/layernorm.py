"""Classic wrong answers of kata 05 (layernorm of a small GPT):
dx = rstd * (dnorm - dnorm.mean(-1) - norm * (dnorm * norm).mean(-1)), dnorm = dout * w."""

from backprop_ninja.checks.mistakes import mistake
from backprop_ninja.checks.mistakes.gain import gain

K = "05_layernorm"


# --- db(dout) ----------------------------------------------------------------------------------

@mistake(K, "db", "missing-sum",
         "db is summed over B only: b is shared by every position of every sequence, so its gradient "
         "adds dout over both B and T (dout.sum((0, 1)))")
def db_summed_over_batch_only(dout):
    return dout.sum(0)


@mistake(K, "db", "keepdim",
         "db kept the summed dimensions, (1, 1, C): b is (C,), so sum over (0, 1) without keepdim=True")
def db_kept_dims(dout):
    return dout.sum((0, 1), keepdim=True)


@mistake(K, "db", "scale",
         "db is a mean over the rows, where a sum belongs: every (b, t) row adds its whole gradient to the "
         "shared bias; the loss's own 1/(B*T) is already inside dout")
def db_mean_not_sum(dout):
    return dout.mean((0, 1))


@mistake(K, "db", "shape",
         "db is summed over the channels (dim -1): b has one entry per channel, so keep the channels and sum "
         "over the rows, dims 0 and 1")
def db_summed_over_channels(dout):
    return dout.sum(-1)


# --- dw(norm, dout): a row norm's gain, as in every such kata (gain.py) -----------------------

gain(K, "out = norm * w + b")


# --- dx(dout, w, norm, rstd) -------------------------------------------------------------------

@mistake(K, "dx", "bessel",
         "the variance term carries C/(C-1): that is the unbiased variance (divide by C-1); layernorm's "
         "var = (xshift**2).mean(-1) divides by C, so the term is norm * (dnorm * norm).mean(-1) exactly")
def dx_unbiased_variance(dout, w, norm, rstd):
    C = dout.shape[-1]
    dnorm = dout * w
    return rstd * (dnorm - dnorm.mean(-1, keepdim=True) - C / (C - 1) * norm * (dnorm * norm).mean(-1, keepdim=True))


@mistake(K, "dx", "missing-branch",
         "the path through the mean is missing: every x_c of a row moves its mean by 1/C, so subtract "
         "dnorm.mean(-1, keepdim=True) inside the bracket")
def dx_without_mean_term(dout, w, norm, rstd):
    dnorm = dout * w
    return rstd * (dnorm - norm * (dnorm * norm).mean(-1, keepdim=True))


@mistake(K, "dx", "missing-branch",
         "the path through the variance is missing: every x_c of a row moves its variance too, so subtract "
         "norm * (dnorm * norm).mean(-1, keepdim=True) inside the bracket")
def dx_without_variance_term(dout, w, norm, rstd):
    dnorm = dout * w
    return rstd * (dnorm - dnorm.mean(-1, keepdim=True))


@mistake(K, "dx", "missing-branch",
         "the direct path is missing: x_c reaches norm_c through xshift_c itself (rstd * dnorm), besides "
         "its shares of the mean and the variance")
def dx_without_direct_term(dout, w, norm, rstd):
    dnorm = dout * w
    return rstd * (-dnorm.mean(-1, keepdim=True) - norm * (dnorm * norm).mean(-1, keepdim=True))


@mistake(K, "dx", "missing-factor",
         "w is missing: out = norm * w + b, so dnorm = dout * w before anything else")
def dx_without_w(dout, w, norm, rstd):
    dnorm = dout
    return rstd * (dnorm - dnorm.mean(-1, keepdim=True) - norm * (dnorm * norm).mean(-1, keepdim=True))


@mistake(K, "dx", "wrong-dim",
         "the means run over the rows (dims 0 and 1), as batchnorm's would; layernorm normalises each row "
         "over its channels, so the means are over dim -1")
def dx_means_over_rows(dout, w, norm, rstd):
    dnorm = dout * w
    return rstd * (dnorm - dnorm.mean((0, 1), keepdim=True) - norm * (dnorm * norm).mean((0, 1), keepdim=True))


@mistake(K, "dx", "sign",
         "the variance term has the wrong sign: raising x_c away from the mean raises var, which lowers rstd "
         "(a negative power), so that term is subtracted")
def dx_variance_term_sign(dout, w, norm, rstd):
    dnorm = dout * w
    return rstd * (dnorm - dnorm.mean(-1, keepdim=True) + norm * (dnorm * norm).mean(-1, keepdim=True))


@mistake(K, "dx", "missing-factor",
         "rstd is dropped in front of the bracket: norm = xshift * rstd, so every path from x to norm "
         "carries rstd: dx = rstd * (dnorm - dnorm.mean(-1) - norm * (dnorm * norm).mean(-1))")
def dx_without_rstd(dout, w, norm, rstd):
    dnorm = dout * w
    return dnorm - dnorm.mean(-1, keepdim=True) - norm * (dnorm * norm).mean(-1, keepdim=True)


@mistake(K, "dx", "scale",
         "the two means are sums: each x_c moves its row's mean and variance by 1/C of its share, so the "
         "terms are dnorm.mean(-1, keepdim=True) and norm * (dnorm * norm).mean(-1, keepdim=True)")
def dx_sums_not_means(dout, w, norm, rstd):
    dnorm = dout * w
    return rstd * (dnorm - dnorm.sum(-1, keepdim=True) - norm * (dnorm * norm).sum(-1, keepdim=True))


@mistake(K, "dx", "sign",
         "the mean term has the wrong sign: raising x_c raises the row's mean, which lowers every xshift, "
         "so dnorm.mean(-1, keepdim=True) is subtracted")
def dx_mean_term_sign(dout, w, norm, rstd):
    dnorm = dout * w
    return rstd * (dnorm + dnorm.mean(-1, keepdim=True) - norm * (dnorm * norm).mean(-1, keepdim=True))


@mistake(K, "dx", "missing-factor",
         "the 2 of d(xshift**2) is dropped: var = (xshift**2).mean(-1), whose derivative is 2*xshift/C; "
         "with rstd's -0.5 it gives the variance term norm * (dnorm * norm).mean(-1, keepdim=True), not half of it")
def dx_variance_without_its_two(dout, w, norm, rstd):
    dnorm = dout * w
    return rstd * (dnorm - dnorm.mean(-1, keepdim=True) - 0.5 * norm * (dnorm * norm).mean(-1, keepdim=True))


@mistake(K, "dx", "derivative",
         "the power rule's -0.5 is dropped from rstd = (var + eps)**-0.5: its derivative is "
         "-0.5 * (var + eps)**-1.5, so the variance term is -norm * (dnorm * norm).mean(-1, keepdim=True), "
         "not +2 times it")
def dx_rstd_power_rule_without_half(dout, w, norm, rstd):
    dnorm = dout * w
    return rstd * (dnorm - dnorm.mean(-1, keepdim=True) + 2 * norm * (dnorm * norm).mean(-1, keepdim=True))


@mistake(K, "dx", "derivative",
         "the variance term uses dnorm * dnorm where dnorm * norm belongs: d var / d x_c carries xshift_c, "
         "so the term is norm * (dnorm * norm).mean(-1, keepdim=True)")
def dx_variance_term_of_dnorm_squared(dout, w, norm, rstd):
    dnorm = dout * w
    return rstd * (dnorm - dnorm.mean(-1, keepdim=True) - norm * (dnorm * dnorm).mean(-1, keepdim=True))
