"""Classic wrong answers of kata 09 (RMSNorm of a small Llama):
dx = inv_rms * (dnorm - norm * (dnorm * norm).mean(-1)), dnorm = dout * w, norm = x * inv_rms."""

from backprop_ninja.checks.mistakes import mistake
from backprop_ninja.checks.mistakes.gain import gain

K = "09_rmsnorm"


# --- dw(norm, dout): a row norm's gain, as in every such kata (gain.py) -----------------------

gain(K, "out = norm * w", "; the loss's own 1/(B*T) is already inside dout")


# --- dx(dout, w, x, inv_rms) -------------------------------------------------------------------

@mistake(K, "dx", "derivative",
         "this is layernorm's gradient: its term - dnorm.mean(-1, keepdim=True) comes from the path through "
         "the row's mean, and RMSNorm subtracts no mean, so that path and its term do not exist here; "
         "two terms remain, dnorm and norm * (dnorm * norm).mean(-1, keepdim=True)")
def dx_layernorm_mean_term_kept(dout, w, x, inv_rms):
    dnorm = dout * w
    norm = x * inv_rms
    return inv_rms * (dnorm - dnorm.mean(-1, keepdim=True) - norm * (dnorm * norm).mean(-1, keepdim=True))


@mistake(K, "dx", "derivative",
         "dx is divided by inv_rms where it is multiplied: inv_rms already is 1/RMS and norm = x * inv_rms, "
         "so every path from x to norm carries the factor inv_rms")
def dx_divided_by_inv_rms(dout, w, x, inv_rms):
    dnorm = dout * w
    norm = x * inv_rms
    return (dnorm - norm * (dnorm * norm).mean(-1, keepdim=True)) / inv_rms


@mistake(K, "dx", "derivative",
         "inv_rms is taken for the RMS itself, divided where it multiplies, in norm and in front: inv_rms is "
         "1/RMS, so norm = x * inv_rms and every path from x to norm carries the factor inv_rms")
def dx_inv_rms_taken_for_the_rms(dout, w, x, inv_rms):
    dnorm = dout * w
    norm = x / inv_rms
    return (dnorm - norm * (dnorm * norm).mean(-1, keepdim=True)) / inv_rms


@mistake(K, "dx", "missing-branch",
         "the path through inv_rms is missing: inv_rms is computed from x, so every x_c of a row moves it; "
         "subtract norm * (dnorm * norm).mean(-1, keepdim=True) inside the bracket")
def dx_without_inv_rms_term(dout, w, x, inv_rms):
    return inv_rms * (dout * w)


@mistake(K, "dx", "missing-branch",
         "the direct path is missing: x_c reaches norm_c = x_c * inv_rms itself (inv_rms * dnorm), besides "
         "its share of inv_rms")
def dx_without_direct_term(dout, w, x, inv_rms):
    dnorm = dout * w
    norm = x * inv_rms
    return -inv_rms * norm * (dnorm * norm).mean(-1, keepdim=True)


@mistake(K, "dx", "scale",
         "the second term is a sum over the channels where their mean belongs: the mean square divides by C, "
         "so each x_c moves it by 2*x_c/C and the term is norm * (dnorm * norm).mean(-1, keepdim=True)")
def dx_sum_not_mean(dout, w, x, inv_rms):
    dnorm = dout * w
    norm = x * inv_rms
    return inv_rms * (dnorm - norm * (dnorm * norm).sum(-1, keepdim=True))


@mistake(K, "dx", "missing-factor",
         "w is missing: out = norm * w, so dnorm = dout * w before anything else")
def dx_without_w(dout, w, x, inv_rms):
    dnorm = dout
    norm = x * inv_rms
    return inv_rms * (dnorm - norm * (dnorm * norm).mean(-1, keepdim=True))


@mistake(K, "dx", "missing-factor",
         "inv_rms is dropped in front of the bracket: norm = x * inv_rms, so every path from x to norm "
         "carries inv_rms: dx = inv_rms * (dnorm - norm * (dnorm * norm).mean(-1, keepdim=True))")
def dx_without_inv_rms_in_front(dout, w, x, inv_rms):
    dnorm = dout * w
    norm = x * inv_rms
    return dnorm - norm * (dnorm * norm).mean(-1, keepdim=True)


@mistake(K, "dx", "missing-factor",
         "the second term uses x where norm = x * inv_rms belongs: d inv_rms / d x_c = -inv_rms**3 * x_c / C "
         "carries inv_rms three times, one outside the bracket and two inside, as norm * (dnorm * norm)")
def dx_x_for_norm(dout, w, x, inv_rms):
    dnorm = dout * w
    return inv_rms * (dnorm - x * (dnorm * x).mean(-1, keepdim=True))


@mistake(K, "dx", "missing-factor",
         "the second term lacks an inv_rms: d inv_rms / d x_c = -inv_rms**3 * x_c / C, so it carries inv_rms "
         "three times (inv_rms**3 * x * (dnorm * x).mean(-1), or inv_rms in front of norm * (dnorm * norm)), "
         "and only the direct term carries it once")
def dx_second_term_without_inv_rms(dout, w, x, inv_rms):
    dnorm = dout * w
    norm = x * inv_rms
    return inv_rms * dnorm - norm * (dnorm * norm).mean(-1, keepdim=True)


@mistake(K, "dx", "sign",
         "the second term has the wrong sign: raising |x_c| raises the mean square, which lowers inv_rms "
         "(a negative power), so that term is subtracted")
def dx_second_term_sign(dout, w, x, inv_rms):
    dnorm = dout * w
    norm = x * inv_rms
    return inv_rms * (dnorm + norm * (dnorm * norm).mean(-1, keepdim=True))


@mistake(K, "dx", "missing-factor",
         "the 2 of d(x**2) is dropped: the mean square's derivative is 2*x_c/C; with the root's -0.5 it gives "
         "the term norm * (dnorm * norm).mean(-1, keepdim=True), not half of it")
def dx_without_the_two_of_the_square(dout, w, x, inv_rms):
    dnorm = dout * w
    norm = x * inv_rms
    return inv_rms * (dnorm - 0.5 * norm * (dnorm * norm).mean(-1, keepdim=True))


@mistake(K, "dx", "derivative",
         "the power rule's -0.5 is dropped from inv_rms = (ms + eps)**-0.5: its derivative is "
         "-0.5 * (ms + eps)**-1.5, so the second term is -norm * (dnorm * norm).mean(-1, keepdim=True), "
         "not +2 times it")
def dx_power_rule_without_half(dout, w, x, inv_rms):
    dnorm = dout * w
    norm = x * inv_rms
    return inv_rms * (dnorm + 2 * norm * (dnorm * norm).mean(-1, keepdim=True))


@mistake(K, "dx", "derivative",
         "the second term is twice what it should be: the power rule gives -0.5 * (ms + eps)**-1.5 and the mean "
         "square 2*x_c/C: their product is 1, leaving -inv_rms**3 * x_c / C; the 0.5 is dropped")
def dx_power_rule_half_dropped_minus_kept(dout, w, x, inv_rms):
    dnorm = dout * w
    norm = x * inv_rms
    return inv_rms * (dnorm - 2 * norm * (dnorm * norm).mean(-1, keepdim=True))


@mistake(K, "dx", "wrong-dim",
         "the mean runs over the rows (dims 0 and 1), as batchnorm's would; RMSNorm normalises each row "
         "over its channels, so the mean is over dim -1")
def dx_mean_over_rows(dout, w, x, inv_rms):
    dnorm = dout * w
    norm = x * inv_rms
    return inv_rms * (dnorm - norm * (dnorm * norm).mean((0, 1), keepdim=True))


@mistake(K, "dx", "eps",
         "the RMS is recomputed from x without eps: inv_rms = (mean(x**2) + 1e-5).rsqrt() holds eps inside "
         "the root, so use the inv_rms you are given; the difference is small, eps beside mean(x**2), and "
         "float64 shows it where float32 may not")
def dx_rms_without_eps(dout, w, x, inv_rms):
    r = x.pow(2).mean(-1, keepdim=True).rsqrt()
    dnorm = dout * w
    norm = x * r
    return r * (dnorm - norm * (dnorm * norm).mean(-1, keepdim=True))
