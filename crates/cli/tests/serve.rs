//! The README's first command, end to end: `kpi-ledger serve --demo` on a fresh data
//! directory serves the published figures over GraphQL, and SIGTERM stops it cleanly (exit 0)
//! with a store that verifies.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{DemoServer, BIN};

#[tokio::test]
async fn serve_demo_shows_the_fuji_figures_and_stops_cleanly_on_sigterm() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = DemoServer::start(&data);

    let client = reqwest::Client::new();
    let response: serde_json::Value = client
        .post(server.url("/graphql"))
        .json(&serde_json::json!({
            "query": "{ kpiTable(plan: \"telework-roadmap\") { rows { kpi series cumulative achievement } } }"
        }))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = response["data"]["kpiTable"]["rows"]
        .as_array()
        .expect("a table");
    let kpi2 = rows.iter().find(|row| row["kpi"] == "2").unwrap();
    assert_eq!(kpi2["cumulative"], "1565");
    assert_eq!(kpi2["achievement"], "156.5");

    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert!(ready.status().is_success());

    let status = server
        .terminate()
        .expect("serve stops within 20 s of SIGTERM");
    assert!(status.success(), "serve exits 0 after SIGTERM: {status:?}");

    let verify = Command::new(BIN)
        .args(["verify", "--data", data.to_str().unwrap()])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(verify.status.success());
}
