"""The sandbox IPFS node and labkit.ipfs: kubo's CIDs, the gateway ipfsspec needs, bitswap between nodes."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest
import requests
import zarr
from multiformats import CID, multihash

from labkit import ipfs, load_remote
from labkit._process import free_port
from labkit.downloads import download
from labkit.errors import FormatError, NotFoundError, ServiceUnavailableError
from labkit.sandbox._service import Context
from labkit.sandbox.locate import idr_image_path
from labkit.sandbox.services.ipfs import FETCH_TIMEOUT, IpfsService

SEED_CID = "bafybeigxtkiy6y6vlcyqjspxqkpfr2pignkzepbyhai3zfomut6mtbyu5u"


# ------------------------------------------------------------------ an independent oracle of kubo's file DAG
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, wire: int, payload: bytes | int) -> bytes:
    key = _varint(num << 3 | wire)
    return key + (_varint(payload) if wire == 0 else _varint(len(payload)) + payload)


def _cid(codec: str, block: bytes) -> CID:
    return CID("base32", 1, codec, multihash.wrap(hashlib.sha256(block).digest(), "sha2-256"))


def kubo_file_cid(data: bytes, chunk: int, max_links: int = 174) -> str:
    """CIDv1 of ``data`` as ``ipfs add --cid-version 1 --raw-leaves -s size-<chunk>`` builds it (balanced layout)."""
    leaves = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    nodes = [(_cid("raw", leaf), len(leaf), len(leaf)) for leaf in leaves]  # (cid, file bytes, tsize)
    if len(nodes) == 1:
        return str(nodes[0][0])
    while len(nodes) > 1:
        parents = []
        for i in range(0, len(nodes), max_links):
            group = nodes[i : i + max_links]
            links = b"".join(_field(2, 2, _field(1, 2, bytes(c)) + _field(2, 2, b"") + _field(3, 0, t))
                             for c, _, t in group)
            unixfs = _field(1, 0, 2) + _field(3, 0, sum(s for _, s, _ in group)) + b"".join(
                _field(4, 0, s) for _, s, _ in group)
            block = links + _field(1, 2, unixfs)
            parents.append((_cid("dag-pb", block), sum(s for _, s, _ in group), len(block) + sum(t for *_, t in group)))
        nodes = parents
    return str(nodes[0][0])


def test_oracle_agrees_with_kubos_empty_file_vector():
    assert kubo_file_cid(b"", 262144) == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


# ------------------------------------------------------------------ add
def test_seed_cid_from_the_shared_copy(sandbox):
    assert ipfs.add(idr_image_path(), api=sandbox.ipfs.api, progress=False) == SEED_CID


@pytest.mark.parametrize("content,flags,expected", [
    # kubo's well-known vectors: `ipfs add` with default flags (CIDv0, 256 KiB chunks, dag-pb leaves)
    (b"", {"cid_version": 0, "raw_leaves": False, "chunker": "size-262144"},
     "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"),
    (b"hello world\n", {"cid_version": 0, "raw_leaves": False, "chunker": "size-262144"},
     "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"),
    # and with --cid-version 1 --raw-leaves
    (b"", {}, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
])
def test_kubo_vectors_for_files(sandbox, tmp_path, content, flags, expected):
    f = tmp_path / "file"
    f.write_bytes(content)
    assert ipfs.add(f, api=sandbox.ipfs.api, wrap=False, progress=False, **flags) == expected


@pytest.mark.parametrize("version,expected", [(0, "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"),
                                              (1, "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354")])
def test_kubo_vectors_for_an_empty_directory(sandbox, tmp_path, version, expected):
    (tmp_path / "empty").mkdir()
    assert ipfs.add(tmp_path / "empty", api=sandbox.ipfs.api, wrap=False, cid_version=version,
                    raw_leaves=version == 1, progress=False) == expected


@pytest.mark.parametrize("size,chunk", [(5_300_000, 1_000_000), (3_000_000, 262144), (200 * 1024 + 7, 1024)])
def test_multi_block_files_get_kubos_dag(sandbox, tmp_path, size, chunk):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    f = tmp_path / "big.bin"
    f.write_bytes(data)
    got = ipfs.add(f, api=sandbox.ipfs.api, wrap=False, chunker=f"size-{chunk}", progress=False)
    assert got == kubo_file_cid(data, chunk)


def test_directory_links_sorted_and_hidden_files(sandbox, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    for name in ("b", "a", ".hidden", "B"):
        (d / name).write_bytes(name.encode())
    with_hidden = ipfs.add(d, api=sandbox.ipfs.api, progress=False)
    without = ipfs.add(d, api=sandbox.ipfs.api, hidden=False, progress=False)
    assert with_hidden != without
    r = requests.get(f"{sandbox.ipfs.gateway}/ipfs/{with_hidden}/d", params={"format": "car", "dag-scope": "block"},
                     headers={"Accept": "application/vnd.ipld.car"}, timeout=30)
    from ipfsspec.car import read_car
    from ipfsspec.unixfsv1 import PBNode

    _, blocks = read_car(r.content)
    blocks = {c: b for c, b, _ in blocks}
    node = PBNode.loads(blocks[CID.decode(r.headers["X-Ipfs-Roots"].split(",")[-1])])
    assert [link.Name for link in node.Links] == [".hidden", "B", "a", "b"]  # bytewise order


# ------------------------------------------------------------------ gateway
def test_gateway_bytes_car_roots_and_404(sandbox):
    cid = ipfs.add(idr_image_path(), api=sandbox.ipfs.api, progress=False)
    gw = f"{sandbox.ipfs.gateway}/ipfs/{cid}/6001240.zarr"
    local = idr_image_path()
    assert requests.get(f"{gw}/.zattrs", timeout=30).content == (local / ".zattrs").read_bytes()
    r = requests.get(f"{gw}/0/.zarray", params={"format": "car", "dag-scope": "block"}, timeout=30)
    roots = r.headers["X-Ipfs-Roots"].split(",")
    assert len(roots) == 4 and roots[0] == cid
    assert requests.get(f"{gw}/nope", timeout=30).status_code == 404
    assert requests.get(f"{sandbox.ipfs.gateway}/ipfs/notacid/x", timeout=30).status_code == 400


def test_every_level_through_ipfs_equals_the_local_copy(sandbox, sandbox_env):
    cid = ipfs.add(idr_image_path(), progress=False)
    src = zarr.open_group(idr_image_path(), mode="r")
    for level in range(3):
        img = load_remote.open_image(f"ipfs://{cid}/6001240.zarr", level=level)
        np.testing.assert_array_equal(img.compute(scheduler="threads").values, src[str(level)][...])


def test_gateway_discovery(sandbox, sandbox_env, monkeypatch, tmp_path):
    assert ipfs.gateway() == sandbox.ipfs.gateway
    monkeypatch.delenv("IPFS_GATEWAY")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("IPFS_PATH", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    (tmp_path / ".ipfs").mkdir()
    (tmp_path / ".ipfs" / "gateway").write_text("http://127.0.0.1:9999\n")
    assert ipfs.gateway() == "http://127.0.0.1:9999"


# ------------------------------------------------------------------ two nodes, bitswap
def test_second_node_fetches_blocks_by_bitswap(sandbox, tmp_path):
    data = np.random.default_rng(7).integers(0, 256, 2_500_000, dtype=np.uint8).tobytes()
    f = tmp_path / "payload.bin"
    f.write_bytes(data)
    cid = ipfs.add(f, api=sandbox.ipfs.api, progress=False)
    other = IpfsService()
    record = other.start(Context(tmp_path / "node2", secrets={}))
    try:
        for address in ipfs.publisher_addresses(sandbox.ipfs.api):
            ipfs.swarm_connect(address, api=record["api"])
        before = ipfs.stats(sandbox.ipfs.api)["gateway_requests"]
        got = requests.get(f"{record['gateway']}/ipfs/{cid}/payload.bin", timeout=60).content
        assert got == data
        assert ipfs.stats(sandbox.ipfs.api)["gateway_requests"] == before  # not through the publisher's gateway
        assert ipfs.stats(record["api"])["blocks_stored"] >= 4  # root, directory and 3 leaves came by bitswap
    finally:
        other.stop()


# ------------------------------------------------------------------ bad input
def test_bad_input_gives_clear_errors(sandbox, sandbox_env, tmp_path):
    with pytest.raises(FormatError, match="is not a valid CID"):
        load_remote.open_image("ipfs://not-a-cid/6001240.zarr")
    cid = ipfs.add(idr_image_path(), progress=False)
    with pytest.raises(NotFoundError):
        load_remote.info(f"ipfs://{cid}/missing.zarr")
    with pytest.raises(ServiceUnavailableError, match="no IPFS node answers"):
        ipfs.add(idr_image_path() / ".zattrs", api=f"http://127.0.0.1:{free_port()}", progress=False)
    with pytest.raises(NotFoundError, match="nothing to add"):
        ipfs.add(tmp_path / "absent", progress=False)
    with pytest.raises(FormatError):
        ipfs.parse_cid("bafy-broken")


# ------------------------------------------------------------------ download
def test_download_identical_resumable_and_careful(sandbox, tmp_path):
    url, ep = "s3://idr/zarr/v0.1/6001240.zarr", sandbox.s3.endpoint_url
    target = download(url, tmp_path, endpoint_url=ep, progress=False)
    src = idr_image_path()
    files = sorted(p.relative_to(src) for p in src.rglob("*") if p.is_file())
    assert sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file()) == files
    assert all((target / f).read_bytes() == (src / f).read_bytes() for f in files)
    assert ipfs.add(target, api=sandbox.ipfs.api, progress=False) == SEED_CID

    (target / "0" / "0.1.3.0.0").unlink()
    (target / "1" / "0.0.7.0.0").write_bytes(b"partial")
    same_size = target / "2" / "0.0.9.0.0"
    same_size.write_bytes(bytes(len(same_size.read_bytes())))  # garbage of the right size: the MD5 tells
    meter = sandbox.s3.transfers()
    download(url, tmp_path, endpoint_url=ep, progress=False)
    counts = meter.counts()  # the server's own count: only the three bad files were fetched again
    bad = ("0/0.1.3.0.0", "1/0.0.7.0.0", "2/0.0.9.0.0")
    assert counts["GET"] == 3, counts
    assert counts["bytes"] == sum((src / f).stat().st_size for f in bad)
    assert all((target / f).read_bytes() == (src / f).read_bytes() for f in files)

    other = tmp_path / "other"
    (other / "6001240.zarr").mkdir(parents=True)
    (other / "6001240.zarr" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="is not empty"):
        download(url, other, endpoint_url=ep, progress=False)
    assert (other / "6001240.zarr" / "notes.txt").read_text() == "mine"


# ------------------------------------------------------------------ kubo's behaviour where it matters
def _raw_cid(data: bytes) -> CID:
    return CID("base32", 1, "raw", multihash.digest(data, "sha2-256"))


def _car(root: CID, blocks: list[tuple[CID, bytes]]) -> bytes:
    """A CARv1 file, its dag-cbor header written by hand: {"roots": [root], "version": 1}."""
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    link = b"\x00" + bytes(root)
    header = (b"\xa2\x65roots\x81\xd8\x2a" + (b"\x58" + bytes([len(link)])) + link + b"\x67version\x01")
    body = b"".join(varint(len(bytes(c)) + len(d)) + bytes(c) + d for c, d in blocks)
    return varint(len(header)) + header + body


def test_rpc_api_refuses_other_origins_as_kubo(sandbox):
    api = sandbox.ipfs.api
    for headers in ({"Origin": "http://evil.example"}, {"Referer": "http://evil.example/page.html"}):
        r = requests.post(f"{api}/api/v0/add", headers=headers, files={"file": ("x", b"x")}, timeout=30)
        assert r.status_code == 403, r.text
        assert requests.post(f"{api}/api/v0/swarm/connect", params={"arg": "/ip4/1.2.3.4/tcp/1"},
                             headers=headers, timeout=30).status_code == 403
    assert requests.post(f"{api}/api/v0/id", headers={"Origin": api}, timeout=30).status_code == 200
    assert requests.post(f"{api}/api/v0/id", timeout=30).status_code == 200


def test_gateway_lists_directories_and_serves_ranges(sandbox):
    cid = ipfs.add(idr_image_path(), api=sandbox.ipfs.api, progress=False)
    r = requests.get(f"{sandbox.ipfs.gateway}/ipfs/{cid}/6001240.zarr", timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert f'href="/ipfs/{cid}/6001240.zarr/.zattrs"' in r.text and ">0</a>" in r.text
    url = f"{sandbox.ipfs.gateway}/ipfs/{cid}/6001240.zarr/.zattrs"
    whole = (idr_image_path() / ".zattrs").read_bytes()
    for header, expected in (("bytes=10-19", whole[10:20]), ("bytes=-5", whole[-5:]), ("bytes=100-", whole[100:])):
        r = requests.get(url, headers={"Range": header}, timeout=30)
        assert (r.status_code, r.content) == (206, expected), header
        assert r.headers["Content-Range"].endswith(f"/{len(whole)}")
    assert requests.get(url, headers={"Range": f"bytes={len(whole)}-"}, timeout=30).status_code == 416


def test_a_missing_cid_is_a_quick_504_and_not_found_on_ipfs(sandbox, sandbox_env):
    missing = _raw_cid(np.random.default_rng().bytes(64))
    start = time.monotonic()
    r = requests.get(f"{sandbox.ipfs.gateway}/ipfs/{missing}", timeout=60)
    assert r.status_code == 504
    assert time.monotonic() - start < FETCH_TIMEOUT + 5
    directory = CID("base32", 1, "dag-pb", multihash.digest(b"nothing", "sha2-256"))
    start = time.monotonic()
    with pytest.raises(NotFoundError, match="not found on IPFS"):
        load_remote.info(f"ipfs://{directory}/image.zarr")
    assert time.monotonic() - start < 2 * FETCH_TIMEOUT + 10  # one gateway timeout, not ipfsspec's five


def test_dag_import_loads_a_car_file_and_refuses_a_damaged_one(sandbox, tmp_path):
    data = np.random.default_rng().bytes(5000)
    cid = _raw_cid(data)
    car = tmp_path / "one.car"
    car.write_bytes(_car(cid, [(cid, data)]))
    assert ipfs.import_car(car, api=sandbox.ipfs.api) == [str(cid)]
    assert requests.get(f"{sandbox.ipfs.gateway}/ipfs/{cid}", timeout=30).content == data
    other = _raw_cid(data + b"!")
    damaged = tmp_path / "damaged.car"
    damaged.write_bytes(_car(other, [(other, data)]))  # the block does not match its CID
    with pytest.raises(FormatError, match="does not match its CID"):
        ipfs.import_car(damaged, api=sandbox.ipfs.api)
    assert requests.get(f"{sandbox.ipfs.gateway}/ipfs/{other}", timeout=30).status_code == 504
