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
    assert_eq!(services.trim(), "kpi-ledger");
    let (ok, volumes, stderr) = compose(&["config", "--volumes"]);
    assert!(ok, "{stderr}");
    let volumes: Vec<&str> = volumes.lines().collect();
    assert_eq!(volumes, ["ledger-data", "ledger-tokens"]);

    let (ok, resolved, stderr) = compose(&["config"]);
    assert!(ok, "{stderr}");
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
