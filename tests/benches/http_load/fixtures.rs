//! What the bench serves and sends: the plan and the Fuji seed from the repository, the
//! large synthetic store, the GraphQL documents, and the seminar each append records (as a
//! GraphQL input, as the domain's payload and as the store's envelope, so every layer of the
//! append path writes the same event).

use std::path::{Path, PathBuf};

use kpi_domain::{LedgerEvent, PlanDefinition};
use kpi_service::auth::Role;
use kpi_store::{EventStore, ExpectedVersion, NewEvent, StoreConfig, StreamId};
use serde_json::{json, Value};

pub(crate) const PLAN: &str = "telework-roadmap";

/// The published table: every row's figures, as the city's KPI table shows them. The
/// drill-down lists (`eventIds`, `events`) are left out: on the large store they would be
/// megabytes per answer, which measures JSON size rather than the server.
pub(crate) const TABLE_QUERY: &str = r#"query Table($plan: ID!) {
  kpiTable(plan: $plan) {
    planId position fiscalYears
    rows {
      kpi series unit cumulative achievement
      name { ja en }
      target { value kind }
      cells { fiscalYear label value unit counted }
    }
  }
}"#;

pub(crate) const RECORD_SEMINAR: &str = r#"mutation Record($input: SeminarInput!) {
  recordSeminar(input: $input) { id position hash }
}"#;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(crate) fn plans() -> Vec<PlanDefinition> {
    let text = std::fs::read_to_string(root().join("config/plans/telework-roadmap.toml"))
        .expect("read the plan definition");
    vec![PlanDefinition::from_toml(&text).expect("the plan definition parses")]
}

pub(crate) fn seed_records() -> Vec<kpi_domain::SeedRecord> {
    let text = std::fs::read_to_string(root().join("config/seed/fuji-telework-r6.toml"))
        .expect("read the Fuji seed");
    kpi_domain::seed::parse(&text).expect("the Fuji seed parses")
}

/// The seminar a mutation records, varied per client and request so no two are identical.
pub(crate) fn seminar_input(client: usize, n: usize) -> Value {
    let unique = 10 + (n % 40) as i64;
    json!({
        "title": format!("テレワーク導入セミナー（負荷試験 {client}-{n}）"),
        "organiser": "産業支援課",
        "firstDate": "2024-06-14",
        "sessions": 1,
        "participants": { "unique": unique, "attendances": unique },
        "capacity": 60,
        "status": "HELD",
    })
}

/// The body of client `client`'s `n`th `recordSeminar` request.
pub(crate) fn record_seminar(client: usize, n: usize) -> Value {
    json!({
        "query": RECORD_SEMINAR,
        "variables": { "input": seminar_input(client, n) },
    })
}

/// `seminar_input` as the domain's payload (snake_case names).
pub(crate) fn seminar_payload(client: usize, n: usize) -> Value {
    let input = seminar_input(client, n);
    json!({
        "title": input["title"],
        "organiser": input["organiser"],
        "first_date": input["firstDate"],
        "sessions": input["sessions"],
        "participants": input["participants"],
        "capacity": input["capacity"],
        "status": "held",
    })
}

/// The envelope the ledger appends for `seminar_input`: the domain's payload, stream and
/// occurrence date, so the store baseline writes exactly what the GraphQL path writes.
pub(crate) fn seminar_envelope(client: usize, n: usize) -> (StreamId, NewEvent) {
    let event = LedgerEvent::parse("seminar", &seminar_payload(client, n))
        .expect("the bench seminar is valid");
    let stream = StreamId::parse(event.stream_id()).expect("the domain's stream id is valid");
    (stream, kpi_service::new_event(&event, "bench"))
}

pub(crate) fn caller(role: Role) -> kpi_service::auth::Caller {
    kpi_service::auth::Caller::Token {
        name: "bench".into(),
        role,
    }
}

/// Writes `events` seed-shaped events straight into a store, 1,000 per append.
pub(crate) async fn generate(dir: &Path, events: u64) {
    let templates: Vec<NewEvent> = seed_records()
        .into_iter()
        .map(|record| kpi_service::new_event(&record.event, "bench"))
        .collect();
    let store = EventStore::open(dir, StoreConfig::default()).expect("open the large store");
    let batch = 1_000u64;
    let mut written = 0u64;
    while written < events {
        let n = batch.min(events - written);
        let batch_events = (written..written + n)
            .map(|i| templates[(i % templates.len() as u64) as usize].clone())
            .collect();
        let stream = StreamId::parse(format!("bench/{}", written / batch)).expect("stream id");
        store
            .append(&stream, ExpectedVersion::Any, batch_events)
            .await
            .expect("append a batch");
        written += n;
    }
    store.close().await;
}
