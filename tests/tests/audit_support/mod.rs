//! The `graphql-http` package's server audit (tests/graphql-http/audit.mjs), run by Node
//! against a live server: every audit must be ok, with no warn, notice or error.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// Runs the audit against the GraphQL endpoint at `url` and fails the test on any gap.
pub async fn assert_graphql_http_audit_all_ok(url: String) {
    let audit_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("graphql-http");
    assert!(
        audit_dir.join("node_modules/graphql-http").is_dir(),
        "the audit's node packages are missing: run `npm ci` in {} (.ci/run does)",
        audit_dir.display()
    );
    let run = tokio::process::Command::new("node")
        .arg("audit.mjs")
        .arg(url)
        .current_dir(&audit_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the audit finishes within 60 s")
        .expect("node runs (Node 20 or newer must be on PATH)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "graphql-http audit found conformance gaps:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(r#""warn":0,"notice":0,"error":0"#),
        "{stdout}"
    );
}
