"""names.txt: where it is found, how it is downloaded and verified, and the lecture's dataset.

Downloads go to a server on 127.0.0.1 that each test starts itself; the
real names.txt is only read when BACKPROP_NINJA_DATA points to it (CI).
"""

import hashlib
import http.server
import os
import random
import socket
import threading

import pytest
import torch

from backprop_ninja import data
from backprop_ninja.data import DataError

NAMES = b"emma\nolivia\nava\nisabella\nsophia\n"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder, and no BACKPROP_NINJA_DATA / _URL from the outside world."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("BACKPROP_NINJA_CACHE", str(folder))
    monkeypatch.delenv("BACKPROP_NINJA_DATA", raising=False)
    monkeypatch.delenv("BACKPROP_NINJA_DATA_URL", raising=False)
    monkeypatch.setattr(data, "TIMEOUT", 5)
    return folder


@pytest.fixture
def serve(monkeypatch):
    """serve(body, length=, status=) starts a local HTTP server and points the download at it."""
    servers = []

    def start(body: bytes, *, length: int | None = None, status: int = 200) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(status)
                # a Content-Length larger than the body, then a close: a transfer cut short
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep the test output clean
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        url = f"http://127.0.0.1:{server.server_address[1]}/names.txt"
        monkeypatch.setenv("BACKPROP_NINJA_DATA_URL", url)
        return url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """The address of a local port nobody listens on: the download is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/names.txt"


def expect_sha(monkeypatch, body: bytes) -> None:
    monkeypatch.setattr(data, "SHA256", hashlib.sha256(body).hexdigest())


def assert_one_sentence_for_the_learner(message: str) -> None:
    assert "\n" not in message
    assert "--data" in message and "BACKPROP_NINJA_DATA" in message


# --------------------------------------------------------------------------- download and cache

def test_good_download_is_verified_then_cached(cache, serve, monkeypatch):
    expect_sha(monkeypatch, NAMES)
    serve(NAMES)
    path = data.locate(progress=False)
    assert path == cache / "names.txt"
    assert path.read_bytes() == NAMES
    assert sorted(os.listdir(cache)) == ["names.txt"]  # no temporary file left behind


def test_cached_file_is_used_without_the_network(cache, monkeypatch):
    expect_sha(monkeypatch, NAMES)
    cache.mkdir()
    (cache / "names.txt").write_bytes(NAMES)
    monkeypatch.setenv("BACKPROP_NINJA_DATA_URL", closed_port_url())
    assert data.locate(progress=False) == cache / "names.txt"


def test_corrupt_download_never_reaches_the_cache(cache, serve):
    url = serve(b"not the names you are looking for\n")
    with pytest.raises(DataError) as e:
        data.locate(progress=False)
    assert str(e.value).startswith(f"names.txt is not available: the download from {url} failed (")
    assert "sha256" in str(e.value)
    assert_one_sentence_for_the_learner(str(e.value))
    assert os.listdir(cache) == []


def test_transfer_cut_short_never_reaches_the_cache(cache, serve, monkeypatch):
    expect_sha(monkeypatch, NAMES)  # the bytes that do arrive are right: only the length tells
    serve(NAMES, length=len(NAMES) + 1000)
    with pytest.raises(DataError, match="cut short") as e:
        data.locate(progress=False)
    assert_one_sentence_for_the_learner(str(e.value))
    assert os.listdir(cache) == []


def test_server_down_gives_one_sentence(cache, monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv("BACKPROP_NINJA_DATA_URL", url)
    with pytest.raises(DataError) as e:
        data.locate(progress=False)
    message = str(e.value)
    assert message.startswith(f"names.txt is not available: the download from {url} failed (")
    assert message.endswith("pass --data /path/to/names.txt or set BACKPROP_NINJA_DATA.")
    assert_one_sentence_for_the_learner(message)
    assert not (cache / "names.txt").exists()


def test_http_error_is_named(cache, serve):
    serve(b"Not Found", status=404)
    with pytest.raises(DataError, match="HTTP 404"):
        data.locate(progress=False)
    assert not (cache / "names.txt").exists()


def test_silent_server_times_out(cache, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts the connection, never answers
    monkeypatch.setattr(data, "TIMEOUT", 0.3)
    monkeypatch.setenv("BACKPROP_NINJA_DATA_URL", f"http://127.0.0.1:{listener.getsockname()[1]}/names.txt")
    try:
        with pytest.raises(DataError, match="timed out"):
            data.locate(progress=False)
    finally:
        listener.close()
    assert os.listdir(cache) == []


def test_corrupt_cache_is_reported_and_not_used(cache, monkeypatch):
    cache.mkdir()
    (cache / "names.txt").write_bytes(b"half a fi")
    monkeypatch.setenv("BACKPROP_NINJA_DATA_URL", closed_port_url())
    with pytest.raises(DataError) as e:
        data.locate(progress=False)
    message = str(e.value)
    assert "corrupt" in message and str(cache / "names.txt") in message and "delete it" in message
    assert "\n" not in message


# --------------------------------------------------------------------------- precedence

def test_missing_data_file_says_so(cache, tmp_path):
    missing = tmp_path / "nope" / "names.txt"
    with pytest.raises(DataError) as e:
        data.locate(missing)
    assert str(e.value).startswith(f"--data points to {missing}, which does not exist")


def test_data_option_beats_environment_and_cache(cache, tmp_path, monkeypatch):
    mine, env = tmp_path / "mine.txt", tmp_path / "env.txt"
    mine.write_bytes(NAMES)
    env.write_bytes(NAMES)
    monkeypatch.setenv("BACKPROP_NINJA_DATA", str(env))
    assert data.locate(mine) == mine


def test_environment_beats_cache_and_is_not_checksummed(cache, tmp_path, monkeypatch):
    expect_sha(monkeypatch, NAMES)
    cache.mkdir()
    (cache / "names.txt").write_bytes(NAMES)
    env = tmp_path / "my_names.txt"
    env.write_bytes(b"ada\nalan\n")  # a learner's own list of names is fine
    monkeypatch.setenv("BACKPROP_NINJA_DATA", str(env))
    assert data.locate() == env


def test_environment_pointing_nowhere_says_so(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_NINJA_DATA", str(tmp_path / "gone.txt"))
    with pytest.raises(DataError, match="^BACKPROP_NINJA_DATA points to .*gone.txt, which does not exist"):
        data.locate()


def test_cache_folder_is_the_variable_then_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_NINJA_CACHE", str(tmp_path / "mine"))
    assert data.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("BACKPROP_NINJA_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "xdg" / "backprop-ninja"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "backprop-ninja"


# --------------------------------------------------------------------------- the dataset

def test_read_words_skips_blank_lines_and_rejects_an_empty_file(tmp_path):
    f = tmp_path / "names.txt"
    f.write_text("emma\n\nava\n")
    assert data.read_words(f) == ["emma", "ava"]
    f.write_text("\n\n")
    with pytest.raises(DataError, match="holds no names"):
        data.read_words(f)


def test_vocabulary_is_dot_then_the_sorted_letters():
    stoi, itos = data.vocabulary(["cab", "b"])
    assert stoi == {".": 0, "a": 1, "b": 2, "c": 3}
    assert itos == {0: ".", 1: "a", 2: "b", 3: "c"}


def test_build_dataset_pairs_each_context_with_the_next_character():
    stoi, _ = data.vocabulary(["ab"])
    X, Y = data.build_dataset(["ab"], 3, stoi)
    assert X.dtype == Y.dtype == torch.int64
    assert X.tolist() == [[0, 0, 0], [0, 0, 1], [0, 1, 2]]  # ... → a, ..a → b, .ab → .
    assert Y.tolist() == [1, 2, 0]
    X, Y = data.build_dataset([], 3, stoi)
    assert X.shape == (0, 3) and Y.shape == (0,)


def test_splits_are_80_10_10_after_the_lectures_shuffle():
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefgh") for _ in range(rng.randint(2, 6))) for _ in range(101)]
    splits = data.make_splits(words, block_size=3)
    lecture = list(words)
    random.seed(42)
    random.shuffle(lecture)  # exactly the lecture's lines
    rows = [sum(len(w) + 1 for w in part) for part in (lecture[:80], lecture[80:90], lecture[90:])]
    assert [splits.Xtr.shape[0], splits.Xdev.shape[0], splits.Xte.shape[0]] == rows
    assert splits.Xtr.shape[1] == 3 and splits.vocab_size == 9
    X0, Y0 = data.build_dataset(lecture[:1], 3, splits.stoi)
    assert torch.equal(splits.Xtr[: len(Y0)], X0) and torch.equal(splits.Ytr[: len(Y0)], Y0)


@pytest.mark.skipif(not os.environ.get("BACKPROP_NINJA_DATA"), reason="BACKPROP_NINJA_DATA is not set")
def test_real_names_txt_gives_the_lectures_dataset():
    path = data.locate()
    assert data.sha256(path) == data.SHA256
    words = data.read_words(path)
    assert len(words) == 32033
    splits = data.make_splits(words)
    assert splits.vocab_size == 27
    assert (splits.Xtr.shape, splits.Xdev.shape, splits.Xte.shape) == ((182625, 3), (22655, 3), (22866, 3))
