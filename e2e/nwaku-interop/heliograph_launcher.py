"""pytest plugin: runs the Waku interop suite's nodes as local `heliograph` processes.

Loaded with `-p heliograph_launcher` (this folder on PYTHONPATH). The suite starts every
node through `src.node.waku_node.WakuNode`, which hands nwaku flags to a Docker manager;
this plugin swaps that manager for one that starts the binary in `HELIOGRAPH_BIN` on
127.0.0.1 with the equivalent Heliograph flags (see FLAG_MAP and README.md). The node's
"container" is a process handle with the calls the suite makes on containers: stop,
start, restart, kill, pause (SIGSTOP), unpause (SIGCONT), remove.

Environment:
  HELIOGRAPH_BIN          the node binary (required)
  HELIOGRAPH_INTEROP_LOG  a --log filter for the nodes (default: info)
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

BIN = os.environ.get("HELIOGRAPH_BIN", "")
LOG_FILTER = os.environ.get("HELIOGRAPH_INTEROP_LOG", "info")

# nwaku flag -> Heliograph flag. A value of None means "no flag needed": Heliograph
# always runs that part (relay, filter and lightpush service, peer exchange, REST,
# WebSocket) or the suite's Docker setting has no meaning for a local process.
FLAG_MAP = {
    "cluster-id": "--cluster-id",
    "shard": "--shard",
    "filternode": "--filter-node",
    "lightpushnode": "--lightpush-node",
    "storenode": "--store-node",
    "discv5-bootstrap-node": "--bootstrap",
}
IGNORED = {
    "listen-address", "rest", "rest-admin", "rest-address", "websocket-support", "log-level",
    "nat", "peer-exchange", "discv5-discovery", "discv5-udp-port", "metrics-server",
    "metrics-server-address", "metrics-server-port", "metrics-logging",
    "relay", "filter", "lightpush", "rest-relay-cache-capacity",
    # consumed below
    "rest-port", "tcp-port", "websocket-port", "nodekey", "store",
}


def free_ports(count):
    """Distinct free TCP ports on 127.0.0.1 (all held open while picking)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def heliograph_args(args, data_dir):
    """Maps the suite's nwaku arguments to a Heliograph command line; writes the node key."""
    if "nodekey" in args:
        os.makedirs(data_dir, exist_ok=True)
        key_path = os.path.join(data_dir, "node-key")
        if not os.path.exists(key_path):
            with open(key_path, "w") as f:
                f.write(str(args["nodekey"]))
            os.chmod(key_path, 0o600)
    cmd = [
        BIN,
        "--data-dir", data_dir,
        "--log", LOG_FILTER,
        "--no-bridge",
        # nwaku answers a relay publish that reaches no relay peer with 200.
        "--rest-publish-without-peers",
        "--rest-addr", f"127.0.0.1:{args['rest-port']}",
        "--listen", f"/ip4/127.0.0.1/tcp/{args['tcp-port']}",
        "--listen", f"/ip4/127.0.0.1/tcp/{args['websocket-port']}/ws",
    ]
    if str(args.get("store", "")).lower() == "false":
        cmd.append("--no-store")
    if str(args.get("lightpush", "")).lower() == "false":
        cmd.append("--no-lightpush")
    if str(args.get("filter", "")).lower() == "true":
        # nwaku's default filter rate limit: 30 requests per minute per peer.
        cmd += ["--filter-rate-limit", "30"]
    unknown = []
    for key, value in args.items():
        if key in IGNORED:
            continue
        flag = FLAG_MAP.get(key)
        if flag is None:
            unknown.append(key)
            continue
        for item in value if isinstance(value, list) else [value]:
            cmd += [flag, str(item)]
    return cmd, unknown


class LocalNode:
    """A heliograph process standing in for the suite's Docker container."""

    def __init__(self, cmd, log_path, data_dir, unknown):
        self._cmd = cmd
        self._log_path = log_path
        self._data_dir = data_dir
        self._unknown = unknown
        self._proc = None
        self.id = self.short_id = os.path.basename(data_dir)
        self.status = "created"
        self.start()

    def start(self):
        os.makedirs(os.path.dirname(self._log_path) or ".", exist_ok=True)
        log = open(self._log_path, "ab")
        if self._unknown:
            log.write(f"launcher: nwaku flags without a Heliograph equivalent, ignored: {self._unknown}\n".encode())
        log.write(("launcher: " + " ".join(self._cmd) + "\n").encode())
        log.flush()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELIOGRAPH_")}
        self._proc = subprocess.Popen(self._cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        self.status = "running"

    def stop(self, timeout=10):
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self.status = "exited"

    def kill(self):
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self.status = "exited"

    def restart(self):
        self.stop()
        self.start()

    def pause(self, timeout=5):
        """SIGSTOP; returns once every thread is stopped, as `docker pause` returns once the
        container is frozen (the signal alone is asynchronous: a busy or loaded machine can
        still answer a request sent right after it)."""
        self._proc.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + timeout
        while not self._stopped():
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {self.id} did not stop within {timeout} s of SIGSTOP")
            time.sleep(0.01)
        self.status = "paused"

    def _stopped(self):
        """Whether every thread of the process is in the stopped state (`T` in /proc)."""
        task_dir = f"/proc/{self._proc.pid}/task"
        try:
            for task in os.listdir(task_dir):
                with open(f"{task_dir}/{task}/stat") as stat:
                    # The state follows the command name, which is in parentheses.
                    if stat.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                        return False
        except FileNotFoundError:
            return False
        return True

    def unpause(self):
        self._proc.send_signal(signal.SIGCONT)
        self.status = "running"

    def remove(self):
        self.kill()
        shutil.rmtree(self._data_dir, ignore_errors=True)


def install():
    """Replaces the suite's Docker manager with the local-process one."""
    from src.node import docker_mananger, waku_node

    class LocalManager(docker_mananger.DockerManager):
        def __init__(self, image):
            self._image = image

        def create_network(self, network_name=None):
            return None

        @staticmethod
        def generate_random_ext_ip():
            return "127.0.0.1"

        def generate_ports(self, base_port=None, count=5):
            return [str(port) for port in free_ports(count)]

        def start_container(self, image_name, ports, args, log_path, container_ip, volumes, remove_container=True):
            if not BIN or not os.access(BIN, os.X_OK):
                raise RuntimeError(f"HELIOGRAPH_BIN={BIN!r} is not an executable heliograph binary")
            data_dir = tempfile.mkdtemp(prefix="heliograph-interop-")
            cmd, unknown = heliograph_args(args, data_dir)
            return LocalNode(cmd, log_path, data_dir, unknown)

        def is_container_running(self, container):
            return container.status == "running"

    waku_node.DockerManager = LocalManager
    # The suite drives a node through nwaku's REST API when its image name says "nwaku".
    waku_node.WakuNode.is_nwaku = lambda self: True


def pytest_configure(config):
    install()
