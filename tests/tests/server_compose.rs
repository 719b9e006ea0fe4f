//! The container files: docker-compose.yml must validate with Debian's `docker-compose` (no
//! Docker engine runs here, so validation is what CI can do), and must keep what the
//! deployment relies on: the serve command, the data volume, the read-only config mount, the
//! tokens file on a volume of its own, the published port and the /healthz check. The
//! Dockerfile's runtime stage must have curl for that check.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

fn compose(args: &[&str]) -> (bool, String, String) {
    let output = Command::new("docker-compose")
        .args(["--file", "docker-compose.yml"])
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|err| {
            panic!("cannot run docker-compose ({err}): install Debian's docker-compose package (.ci/run does)")
        });
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn compose_file_is_valid() {
    let (ok, stdout, stderr) = compose(&["config", "--quiet"]);
    assert!(
        ok,
        "docker-compose config reports errors:\n{stdout}\n{stderr}"
    );
}

#[test]
fn compose_keeps_what_the_deployment_relies_on() {
    let (ok, services, stderr) = compose(&["config", "--services"]);
    assert!(ok, "{stderr}");
    let services: Vec<&str> = services.lines().collect();
    assert_eq!(
        services,
        ["kpi-ledger", "postgres", "gateway-a", "gateway-b"]
    );
    let (ok, volumes, stderr) = compose(&["config", "--volumes"]);
    assert!(ok, "{stderr}");
    let volumes: Vec<&str> = volumes.lines().collect();
    assert_eq!(
        volumes,
        [
            "ledger-data",
            "ledger-tokens",
            "postgres-data",
            "gateway-a-data",
            "gateway-b-data"
        ]
    );

    let (ok, resolved, stderr) = compose(&["config"]);
    assert!(ok, "{stderr}");
    let resolved = service(&resolved, "kpi-ledger");
    // The default deployment is sled alone: `docker compose up` starts nothing else.
    assert!(!resolved.contains("profiles:"), "{resolved}");
    for expected in [
        "- serve\n    - --config\n    - /etc/kpi-ledger/default.toml",
        "ledger-data:/var/lib/kpi-ledger",
        "/config:/etc/kpi-ledger:ro",
        "8080:8080",
        "http://127.0.0.1:8080/healthz",
        "KPI_LEDGER_SERVER__BIND: 0.0.0.0:8080",
        "KPI_LEDGER_DATA_DIR: /var/lib/kpi-ledger",
        // Tokens added while serving, outside the read-only config and the store's directory.
        "KPI_LEDGER_SERVER__TOKENS_FILE: /var/lib/kpi-ledger-tokens/tokens.toml",
        "ledger-tokens:/var/lib/kpi-ledger-tokens",
    ] {
        assert!(
            resolved.contains(expected),
            "resolved compose file lacks `{expected}`:\n{resolved}"
        );
    }
}

/// The block of service `name` in the resolved compose file: its name's line and every line
/// indented below it.
fn service<'a>(resolved: &'a str, name: &str) -> &'a str {
    let header = format!("\n  {name}:\n");
    let start = resolved
        .find(&header)
        .unwrap_or_else(|| panic!("no service {name} in:\n{resolved}"))
        + 1;
    let body = start + header.len() - 1;
    let end = resolved[body..]
        .match_indices('\n')
        .map(|(at, _)| body + at + 1)
        .find(|&at| !resolved[at..].starts_with("    "))
        .unwrap_or(resolved.len());
    &resolved[start..end]
}

/// Profile `postgres`: a PostgreSQL 15 database, unpublished, whose password comes from the
/// environment, and two gateways on it, each with its own data volume and port, one tokens
/// volume, started once the database is healthy.
#[test]
fn the_postgres_profile_runs_two_gateways_on_one_database() {
    let output = Command::new("docker-compose")
        .args([
            "--file",
            "docker-compose.yml",
            "--profile",
            "postgres",
            "config",
        ])
        .env("KPI_POSTGRES_PASSWORD", "from-the-environment")
        .current_dir(repo_root())
        .output()
        .expect("docker-compose runs");
    let resolved = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let database = service(&resolved, "postgres");
    for expected in [
        "image: postgres:15",
        "POSTGRES_PASSWORD: from-the-environment",
        "postgres-data:/var/lib/postgresql/data",
        "pg_isready",
        "- postgres",
    ] {
        assert!(
            database.contains(expected),
            "postgres lacks `{expected}`:\n{database}"
        );
    }
    assert!(
        !database.contains("ports:"),
        "the database is not published:\n{database}"
    );
    for (name, port) in [("gateway-a", "8081"), ("gateway-b", "8082")] {
        let gateway = service(&resolved, name);
        for expected in [
            "- serve\n    - --config\n    - /etc/kpi-ledger/default.toml".to_owned(),
            "KPI_LEDGER_STORE__BACKEND: postgres".to_owned(),
            "KPI_LEDGER_STORE__POSTGRES__URL: postgresql://kpi:from-the-environment@postgres:5432/kpi"
                .to_owned(),
            format!("127.0.0.1:{port}:8080"),
            format!("{name}-data:/var/lib/kpi-ledger"),
            "ledger-tokens:/var/lib/kpi-ledger-tokens".to_owned(),
            "condition: service_healthy".to_owned(),
            "http://127.0.0.1:8080/healthz".to_owned(),
            "- postgres".to_owned(),
        ] {
            assert!(gateway.contains(&expected), "{name} lacks `{expected}`:\n{gateway}");
        }
    }
}

#[test]
fn dockerfile_builds_in_one_stage_and_runs_in_a_slim_one() {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let stages: Vec<&str> = dockerfile
        .lines()
        .filter(|line| line.starts_with("FROM "))
        .collect();
    assert_eq!(stages.len(), 2, "{stages:?}");
    assert!(stages[0].starts_with("FROM rust:") && stages[0].ends_with(" AS builder"));
    assert!(stages[1].starts_with("FROM debian:") && stages[1].contains("-slim"));
    let runtime = &dockerfile[dockerfile.find(stages[1]).unwrap()..];
    assert!(runtime.contains(" curl"), "the health check needs curl");
    assert!(runtime.contains("COPY --from=builder"));
    assert!(runtime
        .contains(r#"CMD ["kpi-ledger", "serve", "--config", "/etc/kpi-ledger/default.toml"]"#));
    // `kpi-ledger token add` in the container writes here, outside the store's directory.
    assert!(
        runtime.contains("KPI_LEDGER_SERVER__TOKENS_FILE=/var/lib/kpi-ledger-tokens/tokens.toml")
    );
    assert!(
        runtime.contains("install -d -o kpi -g kpi /var/lib/kpi-ledger /var/lib/kpi-ledger-tokens")
    );
    // The image bakes in, and the compose file mounts, the config directory.
    assert!(dockerfile.contains("COPY config /etc/kpi-ledger"));
    assert!(repo_root().join("config").is_dir());
}

/// Debian's docker-compose 1.x (the one CI validates with) builds through the classic
/// builder, which rejects BuildKit-only instructions such as `RUN --mount`.
#[test]
fn dockerfile_builds_without_buildkit() {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim_start)
        .filter(|line| !line.starts_with('#'))
        .collect();
    for buildkit_only in ["--mount=", "--link", "<<"] {
        assert!(
            !instructions.iter().any(|line| line.contains(buildkit_only)),
            "the Dockerfile uses `{buildkit_only}`, which only BuildKit understands"
        );
    }
    assert!(
        !dockerfile.starts_with("# syntax="),
        "a syntax directive pulls a BuildKit frontend"
    );
}
