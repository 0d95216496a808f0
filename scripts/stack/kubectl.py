#!/usr/bin/env python3
"""A tiny read-only helper for tests: GET one API path from the stack's API server as admin.

    kubectl.py get /apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kubeapi import Kube  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "get":
        raise SystemExit(__doc__)
    config = json.loads(Path(os.environ["KUBECONFIG"]).read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    print(json.dumps(Kube(cluster["server"], user["token"], cluster["certificate-authority"]).get(sys.argv[2])))
