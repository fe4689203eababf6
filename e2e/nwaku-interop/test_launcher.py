"""Checks the interop launcher without the suite: the nwaku flag mapping, and a real
heliograph process driven through the container calls the suite makes (start, pause,
unpause, restart with the same peer id, stop, remove). Standard library only:
    HELIOGRAPH_BIN=... python3 e2e/nwaku-interop/test_launcher.py
"""

import json
import os
import shutil
import tempfile
import time
import unittest
import urllib.request

import heliograph_launcher as launcher


def get_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.loads(response.read())


def wait_ready(port, timeout=30):
    deadline = time.time() + timeout
    while True:
        try:
            if get_json(port, "/health").get("nodeHealth") == "READY":
                return get_json(port, "/debug/v1/info")
        except OSError:
            pass
        if time.time() > deadline:
            raise AssertionError(f"node on REST port {port} not ready within {timeout} s")
        time.sleep(0.1)


def nwaku_args(ports, **extra):
    rest, tcp, ws = ports[:3]
    args = {"rest-port": rest, "tcp-port": tcp, "websocket-port": ws, "rest": "true", "nat": "extip:127.0.0.1",
            "shard": "0", "cluster-id": "3", "nodekey": "11" * 32, "log-level": "TRACE"}
    args.update(extra)
    return args


class FlagMapping(unittest.TestCase):
    def test_nwaku_flags_become_heliograph_flags(self):
        node = "/ip4/127.0.0.1/tcp/1/p2p/16Uiu2HAmJDRV1JkD1ZiRjwisGESziWcuZRfcMr8dFcjVbMYoyVYx"
        args = nwaku_args([1, 2, 3], store="false", lightpush="false", filter="true", filternode=node,
                          lightpushnode=node, storenode=node, **{"discv5-bootstrap-node": "enr:-abc", "unknown-x": "1"})
        cmd, unknown = launcher.heliograph_args(args, "/tmp/does-not-matter")
        line = " ".join(cmd)
        for expected in ["--rest-addr 127.0.0.1:1", "--listen /ip4/127.0.0.1/tcp/2", "--listen /ip4/127.0.0.1/tcp/3/ws",
                         "--no-store", "--no-lightpush", "--filter-rate-limit 30", "--shard 0", "--cluster-id 3",
                         f"--filter-node {node}", f"--lightpush-node {node}", f"--store-node {node}",
                         "--bootstrap enr:-abc", "--no-bridge", "--rest-publish-without-peers"]:
            self.assertIn(expected, line)
        self.assertEqual(unknown, ["unknown-x"])
        self.assertNotIn("TRACE", line)


@unittest.skipUnless(launcher.BIN and os.access(launcher.BIN, os.X_OK), "HELIOGRAPH_BIN is not set")
class LocalProcess(unittest.TestCase):
    def test_container_calls_on_a_real_node(self):
        ports = launcher.free_ports(3)
        self.assertEqual(len(set(ports)), 3)
        work = tempfile.mkdtemp(prefix="heliograph-launcher-test-")
        data_dir = os.path.join(work, "data")
        cmd, _ = launcher.heliograph_args(nwaku_args(ports), data_dir)
        node = launcher.LocalNode(cmd, os.path.join(work, "node.log"), data_dir, [])
        try:
            info = wait_ready(ports[0])
            peer = info["peerId"]
            # The suite's nodekey is the node key.
            with open(os.path.join(data_dir, "node-key")) as key:
                self.assertEqual(key.read(), "11" * 32)
            node.pause()
            with self.assertRaises(OSError, msg="a paused node does not answer"):
                urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/health", timeout=0.5)
            node.unpause()
            wait_ready(ports[0])
            node.restart()
            self.assertEqual(wait_ready(ports[0])["peerId"], peer, "a restart keeps the peer id")
            node.stop()
            self.assertEqual(node.status, "exited")
        finally:
            node.remove()
        self.assertFalse(os.path.exists(data_dir), "remove deletes the data dir")
        shutil.rmtree(work)


if __name__ == "__main__":
    unittest.main(verbosity=2)
