#!/usr/bin/env bash
# The source article's manual procedure, as the commands an operator types (its eleven sections,
# plus the AWS calls its network section implies), against whatever AWS_* / KUBECONFIG point to.
#   manual.sh NAMESPACE SERVICE TARGET_GROUP_ARN
set -u
ns="$1"; svc="$2"; tg="$3"
k() { kubectl --request-timeout=20s "$@" >/dev/null 2>&1; }
a() { aws --output json "$@" >/dev/null 2>&1; }
# §1 pod status, §2 labels and selector, §3 endpoints
k get pod -n "$ns"
k get pod -n "$ns" --show-labels
k get svc "$svc" -n "$ns" -o jsonpath='{.spec.selector}'
k describe svc "$svc" -n "$ns"
k get endpoints "$svc" -n "$ns"
# §4 traffic policy and security groups
k get svc "$svc" -n "$ns" -o jsonpath='{.spec.externalTrafficPolicy}'
a elbv2 describe-target-health --target-group-arn "$tg"
a elbv2 describe-target-groups --target-group-arns "$tg"
lb=$(aws elbv2 describe-target-groups --target-group-arns "$tg" --query 'TargetGroups[0].LoadBalancerArns[0]' --output text 2>/dev/null)
a elbv2 describe-load-balancers --load-balancer-arns "$lb"
a ec2 describe-instances
a ec2 describe-security-groups
# §5 targetPort
k get svc "$svc" -n "$ns" -o yaml
k get pods -n "$ns" -o yaml
# §6 controller, §7 ingress annotations, §8 service annotations
k get deployment -n kube-system aws-load-balancer-controller
k logs -n kube-system deployment/aws-load-balancer-controller --tail=50
k get ingress -n "$ns" -o yaml
k describe svc "$svc" -n "$ns"
# §10 network
a ec2 describe-network-acls
a ec2 describe-route-tables
a ec2 describe-subnets
# §11 kube-proxy
k get daemonset kube-proxy -n kube-system
k get pods -n kube-system -l k8s-app=kube-proxy -o wide
exit 0
