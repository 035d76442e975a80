"""Kata 01: each step against autograd, in the lecture's order, then the whole chain.

Each test runs its step at the lecture's sizes, at odd sizes and in float64,
with the lecture's upstream gradients and with random ones; the report says
which check failed and why.
"""


def test_dlogprobs(check):
    check("dlogprobs")


def test_dprobs(check):
    check("dprobs")


def test_dcounts_sum_inv(check):
    check("dcounts_sum_inv")


def test_dcounts_sum(check):
    check("dcounts_sum")


def test_dcounts(check):
    check("dcounts")


def test_dnorm_logits(check):
    check("dnorm_logits")


def test_dlogit_maxes(check):
    check("dlogit_maxes")


def test_dlogits(check):
    check("dlogits")


def test_dh(check):
    check("dh")


def test_dW2(check):
    check("dW2")


def test_db2(check):
    check("db2")


def test_dhpreact(check):
    check("dhpreact")


def test_dbngain(check):
    check("dbngain")


def test_dbnbias(check):
    check("dbnbias")


def test_dbnraw(check):
    check("dbnraw")


def test_dbnvar_inv(check):
    check("dbnvar_inv")


def test_dbnvar(check):
    check("dbnvar")


def test_dbndiff2(check):
    check("dbndiff2")


def test_dbndiff(check):
    check("dbndiff")


def test_dbnmeani(check):
    check("dbnmeani")


def test_dhprebn(check):
    check("dhprebn")


def test_dembcat(check):
    check("dembcat")


def test_dW1(check):
    check("dW1")


def test_db1(check):
    check("db1")


def test_demb(check):
    check("demb")


def test_dC(check):
    check("dC")


def test_chain_of_all_26_steps_matches_autograd(check):
    check.chain()
