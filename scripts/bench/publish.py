#!/usr/bin/env python3
"""How long publishing takes after the diagnosis is logged: the time PUBLISH_MARGIN must cover.

    scripts/bench/publish.py LAMBDA_BINARY [--runs 10]

Against the running local stack (scripts/stack.py up; its env in the environment), with SNS
read back through SQS, the delivery ledger's table, and the local Slack webhook, it invokes the
Lambda binary through lambda_invoke.py and measures, per invocation, the time from the
`diagnosis` log line (everything after it is remediation, which is off, and publishing) to the
function's response. Three cases:

    sns+slack   every channel answers at once
    slack-429   Slack rate-limits the first post (429, Retry-After: 1), as it does for more
                than one message a second per webhook; the retry succeeds
    slack-5xx   Slack answers 500 twice (backoff 400 ms, then 800 ms) before succeeding

    none        no channel: the floor (the response and the process's exit)

Prints one JSON line per case (median and max in ms). Loopback only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HELPER = REPO / "scripts/stack/aws_helper.py"


def helper(*args):
    return json.loads(subprocess.check_output([sys.executable, str(HELPER), *args]))


def seed():
    out = subprocess.check_output([sys.executable, str(REPO / "scripts/stack.py"), "seed", "article", "--namespace", f"pub-{uuid.uuid4().hex[:6]}"])
    return json.loads(out)["targetGroupArn"]


def event_for(tg, n):
    ev = json.loads((REPO / "events/alarm-state-change.json").read_text())
    ev["account"] = "123456789012"
    ev["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["TargetGroup"] = tg.rsplit(":", 1)[1]
    # A transition of its own per run, so the ledger never skips a channel.
    ev["detail"]["state"]["timestamp"] = f"2026-12-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000+0000"
    ev["id"] = str(uuid.uuid4())
    return ev


def one(binary, env, event):
    """Milliseconds from the `diagnosis` log line's arrival (logs carry no time on Lambda) to
    the function's response."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(event, f)
    p = subprocess.Popen([sys.executable, str(REPO / "scripts/stack/lambda_invoke.py"), f.name, "--", binary],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    at = None
    for line in p.stderr:
        if at is None and '"message":"diagnosis"' in line:
            at = time.time()
    p.wait(timeout=120)
    end = time.time()
    os.unlink(f.name)
    if p.returncode != 0 or at is None:
        raise SystemExit(f"invocation failed (exit {p.returncode}, diagnosis logged: {at is not None}): {p.stdout.read()[-500:]}")
    return (end - at) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    tg = seed()
    q = helper("sns-queue", f"pub-{uuid.uuid4().hex[:6]}")
    table = helper("table", f"pub-{uuid.uuid4().hex[:6]}")["table"]
    n = 0
    for case, plan in (("none", None), ("sns+slack", ""), ("slack-429", "429"), ("slack-5xx", "500,500")):
        times = []
        for _ in range(args.runs):
            n += 1
            if plan is None:
                # The floor: no channel, only the function's response and the process's exit.
                env = {**os.environ, "LAMBDA_TIMEOUT_S": "60", "RUST_LOG": "info"}
                times.append(one(args.binary, env, event_for(tg, n)))
                continue
            receiver = subprocess.Popen([sys.executable, str(REPO / "scripts/stack/webhook_receiver.py"), plan],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            port = int(receiver.stdout.readline().split()[1])
            secret = helper("secret", f"pub-{uuid.uuid4().hex[:6]}", f"http://127.0.0.1:{port}/services/T0/B0/bench")["arn"]
            env = {**os.environ, "SNS_TOPIC_ARN": q["topic"], "SLACK_WEBHOOK_SECRET_ARN": secret, "DELIVERY_TABLE": table,
                   "LAMBDA_TIMEOUT_S": "60", "RUST_LOG": "info"}
            times.append(one(args.binary, env, event_for(tg, n)))
            receiver.stdin.close()
            receiver.wait(timeout=10)
        print(json.dumps({"case": case, "runs": args.runs, "median_ms": round(statistics.median(times)), "max_ms": round(max(times))}))


if __name__ == "__main__":
    main()
