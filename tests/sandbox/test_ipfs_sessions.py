"""Closing a local cluster whose workers read ``ipfs://``: nothing printed about sessions left open or workers killed.

Tutorial 02 under JupyterLab's Run All: the 3D view reads chunks on the cluster as soon as it starts, before the
IPFS worker plugin points each worker at its own node (``labkit.ipfs.use_gateway``, which empties ipfsspec's
cache). The filesystems made before were then dropped with their HTTP sessions open, and ``panel.close()`` showed
"Aiohttp retry client was not closed / Unclosed client session" from every worker; on a busy machine the workers,
slow to exit, were killed instead ("Worker process still alive after 4.0 seconds, killing").
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from labkit import ipfs
from labkit.ipfs import node
from labkit.sandbox.locate import idr_image_path

pytestmark = pytest.mark.skipif(not node.available(), reason="the labkit IPFS node needs Node.js and its packages")

SCRIPT = textwrap.dedent("""
    import sys
    import labkit
    from labkit import ipfs, load_remote

    def main(api, gateway, url):
        ipfs.use_gateway(gateway)
        panel = labkit.start_cluster("local", workers=2)
        client = panel.client
        means = lambda: client.compute(load_remote.open_image(url).isel(t=0).mean(dim=("z", "y", "x"))).result()
        before = means()  # the workers' filesystems made with the publisher's gateway
        client.register_plugin(ipfs.IPFSWorkerPlugin(ipfs.publisher_addresses(api)))  # each worker: its own node
        after = means()
        print("equal:", bool((before == after).all()), flush=True)
        panel.close()

    if __name__ == "__main__":
        main(*sys.argv[1:])
""")


@pytest.fixture(scope="module")
def publisher(tmp_path_factory):
    n = node.IpfsNode(tmp_path_factory.mktemp("publisher"))
    record = n.start()
    yield record, ipfs.add(idr_image_path(), api=record["api"], progress=False)
    n.stop()


@pytest.mark.timeout(600)
def test_workers_close_their_ipfs_sessions_and_exit_in_time(publisher, tmp_path):
    record, cid = publisher
    script = tmp_path / "read_ipfs_on_a_cluster.py"
    script.write_text(SCRIPT)
    url = f"ipfs://{cid}/{idr_image_path().name}"
    run = subprocess.run([sys.executable, str(script), record["api"], record["gateway"], url], capture_output=True,
                         text=True, timeout=540, cwd=tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "equal: True" in run.stdout
    for problem in ("Unclosed", "was not closed", "distributed.nanny - WARNING", "Traceback"):
        assert problem not in out, out
