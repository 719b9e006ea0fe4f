//! Queries over real HTTP: as-of tables after a correction, the event log's filters and
//! cursors, verification and audit findings, batched drill-down on the Fuji seed, and the
//! depth, complexity and body limits applied to the real schema.

mod graphql_support;

use std::num::NonZeroUsize;

use graphql_support::kinds::ALL;
use graphql_support::{cell, record_mutation, LedgerServer, Who, CORRECT_EVENT, PLAN_ID, TABLE};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn record(server: &LedgerServer, kind: usize, input: Value) -> Value {
    let kind = &ALL[kind];
    server
        .data(
            Who::Recorder,
            &record_mutation(kind.mutation, kind.input_type),
            json!({ "input": input }),
        )
        .await[kind.mutation]
        .clone()
}

async fn table(server: &LedgerServer, as_of: Value) -> Value {
    server
        .data(
            Who::Reader,
            TABLE,
            json!({ "plan": PLAN_ID, "asOf": as_of }),
        )
        .await["kpiTable"]
        .clone()
}

#[tokio::test]
async fn as_of_returns_the_older_table_after_a_correction() {
    let server = LedgerServer::start().await;
    let seminar = record(&server, 0, (ALL[0].input)(0)).await;
    let before_correction = seminar["recordedAt"].clone();

    let mut replacement = (ALL[0].input)(0);
    replacement["participants"] = json!({ "unique": 25, "attendances": 50 });
    let correction = server
        .data(
            Who::Recorder,
            CORRECT_EVENT,
            json!({ "target": seminar["id"], "replacement": { "seminar": replacement },
                    "reason": "名簿の重複", "decidedOn": "2025-05-01" }),
        )
        .await["correctEvent"]
        .clone();

    let now = table(&server, Value::Null).await;
    let r6 = cell(&now, "2", "MAIN", "R6");
    assert_eq!(r6["value"], "25");
    assert_eq!(r6["amendedByIds"], json!([correction["id"]]));
    assert_eq!(now["position"], 2);
    assert_eq!(now["asOf"], Value::Null);

    let then = table(&server, before_correction.clone()).await;
    let r6 = cell(&then, "2", "MAIN", "R6");
    assert_eq!(
        r6["value"], "30",
        "as of the seminar, before its correction"
    );
    assert_eq!(r6["amendedByIds"], json!([]));
    assert_eq!(r6["eventIds"], json!([seminar["id"]]));
    assert_eq!(then["position"], 1);
    assert!(then["asOf"].is_string());

    let history = server
        .data(
            Who::Reader,
            "query($asOf: DateTime) { kpiHistory(plan: \"telework-roadmap\", kpi: \"2\", asOf: $asOf) { cells { label value } } }",
            json!({ "asOf": before_correction }),
        )
        .await;
    assert_eq!(history["kpiHistory"]["cells"][3]["value"], "30");

    let before_anything = table(&server, json!("2000-01-01T00:00:00Z")).await;
    assert_eq!(before_anything["position"], 0);
    assert_eq!(
        cell(&before_anything, "2", "MAIN", "R6")["value"],
        Value::Null
    );
    server.stop().await;
}

const EVENTS: &str = "query Events($filter: EventFilter, $first: Int, $after: String) { \
    events(filter: $filter, first: $first, after: $after) { \
      edges { cursor node { id position type title streamId recordedAt } } \
      pageInfo { hasNextPage endCursor } } }";

fn positions(answer: &Value) -> Vec<u64> {
    answer["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["position"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_event_log_filters_and_pages_by_cursor() {
    let server = LedgerServer::start().await;
    let mut recorded = Vec::new();
    for n in 0..5 {
        recorded.push(record(&server, 0, (ALL[0].input)(n)).await);
        recorded.push(record(&server, 13, (ALL[13].input)(n)).await);
    }
    let events = |filter: Value, first: Value, after: Value| {
        let server = &server;
        async move {
            server
                .data(
                    Who::Reader,
                    EVENTS,
                    json!({ "filter": filter, "first": first, "after": after }),
                )
                .await
        }
    };

    // Pages of 2 over the 5 seminars, following endCursor, cover each exactly once.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    for page in 0.. {
        let answer = events(json!({ "type": "SEMINAR" }), json!(2), after).await;
        seen.extend(positions(&answer));
        let info = &answer["events"]["pageInfo"];
        if info["hasNextPage"] == false {
            assert_eq!(page, 2, "5 seminars in pages of 2");
            break;
        }
        after = info["endCursor"].clone();
    }
    assert_eq!(seen, [1, 3, 5, 7, 9]);

    let titled = events(
        json!({ "titleContains": "展示会 3" }),
        Value::Null,
        Value::Null,
    )
    .await;
    assert_eq!(positions(&titled), [8]);
    let stream = events(
        json!({ "stream": "exhibition/2024" }),
        Value::Null,
        Value::Null,
    )
    .await;
    assert_eq!(positions(&stream), [2, 4, 6, 8, 10]);
    let other_year = events(json!({ "fiscalYear": "R5" }), Value::Null, Value::Null).await;
    assert_eq!(positions(&other_year), Vec::<u64>::new());

    let from = recorded[4]["recordedAt"].clone();
    let to = recorded[6]["recordedAt"].clone();
    let window = events(
        json!({ "recordedFrom": from, "recordedTo": to }),
        Value::Null,
        Value::Null,
    )
    .await;
    assert_eq!(positions(&window), [5, 6, 7]);

    let none = events(Value::Null, json!(0), Value::Null).await;
    assert_eq!(positions(&none), Vec::<u64>::new());
    assert_eq!(none["events"]["pageInfo"]["hasNextPage"], true);
    server.stop().await;
}

#[tokio::test]
async fn verification_and_audit_findings_report_on_the_log() {
    let server = LedgerServer::start().await;
    let mut scheduled = (ALL[0].input)(0);
    scheduled["status"] = json!("SCHEDULED");
    scheduled["firstDate"] = json!("2025-03-01");
    let seminar = record(&server, 0, scheduled).await;

    let data = server
        .data(
            Who::Reader,
            "{ verification { ok digest { position hash } failure { position reason } } \
               head { position hash } \
               auditFindings { kind fiscalYear planId kpi series eventIds events { id type } message } }",
            Value::Null,
        )
        .await;
    assert_eq!(data["verification"]["ok"], true);
    assert_eq!(data["verification"]["digest"], data["head"]);
    assert_eq!(data["head"]["position"], 1);
    assert_eq!(data["head"]["hash"], seminar["hash"]);

    let findings = data["auditFindings"].as_array().unwrap();
    let finding = findings
        .iter()
        .find(|finding| finding["kind"] == "SCHEDULED_COUNTED_AS_HELD")
        .unwrap_or_else(|| panic!("no finding for the scheduled seminar: {data}"));
    assert_eq!(finding["eventIds"], json!([seminar["id"]]));
    assert_eq!(finding["events"][0]["type"], "SEMINAR");
    assert!(finding["message"].as_str().unwrap().contains("scheduled"));
    server.stop().await;
}

#[tokio::test]
async fn a_table_with_drill_down_reads_the_store_in_one_batch() {
    let server = LedgerServer::start().await;
    server.import_seed().await;

    let batches_before = server.loads.batches();
    let data = server
        .data(
            Who::Reader,
            "{ kpiTable(plan: \"telework-roadmap\") { rows { kpi series cells { label value \
               eventIds events { id type provenance } } } } }",
            Value::Null,
        )
        .await;
    let table = &data["kpiTable"];
    let mut drilled = 0;
    for row in table["rows"].as_array().unwrap() {
        for cell in row["cells"].as_array().unwrap() {
            let ids = cell["eventIds"].as_array().unwrap();
            let events = cell["events"].as_array().unwrap();
            assert_eq!(events.len(), ids.len(), "{cell}");
            for (event, id) in events.iter().zip(ids) {
                assert_eq!(&event["id"], id);
            }
            drilled += ids.len();
        }
    }
    // The published figures, through HTTP.
    assert_eq!(cell(table, "1", "MAIN", "R6")["value"], "35.8");
    assert_eq!(cell(table, "2", "MAIN", "R6")["value"], "568");
    assert_eq!(
        cell(table, "2", "MAIN", "R6")["eventIds"]
            .as_array()
            .unwrap()
            .len(),
        15
    );
    assert!(drilled > 400, "{drilled}");
    assert_eq!(
        server.loads.batches() - batches_before,
        1,
        "{drilled} events behind 75 cells are read in one batch"
    );
    server.stop().await;
}

/// `{ event(id) { target { target { ... { id } } } } }` with `depth` fields in the deepest
/// path.
fn nested_targets(depth: usize) -> String {
    let mut query = String::from("id");
    for _ in 1..depth {
        query = format!("target {{ {query} }}");
    }
    format!("{{ event(id: \"0190d1c4-0000-7000-8000-000000000000\") {{ {query} }} }}")
}

#[tokio::test]
async fn depth_complexity_and_body_limits_hold_on_the_real_schema() {
    let server = LedgerServer::start_with(|config| {
        config.limits.max_depth = NonZeroUsize::new(8).unwrap();
        config.limits.max_complexity = NonZeroUsize::new(500).unwrap();
        config.limits.max_body_bytes = NonZeroUsize::new(4096).unwrap();
    })
    .await;

    // Depth: 8 levels answer (the event does not exist: null), 9 are refused unexecuted.
    let (status, body) = server
        .post(Who::Reader, &nested_targets(8), Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["event"], Value::Null, "{body}");
    let (_, body) = server
        .post(Who::Reader, &nested_targets(9), Value::Null)
        .await;
    assert!(body.get("data").is_none(), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{body}"
    );

    // Complexity counts the page size: 20 events of 4 fields fit in 500, 100 do not.
    let page = |first: u32| {
        format!("{{ events(first: {first}) {{ edges {{ node {{ id position hash type }} }} }} }}")
    };
    let (_, body) = server.post(Who::Reader, &page(20), Value::Null).await;
    assert!(body.get("errors").is_none(), "{body}");
    let (_, body) = server.post(Who::Reader, &page(100), Value::Null).await;
    assert!(body.get("data").is_none(), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too complex"),
        "{body}"
    );

    // Body: a mutation larger than the limit is refused before it is read, and writes nothing.
    let mut input = (ALL[0].input)(0);
    input["note"] = json!("長".repeat(2000));
    let query = record_mutation(ALL[0].mutation, ALL[0].input_type);
    let response = graphql_support::client()
        .post(server.url("/graphql"))
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, format!("Bearer {}", server.tokens.recorder))
        .body(json!({ "query": query, "variables": { "input": input } }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(server.head(), 0);
    // The same mutation within the limit is recorded.
    input["note"] = json!("短い");
    let recorded = record(&server, 0, input).await;
    assert_eq!(recorded["position"], 1);
    server.stop().await;
}

#[tokio::test]
async fn anonymous_read_opens_queries_but_never_writes() {
    let server = LedgerServer::start_with(|config| config.anonymous_read = true).await;
    let data = server
        .data(
            Who::Nobody,
            "{ head { position } kpiTable(plan: \"telework-roadmap\") { position } }",
            Value::Null,
        )
        .await;
    assert_eq!(data["head"]["position"], 0);
    let kind = &ALL[0];
    let error = server
        .error(
            Who::Nobody,
            &record_mutation(kind.mutation, kind.input_type),
            json!({ "input": (kind.input)(0) }),
        )
        .await;
    assert_eq!(error.code, "UNAUTHENTICATED", "{error:?}");
    assert_eq!(server.head(), 0);
    server.stop().await;
}
