//! Shared by the GraphQL end-to-end tests: the real server (kpi-server) serving the real
//! schema (kpi-graphql) over a ledger in a temporary directory with the roadmap plan, on an
//! ephemeral loopback port; an HTTP client; and one valid and one invalid input per event kind.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod kinds;

use std::net::SocketAddr;
use std::time::Duration;

use kpi_domain::PlanDefinition;
use kpi_graphql::EventLoads;
use kpi_server::{new_token, App, DataVersion, Listening, ServerConfig};
use kpi_service::auth::Role;
use kpi_service::Ledger;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const PLAN_ID: &str = "telework-roadmap";

/// The plans the tests project: read from the repository's config, as the binary does.
pub fn plans() -> Vec<PlanDefinition> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/plans/telework-roadmap.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    vec![PlanDefinition::from_toml(&text).unwrap()]
}

/// Bearer tokens of each role; their names become the actors of recorded events.
pub struct Tokens {
    pub reader: String,
    pub recorder: String,
    pub admin: String,
}

/// Who calls: the four columns of the auth matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Nobody,
    Reader,
    Recorder,
    Admin,
}

pub struct LedgerServer {
    pub addr: SocketAddr,
    pub ledger: Ledger,
    pub loads: EventLoads,
    pub tokens: Tokens,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl LedgerServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server on 127.0.0.1:0 after `adjust` has changed the default config.
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path(), Default::default(), plans())
            .await
            .unwrap();
        let mut config = ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..ServerConfig::default()
        };
        let reader = new_token(Role::Reader, "viewer").unwrap();
        let recorder = new_token(Role::Recorder, "clerk").unwrap();
        let admin = new_token(Role::Admin, "ops").unwrap();
        config.tokens = vec![
            reader.entry.clone(),
            recorder.entry.clone(),
            admin.entry.clone(),
        ];
        adjust(&mut config);

        let loads = EventLoads::default();
        let schema = config
            .limits
            .apply(kpi_graphql::schema_builder_counting(
                ledger.clone(),
                loads.clone(),
            ))
            .finish();
        let head = ledger.clone();
        let version = ledger.clone();
        // As the binary serves it: every GraphQL test also checks that cached answers are
        // the answers.
        let app = App::new(schema)
            .with_head_position(move || head.head().position)
            .with_query_cache(move || DataVersion {
                view: version.view_version(),
                log: version.head().position,
            });
        let listening = Listening::bind(config).await.unwrap();
        let addr = listening.local_addr();
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(listening.serve(app, async {
            let _ = signal.await;
        }));
        Self {
            addr,
            ledger,
            loads,
            tokens: Tokens {
                reader: reader.token,
                recorder: recorder.token,
                admin: admin.token,
            },
            shutdown: Some(shutdown),
            task: Some(task),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn token(&self, who: Who) -> Option<&str> {
        match who {
            Who::Nobody => None,
            Who::Reader => Some(&self.tokens.reader),
            Who::Recorder => Some(&self.tokens.recorder),
            Who::Admin => Some(&self.tokens.admin),
        }
    }

    /// Imports the Fuji seed (the published table) in process.
    pub async fn import_seed(&self) {
        let seed = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/seed/fuji-telework-r6.toml"
        ))
        .unwrap();
        let records = kpi_domain::seed::parse(&seed)
            .unwrap()
            .into_iter()
            .map(kpi_service::ImportRecord::from)
            .collect();
        self.ledger.import("seed", records).await.unwrap();
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        client()
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The log's head position, read in process: the truth the HTTP answers are checked against.
    pub fn head(&self) -> u64 {
        self.ledger.head().position
    }

    /// POSTs one GraphQL request; returns the HTTP status and the JSON body.
    pub async fn post(&self, who: Who, query: &str, variables: Value) -> (StatusCode, Value) {
        let mut request = client()
            .post(self.url("/graphql"))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .body(json!({ "query": query, "variables": variables }).to_string());
        if let Some(token) = self.token(who) {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    /// A request expected to succeed: its `data`.
    pub async fn data(&self, who: Who, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(who, query, variables).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert!(body.get("errors").is_none(), "{query}: {body}");
        body["data"].clone()
    }

    /// A request expected to fail in execution: its first error.
    pub async fn error(&self, who: Who, query: &str, variables: Value) -> GraphqlError {
        let (status, body) = self.post(who, query, variables).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        GraphqlError::first_of(&body)
    }

    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let task = self.task.take().expect("stopped once");
        tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .expect("server stops within 15 s")
            .expect("server task does not panic")
            .expect("server stops cleanly");
    }
}

impl Drop for LedgerServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The first error of a response, with its extensions.
#[derive(Debug, Clone)]
pub struct GraphqlError {
    pub message: String,
    pub code: String,
    pub field: Option<String>,
    pub body: Value,
}

impl GraphqlError {
    pub fn first_of(body: &Value) -> Self {
        let error = &body["errors"][0];
        assert!(error.is_object(), "expected an error: {body}");
        Self {
            message: error["message"].as_str().unwrap_or_default().to_owned(),
            code: error["extensions"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            field: error["extensions"]["field"].as_str().map(str::to_owned),
            body: body.clone(),
        }
    }
}

/// An HTTP client that cannot hang a test.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The envelope fields every mutation answers with.
pub const ENVELOPE: &str =
    "id position hash prevHash streamId streamVersion recordedAt actor provenance idempotencyKey type payload";

/// `mutation($input: <Kind>Input!, ...) { record<Kind>(...) { <envelope> } }`.
pub fn record_mutation(mutation: &str, input_type: &str) -> String {
    format!(
        "mutation Record($input: {input_type}!, $key: String, $provenance: String) {{ \
           {mutation}(input: $input, idempotencyKey: $key, provenance: $provenance) {{ {ENVELOPE} }} }}"
    )
}

pub const CORRECT_EVENT: &str = "mutation Correct($target: ID!, $replacement: EventInput!, \
    $reason: String!, $decidedOn: Date!, $key: String) { correctEvent(target: $target, \
    replacement: $replacement, reason: $reason, decidedOn: $decidedOn, idempotencyKey: $key) { \
    id position hash prevHash streamId streamVersion recordedAt actor provenance idempotencyKey \
    type payload } }";

pub const RETRACT_EVENT: &str = "mutation Retract($target: ID!, $reason: String!, \
    $decidedOn: Date!) { retractEvent(target: $target, reason: $reason, decidedOn: $decidedOn) { \
    id position hash prevHash streamId streamVersion recordedAt actor provenance idempotencyKey \
    type payload } }";

/// The cell of a KPI row for a fiscal year label ("R6") in a `kpiTable` answer selecting
/// `rows { kpi series cells { label ... } }`.
pub fn cell<'a>(table: &'a Value, kpi: &str, series: &str, label: &str) -> &'a Value {
    table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["kpi"] == kpi && row["series"] == series)
        .unwrap_or_else(|| panic!("no row {kpi} {series}"))["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|cell| cell["label"] == label)
        .unwrap_or_else(|| panic!("no cell {label} in row {kpi} {series}"))
}

pub const TABLE: &str =
    "query Table($plan: ID!, $asOf: DateTime) { kpiTable(plan: $plan, asOf: $asOf) { \
    position asOf rows { kpi series cumulative cells { label value eventIds amendedByIds } } } }";

/// The value of one series (name and labels exactly as rendered) in Prometheus text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}
