//! The crate graph keeps ARCHITECTURE.md's promises. Its invariants say which crate may not
//! depend on which; this test reads the resolved graph from `cargo metadata` and fails when a
//! crate gains a dependency they rule out, directly or through another crate. It also checks
//! what cargo-machete (in `.ci/run`) does not: that every dev-dependency is used by the
//! crate's tests, benches or test modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// What each workspace crate must not depend on (by package name), directly or through
/// another crate, counting normal and build dependencies (not dev-dependencies, which only
/// tests see). Each line is an invariant of ARCHITECTURE.md.
const RULED_OUT: &[(&str, &[&str], &str)] = &[
    (
        "kpi-domain",
        &[
            "tokio",
            "sled",
            "poem",
            "async-graphql",
            "hyper",
            "reqwest",
            "kpi-access",
            "kpi-store",
            "kpi-service",
            "kpi-graphql",
            "kpi-server",
            "kpi-web",
        ],
        "the domain never does I/O",
    ),
    (
        "kpi-store",
        &[
            "kpi-domain",
            "kpi-service",
            "kpi-graphql",
            "kpi-server",
            "kpi-web",
            "poem",
            "async-graphql",
        ],
        "the store knows nothing of KPIs",
    ),
    (
        "kpi-server",
        &[
            "kpi-service",
            "kpi-store",
            "kpi-domain",
            "kpi-graphql",
            "kpi-web",
            "sled",
        ],
        "the HTTP shell knows no ledger",
    ),
    (
        "kpi-graphql",
        &["kpi-web", "kpi-server", "poem"],
        "GraphQL and the web pages never depend on each other",
    ),
    (
        "kpi-web",
        &["kpi-graphql"],
        "GraphQL and the web pages never depend on each other",
    ),
    (
        "kpi-access",
        &[
            "kpi-domain",
            "kpi-store",
            "kpi-service",
            "tokio",
            "sled",
            "poem",
            "async-graphql",
        ],
        "who may do what is shared by the shell and the service, and needs neither",
    ),
    (
        "kpi-report",
        &[
            "tokio",
            "sled",
            "poem",
            "async-graphql",
            "kpi-store",
            "kpi-service",
        ],
        "rendering is pure",
    ),
    (
        "kpi-import",
        &[
            "tokio",
            "sled",
            "poem",
            "async-graphql",
            "kpi-store",
            "kpi-service",
        ],
        "reading bulk files is pure",
    ),
    (
        "kpi-charts",
        &[
            "tokio",
            "sled",
            "poem",
            "async-graphql",
            "kpi-store",
            "kpi-service",
        ],
        "charts are pure",
    ),
    (
        "kpi-proof",
        &[
            "tokio",
            "sled",
            "tokio-postgres",
            "poem",
            "async-graphql",
            "kpi-domain",
            "kpi-store",
            "kpi-service",
        ],
        "the tree and proof arithmetic is pure: the store reads nodes, the verifiers read bundles",
    ),
];

/// Crates that may use the store's types only through the service: a direct dependency on
/// kpi-store is ruled out (the service translates store errors and re-exports what callers
/// read).
const NOT_DIRECTLY_ON_STORE: &[&str] = &["kpi-graphql", "kpi-web"];

struct Graph {
    /// Package id -> name, for every package in the resolved graph.
    names: BTreeMap<String, String>,
    /// Package id -> ids of its normal and build dependencies.
    edges: BTreeMap<String, Vec<String>>,
    /// Package id -> ids of its direct normal and build dependencies.
    direct: BTreeMap<String, Vec<String>>,
    members: Vec<Value>,
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            "x86_64-unknown-linux-gnu",
        ])
        .current_dir(&root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

fn graph() -> Graph {
    let meta = metadata();
    let names = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let member_ids: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    let members = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| member_ids.contains(p["id"].as_str().unwrap()))
        .cloned()
        .collect();
    let mut edges = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|dep| {
                dep["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|kind| kind["kind"].as_str() != Some("dev"))
            })
            .map(|dep| dep["pkg"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>();
        edges.insert(node["id"].as_str().unwrap().to_owned(), deps);
    }
    let direct = edges.clone();
    Graph {
        names,
        edges,
        direct,
        members,
    }
}

impl Graph {
    fn id(&self, name: &str) -> &str {
        let ids: Vec<&String> = self
            .names
            .iter()
            .filter(|(id, n)| *n == name && self.is_member(id))
            .map(|(id, _)| id)
            .collect();
        assert_eq!(
            ids.len(),
            1,
            "workspace crate `{name}` not found (or found twice)"
        );
        ids[0]
    }

    fn is_member(&self, id: &str) -> bool {
        self.members.iter().any(|p| p["id"].as_str() == Some(id))
    }

    /// Every package `from` depends on, with the path by which it does.
    fn reachable(&self, from: &str) -> BTreeMap<String, Vec<String>> {
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut stack = vec![(from.to_owned(), vec![self.names[from].clone()])];
        while let Some((id, path)) = stack.pop() {
            for dep in self.edges.get(&id).into_iter().flatten() {
                if seen.contains_key(&self.names[dep]) {
                    continue;
                }
                let mut path = path.clone();
                path.push(self.names[dep].clone());
                seen.insert(self.names[dep].clone(), path.clone());
                stack.push((dep.clone(), path));
            }
        }
        seen
    }
}

#[test]
fn no_crate_depends_on_what_the_architecture_rules_out() {
    let graph = graph();
    let mut broken = Vec::new();
    for (krate, ruled_out, invariant) in RULED_OUT {
        let reachable = graph.reachable(graph.id(krate));
        for name in *ruled_out {
            if let Some(path) = reachable.get(*name) {
                broken.push(format!(
                    "{krate} depends on {name} ({}): {invariant}",
                    path.join(" -> ")
                ));
            }
        }
    }
    for krate in NOT_DIRECTLY_ON_STORE {
        let id = graph.id(krate);
        if graph.direct[id]
            .iter()
            .any(|dep| graph.names[dep] == "kpi-store")
        {
            broken.push(format!(
                "{krate} depends on kpi-store directly: it reads the store through kpi-service"
            ));
        }
    }
    assert!(
        broken.is_empty(),
        "the crate graph breaks ARCHITECTURE.md:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_rules_name_every_workspace_crate_they_mention() {
    // A renamed crate must not make a rule vacuous.
    let graph = graph();
    let member_names: BTreeSet<&str> = graph
        .members
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for (krate, ruled_out, _) in RULED_OUT {
        assert!(
            member_names.contains(krate),
            "rule for unknown crate `{krate}`"
        );
        for name in ruled_out.iter().filter(|name| name.starts_with("kpi-")) {
            assert!(
                member_names.contains(name),
                "rule names unknown crate `{name}`"
            );
        }
    }
    // And the domain's rule is not vacuous: the binary does reach every crate it rules out.
    let binary = graph.reachable(graph.id("kpi-ledger"));
    for name in ["tokio", "sled", "poem", "async-graphql", "hyper"] {
        assert!(
            binary.contains_key(name),
            "the binary no longer depends on {name}: update RULED_OUT"
        );
    }
}

/// The names a dependency is used by in Rust code: its library's crate name, or the name it
/// is renamed to.
fn crate_names(dependency: &Value) -> Vec<String> {
    let mut names = vec![dependency["name"].as_str().unwrap().replace('-', "_")];
    if let Some(rename) = dependency["rename"].as_str() {
        names.push(rename.replace('-', "_"));
    }
    names
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n != "target" && n != "node_modules")
            {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn mentions(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

#[test]
fn every_dev_dependency_is_used() {
    let graph = graph();
    let mut unused = Vec::new();
    for package in &graph.members {
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap());
        let dir = manifest.parent().unwrap();
        let mut files = Vec::new();
        rust_files(dir, &mut files);
        let text: String = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        let own = package["name"].as_str().unwrap();
        for dependency in package["dependencies"].as_array().unwrap() {
            if dependency["kind"].as_str() != Some("dev")
                || dependency["name"].as_str() == Some(own)
            {
                // A crate's dev-dependency on itself only turns features on.
                continue;
            }
            if !crate_names(dependency)
                .iter()
                .any(|name| mentions(&text, name))
            {
                unused.push(format!(
                    "{own}: dev-dependency `{}`",
                    dependency["name"].as_str().unwrap()
                ));
            }
        }
    }
    assert!(
        unused.is_empty(),
        "dev-dependencies no test, bench or test module uses:\n{}",
        unused.join("\n")
    );
}
