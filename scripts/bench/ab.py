#!/usr/bin/env python3
"""A/B of two eks-lb-doctor binaries on one stack: alternating runs of the small scenario (the
article's selector mismatch), median of each. For a change whose effect is smaller than this
machine's drift between bench.py runs.

    scripts/bench/ab.py OLD_BINARY NEW_BINARY [--runs N]

Starts the stack if needed (stack.py up), seeds one scenario, prints medians in ms. Loopback only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
STATE = Path(os.environ.get("EKS_LB_DOCTOR_STACK", REPO / ".stack"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--scenario", default="article")
    args = ap.parse_args()
    subprocess.run([sys.executable, str(REPO / "scripts/stack.py"), "up"], check=True, capture_output=True)
    env = {**os.environ, **json.loads((STATE / "env.json").read_text())}
    seed = json.loads(subprocess.run([sys.executable, str(REPO / "scripts/stack.py"), "seed", args.scenario], env=env, check=True,
                                     capture_output=True, text=True).stdout)
    cmd = lambda binary: [binary, "diagnose", "--target-group-arn", seed["targetGroupArn"], "--cluster", seed["cluster"], "--output", "json"]
    times = {"old": [], "new": []}
    for binary in (args.old, args.new):  # warm both once
        subprocess.run(cmd(binary), env=env, capture_output=True)
    for _ in range(args.runs):
        for name, binary in (("old", args.old), ("new", args.new)):
            start = time.perf_counter()
            subprocess.run(cmd(binary), env=env, capture_output=True)
            times[name].append((time.perf_counter() - start) * 1000)
    result = {name: round(statistics.median(t)) for name, t in times.items()}
    print(json.dumps({"scenario": args.scenario, "runs": args.runs, "median_ms": result}))


if __name__ == "__main__":
    main()
