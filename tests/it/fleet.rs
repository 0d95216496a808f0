//! Many target groups at once (issue 17): `scan`, a metric-math alarm through the shared
//! evidence pass, and the scheduled scan's publish-on-change, on the `fleet` scenario: three
//! Services behind one node group that lost its NodePort rule from the ALBs (one common cause),
//! one whose pods crash-loop (its own), one healthy.

use std::process::Command;

use eks_lb_doctor::collect::KubeAccess;
use eks_lb_doctor::handler::Handler;
use eks_lb_doctor::Config;
use serde_json::{json, Value};

use crate::harness::{on_main_sized_stack, stack, stack_sdk, unique_namespace, Stack};
use crate::publish::helper;

fn strs(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect()
}

fn name(arn: &str) -> String {
    arn.rsplit(':').next().unwrap().split('/').nth(1).unwrap().to_string()
}

#[test]
fn scan_names_the_shared_cause_once_and_the_crashlooping_service_apart() {
    // GIVEN the fleet scenario in its own namespace
    let s = stack();
    let seed = s.seed("fleet");
    let ns = seed["namespace"].as_str().unwrap();
    // WHEN the namespace is scanned
    let out = s.cli(&[
        "scan",
        "--namespace",
        ns,
        "--region",
        "us-east-1",
        "--cluster",
        "demo",
        "--output",
        "json",
    ]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // THEN five rows, exit 1 (problems found)
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(r["groups"].as_array().unwrap().len(), 5, "{r:#}");
    // AND one common cause: the nodes' group, with the three NodePort Services' groups, its fix once
    let causes = r["commonCauses"].as_array().unwrap();
    assert_eq!(causes.len(), 1, "{causes:#?}");
    assert_eq!(causes[0]["rootCause"], "security-groups");
    assert_eq!(strs(&causes[0]["resources"]), [seed["nodeGroup"].as_str().unwrap()]);
    let mut shared: Vec<String> = seed["shared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| name(a.as_str().unwrap()))
        .collect();
    shared.sort();
    let mut named = strs(&causes[0]["targetGroups"]);
    named.sort();
    assert_eq!(named, shared);
    let fix = strs(&causes[0]["fix"]);
    assert_eq!(fix.len(), 3, "one rule per NodePort: {fix:?}");
    assert!(fix
        .iter()
        .all(|f| f.contains(&format!("--group-id {}", seed["nodeGroup"].as_str().unwrap()))));
    // AND the crash-looping Service is a problem of its own, the healthy one healthy
    let row = |arn: &Value| {
        r["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["targetGroupArn"] == *arn)
            .unwrap()
            .clone()
    };
    let own = row(&seed["own"][0]);
    assert_eq!((own["rootCause"].as_str(), own.get("commonCause")), (Some("pod-status"), None));
    let healthy = row(&seed["healthy"][0]);
    assert_eq!((healthy["status"].as_str(), healthy["total"].as_u64()), (Some("healthy"), Some(2)));
    // AND the four problems were diagnosed in full, the healthy group from its target health alone
    assert_eq!(r["diagnoses"].as_array().unwrap().len(), 4);
}

/// AWS operations made under an SDK app id (`moto_server.py` counts them per app and service).
fn operations(s: &Stack, app: &str, service: &str) -> u64 {
    helper(s, &["calls", app])[format!("{service}+operations")].as_u64().unwrap_or(0)
}

/// Kubernetes requests by the `pass` user so far (the API server's audit log), once it stops growing.
fn pass_requests(s: &Stack) -> usize {
    let audit = std::path::Path::new(&s.env["KUBECONFIG"]).parent().unwrap().join("audit.log");
    let count = || {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["user"]["username"] == "pass" && e["stage"] == "ResponseComplete")
            .count()
    };
    let mut last = count();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = count();
        if now == last {
            return now;
        }
        last = now;
    }
}

async fn counted_handler(s: &Stack, app: &str) -> Handler {
    let sdk = stack_sdk(s)
        .await
        .to_builder()
        .app_name(aws_config::AppName::new(app.to_string()).unwrap())
        .build();
    let kubeconfig = std::path::Path::new(&s.env["KUBECONFIG"]).parent().unwrap().join("kubeconfig-pass");
    let kube = KubeAccess::from_kubeconfig(Some(&kubeconfig)).await;
    let config = Config {
        changes_window: eks_lb_doctor::config::ChangesWindow(0),
        ..Default::default()
    };
    Handler::with_clients(sdk, Some(kube), config)
}

#[test]
fn metric_math_alarm_over_four_groups_reads_the_shared_evidence_once() {
    on_main_sized_stack(metric_math_alarm)
}

async fn metric_math_alarm() {
    // GIVEN the fleet scenario, and the cost of one of its groups diagnosed alone
    let s = stack();
    let seed = s.seed("fleet");
    let (alone, pass) = (unique_namespace("alone"), unique_namespace("pass"));
    let shop0 = seed["shared"][0].as_str().unwrap();
    let k0 = pass_requests(s);
    counted_handler(s, &alone)
        .await
        .handle(&json!({"targetGroupArn": shop0}))
        .await
        .unwrap();
    let k1 = pass_requests(s) - k0;
    let (ec2_1, elb_1) = (operations(s, &alone, "ec2"), operations(s, &alone, "elasticloadbalancing"));
    // (and the EC2 cost of the ip group alone, which reads the cluster's nodes' instances)
    let alone_ip = unique_namespace("alone-ip");
    counted_handler(s, &alone_ip)
        .await
        .handle(&json!({"targetGroupArn": seed["own"][0]}))
        .await
        .unwrap();
    let ec2_ip = operations(s, &alone_ip, "ec2");
    let k_ip = pass_requests(s) - k0 - k1;
    // WHEN a metric-math alarm over the three shared-cause groups and the crash-looping one fires
    let groups: Vec<&str> = (0..3)
        .map(|i| seed["shared"][i].as_str().unwrap())
        .chain([seed["own"][0].as_str().unwrap()])
        .collect();
    let event = crate::lambda::alarm_for(&groups);
    let out = counted_handler(s, &pass).await.handle(&event).await.unwrap();
    let k4 = pass_requests(s) - k0 - k1 - k_ip;
    // THEN one report with the common cause
    assert_eq!(out["kind"], "alarm");
    assert_eq!(
        out["commonCauses"][0]["targetGroups"].as_array().unwrap().len(),
        3,
        "{:#}",
        out["commonCauses"]
    );
    assert_eq!(out["diagnoses"].as_array().unwrap().len(), 4);
    // AND the VPC's network (subnets, ACLs, routes, VPCs, security groups: 5 calls) was read once
    // for all four: the pass costs what the two kinds of group cost alone, less those 5 for the
    // second (the ip group reads the instances behind the cluster's nodes, 200 ids a call and
    // paginated, which the shared stack's other tests keep adding to: it is measured alone too,
    // just before, and may gain a page)
    let ec2 = operations(s, &pass, "ec2");
    let both = ec2_1 + ec2_ip;
    assert!(
        (both - 5..=both - 4).contains(&ec2),
        "ec2: {ec2_1} and {ec2_ip} alone, the pass {ec2}"
    );
    // AND of ELB, each group reads only its target health, attributes and listeners: the four
    // groups' descriptions, tags, load balancers and those's tags are one batch each (alone, a
    // diagnosis makes those 4 calls for itself)
    assert_eq!(operations(s, &pass, "elasticloadbalancing"), 4 + 4 * (elb_1 - 4), "alone {elb_1}");
    // AND Kubernetes: exactly what one diagnosis alone reads. The cluster's reads (nodes,
    // bindings, kube-proxy, the controller and its log) are made once, and the namespace's
    // Services, pods, endpoints, events and Ingresses are listed once for its four Services
    // (`collect::namespace`): no read per Service.
    assert_eq!(k4, k1, "alone {k1}, the pass {k4}");
}

#[test]
fn scheduled_scan_publishes_a_persisting_problem_once_and_again_when_its_cause_changes() {
    on_main_sized_stack(scheduled_scan)
}

async fn scheduled_scan() {
    // GIVEN one NodePort Service behind the node group without its rule, SNS read through SQS,
    // and the delivery table that keeps the scan's state
    let s = stack();
    let seed = s.seed("fleet");
    let ns = seed["namespace"].as_str().unwrap();
    let q = helper(s, &["sns-queue", &unique_namespace("scan")]);
    let table = helper(s, &["table", &unique_namespace("scans")]);
    let sdk = stack_sdk(s).await;
    let kube = KubeAccess::from_kubeconfig(Some(std::path::Path::new(&s.env["KUBECONFIG"]))).await;
    let config = Config {
        sns_topic_arn: q["topic"].as_str().map(String::from),
        delivery_table: table["table"].as_str().map(String::from),
        changes_window: eks_lb_doctor::config::ChangesWindow(0),
        ..Default::default()
    };
    let handler = Handler::with_clients(sdk, Some(kube), config);
    let payload = json!({"scan": {"cluster": "demo", "namespace": ns, "region": "us-east-1"}});
    // WHEN the schedule fires twice with nothing changed
    let first = handler.handle(&payload).await.unwrap();
    let second = handler.handle(&payload).await.unwrap();
    // THEN the first published, the second did not
    assert_eq!(
        (first["published"].as_bool(), second["published"].as_bool()),
        (Some(true), Some(false))
    );
    // WHEN the node group gets its NodePort range back (the targets still time out: the cause
    // is no longer the security group) and the schedule fires again
    let script = format!(
        "import boto3; boto3.client('ec2', region_name='us-east-1').authorize_security_group_ingress(GroupId='{}', IpPermissions=[{{'IpProtocol': 'tcp', 'FromPort': 30000, 'ToPort': 32767, 'IpRanges': [{{'CidrIp': '10.0.0.0/16'}}]}}])",
        seed["nodeGroup"].as_str().unwrap()
    );
    let ok = Command::new("python3").args(["-c", &script]).envs(&s.env).status().unwrap();
    assert!(ok.success());
    let third = handler.handle(&payload).await.unwrap();
    // THEN it published again: what is wrong changed
    assert_ne!(third["commonCauses"], first["commonCauses"]);
    assert_eq!(third["published"], true);
    // AND the topic holds exactly the two reports
    let count = helper(s, &["count", q["queue"].as_str().unwrap()])["count"].as_u64().unwrap();
    assert_eq!(count, 2);
}
