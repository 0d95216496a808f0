//! The Gateway API through the AWS Load Balancer Controller (#15), on the Gateway API v1.6.0 and
//! controller v3.5.0 CRDs: a Gateway's target group is traced to its Gateway, route and Service,
//! and its health-check findings name the object and field that set the value, with a fix that
//! edits that object (never the target group, which the controller would set back). Each fix is
//! pasted into a shell, as a user would, with `kubectl` on PATH answering from the stack.

use serde_json::Value;

use crate::harness::{finding, fixes, repo, stack, Stack};

/// Runs a printed fix in `sh` with scripts/stack/kubectl.py as `kubectl`; returns its output.
fn paste(s: &Stack, fix: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let shim = dir.path().join("kubectl");
    let script = format!(
        "#!/bin/sh\nexec python3 {} \"$@\"\n",
        repo().join("scripts/stack/kubectl.py").display()
    );
    std::fs::write(&shim, script).unwrap();
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap_or_default());
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(fix)
        .envs(&s.env)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{fix}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn detail(d: &Value, check: &str) -> String {
    finding(d, check)["detail"].as_str().unwrap().to_string()
}

#[test]
fn gateway_health_check_path_is_fixed_in_its_target_group_configuration() {
    // GIVEN HTTPRoute web of Gateway gw sends to Service web, whose TargetGroupConfiguration sets
    // the health-check path /healthz, which answers 404; the pods are ready on /ready
    let s = stack();
    let seed = s.seed("gateway-tgc");
    let ns = seed["namespace"].as_str().unwrap();
    let tg = seed["targetGroupArn"].as_str().unwrap();
    // WHEN diagnosed
    let (d, _) = s.diagnose(tg);
    // THEN the target group is traced through the route and the Gateway to the Service
    assert_eq!(d["verdict"]["rootCause"], "health-check-config", "{:#}", d["verdict"]);
    assert!(
        detail(&d, "service-mapping").contains(&format!(
            "Service {ns}/web:80, the backend of HTTPRoute {ns}/web of Gateway {ns}/gw (class {ns}-alb)"
        )),
        "{}",
        detail(&d, "service-mapping")
    );
    // AND the finding names the object and field that set the path, and the fix edits that object
    let f = finding(&d, "health-check-config");
    assert!(
        detail(&d, "health-check-config").contains(&format!(
            "TargetGroupConfiguration {ns}/web-tgc, spec.defaultConfiguration.healthCheckConfig.healthCheckPath"
        )),
        "{f:#}"
    );
    let fix = f["remediation"][0].as_str().unwrap();
    assert_eq!(
        fix,
        format!(
            "kubectl patch targetgroupconfiguration web-tgc -n {ns} --type merge -p '{{\"spec\":{{\"defaultConfiguration\":{{\"healthCheckConfig\":{{\"healthCheckPath\":\"/ready\"}}}}}}}}'"
        )
    );
    assert!(fixes(&d).iter().all(|x| !x.contains("modify-target-group")), "{:?}", fixes(&d));
    // AND the route and the Gateway, just made, are among the recent changes
    let changed: Vec<&str> = d["recentChanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["object"].as_str())
        .collect();
    assert!(changed.contains(&"httproute/web") && changed.contains(&"gateway/gw"), "{changed:?}");
    // AND pasted, the fix is accepted by the API server (the controller's CRD schema), and the
    // next diagnosis sees the configuration ask /ready while the group, not yet reconciled,
    // still has /healthz: it says so instead of printing the same fix again
    paste(s, fix);
    let (again, _) = s.diagnose(tg);
    let after = detail(&again, "health-check-config");
    assert!(
        after.contains("which asks /ready already while the target group still has /healthz: the controller has not applied it"),
        "{after}"
    );
    assert!(fixes(&again).iter().all(|x| !x.contains("kubectl patch")), "{:?}", fixes(&again));
}

#[test]
fn gateway_default_from_load_balancer_configuration_is_overridden_for_this_service_alone() {
    // GIVEN a platform team's Gateway in its own namespace whose LoadBalancerConfiguration names a
    // default TargetGroupConfiguration (path /healthz, interval 10 s) for every Service behind it;
    // Service web has none of its own, its pods are ready on /ready, and /healthz answers 404
    let s = stack();
    let seed = s.seed("gateway-default");
    let (ns, gw_ns) = (seed["namespace"].as_str().unwrap(), seed["gatewayNamespace"].as_str().unwrap());
    let tg = seed["targetGroupArn"].as_str().unwrap();
    // WHEN diagnosed
    let (d, _) = s.diagnose(tg);
    // THEN the route in the app's namespace is found for the Gateway in the platform's
    assert_eq!(d["verdict"]["rootCause"], "health-check-config", "{:#}", d["verdict"]);
    assert!(
        detail(&d, "service-mapping").contains(&format!("HTTPRoute {ns}/web of Gateway {gw_ns}/gw")),
        "{}",
        detail(&d, "service-mapping")
    );
    // AND the path is traced to the shared default, through the LoadBalancerConfiguration
    assert!(
        detail(&d, "health-check-config").contains(&format!(
            "set by TargetGroupConfiguration {gw_ns}/gw-defaults, spec.defaultConfiguration.healthCheckConfig.healthCheckPath, \
             the default that LoadBalancerConfiguration {gw_ns}/gw-config (the Gateway's) gives every Service of the Gateway"
        )),
        "{}",
        detail(&d, "health-check-config")
    );
    // AND the fix gives this Service its own configuration, carrying the shared interval along,
    // and never edits the default every other Service of the Gateway uses
    let fix = finding(&d, "health-check-config")["remediation"][0].as_str().unwrap().to_string();
    assert!(fix.ends_with("| kubectl apply -f -"), "{fix}");
    assert!(
        fix.contains(r#""healthCheckConfig":{"healthCheckPath":"/ready","healthCheckInterval":10}"#)
            || fix.contains(r#""healthCheckConfig":{"healthCheckInterval":10,"healthCheckPath":"/ready"}"#),
        "{fix}"
    );
    assert!(
        fixes(&d)
            .iter()
            .all(|x| !x.contains("gw-defaults") && !x.contains("modify-target-group")),
        "{:?}",
        fixes(&d)
    );
    // AND pasted, the API server takes the new configuration, and the next diagnosis names it
    paste(s, &fix);
    let (again, _) = s.diagnose(tg);
    let after = detail(&again, "health-check-config");
    assert!(
        after.contains(&format!(
            "set by TargetGroupConfiguration {ns}/web, spec.defaultConfiguration.healthCheckConfig.healthCheckPath"
        )),
        "{after}"
    );
    assert!(after.contains("the controller has not applied it"), "{after}");
}
