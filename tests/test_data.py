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

from backprop_ninja.models import data
from backprop_ninja.models.data import DataError

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


# --------------------------------------------------------------------------- faults: one sentence each

def one_sentence(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message.endswith("."), message
    return message


def test_a_cached_names_txt_that_is_a_folder_is_one_sentence(cache):
    (cache / "names.txt").mkdir(parents=True)
    with pytest.raises(DataError) as e:
        data.locate()
    assert "the cache holds a folder named names.txt" in one_sentence(e) and "remove it" in one_sentence(e)


@pytest.mark.parametrize("url", ["garbage", "ftp//example.org/names.txt", "http://", "https:///names.txt",
                                 "http://[::1/names.txt", "http://127.0.0.1:99999/names.txt", "mailto:a@b.c"])
def test_a_garbage_download_address_is_one_sentence_and_fetches_nothing(cache, monkeypatch, url):
    monkeypatch.setenv("BACKPROP_NINJA_DATA_URL", url)
    with pytest.raises(DataError) as e:
        data.locate(progress=False)
    message = one_sentence(e)
    assert message.startswith(f"BACKPROP_NINJA_DATA_URL is {url!r}, which is not an address to download from")
    assert "unset it" in message and not cache.exists()


def test_a_file_address_is_a_download_like_any_other(cache, tmp_path, monkeypatch):
    expect_sha(monkeypatch, NAMES)
    source = tmp_path / "copy-of-names.txt"
    source.write_bytes(NAMES)
    monkeypatch.setenv("BACKPROP_NINJA_DATA_URL", source.as_uri())
    assert data.locate(progress=False).read_bytes() == NAMES


@pytest.mark.parametrize("variable", [False, True])
def test_data_pointing_at_a_folder_says_it_is_a_folder(cache, tmp_path, monkeypatch, variable):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "names.txt").write_bytes(NAMES)
    if variable:
        monkeypatch.setenv("BACKPROP_NINJA_DATA", str(folder))
    with pytest.raises(DataError) as e:
        data.locate(None if variable else folder)
    message = one_sentence(e)
    assert f"{'BACKPROP_NINJA_DATA' if variable else '--data'} points to {folder}, which is a folder" in message
    assert f"(e.g. {folder / 'names.txt'})" in message and "does not exist" not in message


def test_a_latin_1_file_is_named_as_an_encoding_problem(tmp_path):
    f = tmp_path / "names.txt"
    f.write_bytes("emma\nrenée\n".encode("latin-1"))
    with pytest.raises(DataError) as e:
        data.read_words(f)
    message = one_sentence(e)
    assert "is not UTF-8 text: byte 0xe9 on line 2" in message and "Latin-1" in message
    assert "save it again as UTF-8" in message


def test_a_utf_16_file_is_named_as_such(tmp_path):
    f = tmp_path / "names.txt"
    f.write_bytes("emma\nava\n".encode("utf-16"))
    with pytest.raises(DataError) as e:
        data.read_words(f)
    assert "is UTF-16 text, and names.txt must be UTF-8" in one_sentence(e)


def test_a_utf_8_byte_order_mark_is_dropped_silently(tmp_path):
    f = tmp_path / "names.txt"
    f.write_bytes(b"\xef\xbb\xbf" + NAMES)
    words = data.read_words(f)
    assert words[0] == "emma"
    assert "\ufeff" not in data.vocabulary(words)[0]


def test_a_file_that_cannot_be_read_is_one_sentence(tmp_path):
    with pytest.raises(DataError) as e:
        data.read_words(tmp_path)  # a folder: reading it fails
    assert "cannot be read" in one_sentence(e)


@pytest.mark.parametrize("count", [0, 1, 4, 5])
def test_too_few_names_for_three_splits_is_one_sentence(count):
    with pytest.raises(DataError) as e:
        data.make_splits(["emma", "ava", "olivia", "mia", "zoe"][:count], source="few.txt")
    assert f"few.txt holds only {count} name" in one_sentence(e) and f"at least {data.MIN_NAMES}" in str(e.value)


def test_the_fewest_names_fill_every_split():
    splits = data.make_splits(["emma", "ava", "olivia", "mia", "zoe", "ada"][:data.MIN_NAMES])
    assert all(len(x) for x in (splits.Xtr, splits.Xdev, splits.Xte))
