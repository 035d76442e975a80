"""The allocator setting train, bench and the worker share: freed large blocks are kept for reuse."""

import platform
import subprocess
import sys

import pytest
from conftest import ROOT

from backprop_ninja.sandbox.allocator import keep_freed_blocks

# Page faults of ten steps of `train --model gpt` (forward, kata 08's worked backward, AdamW), in a fresh process.
FAULTS = """
import importlib.util, resource, sys
from backprop_ninja.sandbox.allocator import keep_freed_blocks
if sys.argv[1] == "kept":
    keep_freed_blocks()
import torch
from backprop_ninja.models import gpt
from backprop_ninja.train import gpt as training
spec = importlib.util.spec_from_file_location("worked", sys.argv[2])
worked = importlib.util.module_from_spec(spec)
spec.loader.exec_module(worked)
torch.set_num_threads(1)
cfg = gpt.TRAIN
idx, targets = training.batch(gpt.stream(), cfg.B, cfg.T, torch.Generator().manual_seed(0))  # (B, T)
params = gpt.init_training(cfg)
opt = training.AdamW(params)
def step():
    _, kwargs = training.backward_kwargs(params, idx, targets, cfg.nh)
    opt.step(worked.backward(**kwargs), training.LR)
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(how: str) -> int:
    script = str(ROOT / "reference" / "08_gpt" / "gpt.py")
    return int(subprocess.run([sys.executable, "-c", FAULTS, how, script], capture_output=True, text=True,
                              check=True).stdout)


def test_it_says_whether_it_could_set_glibcs_thresholds():
    assert keep_freed_blocks() is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")


def test_with_glibc_a_gpt_step_no_longer_faults_its_tensors_in():
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc: keep_freed_blocks does nothing here, by design")
    default = faults("default")
    if default < 100:
        pytest.skip(f"this glibc gives few large blocks back ({default} page faults in ten steps): nothing to keep")
    assert faults("kept") < default / 10
