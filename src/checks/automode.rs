//! EKS Auto Mode: when AWS runs the load-balancing controller for the cluster (outside it, with
//! the cluster IAM role), and when a node runs kube-proxy as part of the node rather than as a
//! pod. Pure; read by the controller and kube-proxy checks.

use k8s_openapi::api::core::v1::Node;

use crate::annotations::{AUTO_ALB_CONTROLLER, AUTO_NLB_CLASS};
use crate::snapshot::View;

use crate::mapping::{TAG_AUTO_CLUSTER, TAG_AUTO_INGRESS_STACK, TAG_AUTO_SERVICE_STACK};

/// The label EKS Auto Mode puts on its nodes (EKS user guide, associate-workload).
pub const AUTO_NODE_LABEL: (&str, &str) = ("eks.amazonaws.com/compute-type", "auto");

/// Is this an EKS Auto Mode node? Auto Mode nodes run kube-proxy in the node image, so no
/// kube-proxy pod is scheduled on them.
pub fn auto_mode_node(node: &Node) -> bool {
    (node.metadata.labels.as_ref())
        .and_then(|l| l.get(AUTO_NODE_LABEL.0))
        .map(String::as_str)
        == Some(AUTO_NODE_LABEL.1)
}

impl View<'_> {
    /// Why this target group's load balancing is EKS Auto Mode's, if it is: its tags (what Auto
    /// Mode puts on the groups it creates, and what its policy requires on a group it registers
    /// into), the Service's load balancer class, or an Ingress of Auto Mode's IngressClass.
    pub fn auto_mode(&self) -> Option<String> {
        let arn = &self.snap.request.target_group_arn;
        if let Some(b) =
            (self.snap.kube.target_group_bindings.ok().into_iter().flatten()).find(|b| b.auto_mode && &b.target_group_arn == arn)
        {
            return Some(format!("TargetGroupBinding {}/{} of eks.amazonaws.com", b.namespace, b.name));
        }
        if let Some(tags) = self.snap.aws.target_group_tags.ok() {
            for key in [TAG_AUTO_SERVICE_STACK, TAG_AUTO_INGRESS_STACK, TAG_AUTO_CLUSTER] {
                if let Some(v) = tags.get(key) {
                    return Some(format!("the target group's tag {key}={v}"));
                }
            }
        }
        let svc = self.service.as_ref().ok();
        if svc.and_then(|s| s.spec.as_ref()?.load_balancer_class.as_deref()) == Some(AUTO_NLB_CLASS) {
            return Some(format!("the Service's loadBalancerClass {AUTO_NLB_CLASS}"));
        }
        let auto_classes: Vec<&str> = (self.snap.kube.ingress_classes.ok().into_iter().flatten())
            .filter(|c| c.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(AUTO_ALB_CONTROLLER))
            .filter_map(|c| c.metadata.name.as_deref())
            .collect();
        let ingress = self
            .alb_ingresses()
            .into_iter()
            .find(|i| (i.spec.as_ref().and_then(|s| s.ingress_class_name.as_deref())).is_some_and(|c| auto_classes.contains(&c)));
        ingress.map(|i| {
            format!(
                "Ingress {} of an IngressClass whose controller is {AUTO_ALB_CONTROLLER}",
                i.metadata.name.as_deref().unwrap_or("?")
            )
        })
    }
}
