//! Plan lifecycle through the service on a real sled store: a change is checked against the
//! plans in force, re-projects history once recorded, survives a restart (the plans in force
//! come from the log), and as-of sees the definitions of its time.

mod common;

use kpi_store::StoreConfig;
use std::path::Path;

use kpi_domain::{seed, Change, FiscalYear, PlanDefinition, Series};
use kpi_service::{
    CheckpointUse, ImportRecord, Ledger, LedgerError, RecordError, RecordOptions, TableQuery, View,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const FIFTH: &str = include_str!("../../../config/plans/fifth-information-plan.toml");
const MAPPING: &str = include_str!("../../../config/plans/telework-roadmap-to-fifth.toml");
const SEED: &str = include_str!("../../../config/seed/fuji-telework-r6.toml");

fn roadmap() -> Vec<PlanDefinition> {
    vec![PlanDefinition::from_toml(PLAN).unwrap()]
}

fn r(n: i64) -> FiscalYear {
    FiscalYear::from_reiwa(n).unwrap()
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

async fn seeded(dir: &Path, store: StoreConfig) -> Ledger {
    let ledger = Ledger::open(dir, store, roadmap()).await.unwrap();
    let records = seed::parse(SEED)
        .unwrap()
        .into_iter()
        .map(ImportRecord::from)
        .collect();
    ledger.import("seed", records).await.unwrap();
    ledger
}

async fn record(ledger: &Ledger, event_type: &str, payload: Value) -> Result<u64, RecordError> {
    ledger
        .record_payload("planner", event_type, &payload, RecordOptions::default())
        .await
        .map(|envelope| envelope.position)
}

fn extension(last: &str) -> Value {
    json!({"plan_id": "telework-roadmap", "last": last, "decided_on": "2025-06-01",
           "reason": "R6 report: one more year"})
}

fn transfer() -> Value {
    let mapping: Value = toml::from_str(MAPPING).unwrap();
    json!({"plan_id": "telework-roadmap", "successor": "fifth-information-plan",
           "effective_from": "R9", "decided_on": "2027-03-31", "mapping": mapping["mapping"]})
}

fn invalid_field(error: RecordError) -> String {
    match error {
        RecordError::Invalid(error) => error.field,
        other => panic!("expected invalid input, got {other}"),
    }
}

on_both_backends! {
#[tokio::test]
async fn lifecycle_changes_are_checked_reprojected_and_survive_a_restart(log) {
    let dir = &log.dir;
    let ledger = seeded(dir.path(), log.config()).await;
    let head = ledger.head().position;

    // Refused before anything is written: the field at fault is named.
    let error = record(&ledger, "plan_extended", extension("R6"))
        .await
        .unwrap_err();
    assert_eq!(invalid_field(error), "last");
    let error = record(&ledger, "plan_transferred", transfer())
        .await
        .unwrap_err();
    assert_eq!(
        invalid_field(error),
        "successor",
        "the successor is not adopted yet"
    );
    assert_eq!(ledger.head().position, head, "nothing written");

    let before_extension = chrono::Utc::now();
    // The call returns once the projection under the new definitions is live.
    let extended_at = record(&ledger, "plan_extended", extension("R8"))
        .await
        .unwrap();
    let table = ledger
        .table(&TableQuery::new("telework-roadmap"))
        .await
        .unwrap()
        .table;
    assert_eq!(table.fiscal_years.last(), Some(&r(8)));
    assert_eq!(ledger.plans()[0].period.last, r(8));

    record(
        &ledger,
        "plan_adopted",
        json!({"definition": FIFTH, "adopted_on": "2027-03-01"}),
    )
    .await
    .unwrap();
    let error = ledger.transfer_report("telework-roadmap").unwrap_err();
    assert!(matches!(error, LedgerError::NotTransferred(_)), "{error}");
    record(&ledger, "plan_transferred", transfer())
        .await
        .unwrap();
    let report = ledger.transfer_report("telework-roadmap").unwrap();
    // DX1: KPI 2's 1565 (R3-R6, nothing in R7-R8) + the six R6 trainings' 176 = 1741.
    let dx1 = report
        .entries
        .iter()
        .find(|entry| entry.successor_kpi.kpi.as_str() == "DX1")
        .unwrap();
    assert_eq!(dx1.baseline, Some(d("1741")));
    let fifth = ledger
        .table(&TableQuery::new("fifth-information-plan"))
        .await
        .unwrap()
        .table;
    // DX1 cumulative = the baseline; 1741 / 2500 = 69.64 % -> 69.6.
    let dx1_row = fifth.row("DX1", Series::Main).unwrap();
    assert_eq!(dx1_row.cumulative, Some(d("1741")));
    assert_eq!(dx1_row.achievement, Some(d("69.6")));

    // A transferred plan is closed.
    let error = record(&ledger, "plan_extended", extension("R9"))
        .await
        .unwrap_err();
    assert_eq!(invalid_field(error), "plan_id");

    // As of before the extension, the roadmap ran to R7.
    let old = ledger
        .table(
            &TableQuery::new("telework-roadmap").in_view(View::new(Some(before_extension), None)),
        )
        .await
        .unwrap()
        .table;
    assert_eq!(old.fiscal_years.last(), Some(&r(7)));

    let registry = ledger.registry();
    let history = &registry.entry("telework-roadmap").unwrap().history;
    let changes: Vec<&Change> = history.iter().map(|step| &step.change).collect();
    assert_eq!(changes.len(), 3);
    assert_eq!(changes[0], &Change::Configured);
    assert_eq!(history[1].position, Some(extended_at));
    assert_eq!(history[1].actor.as_deref(), Some("planner"));
    assert!(matches!(changes[2], Change::Transferred { .. }));
    ledger.close().await;

    // After a restart the plans in force come from the log, and the checkpoint taken at close
    // (under those plans) is used.
    let reopened = Ledger::open(dir.path(), log.config(), roadmap())
        .await
        .unwrap();
    assert_eq!(
        reopened.startup().checkpoint,
        CheckpointUse::Used {
            position: reopened.head().position
        }
    );
    let plan_ids: Vec<String> = reopened.plans().iter().map(|p| p.id.to_string()).collect();
    assert_eq!(plan_ids, ["telework-roadmap", "fifth-information-plan"]);
    assert_eq!(
        reopened
            .table(&TableQuery::new("fifth-information-plan"))
            .await
            .unwrap()
            .table,
        fifth
    );
    reopened.close().await;
}
}

/// On sled only: the test takes an event out of sled's tree to make the rebuild fail.
#[tokio::test]
async fn a_plan_change_whose_rebuild_fails_is_reported_not_awaited_forever() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), Default::default(), roadmap())
        .await
        .unwrap();
    for n in 1..=3 {
        let seminar = json!({
            "title": format!("Web活用促進セミナー第{n}弾"),
            "organiser": "DX・テレワーク推進センター",
            "first_date": "2024-04-30",
            "sessions": 1,
            "participants": { "unique": 10, "attendances": 10 },
            "status": "held"
        });
        record(&ledger, "seminar", seminar).await.unwrap();
    }
    // Each seminar was its own commit group, so position 2 is alone under its key. The live
    // projection folded it already; a rebuild reads the log again and cannot.
    ledger
        .store()
        .__sled()
        .remove(kpi_store::raw::event_key(2))
        .unwrap();

    let error = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        record(&ledger, "plan_extended", extension("R8")),
    )
    .await
    .expect("the failed rebuild is reported instead of awaited forever")
    .unwrap_err();
    match error {
        RecordError::Ledger(LedgerError::DefinitionsNotApplied { position, reason }) => {
            assert_eq!(position, 4, "the extension's own position");
            assert!(
                reason.contains("position 2") && reason.contains("missing"),
                "the reason names the unreadable event: {reason}"
            );
        }
        other => panic!("expected DefinitionsNotApplied, got {other}"),
    }
    // The extension itself is in the log and in the plans in force; only the re-projection
    // under it failed, and the live projection keeps serving the figures it had.
    assert_eq!(ledger.head().position, 4);
    let plans = ledger.registry().plans();
    let roadmap = plans
        .iter()
        .find(|plan| plan.id.to_string() == "telework-roadmap")
        .unwrap();
    assert_eq!(roadmap.period.last, r(8));
}
