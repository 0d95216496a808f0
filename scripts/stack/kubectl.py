#!/usr/bin/env python3
"""A tiny helper for tests: GET one API path from the stack's API server as admin, or apply a
merge patch to one (to set a scenario's starting state).

    kubectl.py get /apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy
    kubectl.py patch /apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy '{"spec": …}'
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kubeapi import Kube  # noqa: E402

if __name__ == "__main__":
    if not (len(sys.argv) == 3 and sys.argv[1] == "get") and not (len(sys.argv) == 4 and sys.argv[1] == "patch"):
        raise SystemExit(__doc__)
    config = json.loads(Path(os.environ["KUBECONFIG"]).read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    kube = Kube(cluster["server"], user["token"], cluster["certificate-authority"])
    if sys.argv[1] == "get":
        print(json.dumps(kube.get(sys.argv[2])))
    else:
        print(json.dumps(kube.request("PATCH", sys.argv[2], json.loads(sys.argv[3]), "application/merge-patch+json")))
