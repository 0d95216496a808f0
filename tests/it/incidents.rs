//! Publicly reported, resolved target-health incidents (issue 18), each reconstructed on the local
//! stack through the real APIs (`scripts/stack/scenarios.py`) and diagnosed as a user would. Each
//! test says where the thread is, what was reported, what fixed it, and what was adapted; it
//! asserts the root cause the fix confirms, that the explanation names the decisive fact, and
//! that the tempting wrong fix is not printed. The table is docs/incidents.md.

use crate::harness::{failing, finding, fixes, stack};

/// https://github.com/k8gb-io/k8gb/issues/1741 "CoreDNS AWS NLB health check not getting healthy".
///
/// Reported: k8gb's CoreDNS Service (one port, 53/UDP → 5353) behind an AWS NLB; the target
/// group's targets never become healthy. Confirmed resolution: UDP cannot be health-checked; point
/// the health check at a port that takes TCP (`service.beta.kubernetes.io/aws-load-balancer-
/// healthcheck-port`, there another Service's NodePort), or expose a TCP port. The controller's
/// maintainer says the same for UDP target groups in kubernetes-sigs/aws-load-balancer-controller
/// #2144. Adapted: instance targets on the UDP NodePort, the controller's default TCP check on
/// `traffic-port`, targets `Target.FailedHealthChecks`; the NLB has a frontend security group the
/// nodes admit (so the network is not it).
#[test]
fn udp_service_probed_over_tcp_on_its_udp_port_is_the_health_check_config() {
    // GIVEN the reconstructed incident
    let s = stack();
    let seed = s.seed("udp-only-health-check");
    // WHEN diagnosed
    let (d, code) = s.diagnose(seed["targetGroupArn"].as_str().unwrap());
    // THEN the root cause is the health check's configuration, naming UDP and the probed port
    assert_eq!(code, 1);
    assert_eq!(
        d["verdict"]["rootCause"],
        "health-check-config",
        "failing: {:?}\n{}",
        failing(&d),
        d["verdict"]["summary"]
    );
    let detail = finding(&d, "health-check-config")["detail"].as_str().unwrap().to_string();
    let port = seed["nodePort"].as_u64().unwrap();
    assert!(
        detail.contains("forwards UDP") && detail.contains(&format!("port {port}")) && detail.contains("only UDP"),
        "{detail}"
    );
    // AND the fix is a TCP health endpoint the check is pointed at, never a UDP health check (AWS
    // has none) and never a security-group change (the check is allowed; nothing answers it)
    let all = fixes(&d);
    assert!(all.iter().any(|f| f.contains("aws-load-balancer-healthcheck-port")), "{all:?}");
    assert!(
        all.iter()
            .all(|f| !f.contains("--health-check-protocol UDP") && !f.contains("authorize-security-group")),
        "{all:?}"
    );
    assert_ne!(finding(&d, "security-groups")["status"], "fail");
}
