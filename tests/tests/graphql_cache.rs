//! The server's answer cache over the real schema and ledger: a repeated query is answered
//! from it, and no write, plan change, as-of instant or role lets an older or another
//! caller's answer through.

mod graphql_support;

use graphql_support::kinds::ALL;
use graphql_support::{cell, record_mutation, LedgerServer, Who, PLAN_ID};
use serde_json::{json, Value};

/// Figures only, as the published table shows them.
const FIGURES: &str = "query Table($plan: ID!, $asOf: DateTime) { kpiTable(plan: $plan, \
    asOf: $asOf) { position rows { kpi series target { value kind } cells { label value } } } }";

async fn figures(server: &LedgerServer, who: Who, as_of: Value) -> Value {
    server
        .data(who, FIGURES, json!({ "plan": PLAN_ID, "asOf": as_of }))
        .await["kpiTable"]
        .clone()
}

async fn record_seminar(server: &LedgerServer, n: u32) -> Value {
    let kind = &ALL[0];
    assert_eq!(kind.mutation, "recordSeminar");
    server
        .data(
            Who::Recorder,
            &record_mutation(kind.mutation, kind.input_type),
            json!({ "input": (kind.input)(n) }),
        )
        .await[kind.mutation]
        .clone()
}

/// Requests answered from the cache so far, from `/metrics`.
async fn cache_hits(server: &LedgerServer) -> f64 {
    graphql_support::metric(
        &server.metrics().await,
        "kpi_graphql_cache_lookups_total{outcome=\"hit\"}",
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn a_record_is_seen_by_the_next_identical_query() {
    let server = LedgerServer::start().await;
    record_seminar(&server, 0).await;
    let first = figures(&server, Who::Reader, Value::Null).await;
    let hits = cache_hits(&server).await;
    assert_eq!(figures(&server, Who::Reader, Value::Null).await, first);
    assert!(
        cache_hits(&server).await > hits,
        "the repeated query was answered from the cache"
    );
    assert_eq!(first["position"], 1);
    assert_eq!(cell(&first, "2", "MAIN", "R6")["value"], "30");

    record_seminar(&server, 1).await;
    let after = figures(&server, Who::Reader, Value::Null).await;
    assert_eq!(after["position"], 2);
    assert_eq!(
        cell(&after, "2", "MAIN", "R6")["value"],
        "60",
        "the cached table of position 1 is not served after the record"
    );
    // The head query reads the store, not the projection: it moves too.
    let head = server
        .data(Who::Reader, "{ head { position } }", json!({}))
        .await;
    assert_eq!(head["head"]["position"], 2);
    record_seminar(&server, 2).await;
    let head = server
        .data(Who::Reader, "{ head { position } }", json!({}))
        .await;
    assert_eq!(head["head"]["position"], 3);
}

#[tokio::test]
async fn a_plan_change_and_a_rebuild_are_seen_by_the_next_identical_query() {
    let server = LedgerServer::start().await;
    let target = |table: &Value| {
        table["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["kpi"] == "2" && row["series"] == "MAIN")
            .unwrap()["target"]["value"]
            .clone()
    };
    let before = figures(&server, Who::Reader, Value::Null).await;
    assert_eq!(figures(&server, Who::Reader, Value::Null).await, before);
    assert_ne!(target(&before), "2000");

    server
        .data(
            Who::Admin,
            "mutation($target: TargetInput!) { reviseKpiTarget(planId: \"telework-roadmap\", \
             kpi: \"2\", target: $target, decidedOn: \"2025-06-01\", reason: \"raised\") { id } }",
            json!({ "target": { "value": "2000", "kind": "CUMULATIVE" } }),
        )
        .await;
    let revised = figures(&server, Who::Reader, Value::Null).await;
    assert_eq!(
        target(&revised),
        "2000",
        "the revised target, not the cached one"
    );

    // A rebuild swaps in a new projection of the same log: the answer is recomputed from it
    // and is the same.
    server
        .data(
            Who::Admin,
            "mutation { rebuildProjection { position } }",
            json!({}),
        )
        .await;
    assert_eq!(figures(&server, Who::Reader, Value::Null).await, revised);
}

#[tokio::test]
async fn as_of_instants_are_answered_separately() {
    let server = LedgerServer::start().await;
    let first = record_seminar(&server, 0).await;
    record_seminar(&server, 1).await;
    let at_first = first["recordedAt"].clone();

    let now = figures(&server, Who::Reader, Value::Null).await;
    let then = figures(&server, Who::Reader, at_first.clone()).await;
    assert_eq!(now["position"], 2);
    assert_eq!(then["position"], 1);
    assert_eq!(cell(&then, "2", "MAIN", "R6")["value"], "30");
    assert_eq!(cell(&now, "2", "MAIN", "R6")["value"], "60");
    // Each repeated: each its own answer.
    assert_eq!(figures(&server, Who::Reader, at_first).await, then);
    assert_eq!(figures(&server, Who::Reader, Value::Null).await, now);
}

#[tokio::test]
async fn a_cached_answer_is_not_given_to_a_caller_who_may_not_read() {
    let server = LedgerServer::start().await;
    let answer = figures(&server, Who::Reader, Value::Null).await;
    assert_eq!(figures(&server, Who::Reader, Value::Null).await, answer);
    let (status, body) = server
        .post(
            Who::Nobody,
            FIGURES,
            json!({ "plan": PLAN_ID, "asOf": null }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert!(body["data"].is_null(), "{body}");
    // Every role that may read gets the same figures.
    assert_eq!(figures(&server, Who::Recorder, Value::Null).await, answer);
    assert_eq!(figures(&server, Who::Admin, Value::Null).await, answer);
    // And an error is not kept for the reader either.
    let (_, refused) = server
        .post(
            Who::Nobody,
            FIGURES,
            json!({ "plan": PLAN_ID, "asOf": null }),
        )
        .await;
    assert_eq!(refused, body);
    assert_eq!(figures(&server, Who::Reader, Value::Null).await, answer);
}

#[tokio::test]
async fn the_same_mutation_sent_twice_runs_twice() {
    let server = LedgerServer::start().await;
    let first = record_seminar(&server, 7).await;
    let second = record_seminar(&server, 7).await;
    assert_ne!(first["id"], second["id"]);
    assert_eq!(server.head(), 2);
}

/// The table through a date (valid time), with the as-of instant (transaction time).
const FIGURES_THROUGH: &str = "query Table($plan: ID!, $asOf: DateTime, $through: Date) { \
    kpiTable(plan: $plan, asOf: $asOf, through: $through) { position through rows { kpi series \
    cells { label value } } } }";

async fn figures_through(server: &LedgerServer, as_of: Value, through: Value) -> Value {
    server
        .data(
            Who::Reader,
            FIGURES_THROUGH,
            json!({ "plan": PLAN_ID, "asOf": as_of, "through": through }),
        )
        .await["kpiTable"]
        .clone()
}

#[tokio::test]
async fn through_dates_are_answered_separately() {
    let server = LedgerServer::start().await;
    // Both seminars happened on 2024-04-30.
    let first = record_seminar(&server, 0).await;
    record_seminar(&server, 1).await;
    let at_first = first["recordedAt"].clone();

    let before = figures_through(&server, Value::Null, json!("2024-04-29")).await;
    let on = figures_through(&server, Value::Null, json!("2024-04-30")).await;
    let on_as_known_first = figures_through(&server, at_first.clone(), json!("2024-04-30")).await;
    assert_eq!(cell(&before, "2", "MAIN", "R6")["value"], Value::Null);
    assert_eq!(before["through"], "2024-04-29");
    assert_eq!(cell(&on, "2", "MAIN", "R6")["value"], "60");
    assert_eq!(cell(&on_as_known_first, "2", "MAIN", "R6")["value"], "30");
    // Each repeated, in another order: each its own answer.
    assert_eq!(
        figures_through(&server, at_first, json!("2024-04-30")).await,
        on_as_known_first
    );
    assert_eq!(
        figures_through(&server, Value::Null, json!("2024-04-30")).await,
        on
    );
    assert_eq!(
        figures_through(&server, Value::Null, json!("2024-04-29")).await,
        before
    );
}

#[tokio::test]
async fn a_cache_of_zero_bytes_answers_every_query_afresh() {
    let server = LedgerServer::start_with(|config| config.answer_cache_bytes = 0).await;
    record_seminar(&server, 0).await;
    let hits = cache_hits(&server).await;
    let first = figures(&server, Who::Reader, Value::Null).await;
    assert_eq!(figures(&server, Who::Reader, Value::Null).await, first);
    assert_eq!(
        cache_hits(&server).await,
        hits,
        "nothing was answered from a cache"
    );
}
