"""Classic wrong answers of kata 03:
dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0) - n/(n-1)*bnraw*(dhpreact*bnraw).sum(0))."""

from backprop_ninja.checks.mistakes import mistake

K = "03_batchnorm"


@mistake(K, "dhprebn", "bessel",
         "the variance term lacks the factor n/(n-1): that is the paper's formula for the biased variance "
         "(1/n); the lecture's bnvar divides by n-1 (Bessel's correction), which puts n/(n-1) on the "
         "bnraw*(dhpreact*bnraw).sum(0) term")
def dhprebn_biased_variance(dhpreact, bngain, bnvar_inv, bnraw):
    n = dhpreact.shape[0]
    return bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0) - bnraw * (dhpreact * bnraw).sum(0))


@mistake(K, "dhprebn", "bessel",
         "the Bessel factor is upside down: bnvar divides by n-1, so the variance term carries "
         "n/(n-1), not (n-1)/n")
def dhprebn_bessel_inverted(dhpreact, bngain, bnvar_inv, bnraw):
    n = dhpreact.shape[0]
    return bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0)
                                     - (n - 1) / n * bnraw * (dhpreact * bnraw).sum(0))


@mistake(K, "dhprebn", "scale",
         "dhprebn is n times too large (a forgotten 1/n): the mean and the variance each average over "
         "the batch, which puts bngain*bnvar_inv/n in front of the bracket")
def dhprebn_forgot_over_n(dhpreact, bngain, bnvar_inv, bnraw):
    n = dhpreact.shape[0]
    return bngain * bnvar_inv * (n * dhpreact - dhpreact.sum(0) - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))


@mistake(K, "dhprebn", "sign",
         "the mean term has the wrong sign: bndiff = hprebn - bnmeani, and every row moves the mean by "
         "1/n, so dhpreact.sum(0) is subtracted inside the bracket")
def dhprebn_mean_term_sign(dhpreact, bngain, bnvar_inv, bnraw):
    n = dhpreact.shape[0]
    return bngain * bnvar_inv / n * (n * dhpreact + dhpreact.sum(0) - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))


@mistake(K, "dhprebn", "sign",
         "the variance term has the wrong sign: raising an input away from the mean raises bnvar, "
         "which lowers bnvar_inv (a negative power), so that term is subtracted")
def dhprebn_variance_term_sign(dhpreact, bngain, bnvar_inv, bnraw):
    n = dhpreact.shape[0]
    return bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0) + n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))


@mistake(K, "dhprebn", "missing-branch",
         "the path through the mean is missing: hprebn feeds bnmeani too, so subtract dhpreact.sum(0) "
         "inside the bracket")
def dhprebn_dropped_mean_term(dhpreact, bngain, bnvar_inv, bnraw):
    n = dhpreact.shape[0]
    return bngain * bnvar_inv / n * (n * dhpreact - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))


@mistake(K, "dhprebn", "missing-branch",
         "the path through the variance is missing: hprebn feeds bnvar too, so subtract "
         "n/(n-1)*bnraw*(dhpreact*bnraw).sum(0) inside the bracket")
def dhprebn_dropped_variance_term(dhpreact, bngain, bnvar_inv, bnraw):
    n = dhpreact.shape[0]
    return bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0))


@mistake(K, "dhprebn", "missing-factor",
         "bngain is missing: hpreact = bngain * bnraw + bnbias, so every path from hprebn to the loss "
         "passes through the factor bngain")
def dhprebn_forgot_bngain(dhpreact, bngain, bnvar_inv, bnraw):
    n = dhpreact.shape[0]
    return bnvar_inv / n * (n * dhpreact - dhpreact.sum(0) - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))


@mistake(K, "dhprebn", "wrong-dim",
         "the sums run over dim 1 (the features); the mean and the variance are taken down the batch, "
         "so sum over dim 0")
def dhprebn_summed_over_features(dhpreact, bngain, bnvar_inv, bnraw):
    n = dhpreact.shape[0]
    return bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(1, keepdim=True)
                                     - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(1, keepdim=True))


# --- more classic slips (diagnosis catalogue) ---------------------------------------------------

@mistake(K, "dhprebn", "hard-coded",
         "this is exactly the formula with n = 32: 32 is the lecture's batch size, right there and wrong at any "
         "other; take n = dhpreact.shape[0]")
def dhprebn_n_is_32(dhpreact, bngain, bnvar_inv, bnraw):
    n = 32
    return bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0) - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))


@mistake(K, "dhprebn", "mutated-input",
         "dhpreact *= ... scales the upstream gradient the harness handed in, in place: write "
         "g = bngain * bnvar_inv * dhpreact, a new tensor")
def dhprebn_scaled_in_place(dhpreact, bngain, bnvar_inv, bnraw):
    n = dhpreact.shape[0]
    dhpreact *= bngain * bnvar_inv
    return 1 / n * (n * dhpreact - dhpreact.sum(0) - n / (n - 1) * bnraw * (dhpreact * bnraw).sum(0))
