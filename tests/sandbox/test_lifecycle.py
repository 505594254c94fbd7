"""Starting the whole sandbox in the background, and stopping it without leftovers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psutil
from dask_gateway import BasicAuth, Gateway

from labkit._process import port_in_use, stop_tree
from labkit.sandbox import current, default_services
from labkit.sandbox import down as stop_sandbox
from labkit.synthetic import data_folder


def labkit(*args: str, root) -> subprocess.CompletedProcess:
    # generated data where the session's sandboxes keep theirs (the IDR copies, the plate): written once, not here
    env = {**os.environ, "LABKIT_SANDBOX_DIR": str(root), "LABKIT_DATA_DIR": str(data_folder("idr-copies").parent)}
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], env=env, capture_output=True, text=True,
                          timeout=180)


def test_up_status_down_leaves_nothing_behind(tmp_path, request):
    up = labkit("sandbox", "up", root=tmp_path)  # start-up time: benchmarks/bench_sandbox.py
    request.addfinalizer(lambda: stop_sandbox(tmp_path))  # if an assertion fails before `down`: leave nothing running
    assert up.returncode == 0, up.stderr
    sb = current(tmp_path)
    assert sb is not None and set(sb.records) == set(default_services())
    state_file = tmp_path / "state.json"
    assert oct(state_file.stat().st_mode & 0o777) == "0o600"
    secret = json.loads(state_file.read_text())["secrets"]
    assert all(v not in up.stdout + up.stderr for v in secret.values())
    assert "s3" in labkit("sandbox", "status", root=tmp_path).stdout

    # leave a running gateway cluster: its scheduler and workers must go too
    gw = Gateway(sb.gateway.address, proxy_address=sb.gateway.proxy_address,
                 auth=BasicAuth(sb.gateway.username, sb.gateway.password))
    cluster = gw.new_cluster(shutdown_on_close=False)
    cluster.scale(1)
    client = cluster.get_client()
    client.wait_for_workers(1, timeout=90)
    owner = psutil.Process(sb.owner_pid)
    tree = [owner, *owner.children(recursive=True)]
    assert len(tree) >= len(sb.records) + 2  # daemon, servers, scheduler, worker
    ports = sb.ports()
    assert all(port_in_use(p) for p in ports)

    client.close()
    down = labkit("sandbox", "down", root=tmp_path)
    assert down.returncode == 0 and "stopped" in down.stdout
    _, alive = psutil.wait_procs(tree, timeout=10)
    assert alive == [], f"left running: {[p.pid for p in alive]}"
    assert [p for p in ports if port_in_use(p)] == []
    assert not state_file.exists()
    cluster.close()
    gw.close()
    assert labkit("sandbox", "status", root=tmp_path).returncode == 1
    for log in (tmp_path / "logs").glob("*.log"):
        text = log.read_text(errors="replace")
        assert all(v not in text for v in secret.values()), f"a secret appears in {log.name}"


OWNER = """
import json, sys, time
from labkit.sandbox import Sandbox
sb = Sandbox(services=["omero", "gateway"], root=sys.argv[1]).start()
print(json.dumps({"pids": sb.pids(), "ports": sb.ports()}), flush=True)
time.sleep(600)
"""


def _running(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_servers_stop_when_their_owner_is_killed(tmp_path):
    """A kernel that crashes (SIGKILL: no atexit) must not leave the sandbox's servers running."""
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        started = json.loads(owner.stdout.readline())
        servers = [psutil.Process(pid) for pid in started["pids"]]
        assert len(servers) == 3 and all(p.is_running() for p in servers)  # omero, the gateway, its OIDC provider
        assert all(port_in_use(p) for p in started["ports"])
        assert current(tmp_path) is not None
    finally:
        owner.kill()
        owner.wait(10)
    _, alive = psutil.wait_procs(servers, timeout=20)
    alive = [p for p in alive if _running(p)]  # a zombie (ended, not yet reaped by whoever adopted it) has stopped
    for p in alive:  # do not leave them to the rest of the session
        stop_tree(p.pid)
    assert alive == [], f"servers left running after their owner was killed: {[p.pid for p in alive]}"
    assert [p for p in started["ports"] if port_in_use(p)] == []
    assert not (tmp_path / "state.json").exists()


def test_concurrent_ups_make_one_sandbox(tmp_path, request):
    env = {**os.environ, "LABKIT_SANDBOX_DIR": str(tmp_path)}
    request.addfinalizer(lambda: stop_sandbox(tmp_path))
    procs = [subprocess.Popen([sys.executable, "-m", "labkit.cli", "sandbox", "up", "--services", "omero"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    daemons = [p for p in psutil.process_iter(["cmdline"])
               if "labkit.sandbox.daemon" in " ".join(p.info["cmdline"] or []) and str(tmp_path) in
               " ".join(p.info["cmdline"] or [])]
    assert len(daemons) == 1, [d.pid for d in daemons]
    assert labkit("sandbox", "down", root=tmp_path).returncode == 0
    psutil.wait_procs(daemons, timeout=20)
    assert not any(d.is_running() and d.status() != psutil.STATUS_ZOMBIE for d in daemons)
    assert labkit("sandbox", "status", root=tmp_path).returncode == 1


def test_up_adds_services_and_status_reports_a_dead_one(tmp_path, request):
    request.addfinalizer(lambda: stop_sandbox(tmp_path))
    first = labkit("sandbox", "up", "--services", "omero", root=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "started omero" in first.stdout
    more = labkit("sandbox", "up", "--services", "ipfs", root=tmp_path)
    assert more.returncode == 0, more.stderr
    assert "started ipfs" in more.stdout
    sb = current(tmp_path)
    assert set(sb.records) == {"omero", "ipfs"}
    # IPFS has two addresses: each is named, wherever they are shown (issue 29)
    named = f"gateway {sb.ipfs.gateway}  API {sb.ipfs.api}"
    ipfs_lines = [line for line in more.stdout.splitlines() if "ipfs" in line and "http" in line]
    assert len(ipfs_lines) == 2 and all(named in line for line in ipfs_lines), more.stdout
    status = labkit("sandbox", "status", root=tmp_path)
    assert status.returncode == 0 and status.stdout.count(" ok ") == 2, status.stdout
    assert named in status.stdout and named in repr(sb) and named in sb._repr_html_()
    stop_tree(sb.records["ipfs"]["pid"])
    status = labkit("sandbox", "status", root=tmp_path)
    assert status.returncode == 1
    assert "ipfs" in status.stdout and "DEAD" in status.stdout and "omero    ok" in status.stdout


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    bad = labkit("sandbox", "up", "--services", "s4", root=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: unknown sandbox service ['s4']") and "Traceback" not in bad.stderr
    missing = labkit("info", str(tmp_path / "nothing.zarr"), root=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and "nothing.zarr" in missing.stderr
    unreachable = labkit("info", "s3://idr/x.zarr", "--endpoint-url", "http://127.0.0.1:9", root=tmp_path)
    assert unreachable.returncode == 2 and len(unreachable.stderr.strip().splitlines()) == 1, unreachable.stderr
    assert "127.0.0.1:9" in unreachable.stderr
    debug = labkit("--debug", "info", str(tmp_path / "nothing.zarr"), root=tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr
