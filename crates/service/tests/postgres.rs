//! Two ledgers on one PostgreSQL database, as two gateways would be (each with its own data
//! directory and projection): an event recorded through one reaches the other's projection
//! without the other recording anything (its store hears the commit's NOTIFY and reads the
//! event by position), a retry through the other is answered with the original, and both
//! serve the same table. The cluster is the store tests' own; skipped without PostgreSQL 15
//! unless `KPI_POSTGRES_REQUIRED=1`.

#[path = "../../store/tests/common/cluster.rs"]
mod cluster;

use std::time::{Duration, Instant};

use kpi_domain::PlanDefinition;
use kpi_service::{Ledger, LedgerConfig, RecordOptions, TableQuery};
use kpi_store::{Backend, PostgresConfig, StoreConfig};
use serde_json::json;

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
/// How long the other ledger may take to show an event; a bound, not a measurement.
const BOUND: Duration = Duration::from_secs(30);

fn seminar(n: u64) -> serde_json::Value {
    json!({
        "title": format!("共有データベースのセミナー {n}"),
        "organiser": "DX・テレワーク推進センター",
        "first_date": "2024-07-10",
        "sessions": 1,
        "participants": { "unique": 10 + n, "attendances": 10 + n },
        "capacity": 40,
        "status": "held"
    })
}

async fn record(ledger: &Ledger, n: u64) -> kpi_store::Envelope {
    let options = RecordOptions {
        idempotency_key: Some(format!("shared-seminar-{n}")),
        ..RecordOptions::default()
    };
    ledger
        .record_payload("clerk", "seminar", &seminar(n), options)
        .await
        .unwrap()
}

async fn projected(ledger: &Ledger) -> (kpi_domain::KpiTable, u64) {
    let answer = ledger
        .table(&TableQuery::new("telework-roadmap"))
        .await
        .unwrap();
    (answer.table, answer.position)
}

/// Waits until `ledger`'s projection has folded `position`; its table then.
async fn folded(ledger: &Ledger, position: u64) -> kpi_domain::KpiTable {
    let started = Instant::now();
    loop {
        let (table, at) = projected(ledger).await;
        if at >= position {
            return table;
        }
        assert!(
            started.elapsed() < BOUND,
            "position {position} not folded within {BOUND:?} (at {at})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ledgers_on_one_database_follow_each_other() {
    let Some(cluster) = cluster::Cluster::shared() else {
        return;
    };
    let store = StoreConfig {
        backend: Backend::Postgres,
        postgres: PostgresConfig {
            url: Some(cluster.database()),
            ..PostgresConfig::unset()
        },
        ..StoreConfig::default()
    };
    let plans = vec![PlanDefinition::from_toml(PLAN).unwrap()];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Ledger::open_with_config(
        dir_a.path(),
        store.clone(),
        LedgerConfig::default(),
        plans.clone(),
    )
    .await
    .unwrap();
    let b = Ledger::open_with_config(dir_b.path(), store, LedgerConfig::default(), plans)
        .await
        .unwrap();
    let (empty, _) = projected(&b).await;

    let first = record(&a, 1).await;
    let on_b = folded(&b, first.position).await;
    assert_ne!(on_b, empty, "b's projection took a's event");
    assert_eq!(on_b, projected(&a).await.0);

    // The other way round, and a retry through the other ledger is the original event.
    let second = record(&b, 2).await;
    assert_eq!(second.position, first.position + 1);
    assert_eq!(second.prev_hash, first.hash);
    assert_eq!(record(&a, 2).await, second);
    let on_a = folded(&a, second.position).await;
    assert_eq!(on_a, projected(&b).await.0);
    assert_eq!(
        a.store().verify().unwrap(),
        b.store().verify().unwrap(),
        "one chain, one digest"
    );
    a.close().await;
    b.close().await;
}

/// A database that lost events the ledger acknowledged (an asynchronous standby promoted):
/// the next record is refused as `LOG_DAMAGED`, not as a failure to retry, and the ledger
/// is not ready, saying why, without waiting for a walk of the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_behind_the_acknowledged_head_is_not_ready_and_refuses_writes() {
    let Some(cluster) = cluster::Cluster::shared() else {
        return;
    };
    let url = cluster.database();
    let store = StoreConfig {
        backend: Backend::Postgres,
        postgres: PostgresConfig {
            url: Some(url.clone()),
            ..PostgresConfig::unset()
        },
        ..StoreConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let plans = vec![PlanDefinition::from_toml(PLAN).unwrap()];
    let ledger = Ledger::open_with_config(dir.path(), store, LedgerConfig::default(), plans)
        .await
        .unwrap();
    for n in 1..=3 {
        record(&ledger, n).await;
    }
    let within = Duration::from_secs(5);
    assert_eq!(ledger.readiness(within).await, Ok(()));
    cluster.psql(
        &url,
        "ALTER TABLE kpi_events DISABLE TRIGGER kpi_events_append_only; \
         DELETE FROM kpi_events WHERE position = 3; \
         UPDATE kpi_log_head SET position = 2, \
         hash = (SELECT hash FROM kpi_events WHERE position = 2)",
    );
    let refused = ledger
        .record_payload("clerk", "seminar", &seminar(4), RecordOptions::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), kpi_service::LOG_DAMAGED, "{refused}");
    let unready = ledger.readiness(within).await.unwrap_err();
    assert!(
        unready.contains("before position 3 that was acknowledged"),
        "{unready}"
    );
    ledger.close().await;
}
