#!/usr/bin/env bash
# Gives the function's role read access to one EKS cluster: applies the read-only RBAC and maps
# the role to its group with an EKS access entry. Run with cluster-admin kubectl access.
#
#   infra/access-entry.sh CLUSTER FUNCTION_ROLE_ARN [--with-remediation]
#
# FUNCTION_ROLE_ARN is the stack's FunctionRoleArn output (or the cross-account role's ARN when
# the function reads that cluster through ASSUME_ROLE_ARN_TEMPLATE).
set -euo pipefail
cluster="${1:?cluster name}"
role="${2:?function role ARN}"
groups=(eks-lb-doctor-readers)
here="$(cd "$(dirname "$0")" && pwd)"

kubectl apply -f "$here/rbac.yaml"
if [[ "${3:-}" == "--with-remediation" ]]; then
  kubectl apply -f "$here/rbac-remediate-kube-proxy.yaml"
  groups+=(eks-lb-doctor-remediators)
fi
aws eks create-access-entry --cluster-name "$cluster" --principal-arn "$role" --kubernetes-groups "${groups[@]}" \
  || aws eks update-access-entry --cluster-name "$cluster" --principal-arn "$role" --kubernetes-groups "${groups[@]}"
echo "access entry for $role on $cluster: groups ${groups[*]}"
