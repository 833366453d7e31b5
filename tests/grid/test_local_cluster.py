"""grid/local_cluster.py: a head whose free port was taken between the check and `ray start` starts again on fresh
ports, and the cluster it gives is a working one."""

import socket
import subprocess
import sys

import pytest

from grid import local_cluster
from grid.local_cluster import ClusterUnavailable, LocalRayCluster

pytestmark = pytest.mark.integration


def test_a_head_whose_port_was_taken_meanwhile_starts_again_on_fresh_ports(monkeypatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    picked = []

    def racy_free_ports(n: int) -> list[int]:
        ports = local_cluster_free_ports(n)
        if not picked:  # the first pick: another process binds the GCS port before `ray start` does
            ports[0] = taken.getsockname()[1]
        picked.append(ports)
        return ports

    local_cluster_free_ports = local_cluster.free_ports
    monkeypatch.setattr(local_cluster, "free_ports", racy_free_ports)
    try:
        cluster = LocalRayCluster(head_cpus=1)
    except ClusterUnavailable as e:  # this machine cannot; a start that fails is a failure
        pytest.skip(str(e))
    try:
        assert len(picked) == 2 and cluster.address == f"127.0.0.1:{picked[1][0]}"
        code = f"import ray; ray.init(address='{cluster.address}'); print(ray.cluster_resources()['CPU'])"
        joined = subprocess.run(
            [sys.executable, "-c", code], env=cluster.env, capture_output=True, text=True, timeout=120
        )
        assert joined.returncode == 0, joined.stderr[-3000:]
        assert joined.stdout.split()[-1] == "1.0"  # the head's one logical CPU
    finally:
        assert not cluster.stop()
        taken.close()
