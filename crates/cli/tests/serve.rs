//! The README's first command, end to end: `kpi-ledger serve --demo` on a fresh data
//! directory serves the published figures over GraphQL, and SIGTERM stops it cleanly (exit 0)
//! with a store that verifies.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kpi-ledger");

#[tokio::test]
async fn serve_demo_shows_the_fuji_figures_and_stops_cleanly_on_sigterm() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(BIN)
        .args(["serve", "--demo", "--data", data.to_str().unwrap()])
        .current_dir(&root)
        .env("KPI_LEDGER_SERVER__BIND", "127.0.0.1:0")
        .env("KPI_LEDGER_LOG__FORMAT", "json")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The server logs its address once it listens (port 0 picks a free one).
    let stderr = child.stderr.take().unwrap();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("http://") {
                let rest = &line[at + "http://".len()..];
                let addr: String = rest.chars().take_while(|c| *c != '/').collect();
                let _ = addr_tx.send(addr);
            }
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server announces its address");

    let client = reqwest::Client::new();
    let response: serde_json::Value = client
        .post(format!("http://{addr}/graphql"))
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

    let ready = client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert!(ready.status().is_success());

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "serve exits 0 after SIGTERM: {status:?}");

    let verify = Command::new(BIN)
        .args(["verify", "--data", data.to_str().unwrap()])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(verify.status.success());
}
