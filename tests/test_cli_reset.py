"""`backprop-ninja reset KATA [--yes]` on a temporary git repository made from the project."""

import io
import re
import shutil
import subprocess

import pytest
from conftest import ROOT

from backprop_ninja import cli
from backprop_ninja.commands import reset

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="reset restores stubs from git")

KATA01 = "katas/01_atomic_graph/atomic_graph.py"
SOLVED = (ROOT / "reference" / "01_atomic_graph" / "atomic_graph.py").read_bytes()
BACKUP = re.compile(r"atomic_graph\.\d{8}-\d{6}(-\d+)?\.py")


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=learner", "-c", "user.email=l@example.com",
                           "-c", "commit.gpgsign=false", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def copy(tmp_path, monkeypatch):
    """katas/, reference/ and .gitignore of the project in a fresh folder (the current directory)."""
    dest = tmp_path / "project"
    for part in ("katas", "reference"):
        shutil.copytree(ROOT / part, dest / part, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    shutil.copy(ROOT / ".gitignore", dest / ".gitignore")
    monkeypatch.chdir(dest)
    return dest


@pytest.fixture
def clone(copy):
    """The copy as a git checkout whose one commit ships the stubs (what a clone is)."""
    git(copy, "init", "-q")
    git(copy, "add", "-A")
    git(copy, "commit", "-q", "-m", "stubs")
    return copy


def backups(repo):
    folder = repo / ".backprop-ninja" / "backups" / "01_atomic_graph"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def reset_01(capsys, *args):
    code = cli.main(["reset", "01", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_reset_backs_up_the_solved_file_and_restores_the_stub(clone, capsys):
    stub = (clone / KATA01).read_bytes()
    (clone / KATA01).write_bytes(SOLVED)
    code, out, err = reset_01(capsys, "--yes")
    assert code == 0, err
    assert (clone / KATA01).read_bytes() == stub
    [saved] = backups(clone)
    assert BACKUP.fullmatch(saved.name)
    assert saved.read_bytes() == SOLVED
    assert f"backup:   .backprop-ninja/backups/01_atomic_graph/{saved.name}" in out
    assert f"restored: {KATA01}" in out
    assert f"undo:     cp .backprop-ninja/backups/01_atomic_graph/{saved.name} {KATA01}" in out
    assert git(clone, "status", "--porcelain") == ""  # stub as committed; the backup is ignored


def test_a_backup_is_never_overwritten(clone, capsys, monkeypatch):
    monkeypatch.setattr(reset, "stamp", lambda: "20240101-120000")
    (clone / KATA01).write_bytes(SOLVED)
    assert reset_01(capsys, "--yes")[0] == 0
    (clone / KATA01).write_bytes(SOLVED + b"\n# second attempt\n")
    assert reset_01(capsys, "--yes")[0] == 0
    saved = {p.name: p.read_bytes() for p in backups(clone)}
    assert saved.keys() == {"atomic_graph.20240101-120000.py", "atomic_graph.20240101-120000-2.py"}
    assert saved["atomic_graph.20240101-120000.py"] == SOLVED
    assert saved["atomic_graph.20240101-120000-2.py"].endswith(b"# second attempt\n")


def test_without_a_terminal_and_without_yes_it_refuses(clone, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    (clone / KATA01).write_bytes(SOLVED)
    code, _, err = reset_01(capsys)
    assert code != 0
    assert "--yes" in err and "Nothing was changed" in err
    assert (clone / KATA01).read_bytes() == SOLVED and backups(clone) == []


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("answer, resets", [("y", True), ("n", False), ("", False)])
def test_at_a_terminal_it_asks_first(clone, capsys, monkeypatch, answer, resets):
    monkeypatch.setattr("sys.stdin", Terminal())
    asked = []
    monkeypatch.setattr("builtins.input", lambda q: asked.append(q) or answer)
    (clone / KATA01).write_bytes(SOLVED)
    code, _, _ = reset_01(capsys)
    assert asked and "26 of 26 steps written" in asked[0] and "[y/N]" in asked[0]
    assert (code == 0) == resets
    assert ((clone / KATA01).read_bytes() != SOLVED) == resets
    assert len(backups(clone)) == int(resets)


def test_without_git_history_it_refuses_and_touches_nothing(copy, capsys):
    (copy / KATA01).write_bytes(SOLVED)
    code, _, err = reset_01(capsys, "--yes")
    assert code != 0
    assert "reset needs git" in err and "Nothing was changed" in err
    assert (copy / KATA01).read_bytes() == SOLVED and backups(copy) == []


def test_committed_work_still_resets_to_the_stub(clone, capsys):
    stub = (clone / KATA01).read_bytes()
    first = git(clone, "rev-parse", "--short=7", "HEAD").strip()
    (clone / KATA01).write_bytes(SOLVED)
    git(clone, "commit", "-q", "-am", "my solutions")
    code, out, _ = reset_01(capsys, "--yes")
    assert code == 0
    assert (clone / KATA01).read_bytes() == stub
    assert f"from commit {first}" in out
    assert backups(clone)[0].read_bytes() == SOLVED


def test_a_deleted_file_comes_back_without_a_backup(clone, capsys):
    stub = (clone / KATA01).read_bytes()
    (clone / KATA01).unlink()
    code, out, _ = reset_01(capsys, "--yes")
    assert code == 0 and (clone / KATA01).read_bytes() == stub
    assert backups(clone) == [] and "backup:" not in out


def test_a_stub_needs_no_reset(clone, capsys):
    code, out, _ = reset_01(capsys, "--yes")
    assert code == 0 and "already the stub" in out and backups(clone) == []


def test_an_unknown_kata_is_refused(clone, capsys):
    code = cli.main(["reset", "99", "--yes"])
    assert code != 0 and "no kata" in capsys.readouterr().err


# ---------------------------------------------------------------- OS errors: one sentence, no temporary file
# root ignores file modes, so a read-only folder and a locked file are made by making the write or the rename fail

def tmp_files(repo):
    return sorted(p.name for p in (repo / "katas" / "01_atomic_graph").iterdir() if "reset-tmp" in p.name)


def one_sentence(err: str, *parts: str) -> None:
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("backprop-ninja reset: "), err
    for part in parts:
        assert part in err, err


def read_only(self, data):
    raise PermissionError(13, "Permission denied", str(self))


def locked(src, dst):
    raise PermissionError(1, "Operation not permitted", str(dst))


@pytest.mark.parametrize("patch, why", [(("Path", "write_bytes", read_only), "Permission denied"),  # read-only folder
                                        (("os", "replace", locked), "Operation not permitted")])  # a locked file
def test_a_file_that_cannot_be_replaced_is_kept_with_one_sentence_and_no_temporary_file(clone, capsys, monkeypatch,
                                                                                        patch, why):
    (clone / KATA01).write_bytes(SOLVED)
    module, name, fails = patch
    monkeypatch.setattr(getattr(reset, module), name, fails)
    code, out, err = reset_01(capsys, "--yes")
    assert code == 1 and out == ""
    one_sentence(err, f"could not write {KATA01} ({why})", "read-only, or the file open in another program",
                 "Your file is unchanged", "a copy is also in .backprop-ninja/backups/01_atomic_graph/")
    assert (clone / KATA01).read_bytes() == SOLVED and tmp_files(clone) == []


def test_a_file_that_has_become_a_folder_is_one_sentence(clone, capsys):
    (clone / KATA01).unlink()
    (clone / KATA01).mkdir()
    code, _, err = reset_01(capsys, "--yes")
    assert code == 1
    one_sentence(err, f"{KATA01} is a folder, where the kata file belongs", "Nothing was changed")
    assert (clone / KATA01).is_dir() and backups(clone) == []


def test_a_backup_folder_that_cannot_be_made_is_one_sentence(clone, capsys):
    (clone / KATA01).write_bytes(SOLVED)
    (clone / ".backprop-ninja").write_text("a file where the backups' folder belongs")
    code, _, err = reset_01(capsys, "--yes")
    assert code == 1
    one_sentence(err, "could not write the backup in .backprop-ninja/backups", "Nothing was changed")
    assert (clone / KATA01).read_bytes() == SOLVED


def test_an_unreadable_file_is_one_sentence(clone, capsys, monkeypatch):
    def unreadable(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(reset.Path, "read_bytes", unreadable)
    code, _, err = reset_01(capsys, "--yes")
    assert code == 1
    one_sentence(err, f"could not read {KATA01} (Permission denied)", "Nothing was changed")
