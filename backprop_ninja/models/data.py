"""names.txt: find it (or fetch and verify it once), and build the lecture's dataset.

Where the file comes from, first match wins:

1. an explicit path (`backprop-ninja train --data FILE`);
2. the environment variable BACKPROP_NINJA_DATA;
3. the user cache: `$BACKPROP_NINJA_CACHE/names.txt`, else
   `$XDG_CACHE_HOME/backprop-ninja/names.txt`, else `~/.cache/backprop-ninja/names.txt`;
4. a download from the makemore repository (BACKPROP_NINJA_DATA_URL overrides
   the address), checked against SHA256 before it is moved into the cache.

The cache only ever holds a verified file: the download goes to a temporary
file beside it and is renamed into place (os.replace, atomic) once its
checksum matches. Anything that goes wrong raises DataError, whose message is
one sentence for the learner saying what to do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import random
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import torch
from tqdm import tqdm

URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
FILENAME = "names.txt"
TIMEOUT = 30  # seconds without a byte before the download gives up
CHUNK = 1 << 16
HOW_TO_SUPPLY = "Download it yourself and pass --data /path/to/names.txt or set BACKPROP_NINJA_DATA."


class DataError(Exception):
    """names.txt cannot be had; str(error) is one sentence telling the learner what to do."""


# --------------------------------------------------------------------------- finding the file

def cache_dir() -> Path:
    """The folder where a downloaded names.txt is kept between runs."""
    if os.environ.get("BACKPROP_NINJA_CACHE"):
        return Path(os.environ["BACKPROP_NINJA_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "backprop-ninja"


def locate(path: str | os.PathLike | None = None, *, progress: bool = True) -> Path:
    """The path of a names.txt to read, downloading it into the cache if need be.

    An explicit path or BACKPROP_NINJA_DATA is taken as given (it may be any
    list of names); the cached or downloaded file must match SHA256.
    """
    if path is not None:
        return _existing(Path(path), "--data", "check the path")
    if os.environ.get("BACKPROP_NINJA_DATA"):
        return _existing(Path(os.environ["BACKPROP_NINJA_DATA"]), "BACKPROP_NINJA_DATA",
                         "fix the variable or unset it")
    cached = cache_dir() / FILENAME
    if cached.is_dir():
        raise DataError(f"the cache holds a folder named {FILENAME} ({cached}), where the downloaded file belongs: "
                        "remove it so that the file is downloaded again, or pass --data /path/to/names.txt.")
    if cached.exists():
        try:
            digest = sha256(cached)
        except OSError as e:
            raise DataError(f"the cached {FILENAME} at {cached} cannot be read ({e.strerror or e}): "
                            "delete it so that it is downloaded again, or pass --data /path/to/names.txt.") from None
        if digest != SHA256:
            # never use it (a wrong file would train silently on wrong data), never delete
            # it ourselves (it may be someone's file): say what to do
            raise DataError(f"the cached {FILENAME} at {cached} is corrupt (its sha256 does not match): "
                            "delete it so that it is downloaded again, or pass --data /path/to/names.txt.")
        return cached
    url = os.environ.get("BACKPROP_NINJA_DATA_URL") or URL
    if not _fetchable(url):
        raise DataError(f"BACKPROP_NINJA_DATA_URL is {url!r}, which is not an address to download from "
                        f"(http://…, https://… or file://…): fix it, or unset it to download from {URL}.")
    download(url, cached, progress=progress)
    return cached


def _existing(path: Path, where: str, fix: str) -> Path:
    """`path` when it is a file; else DataError saying what it is instead (`where` names the option)."""
    path = path.expanduser()
    if path.is_dir():
        hint = f" (e.g. {path / FILENAME})" if (path / FILENAME).is_file() else ""
        raise DataError(f"{where} points to {path}, which is a folder, not a file: "
                        f"point it at the names file itself{hint}.")
    if not path.is_file():
        raise DataError(f"{where} points to {path}, which does not exist: {fix}.")
    return path


def _fetchable(url: str) -> bool:
    """True for an http(s) address with a host, or a file:// address: what urlopen can fetch here."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError:
        return False
    if parts.scheme == "file":
        return bool(parts.path)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def sha256(path: Path) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- downloading it

def download(url: str, dest: Path, *, progress: bool = True) -> None:
    """Fetch `url` into `dest`, which only ever appears complete and verified.

    The bytes go to a temporary file in dest's folder (so the final rename is
    atomic: same file system) and are hashed on the way; a short transfer or a
    wrong checksum raises DataError and the temporary file is removed.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise _unavailable(url, f"cannot write to the cache folder {dest.parent}: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _fetch(url, out, progress)
        if digest != SHA256:
            raise _unavailable(url, f"the file's sha256 is {digest[:12]}…, not the expected {SHA256[:12]}…")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _fetch(url: str, out, progress: bool) -> str:
    """Stream `url` into the open file `out`; return the hex sha256 of what was received."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            expected = response.headers.get("Content-Length")
            expected = int(expected) if expected and expected.isdigit() else None
            received = 0
            with tqdm(total=expected, unit="B", unit_scale=True, desc=f"downloading {FILENAME}",
                      disable=not progress, leave=False) as bar:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as e:  # the server answered, but not with the file
        raise _unavailable(url, f"HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:  # refused, unknown host, no network, timeout while connecting
        raise _unavailable(url, _reason(e.reason)) from e
    except (OSError, http.client.HTTPException) as e:  # reset or timeout while reading, bad response
        raise _unavailable(url, _reason(e)) from e
    except ValueError as e:  # an address urllib cannot parse after all
        raise _unavailable(url, str(e) or "not a valid address") from e
    if expected is not None and received != expected:
        # http.client does not raise on a body cut short when read in chunks
        raise _unavailable(url, f"the transfer was cut short: {received} of {expected} bytes")
    return digest.hexdigest()


def _reason(error) -> str:
    """'Connection refused' rather than '[Errno 111] Connection refused'."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _unavailable(url: str, reason: str) -> DataError:
    return DataError(f"{FILENAME} is not available: the download from {url} failed ({reason}). {HOW_TO_SUPPLY}")


# --------------------------------------------------------------------------- the lecture's dataset

def read_words(path: str | os.PathLike) -> list[str]:
    """The names in the file, one per line, in file order (blank lines skipped).

    The file must be UTF-8; a UTF-8 byte-order mark at its start (which some Windows
    editors write) is dropped, so it never becomes part of the first name.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"{path} cannot be read ({e.strerror or e}): check the path and its permissions.") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{path} is UTF-16 text, and names.txt must be UTF-8: save it again as UTF-8, "
                        "one name per line.")
    try:
        text = raw.decode("utf-8-sig")  # utf-8, without a leading byte-order mark
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise DataError(f"{path} is not UTF-8 text: byte 0x{raw[e.start]:02x} on line {line} is not UTF-8 "
                        "(a Latin-1 or Windows-1252 file?); save it again as UTF-8, one name per line.") from None
    words = [w.strip() for w in text.splitlines()]
    words = [w for w in words if w]
    if not words:
        raise DataError(f"{path} holds no names: it should be names.txt, one name per line.")
    if any("." in w for w in words):
        # '.' is the start/end token: a name containing it would corrupt the dataset
        raise DataError(f"{path} has a name containing '.', which the model reserves for start and end.")
    return words


def vocabulary(words: list[str]) -> tuple[dict[str, int], dict[int, str]]:
    """The lecture's stoi/itos: '.' is 0, the letters seen in the data follow, sorted."""
    chars = sorted(set("".join(words)))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi["."] = 0
    itos = {i: s for s, i in stoi.items()}
    return stoi, itos


def build_dataset(words: list[str], block_size: int, stoi: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (context, next character) pair of the words, as the lecture builds them.

    Returns X (N, block_size) int64, the previous block_size characters
    (0-padded at the start of a name), and Y (N,) int64, the character that
    follows ('.' = 0 after the last letter). N is the total length of the
    words plus one per word.
    """
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]  # crop and append
    X = torch.tensor(X, dtype=torch.int64).view(-1, block_size)  # (N, block_size)
    Y = torch.tensor(Y, dtype=torch.int64)  # (N,)
    return X, Y


@dataclasses.dataclass
class Splits:
    """The lecture's 80/10/10 split: X* (N, block_size) and Y* (N,), int64."""

    Xtr: torch.Tensor
    Ytr: torch.Tensor
    Xdev: torch.Tensor
    Ydev: torch.Tensor
    Xte: torch.Tensor
    Yte: torch.Tensor
    stoi: dict
    itos: dict
    block_size: int

    @property
    def vocab_size(self) -> int:
        return len(self.itos)


def split_points(count: int) -> tuple[int, int]:
    """Where the lecture's 80/10/10 split cuts a list of `count` names: (n1, n2)."""
    return int(0.8 * count), int(0.9 * count)


#: the fewest names for which every split of the 80/10/10 cut holds at least one
MIN_NAMES = next(count for count in range(1, 100)
                 if 0 < split_points(count)[0] < split_points(count)[1] < count)


def make_splits(words: list[str], block_size: int = 3, seed: int = 42, source=None) -> Splits:
    """Shuffle as the lecture does (random.seed(42); random.shuffle) and split 80/10/10.

    The vocabulary comes from all the words; `words` itself is not modified.
    Raises DataError when a split would be empty (fewer than MIN_NAMES names);
    `source`, the file the words came from, names it.
    """
    if len(words) < MIN_NAMES:
        where = f"{source} holds" if source is not None else "there are"
        raise DataError(f"{where} only {len(words)} name{'s' * (len(words) != 1)}, too few for the lecture's "
                        f"80/10/10 split into train, val and test: give it at least {MIN_NAMES} names.")
    stoi, itos = vocabulary(words)
    words = list(words)
    random.Random(seed).shuffle(words)  # the same order as random.seed(seed); random.shuffle(words)
    n1, n2 = split_points(len(words))
    Xtr, Ytr = build_dataset(words[:n1], block_size, stoi)  # 80%
    Xdev, Ydev = build_dataset(words[n1:n2], block_size, stoi)  # 10%
    Xte, Yte = build_dataset(words[n2:], block_size, stoi)  # 10%
    return Splits(Xtr, Ytr, Xdev, Ydev, Xte, Yte, stoi, itos, block_size)
