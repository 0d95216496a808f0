#!/usr/bin/env python3
"""A tiny helper for tests: GET one API path from the stack's API server as admin, or apply a
merge patch to one (to set a scenario's starting state).

    kubectl.py get /apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy
    kubectl.py patch /apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy '{"spec": …}'

It also runs, as `kubectl` on a test's PATH, the two kubectl forms our Gateway fixes print, so
a test pastes a printed fix into a shell exactly as a user would:

    printf '%s' '{"apiVersion": …}' | kubectl apply -f -
    kubectl patch targetgroupconfiguration NAME -n NS --type merge -p '{"spec": …}'
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kubeapi import Kube, KubeError  # noqa: E402

# The resources the printed fixes name, by kubectl's singular name.
RESOURCES = {"targetgroupconfiguration": ("/apis/gateway.k8s.aws/v1", "targetgroupconfigurations")}


def client():
    config = json.loads(Path(os.environ["KUBECONFIG"]).read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    return Kube(cluster["server"], user["token"], cluster["certificate-authority"])


def apply_stdin(kube):
    doc = json.loads(sys.stdin.read())
    group = "/api/v1" if "/" not in doc["apiVersion"] else "/apis/" + doc["apiVersion"]
    plural = doc["kind"].lower() + "s"
    base = f"{group}/namespaces/{doc['metadata']['namespace']}/{plural}"
    try:
        return kube.request("POST", base, doc)
    except KubeError as e:
        if e.code != 409:
            raise
        return kube.request("PATCH", f"{base}/{doc['metadata']['name']}", doc, "application/merge-patch+json")


def patch_named(kube, args):
    resource, name = args[0], args[1]
    ns = args[args.index("-n") + 1]
    assert args[args.index("--type") + 1] == "merge", args
    group, plural = RESOURCES[resource]
    return kube.request("PATCH", f"{group}/namespaces/{ns}/{plural}/{name}", json.loads(args[args.index("-p") + 1]),
                        "application/merge-patch+json")


if __name__ == "__main__":
    a = sys.argv[1:]
    kube = client()
    if a[:1] == ["get"] and len(a) == 2:
        print(json.dumps(kube.get(a[1])))
    elif a[:1] == ["patch"] and len(a) == 3 and a[1].startswith("/"):
        print(json.dumps(kube.request("PATCH", a[1], json.loads(a[2]), "application/merge-patch+json")))
    elif a[:1] == ["patch"] and a[1] in RESOURCES:
        print(json.dumps(patch_named(kube, a[1:])))
    elif a == ["apply", "-f", "-"]:
        print(json.dumps(apply_stdin(kube)))
    else:
        raise SystemExit(__doc__)
