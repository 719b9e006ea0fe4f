//! Shared by the service benches: a synthetic store of N events and the plan they are
//! projected under.

use std::path::{Path, PathBuf};

use kpi_domain::PlanDefinition;
use kpi_store::{EventStore, ExpectedVersion, NewEvent, StoreConfig, StreamId};

/// The Tokio runtime every service bench runs on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A whole number from the environment variable `name`, or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn plans() -> Vec<PlanDefinition> {
    vec![plan("telework-roadmap")]
}

/// The roadmap and its illustrative successor, projected together. The synthetic events are
/// the seed's (R3-R6), so the successor's period is moved to start at R3: both plans then
/// route every event, as they would over a log that spans both periods.
#[allow(dead_code)] // used by the replay bench, not by the start-up bench
pub fn both_plans() -> Vec<PlanDefinition> {
    let fifth = plan_text("fifth-information-plan");
    let over_the_seed_years = fifth.replacen("first = \"R9\"", "first = \"R3\"", 1);
    assert_ne!(
        fifth, over_the_seed_years,
        "the successor's period starts at R9"
    );
    vec![
        plan("telework-roadmap"),
        PlanDefinition::from_toml(&over_the_seed_years).unwrap(),
    ]
}

fn plan_text(name: &str) -> String {
    std::fs::read_to_string(root().join(format!("config/plans/{name}.toml"))).unwrap()
}

fn plan(name: &str) -> PlanDefinition {
    PlanDefinition::from_toml(&plan_text(name)).unwrap()
}

/// Appends `events` events to the store in `dir` (created if needed): the Fuji seed's events
/// repeated, so every KPI route of the plan is exercised.
pub async fn generate(dir: &Path, events: u64) {
    let seed = std::fs::read_to_string(root().join("config/seed/fuji-telework-r6.toml")).unwrap();
    let templates: Vec<NewEvent> = kpi_domain::seed::parse(&seed)
        .unwrap()
        .into_iter()
        .map(|record| kpi_service::new_event(&record.event, "bench"))
        .collect();
    let store = EventStore::open(dir, StoreConfig::default()).unwrap();
    let batch = 1_000u64;
    let mut written = 0u64;
    while written < events {
        let n = batch.min(events - written);
        let batch_events = (written..written + n)
            .map(|i| templates[(i % templates.len() as u64) as usize].clone())
            .collect();
        let stream = StreamId::parse(format!("bench/{}", written / batch)).unwrap();
        store
            .append(&stream, ExpectedVersion::Any, batch_events)
            .await
            .unwrap();
        written += n;
    }
    store.close().await;
}

pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
