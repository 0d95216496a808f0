"""Issue 18's corpus: publicly reported, resolved target-health incidents on EKS, each rebuilt
through the real APIs (moto, the API server) in its own namespace. Each docstring names the
thread; tests/it/incidents.rs says what was reported, what fixed it and what was adapted, and
docs/incidents.md is the table."""
import json
import uuid

from scenarios import (CLUSTER, LB_CIDRS, POD_SUFFIXES, TIMEOUT, alb_ingress, aws, binding, container, elb_name, event,
                       instance_cluster, instances, ip_cluster, load_balancer, namespace, network, node, nodes_in_vpc, octet, pod,
                       register, service, wait_endpoints, workload)

MISMATCH_302 = ("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [302]")
# An NLB reports a failed check (refused, reset, a bad HTTP answer) this way; ALBs say Timeout or the codes.
NLB_FAILED = ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")


def nlb_service_tags(ns, svc, port):
    """The controller's tags on an NLB Service's target group (service.k8s.aws/*)."""
    return {"elbv2.k8s.aws/cluster": CLUSTER, "service.k8s.aws/stack": f"{ns}/{svc}", "service.k8s.aws/resource": f"{ns}/{svc}:{port}"}


def replicas(kube, ns, rs, labels, ctr, placements):
    """One pod of ReplicaSet `rs` per (node, ip), named as the ReplicaSet names them."""
    for k, (n, ip) in enumerate(placements):
        pod(kube, ns, f"{rs['metadata']['name']}-{POD_SUFFIXES[k]}", labels, n, ip, ctr, rs)


def nodes_group(ns):
    ec2 = aws("ec2")
    return ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"{ns}-nodes"]}])["SecurityGroups"][0]["GroupId"]


def admit_lb_subnets(ns, ports, zones=("us-east-1a", "us-east-1b")):
    """What the controller does for an NLB without security groups: let its subnets reach these
    ports on the nodes' group."""
    aws("ec2").authorize_security_group_ingress(GroupId=nodes_group(ns), IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": LB_CIDRS[z], "Description": "NLB subnet"} for z in zones]}
        for p in ports])


def node_to_node_blocked(kube, ns):
    """https://github.com/terraform-aws-modules/terraform-aws-eks/issues/2359 (see
    tests/it/incidents.rs): an ingress controller (2 pods, on nodes a and b) behind a load
    balancer with instance targets on four nodes; the node group (terraform-aws-eks v19's) has no
    node-to-node rule for port 80. Nodes a and b answer the health check with their local pod;
    c and d forward it (externalTrafficPolicy Cluster) to a pod on a or b, which drops it."""
    def hook(net, insts):
        aws("ec2").revoke_security_group_ingress(GroupId=net["sg_node"], IpPermissions=[
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": net["sg_node"], "Description": "node to node"}]}])
    zones = ("us-east-1a", "us-east-1b", "us-east-1c")
    return instance_cluster(kube, ns, selector={"app": "ingress-nginx"}, pod_labels={"app": "ingress-nginx"}, zones=zones,
                            pods_on=[0, 1], health={2: TIMEOUT}, expect_ready=2, network_hook=hook, workload_name="ingress-nginx")


def default_path_redirects(kube, ns):
    """https://github.com/aws-samples/appmod-blueprints/pull/890 (see tests/it/incidents.rs):
    JupyterHub's proxy behind an ALB Ingress without a healthcheck-path annotation: the
    controller's default check, GET / expecting 200, gets the proxy's 302 redirect to the hub, so
    the ip targets fail Target.ResponseCodeMismatch [302] while the pods are ready (on the proxy's
    own /_chp_healthz, as the Zero to JupyterHub chart probes it)."""
    out = ip_cluster(kube, ns, probe="/_chp_healthz", health={0: MISMATCH_302, 1: MISMATCH_302}, expect_ready=2)
    alb_ingress(kube, ns, "jupyterhub", "web", {"alb.ingress.kubernetes.io/scheme": "internet-facing", "alb.ingress.kubernetes.io/target-type": "ip"})
    return out




def udp_only_health_check(kube, ns):
    """https://github.com/k8gb-io/k8gb/issues/1741 (see tests/it/incidents.rs): CoreDNS behind an
    NLB Service with one UDP port (53 → 5353). The target group forwards UDP; its health check is
    the controller's default, TCP on the traffic port, which is the UDP NodePort: nothing accepts
    TCP there, every instance target fails. The NLB has the controller's frontend security group,
    which the nodes' group admits on the NodePorts (so the network is not the cause)."""
    net, insts, nodes = nodes_in_vpc(kube, ns)
    spec = {"type": "NodePort", "selector": {"app": "coredns"},
            "ports": [{"name": "udp-5353", "port": 53, "targetPort": 5353, "protocol": "UDP"}]}
    kube.apply(f"/api/v1/namespaces/{ns}/services", {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "k8gb-coredns", "namespace": ns,
                            "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "external",
                                            "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "instance"}},
               "spec": spec})
    kube.request("PATCH", f"/api/v1/namespaces/{ns}/services/k8gb-coredns", {"spec": {"type": "LoadBalancer"}}, "application/merge-patch+json")
    node_port = kube.get(f"/api/v1/namespaces/{ns}/services/k8gb-coredns")["spec"]["ports"][0]["nodePort"]
    ctr = {"name": "coredns", "image": "coredns/coredns:1.11.1", "ports": [{"name": "udp-5353", "containerPort": 5353, "protocol": "UDP"}]}
    rs, labels = workload(kube, ns, "coredns", {"app": "coredns"}, ctr)
    o = octet(ns)
    replicas(kube, ns, rs, labels, ctr, [(n, f"192.168.{o}.{20 + k}") for k, n in enumerate(nodes)])
    elb = aws("elbv2")
    suffix = uuid.uuid4().hex[:8]
    lb = elb.create_load_balancer(Name=elb_name("k8s", ns[:12], suffix), Subnets=list(net["lb_subnets"].values()), Scheme="internet-facing",
                                  Type="network", SecurityGroups=[net["sg_lb"]],
                                  Tags=[{"Key": "elbv2.k8s.aws/cluster", "Value": CLUSTER}])["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(Name=elb_name("k8s", ns[:10], "coredns", suffix), Protocol="UDP", Port=node_port, VpcId=net["vpc"], TargetType="instance",
                                 HealthCheckProtocol="TCP", HealthCheckPort="traffic-port", HealthCheckIntervalSeconds=10, HealthCheckTimeoutSeconds=10,
                                 HealthyThresholdCount=3, UnhealthyThresholdCount=3,
                                 Tags=[{"Key": k, "Value": v} for k, v in {"elbv2.k8s.aws/cluster": CLUSTER, "service.k8s.aws/stack": f"{ns}/k8gb-coredns",
                                                                          "service.k8s.aws/resource": "53"}.items()])["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=lb, Protocol="UDP", Port=53, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    failed = ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")
    register(tg, [(i["id"], node_port) for i in insts], {i["id"]: failed for i in insts})
    binding(kube, ns, f"k8s-{ns}-coredns"[:63], tg, "k8gb-coredns", 53, "instance")
    return {"namespace": ns, "cluster": CLUSTER, "targetGroupArn": tg, "loadBalancerArn": lb, "service": f"{ns}/k8gb-coredns",
            "nodePort": node_port, "groups": {"lb": net["sg_lb"], "nodes": net["sg_node"]}}




MERGE = "application/merge-patch+json"


def admit_clients(ns, port):
    """The rule the controller (or the in-tree provider) adds for an NLB that keeps client
    addresses: the clients (loadBalancerSourceRanges, by default everyone) on the traffic port."""
    aws("ec2").authorize_security_group_ingress(GroupId=nodes_group(ns), IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "clients"}]}])


def nlb_annotations(target_type, **extra):
    out = {"service.beta.kubernetes.io/aws-load-balancer-type": "external", "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": target_type,
           "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}
    out.update({f"service.beta.kubernetes.io/aws-load-balancer-{k.replace('_', '-')}": v for k, v in extra.items()})
    return out


def proxy_protocol_health_port(kube, ns):
    """https://github.com/kubernetes/ingress-nginx/issues/10982: ingress-nginx behind an NLB (ip
    targets) with proxy protocol v2, its health check on 10254 /healthz (the controller's own Go
    server, which the pods' readinessProbe asks). The NLB sends the PROXY header with every
    health check; nginx on the traffic port expects it, the Go server on 10254 does not."""
    annotations = nlb_annotations("ip", proxy_protocol="*", healthcheck_port="10254", healthcheck_path="/healthz", healthcheck_protocol="http")
    out = ip_cluster(kube, ns, nlb_annotations=annotations, tg_tags=nlb_service_tags(ns, "web", 80), probe="/healthz", probe_port=10254,
                     extra_ports=[("metrics", 10254)],
                     hc={"HealthCheckProtocol": "HTTP", "HealthCheckPort": "10254", "HealthCheckPath": "/healthz", "Matcher": {"HttpCode": "200-399"}},
                     health={0: NLB_FAILED, 1: NLB_FAILED}, expect_ready=2)
    aws("elbv2").modify_target_group_attributes(TargetGroupArn=out["targetGroupArn"], Attributes=[{"Key": "proxy_protocol_v2.enabled", "Value": "true"}])
    admit_lb_subnets(ns, [8080, 10254])
    return out


def local_policy_nlb(kube, ns):
    """https://github.com/nginx/kubernetes-ingress/issues/1199: NGINX Ingress Controller (one pod)
    behind an NLB with instance targets and externalTrafficPolicy Local: the controller's default
    check is HTTP /healthz on the Service's healthCheckNodePort, which kube-proxy answers 503 on
    the nodes without a local pod. Those targets are unhealthy by design."""
    zones = ("us-east-1a", "us-east-1b", "us-east-1c")
    out = instance_cluster(kube, ns, selector={"app": "nginx-ingress"}, pod_labels={"app": "nginx-ingress"}, zones=zones, pods_on=[0], local=True,
                           nlb=True, tg_tags=nlb_service_tags(ns, "alb-instance", 80), health={1: NLB_FAILED, 2: NLB_FAILED}, expect_ready=1,
                           workload_name="nginx-ingress")
    path = f"/api/v1/namespaces/{ns}/services/alb-instance"
    kube.request("PATCH", path, {"metadata": {"annotations": nlb_annotations("instance")}, "spec": {"type": "LoadBalancer"}}, MERGE)
    hcnp = kube.get(path)["spec"]["healthCheckNodePort"]
    # The controller's defaults for a Local NLB Service (the healthCheckNodePort, /healthz, 10s/6s, 2/2).
    aws("elbv2").modify_target_group(TargetGroupArn=out["targetGroupArn"], HealthCheckProtocol="HTTP", HealthCheckPort=str(hcnp), HealthCheckPath="/healthz",
                                     HealthCheckIntervalSeconds=10, HealthCheckTimeoutSeconds=6, HealthyThresholdCount=2, UnhealthyThresholdCount=2,
                                     Matcher={"HttpCode": "200-399"})
    admit_lb_subnets(ns, [hcnp], zones)
    admit_clients(ns, out["nodePort"])
    return {**out, "healthCheckNodePort": hcnp}


MISMATCH_307 = ("unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [307]")


def argocd_tls_port(kube, ns):
    """https://github.com/argoproj/argo-helm/issues/2936: argocd-server (TLS on its port 8080, not
    `server.insecure`) behind an ALB Ingress on the Service's `https` port, the backend protocol
    left at HTTP: the health check speaks plain HTTP and gets Argo CD's 307 redirect to HTTPS."""
    net, insts, nodes = nodes_in_vpc(kube, ns)
    labels = {"app.kubernetes.io/name": "argocd-server"}
    kube.apply(f"/api/v1/namespaces/{ns}/services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "argocd-server", "namespace": ns},
               "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "server", "protocol": "TCP"},
                                                      {"name": "https", "port": 443, "targetPort": "server", "protocol": "TCP"}]}})
    ctr = {"name": "server", "image": "quay.io/argoproj/argocd:v2.12.3", "args": ["/usr/local/bin/argocd-server", "--port=8080"],
           "ports": [{"name": "server", "containerPort": 8080, "protocol": "TCP"}],
           "readinessProbe": {"httpGet": {"path": "/healthz", "port": "server"}, "periodSeconds": 10}}
    rs, pod_labels = workload(kube, ns, "argocd-server", labels, ctr)
    o = octet(ns)
    ips = [f"10.0.{k + 1}.{o}" for k in range(2)]
    replicas(kube, ns, rs, pod_labels, ctr, zip(nodes, ips))
    tags = {"elbv2.k8s.aws/cluster": CLUSTER, "ingress.k8s.aws/stack": f"{ns}/argocd-server",
            "ingress.k8s.aws/resource": f"{ns}/argocd-server-argocd-server:https"}
    lb, tg = load_balancer(ns, net, "argocd-server", 443, "ip", 8080, tags)
    register(tg, [(ip, 8080) for ip in ips], {ip: MISMATCH_307 for ip in ips})
    binding(kube, ns, f"k8s-{ns}-argocd"[:63], tg, "argocd-server", "https", "ip")
    kube.apply(f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses", {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "argocd-server", "namespace": ns, "annotations": {
            "alb.ingress.kubernetes.io/scheme": "internal", "alb.ingress.kubernetes.io/target-type": "ip",
            "alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS": 443}]'}},
        "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "argocd-server", "port": {"name": "https"}}}}]}}]}})
    wait_endpoints(kube, ns, "argocd-server", 2)
    return {"namespace": ns, "cluster": CLUSTER, "targetGroupArn": tg, "loadBalancerArn": lb, "service": f"{ns}/argocd-server", "targets": ips}


def health_check_stricter_than_readiness(kube, ns):
    """https://github.com/huggingface/dataset-viewer/pull/3422: the `search` pods answer
    /healthcheck from the same busy workers as the queries; the ALB gives them 5 s (twice, every
    15 s) while their readinessProbe on the same path gives them 10 s (three times): under load
    one target times out at the ALB while its pod stays Ready."""
    out = ip_cluster(kube, ns, probe="/healthcheck", probe_timeout=10, hc={"HealthCheckPath": "/healthcheck"}, health={1: TIMEOUT}, expect_ready=2)
    alb_ingress(kube, ns, "search", "web", {"alb.ingress.kubernetes.io/scheme": "internet-facing", "alb.ingress.kubernetes.io/target-type": "ip",
                                            "alb.ingress.kubernetes.io/healthcheck-path": "/healthcheck"})
    return out


def custom_alb_security_group(kube, ns):
    """https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/100 (also #1791,
    #2633): the Ingress gives the ALB its own security group (`alb.ingress.kubernetes.io/
    security-groups`); the nodes' group admits only the controller's usual group, so every
    health check from the ALB is dropped."""
    out = instance_cluster(kube, ns, selector={"app": "web-frontend"}, pod_labels={"app": "web-frontend"}, health={0: TIMEOUT, 1: TIMEOUT},
                           expect_ready=2, workload_name="web-frontend")
    ec2 = aws("ec2")
    custom = ec2.create_security_group(GroupName=f"{ns}-frontend-alb", Description="frontend ALB", VpcId=out["vpc"])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=custom, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "clients"}]}])
    aws("elbv2").set_security_groups(LoadBalancerArn=out["loadBalancerArn"], SecurityGroups=[custom])
    alb_ingress(kube, ns, "web-frontend", "alb-instance", {"alb.ingress.kubernetes.io/scheme": "internet-facing",
                                                          "alb.ingress.kubernetes.io/security-groups": custom})
    return {**out, "customGroup": custom}


def stale_node_port(kube, ns):
    """https://github.com/istio/istio/issues/28856 (workaround in istio#31418): an upgrade gave
    istio-ingressgateway new NodePorts; the in-tree provider could not follow (its target group
    with the old port exists: DuplicateTargetGroupName), so the NLB still checks the old NodePort,
    where nothing listens any more."""
    out = instance_cluster(kube, ns, selector={"app": "istio-ingressgateway"}, pod_labels={"app": "istio-ingressgateway"}, nlb=True, bind=False,
                           tg_tags={}, lb_tags={"kubernetes.io/service-name": f"{ns}/alb-instance", f"kubernetes.io/cluster/{CLUSTER}": "owned"},
                           health={0: NLB_FAILED, 1: NLB_FAILED}, expect_ready=2, workload_name="istio-ingressgateway")
    old = out["nodePort"]
    path = f"/api/v1/namespaces/{ns}/services/alb-instance"
    svc = kube.get(path)
    # The upgrade re-applied the Service without nodePorts: the API server handed out new ones.
    for candidate in range(30000 + (old - 30000 + 1000) % 2700, 32767):
        svc["spec"]["ports"][0]["nodePort"] = candidate
        svc["spec"]["type"] = "LoadBalancer"
        svc.setdefault("metadata", {}).setdefault("annotations", {})["service.beta.kubernetes.io/aws-load-balancer-type"] = "nlb"
        try:
            kube.request("PUT", path, svc)
            break
        except Exception:  # noqa: BLE001 — that port is taken by another scenario's Service: try the next
            svc = kube.get(path)
    new = kube.get(path)["spec"]["ports"][0]["nodePort"]
    aws("ec2").authorize_security_group_ingress(GroupId=out["groups"]["nodes"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 30000, "ToPort": 32767, "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "kubernetes.io/rule/nlb/health"}]}])
    admit_clients(ns, old)
    event(kube, ns, "Service", kube.get(path), "SyncLoadBalancerFailed",
          "Error syncing load balancer: failed to ensure load balancer: Error creating load balancer target group: \"DuplicateTargetGroupName: "
          "A target group with the same name 'k8s-istiosys-istioing-e5ab3b8d49' exists, but with different settings\\n\\tstatus code: 400\"")
    return {**out, "oldNodePort": old, "newNodePort": new}


def nlb_secondary_cidr(kube, ns):
    """https://github.com/kubernetes/kubernetes/issues/72957 (fixed by kubernetes#73770): an
    NLB Service (in-tree provider, instance targets, loadBalancerSourceRanges outside the VPC) in
    a VPC with a secondary CIDR, the nodes and the NLB in its subnets: the provider's health-check
    rule admits only the VPC's primary CIDR, so no node passes."""
    namespace(kube, ns)
    ec2, elb = aws("ec2"), aws("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.associate_vpc_cidr_block(VpcId=vpc, CidrBlock="100.64.0.0/16")
    zones = ("us-east-1a", "us-east-1b")
    subnets = {z: ec2.create_subnet(VpcId=vpc, CidrBlock=f"100.64.{k + 1}.0/24", AvailabilityZone=z)["Subnet"]["SubnetId"] for k, z in enumerate(zones)}
    sg = ec2.create_security_group(GroupName=f"{ns}-nodes", Description="nodes", VpcId=vpc)["GroupId"]
    ec2.create_tags(Resources=[sg], Tags=[{"Key": f"kubernetes.io/cluster/{CLUSTER}", "Value": "owned"}])
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": sg, "Description": "node to node"}]}])
    insts = instances({"subnets": subnets, "sg_node": sg}, zones)
    nodes = [f"{ns}-node-{z[-1]}" for z in zones]
    for n, i in zip(nodes, insts):
        node(kube, n, i)
    labels = {"app": "ingress-nginx"}
    kube.apply(f"/api/v1/namespaces/{ns}/services", {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "ingress-nginx", "namespace": ns, "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}},
               "spec": {"type": "LoadBalancer", "selector": labels, "loadBalancerSourceRanges": ["203.0.113.0/24"],
                        "ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}]}})
    node_port = kube.get(f"/api/v1/namespaces/{ns}/services/ingress-nginx")["spec"]["ports"][0]["nodePort"]
    ctr = container("http", 80, "/healthz")
    rs, pod_labels = workload(kube, ns, "ingress-nginx", labels, ctr)
    replicas(kube, ns, rs, pod_labels, ctr, [(n, f"100.64.{k + 1}.{octet(ns)}") for k, n in enumerate(nodes)])
    # The in-tree provider's two rules (aws_loadbalancer.go): clients from the source ranges, health checks from the VPC's primary CIDR.
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": node_port, "ToPort": node_port, "IpRanges": [
            {"CidrIp": "203.0.113.0/24", "Description": f"kubernetes.io/rule/nlb/client={ns}/ingress-nginx"},
            {"CidrIp": "10.0.0.0/16", "Description": f"kubernetes.io/rule/nlb/health={ns}/ingress-nginx"}]}])
    legacy = {"kubernetes.io/service-name": f"{ns}/ingress-nginx", f"kubernetes.io/cluster/{CLUSTER}": "owned"}
    suffix = uuid.uuid4().hex[:8]
    lb = elb.create_load_balancer(Name=elb_name("a", ns[:14], suffix), Subnets=list(subnets.values()), Scheme="internet-facing", Type="network",
                                  Tags=[{"Key": k, "Value": v} for k, v in legacy.items()])["LoadBalancers"][0]
    tg = elb.create_target_group(Name=elb_name("k8s", ns[:10], "ingressn", suffix), Protocol="TCP", Port=node_port, VpcId=vpc, TargetType="instance",
                                 HealthCheckProtocol="TCP", HealthCheckPort="traffic-port", HealthCheckIntervalSeconds=10, HealthCheckTimeoutSeconds=10,
                                 HealthyThresholdCount=2, UnhealthyThresholdCount=2,
                                 Tags=[{"Key": k, "Value": v} for k, v in legacy.items()])["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TCP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    register(tg, [(i["id"], node_port) for i in insts], {i["id"]: NLB_FAILED for i in insts})
    # The NLB's own addresses, one per zone in its subnets, as AWS makes its ENIs ("ELB net/NAME/ID").
    name_id = lb["LoadBalancerArn"].split(":loadbalancer/")[1]
    addresses = []
    for k, z in enumerate(zones):
        ip = f"100.64.{k + 1}.{200 + k}"
        ec2.create_network_interface(SubnetId=subnets[z], PrivateIpAddress=ip, Description=f"ELB {name_id}")
        addresses.append(ip)
    wait_endpoints(kube, ns, "ingress-nginx", 2)
    return {"namespace": ns, "cluster": CLUSTER, "targetGroupArn": tg, "loadBalancerArn": lb["LoadBalancerArn"], "service": f"{ns}/ingress-nginx",
            "nodePort": node_port, "instances": [i["id"] for i in insts], "group": sg, "nlbAddresses": addresses, "vpc": vpc}


def no_tagged_group(kube, ns):
    """https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/2802: a binding's
    instance targets on nodes whose ENIs carry two security groups, neither tagged
    kubernetes.io/cluster/<cluster>: the controller cannot choose where to add its rule, adds
    none, and the targets time out."""
    def groups(net):
        ec2 = aws("ec2")
        ops = ec2.create_security_group(GroupName=f"{ns}-nodes-ops", Description="ops access", VpcId=net["vpc"])["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=ops, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ssh"}]}])
        base = ec2.create_security_group(GroupName=f"{ns}-nodes-base", Description="node base", VpcId=net["vpc"])["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=base, IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": base, "Description": "node to node"}]}])
        net["untagged"] = [base, ops]
        return {0: [base, ops], 1: [base, ops]}
    hook = lambda net, insts: None
    hook.groups = groups
    out = instance_cluster(kube, ns, selector={"app": "web"}, pod_labels={"app": "web"}, health={0: TIMEOUT, 1: TIMEOUT}, expect_ready=2,
                           network_hook=hook, workload_name="web")
    ec2 = aws("ec2")
    untagged = sorted(g["GroupId"] for g in ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"{ns}-nodes-base", f"{ns}-nodes-ops"]}])["SecurityGroups"])
    return {**out, "untagged": untagged}


def shared_group_two_clusters(kube, ns):
    """https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/2757 (also #2173):
    one target group bound by a TargetGroupBinding in two clusters for fallback and A/B tests,
    without multiClusterTargetGroup: each cluster's controller deregisters the other's targets.
    The reconstruction is the `two-clusters` scenario's (blue's addresses draining and timing out)."""
    from scenarios import two_clusters
    return two_clusters(kube, ns)


def controller_without_imds(kube, ns):
    """https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/3955: the controller
    gets no credentials (its Pod Identity association not in effect) and falls back to the node
    role through IMDS, which IMDSv2's hop limit of 1 keeps from pods: "no EC2 IMDS role found";
    nothing is registered."""
    out = ip_cluster(kube, ns, register_targets=False, expect_ready=2)
    ing = alb_ingress(kube, ns, "front", "web", {"alb.ingress.kubernetes.io/target-type": "ip"})
    event(kube, ns, "Ingress", ing, "FailedBuildModel",
          "Failed build model due to operation error Elastic Load Balancing v2: DescribeLoadBalancers, get identity: get credentials: "
          "failed to refresh cached credentials, no EC2 IMDS role found, operation error ec2imds: GetMetadata, canceled, context deadline exceeded")
    return out


def fargate_instance_targets(kube, ns):
    """https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/2133: an Ingress with
    `target-type: instance` in a cluster whose pods run on Fargate: Fargate nodes are no EC2
    instances, the controller leaves them out of instance target groups (#1129), and the group
    stays empty while the pods are Ready."""
    namespace(kube, ns)
    zones = ("us-east-1a", "us-east-1b")
    net = network(ns, zones, zones)
    o = octet(ns)
    nodes = []
    for k, z in enumerate(zones):
        ip = f"10.0.{k + 1}.{o}"
        name = f"fargate-ip-10-0-{k + 1}-{o}.ec2.internal"
        kube.apply("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {
            "topology.kubernetes.io/zone": z, "eks.amazonaws.com/compute-type": "fargate", "kubernetes.io/hostname": name}},
            "spec": {"providerID": f"aws:///{z}/fargate-{name}"}})
        kube.patch_status(f"/api/v1/nodes/{name}", {"addresses": [{"type": "InternalIP", "address": ip}], "conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}]})
        nodes.append((name, ip))
    kube.apply(f"/api/v1/namespaces/{ns}/services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echoserver", "namespace": ns},
               "spec": {"type": "NodePort", "selector": {"app": "echoserver"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
    node_port = kube.get(f"/api/v1/namespaces/{ns}/services/echoserver")["spec"]["ports"][0]["nodePort"]
    ctr = container("http", 8080)
    rs, labels = workload(kube, ns, "echoserver", {"app": "echoserver"}, ctr)
    replicas(kube, ns, rs, labels, ctr, nodes)
    tags = {"elbv2.k8s.aws/cluster": CLUSTER, "ingress.k8s.aws/stack": f"{ns}/echoserver", "ingress.k8s.aws/resource": f"{ns}/echoserver-echoserver:80"}
    lb, tg = load_balancer(ns, net, "echoserver", 80, "instance", node_port, tags)
    binding(kube, ns, f"k8s-{ns}-echoserver"[:63], tg, "echoserver", 80, "instance")
    alb_ingress(kube, ns, "echoserver", "echoserver", {"alb.ingress.kubernetes.io/scheme": "internet-facing", "alb.ingress.kubernetes.io/target-type": "instance"})
    wait_endpoints(kube, ns, "echoserver", 2)
    return {"namespace": ns, "cluster": CLUSTER, "targetGroupArn": tg, "loadBalancerArn": lb, "service": f"{ns}/echoserver", "nodes": [n for n, _ in nodes]}


def proxy_protocol_local_policy(kube, ns):
    """https://github.com/kubernetes/ingress-nginx/issues/6263 (explained in ingress-nginx#10982):
    ingress-nginx behind an NLB with instance targets, externalTrafficPolicy Local and proxy
    protocol v2: the health check goes to the healthCheckNodePort, served by kube-proxy, which
    does not parse the PROXY header the NLB now sends; every node fails, with or without a pod."""
    out = instance_cluster(kube, ns, selector={"app": "ingress-nginx"}, pod_labels={"app": "ingress-nginx"}, local=True, nlb=True,
                           tg_tags=nlb_service_tags(ns, "alb-instance", 80), health={0: NLB_FAILED, 1: NLB_FAILED}, expect_ready=2,
                           workload_name="ingress-nginx")
    path = f"/api/v1/namespaces/{ns}/services/alb-instance"
    kube.request("PATCH", path, {"metadata": {"annotations": nlb_annotations("instance", proxy_protocol="*")}, "spec": {"type": "LoadBalancer"}}, MERGE)
    hcnp = kube.get(path)["spec"]["healthCheckNodePort"]
    elb = aws("elbv2")
    elb.modify_target_group(TargetGroupArn=out["targetGroupArn"], HealthCheckProtocol="HTTP", HealthCheckPort=str(hcnp), HealthCheckPath="/healthz",
                            HealthCheckIntervalSeconds=10, HealthCheckTimeoutSeconds=6, HealthyThresholdCount=2, UnhealthyThresholdCount=2,
                            Matcher={"HttpCode": "200-399"})
    elb.modify_target_group_attributes(TargetGroupArn=out["targetGroupArn"], Attributes=[{"Key": "proxy_protocol_v2.enabled", "Value": "true"}])
    admit_lb_subnets(ns, [hcnp])
    admit_clients(ns, out["nodePort"])
    return {**out, "healthCheckNodePort": hcnp}


def selector_typo(kube, ns):
    """https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/602: an Ingress's
    Service whose selector does not match its pods' labels ("I just had some bad matches on
    labels and selectors"): the Service has no endpoints, so no target can pass. The article's
    shape: selector app=user-management-api-1, pods app=user-management-api."""
    return instance_cluster(kube, ns, selector={"app": "user-management-api-1"}, pod_labels={"app": "user-management-api"},
                            health={0: TIMEOUT, 1: TIMEOUT}, expect_ready=0, workload_name="user-management-api")


def clusterip_instance_targets(kube, ns):
    """https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/4238 (clarified by
    #4243): an Ingress with instance targets in front of a ClusterIP Service: there is no
    NodePort to register the nodes on, so the target group stays empty."""
    net, insts, nodes = nodes_in_vpc(kube, ns)
    service(kube, ns, "web", {"app": "web"}, 80, 8080)
    ctr = container("http", 8080)
    rs, labels = workload(kube, ns, "web", {"app": "web"}, ctr)
    o = octet(ns)
    replicas(kube, ns, rs, labels, ctr, [(n, f"10.0.{k + 1}.{o}") for k, n in enumerate(nodes)])
    tags = {"elbv2.k8s.aws/cluster": CLUSTER, "ingress.k8s.aws/stack": f"{ns}/web", "ingress.k8s.aws/resource": f"{ns}/web-web:80"}
    lb, tg = load_balancer(ns, net, "web", 80, "instance", 1, tags)
    binding(kube, ns, f"k8s-{ns}-web"[:63], tg, "web", 80, "instance")
    alb_ingress(kube, ns, "web", "web", {"alb.ingress.kubernetes.io/scheme": "internet-facing", "alb.ingress.kubernetes.io/target-type": "instance"})
    wait_endpoints(kube, ns, "web", 2)
    return {"namespace": ns, "cluster": CLUSTER, "targetGroupArn": tg, "loadBalancerArn": lb, "service": f"{ns}/web"}


def https_check_on_http_port(kube, ns):
    """https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/3346: one NLB Service
    with an http and an https port, and `aws-load-balancer-healthcheck-protocol: https` meant for
    the https one: the annotation applies to every port's target group, so the http port's group
    checks with TLS and gets no answer."""
    net, insts, nodes = nodes_in_vpc(kube, ns)
    kube.apply(f"/api/v1/namespaces/{ns}/services", {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": ns, "annotations": nlb_annotations("ip", healthcheck_protocol="https")},
               "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [
                   {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                   {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}]}})
    ctr = {"name": "app", "image": "public.ecr.aws/nginx/nginx:1.25",
           "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}, {"name": "https", "containerPort": 8443, "protocol": "TCP"}],
           "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5}}
    rs, labels = workload(kube, ns, "web", {"app": "web"}, ctr)
    o = octet(ns)
    ips = [f"10.0.{k + 1}.{o}" for k in range(2)]
    replicas(kube, ns, rs, labels, ctr, zip(nodes, ips))
    lb, tg = load_balancer(ns, net, "web", 80, "ip", 8080, nlb_service_tags(ns, "web", 80), nlb=True,
                           hc={"HealthCheckProtocol": "HTTPS", "HealthCheckPath": "/", "Matcher": {"HttpCode": "200-399"}})
    register(tg, [(ip, 8080) for ip in ips], {ip: NLB_FAILED for ip in ips})
    binding(kube, ns, f"k8s-{ns}-web"[:63], tg, "web", 80, "ip")
    admit_lb_subnets(ns, [8080, 8443])
    wait_endpoints(kube, ns, "web", 2)
    return {"namespace": ns, "cluster": CLUSTER, "targetGroupArn": tg, "loadBalancerArn": lb, "service": f"{ns}/web", "targets": ips}


def local_policy_in_tree(kube, ns):
    """https://github.com/kubernetes/kubernetes/issues/74948: ingress-nginx behind an NLB made by
    the in-tree provider (`aws-load-balancer-type: nlb`) with externalTrafficPolicy Local; the
    nodes without a controller pod fail the health check, which answers on the
    healthCheckNodePort. The maintainer: only nodes with pods succeed, by design."""
    out = instance_cluster(kube, ns, selector={"app": "ingress-nginx"}, pod_labels={"app": "ingress-nginx"}, pods_on=[0], local=True, nlb=True,
                           bind=False, tg_tags={}, lb_tags={"kubernetes.io/service-name": f"{ns}/alb-instance", f"kubernetes.io/cluster/{CLUSTER}": "owned"},
                           health={1: NLB_FAILED}, expect_ready=1, workload_name="ingress-nginx")
    path = f"/api/v1/namespaces/{ns}/services/alb-instance"
    kube.request("PATCH", path, {"metadata": {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}}, "spec": {"type": "LoadBalancer"}}, MERGE)
    hcnp = kube.get(path)["spec"]["healthCheckNodePort"]
    # The in-tree provider's Local health check: HTTP /healthz on the healthCheckNodePort, from the VPC.
    aws("elbv2").modify_target_group(TargetGroupArn=out["targetGroupArn"], HealthCheckProtocol="HTTP", HealthCheckPort=str(hcnp), HealthCheckPath="/healthz")
    aws("ec2").authorize_security_group_ingress(GroupId=out["groups"]["nodes"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": hcnp, "ToPort": hcnp, "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "kubernetes.io/rule/nlb/health"}]}])
    admit_clients(ns, out["nodePort"])
    return {**out, "healthCheckNodePort": hcnp}

INCIDENTS = {
    "udp-only-health-check": udp_only_health_check,
    "default-path-redirects": default_path_redirects,
    "node-to-node-blocked": node_to_node_blocked,
    "proxy-protocol-health-port": proxy_protocol_health_port,
    "local-policy-nlb": local_policy_nlb,
    "argocd-tls-port": argocd_tls_port,
    "health-check-stricter-than-readiness": health_check_stricter_than_readiness,
    "custom-alb-security-group": custom_alb_security_group,
    "stale-node-port": stale_node_port,
    "nlb-secondary-cidr": nlb_secondary_cidr,
    "no-tagged-group": no_tagged_group,
    "shared-group-two-clusters": shared_group_two_clusters,
    "controller-without-imds": controller_without_imds,
    "fargate-instance-targets": fargate_instance_targets,
    "proxy-protocol-local-policy": proxy_protocol_local_policy,
    "selector-typo": selector_typo,
    "clusterip-instance-targets": clusterip_instance_targets,
    "local-policy-in-tree": local_policy_in_tree,
    "https-check-on-http-port": https_check_on_http_port,
}
