r"""The CID IPFS gives a folder, computed here without a node: to check a copy against the CID it was published as.

The DAG is the one ``ipfs add -r --cid-version 1 --raw-leaves -s size-1000000`` builds (kubo's and labkit's
:func:`labkit.ipfs.add` defaults, without wrapping): files cut in 1 MB raw leaves under a balanced tree of
dag-pb nodes (174 links each), folders as plain UnixFS directories with their entries in bytewise order.
Folders large enough for kubo to shard (HAMT) are refused rather than guessed.

Examples
--------
>>> tree_cid({"hello.txt": b"hello world\n"})
'bafybeidhkumeonuwkebh2i4fc7o7lguehauradvlk57gzake6ggjsy372a'
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from labkit._lazy import attempt_import
from labkit._text import plural
from labkit.errors import FormatError

CHUNK = 1_000_000
MAX_LINKS = 174
#: kubo and Helia shard a folder whose links (names and CIDs) take more bytes than this
SHARD_THRESHOLD = 262_144

_FILE, _DIRECTORY = 2, 1


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: bytes | int) -> bytes:
    """A protobuf field: varint (wire type 0) for an int, length-delimited (2) for bytes."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _cid(codec: str, block: bytes) -> Any:
    multiformats = attempt_import("multiformats")
    digest = multiformats.multihash.wrap(hashlib.sha256(block).digest(), "sha2-256")
    return multiformats.CID("base32", 1, codec, digest)


def _node(links: list[tuple[bytes, str | None, int]], unixfs: bytes) -> bytes:
    """A dag-pb node: its links (CID bytes, name, cumulative size), then its UnixFS data (canonical order)."""
    encoded = b""
    for cid, name, tsize in links:
        encoded += _field(2, _field(1, cid) + _field(2, (name or "").encode()) + _field(3, tsize))
    return encoded + _field(1, unixfs)


def file_cid(data: bytes) -> tuple[str, int]:
    """CID and cumulative DAG size of one file's bytes.

    Examples
    --------
    >>> file_cid(b"")[0]
    'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
    """
    leaves = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
    nodes = [(_cid("raw", leaf), len(leaf), len(leaf)) for leaf in leaves]  # (cid, file bytes, tsize)
    while len(nodes) > 1:
        parents = []
        for i in range(0, len(nodes), MAX_LINKS):
            group = nodes[i : i + MAX_LINKS]
            size = sum(s for _, s, _ in group)
            unixfs = _field(1, _FILE) + _field(3, size) + b"".join(_field(4, s) for _, s, _ in group)
            block = _node([(bytes(c), None, t) for c, _, t in group], unixfs)
            parents.append((_cid("dag-pb", block), size, len(block) + sum(t for *_, t in group)))
        nodes = parents
    cid, _, tsize = nodes[0]
    return str(cid), tsize


def tree_cid(files: Mapping[str, bytes | Callable[[], bytes]]) -> str:
    """CID of a folder holding ``files`` (relative path -> bytes, or a function returning them).

    Raises
    ------
    labkit.errors.FormatError
        A folder has so many entries that IPFS would shard it (not computed here).
    """
    tree: dict[str, Any] = {}
    for path, content in files.items():
        *folders, name = path.split("/")
        node = tree
        for folder in folders:
            node = node.setdefault(folder, {})
        node[name] = content
    return _dir_cid(tree, "")[0]


def _dir_cid(tree: dict[str, Any], where: str) -> tuple[str, int]:
    multiformats = attempt_import("multiformats")
    links = []
    for name in sorted(tree, key=str.encode):
        entry = tree[name]
        if isinstance(entry, dict):
            cid, tsize = _dir_cid(entry, f"{where}{name}/")
        else:
            cid, tsize = file_cid(entry() if callable(entry) else entry)
        links.append((bytes(multiformats.CID.decode(cid)), name, tsize))
    if sum(len(name.encode()) + len(cid) for cid, name, _ in links) > SHARD_THRESHOLD:
        raise FormatError(f"the folder {where or '/'} has {plural(len(links), 'entry', 'entries')}: IPFS shards a "
                          "folder that large, and labkit does not compute sharded CIDs; put its files in sub-folders")
    block = _node(links, _field(1, _DIRECTORY))
    return str(_cid("dag-pb", block)), len(block) + sum(t for *_, t in links)
