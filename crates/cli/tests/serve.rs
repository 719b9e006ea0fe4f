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

    // The start-up log says where to point the browser, not only where GraphQL is.
    let serving = server
        .logs()
        .into_iter()
        .find(|line| line.contains("serving "))
        .expect("a start-up line saying where the server serves");
    for place in ["/", "/graphql", "/dashboard", "/reports", "/healthz"] {
        let url = server.url(place);
        assert!(
            serving.contains(&format!(" at {url}")),
            "{url} in {serving}"
        );
    }
    assert!(serving.contains("GraphiQL at "), "{serving}");

    let response = server
        .query(
            "{ kpiTable(plan: \"telework-roadmap\") { rows { kpi series cumulative achievement } } }",
        )
        .await;
    let rows = response["data"]["kpiTable"]["rows"]
        .as_array()
        .expect("a table");
    let kpi2 = rows.iter().find(|row| row["kpi"] == "2").unwrap();
    assert_eq!(kpi2["cumulative"], "1565");
    assert_eq!(kpi2["achievement"], "156.5");

    let ready = reqwest::Client::new()
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
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

/// SIGTERM while mutations are in flight: the server stops accepting, lets the appends it
/// took finish, flushes and exits 0, and every mutation it acknowledged is in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_appends_keeps_every_acknowledged_event() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (token, entry) = support::token("recorder", "night-clerk");
    let tokens = format!("[{entry}]");
    let mut server =
        DemoServer::start_with_env(&data, &[("KPI_LEDGER_SERVER__TOKENS", tokens.as_str())]);
    let url = server.url("/graphql");
    // The demo seed is in the store already; the clients' events come after it.
    let seeded = server.query("{ head { position } }").await["data"]["head"]["position"]
        .as_u64()
        .expect("a head");
    // More than the server can answer before the signal, so SIGTERM lands mid-run.
    const CAP: usize = 20_000;

    let mutation =
        "mutation($input: SeminarInput!) { recordSeminar(input: $input) { id position } }";
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let (url, token) = (url.clone(), token.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut acknowledged = Vec::new();
                for n in 0..CAP {
                    let input = serde_json::json!({
                        "title": format!("shutdown seminar {client}-{n}"),
                        "organiser": "DX・テレワーク推進センター",
                        "firstDate": "2024-04-30",
                        "sessions": 1,
                        "participants": { "unique": 10, "attendances": 10 },
                        "capacity": 40,
                        "status": "HELD"
                    });
                    let sent = http
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&serde_json::json!({ "query": mutation, "variables": { "input": input } }))
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                    // Refused or cut connections are the server going away: stop sending.
                    let Ok(response) = sent else { break };
                    let Ok(body) = response.json::<serde_json::Value>().await else {
                        break;
                    };
                    let recorded = &body["data"]["recordSeminar"];
                    assert!(body.get("errors").is_none(), "{body}");
                    acknowledged.push((
                        recorded["id"].as_str().unwrap().to_owned(),
                        recorded["position"].as_u64().unwrap(),
                    ));
                }
                acknowledged
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (server, status)
    })
    .await
    .unwrap();
    let (_server, status) = status;
    let status = status.expect("serve stops within 20 s of SIGTERM");
    assert!(status.success(), "serve exits 0 after SIGTERM: {status:?}");

    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.unwrap());
    }
    assert!(
        !acknowledged.is_empty(),
        "no mutation was answered before SIGTERM"
    );
    assert!(
        acknowledged.len() < 8 * CAP,
        "every client finished before SIGTERM: nothing was in flight"
    );

    let log = Command::new(BIN)
        .args([
            "log",
            "--data",
            data.to_str().unwrap(),
            "--from",
            &(seeded + 1).to_string(),
        ])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(log.status.success(), "{}", support::text(&log.stderr));
    let stored: std::collections::HashMap<String, u64> = support::text(&log.stdout)
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                event["event_id"].as_str().unwrap().to_owned(),
                event["position"].as_u64().unwrap(),
            )
        })
        .collect();
    for (id, position) in &acknowledged {
        assert_eq!(
            stored.get(id),
            Some(position),
            "acknowledged event {id} at {position} is not in the store after shutdown"
        );
    }
    let verify = Command::new(BIN)
        .args(["verify", "--data", data.to_str().unwrap()])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", support::text(&verify.stdout));
}
