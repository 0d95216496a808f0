#!/usr/bin/env python3
"""Many target groups at once (issue 17): `eks-lb-doctor scan` over the fleet-scale scenario (200
target groups: 160 healthy ip groups, 20 NodePort groups behind a node group that lost its
NodePort rule, 20 ip groups on a node whose group lacks the pods' port) against single
diagnoses of the same 200 groups run one after another. Prints a markdown section for
BENCHMARKS.md (section 5) and the raw numbers as JSON.

    scripts/bench/fleet.py [--profile release|debug] [--singles N] [--delay-ms D] [--namespace NS]

Needs the local stack up (scripts/stack.py up). AWS operations are counted by moto per SDK app id
(`AWS_SDK_UA_APP_ID`), Kubernetes requests from the API server's audit log for the `pass` user
(its kubeconfig). CloudTrail is off for both (`CLOUDTRAIL_CHANGES=off`): its two lookups a
second would be the whole story. `--singles N` diagnoses N groups (the 40 unhealthy first) and
scales the sum to 200; the default is all 200. Loopback only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench  # noqa: E402  (scripts/bench.py: the stack, the proxies, peak memory)


def calls(env, app):
    out = subprocess.run([sys.executable, str(bench.REPO / "scripts/stack/aws_helper.py"), "calls", app], env=env, capture_output=True, text=True, check=True)
    per = json.loads(out.stdout)
    return sum(v for k, v in per.items() if k.endswith("+operations")), per


def kube_requests():
    text = (bench.STATE / "audit.log").read_text(errors="replace")
    return sum(1 for line in text.splitlines() if '"username":"pass"' in line and '"stage":"ResponseComplete"' in line)


def settled_kube_requests():
    last = kube_requests()
    while True:
        time.sleep(0.3)
        now = kube_requests()
        if now == last:
            return now
        last = now


def run(cmd, env):
    t = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    return time.perf_counter() - t, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="release", choices=["release", "debug"])
    ap.add_argument("--singles", type=int, default=200)
    ap.add_argument("--delay-ms", type=int, default=50)
    ap.add_argument("--namespace")
    args = ap.parse_args()
    binary = str(bench.TARGET / args.profile / "eks-lb-doctor")
    env = {**bench.stack_env(), "KUBECONFIG": str(bench.STATE / "kubeconfig-pass"), "CLOUDTRAIL_CHANGES": "off", "AWS_REGION": "us-east-1"}
    ns = args.namespace
    seed_s = None
    if not ns:
        ns = f"bench-fleet-{uuid.uuid4().hex[:6]}"
        print(f"seeding fleet-scale in {ns} …", file=sys.stderr)
        t = time.perf_counter()
        bench.seed("fleet-scale", ns)
        seed_s = time.perf_counter() - t
    scan = [binary, "scan", "--namespace", ns, "--cluster", "demo", "--region", "us-east-1", "--output", "json"]
    run(scan, env)  # warm the OS caches once
    r = {"namespace": ns, "seed_s": seed_s}

    # scan: wall (median of 3), operations, Kubernetes requests, peak memory
    walls = []
    for i in range(3):
        app = f"fleet-scan-{uuid.uuid4().hex[:6]}"
        k0 = settled_kube_requests()
        wall, out = run(scan, {**env, "AWS_SDK_UA_APP_ID": app})
        walls.append(wall)
        if i == 0:
            r["scan_kube"] = settled_kube_requests() - k0
            r["scan_aws"], r["scan_aws_by_service"] = calls(env, app)
            report = json.loads(out.stdout)
    r["scan_s"] = statistics.median(walls)
    r["scan_rss_kb"] = bench.peak_rss_kb(scan, env)
    r["groups"] = len(report["groups"])
    r["diagnosed"] = len(report["diagnoses"])
    r["common_causes"] = [(c["rootCause"], c["resources"], len(c["targetGroups"])) for c in report["commonCauses"]]
    r["summary"] = report["summary"]

    # single diagnoses, one after another: the unhealthy first
    rows = sorted(report["groups"], key=lambda g: g["status"] == "healthy")
    sample = rows[: args.singles]
    app = f"fleet-singles-{uuid.uuid4().hex[:6]}"
    k0 = settled_kube_requests()
    single_walls = []
    t = time.perf_counter()
    for g in sample:
        wall, _ = run([binary, "diagnose", "--target-group-arn", g["targetGroupArn"], "--output", "json"], {**env, "AWS_SDK_UA_APP_ID": app})
        single_walls.append((g["status"], wall))
    total = time.perf_counter() - t
    scale = len(rows) / len(sample)
    r["singles_n"] = len(sample)
    r["singles_s"] = total * scale
    r["singles_kube"] = (settled_kube_requests() - k0) * scale
    r["singles_aws"] = calls(env, app)[0] * scale
    unhealthy = [w for s, w in single_walls if s != "healthy"]
    r["single_unhealthy_s"] = statistics.median(unhealthy) if unhealthy else None

    # the round-trip structure of the scan under the delay proxy
    delayed = {}
    for d in (args.delay_ms, 2 * args.delay_ms):
        denv, procs = bench.proxies(d, env)
        delayed[d], _ = run(scan, denv)
        bench.stop(procs)
    d1, d2 = args.delay_ms, 2 * args.delay_ms
    r["delay"] = {"d_ms": d1, "wall_s": delayed[d1], "wall2_s": delayed[d2], "round_trips": (delayed[d2] - delayed[d1]) / (2 * (d2 - d1) / 1000)}
    print(json.dumps(r, indent=2))
    print(markdown(r, args))


def markdown(r, args):
    ratio = r["scan_s"] / r["single_unhealthy_s"] if r["single_unhealthy_s"] else float("nan")
    causes = "; ".join(f"{c} on {', '.join(res)} ({n} groups)" for c, res, n in r["common_causes"])
    return f"""
## 5. Many target groups: `scan` (issue 17)

`scripts/bench/fleet.py --profile {args.profile} --singles {args.singles}` on the `fleet-scale` scenario: one
namespace, {r['groups']} target groups (5 targets would not change the shape: 2 each here), {r['diagnosed']} unhealthy from two
shared causes, the rest healthy. CloudTrail off for both runs.

| | wall time | peak memory | AWS operations | Kubernetes requests |
|---|---|---|---|---|
| `scan` (one pass, median of 3) | {r['scan_s']:.2f} s | {r['scan_rss_kb'] / 1024:.1f} MiB | {r['scan_aws']} | {r['scan_kube']} |
| {r['groups']} single diagnoses, one after another{' (' + str(r['singles_n']) + ' run, scaled)' if r['singles_n'] != r['groups'] else ''} | {r['singles_s']:.1f} s | – | {r['singles_aws']:.0f} | {r['singles_kube']:.0f} |
| one single diagnosis of an unhealthy group (median) | {r['single_unhealthy_s'] * 1000:.0f} ms | | | |

Common causes named: {causes}. Summary: "{r['summary']}"
AWS operations by service for the scan: {json.dumps(r['scan_aws_by_service'])}.
Under the delay proxy (d = {r['delay']['d_ms']} ms each way): {r['delay']['wall_s']:.2f} s, at 2d {r['delay']['wall2_s']:.2f} s:
**{r['delay']['round_trips']:.1f}** sequential round trips for the whole scan. Scan / one diagnosis: **{ratio:.1f}×**.
"""


if __name__ == "__main__":
    main()
