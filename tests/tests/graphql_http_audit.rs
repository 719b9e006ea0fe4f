//! GraphQL-over-HTTP conformance of the real ledger schema (as `serve --demo` runs it, with
//! anonymous read on): the `graphql-http` server audit must report every audit ok.
//! `server_graphql_http_audit.rs` runs the same audit against the shell's own test schema.

mod graphql_support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use graphql_support::LedgerServer;

#[tokio::test]
async fn the_ledger_schema_passes_every_graphql_http_audit() {
    let audit_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("graphql-http");
    assert!(
        audit_dir.join("node_modules/graphql-http").is_dir(),
        "the audit's node packages are missing: run `npm ci` in {} (.ci/run does)",
        audit_dir.display()
    );
    let server = LedgerServer::start_with(|config| config.anonymous_read = true).await;
    let head_before = server.head();

    let run = tokio::process::Command::new("node")
        .arg("audit.mjs")
        .arg(server.url("/graphql"))
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
    assert_eq!(server.head(), head_before, "the audit wrote nothing");
    server.stop().await;
}
