#!/usr/bin/env bash
# The demo: the source article's own example, end to end on the local stack.
#
#  1. builds eks-lb-doctor (CLI and Lambda) and starts a fresh local stack (moto + kube-apiserver);
#  2. seeds the article's example: NodePort Service `alb-instance` selecting app=alb-instance-1
#     while its pods say app=alb-instance, behind an ALB whose instance targets time out;
#  3. turns events/alarm-state-change.json into an alarm for that target group and sends it to
#     the real Lambda binary through a local Lambda Runtime API; prints the diagnosis JSON;
#  4. prints the same diagnosis as the text report (`eks-lb-doctor diagnose --event`).
# The stack keeps running afterwards (`source .stack/env`, then kubectl/aws); stop it with
# `scripts/stack.py down`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO"
install_python_deps

echo "== building (first time: several minutes on 2 cores)" >&2
cargo build --bins --quiet
BIN="$CARGO_TARGET_DIR/debug"

echo "== starting a fresh local stack" >&2
python3 scripts/stack.py down >/dev/null 2>&1 || true
python3 scripts/stack.py up >/dev/null
source .stack/env

echo "== seeding the article's example into namespace default" >&2
python3 scripts/stack.py seed article --namespace default > .stack/demo-seed.json
python3 - <<'PY'
import json
seed = json.load(open(".stack/demo-seed.json"))
event = json.load(open("events/alarm-state-change.json"))
_, _, _, region, account, resource = seed["targetGroupArn"].split(":", 5)
_, _, _, _, _, lb = seed["loadBalancerArn"].split(":", 5)
event.update(account=account, region=region,
             resources=[f"arn:aws:cloudwatch:{region}:{account}:alarm:alb-instance-unhealthy-hosts"])
dims = event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]
dims["TargetGroup"] = resource
dims["LoadBalancer"] = lb.split("/", 1)[1]
json.dump(event, open(".stack/demo-event.json", "w"), indent=2)
PY

echo "== sending the alarm event to the Lambda function (local Runtime API); its response:" >&2
python3 scripts/stack/lambda_invoke.py .stack/demo-event.json -- "$BIN/eks-lb-doctor-lambda" 2>.stack/demo-lambda.log

echo >&2
echo "== the same alarm through the CLI, as a person reads it:" >&2
set +e
"$BIN/eks-lb-doctor" diagnose --event .stack/demo-event.json
code=$?
set -e
echo >&2
echo "(exit code $code: 1 = problems found; Lambda logs in .stack/demo-lambda.log; stop the stack with scripts/stack.py down)" >&2
