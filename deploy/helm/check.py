#!/usr/bin/env python3
"""Lints and renders the Heliograph chart with Helm's own Go SDK (the
helm-python-sdk package binds libhelm; no helm binary is needed):
`helm lint --strict` with the default values and with every optional part on,
then `helm template` of both, checked against the committed renderings in
deploy/helm/rendered/ (a Rust test feeds their env to `heliograph --print-config`).

Usage: deploy/helm/check.py [--write]   (--write refreshes the renderings)
"""

import pathlib
import sys

import helm_python

HERE = pathlib.Path(__file__).resolve().parent
CHART = HERE / "heliograph"
CASES = {
    "default": {},
    "all-options": {
        "serviceMonitor": {"enabled": True},
        "bridge": {
            "allowedOrigins": ["https://app.example.org"],
            "requireToken": True,
            "tokenKeys": ["d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"],
            "trustedProxies": ["10.0.0.0/8"],
        },
        "ingress": {"enabled": True, "host": "relay.example.org"},
        "nodeKeys": {"existingSecret": "heliograph-node-keys"},
        "adminToken": {"existingSecret": "heliograph-admin", "key": "token"},
        "node": {
            "logFormat": "json",
            "extraBootstrap": ["/dns4/seed.example.org/tcp/60000"],
            "dnsDiscoveryUrls": [
                "enrtree://AKPYQIUQIL7PSIACI32J7FGZW56E5FKHEFCCOFHILBIMW3M6LWXS2@nodes.example.org"
            ],
        },
        "env": [{"name": "HELIOGRAPH_STORE_MAX_AGE", "value": "12h"}],
        "ports": {"metrics": 9100},
        "persistence": {"enabled": False},
    },
}


def main() -> int:
    write = "--write" in sys.argv[1:]
    failed = False
    for case, values in CASES.items():
        report = helm_python.lint(CHART, values or None, strict=True, namespace="mesh")
        problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
        problems += report.get("errors") or []
        if problems:
            print(f"helm lint ({case}): {problems}", file=sys.stderr)
            failed = True
        else:
            print(f"helm lint ({case}): 1 chart linted, 0 warnings, 0 errors")
        manifests = helm_python.Chart.load(CHART).render(values or None, name="hg", namespace="mesh")
        text = "".join(
            f"---\n# Source: {path}\n{body.strip()}\n"
            for path, body in sorted(manifests.items())
            if body.strip() and not path.endswith("NOTES.txt")
        )
        target = HERE / "rendered" / f"{case}.yaml"
        if write:
            target.write_text(text)
            print(f"helm template ({case}): wrote {target.relative_to(HERE.parent.parent)}")
        elif not target.exists() or target.read_text() != text:
            print(f"helm template ({case}): {target} is stale; run deploy/helm/check.py --write", file=sys.stderr)
            failed = True
        else:
            print(f"helm template ({case}): matches {target.name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
