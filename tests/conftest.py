"""Shared fixtures of the project's own suite."""

import shutil
from pathlib import Path

import pytest
import torch

from backprop_ninja.models.katas import KATAS
from backprop_ninja.sandbox import loader

ROOT = Path(__file__).resolve().parent.parent
#: a test that compiles with torch.compile skips without one: its CPU kernels are C++
needs_cxx = pytest.mark.skipif(not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
                               reason="torch.compile needs a C++ compiler on CPU")

# One thread per test process: under pytest -n auto the workers share the cores,
# and torch's own threads would fight over them (a step gets ~10x slower).
torch.set_num_threads(1)


def kata_module(tree: str, kata):
    """The module of `kata` under katas/ or reference/ of this repository."""
    return loader.load(loader.kata_file(ROOT / tree, kata))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def built_katas():
    """The katas whose files exist in this checkout (all four once every issue landed)."""
    return [k for k in KATAS if loader.kata_file(ROOT / "katas", k).exists()]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A fresh copy of katas/ and reference/ (as a clone has them), the current directory."""
    dest = tmp_path / "project"
    for part in ("katas", "reference"):
        shutil.copytree(ROOT / part, dest / part, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    monkeypatch.chdir(dest)
    monkeypatch.delenv("BACKPROP_NINJA_IMPL", raising=False)
    return dest


def solution_changed(tmp_path: Path, folder: str, old: str, new: str):
    """open_file of the worked solution of kata `folder` with one piece changed: a learner's file."""
    source = (ROOT / "reference" / folder / f"{folder[3:]}.py").read_text()
    assert old in source
    path = tmp_path / folder / f"{folder[3:]}.py"
    path.parent.mkdir(parents=True)
    path.write_text(source.replace(old, new))
    return loader.open_file(path)


def once_trained(right, slip, start: torch.Tensor, name: str):
    """A backward that is `right` wherever its parameter `name` equals `start` (the checks' fixed inputs and a
    run's first step) and `slip` once training has moved it: a slip the fixed batches cannot see, as one that
    depends on the parameters' values would be. start: the parameter as the training check initialises it."""
    def backward(**kwargs):
        p = kwargs["params"][name] if "params" in kwargs else kwargs[name]
        moved = p.shape == start.shape and p.dtype == start.dtype and not torch.equal(p, start)
        return (slip if moved else right)(**kwargs)
    return backward


def after_a_step(kata, fn):
    """fn in place of the right backward of kata 04, 08 or 12 (the catalogue's own) once the training check's
    first step has moved the parameters (the MLP's C, the whole model's wte): a slip its fixed batches miss."""
    from backprop_ninja.checks.mistakes import gpt, llama, training
    from backprop_ninja.models import gpt as gpt_model
    from backprop_ninja.models import llama as llama_model
    from backprop_ninja.train import mlp

    right, start, name = {
        "04_training": (training._backward, lambda: mlp.init_model(27)["C"], "C"),
        "08_gpt": (gpt._backward, lambda: gpt_model.init_parameters(gpt_model.FLOAT64)["wte"], "wte"),
        "12_llama": (llama._backward, lambda: llama_model.init_parameters(llama_model.FLOAT64)["wte"], "wte"),
    }[kata.folder]
    return once_trained(right, fn, start(), name)


def learner_file(tmp_path, kata, source: str) -> loader.Learner:
    """`source` as the learner's file of `kata` (a Kata), under tmp_path/<folder>/, opened as pytest opens one."""
    path = tmp_path / kata.folder / kata.module
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return loader.open_file(path)
