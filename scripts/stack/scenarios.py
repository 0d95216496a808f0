"""Named scenarios, seeded through the real APIs: boto3 against moto, HTTP against the API server.

Each scenario lives in its own namespace (and its own VPC, load balancer and target group), so
several can coexist in one stack. Pod and node IPs are data only: nothing ever dials them.
"""
import datetime
import fcntl
import hashlib
import json
import os
import re
import uuid
from pathlib import Path

import boto3

REGION = "us-east-1"
CLUSTER = "demo"
TIMEOUT = ("unhealthy", "Target.Timeout", "Request timed out")


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def elb_name(*parts):
    """An ELB name: at most 32 characters, no leading, trailing or doubled hyphens."""
    name = re.sub("-+", "-", "-".join(parts))[:32]
    return name.strip("-")


def octet(ns):
    """A per-namespace octet so scenarios never share pod IPs (mapping by IP looks cluster-wide):
    handed out in turn from a counter in the stack's state directory, under a lock, as seeds run
    in parallel processes (a hash of the name collided within a run). A long-lived local stack
    wraps around after 200 namespaces."""
    state = Path(os.environ.get("STACK_STATE", "."))
    with open(state / "octets.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = state / "octets.json"
        given = json.loads(path.read_text()) if path.exists() else {}
        if ns not in given:
            given[ns] = len(given) % 200 + 20
            path.write_text(json.dumps(given))
        return given[ns]


# ------------------------------------------------------------------ AWS

_session = None


def aws(service):
    """A client in the default account, or (SEED_ACCOUNT set) in that account through an
    assumed role, as resources of another account are made in moto."""
    global _session
    account = os.environ.get("SEED_ACCOUNT")
    if not account:
        return boto3.client(service, region_name=REGION)
    if _session is None:
        creds = boto3.client("sts", region_name=REGION).assume_role(RoleArn=f"arn:aws:iam::{account}:role/seeder", RoleSessionName="seed")["Credentials"]
        _session = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                 aws_session_token=creds["SessionToken"], region_name=REGION)
    return _session.client(service)


NODE_CIDRS = {"us-east-1a": "10.0.1.0/24", "us-east-1b": "10.0.2.0/24", "us-east-1c": "10.0.3.0/24"}
LB_CIDRS = {"us-east-1a": "10.0.101.0/24", "us-east-1b": "10.0.102.0/24", "us-east-1c": "10.0.103.0/24"}


def network(ns, node_zones, lb_zones, node_cidrs=None):
    """A VPC with node subnets and load-balancer subnets per zone, the ALB's security group, and
    the nodes' group (tagged for the cluster) allowing NodePorts and 8080 from the ALB."""
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = {z: ec2.create_subnet(VpcId=vpc, CidrBlock=(node_cidrs or NODE_CIDRS)[z], AvailabilityZone=z)["Subnet"]["SubnetId"] for z in node_zones}
    lb_subnets = {z: ec2.create_subnet(VpcId=vpc, CidrBlock=LB_CIDRS[z], AvailabilityZone=z)["Subnet"]["SubnetId"] for z in lb_zones}
    sg_lb = ec2.create_security_group(GroupName=f"{ns}-alb", Description="load balancer", VpcId=vpc)["GroupId"]
    sg_node = ec2.create_security_group(GroupName=f"{ns}-nodes", Description="nodes", VpcId=vpc)["GroupId"]
    ec2.create_tags(Resources=[sg_node], Tags=[{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}])
    allow_from_alb(sg_node, sg_lb)
    # All traffic between the nodes, as EKS's cluster security group allows (a NodePort's
    # forwarded traffic reaches pods on other nodes this way).
    ec2.authorize_security_group_ingress(GroupId=sg_node, IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": sg_node, "Description": "node to node"}]}])
    return {"vpc": vpc, "subnets": subnets, "lb_subnets": lb_subnets, "sg_lb": sg_lb, "sg_node": sg_node}


def allow_from_alb(group, sg_lb):
    aws("ec2").authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 30000, "ToPort": 32767, "UserIdGroupPairs": [{"GroupId": sg_lb, "Description": "NodePorts from the ALB"}]},
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": sg_lb, "Description": "pods from the ALB"}]},
    ])


def instances(net, zones, groups=None):
    ec2 = aws("ec2")
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    out = []
    for k, zone in enumerate(zones):
        sgs = (groups or {}).get(k, [net["sg_node"]])
        r = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m5.large", SubnetId=net["subnets"][zone],
                              SecurityGroupIds=sgs,
                              TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}]}])
        i = r["Instances"][0]
        out.append({"id": i["InstanceId"], "zone": zone, "ip": i["PrivateIpAddress"]})
    return out


def load_balancer(ns, net, svc, port, target_type, tg_port, tags, lb_tags=None, nlb=False, hc=None):
    """An ALB (or NLB) with a listener forwarding to a new target group; returns both ARNs.
    `hc` overrides target-group health-check parameters (HealthCheckPort, HealthCheckPath, …)."""
    elb = aws("elbv2")
    suffix = uuid.uuid4().hex[:8]
    lb_tags = {"elbv2.k8s.aws/cluster": CLUSTER} if lb_tags is None else lb_tags
    # An empty Tags list is invalid: leave the parameter out instead.
    tagged = lambda tags: {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
    groups = {} if nlb else {"SecurityGroups": [net["sg_lb"]]}
    lb = elb.create_load_balancer(Name=elb_name("k8s", ns[:12], suffix), Subnets=list(net["lb_subnets"].values()), Scheme="internet-facing",
                                  Type="network" if nlb else "application", **groups, **tagged(lb_tags))["LoadBalancers"][0]["LoadBalancerArn"]
    checks = {"HealthCheckProtocol": "TCP", "HealthCheckPort": "traffic-port", "HealthCheckIntervalSeconds": 10, "HealthCheckTimeoutSeconds": 10, "HealthyThresholdCount": 3,
              "UnhealthyThresholdCount": 3} if nlb else {
              "HealthCheckProtocol": "HTTP", "HealthCheckPort": "traffic-port", "HealthCheckPath": "/", "HealthCheckIntervalSeconds": 15,
              "HealthCheckTimeoutSeconds": 5, "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 2, "Matcher": {"HttpCode": "200"}}
    checks.update(hc or {})
    tg = elb.create_target_group(Name=elb_name("k8s", ns[:10], svc[:8], suffix), Protocol="TCP" if nlb else "HTTP", Port=tg_port, VpcId=net["vpc"],
                                 TargetType=target_type, **checks, **tagged(tags))["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=lb, Protocol="TCP" if nlb else "HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    return lb, tg


def register(tg, targets, health):
    """Registers `targets` [(id, port)]; `health` maps an id to an override (state, reason, description)."""
    elb = aws("elbv2")
    if targets:
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": i, "Port": p} for i, p in targets])
    if health:
        elb.add_tags(ResourceArns=[tg], Tags=[{"Key": f"moto:health:{i}", "Value": "|".join(h)} for i, h in health.items()])


def controller_tags(ns, svc, port):
    return {"elbv2.k8s.aws/cluster": CLUSTER, "ingress.k8s.aws/stack": f"{ns}/{svc}",
            "ingress.k8s.aws/resource": f"{ns}/{svc}-{svc}:{port}"}


# ------------------------------------------------------------------ Kubernetes

TGB_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "targetgroupbindings.elbv2.k8s.aws"},
    "spec": {
        "group": "elbv2.k8s.aws", "scope": "Namespaced",
        "names": {"kind": "TargetGroupBinding", "listKind": "TargetGroupBindingList", "plural": "targetgroupbindings", "singular": "targetgroupbinding"},
        "versions": [{"name": "v1beta1", "served": True, "storage": True, "subresources": {"status": {}},
                      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
    },
}


CONTROLLER_LABELS = {"app.kubernetes.io/name": "aws-load-balancer-controller", "app.kubernetes.io/instance": "aws-load-balancer-controller"}


def install_cluster(kube):
    """What every EKS cluster of these scenarios has: the TargetGroupBinding CRD, the AWS Load
    Balancer Controller (a ready Deployment and pod in kube-system) and the kube-proxy DaemonSet
    (its pods come with each node)."""
    # EKS Auto Mode's binding too (a cluster may have both, when Auto Mode and a self-managed
    # controller share it), and its IngressClass.
    auto_crd = {**TGB_CRD, "metadata": {"name": "targetgroupbindings.eks.amazonaws.com"},
                "spec": {**TGB_CRD["spec"], "group": "eks.amazonaws.com", "versions": [{**TGB_CRD["spec"]["versions"][0], "name": "v1"}]}}
    # The Gateway API and the controller's Gateway CRDs, from their official releases.
    for crd in [TGB_CRD, auto_crd] + gateway_crds():
        kube.apply("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    for crd in [TGB_CRD, auto_crd] + gateway_crds():
        kube.wait(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}",
                  lambda c: any(x["type"] == "Established" and x["status"] == "True" for x in (c.get("status") or {}).get("conditions") or []),
                  f"the CRD {crd['metadata']['name']}")
    kube.apply("/apis/networking.k8s.io/v1/ingressclasses", {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                                                            "metadata": {"name": "auto-alb"}, "spec": {"controller": "eks.amazonaws.com/alb"}})
    image = {"name": "controller", "image": "public.ecr.aws/eks/aws-load-balancer-controller:v2.7.1"}
    d = kube.apply("/apis/apps/v1/namespaces/kube-system/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "aws-load-balancer-controller", "namespace": "kube-system", "labels": CONTROLLER_LABELS},
        "spec": {"replicas": 1, "selector": {"matchLabels": CONTROLLER_LABELS}, "template": {"metadata": {"labels": CONTROLLER_LABELS}, "spec": {"containers": [image]}}}})
    kube.patch_status("/apis/apps/v1/namespaces/kube-system/deployments/aws-load-balancer-controller",
                      {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1, "observedGeneration": 1})
    d["kind"] = "Deployment"
    pod(kube, "kube-system", "aws-load-balancer-controller-6b7f9c-x2x9v", CONTROLLER_LABELS, "system-node", "10.0.0.10", image, owner=d)
    kp = {"k8s-app": "kube-proxy"}
    kube.apply("/apis/apps/v1/namespaces/kube-system/daemonsets", {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": kp},
        "spec": {"selector": {"matchLabels": kp}, "template": {"metadata": {"labels": kp}, "spec": {"containers": [
            {"name": "kube-proxy", "image": "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:v1.20.4"}]}}}})
    recount_kube_proxy(kube)


def gateway_crds():
    """The CRDs of scripts/stack/crds (see its README for their sources), as the 1.20 API server
    takes them."""
    import gzip
    import yaml
    crds = []
    for f in sorted((Path(__file__).parent / "crds").glob("*.yaml.gz")):
        crds += [d for d in yaml.safe_load_all(gzip.decompress(f.read_bytes())) if d]
    for crd in crds:
        for v in crd["spec"]["versions"]:
            drop_empty_string_defaults(v["schema"]["openAPIV3Schema"])
    return crds


def drop_empty_string_defaults(schema):
    """The one trim: 1.20 rejects `default: ""` on a string ("Invalid value: null: must be of
    type string"; later releases accept it). It is the `group` of object references, where an
    absent value already means the core group, so nothing else changes. CEL rules
    (x-kubernetes-validations, 1.25+) are left in: 1.20 ignores them."""
    if isinstance(schema, dict):
        if schema.get("default") == "" and schema.get("type") == "string":
            del schema["default"]
        for v in schema.values():
            drop_empty_string_defaults(v)
    elif isinstance(schema, list):
        for v in schema:
            drop_empty_string_defaults(v)


def apply_rbac(kube, path):
    """Applies infra/rbac.yaml (a ClusterRole and its binding) as users would with kubectl."""
    import yaml
    for doc in yaml.safe_load_all(path.read_text()):
        kind = doc["kind"]
        plural = {"ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings", "Role": "roles", "RoleBinding": "rolebindings"}[kind]
        ns = doc["metadata"].get("namespace")
        base = "/apis/rbac.authorization.k8s.io/v1" + (f"/namespaces/{ns}" if ns else "") + f"/{plural}"
        kube.apply(base, doc)


def namespace(kube, ns):
    kube.apply("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})


def node(kube, name, inst, ready=True, kube_proxy="ready", auto=False):
    """A Node for instance `inst`; `auto`: an EKS Auto Mode node (its label; kube-proxy runs in
    the node itself, so no kube-proxy pod)."""
    labels = {"topology.kubernetes.io/zone": inst["zone"], "kubernetes.io/hostname": name}
    if auto:
        labels["eks.amazonaws.com/compute-type"] = "auto"
    kube.apply("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                 "metadata": {"name": name, "labels": labels},
                                 "spec": {"providerID": f"aws:///{inst['zone']}/{inst['id']}"}})
    # InternalIP only: no Hostname address, so the API server can never dial this node.
    kube.patch_status(f"/api/v1/nodes/{name}", {
        "addresses": [{"type": "InternalIP", "address": inst["ip"]}],
        "conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "KubeletReady" if ready else "KubeletNotReady",
                        "message": "kubelet is posting ready status" if ready else "PLEG is not healthy", "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
    })
    if auto:
        return
    # Every node runs kube-proxy, as on EKS (owned by the DaemonSet `up` creates).
    ds = {**kube.get("/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy"), "kind": "DaemonSet"}
    kp = {"name": "kube-proxy", "image": "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/kube-proxy:v1.20.4"}
    pod(kube, "kube-system", f"kube-proxy-{name}"[:63], {"k8s-app": "kube-proxy"}, name, inst["ip"], kp, owner=ds, state=kube_proxy)
    recount_kube_proxy(kube)


def recount_kube_proxy(kube):
    """The DaemonSet's status from its pods (no DaemonSet controller runs here)."""
    pods = kube.get("/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app%3Dkube-proxy")["items"]
    ready = sum(1 for p in pods if any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", [])))
    # Observed: the current generation, as the controller records it (a remediation test bumps it).
    generation = kube.get("/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy")["metadata"].get("generation", 1)
    kube.patch_status("/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy", {
        "desiredNumberScheduled": len(pods), "currentNumberScheduled": len(pods), "numberReady": ready, "updatedNumberScheduled": len(pods),
        "numberAvailable": ready, "numberMisscheduled": 0, "observedGeneration": generation})


def container(port_name="http", port=80, probe="/"):
    return {"name": "app", "image": "public.ecr.aws/nginx/nginx:1.25",
            "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}],
            "readinessProbe": {"httpGet": {"path": probe, "port": port}, "periodSeconds": 5}}


def workload(kube, ns, name, labels, ctr):
    """A Deployment and its ReplicaSet (no controller runs them: they only own the pods)."""
    tmpl = {"metadata": {"labels": labels}, "spec": {"containers": [ctr]}}
    d = kube.apply(f"/apis/apps/v1/namespaces/{ns}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": tmpl}})
    rs_hash = hashlib.sha256(name.encode()).hexdigest()[:9]
    rs_labels = {**labels, "pod-template-hash": rs_hash}
    rs = kube.apply(f"/apis/apps/v1/namespaces/{ns}/replicasets", {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{name}-{rs_hash}", "namespace": ns, "labels": rs_labels,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": d["metadata"]["uid"], "controller": True}]},
        "spec": {"replicas": 2, "selector": {"matchLabels": rs_labels}, "template": {**tmpl, "metadata": {"labels": rs_labels}}}})
    return rs, rs_labels


def pod(kube, ns, name, labels, node_name, ip, ctr, rs=None, state="ready", owner=None, gate=None, sidecars=()):
    """A pod bound to a node, its status set as a kubelet would: ready, crashloop, or gated
    (containers ready, held back by a target-health readiness gate whose reason is `gate`)."""
    meta = {"name": name, "namespace": ns, "labels": labels}
    owner = owner or rs
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner["kind"] if "kind" in owner else "ReplicaSet", "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"], "controller": True}]
    spec = {"nodeName": node_name, "containers": [ctr, *sidecars]}
    gate_type = f"target-health.elbv2.k8s.aws/k8s-{ns}"[:63]
    if gate:
        spec["readinessGates"] = [{"conditionType": gate_type}]
    p = kube.apply(f"/api/v1/namespaces/{ns}/pods", {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
    ready = state == "ready" and not gate
    containers_ready = ready or bool(gate)
    cstate = {"running": {"startedAt": now()}}
    extra = {}
    if state == "crashloop":
        cstate = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=" + ctr["name"]}}
        extra = {"restartCount": 12, "lastState": {"terminated": {"reason": "Error", "exitCode": 1, "startedAt": now(), "finishedAt": now()}}}
    cond = lambda t, ok, **kw: {"type": t, "status": "True" if ok else "False", "lastTransitionTime": now(), **kw}
    conditions = [cond("Initialized", True), cond("Ready", ready), cond("ContainersReady", containers_ready), cond("PodScheduled", True)]
    if gate:
        conditions.append(cond(gate_type, False, reason=gate, message="Target health is unhealthy"))
    kube.patch_status(f"/api/v1/namespaces/{ns}/pods/{name}", {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now(), "conditions": conditions,
        "containerStatuses": [{"name": ctr["name"], "ready": containers_ready, "restartCount": 0, "image": ctr["image"], "imageID": "",
                               "started": containers_ready, "state": cstate, **extra}],
    })
    return p


def service(kube, ns, name, selector, port, target_port, node_port=None):
    spec = {"selector": selector, "ports": [{"name": "http", "port": port, "targetPort": target_port, "protocol": "TCP"}]}
    if node_port:
        spec["type"] = "NodePort"
        spec["ports"][0]["nodePort"] = node_port
    return kube.apply(f"/api/v1/namespaces/{ns}/services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec})


def binding(kube, ns, name, tg, svc, port, target_type, api="elbv2.k8s.aws/v1beta1"):
    """A TargetGroupBinding: the controller's (`elbv2.k8s.aws/v1beta1`) or EKS Auto Mode's
    (`eks.amazonaws.com/v1`, the same spec)."""
    kube.apply(f"/apis/{api}/namespaces/{ns}/targetgroupbindings", {
        "apiVersion": api, "kind": "TargetGroupBinding", "metadata": {"name": name, "namespace": ns},
        "spec": {"targetGroupARN": tg, "targetType": target_type, "serviceRef": {"name": svc, "port": port}}})


def event(kube, ns, kind, obj, reason, message, count=5):
    kube.create(f"/api/v1/namespaces/{ns}/events", {
        "apiVersion": "v1", "kind": "Event", "metadata": {"generateName": f"{obj['metadata']['name']}.", "namespace": ns},
        "involvedObject": {"kind": kind, "name": obj["metadata"]["name"], "namespace": ns, "uid": obj["metadata"]["uid"]},
        "reason": reason, "message": message, "type": "Warning", "count": count,
        "firstTimestamp": now(), "lastTimestamp": now(), "source": {"component": "kubelet"}})


def alb_ingress(kube, ns, name, svc, annotations, ingress_class=None):
    return kube.apply(f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses", {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {"ingressClassName": ingress_class or "alb", "rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
                                                                            "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}}]}})


def wait_endpoints(kube, ns, svc, ready):
    kube.wait(f"/api/v1/namespaces/{ns}/endpoints/{svc}",
              lambda e: sum(len(s.get("addresses", [])) for s in e.get("subsets", [])) == ready,
              f"{ready} ready endpoints of {ns}/{svc}")


# ------------------------------------------------------------------ the cluster pieces most scenarios share

def instance_cluster(kube, ns, *, selector, pod_labels, target_port=80, port_name="http", health=None, pod_state="ready",
                     bind=True, tg_tags=None, lb_tags=None, expect_ready=None, zones=("us-east-1a", "us-east-1b"), lb_zones=None,
                     pods_on=None, node_ready=None, groups=None, local=False, network_hook=None, ingress=None, probe="/", kube_proxy=None,
                     workload_name="alb-instance", auto_nodes=False, ingress_class=None, nlb=False):
    """Nodes (one per zone) with one pod each behind a NodePort Service and an ALB with instance
    targets on the NodePort: the article's shape. `pods_on` limits the pods to some nodes,
    `groups` gives instances other security groups, `network_hook(net, insts)` changes the VPC."""
    namespace(kube, ns)
    net = network(ns, zones, lb_zones or zones)
    if network_hook and groups is None:
        groups = network_hook.groups(net) if hasattr(network_hook, "groups") else None
    insts = instances(net, zones, groups)
    nodes = [f"{ns}-node-{z[-1]}" for z in zones]
    for k, (n, i) in enumerate(zip(nodes, insts)):
        node(kube, n, i, ready=True if node_ready is None else node_ready[k], kube_proxy="ready" if kube_proxy is None else kube_proxy[k], auto=auto_nodes)
    svc_name = "alb-instance"
    service(kube, ns, svc_name, selector, 80, target_port)
    # Let the API server allocate the NodePort, then register the instances on it.
    patch = {"spec": {"type": "NodePort", **({"externalTrafficPolicy": "Local"} if local else {})}}
    kube.request("PATCH", f"/api/v1/namespaces/{ns}/services/{svc_name}", patch, "application/merge-patch+json")
    svc = kube.get(f"/api/v1/namespaces/{ns}/services/{svc_name}")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    ctr = container(port_name, probe=probe)
    rs, labels = workload(kube, ns, workload_name, pod_labels, ctr)
    octet3 = octet(ns)
    for k, n in enumerate(nodes):
        if pods_on is None or k in pods_on:
            pod(kube, ns, f"{rs['metadata']['name']}-{POD_SUFFIXES[k]}", labels, n, f"192.168.{octet3}.{10 + k}", ctr, rs, pod_state)
    if network_hook:
        network_hook(net, insts)
    hc = {"HealthCheckPath": ingress["alb.ingress.kubernetes.io/healthcheck-path"]} if ingress and "alb.ingress.kubernetes.io/healthcheck-path" in ingress else None
    lb, tg = load_balancer(ns, net, svc_name, 80, "instance", node_port, tg_tags if tg_tags is not None else controller_tags(ns, svc_name, 80), lb_tags,
                           hc=hc, nlb=nlb)
    register(tg, [(i["id"], node_port) for i in insts], {insts[k]["id"]: h for k, h in (health or {}).items()})
    if ingress is not None:
        alb_ingress(kube, ns, "front", svc_name, ingress, ingress_class)
    if bind:
        binding(kube, ns, f"k8s-{ns}-alb-instance", tg, svc_name, 80, "instance")
    if expect_ready is not None:
        wait_endpoints(kube, ns, svc_name, expect_ready)
    return {"namespace": ns, "cluster": CLUSTER, "targetGroupArn": tg, "loadBalancerArn": lb, "service": f"{ns}/{svc_name}",
            "nodePort": node_port, "instances": [i["id"] for i in insts], "nodes": nodes, "vpc": net["vpc"],
            "subnets": net["subnets"], "lbSubnets": net["lb_subnets"], "groups": {"alb": net["sg_lb"], "nodes": net["sg_node"]}}


POD_SUFFIXES = ["prnxw", "x7k2p", "q9m4d"]


def nodes_in_vpc(kube, ns, zones=("us-east-1a", "us-east-1b")):
    """The namespace, a VPC (`network`) with one instance per zone, and a Node for each:
    (net, instances, node names)."""
    namespace(kube, ns)
    net = network(ns, zones, zones)
    insts = instances(net, zones)
    nodes = [f"{ns}-node-{z[-1]}" for z in zones]
    for n, i in zip(nodes, insts):
        node(kube, n, i)
    return net, insts, nodes


def ip_cluster(kube, ns, *, pod_state="ready", targets=None, health=None, expect_ready=None, bind=True, tg_tags=None, lb_tags=None,
               probe="/", gate=None, register_targets=True, nlb_annotations=None, hc=None, sidecars=(), app_ports=True, probe_port=None,
               extra_ports=(), probe_timeout=None):
    """A ClusterIP Service `web` (80 → 8080) with two pods and ip targets behind an ALB; with
    `nlb_annotations`, a `type: LoadBalancer` Service behind an NLB instead."""
    net, insts, nodes = nodes_in_vpc(kube, ns)
    svc = service(kube, ns, "web", {"app": "web"}, 80, 8080)
    if nlb_annotations is not None:
        kube.request("PATCH", f"/api/v1/namespaces/{ns}/services/web", {"metadata": {"annotations": nlb_annotations}, "spec": {"type": "LoadBalancer"}},
                     "application/merge-patch+json")
    ctr = container("http", 8080, probe=probe)
    if probe_port:
        ctr["readinessProbe"]["httpGet"]["port"] = probe_port
    ctr["ports"] += [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in extra_ports]
    if probe_timeout:
        ctr["readinessProbe"].update({"timeoutSeconds": probe_timeout, "failureThreshold": 3, "periodSeconds": 10})
    if not app_ports:
        # A numeric targetPort needs no declared containerPort: the port list is informational.
        ctr = {**ctr, "ports": []}
        ctr["readinessProbe"]["httpGet"]["port"] = 8080
    rs, labels = workload(kube, ns, "web", {"app": "web"}, ctr)
    o = octet(ns)
    # The VPC CNI gives pods addresses of their node's subnet.
    ips = [f"10.0.{k + 1}.{o}" for k in range(2)]
    pods = [pod(kube, ns, f"{rs['metadata']['name']}-{s}", labels, n, ip, ctr, rs, pod_state, gate=gate, sidecars=sidecars)
            for s, n, ip in zip(("a1b2c", "d3e4f"), nodes, ips)]
    targets = targets(ips, o) if targets else ips
    tags = controller_tags(ns, "web", 80) if tg_tags is None else tg_tags
    lb, tg = load_balancer(ns, net, "web", 80, "ip", 8080, tags, lb_tags, nlb=nlb_annotations is not None, hc=hc)
    register(tg, [(t, 8080) for t in targets] if register_targets else [], {targets[k]: h for k, h in (health or {}).items()})
    if bind:
        binding(kube, ns, f"k8s-{ns}-web", tg, "web", 80, "ip")
    if expect_ready is not None:
        wait_endpoints(kube, ns, "web", expect_ready)
    return {"namespace": ns, "cluster": CLUSTER, "targetGroupArn": tg, "loadBalancerArn": lb, "service": f"{ns}/web",
            "targets": targets, "pods": [p["metadata"]["name"] for p in pods], "nodes": nodes}


# ------------------------------------------------------------------ scenarios

def healthy(kube, ns):
    """Everything works: two instance targets healthy, the selector matches two ready pods."""
    return instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, expect_ready=2)


def article(kube, ns):
    """The source article's example: selector app=alb-instance-1, pods app=alb-instance (selector-match)."""
    return instance_cluster(kube, ns, selector={"app": "alb-instance-1"}, pod_labels={"app": "alb-instance"},
                            health={0: TIMEOUT, 1: TIMEOUT}, expect_ready=0)


def selector_unrelated(kube, ns):
    """The Service selects app=payments; the namespace only runs deployment/web (app=web), another
    workload: selector-match fails but must not propose pointing the Service at web."""
    return instance_cluster(kube, ns, selector={"app": "payments"}, pod_labels={"app": "web"}, workload_name="web",
                            health={0: TIMEOUT, 1: TIMEOUT}, expect_ready=0)


def workload_absent(kube, ns):
    """The workload cannot create pods (a quota refuses them): its ReplicaSet reports FailedCreate,
    the namespace has no pods, both targets time out. The answer is the event, not a selector patch."""
    out = instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, pods_on=[],
                           health={0: TIMEOUT, 1: TIMEOUT}, expect_ready=0)
    rs = kube.get(f"/apis/apps/v1/namespaces/{ns}/replicasets")["items"][0]
    rs["kind"] = "ReplicaSet"
    event(kube, ns, "ReplicaSet", rs, "FailedCreate",
          f'Error creating: pods "{rs["metadata"]["name"]}-x" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=8, limited: cpu=8')
    return {**out, "replicaSet": rs["metadata"]["name"]}


def pod_status(kube, ns):
    """Both pods crash-loop behind ip targets, which time out (pod-status)."""
    out = ip_cluster(kube, ns, pod_state="crashloop", health={0: TIMEOUT, 1: TIMEOUT}, expect_ready=0)
    for name in out["pods"]:
        p = kube.get(f"/api/v1/namespaces/{ns}/pods/{name}")
        event(kube, ns, "Pod", p, "BackOff", "Back-off restarting failed container app in pod " + name)
    return out


def stale_endpoints(kube, ns):
    """One registered ip target is no pod any more (stale), and fails (endpoints). Another VPC
    with the same CIDR has an ENI holding that address behind a group that admits nothing: it is
    not the target's (addresses repeat across VPCs) and must not make security-groups fail."""
    out = ip_cluster(kube, ns, targets=lambda ips, o: [ips[0], ips[1], f"10.0.2.{o + 1}"], health={2: TIMEOUT}, expect_ready=2)
    ec2 = aws("ec2")
    other = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=other, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    closed = ec2.create_security_group(GroupName=f"{ns}-other-vpc", Description="admits nothing", VpcId=other)["GroupId"]
    ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress=out["targets"][2], Groups=[closed], Description="another VPC's host")
    return out


def node_leaving(kube, ns):
    """Karpenter is removing node B (taint karpenter.sh/disrupted): its instance target times out
    while the controller deregisters it. Transient: no root cause, no fix to paste."""
    out = instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"},
                           health={1: TIMEOUT}, expect_ready=2)
    kube.request("PATCH", f"/api/v1/nodes/{out['nodes'][1]}",
                 {"spec": {"taints": [{"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}]}}, "application/merge-patch+json")
    return out


def rollout_replaced(kube, ns):
    """deployment/web mid-rollout (1 of 2 updated, Progressing): the old pod behind one ip target
    is gone and the target fails until it is deregistered. Transient, not a stale endpoint."""
    out = ip_cluster(kube, ns, targets=lambda ips, o: [ips[0], ips[1], f"10.0.2.{o + 1}"],
                     health={2: ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")}, expect_ready=2)
    d = kube.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web")
    kube.request("PATCH", f"/apis/apps/v1/namespaces/{ns}/deployments/web",
                 {"metadata": {"annotations": {"deployment.kubernetes.io/revision": "2"}}}, "application/merge-patch+json")
    kube.patch_status(f"/apis/apps/v1/namespaces/{ns}/deployments/web", {
        "observedGeneration": d["metadata"]["generation"], "replicas": 3, "updatedReplicas": 1, "readyReplicas": 2,
        "availableReplicas": 2, "unavailableReplicas": 1,
        "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                        "message": 'ReplicaSet "web-new" is progressing.', "lastUpdateTime": now(), "lastTransitionTime": now()}]})
    return out


def named_port(kube, ns):
    """The Service's targetPort is the name `web`; the pods name their port `http` (target-port)."""
    return instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, target_port="web",
                            port_name="http", health={0: TIMEOUT, 1: TIMEOUT}, expect_ready=0)


def missing_service(kube, ns):
    """No binding; the target group's controller tags name a Service that was deleted (service-mapping)."""
    out = instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, bind=False,
                           tg_tags={"elbv2.k8s.aws/cluster": CLUSTER, "service.k8s.aws/stack": f"{ns}/checkout",
                                    "service.k8s.aws/resource": f"{ns}/checkout:80"},
                           health={0: TIMEOUT, 1: TIMEOUT}, expect_ready=2)
    return out


def stopped_instance(kube, ns):
    """One node's instance is stopped: Target.InvalidState; the Node still says Ready (nodes)."""
    out = instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, expect_ready=2)
    aws("ec2").stop_instances(InstanceIds=[out["instances"][1]])
    return out


def by_node_port(kube, ns):
    """No binding and no tags: the instance targets' port is the Service's NodePort (mapping by data)."""
    return instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, bind=False, tg_tags={},
                            lb_tags={}, expect_ready=2)


def by_legacy_tags(kube, ns):
    """The in-tree cloud provider's tags on the load balancer, nothing else (mapping by legacy tags)."""
    return instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, bind=False, tg_tags={},
                            lb_tags={"kubernetes.io/service-name": f"{ns}/alb-instance", f"kubernetes.io/cluster/{CLUSTER}": "owned"},
                            expect_ready=2)


def by_endpoint_ips(kube, ns):
    """No binding and no tags: the ip targets are the endpoints of one Service (mapping by data)."""
    return ip_cluster(kube, ns, bind=False, tg_tags={}, lb_tags={}, expect_ready=2)


def second_node_group(kube, ns):
    """Node group B's security group lacks the rule from the ALB's group: only its instance fails (security-groups)."""
    def groups(net):
        ec2 = aws("ec2")
        sg_b = ec2.create_security_group(GroupName=f"{ns}-nodes-b", Description="node group b", VpcId=net["vpc"])["GroupId"]
        ec2.create_tags(Resources=[sg_b], Tags=[{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}])
        ec2.authorize_security_group_ingress(GroupId=sg_b, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ssh"}]}])
        net["sg_b"] = sg_b
        return {1: [sg_b]}
    hook = lambda net, insts: None
    hook.groups = groups
    out = instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, health={1: TIMEOUT}, expect_ready=2, network_hook=hook)
    return out


def nacl_deny(kube, ns):
    """Subnet B's network ACL denies the NodePort range (rule 90) before allowing all (rule 100) (network-acls)."""
    def hook(net, insts):
        ec2 = aws("ec2")
        acl = ec2.create_network_acl(VpcId=net["vpc"])["NetworkAcl"]["NetworkAclId"]
        for n, action, proto, egress, ports in [(90, "deny", "6", False, (30000, 32767)), (100, "allow", "-1", False, None), (100, "allow", "-1", True, None)]:
            kw = {"PortRange": {"From": ports[0], "To": ports[1]}} if ports else {}
            ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=n, Protocol=proto, RuleAction=action, Egress=egress, CidrBlock="10.0.0.0/16" if action == "deny" else "0.0.0.0/0", **kw)
        subnet = net["subnets"]["us-east-1b"]
        current = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"][0]
        assoc = next(a["NetworkAclAssociationId"] for a in current["Associations"] if a["SubnetId"] == subnet)
        ec2.replace_network_acl_association(AssociationId=assoc, NetworkAclId=acl)
        net["acl"] = acl
    out = instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, health={1: TIMEOUT}, expect_ready=2, network_hook=hook)
    return out


def diverted_route(kube, ns):
    """Subnet B's route table sends the ALB's subnet 10.0.101.0/24 to an ENI instead of local (route-tables)."""
    def hook(net, insts):
        ec2 = aws("ec2")
        eni = ec2.create_network_interface(SubnetId=net["subnets"]["us-east-1b"], Description="appliance")["NetworkInterface"]["NetworkInterfaceId"]
        rtb = ec2.create_route_table(VpcId=net["vpc"])["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rtb, DestinationCidrBlock=LB_CIDRS["us-east-1a"], NetworkInterfaceId=eni)
        ec2.associate_route_table(RouteTableId=rtb, SubnetId=net["subnets"]["us-east-1b"])
        net["routeTable"] = rtb
    return instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, health={1: TIMEOUT}, expect_ready=2, network_hook=hook)


def zone_missing(kube, ns):
    """Nodes in us-east-1a and 1b, the ALB only in 1a and 1c: the 1b target is unused (availability-zones)."""
    return instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, lb_zones=("us-east-1a", "us-east-1c"),
                            health={1: ("unused", "Target.NotInUse", "Target is in an Availability Zone that is not enabled for the load balancer")}, expect_ready=2)


def node_not_ready(kube, ns):
    """Node B is NotReady (kubelet down); its target times out (nodes)."""
    return instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, node_ready=[True, False],
                            health={1: TIMEOUT}, expect_ready=2)


def local_policy(kube, ns):
    """externalTrafficPolicy Local with the only pod on node A of three: B and C fail by design (traffic-policy)."""
    return instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, zones=("us-east-1a", "us-east-1b", "us-east-1c"),
                            pods_on=[0], local=True, health={1: TIMEOUT, 2: TIMEOUT}, expect_ready=1)


def mixed_faults(kube, ns):
    """Two causes on different targets: Local policy with the only pod on node A of three (B and C
    fail by design, traffic-policy), and node A's instance stopped (A: InvalidState, nodes)."""
    out = local_policy(kube, ns)
    aws("ec2").stop_instances(InstanceIds=[out["instances"][0]])
    return out


def elb_internal_error(kube, ns):
    """One target reports Elb.InternalError; nothing in the cluster or the network explains it (target-health)."""
    return instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"},
                            health={1: ("unhealthy", "Elb.InternalError", "Health checks failed due to an internal error")}, expect_ready=2)


def rollout_transient(kube, ns):
    """An alarm mid-rollout: one target registering (initial), one draining, nothing unhealthy: transient."""
    return instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"},
                            health={0: ("initial", "Elb.RegistrationInProgress", "Target registration is in progress"),
                                    1: ("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")},
                            expect_ready=2)


MISMATCH_404 = ("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [404]")


def ingress_404(kube, ns):
    """The Ingress asks healthcheck-path /healthz, which answers 404; the pods are ready on /ready (ingress-annotations)."""
    return instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, probe="/ready",
                            ingress={"alb.ingress.kubernetes.io/healthcheck-path": "/healthz", "alb.ingress.kubernetes.io/scheme": "internet-facing"},
                            health={0: MISMATCH_404, 1: MISMATCH_404}, expect_ready=2)


def readiness_path(kube, ns):
    """A hand-made binding: the target group checks "/", which answers 404; the pods are ready on /healthz (health-check-config)."""
    return ip_cluster(kube, ns, probe="/healthz", health={0: MISMATCH_404, 1: MISMATCH_404}, expect_ready=2)


def nlb_hc_port(kube, ns):
    """An NLB Service (ip targets) whose health-check-port annotation is 8081, where nothing listens (service-annotations)."""
    annotations = {"service.beta.kubernetes.io/aws-load-balancer-type": "external", "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                   "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing", "service.beta.kubernetes.io/aws-load-balancer-healthcheck-port": "8081"}
    failed = ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")
    tags = {"elbv2.k8s.aws/cluster": CLUSTER, "service.k8s.aws/stack": f"{ns}/web", "service.k8s.aws/resource": f"{ns}/web:80"}
    out = ip_cluster(kube, ns, nlb_annotations=annotations, hc={"HealthCheckPort": "8081"}, tg_tags=tags, health={0: failed, 1: failed}, expect_ready=2)
    # What the controller does for an NLB without security groups: let its subnets reach the
    # traffic port and the health-check port on the nodes' group.
    ec2 = aws("ec2")
    group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{ns}-nodes"]}])["SecurityGroups"][0]["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": LB_CIDRS[z], "Description": "NLB subnet"} for z in ("us-east-1a", "us-east-1b")]}
        for p in (8080, 8081)])
    return out


def controller_denied(kube, ns):
    """The controller's role may not RegisterTargets: the target group stays empty; events say why (lb-controller)."""
    out = ip_cluster(kube, ns, register_targets=False, expect_ready=2)
    ing = alb_ingress(kube, ns, "front", "web", {"alb.ingress.kubernetes.io/target-type": "ip"})
    event(kube, ns, "Ingress", ing, "FailedDeployModel",
          "Failed deploy model due to AccessDenied: User: arn:aws:sts::123456789012:assumed-role/eks-lbc-role/1732677000 is not authorized to perform: "
          f"elasticloadbalancing:RegisterTargets on resource: {out['targetGroupArn']} because no identity-based policy allows the elasticloadbalancing:RegisterTargets action")
    return out


def controller_pod_identity(kube, ns):
    """The controller uses EKS Pod Identity and gets no credentials (the role's trust policy does
    not allow pods.eks.amazonaws.com): nothing is registered; its event says why (lb-controller)."""
    out = ip_cluster(kube, ns, register_targets=False, expect_ready=2)
    ing = alb_ingress(kube, ns, "front", "web", {"alb.ingress.kubernetes.io/target-type": "ip"})
    event(kube, ns, "Ingress", ing, "FailedDeployModel",
          "Failed deploy model due to operation error Elastic Load Balancing v2: DescribeTargetGroups, get identity: get credentials: "
          "failed to refresh cached credentials, failed to load credentials, Unauthorized Exception! EKS does not have permissions "
          "to assume the associated role., fault: client")
    return out


def gate_timeout(kube, ns):
    """Pods ready but held by their target-health readiness gate: the ELB reports Target.Timeout (readiness-gates)."""
    return ip_cluster(kube, ns, gate="Target.Timeout", health={0: TIMEOUT, 1: TIMEOUT})


def kube_proxy_down(kube, ns):
    """kube-proxy crash-loops on node B; its NodePort target times out (kube-proxy)."""
    return instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, kube_proxy=["ready", "crashloop"],
                            health={1: TIMEOUT}, expect_ready=2)


def probe_targets(kube, ns):
    """Two target groups whose ip targets are the loopback servers of probe_targets.py: HTTP
    (200, 404, 503, slow, reset, refused) and HTTPS (a TLS server, and a plain HTTP one)."""
    zones = ("us-east-1a", "us-east-1b")
    net = network(ns, zones, zones)
    hc = {"HealthCheckTimeoutSeconds": 2, "HealthCheckIntervalSeconds": 5}
    lb, http_tg = load_balancer(ns, net, "http", 80, "ip", 18080, {"elbv2.k8s.aws/cluster": CLUSTER}, hc=hc)
    register(http_tg, [(f"127.0.0.{k}", 18080) for k in range(2, 8)], {
        "127.0.0.2": TIMEOUT, "127.0.0.3": MISMATCH_404, "127.0.0.4": ("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]"),
        "127.0.0.5": TIMEOUT, "127.0.0.6": ("unhealthy", "Target.FailedHealthChecks", "Health checks failed"), "127.0.0.7": TIMEOUT})
    _, https_tg = load_balancer(ns, net, "https", 443, "ip", 18443, {"elbv2.k8s.aws/cluster": CLUSTER}, hc={**hc, "HealthCheckProtocol": "HTTPS"})
    register(https_tg, [("127.0.0.8", 18443), ("127.0.0.2", 18080)], {"127.0.0.8": TIMEOUT, "127.0.0.2": TIMEOUT})
    return {"namespace": ns, "cluster": CLUSTER, "targetGroupArn": http_tg, "httpsTargetGroupArn": https_tg, "loadBalancerArn": lb}


def scale(kube, ns, targets=1000, pods=5000, nodes=200):
    """For benchmarks: 1,000 ip targets (100 timing out) of a Service whose namespace holds 5,000
    pods, on 200 nodes."""
    from concurrent.futures import ThreadPoolExecutor
    namespace(kube, ns)
    zones = ("us-east-1a", "us-east-1b")
    net = network(ns, zones, zones, node_cidrs={"us-east-1a": "10.0.16.0/20", "us-east-1b": "10.0.32.0/20"})
    ec2 = aws("ec2")
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    insts = []
    for zone in zones:
        r = ec2.run_instances(ImageId=ami, MinCount=nodes // 2, MaxCount=nodes // 2, InstanceType="m5.large", SubnetId=net["subnets"][zone], SecurityGroupIds=[net["sg_node"]])
        insts += [{"id": i["InstanceId"], "zone": zone, "ip": i["PrivateIpAddress"]} for i in r["Instances"]]
    node_names = [f"{ns}-node-{k:03d}" for k in range(len(insts))]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda a: node(kube, a[0], a[1]), zip(node_names, insts)))
    service(kube, ns, "web", {"app": "web"}, 80, 8080)
    ctr = container("http", 8080)
    rs, labels = workload(kube, ns, "web", {"app": "web"}, ctr)

    def ip(k):  # pods of zone a in 10.0.16.0/20, of zone b in 10.0.32.0/20
        base = 16 if k % 2 == 0 else 32
        return f"10.0.{base + (k // 2) // 250}.{(k // 2) % 250 + 4}"

    def make(k):
        selected = k < targets
        pod(kube, ns, f"{'web' if selected else 'other'}-{k:05d}", labels if selected else {"app": "other", "index": str(k)}, node_names[k % len(node_names)], ip(k), ctr,
            rs if selected else None)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(make, range(pods)))
    lb, tg = load_balancer(ns, net, "web", 80, "ip", 8080, controller_tags(ns, "web", 80))
    ips = [ip(k) for k in range(targets)]
    elb = aws("elbv2")
    for i in range(0, len(ips), 100):
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": t, "Port": 8080} for t in ips[i:i + 100]])
    elb.add_tags(ResourceArns=[tg], Tags=[{"Key": f"moto:health:{t}", "Value": "|".join(TIMEOUT)} for t in ips[:100]])
    binding(kube, ns, f"k8s-{ns}-web", tg, "web", 80, "ip")
    return {"namespace": ns, "cluster": CLUSTER, "targetGroupArn": tg, "loadBalancerArn": lb, "targets": len(ips), "pods": pods, "nodes": len(insts)}


# ------------------------------------------------------------------ issue 12: verdicts one can act on

FAILED = ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")


def app_5xx(kube, ns):
    """The pods answer the health check with 503 (a deep check of a dependency): the path exists.
    The application reports itself unhealthy; no path change may be proposed (target-health)."""
    answer = ("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]")
    return ip_cluster(kube, ns, probe="/healthz", health={0: answer, 1: answer}, expect_ready=2)


def proxy_protocol(kube, ns):
    """An NLB (ip targets, HTTP health check) with proxy protocol v2 on, the application not
    expecting the header: it answers 400. The fix is in the application, never a TCP check."""
    annotations = {"service.beta.kubernetes.io/aws-load-balancer-type": "external", "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                   "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing", "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol": "*",
                   "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": "http"}
    tags = {"elbv2.k8s.aws/cluster": CLUSTER, "service.k8s.aws/stack": f"{ns}/web", "service.k8s.aws/resource": f"{ns}/web:80"}
    bad = ("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [400]")
    out = ip_cluster(kube, ns, nlb_annotations=annotations, tg_tags=tags, hc={"HealthCheckProtocol": "HTTP", "HealthCheckPath": "/"},
                     health={0: bad, 1: bad}, expect_ready=2)
    aws("elbv2").modify_target_group_attributes(TargetGroupArn=out["targetGroupArn"], Attributes=[{"Key": "proxy_protocol_v2.enabled", "Value": "true"}])
    return out


def management_probe(kube, ns):
    """The pods' readinessProbe asks /ready on the admin port 9901; the target group checks "/" on
    the traffic port and gets 404. /ready cannot answer on 8080: no path may be proposed from it."""
    return ip_cluster(kube, ns, probe="/ready", probe_port=9901, health={0: MISMATCH_404, 1: MISMATCH_404}, expect_ready=2)


def sidecar_ports(kube, ns):
    """A numeric targetPort 8080; the app declares no containerPort, a sidecar declares its own
    (15090): the traffic still reaches 8080, so target-port must not fail. Everything is healthy."""
    sidecar = {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.0", "ports": [{"name": "http-envoy-prom", "containerPort": 15090, "protocol": "TCP"}]}
    return ip_cluster(kube, ns, app_ports=False, sidecars=[sidecar], expect_ready=2)


def two_bindings(kube, ns):
    """A second TargetGroupBinding, for another Service, points at the same target group: the
    controller registers both Services' endpoints into it (service-mapping warns, names both)."""
    out = ip_cluster(kube, ns, expect_ready=2)
    service(kube, ns, "web-canary", {"app": "web-canary"}, 80, 8080)
    binding(kube, ns, f"k8s-{ns}-web-canary", out["targetGroupArn"], "web-canary", 80, "ip")
    return out


def other_cluster(kube, ns):
    """A running instance that is no node of this cluster is registered in the bound target
    group, tagged for cluster "blue": another cluster's controller fights over the group; only
    that instance is unhealthy (service-mapping explains it, read-only steps)."""
    tags = {**controller_tags(ns, "alb-instance", 80), "elbv2.k8s.aws/cluster": "blue"}
    out = instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, tg_tags=tags, expect_ready=2)
    net = {"subnets": out["subnets"], "sg_node": out["groups"]["nodes"]}
    stranger = instances(net, ("us-east-1a",))[0]
    register(out["targetGroupArn"], [(stranger["id"], out["nodePort"])], {stranger["id"]: TIMEOUT})
    return {**out, "stranger": stranger["id"]}


def ingress_group(kube, ns):
    """Two Ingresses of one IngressGroup route to the Service. The target group was built from
    the second (its tags name it): its healthcheck-path /healthz answers 404, the pods are ready
    on /ready. The first Ingress asks /ready. The fix must annotate the second, not the first."""
    group = f"{ns}-shared"
    tags = {"elbv2.k8s.aws/cluster": CLUSTER, "ingress.k8s.aws/stack": group, "ingress.k8s.aws/resource": f"{ns}/b-front-alb-instance:80"}
    out = instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, probe="/ready", tg_tags=tags,
                           health={0: MISMATCH_404, 1: MISMATCH_404}, expect_ready=2)
    aws("elbv2").modify_target_group(TargetGroupArn=out["targetGroupArn"], HealthCheckPath="/healthz")
    common = {"alb.ingress.kubernetes.io/group.name": group, "alb.ingress.kubernetes.io/scheme": "internet-facing"}
    alb_ingress(kube, ns, "a-front", "alb-instance", {**common, "alb.ingress.kubernetes.io/healthcheck-path": "/ready"})
    alb_ingress(kube, ns, "b-front", "alb-instance", {**common, "alb.ingress.kubernetes.io/healthcheck-path": "/healthz"})
    return out


# ------------------------------------------------------------------ issue 13: the network, both ends

def node_group_b(ns, net, ingress, tags=True, extra_groups=()):
    """Node group B's own security group with `ingress` permissions (no rule from the ALB unless
    given), tagged for the cluster when `tags`; its instance carries it and `extra_groups`."""
    ec2 = aws("ec2")
    sg_b = ec2.create_security_group(GroupName=f"{ns}-nodes-b", Description="node group b", VpcId=net["vpc"])["GroupId"]
    if tags:
        ec2.create_tags(Resources=[sg_b], Tags=[{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}])
    if ingress:
        ec2.authorize_security_group_ingress(GroupId=sg_b, IpPermissions=ingress)
    net["sg_b"] = sg_b
    return {1: [sg_b, *[net[g] for g in extra_groups]]}


def prefix_list_ssh(kube, ns):
    """Node group B's group allows only SSH from a corporate managed prefix list, and nothing from
    the ALB: the prefix list (on port 22) must not leave the verdict open (security-groups)."""
    def groups(net):
        ec2 = aws("ec2")
        pl = ec2.create_managed_prefix_list(PrefixListName=f"{ns}-corp-vpn", AddressFamily="IPv4", MaxEntries=5,
                                            Entries=[{"Cidr": "172.16.0.0/12", "Description": "corporate VPN"}])["PrefixList"]["PrefixListId"]
        net["prefix_list"] = pl
        return node_group_b(ns, net, [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "PrefixListIds": [{"PrefixListId": pl, "Description": "ssh"}]}])
    hook = lambda net, insts: None
    hook.groups = groups
    return instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, health={1: TIMEOUT}, expect_ready=2, network_hook=hook)


def prefix_list_allows(kube, ns):
    """Node group B's group admits the load balancer only through a managed prefix list holding
    the VPC's range: resolved, it allows the health check; nothing is wrong (security-groups passes)."""
    def groups(net):
        ec2 = aws("ec2")
        pl = ec2.create_managed_prefix_list(PrefixListName=f"{ns}-vpc", AddressFamily="IPv4", MaxEntries=5,
                                            Entries=[{"Cidr": "10.0.0.0/16", "Description": "the VPC"}])["PrefixList"]["PrefixListId"]
        return node_group_b(ns, net, [{"IpProtocol": "tcp", "FromPort": 30000, "ToPort": 32767, "PrefixListIds": [{"PrefixListId": pl}]}])
    hook = lambda net, insts: None
    hook.groups = groups
    return instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, expect_ready=2, network_hook=hook)


def lb_egress(kube, ns):
    """The ALB's own group lets only HTTPS out (its default all-traffic egress revoked): every
    health check to the NodePort is stopped on the load balancer's side (security-groups)."""
    def hook(net, insts):
        ec2 = aws("ec2")
        ec2.revoke_security_group_egress(GroupId=net["sg_lb"], IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        ec2.authorize_security_group_egress(GroupId=net["sg_lb"], IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    out = instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, health={0: TIMEOUT, 1: TIMEOUT},
                           expect_ready=2, network_hook=hook)
    return out


def two_tagged_groups(kube, ns):
    """Node B carries two groups both tagged kubernetes.io/cluster/<cluster> and neither admits
    the ALB: the controller cannot choose where to add its rule and adds none. The fix is the
    tag, not a hand-made rule (security-groups)."""
    def groups(net):
        return node_group_b(ns, net, [], extra_groups=("sg_node_extra",)) if "sg_node_extra" in net else None
    def groups_first(net):
        ec2 = aws("ec2")
        extra = ec2.create_security_group(GroupName=f"{ns}-nodes-extra", Description="second tagged group", VpcId=net["vpc"])["GroupId"]
        ec2.create_tags(Resources=[extra], Tags=[{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}])
        net["sg_node_extra"] = extra
        return groups(net)
    hook = lambda net, insts: None
    hook.groups = groups_first
    return instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, health={1: TIMEOUT}, expect_ready=2, network_hook=hook)


def inspection_routes(kube, ns):
    """Symmetric inspection: every flow between the ALB's subnets and the node subnets goes
    through one firewall appliance ENI (both directions, both zones). The unrelated fault is
    node group B's security group, without the ALB rule: security-groups is the root cause and
    route-tables must pass, since the healthy target's traffic takes the same path."""
    def groups(net):
        return node_group_b(ns, net, [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    def hook(net, insts):
        ec2 = aws("ec2")
        fw = ec2.create_network_interface(SubnetId=net["subnets"]["us-east-1a"], Description="firewall appliance")["NetworkInterface"]["NetworkInterfaceId"]
        to_nodes = ec2.create_route_table(VpcId=net["vpc"])["RouteTable"]["RouteTableId"]
        to_lbs = ec2.create_route_table(VpcId=net["vpc"])["RouteTable"]["RouteTableId"]
        for z in ("us-east-1a", "us-east-1b"):
            ec2.create_route(RouteTableId=to_nodes, DestinationCidrBlock=NODE_CIDRS[z], NetworkInterfaceId=fw)
            ec2.create_route(RouteTableId=to_lbs, DestinationCidrBlock=LB_CIDRS[z], NetworkInterfaceId=fw)
            ec2.associate_route_table(RouteTableId=to_nodes, SubnetId=net["lb_subnets"][z])
            ec2.associate_route_table(RouteTableId=to_lbs, SubnetId=net["subnets"][z])
        net["firewall"] = fw
    hook.groups = groups
    out = instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, health={1: TIMEOUT}, expect_ready=2, network_hook=hook)
    return out


def pod_security_group(kube, ns):
    """Security groups for pods: pod B's traffic arrives on its own branch ENI, which carries a
    pod security group without the ALB rule, while the node's group allows the ALB. The pod's
    group is the one that blocks (security-groups names the branch ENI)."""
    out = ip_cluster(kube, ns, health={1: TIMEOUT}, expect_ready=2)
    ec2, elb = aws("ec2"), aws("elbv2")
    vpc = elb.describe_target_groups(TargetGroupArns=[out["targetGroupArn"]])["TargetGroups"][0]["VpcId"]
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "cidr-block", "Values": [NODE_CIDRS["us-east-1b"]]}])["Subnets"][0]["SubnetId"]
    sg_pod = ec2.create_security_group(GroupName=f"{ns}-pod-web", Description="pod security group", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg_pod, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
    # The VPC resource controller makes a branch ENI per pod whose primary address is the pod IP.
    eni = ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress=out["targets"][1], Groups=[sg_pod],
                                       Description="aws-k8s-branch-eni")["NetworkInterface"]["NetworkInterfaceId"]
    return {**out, "podGroup": sg_pod, "branchEni": eni}


def nlb_own_addresses(kube, ns):
    """An NLB without security groups (ip targets): the nodes' group admits the health-check port
    only from the NLB's own two addresses (its ENIs, one per zone), not its whole subnets. That is
    right: health checks come from those addresses (security-groups passes, nothing is wrong)."""
    annotations = {"service.beta.kubernetes.io/aws-load-balancer-type": "external", "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                   "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}
    tags = {"elbv2.k8s.aws/cluster": CLUSTER, "service.k8s.aws/stack": f"{ns}/web", "service.k8s.aws/resource": f"{ns}/web:80"}
    out = ip_cluster(kube, ns, nlb_annotations=annotations, tg_tags=tags, expect_ready=2)
    ec2, elb = aws("ec2"), aws("elbv2")
    lb = elb.describe_load_balancers(LoadBalancerArns=[out["loadBalancerArn"]])["LoadBalancers"][0]
    name_id = out["loadBalancerArn"].split(":loadbalancer/")[1]
    addresses = []
    # moto makes no ENIs for a load balancer: seed the ones AWS makes, one per zone, described
    # "ELB net/NAME/ID", as the controller and AWS documentation find them.
    for k, zone in enumerate(lb["AvailabilityZones"]):
        ip = LB_CIDRS[zone["ZoneName"]].replace("0/24", str(40 + k))
        ec2.create_network_interface(SubnetId=zone["SubnetId"], PrivateIpAddress=ip, Description=f"ELB {name_id}")
        addresses.append(ip)
    group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{ns}-nodes"]}])["SecurityGroups"][0]["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": f"{a}/32", "Description": "NLB node"} for a in addresses]}])
    return {**out, "nlbAddresses": addresses}


def ipv6_pods(kube, ns):
    """An EKS IPv6 cluster: pods get IPv6 addresses from /80 prefixes delegated to their node's
    ENI, behind a dual-stack NLB (no security groups) with an ipv6 target group. Node group A's
    group admits the health-check port from the NLB's addresses of both families; node group B's
    (a template written for IPv4) from its IPv4 addresses only. Only pod B's target times out,
    blocked in the IPv6 rules alone (security-groups, with an Ipv6Ranges fix)."""
    import ipaddress
    namespace(kube, ns)
    ec2, elb = aws("ec2"), aws("elbv2")
    zones = ("us-east-1a", "us-east-1b")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    blocks = list(ipaddress.ip_network(vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]).subnets(new_prefix=64))
    vpc = vpc["VpcId"]
    subnet = lambda z, cidr, k: ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, Ipv6CidrBlock=str(blocks[k]), AvailabilityZone=z)["Subnet"]["SubnetId"]
    node_subnets = {z: subnet(z, NODE_CIDRS[z], k + 1) for k, z in enumerate(zones)}
    lb_subnets = {z: subnet(z, LB_CIDRS[z], k + 0x65) for k, z in enumerate(zones)}
    # AWS adds IPv6 allow-all entries (rule 101) to the default ACL when the VPC gets an IPv6
    # block; moto adds only the IPv4 ones.
    acl = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "default", "Values": ["true"]}])["NetworkAcls"][0]["NetworkAclId"]
    for egress in (False, True):
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=101, Protocol="-1", RuleAction="allow", Egress=egress, Ipv6CidrBlock="::/0")
    # The NLB and its ENIs, one per zone with an address of each family (moto makes no ENIs).
    lb = elb.create_load_balancer(Name=elb_name("k8s", ns[:12], uuid.uuid4().hex[:8]), Subnets=list(lb_subnets.values()), Scheme="internal",
                                  Type="network", IpAddressType="dualstack",
                                  Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": CLUSTER}])["LoadBalancers"][0]["LoadBalancerArn"]
    name_id = lb.split(":loadbalancer/")[1]
    v4, v6 = [], []
    for k, z in enumerate(zones):
        a4, a6 = LB_CIDRS[z].replace("0/24", str(40 + k)), str(blocks[k + 0x65][0x40])
        ec2.create_network_interface(SubnetId=lb_subnets[z], PrivateIpAddress=a4, Ipv6Addresses=[{"Ipv6Address": a6}], Description=f"ELB {name_id}")
        v4.append(a4)
        v6.append(a6)
    rule = lambda ranges4, ranges6: [{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": f"{a}/32"} for a in ranges4],
                                      **({"Ipv6Ranges": [{"CidrIpv6": f"{a}/128"} for a in ranges6]} if ranges6 else {})}]
    groups = []
    for k, (ranges6, name) in enumerate(((v6, "nodes"), ([], "nodes-b"))):
        g = ec2.create_security_group(GroupName=f"{ns}-{name}", Description=f"node group {'AB'[k]}", VpcId=vpc)["GroupId"]
        ec2.create_tags(Resources=[g], Tags=[{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}])
        ec2.authorize_security_group_ingress(GroupId=g, IpPermissions=rule(v4, ranges6))
        groups.append(g)
    insts = instances({"subnets": node_subnets, "sg_node": groups[0]}, zones, groups={k: [g] for k, g in enumerate(groups)})
    nodes = [f"{ns}-node-{z[-1]}" for z in zones]
    ips = []
    for k, (n, i) in enumerate(zip(nodes, insts)):
        node(kube, n, i)
        # Prefix delegation, as the VPC CNI always runs an IPv6 cluster: the node's primary ENI
        # holds a /80, the pod's address is inside it and on no ENI by itself.
        eni = ec2.describe_instances(InstanceIds=[i["id"]])["Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]["NetworkInterfaceId"]
        prefix = list(blocks[k + 1].subnets(new_prefix=80))[1]
        ec2.assign_ipv6_addresses(NetworkInterfaceId=eni, Ipv6Prefixes=[str(prefix)])
        ips.append(str(prefix[octet(ns)]))
    annotations = {"service.beta.kubernetes.io/aws-load-balancer-type": "external", "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                   "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal", "service.beta.kubernetes.io/aws-load-balancer-ip-address-type": "dualstack"}
    service(kube, ns, "web", {"app": "web"}, 80, 8080)
    kube.request("PATCH", f"/api/v1/namespaces/{ns}/services/web", {"metadata": {"annotations": annotations}, "spec": {"type": "LoadBalancer"}},
                 "application/merge-patch+json")
    ctr = container("http", 8080)
    rs, labels = workload(kube, ns, "web", {"app": "web"}, ctr)
    pods = [pod(kube, ns, f"{rs['metadata']['name']}-{s}", labels, n, ip, ctr, rs) for s, n, ip in zip(("a1b2c", "d3e4f"), nodes, ips)]
    tags = [{"Key": k, "Value": v} for k, v in {"elbv2.k8s.aws/cluster": CLUSTER, "service.k8s.aws/stack": f"{ns}/web", "service.k8s.aws/resource": f"{ns}/web:80"}.items()]
    tg = elb.create_target_group(Name=elb_name("k8s", ns[:10], "web", uuid.uuid4().hex[:8]), Protocol="TCP", Port=8080, VpcId=vpc, TargetType="ip",
                                 IpAddressType="ipv6", HealthCheckProtocol="TCP", HealthCheckPort="traffic-port", HealthCheckIntervalSeconds=10,
                                 HealthyThresholdCount=3, UnhealthyThresholdCount=3, Tags=tags)["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=lb, Protocol="TCP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    register(tg, [(ip, 8080) for ip in ips], {ips[1]: TIMEOUT})
    binding(kube, ns, f"k8s-{ns}-web", tg, "web", 80, "ip")
    wait_endpoints(kube, ns, "web", 2)
    return {"namespace": ns, "cluster": CLUSTER, "targetGroupArn": tg, "loadBalancerArn": lb, "service": f"{ns}/web", "targets": ips,
            "pods": [p["metadata"]["name"] for p in pods], "nodes": nodes, "groups": groups, "nlbAddresses": {"ipv4": v4, "ipv6": v6}}


def auto_mode_ingress(kube, ns):
    """EKS Auto Mode: an Ingress of its IngressClass (controller eks.amazonaws.com/alb) and the
    target group it made (tags eks:eks-cluster-name, ingress.eks.amazonaws.com/*), instance
    targets on Auto Mode nodes (no kube-proxy pod). Both pods crash-loop: pod-status, and
    nothing tells the user to install a controller or restart kube-proxy."""
    tags = {"eks:eks-cluster-name": CLUSTER, "ingress.eks.amazonaws.com/stack": f"{ns}/front",
            "ingress.eks.amazonaws.com/resource": f"{ns}/front-alb-instance:80"}
    out = instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, pod_state="crashloop",
                           health={0: TIMEOUT, 1: TIMEOUT}, bind=False, tg_tags=tags, lb_tags={"eks:eks-cluster-name": CLUSTER},
                           expect_ready=0, auto_nodes=True, ingress={}, ingress_class="auto-alb")
    return out


def auto_mode_nlb(kube, ns):
    """EKS Auto Mode: a `LoadBalancer` Service whose NLB (ip targets) Auto Mode made: its tags
    service.eks.amazonaws.com/* and eks:eks-cluster-name. (Auto Mode also sets the Service's
    loadBalancerClass eks.amazonaws.com/nlb, a field the 1.20 API server here drops: the tags
    carry it.) Both pods crash-loop: pod-status, with the controller named as AWS's."""
    tags = {"eks:eks-cluster-name": CLUSTER, "service.eks.amazonaws.com/stack": f"{ns}/web",
            "service.eks.amazonaws.com/resource": f"{ns}/web:80"}
    annotations = {"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                   "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}
    return ip_cluster(kube, ns, pod_state="crashloop", health={0: TIMEOUT, 1: TIMEOUT}, expect_ready=0, bind=False,
                      tg_tags=tags, lb_tags={"eks:eks-cluster-name": CLUSTER}, nlb_annotations=annotations)


def auto_mode_untagged(kube, ns):
    """EKS Auto Mode with a target group made by hand (no tags) and bound by an
    eks.amazonaws.com/v1 TargetGroupBinding: Auto Mode's policy lets it register targets only
    into groups tagged eks:eks-cluster-name, so the group stays empty (lb-controller, with the
    tag as the fix)."""
    out = ip_cluster(kube, ns, tg_tags={}, lb_tags={}, register_targets=False, bind=False, expect_ready=2)
    binding(kube, ns, f"{ns}-web", out["targetGroupArn"], "web", 80, "ip", api="eks.amazonaws.com/v1")
    return out


def gateway_objects(kube, ns, gw_ns, lb_config=None, class_config=None):
    """A GatewayClass of the controller's, Gateway `gw` in `gw_ns` (admitting routes of every
    namespace), and HTTPRoute `web` in `ns` sending its traffic to Service web:80, as a user
    writes them (the Gateway API v1.6.0 CRDs validate them). `lb_config` names the Gateway's
    LoadBalancerConfiguration (in `gw_ns`), `class_config` (ns, name) the GatewayClass's."""
    klass = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": f"{ns}-alb"},
             "spec": {"controllerName": "gateway.k8s.aws/alb"}}
    if class_config:
        klass["spec"]["parametersRef"] = {"group": "gateway.k8s.aws", "kind": "LoadBalancerConfiguration",
                                          "namespace": class_config[0], "name": class_config[1]}
    kube.apply("/apis/gateway.networking.k8s.io/v1/gatewayclasses", klass)
    gw = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": gw_ns},
          "spec": {"gatewayClassName": f"{ns}-alb",
                   "listeners": [{"name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": {"namespaces": {"from": "All"}}}]}}
    if lb_config:
        gw["spec"]["infrastructure"] = {"parametersRef": {"group": "gateway.k8s.aws", "kind": "LoadBalancerConfiguration", "name": lb_config}}
    kube.apply(f"/apis/gateway.networking.k8s.io/v1/namespaces/{gw_ns}/gateways", gw)
    kube.apply(f"/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes", {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "web", "namespace": ns},
        "spec": {"parentRefs": [{"name": "gw", "namespace": gw_ns}], "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}})


def gateway_tags(ns, gw_ns):
    """The controller's tags on the target group it makes for HTTPRoute ns/web → Service ns/web:80
    behind Gateway gw_ns/gw (buildTargetGroupResourceID, v3.5.0)."""
    return {"elbv2.k8s.aws/cluster": CLUSTER, "gateway.k8s.aws.alb/stack": f"{gw_ns}/gw",
            "gateway.k8s.aws.alb/resource": f"{gw_ns}/gw:{ns}-web:HTTPRoute-{ns}-web:80"}


def gateway_tgc(kube, ns):
    """A Gateway's target group (HTTPRoute web → Service web, the controller's tags), bound to
    Service web, whose health-check path comes from a TargetGroupConfiguration: /healthz, which
    answers 404; the pods are ready on /ready. The fix edits the TargetGroupConfiguration (a
    change on the group itself would be reverted)."""
    out = ip_cluster(kube, ns, probe="/ready", tg_tags=gateway_tags(ns, ns), hc={"HealthCheckPath": "/healthz"},
                     health={0: MISMATCH_404, 1: MISMATCH_404}, expect_ready=2)
    gateway_objects(kube, ns, ns)
    kube.apply(f"/apis/gateway.k8s.aws/v1/namespaces/{ns}/targetgroupconfigurations", {
        "apiVersion": "gateway.k8s.aws/v1", "kind": "TargetGroupConfiguration", "metadata": {"name": "web-tgc", "namespace": ns},
        "spec": {"targetReference": {"name": "web"}, "defaultConfiguration": {"healthCheckConfig": {"healthCheckPath": "/healthz"}}}})
    return {**out, "targetGroupConfiguration": "web-tgc", "gateway": f"{ns}/gw"}


def gateway_default(kube, ns):
    """A platform team's Gateway in its own namespace (NS-gw) whose LoadBalancerConfiguration
    names a default TargetGroupConfiguration for every Service behind it: path /healthz, interval
    10s. Service web (HTTPRoute web in NS) has no configuration of its own; its pods are ready on
    /ready and /healthz answers 404. The fix overrides the default for this Service alone,
    keeping the interval, and leaves the shared default alone."""
    gw_ns = f"{ns}-gw"
    namespace(kube, gw_ns)
    out = ip_cluster(kube, ns, probe="/ready", tg_tags=gateway_tags(ns, gw_ns), hc={"HealthCheckPath": "/healthz", "HealthCheckIntervalSeconds": 10},
                     health={0: MISMATCH_404, 1: MISMATCH_404}, expect_ready=2)
    kube.apply(f"/apis/gateway.k8s.aws/v1/namespaces/{gw_ns}/targetgroupconfigurations", {
        "apiVersion": "gateway.k8s.aws/v1", "kind": "TargetGroupConfiguration", "metadata": {"name": "gw-defaults", "namespace": gw_ns},
        "spec": {"defaultConfiguration": {"healthCheckConfig": {"healthCheckPath": "/healthz", "healthCheckInterval": 10}}}})
    kube.apply(f"/apis/gateway.k8s.aws/v1/namespaces/{gw_ns}/loadbalancerconfigurations", {
        "apiVersion": "gateway.k8s.aws/v1", "kind": "LoadBalancerConfiguration", "metadata": {"name": "gw-config", "namespace": gw_ns},
        "spec": {"scheme": "internet-facing", "defaultTargetGroupConfiguration": {"name": "gw-defaults"}}})
    gateway_objects(kube, ns, gw_ns, lb_config="gw-config")
    return {**out, "gateway": f"{gw_ns}/gw", "gatewayNamespace": gw_ns}


def multi_cluster(kube, ns):
    """A target group shared by two clusters (blue/green upgrade): the binding here says
    multiClusterTargetGroup, so each cluster's controller owns only its own targets. Our two pods
    crash-loop (pod-status) while the other cluster's two targets are healthy: the verdict is
    ours alone, and their addresses are not called stale."""
    theirs = lambda ips, o: ips + [f"10.0.{k + 1}.{(o + 100) % 250 + 2}" for k in range(2)]
    out = ip_cluster(kube, ns, pod_state="crashloop", targets=theirs, health={0: TIMEOUT, 1: TIMEOUT}, expect_ready=0)
    kube.request("PATCH", f"/apis/elbv2.k8s.aws/v1beta1/namespaces/{ns}/targetgroupbindings/k8s-{ns}-web",
                  {"spec": {"multiClusterTargetGroup": True}}, "application/merge-patch+json")
    return {**out, "ours": out["targets"][:2], "theirs": out["targets"][2:]}


def revoked_rule(kube, ns):
    """Node group B's group lost its rule from the ALB 6 minutes ago: CloudTrail recorded
    alice's RevokeSecurityGroupIngress on it. Target B times out (security-groups), and the
    verdict cites the revoke."""
    def groups(net):
        return node_group_b(ns, net, [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    hook = lambda net, insts: None
    hook.groups = groups
    out = instance_cluster(kube, ns, selector={"app": "alb-instance"}, pod_labels={"app": "alb-instance"}, health={1: TIMEOUT},
                           expect_ready=2, network_hook=hook)
    ec2 = aws("ec2")
    sg_b = [g["GroupId"] for g in ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{ns}-nodes-b"]}])["SecurityGroups"]][0]
    at = datetime.datetime.now(datetime.timezone.utc).timestamp() - 6 * 60
    request = {"groupId": sg_b, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 30000, "toPort": 32767}]}}
    trail([{"EventId": str(uuid.uuid4()), "EventName": "RevokeSecurityGroupIngress", "ReadOnly": "false", "EventTime": at,
            "EventSource": "ec2.amazonaws.com", "Username": "alice", "Resources": [{"ResourceType": "AWS::EC2::SecurityGroup", "ResourceName": sg_b}],
            "CloudTrailEvent": json.dumps({"eventName": "RevokeSecurityGroupIngress", "requestParameters": request})}])
    return {**out, "group": sg_b}


def trail(events):
    """Seeds CloudTrail events in the stack's moto (scripts/stack/moto_server.py: LookupEvents)."""
    import urllib.request
    url = os.environ["AWS_ENDPOINT_URL"].rstrip("/") + "/_stack/cloudtrail"
    urllib.request.urlopen(urllib.request.Request(url, data=json.dumps(events).encode(), method="POST")).read()


def rollout_readiness(kube, ns):
    """deployment/web rolled out revision 2, whose pods are ready on /healthz; revision 1's were
    ready on /ready, which the target group (made by hand, as the team left it) still checks and
    which now answers 404. The verdict (health-check-config) cites the rollout."""
    out = ip_cluster(kube, ns, probe="/healthz", hc={"HealthCheckPath": "/ready"}, health={0: MISMATCH_404, 1: MISMATCH_404}, expect_ready=2)
    d = kube.get(f"/apis/apps/v1/namespaces/{ns}/deployments/web")
    new = kube.get(f"/apis/apps/v1/namespaces/{ns}/replicasets")["items"][0]
    kube.request("PATCH", f"/apis/apps/v1/namespaces/{ns}/replicasets/{new['metadata']['name']}",
                 {"metadata": {"annotations": {"deployment.kubernetes.io/revision": "2"}}}, "application/merge-patch+json")
    old_tmpl = json.loads(json.dumps(new["spec"]["template"]))
    old_tmpl["metadata"]["labels"]["pod-template-hash"] = "5f6d7c8b9"
    old_tmpl["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] = "/ready"
    kube.apply(f"/apis/apps/v1/namespaces/{ns}/replicasets", {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-5f6d7c8b9", "namespace": ns, "labels": old_tmpl["metadata"]["labels"],
                     "annotations": {"deployment.kubernetes.io/revision": "1"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": d["metadata"]["uid"], "controller": True}]},
        "spec": {"replicas": 0, "selector": {"matchLabels": old_tmpl["metadata"]["labels"]}, "template": old_tmpl}})
    return out


def two_clusters(kube, ns):
    """A target group bound in this cluster and in another, blue, without multiClusterTargetGroup:
    two of its ip targets are addresses of an instance that is no node of ours (blue's pods).
    Our controller deregisters them (one draining) and blue's registers them again; the other
    times out. Our own two pods are ready and healthy (service-mapping: say the fight)."""
    o = octet(ns)
    theirs = [f"10.0.1.{(o + 100) % 250 + 2}", f"10.0.1.{(o + 101) % 250 + 2}"]
    draining = ("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")
    out = ip_cluster(kube, ns, targets=lambda ips, _: ips + theirs, health={2: TIMEOUT, 3: draining}, expect_ready=2)
    ec2 = aws("ec2")
    vpc = aws("elbv2").describe_target_groups(TargetGroupArns=[out["targetGroupArn"]])["TargetGroups"][0]["VpcId"]
    subnet = [x for x in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"] if x["CidrBlock"] == "10.0.1.0/24"][0]
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    blue = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m5.large", SubnetId=subnet["SubnetId"],
                             TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "kubernetes.io/cluster/blue", "Value": "owned"}]}])["Instances"][0]
    eni = blue["NetworkInterfaces"][0]["NetworkInterfaceId"]
    ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, PrivateIpAddresses=theirs)
    return {**out, "theirs": theirs, "blueInstance": blue["InstanceId"]}


# ------------------------------------------------------------------ issue 17: many target groups at once

def fleet(kube, ns, shared=3, healthy_ip=1, own=1, prefix="shop", second=0):
    """One cluster's namespace, one VPC, two nodes in one security group, and many Services, each
    behind its own ALB (the ALBs share one group): `shared` NodePort Services whose instance
    targets time out because the nodes' group lost its NodePort rule from the ALBs (one common
    cause: security-groups on that group), `own` ip Services whose pods crash-loop (pod-status,
    each its own cause), and `healthy_ip` ip Services that work (port 8080 is still allowed).
    With `second`, that many more ip Services whose pods run on a third node, in a group of its
    own that admits the NodePorts but not the pods' port 8080 from the ALBs (a second common
    cause: security-groups on that group)."""
    from concurrent.futures import ThreadPoolExecutor
    namespace(kube, ns)
    zones = ("us-east-1a", "us-east-1b")
    net = network(ns, zones, zones)
    ec2 = aws("ec2")
    # The NodePort rule from the ALBs is gone; 8080 (the pods' port) stays.
    ec2.revoke_security_group_ingress(GroupId=net["sg_node"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 30000, "ToPort": 32767, "UserIdGroupPairs": [{"GroupId": net["sg_lb"], "Description": "NodePorts from the ALB"}]}])
    insts = instances(net, zones)
    nodes = [f"{ns}-node-{z[-1]}" for z in zones]
    for n, i in zip(nodes, insts):
        node(kube, n, i)
    o = octet(ns)
    out = {"namespace": ns, "cluster": CLUSTER, "vpc": net["vpc"], "nodeGroup": net["sg_node"], "shared": [], "own": [], "healthy": [], "second": []}
    if second:
        sg2 = ec2.create_security_group(GroupName=f"{ns}-nodes-x", Description="nodes x", VpcId=net["vpc"])["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg2, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 30000, "ToPort": 32767, "UserIdGroupPairs": [{"GroupId": net["sg_lb"]}]}])
        # Node x has a subnet of its own (10.0.4.0/24, zone a): its pods' addresses.
        subnet_x = ec2.create_subnet(VpcId=net["vpc"], CidrBlock="10.0.4.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        x = instances({**net, "subnets": {"us-east-1a": subnet_x}}, ["us-east-1a"], {0: [sg2]})[0]
        node(kube, f"{ns}-node-x", x)
        out["secondGroup"] = sg2

    def instance_service(k):
        name = f"{prefix}-{k}"
        service(kube, ns, name, {"app": name}, 80, 80)
        kube.request("PATCH", f"/api/v1/namespaces/{ns}/services/{name}", {"spec": {"type": "NodePort"}}, "application/merge-patch+json")
        node_port = kube.get(f"/api/v1/namespaces/{ns}/services/{name}")["spec"]["ports"][0]["nodePort"]
        ctr = container("http", 80)
        rs, labels = workload(kube, ns, name, {"app": name}, ctr)
        for j, n in enumerate(nodes):
            pod(kube, ns, f"{rs['metadata']['name']}-{POD_SUFFIXES[j]}", labels, n, f"192.168.{o}.{(10 + 2 * k + j) % 250 + 2}", ctr, rs)
        _, tg = load_balancer(ns, net, name, 80, "instance", node_port, controller_tags(ns, name, 80))
        register(tg, [(i["id"], node_port) for i in insts], {i["id"]: TIMEOUT for i in insts})
        binding(kube, ns, f"k8s-{ns}-{name}"[:63], tg, name, 80, "instance")
        return tg

    def ip_service(k, state, on=None):
        name = {"crashloop": f"api-{k}", "ready": f"web-{k}", "blocked": f"pay-{k}"}[state]
        on = on or nodes
        pod_state = "ready" if state == "blocked" else state
        service(kube, ns, name, {"app": name}, 80, 8080)
        ctr = container("http", 8080)
        rs, labels = workload(kube, ns, name, {"app": name}, ctr)
        if state == "blocked":  # both pods on node x, in its subnet
            ips = [f"10.0.4.{2 * k + j + 4}" for j in range(2)]
        else:
            ips = [f"10.0.{j + 1}.{(o + 3 * k + (0 if state == 'crashloop' else 120)) % 250 + 2}" for j in range(2)]
        for j, (n, ip) in enumerate(zip(on if len(on) > 1 else on * 2, ips)):
            pod(kube, ns, f"{rs['metadata']['name']}-{POD_SUFFIXES[j]}", labels, n, ip, ctr, rs, pod_state)
        _, tg = load_balancer(ns, net, name, 80, "ip", 8080, controller_tags(ns, name, 80))
        register(tg, [(ip, 8080) for ip in ips], {ip: TIMEOUT for ip in ips} if state != "ready" else {})
        binding(kube, ns, f"k8s-{ns}-{name}"[:63], tg, name, 80, "ip")
        return tg

    with ThreadPoolExecutor(8) as pool:
        shared_tgs = pool.map(instance_service, range(shared))
        own_tgs = pool.map(lambda k: ip_service(k, "crashloop"), range(own))
        healthy_tgs = pool.map(lambda k: ip_service(k, "ready"), range(healthy_ip))
        second_tgs = pool.map(lambda k: ip_service(k, "blocked", [f"{ns}-node-x"]), range(second))
        out["shared"], out["own"], out["healthy"], out["second"] = list(shared_tgs), list(own_tgs), list(healthy_tgs), list(second_tgs)
    return out


def fleet_two(kube, ns):
    """`fleet` with two common causes: 2 NodePort Services behind the nodes' group without its
    NodePort rule, 2 ip Services on a node whose group lacks the pods' port, one crash-looping."""
    return fleet(kube, ns, shared=2, healthy_ip=1, own=1, second=2)


def fleet_scale(kube, ns):
    """For the benchmark: 200 target groups in one namespace, 40 of them unhealthy from two shared
    causes (20 NodePort Services behind the nodes' group that lost its NodePort rule, 20 ip
    Services on a node whose group lacks the pods' port) and 160 healthy ip Services."""
    return fleet(kube, ns, shared=20, healthy_ip=160, own=0, prefix="svc", second=20)


SCENARIOS = {
    "fleet": fleet,
    "fleet-scale": fleet_scale,
    "fleet-two": fleet_two,
    "scale": scale,
    "probe-targets": probe_targets,
    "ingress-404": ingress_404,
    "readiness-path": readiness_path,
    "nlb-hc-port": nlb_hc_port,
    "controller-denied": controller_denied,
    "gate-timeout": gate_timeout,
    "kube-proxy-down": kube_proxy_down,
    "second-node-group": second_node_group,
    "nacl-deny": nacl_deny,
    "diverted-route": diverted_route,
    "zone-missing": zone_missing,
    "node-not-ready": node_not_ready,
    "local-policy": local_policy,
    "mixed-faults": mixed_faults,
    "elb-internal-error": elb_internal_error,
    "rollout-transient": rollout_transient,
    "node-leaving": node_leaving,
    "rollout-replaced": rollout_replaced,
    "app-5xx": app_5xx,
    "proxy-protocol": proxy_protocol,
    "sidecar-ports": sidecar_ports,
    "management-probe": management_probe,
    "two-bindings": two_bindings,
    "other-cluster": other_cluster,
    "ingress-group": ingress_group,
    "prefix-list-ssh": prefix_list_ssh,
    "prefix-list-allows": prefix_list_allows,
    "lb-egress": lb_egress,
    "two-tagged-groups": two_tagged_groups,
    "inspection-routes": inspection_routes,
    "pod-security-group": pod_security_group,
    "controller-pod-identity": controller_pod_identity,
    "nlb-own-addresses": nlb_own_addresses,
    "ipv6-pods": ipv6_pods,
    "multi-cluster": multi_cluster,
    "gateway-tgc": gateway_tgc,
    "gateway-default": gateway_default,
    "two-clusters": two_clusters,
    "rollout-readiness": rollout_readiness,
    "revoked-rule": revoked_rule,
    "auto-mode-ingress": auto_mode_ingress,
    "auto-mode-nlb": auto_mode_nlb,
    "auto-mode-untagged": auto_mode_untagged,
    "by-node-port": by_node_port,
    "by-legacy-tags": by_legacy_tags,
    "by-endpoint-ips": by_endpoint_ips,
    "healthy": healthy,
    "article": article,
    "selector-unrelated": selector_unrelated,
    "workload-absent": workload_absent,
    "pod-status": pod_status,
    "stale-endpoints": stale_endpoints,
    "named-port": named_port,
    "missing-service": missing_service,
    "stopped-instance": stopped_instance,
}


def all_scenarios():
    """These and the public incidents of scripts/stack/incidents.py (issue 18)."""
    import incidents
    return {**incidents.INCIDENTS, **SCENARIOS}


def seed(name, ns, kube):
    known = all_scenarios()
    if name not in known:
        raise SystemExit(f"unknown scenario {name!r}; known: {', '.join(known)}")
    return {"scenario": name, **known[name](kube, ns)}
