//! Gateways: `kpi-ledger serve --demo` processes sharing one PostgreSQL database, each with
//! its own data directory (projection checkpoints), and what the tests ask of them.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::DemoServer;

const RECORD: &str = "mutation($input: SeminarInput!, $key: String) { \
     recordSeminar(input: $input, idempotencyKey: $key) { id position } }";
const TABLE: &str =
    "{ kpiTable(plan: \"telework-roadmap\") { position rows { kpi series cumulative } } }";

/// A seminar titled `title`: the same input for every retry of one logical event.
pub fn seminar(title: &str) -> Value {
    json!({
        "title": title,
        "organiser": "DX・テレワーク推進センター",
        "firstDate": "2024-06-12",
        "sessions": 1,
        "participants": { "unique": 3, "attendances": 3 },
        "capacity": 40,
        "status": "HELD"
    })
}

/// One `serve` process on the database at `url`, admitting the recorder token `tokens`
/// names (`[{name, role, sha256}]`).
pub struct Gateway {
    pub server: DemoServer,
    client: reqwest::Client,
}

/// A recorded event as its mutation answered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub id: String,
    pub position: u64,
}

impl Gateway {
    pub fn start(data: &Path, url: &str, tokens: &str) -> Gateway {
        let env = [
            ("KPI_LEDGER_STORE__BACKEND", "postgres"),
            ("KPI_LEDGER_STORE__POSTGRES__URL", url),
            ("KPI_LEDGER_SERVER__TOKENS", tokens),
        ];
        Gateway {
            server: DemoServer::start_with_env(data, &env),
            client: reqwest::Client::new(),
        }
    }

    /// Records `seminar(title)` with idempotency key `key` as `token`'s holder: the event,
    /// or why not (the error code, or the transport's error).
    pub async fn record(&self, token: &str, key: &str, title: &str) -> Result<Recorded, String> {
        let body = json!({ "query": RECORD, "variables": { "input": seminar(title), "key": key } });
        let answer: Value = self
            .client
            .post(self.server.url("/graphql"))
            .bearer_auth(token)
            .json(&body)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|error| format!("transport: {error}"))?
            .json()
            .await
            .map_err(|error| format!("answer: {error}"))?;
        let event = &answer["data"]["recordSeminar"];
        match (event["id"].as_str(), event["position"].as_u64()) {
            (Some(id), Some(position)) => Ok(Recorded {
                id: id.to_owned(),
                position,
            }),
            _ => Err(answer["errors"][0]["extensions"]["code"]
                .as_str()
                .map_or_else(|| answer.to_string(), str::to_owned)),
        }
    }

    /// The roadmap's KPI table (`position` and rows), read anonymously (demo).
    pub async fn table(&self) -> Value {
        let answer = self.server.query(TABLE).await;
        assert!(answer.get("errors").is_none(), "{answer}");
        answer["data"]["kpiTable"].clone()
    }
}
