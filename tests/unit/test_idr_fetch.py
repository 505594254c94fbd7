"""The sandbox's IDR image on a fresh clone: fetched on first use from a local HTTP server standing in for IDR's S3.

The server is python's http.server on 127.0.0.1 serving a copy of the image under IDR's paths; it counts the
GETs it answers, so a rerun can be shown to fetch only what is missing.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import socket
import threading
from pathlib import Path

import pytest

from labkit.errors import IntegrityError, ServiceUnavailableError
from labkit.sandbox.fetch import IDR_ZARR_NAME, cache_path, fetch_idr_image, is_complete, registry
from labkit.sandbox.locate import idr_image_path

PREFIX = f"idr/zarr/v0.1/{IDR_ZARR_NAME}"
SUBSET = sorted(registry())[:60]  # metadata and level 0's first chunks: a quick partial image


def _original() -> Path:
    try:
        return idr_image_path(fetch=False)
    except Exception:  # noqa: BLE001
        pytest.skip("no copy of the IDR image (LABKIT_IDR_DATA or shared/data/idr beside the checkout)")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): _sha(p) for p in folder.rglob("*") if p.is_file()}


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        with srv.lock:
            fail = srv.fail_after is not None and len(srv.served) >= srv.fail_after
            if not fail:
                srv.served.append(self.path.split(PREFIX + "/", 1)[-1])
        if fail:
            self.send_error(503, "stopped")
        else:
            super().do_GET()


@pytest.fixture
def idr_server(tmp_path):
    """Serve ``root/idr/zarr/v0.1/6001240.zarr``; ``.served`` lists the files answered, ``.fail_after`` stops."""
    root = tmp_path / "server"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    server.root, server.lock, server.served, server.fail_after = root, threading.Lock(), [], None
    server.url = f"http://127.0.0.1:{server.server_address[1]}/{PREFIX}/"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def fresh_clone(tmp_path, monkeypatch, idr_server):
    """No LABKIT_IDR_DATA, the cache in tmp_path, the image fetched from the local server."""
    monkeypatch.delenv("LABKIT_IDR_DATA", raising=False)
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LABKIT_IDR_URL", idr_server.url)
    return idr_server


def _serve(server, files=None, corrupt=None) -> Path:
    """Put the image (or ``files`` of it, copied) on the server; ``corrupt``: a file served with one byte changed."""
    original = _original()
    image = server.root / PREFIX
    image.parent.mkdir(parents=True)
    if files is None:
        image.symlink_to(original)
        return image
    for name in files:
        (image / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original / name, image / name)
    if corrupt:
        data = bytearray((image / corrupt).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (image / corrupt).write_bytes(bytes(data))
    return image


def test_a_fresh_clone_fetches_the_whole_image_once_then_uses_the_cache(fresh_clone):
    original = _serve(fresh_clone)
    path = idr_image_path(beside_checkout=False, progress=False)
    assert path == cache_path() and is_complete(path)
    assert _tree(path) == _tree(original) == registry()
    assert sorted(fresh_clone.served) == sorted(registry())  # each file once
    again = idr_image_path(beside_checkout=False, progress=False)
    assert again == path and len(fresh_clone.served) == len(registry())  # nothing fetched the second time


def test_a_corrupted_file_is_refused_and_named(fresh_clone, tmp_path):
    bad = next(n for n in SUBSET if n.startswith("0/") and not n.endswith(".zarray"))
    image = _serve(fresh_clone, SUBSET, corrupt=bad)
    dest = tmp_path / "cache" / IDR_ZARR_NAME
    with pytest.raises(IntegrityError) as err:
        fetch_idr_image(dest, files=SUBSET, retries=0, workers=4, progress=False)
    message = str(err.value)
    assert bad in message and registry()[bad] in message and _sha(image / bad) in message
    assert "LABKIT_IDR_DATA" in message and "run again" in message
    assert not (dest / bad).exists()
    assert all(n in registry() for n in _tree(dest))  # no temporary file left behind
    assert not is_complete(dest)


def test_an_interrupted_fetch_resumes_with_only_what_is_missing(fresh_clone, tmp_path):
    _serve(fresh_clone, SUBSET)
    dest = tmp_path / "cache" / IDR_ZARR_NAME
    fresh_clone.fail_after = 20  # the server stops answering after 20 files
    with pytest.raises(ServiceUnavailableError, match="run again to fetch the rest"):
        fetch_idr_image(dest, files=SUBSET, retries=0, workers=4, progress=False)
    first = list(fresh_clone.served)
    assert sorted(_tree(dest)) == sorted(first) and len(first) == 20  # every file answered is kept, whole
    truncated = next(n for n in first if n.startswith("0/") and not n.endswith(".zarray"))
    (dest / truncated).write_bytes((dest / truncated).read_bytes()[:100])  # as if cut off mid-write
    (dest / "0" / "tmpab12cd").write_bytes(b"partial")  # a temporary file of a killed fetch
    fresh_clone.served.clear()
    fresh_clone.fail_after = None
    fetch_idr_image(dest, files=SUBSET, retries=0, workers=4, progress=False)
    assert sorted(fresh_clone.served) == sorted(set(SUBSET) - set(first) | {truncated})
    assert _tree(dest) == {n: registry()[n] for n in SUBSET}


def test_without_network_the_error_says_what_was_tried_and_how_to_give_a_copy(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{PREFIX}/"
    monkeypatch.delenv("LABKIT_IDR_DATA", raising=False)
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LABKIT_IDR_URL", url)
    with pytest.raises(ServiceUnavailableError) as err:
        fetch_idr_image(files=SUBSET[:5], retries=0, progress=False)
    assert url in str(err.value) and "LABKIT_IDR_DATA" in str(err.value)
    with pytest.raises(Exception, match="6001240.zarr was not found"):
        idr_image_path(beside_checkout=False, fetch=False)


def test_a_copy_beside_the_checkout_is_used_without_fetching(tmp_path, monkeypatch):
    beside = Path(__file__).resolve().parents[3] / "shared" / "data" / "idr" / IDR_ZARR_NAME
    if not (beside / ".zgroup").is_file():
        pytest.skip(f"no copy beside the checkout ({beside})")
    monkeypatch.delenv("LABKIT_IDR_DATA", raising=False)
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LABKIT_IDR_URL", "http://127.0.0.1:9/nothing-here/")  # a fetch would fail
    assert idr_image_path() == beside
    assert not (tmp_path / "cache").exists()


def test_labkit_idr_data_comes_first(tmp_path, monkeypatch):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / IDR_ZARR_NAME).symlink_to(_original())
    monkeypatch.setenv("LABKIT_IDR_DATA", str(tmp_path / "mine"))
    monkeypatch.setenv("LABKIT_IDR_URL", "http://127.0.0.1:9/nothing-here/")
    assert idr_image_path() == tmp_path / "mine" / IDR_ZARR_NAME
