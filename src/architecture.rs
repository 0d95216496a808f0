//! The module rules of ARCHITECTURE.md, checked on the source: which top-level module may use
//! which (`crate::…` paths outside test code), no cycle among them, and I/O only where it is
//! allowed. `cargo test architecture` runs them; a failure names the offending file and path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Who may use whom. A module missing here fails the test: new modules declare their place.
const ALLOWED: &[(&str, &[&str])] = &[
    // Leaves and pure data.
    ("aws_error", &[]),
    ("cidr", &[]),
    ("matcher", &[]),
    ("shell", &[]),
    ("trigger", &[]),
    ("annotations", &["matcher"]),
    ("snapshot", &["trigger", "cidr", "matcher"]),
    ("net", &["snapshot", "cidr"]),
    ("mapping", &["snapshot"]),
    ("gateway", &["snapshot"]),
    ("changes", &["snapshot", "annotations"]),
    ("error", &["trigger", "snapshot"]),
    ("config", &["error", "trigger"]),
    // The pure middle.
    (
        "checks",
        &[
            "snapshot",
            "annotations",
            "net",
            "cidr",
            "matcher",
            "mapping",
            "gateway",
            "trigger",
            "shell",
        ],
    ),
    ("diagnosis", &["checks", "snapshot", "changes"]),
    ("fleet", &["diagnosis", "checks"]),
    ("render", &["diagnosis", "checks", "snapshot", "trigger", "fleet"]),
    // The ones that do I/O: a signed JSON call shared by two of them, then the three.
    ("aws_json", &[]),
    (
        "collect",
        &[
            "snapshot",
            "mapping",
            "gateway",
            "trigger",
            "config",
            "error",
            "aws_error",
            "aws_json",
            "net",
            "cidr",
            "matcher",
        ],
    ),
    (
        "publish",
        &[
            "render",
            "diagnosis",
            "fleet",
            "trigger",
            "config",
            "error",
            "aws_error",
            "aws_json",
        ],
    ),
    (
        "remediate",
        &["collect", "config", "diagnosis", "checks", "snapshot", "trigger", "publish"],
    ),
    // The request flow and the two entry points.
    (
        "pipeline",
        &[
            "collect",
            "config",
            "diagnosis",
            "error",
            "publish",
            "remediate",
            "render",
            "snapshot",
            "trigger",
            "mapping",
            "fleet",
        ],
    ),
    ("handler", &["pipeline", "collect", "config", "error", "trigger", "fleet"]),
    (
        "cli",
        &[
            "pipeline",
            "collect",
            "config",
            "error",
            "trigger",
            "render",
            "checks",
            "diagnosis",
            "snapshot",
        ],
    ),
];

/// Modules that may do I/O (network, files, clocks aside).
const IO: &[&str] = &["aws_json", "collect", "publish", "remediate", "pipeline", "handler", "cli"];
/// What I/O looks like in the source.
const IO_MARKERS: &[&str] = &[
    "reqwest::",
    "aws_sdk_",
    "kube::Api",
    "kube::Client",
    "::kube::",
    "std::fs::",
    "tokio::net",
    "std::net::Tcp",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
        let p = entry.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to (`src/checks/nodes.rs` → `checks`), or `None` for
/// lib.rs, the binaries and test-only files.
fn module_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    match name {
        "lib" | "bin" | "fixtures" | "architecture" => None,
        _ if rel.components().any(|c| c.as_os_str() == "tests.rs") => None,
        _ => Some(name.to_string()),
    }
}

/// The code a module ships: the file up to its `#[cfg(test)]` part, comments dropped.
fn shipped_code(text: &str) -> String {
    let end = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !t.starts_with("//")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `crate::x` paths (and `use crate::{x, y}` lists) in the code.
fn crate_uses(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let end = list.find('}').unwrap_or(list.len());
            for item in list[..end].split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            out.insert(name);
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let mut all = Vec::new();
    files(&src(), &mut all);
    // The crate's modules; other `crate::x` are items of lib.rs (`crate::diagnose`, `Config`).
    let modules: BTreeSet<String> = all.iter().filter_map(|p| module_of(p)).collect();
    let mut graph: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for path in all {
        let Some(module) = module_of(&path) else { continue };
        let code = shipped_code(&std::fs::read_to_string(&path).unwrap());
        let edges = graph.entry(module.clone()).or_default();
        for used in crate_uses(&code) {
            if used != module && modules.contains(&used) {
                edges.entry(used).or_insert_with(|| path.clone());
            }
        }
    }
    graph
}

#[test]
fn every_module_uses_only_what_architecture_md_allows() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    for (module, uses) in graph() {
        let Some(ok) = allowed.get(module.as_str()) else {
            wrong.push(format!("{module}: not in ALLOWED (src/architecture.rs) nor ARCHITECTURE.md"));
            continue;
        };
        for (used, file) in uses {
            if !ok.contains(&used.as_str()) {
                wrong.push(format!("{} uses crate::{used}, which {module} may not", file.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "module rules broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = graph();
    // Depth-first search, reporting the first cycle found as a path.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeMap<String, PathBuf>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|e| e.keys()) {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut vec![], &mut done) {
            panic!("module cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn only_collect_publish_and_remediate_do_io() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let mut wrong = Vec::new();
    for path in all {
        let Some(module) = module_of(&path) else { continue };
        if IO.contains(&module.as_str()) {
            continue;
        }
        let code = shipped_code(&std::fs::read_to_string(&path).unwrap());
        for marker in IO_MARKERS {
            if code.contains(marker) {
                wrong.push(format!("{}: {marker}", path.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "I/O outside collect/publish/remediate:\n{}", wrong.join("\n"));
}

#[test]
fn the_rule_checker_sees_a_forbidden_use() {
    // GIVEN code of a check that reaches into collect
    let code = shipped_code("use crate::collect::kube::X;\nuse crate::{snapshot, net::Cidr};\n// crate::publish in a comment\n#[cfg(test)]\nuse crate::fixtures::*;");
    // THEN the parser finds exactly the shipped uses
    assert_eq!(
        crate_uses(&code),
        ["collect", "net", "snapshot"].iter().map(|s| s.to_string()).collect()
    );
}
