//! `/metrics` against the real ledger over HTTP. The counters are process-wide, so this file
//! holds one test: under `cargo test` (one process per file) no other test appends beside it.

mod graphql_support;

use graphql_support::kinds::ALL;
use graphql_support::{metric, record_mutation, LedgerServer, Who};
use serde_json::json;

/// `/metrics` counts the events the ledger wrote, through the real append path: an
/// idempotent retry writes nothing and is not counted, and the seed import counts as many
/// appends as events it wrote.
#[tokio::test]
async fn appends_are_counted_per_event_written_not_per_retry() {
    let server = LedgerServer::start().await;
    let seminar = &ALL[0];
    let mutation = record_mutation(seminar.mutation, seminar.input_type);
    let keyed = json!({ "input": (seminar.input)(0), "key": "metrics-retry" });
    for _ in 0..3 {
        server.data(Who::Recorder, &mutation, keyed.clone()).await;
    }
    server
        .data(
            Who::Recorder,
            &mutation,
            json!({ "input": (seminar.input)(1) }),
        )
        .await;
    assert_eq!(server.head(), 2);
    server.import_seed().await;
    let written = server.head();
    assert!(written > 2);

    let text = server.metrics().await;
    assert_eq!(
        metric(&text, "kpi_appends_total"),
        Some(written as f64),
        "{text}"
    );
    assert_eq!(
        metric(&text, "kpi_append_duration_seconds_count"),
        Some(written as f64),
        "one latency sample per append that wrote: {text}"
    );
    assert_eq!(
        metric(&text, "kpi_store_head_position"),
        Some(written as f64)
    );
    server.stop().await;
}
