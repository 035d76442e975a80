"""A workspace from pip: the wheel carries the katas, and `backprop-ninja init DIR` needs no clone.

The wheel is built from a copy of the sources and installed in a fresh virtual
environment, which borrows this environment's torch and pytest through a .pth
file (no download; the wheel itself goes in with --no-deps, by this environment's pip).
"""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

from backprop_ninja.commands import init

SOURCES = ("pyproject.toml", "README.md", "backprop_ninja", "katas")


def run(*args, cwd, env=None, timeout=600):
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env)


def bin_of(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built (without build isolation: offline) from a copy of the sources."""
    pytest.importorskip("build")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for part in SOURCES:
        if (ROOT / part).is_dir():
            shutil.copytree(ROOT / part, src / part,
                            ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.egg-info"))
        else:
            shutil.copy2(ROOT / part, src / part)
    built = run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp / "dist", src, cwd=tmp)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (path,) = (tmp / "dist").glob("*.whl")
    return path


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed, torch and pytest borrowed from this one."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    made = run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv.parent)  # this pip installs
    assert made.returncode == 0, made.stderr
    python = bin_of(venv, "python")
    theirs = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=venv).stdout.strip()
    # this environment's packages, after the fresh one's own (a .pth path goes last on sys.path)
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(theirs, "borrowed.pth").write_text("\n".join(sorted(ours)) + "\n")
    installed = run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index",
                    "--ignore-installed", wheel, cwd=venv)
    assert installed.returncode == 0, installed.stderr
    return venv


def test_the_wheel_carries_the_package_the_katas_and_their_notebooks_but_no_solutions(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "backprop_ninja").rglob("*.py")
               if "kata_files" not in p.parts}
    assert modules - names == set(), "list the subpackage in pyproject.toml [tool.setuptools] packages"
    for folder in sorted(p.name for p in (ROOT / "katas").glob("[0-9][0-9]_*")):
        for f in (ROOT / "katas" / folder).iterdir():
            if f.suffix in (".py", ".md", ".toml", ".ipynb"):
                assert f"backprop_ninja/kata_files/{folder}/{f.name}" in names
    assert not any("reference" in n or "__pycache__" in n for n in names)


def test_init_makes_a_workspace_where_pytest_runs_the_katas_without_a_clone(venv, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("BACKPROP_NINJA_IMPL", None)
    where = run(bin_of(venv, "python"), "-c", "import backprop_ninja; print(backprop_ninja.__file__)", cwd=tmp_path,
                env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr  # the wheel's, not ours

    made = run(bin_of(venv, "backprop-ninja"), "init", "ws", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("workspace: ws   (")
    ws = tmp_path / "ws"
    assert (ws / "katas" / "01_atomic_graph" / "atomic_graph.ipynb").exists()
    assert not (ws / "reference").exists()

    tested = run(bin_of(venv, "python"), "-m", "pytest", "-p", "no:xdist", cwd=ws, env=env)
    assert "todo  dlogprobs        katas/01_atomic_graph/atomic_graph.py:" in tested.stdout, tested.stdout
    assert "kata 01 (the atomic compute graph): 0/26 steps done" in tested.stdout
    assert re.search(r" \d+ todo, \d+ waits in ", tested.stdout.splitlines()[-1])  # the chain and training wait

    hinted = run(bin_of(venv, "backprop-ninja"), "hint", "dprobs", cwd=tmp_path, env=env)  # outside: shipped hints
    assert hinted.stdout.startswith("dprobs · kata 01 · hint 1 of 3"), hinted.stderr

    if shutil.which("git"):  # reset restores the stub from the first commit
        stub = ws / "katas" / "02_cross_entropy" / "cross_entropy.py"
        pristine = stub.read_text()
        stub.write_text(pristine + "\n# my attempt\n")
        reset = run(bin_of(venv, "backprop-ninja"), "reset", "02", "--yes", cwd=ws, env=env)
        assert reset.returncode == 0, reset.stderr
        assert stub.read_text() == pristine


def test_init_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    from backprop_ninja import cli

    assert cli.main(["init", str(tmp_path)]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_a_workspace_has_every_kata_folder_and_a_pytest_ini(tmp_path):
    folders = init.make(tmp_path / "ws", ROOT / "katas")
    assert folders == sorted(p.name for p in (ROOT / "katas").glob("[0-9][0-9]_*") if (p / "hints.toml").exists())
    assert "testpaths = katas" in (tmp_path / "ws" / "pytest.ini").read_text()


def test_the_stubs_as_shipped_are_the_katas_of_the_repository():
    """backprop_ninja/stubs/ (what init writes, from any install) holds each kata's stub and notebook exactly
    as katas/ has them in the repository: a stub or notebook changed in one place only fails here."""
    from backprop_ninja.models.paths import shipped_stubs

    shipped = {p.relative_to(shipped_stubs()).as_posix() for p in shipped_stubs().glob("*/*") if p.is_file()}
    expected = set()
    for folder in sorted((ROOT / "katas").glob("[0-9][0-9]_*")):
        for suffix in (".py", ".ipynb"):
            expected.add(f"{folder.name}/{folder.name[3:]}{suffix}")
    assert shipped == expected
    for name in sorted(expected):
        assert (shipped_stubs() / name).read_bytes() == (ROOT / "katas" / name).read_bytes(), \
            f"backprop_ninja/stubs/{name} differs from katas/{name}: cp katas/{name} backprop_ninja/stubs/{name}"


def test_init_writes_the_stubs_as_shipped_never_the_learners_solved_working_copy(tmp_path):
    """An editable install's katas/ is the learner's clone: a solved stub there stays out of the workspace."""
    clone = tmp_path / "clone" / "katas"
    shutil.copytree(ROOT / "katas", clone, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    for name in ("02_cross_entropy/cross_entropy.py", "03_batchnorm/batchnorm.py"):
        shutil.copy2(ROOT / "reference" / name, clone / name)
    notebook = clone / "02_cross_entropy" / "cross_entropy.ipynb"
    notebook.write_text(notebook.read_text().replace("raise NotImplementedError", "return logits  # mine"))
    init.make(tmp_path / "ws", clone)
    for folder in sorted((ROOT / "katas").glob("[0-9][0-9]_*")):
        for f in folder.iterdir():
            if f.suffix in (".py", ".md", ".toml", ".ipynb"):
                assert (tmp_path / "ws" / "katas" / folder.name / f.name).read_bytes() == f.read_bytes(), f


def test_the_wheel_carries_the_stubs_as_shipped(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in sorted((ROOT / "katas").glob("[0-9][0-9]_*")):
        for suffix in (".py", ".ipynb"):
            assert f"backprop_ninja/stubs/{folder.name}/{folder.name[3:]}{suffix}" in names
