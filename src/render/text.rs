//! The text report: what a person woken by the alarm reads first. Root cause and fix at the
//! top, then every check in one line each, then the details of other problems.

use std::fmt::Write;

use crate::checks::{Finding, Status};
use crate::diagnosis::{Diagnosis, VerdictStatus};

struct Paint(bool);

impl Paint {
    fn code(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.code("1", s)
    }
    fn status(&self, st: Status) -> String {
        let (label, code) = match st {
            Status::Pass => ("PASS", "32"),
            Status::Fail => ("FAIL", "1;31"),
            Status::Warn => ("WARN", "33"),
            Status::Unknown => ("UNKNOWN", "35"),
            Status::Skipped => ("SKIP", "2"),
        };
        self.code(code, &format!("{label:<7}"))
    }
}

/// Renders the report; `color` adds ANSI colours (the CLI passes true only on a TTY).
pub fn text(d: &Diagnosis, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    let verdict = match d.verdict.status {
        VerdictStatus::Healthy => p.code("1;32", "HEALTHY"),
        VerdictStatus::Problem => p.code("1;31", "PROBLEM"),
        VerdictStatus::Inconclusive => p.code("1;33", "INCONCLUSIVE"),
    };
    let _ = writeln!(out, "{} {verdict}  {}", p.bold("eks-lb-doctor"), d.verdict.summary);
    let _ = writeln!(out);
    let tg = &d.target_group;
    let hc = tg
        .health_check
        .as_ref()
        .map(|h| {
            format!(
                "; health check {} {} {} expecting {}",
                h.protocol.as_deref().unwrap_or("?"),
                h.port.as_deref().unwrap_or("?"),
                h.path.as_deref().unwrap_or(""),
                h.matcher.as_deref().unwrap_or("?")
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  Target group  {} ({} targets, {}{hc})",
        tg.name,
        tg.target_type.as_deref().unwrap_or("?"),
        tg.protocol.as_deref().unwrap_or("?")
    );
    let _ = writeln!(out, "                {}", tg.arn);
    let _ = writeln!(out, "  Cluster       {}", d.cluster.as_deref().unwrap_or("(unknown)"));
    match &d.service {
        Some(s) => {
            let port = s.port.as_ref().map(|p| format!(":{p}")).unwrap_or_default();
            let _ = writeln!(out, "  Service       {}/{}{port} (found by {})", s.namespace, s.name, s.resolved_by);
        }
        None => {
            let _ = writeln!(out, "  Service       (not found)");
        }
    }
    let unhealthy: Vec<String> = d
        .targets
        .iter()
        .filter(|t| t.state != "healthy")
        .map(|t| {
            let place = t.pod.as_deref().or(t.node.as_deref()).map(|s| format!(" {s}")).unwrap_or_default();
            format!("{}{} {} {}", t.id, place, t.state, t.reason.as_deref().unwrap_or(""))
        })
        .collect();
    let _ = writeln!(
        out,
        "  Targets       {} registered, {} not healthy",
        d.targets.len(),
        unhealthy.len()
    );
    for t in unhealthy.iter().take(10) {
        let _ = writeln!(out, "                - {}", t.trim_end());
    }
    if unhealthy.len() > 10 {
        let _ = writeln!(out, "                … and {} more", unhealthy.len() - 10);
    }

    if let Some(root) = d.verdict.root_cause.and_then(|id| d.finding(id)) {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{} {} — {}",
            p.code("1;31", "Root cause:"),
            p.bold(root.check.as_str()),
            root.title
        );
        detail(&mut out, &p, root);
    }

    if !d.recent_changes.is_empty() || d.aws_changes_unknown.is_some() {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", p.bold("Recent changes"));
        for c in &d.recent_changes {
            let _ = writeln!(out, "  - {}", c.sentence());
        }
        if let Some(why) = &d.aws_changes_unknown {
            let _ = writeln!(out, "  (AWS changes unknown: {why})");
        }
    }

    let _ = writeln!(out);
    let _ = writeln!(out, "{}", p.bold("Checks"));
    for f in &d.findings {
        let _ = writeln!(out, "  {} {:<20} {}", p.status(f.status), f.check.as_str(), one_line(f));
    }

    let others: Vec<&Finding> = d
        .findings
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Warn) && Some(f.check) != d.verdict.root_cause)
        .collect();
    if !others.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", p.bold("Other findings"));
        for f in others {
            let _ = writeln!(out, "{} {} — {}", p.status(f.status).trim_end(), p.bold(f.check.as_str()), f.title);
            detail(&mut out, &p, f);
        }
    }
    links(&mut out, &p, d);
    out
}

/// The console pages to open next: the target group, its load balancers, this run's logs.
fn links(out: &mut String, p: &Paint, d: &Diagnosis) {
    let region = d.target_group.arn.split(':').nth(3).unwrap_or("us-east-1");
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", p.bold("Links"));
    let _ = writeln!(
        out,
        "  Target group   {}",
        super::console_link(region, "TargetGroup", &d.target_group.arn)
    );
    for lb in &d.target_group.load_balancer_arns {
        let _ = writeln!(out, "  Load balancer  {}", super::console_link(region, "LoadBalancer", lb));
    }
    if let Some(logs) = &d.function_logs {
        let _ = writeln!(out, "  Function logs  {logs}");
    }
}

fn one_line(f: &Finding) -> String {
    match f.status {
        Status::Skipped | Status::Unknown => f.detail.clone(),
        _ => f.title.clone(),
    }
}

fn detail(out: &mut String, p: &Paint, f: &Finding) {
    let _ = writeln!(out, "  {}", f.detail);
    if !f.remediation.is_empty() {
        let _ = writeln!(out, "  {}", p.bold("Fix:"));
        for r in &f.remediation {
            let _ = writeln!(out, "    {}", p.code("36", r));
        }
    }
}
