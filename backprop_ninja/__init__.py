"""backprop-ninja: every gradient of the makemore MLP and of a small GPT, by hand, checked against autograd."""

import warnings

__version__ = "0.1.0"

# torch warns once when NumPy is absent (at import, and on some lazy imports);
# nothing here needs NumPy. Set once for the package, before any torch import.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")


def check(step, fn=None, kata=None, **options):
    """Check your function for a step against autograd, print the report, return the verdict.

        from backprop_ninja import check
        check("dprobs", dprobs)   # or check("dprobs"): the function of that name in your notebook

    A name two katas share means kata 01's step unless kata= says otherwise:
    check("dlogits", kata="02"), check("dhprebn", kata="03"). Options:
    seconds= (per-call time limit), quiet=True (no printing). Needs torch
    only: no pytest, no clone. See backprop_ninja.notebook.check.
    """
    from backprop_ninja.notebook import check as _check  # torch is imported here, not by `import backprop_ninja`

    return _check(step, fn, kata=kata, **options)


def hint(step, level=1, kata=None):
    """Print a hint for a step: level 1 what to look at, 2 the rule, 3 nearly the line.

        from backprop_ninja import hint
        hint("dprobs")            # hint("dprobs", level=2), hint("dlogits", kata="02")

    The hints are the kata's hints.toml: your clone's or workspace's, else the
    ones that came with the package (Colab needs no clone). No torch.
    """
    import argparse

    from backprop_ninja.commands.hint import run

    run(argparse.Namespace(step=str(step), level=int(level), kata=None if kata is None else str(kata), call=True))


def forward_values(kata):
    """The forward pass of a kata at its own sizes (the lecture's, a GPT kata's model sizes): {name: tensor}.

        globals().update(forward_values("01"))   # logprobs, probs, ..., h, W2, Xb, Yb

    See backprop_ninja.forward.forward_values.
    """
    from backprop_ninja.forward import forward_values as _forward_values

    return _forward_values(kata)
