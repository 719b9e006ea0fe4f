//! Every path the service computes a table by agrees with the reference fold on random
//! histories recorded through the validation boundary: the live projection (folded as each
//! append lands, rebuilt after lifecycle events), `Ledger::table`, a fresh `fold_log` (what
//! `kpi-ledger table` and `replay` run), as-of and through folds, and the projection restored
//! from the checkpoint written at close.
//!
//! On both backends: sled, and PostgreSQL (a fresh database per case in one cluster, half
//! as many cases; skipped without PostgreSQL 15 unless `KPI_POSTGRES_REQUIRED=1`).
//!
//! Cases: `KPI_SERVICE_CASES` (default 32: each opens a store and appends up to 70 events).

mod common;

use chrono::Duration;
use common::TestLog;
use kpi_domain::reference::{self, finding_key, Limits};
use kpi_domain::testing::{configured, history, through_date};
use kpi_domain::RecordedEvent;
use kpi_service::{fold_log, CheckpointUse, FoldLimits, Ledger, RecordOptions, TableQuery, View};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("KPI_SERVICE_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(32)
}

fn log_of(ledger: &Ledger) -> Vec<RecordedEvent> {
    ledger
        .store()
        .iter_from(1)
        .map(|envelope| kpi_service::recorded_event(&envelope.unwrap()).unwrap())
        .collect()
}

/// Differences between a projection and the reference, as one text (empty: they agree).
fn differing(projection: &kpi_domain::Projection, recomputed: &reference::Recomputed) -> String {
    reference::differences(projection, recomputed).join("\n")
}

async fn check(
    store: TestLog,
    ops: Vec<kpi_domain::testing::Op>,
    through: Option<chrono::NaiveDate>,
    cut: usize,
) {
    let ledger = Ledger::open(store.path(), store.config(), configured())
        .await
        .unwrap();
    let mut ids = Vec::new();
    let mut declared_outside = Vec::new();
    for (index, op) in ops.iter().enumerate() {
        let Some((kind, payload)) = op.request(&ids) else {
            continue;
        };
        let options = RecordOptions {
            idempotency_key: Some(format!("step-{index}")),
            outside_plans: index % 4 == 0,
            ..RecordOptions::default()
        };
        // The boundary refuses what it must (future dates, amendments of retracted events,
        // ...); what it accepts is the history to agree on.
        let Ok(envelope) = ledger
            .record_payload("clerk", &kind, &payload, options.clone())
            .await
        else {
            continue;
        };
        ids.push(envelope.event_id);
        if options.outside_plans {
            // A correction said so for the event it replaces.
            let target = payload["target"].as_str().and_then(|id| id.parse().ok());
            declared_outside.push(target.unwrap_or(envelope.event_id));
        }
        if index % 5 == 0 {
            // The same key with another provenance is another request: refused, not answered
            // with the first event.
            let head = ledger.head().position;
            let other = RecordOptions {
                provenance: Some("another report".to_owned()),
                ..options
            };
            let retried = ledger.record_payload("clerk", &kind, &payload, other).await;
            assert!(
                retried.is_err(),
                "a changed provenance under the same key was accepted"
            );
            assert_eq!(
                ledger.head().position,
                head,
                "a refused retry wrote something"
            );
        }
    }
    let log = log_of(&ledger);
    let recomputed = reference::recompute(configured(), &log, Limits::default());

    // What the boundary refuses never reaches the log: no amendment that changed nothing, no
    // activity outside every plan unless the recorder said so.
    for finding in &recomputed.findings {
        match finding.kind {
            kpi_domain::FindingKind::IgnoredAmendment => {
                panic!("the boundary let through an amendment that changes nothing: {finding:?}")
            }
            kpi_domain::FindingKind::OutsideEveryPlan => assert!(
                finding
                    .event_ids
                    .iter()
                    .all(|id| declared_outside.contains(id)),
                "an activity outside every plan was accepted silently: {finding:?}"
            ),
            _ => {}
        }
    }
    let live = ledger
        .inspect(View::LIVE, |live| differing(live, &recomputed))
        .await
        .unwrap();
    assert!(live.is_empty(), "live projection:\n{live}");
    for expected in &recomputed.tables {
        let answer = ledger.table(&TableQuery::new(&expected.plan_id)).await;
        assert_eq!(&answer.unwrap().table, expected, "Ledger::table");
    }
    let mut findings = ledger.audit_findings();
    findings.sort_by_key(finding_key);
    let keys = |findings: &[kpi_domain::AuditFinding]| {
        findings.iter().map(finding_key).collect::<Vec<_>>()
    };
    assert_eq!(
        keys(&findings),
        keys(&recomputed.findings),
        "audit findings"
    );
    for expected in &recomputed.transfers {
        assert_eq!(
            &ledger.transfer_report(&expected.predecessor).unwrap(),
            expected,
            "transfer report"
        );
    }
    let (_, folded) = fold_log(ledger.store(), configured(), FoldLimits::default()).unwrap();
    let fresh = differing(&folded, &recomputed);
    assert!(fresh.is_empty(), "fold_log:\n{fresh}");

    // As of the instant an event was recorded, through a date.
    if !log.is_empty() {
        let at = log[cut % log.len()].recorded_at;
        let limits = Limits {
            as_of: Some(at),
            through,
        };
        let expected = reference::recompute(configured(), &log, limits);
        let axes = ledger
            .inspect(View::new(Some(at), through), |projection| {
                differing(projection, &expected)
            })
            .await
            .unwrap();
        assert!(axes.is_empty(), "as of {at}, through {through:?}:\n{axes}");
        let before = at - Duration::days(1);
        let empty = reference::recompute(
            configured(),
            &log,
            Limits {
                as_of: Some(before),
                through: None,
            },
        );
        let nothing = ledger
            .inspect(View::new(Some(before), None), |projection| {
                differing(projection, &empty)
            })
            .await
            .unwrap();
        assert!(nothing.is_empty(), "{nothing}");
    }

    ledger.close().await;
    let reopened = Ledger::open(store.path(), store.config(), configured())
        .await
        .unwrap();
    if !log.is_empty() {
        assert!(
            matches!(reopened.startup().checkpoint, CheckpointUse::Used { .. }),
            "{:?}",
            reopened.startup()
        );
    }
    let restored = reopened
        .inspect(View::LIVE, |live| differing(live, &recomputed))
        .await
        .unwrap();
    assert!(
        restored.is_empty(),
        "restored from the checkpoint:\n{restored}"
    );
    reopened.close().await;
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn every_path_of_the_service_equals_the_reference(
        ops in history(),
        through in through_date(),
        cut in any::<usize>(),
    ) {
        runtime().block_on(check(TestLog::sled(), ops, through, cut));
    }
}

/// The same on PostgreSQL: the cluster is held across the cases, each in a database of its own.
#[test]
fn every_path_of_the_service_on_postgres_equals_the_reference() {
    let Some(cluster_holder) = TestLog::postgres() else {
        return;
    };
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases().div_ceil(2),
        ..ProptestConfig::default()
    });
    let outcome = runner.run(
        &(history(), through_date(), any::<usize>()),
        |(ops, through, cut)| {
            runtime().block_on(check(cluster_holder.another(), ops, through, cut));
            Ok(())
        },
    );
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
