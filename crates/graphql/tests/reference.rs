//! GraphQL's `kpiTable` (live, and with `asOf` / `through`) and `transferReport` answer what
//! the reference fold computes, on random histories recorded through the service.
//!
//! Cases: `KPI_GRAPHQL_CASES` (default 12).

mod support;

use kpi_domain::reference::{self, Limits};
use kpi_domain::testing::{configured, history, through_date};
use kpi_domain::{KpiTable, Series};
use kpi_service::{Ledger, RecordOptions};
use proptest::prelude::*;
use serde_json::{json, Value};
use support::{reader, run};

const TABLE: &str = "query($plan: ID!, $asOf: DateTime, $through: Date) { \
    kpiTable(plan: $plan, asOf: $asOf, through: $through) { rows { kpi series cumulative \
    achievement baseline cells { label value unit counted eventIds amendedByIds lateEventIds } } } }";

const TRANSFER: &str = "query($plan: ID!) { transferReport(plan: $plan) { entries { \
    successorKpi series baseline currentBaseline adjustment adjustmentEventIds } } }";

fn cases() -> u32 {
    std::env::var("KPI_GRAPHQL_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(12)
}

fn decimal(value: Option<rust_decimal::Decimal>) -> Value {
    value.map_or(Value::Null, |value| json!(value.to_string()))
}

fn ids(ids: &[uuid::Uuid]) -> Value {
    json!(ids.iter().map(ToString::to_string).collect::<Vec<_>>())
}

fn series(series: Series) -> &'static str {
    match series {
        Series::Main => "MAIN",
        Series::B => "B",
    }
}

/// The reference table in the shape of the `TABLE` query's answer.
fn as_answered(table: &KpiTable) -> Value {
    let rows: Vec<Value> = table
        .rows
        .iter()
        .map(|row| {
            let cells: Vec<Value> = row
                .cells
                .iter()
                .map(|cell| {
                    json!({
                        "label": cell.fiscal_year.label(),
                        "value": decimal(cell.value),
                        "unit": cell.unit.map_or(Value::Null, |unit| json!(unit.as_str().to_uppercase())),
                        "counted": cell.counted,
                        "eventIds": ids(&cell.event_ids),
                        "amendedByIds": ids(&cell.amended_by),
                        "lateEventIds": ids(&cell.late_event_ids),
                    })
                })
                .collect();
            json!({
                "kpi": row.kpi, "series": series(row.series),
                "cumulative": decimal(row.cumulative), "achievement": decimal(row.achievement),
                "baseline": decimal(row.baseline), "cells": cells,
            })
        })
        .collect();
    json!({ "rows": rows })
}

async fn check(ops: Vec<kpi_domain::testing::Op>, through: Option<chrono::NaiveDate>, cut: usize) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), Default::default(), configured())
        .await
        .unwrap();
    let mut recorded = Vec::new();
    for (index, op) in ops.iter().enumerate() {
        let Some((kind, payload)) = op.request(&recorded) else {
            continue;
        };
        let options = RecordOptions {
            outside_plans: index % 4 == 0,
            ..RecordOptions::default()
        };
        if let Ok(envelope) = ledger
            .record_payload("clerk", &kind, &payload, options)
            .await
        {
            recorded.push(envelope.event_id);
        }
    }
    let log: Vec<_> = ledger
        .store()
        .iter_from(1)
        .map(|envelope| kpi_service::recorded_event(&envelope.unwrap()).unwrap())
        .collect();
    let schema = kpi_graphql::schema_builder(ledger.clone()).finish();
    let at = log
        .get(cut % log.len().max(1))
        .map(|event| event.recorded_at);
    for limits in [Limits::default(), Limits { as_of: at, through }] {
        let expected = reference::recompute(configured(), &log, limits);
        for table in &expected.tables {
            let answer = run(
                &schema,
                Some(reader()),
                TABLE,
                json!({ "plan": table.plan_id, "asOf": limits.as_of, "through": limits.through }),
            )
            .await;
            assert_eq!(answer["errors"], Value::Null, "{answer}");
            assert_eq!(answer["data"]["kpiTable"], as_answered(table), "{limits:?}");
        }
    }
    let expected = reference::recompute(configured(), &log, Limits::default());
    for report in &expected.transfers {
        let answer = run(
            &schema,
            Some(reader()),
            TRANSFER,
            json!({ "plan": report.predecessor }),
        )
        .await;
        let entries: Vec<Value> = report
            .entries
            .iter()
            .map(|entry| {
                json!({
                    "successorKpi": entry.successor_kpi.kpi.as_str(),
                    "series": series(entry.successor_kpi.series),
                    "baseline": decimal(entry.baseline),
                    "currentBaseline": decimal(entry.current_baseline),
                    "adjustment": decimal(entry.adjustment),
                    "adjustmentEventIds": ids(&entry.adjustment_event_ids),
                })
            })
            .collect();
        assert_eq!(
            answer["data"]["transferReport"],
            json!({ "entries": entries }),
            "{answer}"
        );
    }
    ledger.close().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn kpi_table_answers_what_the_reference_computes(
        ops in history(),
        through in through_date(),
        cut in any::<usize>(),
    ) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(check(ops, through, cut));
    }
}
