"""Named scenarios, seeded through the real APIs: boto3 against moto, HTTP against the API server.

Each scenario lives in its own namespace (and its own VPC, load balancer and target group), so
several can coexist in one stack. Pod and node IPs are data only: nothing ever dials them.
"""
import datetime
import hashlib
import re
import uuid

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
    """A per-namespace octet so scenarios never share pod IPs (mapping by IP looks cluster-wide)."""
    return int(hashlib.sha256(ns.encode()).hexdigest(), 16) % 200 + 20


# ------------------------------------------------------------------ AWS

def aws(service):
    return boto3.client(service, region_name=REGION)


def network(ns):
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = {}
    for zone, cidr in (("us-east-1a", "10.0.1.0/24"), ("us-east-1b", "10.0.2.0/24")):
        subnets[zone] = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
    sg_lb = ec2.create_security_group(GroupName=f"{ns}-alb", Description="load balancer", VpcId=vpc)["GroupId"]
    sg_node = ec2.create_security_group(GroupName=f"{ns}-nodes", Description="nodes", VpcId=vpc)["GroupId"]
    ec2.create_tags(Resources=[sg_node], Tags=[{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}])
    return {"vpc": vpc, "subnets": subnets, "sg_lb": sg_lb, "sg_node": sg_node}


def instances(net, zones):
    ec2 = aws("ec2")
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    out = []
    for zone in zones:
        r = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="m5.large", SubnetId=net["subnets"][zone],
                              SecurityGroupIds=[net["sg_node"]],
                              TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}]}])
        i = r["Instances"][0]
        out.append({"id": i["InstanceId"], "zone": zone, "ip": i["PrivateIpAddress"]})
    return out


def load_balancer(ns, net, svc, port, target_type, tg_port, tags, lb_tags=None):
    """An ALB with an HTTP listener forwarding to a new target group; returns both ARNs."""
    elb = aws("elbv2")
    suffix = uuid.uuid4().hex[:8]
    lb_tags = {"elbv2.k8s.aws/cluster": CLUSTER} if lb_tags is None else lb_tags
    # An empty Tags list is invalid: leave the parameter out instead.
    tagged = lambda tags: {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
    lb = elb.create_load_balancer(Name=elb_name("k8s", ns[:12], suffix), Subnets=list(net["subnets"].values()), SecurityGroups=[net["sg_lb"]],
                                  Scheme="internet-facing", Type="application", **tagged(lb_tags))["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(Name=elb_name("k8s", ns[:10], svc[:8], suffix), Protocol="HTTP", Port=tg_port, VpcId=net["vpc"], TargetType=target_type,
                                 HealthCheckProtocol="HTTP", HealthCheckPort="traffic-port", HealthCheckPath="/",
                                 HealthCheckIntervalSeconds=15, HealthCheckTimeoutSeconds=5, HealthyThresholdCount=2,
                                 UnhealthyThresholdCount=2, Matcher={"HttpCode": "200"}, **tagged(tags))["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    return lb, tg


def register(tg, targets, health):
    """Registers `targets` [(id, port)]; `health` maps an id to an override (state, reason, description)."""
    elb = aws("elbv2")
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


def install_crds(kube):
    kube.apply("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", TGB_CRD)
    kube.wait("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/targetgroupbindings.elbv2.k8s.aws",
              lambda c: any(x["type"] == "Established" and x["status"] == "True" for x in c.get("status", {}).get("conditions", [])),
              "the TargetGroupBinding CRD")


def namespace(kube, ns):
    kube.apply("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})


def node(kube, name, inst, ready=True):
    kube.apply("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                 "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": inst["zone"], "kubernetes.io/hostname": name}},
                                 "spec": {"providerID": f"aws:///{inst['zone']}/{inst['id']}"}})
    # InternalIP only: no Hostname address, so the API server can never dial this node.
    kube.patch_status(f"/api/v1/nodes/{name}", {
        "addresses": [{"type": "InternalIP", "address": inst["ip"]}],
        "conditions": [{"type": "Ready", "status": "True" if ready else "False", "reason": "KubeletReady" if ready else "KubeletNotReady",
                        "message": "kubelet is posting ready status" if ready else "PLEG is not healthy", "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
    })


def container(port_name="http", port=80):
    return {"name": "app", "image": "public.ecr.aws/nginx/nginx:1.25",
            "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}],
            "readinessProbe": {"httpGet": {"path": "/", "port": port}, "periodSeconds": 5}}


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


def pod(kube, ns, name, labels, node_name, ip, ctr, rs=None, state="ready"):
    meta = {"name": name, "namespace": ns, "labels": labels}
    if rs:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["metadata"]["name"], "uid": rs["metadata"]["uid"], "controller": True}]
    p = kube.apply(f"/api/v1/namespaces/{ns}/pods", {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"nodeName": node_name, "containers": [ctr]}})
    ready = state == "ready"
    cstate = {"running": {"startedAt": now()}}
    extra = {}
    if state == "crashloop":
        cstate = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=app"}}
        extra = {"restartCount": 12, "lastState": {"terminated": {"reason": "Error", "exitCode": 1, "startedAt": now(), "finishedAt": now()}}}
    cond = lambda t, ok: {"type": t, "status": "True" if ok else "False", "lastTransitionTime": now()}
    kube.patch_status(f"/api/v1/namespaces/{ns}/pods/{name}", {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now(),
        "conditions": [cond("Initialized", True), cond("Ready", ready), cond("ContainersReady", ready), cond("PodScheduled", True)],
        "containerStatuses": [{"name": "app", "ready": ready, "restartCount": 0, "image": ctr["image"], "imageID": "", "started": ready,
                               "state": cstate, **extra}],
    })
    return p


def service(kube, ns, name, selector, port, target_port, node_port=None):
    spec = {"selector": selector, "ports": [{"name": "http", "port": port, "targetPort": target_port, "protocol": "TCP"}]}
    if node_port:
        spec["type"] = "NodePort"
        spec["ports"][0]["nodePort"] = node_port
    return kube.apply(f"/api/v1/namespaces/{ns}/services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec})


def binding(kube, ns, name, tg, svc, port, target_type):
    kube.apply(f"/apis/elbv2.k8s.aws/v1beta1/namespaces/{ns}/targetgroupbindings", {
        "apiVersion": "elbv2.k8s.aws/v1beta1", "kind": "TargetGroupBinding", "metadata": {"name": name, "namespace": ns},
        "spec": {"targetGroupARN": tg, "targetType": target_type, "serviceRef": {"name": svc, "port": port}}})


def event(kube, ns, kind, obj, reason, message, count=5):
    kube.create(f"/api/v1/namespaces/{ns}/events", {
        "apiVersion": "v1", "kind": "Event", "metadata": {"generateName": f"{obj['metadata']['name']}.", "namespace": ns},
        "involvedObject": {"kind": kind, "name": obj["metadata"]["name"], "namespace": ns, "uid": obj["metadata"]["uid"]},
        "reason": reason, "message": message, "type": "Warning", "count": count,
        "firstTimestamp": now(), "lastTimestamp": now(), "source": {"component": "kubelet"}})


def wait_endpoints(kube, ns, svc, ready):
    kube.wait(f"/api/v1/namespaces/{ns}/endpoints/{svc}",
              lambda e: sum(len(s.get("addresses", [])) for s in e.get("subsets", [])) == ready,
              f"{ready} ready endpoints of {ns}/{svc}")


# ------------------------------------------------------------------ the cluster pieces most scenarios share

def instance_cluster(kube, ns, *, selector, pod_labels, target_port=80, port_name="http", health=None, pod_state="ready",
                     bind=True, tg_tags=None, lb_tags=None, expect_ready=None):
    """Two nodes (one per zone) with one pod each behind a NodePort Service and an ALB with
    instance targets on the NodePort: the article's shape."""
    namespace(kube, ns)
    net = network(ns)
    insts = instances(net, ["us-east-1a", "us-east-1b"])
    nodes = [f"{ns}-node-{z[-1]}" for z in ("us-east-1a", "us-east-1b")]
    for n, i in zip(nodes, insts):
        node(kube, n, i)
    svc_name = "alb-instance"
    service(kube, ns, svc_name, selector, 80, target_port)
    # Let the API server allocate the NodePort, then register the instances on it.
    kube.request("PATCH", f"/api/v1/namespaces/{ns}/services/{svc_name}", {"spec": {"type": "NodePort"}}, "application/merge-patch+json")
    svc = kube.get(f"/api/v1/namespaces/{ns}/services/{svc_name}")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    ctr = container(port_name)
    rs, labels = workload(kube, ns, "alb-instance", pod_labels, ctr)
    octet3 = octet(ns)
    for k, (n, _) in enumerate(zip(nodes, insts)):
        pod(kube, ns, f"{rs['metadata']['name']}-{'prnxw' if k == 0 else 'x7k2p'}", labels, n, f"192.168.{octet3}.{10 + k}", ctr, rs, pod_state)
    lb, tg = load_balancer(ns, net, svc_name, 80, "instance", node_port, tg_tags if tg_tags is not None else controller_tags(ns, svc_name, 80), lb_tags)
    register(tg, [(i["id"], node_port) for i in insts], {insts[k]["id"]: h for k, h in (health or {}).items()})
    if bind:
        binding(kube, ns, f"k8s-{ns}-alb-instance", tg, svc_name, 80, "instance")
    if expect_ready is not None:
        wait_endpoints(kube, ns, svc_name, expect_ready)
    return {"namespace": ns, "cluster": CLUSTER, "targetGroupArn": tg, "loadBalancerArn": lb, "service": f"{ns}/{svc_name}",
            "nodePort": node_port, "instances": [i["id"] for i in insts], "nodes": nodes}


def ip_cluster(kube, ns, *, pod_state="ready", targets=None, health=None, expect_ready=None, bind=True, tg_tags=None, lb_tags=None):
    """A ClusterIP Service shop-style `web` (80 → 8080) with two pods and ip targets."""
    namespace(kube, ns)
    net = network(ns)
    insts = instances(net, ["us-east-1a", "us-east-1b"])
    nodes = [f"{ns}-node-{z[-1]}" for z in ("us-east-1a", "us-east-1b")]
    for n, i in zip(nodes, insts):
        node(kube, n, i)
    service(kube, ns, "web", {"app": "web"}, 80, 8080)
    ctr = container("http", 8080)
    rs, labels = workload(kube, ns, "web", {"app": "web"}, ctr)
    o = octet(ns)
    ips = [f"192.168.{o}.{10 + k}" for k in range(2)]
    pods = [pod(kube, ns, f"{rs['metadata']['name']}-{s}", labels, n, ip, ctr, rs, pod_state) for s, n, ip in zip(("a1b2c", "d3e4f"), nodes, ips)]
    targets = targets(ips, o) if targets else ips
    lb, tg = load_balancer(ns, net, "web", 80, "ip", 8080, controller_tags(ns, "web", 80) if tg_tags is None else tg_tags, lb_tags)
    register(tg, [(t, 8080) for t in targets], {targets[k]: h for k, h in (health or {}).items()})
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


def pod_status(kube, ns):
    """Both pods crash-loop behind ip targets, which time out (pod-status)."""
    out = ip_cluster(kube, ns, pod_state="crashloop", health={0: TIMEOUT, 1: TIMEOUT}, expect_ready=0)
    for name in out["pods"]:
        p = kube.get(f"/api/v1/namespaces/{ns}/pods/{name}")
        event(kube, ns, "Pod", p, "BackOff", "Back-off restarting failed container app in pod " + name)
    return out


def stale_endpoints(kube, ns):
    """One registered ip target is no pod any more (stale), and fails (endpoints)."""
    return ip_cluster(kube, ns, targets=lambda ips, o: [ips[0], ips[1], f"192.168.{o}.99"], health={2: TIMEOUT}, expect_ready=2)


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
    """One node's instance is stopped: Target.InvalidState, nothing in Kubernetes explains it (target-health)."""
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


SCENARIOS = {
    "by-node-port": by_node_port,
    "by-legacy-tags": by_legacy_tags,
    "by-endpoint-ips": by_endpoint_ips,
    "healthy": healthy,
    "article": article,
    "pod-status": pod_status,
    "stale-endpoints": stale_endpoints,
    "named-port": named_port,
    "missing-service": missing_service,
    "stopped-instance": stopped_instance,
}


def seed(name, ns, kube):
    if name not in SCENARIOS:
        raise SystemExit(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return {"scenario": name, **SCENARIOS[name](kube, ns)}
