//! Latency of the `kpiTable` query executed by the schema in process (no HTTP), with a large
//! log behind the table: what the schema adds to the projection's answer, with and without
//! the drill-down ids every cell carries.
//!
//! Run: `cargo bench -p kpi-graphql --bench kpi_table`
//! (`KPI_BENCH_EVENTS=N` sets the number of events, 100,000 by default.)
//!
//! Setup imports N seminars (all feeding KPI 2 and 4b, spread over R3 to R6) into a ledger in
//! a temporary directory, then runs each query 300 times after 20 warm-up runs, one at a
//! time, and prints p50, p99 and max.

use std::time::{Duration, Instant};

use async_graphql::Request;
use kpi_domain::{LedgerEvent, PlanDefinition};
use kpi_service::auth::{Caller, Role};
use kpi_service::{ImportRecord, Ledger};
use serde_json::json;

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const RUNS: usize = 300;
const WARM_UP: usize = 20;

const QUERIES: [(&str, &str); 3] = [
    (
        "figures only",
        r#"{ kpiTable(plan: "telework-roadmap") { position rows { kpi series cumulative achievement cells { label value } } } }"#,
    ),
    (
        "figures + eventIds",
        r#"{ kpiTable(plan: "telework-roadmap") { position rows { kpi series cumulative achievement cells { label value eventIds } } } }"#,
    ),
    (
        "one KPI history, figures only",
        r#"{ kpiHistory(plan: "telework-roadmap", kpi: "8") { cells { label value } } }"#,
    ),
];

fn seminar(n: usize) -> LedgerEvent {
    let year = 2021 + (n % 4);
    let payload = json!({
        "title": format!("セミナー {n}"),
        "organiser": "DX・テレワーク推進センター",
        "first_date": format!("{year}-06-{:02}", 1 + n % 28),
        "sessions": 1,
        "participants": { "unique": 10, "attendances": 10 },
        "status": "held",
    });
    LedgerEvent::parse("seminar", &payload).expect("a valid seminar")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

#[tokio::main]
async fn main() {
    let events: usize = std::env::var("KPI_BENCH_EVENTS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanDefinition::from_toml(PLAN).unwrap();
    let ledger = Ledger::open(dir.path(), Default::default(), vec![plan])
        .await
        .unwrap();
    let started = Instant::now();
    let records = (0..events)
        .map(|n| ImportRecord {
            idempotency_key: format!("bench/{n}"),
            provenance: None,
            event: seminar(n),
            outside_plans: false,
        })
        .collect();
    ledger.import("bench", records).await.unwrap();
    println!(
        "setup: {events} seminars imported in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let schema = kpi_graphql::build_schema(ledger.clone());
    let caller = Caller::Token {
        name: "bench".into(),
        role: Role::Reader,
    };
    println!("| query | events | p50 | p99 | max |");
    println!("|---|---:|---:|---:|---:|");
    for (label, query) in QUERIES {
        let mut samples = Vec::with_capacity(RUNS);
        for run in 0..WARM_UP + RUNS {
            let request = Request::new(query).data(caller.clone());
            let started = Instant::now();
            let response = schema.execute(request).await;
            let elapsed = started.elapsed();
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            if run >= WARM_UP {
                samples.push(elapsed);
            }
        }
        samples.sort();
        println!(
            "| {label} | {events} | {:.3} ms | {:.3} ms | {:.3} ms |",
            percentile(&samples, 0.50).as_secs_f64() * 1e3,
            percentile(&samples, 0.99).as_secs_f64() * 1e3,
            samples.last().unwrap().as_secs_f64() * 1e3,
        );
    }
    ledger.close().await;
}
