"""`backprop-ninja reset KATA [--yes]`: back up the learner's file, then restore the stub.

The stub comes from git: the newest committed version of katas/<folder>/<module>
in which every step still raises NotImplementedError (so a learner who
committed their own work still gets the pristine stub back). Without git
there is no stub to restore, and nothing is touched. The backup goes to
<repo>/.backprop-ninja/backups/<folder>/, which .gitignore ignores; an
existing backup is never overwritten.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from backprop_ninja.models.paths import shown

BACKUPS = Path(".backprop-ninja") / "backups"
MAX_COMMITS = 500  # how far back to look for the stub


class ResetError(Exception):
    """Why nothing was reset; the message is for the learner."""


def register(subparsers) -> None:
    p = subparsers.add_parser("reset", help="restore a kata's stub (your file is backed up first)",
                              description="Write a timestamped backup of your kata file under "
                                          ".backprop-ninja/backups/, then restore the stub from git.")
    p.add_argument("kata", metavar="KATA", help="01, 02, 03, 04 or a folder name")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=run)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True)


def stub_source(root: Path, kata) -> tuple[bytes, str]:
    """(the stub's bytes, short commit id) from git history; ResetError if there is none."""
    from backprop_ninja.commands.hint import stubs

    rel = f"katas/{kata.folder}/{kata.module}"
    need_git = (f"reset needs git: it restores {rel} from the repository's history, and ")
    if shutil.which("git") is None:
        raise ResetError(need_git + "git is not installed. Nothing was changed.")
    if _git(root, "rev-parse", "--is-inside-work-tree").returncode != 0:
        raise ResetError(need_git + f"{root} is not a git checkout (a downloaded archive?). Nothing was "
                         "changed; to start over, copy the stub from the project's repository "
                         "(or git clone it).")
    log = _git(root, "log", f"-{MAX_COMMITS}", "--format=%H", "--", rel)
    commits = log.stdout.decode().split() if log.returncode == 0 else []
    if not commits:
        raise ResetError(f"git has no committed version of {rel}, so there is no stub to restore. "
                         "Nothing was changed.")
    for commit in commits:
        shown = _git(root, "show", f"{commit}:./{rel}")
        if shown.returncode != 0:  # deleted in that commit
            continue
        if stubs(shown.stdout.decode("utf-8", "replace"), kata.step_names) == set(kata.step_names):
            return shown.stdout, commit[:7]
    raise ResetError(f"no committed version of {rel} has every step as a stub (raising "
                     f"NotImplementedError). Nothing was changed; pick a version by hand: git log -- {rel}")


def stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def backup(root: Path, kata, data: bytes) -> Path:
    """Write `data` to a new backup file (never over an existing one); return its path."""
    folder = root / BACKUPS / kata.folder
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(kata.module).stem
    base = f"{stem}.{stamp()}"
    for i in range(1, 1000):
        path = folder / (f"{base}.py" if i == 1 else f"{base}-{i}.py")
        try:
            with open(path, "xb") as f:
                f.write(data)
            return path
        except FileExistsError:
            continue
    raise ResetError(f"too many backups named {base}*.py in {folder}; nothing was changed")


def _write(path: Path, data: bytes) -> None:
    """Replace the file in one step (a crash leaves the old file or the new one, never half).

    The bytes go to a temporary file beside it, renamed over it; whatever fails,
    the temporary file is removed (OSError goes to the caller).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.reset-tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()  # gone already after a successful rename


def _why(error: OSError) -> str:
    """'Permission denied' rather than '[Errno 13] Permission denied: ...'."""
    return error.strerror or str(error) or type(error).__name__


def _confirm(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def run(args) -> int:
    from backprop_ninja.commands.hint import stubs
    from backprop_ninja.models import katas

    def fail(message: str, code: int = 1) -> int:
        print(f"backprop-ninja reset: {message}", file=sys.stderr)
        return code

    try:
        kata = katas.kata(args.kata)
    except KeyError as e:
        return fail(e.args[0], 2)
    root = katas.repo_root()
    if root is None:
        return fail("no kata repository here: run this inside your clone of backprop-ninja")
    target = root / "katas" / kata.folder / kata.module
    try:
        stub, commit = stub_source(root, kata)
    except ResetError as e:
        return fail(str(e))
    if target.is_dir():
        return fail(f"{shown(target)} is a folder, where the kata file belongs: move it out of the way, "
                    "then run reset again. Nothing was changed")
    try:
        current = target.read_bytes() if target.exists() else None
    except OSError as e:
        return fail(f"could not read {shown(target)} ({_why(e)}), so it cannot be backed up. Nothing was changed")
    if current == stub:
        print(f"{shown(target)} is already the stub: nothing to reset")
        return 0

    if current is None:
        what = f"{shown(target)} is missing"
    else:
        written = len(kata.steps) - len(stubs(current.decode("utf-8", "replace"), kata.step_names))
        what = f"{shown(target)} has {written} of {len(kata.steps)} steps written"
    if not args.yes:
        if not sys.stdin.isatty():
            return fail(f"{what}; reset replaces it with the stub after a backup. Nothing was changed: "
                        f"no terminal to ask on, so confirm with --yes (backprop-ninja reset {kata.number} --yes)")
        if not _confirm(f"{what}. Back it up and restore the stub? [y/N] "):
            print("nothing changed")
            return 1

    saved = None
    if current is not None:
        try:
            saved = backup(root, kata, current)
        except OSError as e:
            return fail(f"could not write the backup in {shown(root / BACKUPS)} ({_why(e)}). Nothing was changed")
        except ResetError as e:
            return fail(str(e))
    try:
        _write(target, stub)
    except OSError as e:
        kept = f"; a copy is also in {shown(saved)}" if saved is not None else ""
        return fail(f"could not write {shown(target)} ({_why(e)}): is its folder read-only, or the file open "
                    f"in another program? Your file is unchanged{kept}")
    if saved is not None:
        print(f"backup:   {shown(saved)}   (your file, as it was)")
    print(f"restored: {shown(target)}   (the stub, from commit {commit})")
    if saved is not None:
        print(f"undo:     cp {shown(saved)} {shown(target)}")
    return 0
