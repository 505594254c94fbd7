"""labkit.ipfs.Traffic: what a publisher's gateway served and what the workers' nodes fetched, from the counters."""

from __future__ import annotations

from labkit import ipfs
from labkit.ipfs import Traffic


def _stats(requests: int, paths: list[str], blocks: int = 0) -> dict:
    return {"gateway_requests": requests, "gateway_paths": paths, "blocks_stored": blocks}


def test_only_the_requests_since_the_first_reading_count_and_metadata_is_no_chunk():
    old = ["img/.zattrs", "img/0/0.0.0"]
    before = _stats(2, old)
    after = _stats(6, [*old, "img/.zattrs", "img/0/.zarray", "img/0/0.0.1", "img/0/1.0.0"])
    traffic = Traffic.between(before, after, [_stats(0, [], 40), _stats(0, [], 17)])
    assert traffic == Traffic(gateway_requests=4, chunk_requests=2, worker_blocks=57)
    assert str(traffic) == ("the publisher's gateway served 2 chunks (4 requests in all); "
                            "the workers' nodes fetched 57 blocks by bitswap")


def test_nothing_served_and_no_workers_asked():
    before = _stats(3, ["a/0/0", "a/0/1", "a/0/2"])
    traffic = Traffic.between(before, before)
    assert traffic == Traffic(0, 0, None)
    assert str(traffic) == "the publisher's gateway served 0 chunks (0 requests in all)"


def test_the_paths_kept_are_capped_the_newest_still_count():
    """The node keeps its last 1000 paths: the requests since the first reading are the newest ones."""
    before = _stats(5000, [f"a/0/{i}" for i in range(4000, 5000)])
    after = _stats(5003, [f"a/0/{i}" for i in range(4003, 5000)] + ["a/.zattrs", "a/0/9998", "a/0/9999"])
    assert Traffic.between(before, after).chunk_requests == 2
    assert ipfs.TrafficMeter.__module__ == "labkit.ipfs"
