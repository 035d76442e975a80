"""Naming what is wrong: the form of the result, then catalogued mistakes, then generic patterns.

`structure` looks at the form of one returned tensor (graph, shape, dtype,
device, finiteness); `values` explains a right-shaped tensor with wrong
numbers. Both prefer a catalogued mistake that reproduces the learner's
result on the same inputs; then come generic patterns, each a rule of the
chain rule the learner can act on:

- shape family: transposed, keepdim, missing-sum, summed over the wrong dim,
  a sum not broadcast back, a size hard-coded from the lecture;
- sign; scale by a constant, with the factor named (n, 1/n, n-1, n/(n-1)
  is Bessel's, 2, ...);
- branches: the answer is a combination of the gradients through each
  consumer with one left out (missing-branch), negated (sign) or scaled;
- chain-rule: the local derivative alone, or the upstream gradient passed through;
- accumulate: the rows of dC used once are right, the repeated ones not;
- hard-coded: right at the kata's own sizes (the lecture's, the model's), wrong at any other;
  or right if a size were another number, the same at every probe ("right if hs were 32");
- precision: right to float32 precision only, off in float64 (a constant with too few digits, an
  eps missing);
- otherwise wrong-values, with how many elements differ and the worst one (never a catalogued
  slip: each has its own id).
"""

from backprop_ninja.checks.diagnose.form import structure
from backprop_ninja.checks.diagnose.numbers import values

__all__ = ["structure", "values"]
