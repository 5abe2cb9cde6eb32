"""Fetching the IDX files: local folders, a real HTTP server on 127.0.0.1, atomic writing.

Every test builds its own tiny dataset and ``DatasetSpec`` (with ``system_dirs=()``), so nothing
here depends on the Debian package or on the network.
"""

import functools
import gzip
import hashlib
import importlib
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import yaml

import prunelab.data.fetch as fetch
from prunelab.data.datasets import (
    FILE_NAMES,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    DatasetSpec,
    load_dataset,
)
from prunelab.data.fetch import FetchError, collect, write_atomically
from prunelab.data.idx import encode_idx

PROJECT_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
INSTALL_HINT = "copy the tiny files by hand"


def _tiny_files() -> dict[str, bytes]:
    rng = np.random.default_rng(42)
    arrays = {
        TRAIN_IMAGES: rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        TRAIN_LABELS: rng.integers(0, 10, 5, dtype=np.uint8),
        TEST_IMAGES: rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        TEST_LABELS: rng.integers(0, 10, 5, dtype=np.uint8),
    }
    return {name: encode_idx(array) for name, array in arrays.items()}


def _damage_deflate(packed: bytes) -> bytes:
    """Scramble a gzip member's compressed body (header and trailer kept)."""
    rng = np.random.default_rng(7)
    body = rng.integers(0, 256, len(packed) - 18, dtype=np.uint8).tobytes()
    return packed[:10] + body + packed[-8:]


class Server:
    """A static file server on 127.0.0.1 that records the path of every request."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        requests = self.requests

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # keep pytest output clean
                pass

        self.httpd = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def files() -> dict[str, bytes]:
    return _tiny_files()


@pytest.fixture
def server(tmp_path, files, monkeypatch, request) -> Server:
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(fetch, "DOWNLOAD_TIMEOUT_S", 5)
    root = tmp_path / "served"
    root.mkdir()
    for name, content in files.items():
        (root / f"{name}.gz").write_bytes(gzip.compress(content))
    served = Server(root)
    request.addfinalizer(served.stop)
    return served


@pytest.fixture
def spec(files, server) -> DatasetSpec:
    return DatasetSpec(
        name="tiny",
        sha256={name: hashlib.sha256(content).hexdigest() for name, content in files.items()},
        system_dirs=(),
        urls=(server.url,),
        install_hint=INSTALL_HINT,
    )


def _quiet(*_args) -> None:
    pass


def _local_copy(folder: Path, files: dict[str, bytes], *, packed: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if packed:
            (folder / f"{name}.gz").write_bytes(gzip.compress(content))
        else:
            (folder / name).write_bytes(content)
    return folder


# --- collect: downloads ----------------------------------------------------------------------


def test_download_gives_the_decompressed_bytes(spec, server, files):
    got = collect(spec, [], [server.url], log=_quiet)
    assert got == files
    assert list(got) == list(FILE_NAMES)
    assert sorted(server.requests) == sorted(f"/{name}.gz" for name in FILE_NAMES)


def fetch_error_naming(spec, server, name: str) -> str:
    """The FetchError's message of a download from ``server``, checked to name the file and
    its URL."""
    with pytest.raises(FetchError) as info:
        collect(spec, [], [server.url], log=_quiet)
    message = str(info.value)
    assert f"'{name}'" in message
    assert f"{server.url}{name}.gz" in message
    return message


def test_corrupt_download_names_file_url_and_remedy(spec, server, files):
    wrong = bytearray(files[TRAIN_LABELS])
    wrong[-1] ^= 0x01
    (server.root / f"{TRAIN_LABELS}.gz").write_bytes(gzip.compress(bytes(wrong)))
    message = fetch_error_naming(spec, server, TRAIN_LABELS)
    assert "SHA-256 mismatch" in message
    assert hashlib.sha256(bytes(wrong)).hexdigest() in message
    assert "data.local_dir" in message
    assert INSTALL_HINT in message


@pytest.mark.parametrize(
    "damage",
    [_damage_deflate, lambda packed: packed[: len(packed) // 2], lambda packed: b"<html>oops"],
    ids=["damaged-deflate-stream", "truncated-gzip", "not-gzip"],
)
def test_unreadable_download_is_a_fetch_error(spec, server, files, damage):
    target = server.root / f"{TEST_IMAGES}.gz"
    target.write_bytes(damage(target.read_bytes()))
    fetch_error_naming(spec, server, TEST_IMAGES)


def test_missing_download_404(spec, server):
    (server.root / f"{TEST_LABELS}.gz").unlink()
    message = fetch_error_naming(spec, server, TEST_LABELS)
    assert "404" in message
    assert "data.local_dir" in message


def test_urls_are_tried_in_order(spec, server, files):
    good = server.root / "mirror"
    _local_copy(good, files, packed=True)
    bad = f"{server.url}nowhere/"
    got = collect(spec, [], [bad, f"{server.url}mirror/"], log=_quiet)
    assert got == files
    assert server.requests == [
        path for name in FILE_NAMES for path in (f"/nowhere/{name}.gz", f"/mirror/{name}.gz")
    ]


def test_no_source_at_all(spec):
    with pytest.raises(FetchError, match=r"no source configured"):
        collect(spec, [], [], log=_quiet)


# --- collect: local folders ------------------------------------------------------------------


def test_good_local_folder_is_used_before_the_url(tmp_path, spec, server, files):
    local = _local_copy(tmp_path / "local", files, packed=True)
    messages: list[str] = []
    got = collect(spec, [tmp_path / "absent", local], [server.url], log=messages.append)
    assert got == files
    assert server.requests == []
    assert all(str(local) in m for m in messages)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda content: gzip.compress(content[:-1] + bytes([content[-1] ^ 0xFF])),
        lambda content: _damage_deflate(gzip.compress(content)),
        lambda content: gzip.compress(content)[:-4],
    ],
    ids=["wrong-content", "damaged-deflate-stream", "truncated-gzip"],
)
def test_corrupt_local_copy_falls_through_to_the_url(tmp_path, spec, server, files, corrupt):
    local = _local_copy(tmp_path / "local", files, packed=True)
    (local / f"{TRAIN_IMAGES}.gz").write_bytes(corrupt(files[TRAIN_IMAGES]))
    messages: list[str] = []
    got = collect(spec, [local], [server.url], log=messages.append)
    assert got == files
    assert server.requests == [f"/{TRAIN_IMAGES}.gz"]
    assert any(TRAIN_IMAGES in m and server.url in m for m in messages)


def test_plain_files_in_a_local_folder(tmp_path, spec, files):
    local = _local_copy(tmp_path / "plain", files, packed=False)
    assert collect(spec, [local], [], log=_quiet) == files


def test_all_local_sources_bad_lists_every_attempt(tmp_path, spec, files):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FetchError) as info:
        collect(spec, [empty, tmp_path / "absent"], [], log=_quiet)
    message = str(info.value)
    assert f"'{TRAIN_IMAGES}'" in message
    assert f"{empty}: no {TRAIN_IMAGES} or {TRAIN_IMAGES}.gz there" in message
    assert str(tmp_path / "absent") in message


# --- write_atomically ------------------------------------------------------------------------


def _leftovers(parent: Path, name: str) -> list[Path]:
    return list(parent.glob(f".{name}-*"))


def test_write_atomically_writes_every_file_and_replaces_the_folder(tmp_path, files):
    out = tmp_path / "raw"
    out.mkdir()
    (out / "stale").write_bytes(b"old")
    write_atomically(files, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(files)
    for name, content in files.items():
        assert (out / name).read_bytes() == content
    assert _leftovers(tmp_path, "raw") == []


def test_write_atomically_creates_missing_parents(tmp_path, files):
    out = tmp_path / "a" / "b" / "raw"
    write_atomically(files, out)
    assert (out / TRAIN_IMAGES).read_bytes() == files[TRAIN_IMAGES]


def test_write_atomically_failure_midway_keeps_the_old_folder(tmp_path, files, monkeypatch):
    out = tmp_path / "raw"
    out.mkdir()
    (out / "old").write_bytes(b"previous run")
    real_write = Path.write_bytes
    calls: list[Path] = []

    def failing_write(self, data):
        calls.append(self)
        if len(calls) > 1:
            raise OSError("disk full")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(files, out)
    monkeypatch.undo()
    assert len(calls) == 2  # the first file was written, the second failed
    assert [p.name for p in out.iterdir()] == ["old"]
    assert (out / "old").read_bytes() == b"previous run"
    assert _leftovers(tmp_path, "raw") == []


def test_write_atomically_rejects_non_bytes_without_trace(tmp_path, files):
    out = tmp_path / "raw"
    broken = dict(files)
    broken[TEST_IMAGES] = "not bytes"
    with pytest.raises(TypeError):
        write_atomically(broken, out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


# --- the fetch_data stage --------------------------------------------------------------------


@pytest.fixture
def stage():
    return importlib.import_module("fetch_data")


def _params_file(tmp_path: Path, **data) -> Path:
    params = yaml.safe_load(PROJECT_PARAMS.read_text())
    params["data"].update(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_stage_downloads_the_four_files(tmp_path, stage, spec, server, files, monkeypatch, capsys):
    monkeypatch.setattr(stage, "DATASETS", {"fashion-mnist": spec})
    params = _params_file(tmp_path, dataset="fashion-mnist", local_dir="")
    out = tmp_path / "data" / "raw"
    assert stage.main(["--params", str(params), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(FILE_NAMES)
    for name, content in files.items():
        assert (out / name).read_bytes() == content
    assert len(server.requests) == 4
    assert "wrote 4 files of tiny" in capsys.readouterr().out
    train, test = load_dataset(out)
    assert train.images.shape == (5, 784) and test.labels.shape == (5,)


def test_stage_prefers_data_local_dir(tmp_path, stage, spec, server, files, monkeypatch):
    monkeypatch.setattr(stage, "DATASETS", {"fashion-mnist": spec})
    local = _local_copy(tmp_path / "mine", files, packed=False)
    params = _params_file(tmp_path, local_dir=str(local))
    out = tmp_path / "out"
    assert stage.main(["--params", str(params), "--out", str(out)]) == 0
    assert server.requests == []
    assert (out / TEST_LABELS).read_bytes() == files[TEST_LABELS]


def test_stage_failure_exits_1_and_writes_nothing(
    tmp_path, stage, spec, server, monkeypatch, capsys
):
    monkeypatch.setattr(stage, "DATASETS", {"fashion-mnist": spec})
    (server.root / f"{TRAIN_LABELS}.gz").unlink()
    params = _params_file(tmp_path)
    out = tmp_path / "data" / "raw"
    assert stage.main(["--params", str(params), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fetch_data: error:")
    assert f"'{TRAIN_LABELS}'" in err
    assert f"{server.url}{TRAIN_LABELS}.gz" in err
    assert "data.local_dir" in err
    assert not out.exists()
    assert not (tmp_path / "data").exists()


def test_stage_invalid_params_exits_1(tmp_path, stage, spec, server, monkeypatch, capsys):
    monkeypatch.setattr(stage, "DATASETS", {"fashion-mnist": spec})
    params = _params_file(tmp_path, dataset="cifar")
    out = tmp_path / "out"
    assert stage.main(["--params", str(params), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "data.dataset" in err and "'fashion-mnist'" in err
    assert not out.exists()
    assert server.requests == []
