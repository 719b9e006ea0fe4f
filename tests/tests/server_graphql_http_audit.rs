//! GraphQL-over-HTTP conformance: the `graphql-http` package's server audit, run by Node
//! against a live server, must report every audit ok (no warn, notice or error).

mod server_support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use server_support::TestServer;

#[tokio::test]
async fn graphql_http_server_audit_is_all_ok() {
    let audit_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("graphql-http");
    assert!(
        audit_dir.join("node_modules/graphql-http").is_dir(),
        "the audit's node packages are missing: run `npm ci` in {} (.ci/run does)",
        audit_dir.display()
    );
    let server = TestServer::start().await;

    let run = tokio::process::Command::new("node")
        .arg("audit.mjs")
        .arg(server.graphql_url())
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
    server.stop().await.unwrap();
}
