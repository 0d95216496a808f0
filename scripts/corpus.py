#!/usr/bin/env python3
"""Records tests/corpus/: one snapshot per root cause, saved from a real stack run.

  python3 scripts/corpus.py            # (re)records every scenario below; needs the built CLI
  python3 scripts/corpus.py article    # only these

For each scenario: seed it on the local stack (started if needed), run
`eks-lb-doctor diagnose --save-snapshot`, refuse to record unless the live verdict is the one
declared below (the scenario's meaning, not whatever the code says today), then scrub the
snapshot (fixed namespace and time, no uids or resource versions) and write
tests/corpus/<scenario>.json. `cargo test --test it corpus` replays them without the stack.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "corpus"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/eks-lb-doctor/target"))

# scenario → (verdict status, root cause): what each scenario was built to show.
EXPECTED = {
    "healthy": ("healthy", None),
    "article": ("problem", "selector-match"),
    "selector-unrelated": ("problem", "selector-match"),
    "workload-absent": ("problem", "selector-match"),
    "rollout-transient": ("healthy", None),
    "pod-status": ("problem", "pod-status"),
    "stale-endpoints": ("problem", "endpoints"),
    "named-port": ("problem", "target-port"),
    "missing-service": ("problem", "service-mapping"),
    "local-policy": ("problem", "traffic-policy"),
    "mixed-faults": ("problem", "traffic-policy"),
    "second-node-group": ("problem", "security-groups"),
    "nacl-deny": ("problem", "network-acls"),
    "diverted-route": ("problem", "route-tables"),
    "zone-missing": ("problem", "availability-zones"),
    "node-not-ready": ("problem", "nodes"),
    "stopped-instance": ("problem", "nodes"),
    "readiness-path": ("problem", "health-check-config"),
    "ingress-404": ("problem", "ingress-annotations"),
    "nlb-hc-port": ("problem", "service-annotations"),
    "controller-denied": ("problem", "lb-controller"),
    "gate-timeout": ("problem", "readiness-gates"),
    "kube-proxy-down": ("problem", "kube-proxy"),
    "elb-internal-error": ("problem", "target-health"),
}

SCRUB_KEYS = {"uid", "resourceVersion", "creationTimestamp", "generation"}


def scrub(value, namespace, scenario):
    """Same evidence, stable text: the random namespace becomes the scenario's name."""
    if isinstance(value, dict):
        return {k: scrub(v, namespace, scenario) for k, v in value.items() if k not in SCRUB_KEYS}
    if isinstance(value, list):
        return [scrub(v, namespace, scenario) for v in value]
    if isinstance(value, str):
        # The namespace and where the stack's kubeconfig lives on this machine.
        return value.replace(namespace, scenario).replace(str(REPO) + "/", "")
    return value


def main(names):
    subprocess.run([sys.executable, REPO / "scripts/stack.py", "up"], check=True, stdout=subprocess.DEVNULL)
    env_file = REPO / ".stack" / "env.json"
    env = {"PATH": os.environ["PATH"], **json.loads(env_file.read_text())}
    cli = TARGET / "debug" / "eks-lb-doctor"
    if not cli.exists():
        sys.exit(f"build the CLI first (cargo build): {cli} is missing")
    OUT.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name in names:
        status, root = EXPECTED[name]
        namespace = f"corpus-{name}"[:50]
        seed = json.loads(subprocess.run(
            [sys.executable, REPO / "scripts/stack.py", "seed", name, "--namespace", namespace],
            check=True, capture_output=True, text=True).stdout)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "snap.json"
            run = subprocess.run([cli, "diagnose", "--target-group-arn", seed["targetGroupArn"], "--output", "json",
                                  "--save-snapshot", path], env=env, capture_output=True, text=True)
            d = json.loads(run.stdout)
            got = (d["verdict"]["status"], d["verdict"]["rootCause"])
            if got != (status, root):
                sys.exit(f"{name}: the live verdict is {got}, the scenario means {(status, root)}; not recorded")
            snap = scrub(json.loads(path.read_text()), namespace, name)
        snap["collectedAt"] = "2026-01-01T00:00:00Z"
        (OUT / f"{name}.json").write_text(json.dumps(snap, indent=1, sort_keys=True) + "\n")
        expected[name] = {"status": status, "rootCause": root}
        print(f"recorded {name}: {status} {root}", file=sys.stderr)
    index = OUT / "expected.json"
    old = json.loads(index.read_text()) if index.exists() else {}
    old.update(expected)
    index.write_text(json.dumps(dict(sorted(old.items())), indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:] or list(EXPECTED))
