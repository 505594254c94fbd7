"""The batch protocol (labkit.results.batch): fork the store for each task, merge what comes back, commit once."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("icechunk")

from labkit.errors import ConfigurationError  # noqa: E402
from labkit.results import ResultStore, checkpoint  # noqa: E402
from labkit.results.batch import Batch, call, in_fork  # noqa: E402
from tests.killing import child_env, kill_when_it_says  # noqa: E402


def _square(url):
    @checkpoint(url, target="sq/{i}.npy", versioned=True)
    def square(i):
        if i < 0:
            raise ValueError(f"no square of {i} today")
        return np.arange(4) * i

    return square


def _travel(obj):
    """What a task's argument or result goes through between processes."""
    return pickle.loads(pickle.dumps(obj))


def test_forks_sent_away_and_merged_back_are_one_commit_with_every_record(tmp_path):
    square = _square(str(tmp_path / "repo"))
    store = square.store
    with store.batch("three squares", metadata={"who": "test"}) as batch:
        forks = [_travel(batch.fork()) for _ in range(3)]
        outputs = [batch.take(_travel(in_fork(call, square, fork, (i,)))) for i, fork in enumerate(forks)]
        assert not ResultStore(store.url, version="main").exists("sq/1.npy")  # nothing visible before the commit
    assert [list(o) for o in outputs] == [[0, 0, 0, 0], [0, 1, 2, 3], [0, 2, 4, 6]]
    history = store.history()
    assert [c.message for c in history] == ["three squares"] and history[0].metadata["who"] == "test"
    assert sorted(history[0].provenance) == ["sq/0.npy", "sq/1.npy", "sq/2.npy"]
    main = ResultStore(store.url, version="main")
    assert list(np.load(__import__("io").BytesIO(main.read_bytes("sq/2.npy")))) == [0, 2, 4, 6]
    assert square.state(2) == "fresh"


def test_a_batch_where_one_task_fails_commits_nothing_and_keeps_what_was_committed(tmp_path):
    url = str(tmp_path / "repo")
    square = _square(url)
    square.map([1, 2], message="before")
    with pytest.raises(ValueError, match="no square of -1"):
        square.map([3, -1, 4], message="with a failure")
    store = square.store
    with pytest.raises(ValueError, match="no square of -2"), store.batch("merged, then a failure") as batch:
        batch.take(in_fork(call, square, batch.fork(), (3,)))  # merged into the batch's session
        batch.take(in_fork(call, square, batch.fork(), (-2,)))
    assert [c.message for c in store.history()] == ["before"] and not store.has_changes
    main = ResultStore(url, version="main")
    assert main.exists("sq/2.npy") and not main.exists("sq/3.npy") and not main.exists("sq/4.npy")
    assert square.state(1) == "fresh" and square.state(3) == "missing"
    square.map([3, 4], message="after")  # the batch again, without the failure: one commit
    assert [c.message for c in store.history()] == ["after", "before"]
    assert sorted(store.history()[0].provenance) == ["sq/3.npy", "sq/4.npy"]


def test_a_fork_that_never_comes_back_loses_only_its_own_writes(tmp_path):
    square = _square(str(tmp_path / "repo"))
    store = square.store
    with store.batch("one of two") as batch:
        kept, lost = batch.fork(), batch.fork()
        batch.take(in_fork(call, square, kept, (5,)))
        in_fork(call, square, lost, (6,))  # its worker is gone: the fork is never merged
    main = ResultStore(store.url, version="main")
    assert main.exists("sq/5.npy") and not main.exists("sq/6.npy")
    assert sorted(store.history()[0].provenance) == ["sq/5.npy"]
    with pytest.raises(ConfigurationError, match="a fork is not committed"):
        lost.commit("a fork's own commit")


def test_a_batch_inside_an_open_run_joins_it(tmp_path):
    square = _square(str(tmp_path / "repo"))
    store = square.store
    with store.run("one run"):
        store.write_bytes("notes.txt", b"written before the batch")
        assert square.map([7, 8]) and not store.history()  # merged into the run, not committed by itself
    history = store.history()
    assert [c.message for c in history] == ["one run"] and sorted(history[0].provenance) == ["sq/7.npy", "sq/8.npy"]
    assert ResultStore(store.url, version="main").read_bytes("notes.txt") == b"written before the batch"


def test_a_plain_stores_batch_writes_straight_into_it(tmp_path):
    store = ResultStore(tmp_path / "plain")
    with store.batch("plain") as batch:
        assert type(batch) is Batch and batch.fork() is None
        assert batch.take(("output", None)) == "output"

    @checkpoint(store, target="{i}.npy")
    def double(i):
        return np.arange(3) * 2 * i

    assert [list(r) for r in double.map([1, 2])] == [[0, 2, 4], [0, 4, 8]]
    assert store.list() == ["1.npy", "2.npy"]


KILLED_BATCH = textwrap.dedent("""
    import sys, time
    import numpy as np
    from labkit.results import checkpoint

    @checkpoint(sys.argv[1], target="sq/{i}.npy", versioned=True)
    def square(i):
        if i == int(sys.argv[2]):
            print("writing", flush=True)
            time.sleep(120)
        return np.arange(4) * i

    square.map([1, 2], message="complete")
    square.map([3, 4, 5], message="killed")
    print("done", flush=True)
""")


def test_a_batch_killed_midway_commits_nothing_and_runs_again(tmp_path):
    url = str(tmp_path / "repo")
    kill_when_it_says(KILLED_BATCH, url, "5")
    store = ResultStore(url, versioned=True)
    assert [c.message for c in store.history()] == ["complete"] and not store.exists("sq/3.npy")
    again = subprocess.run([sys.executable, "-c", KILLED_BATCH, url, "-9"], capture_output=True, text=True,
                           env=child_env(), timeout=300)
    assert again.returncode == 0 and again.stdout.strip() == "done", again.stderr
    history = ResultStore(url, versioned=True).history()
    assert [c.message for c in history] == ["killed", "complete"]  # the first batch was fresh: no commit
    assert sorted(history[0].provenance) == ["sq/3.npy", "sq/4.npy", "sq/5.npy"]
