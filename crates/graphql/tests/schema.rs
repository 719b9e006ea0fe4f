//! The schema executed in process against a real ledger holding the Fuji seed: the table it
//! answers is the service's table, drill-downs read the store in batches, and the role check
//! guards every root field. (Over real HTTP: tests/tests/graphql_*.rs.)

mod support;

use serde_json::{json, Value};
use support::{reader, run, seeded};

const TABLE_WITH_DRILL_DOWN: &str = r#"
query Table($plan: ID!) {
  kpiTable(plan: $plan) {
    planId position
    rows {
      kpi series cumulative achievement
      cells { label value unit counted eventIds events { id position type } }
    }
  }
}"#;

#[tokio::test]
async fn the_table_is_the_services_table_and_drill_down_reads_in_one_batch() {
    let fixture = seeded().await;
    let expected = fixture
        .ledger
        .table(&kpi_service::TableQuery::new("telework-roadmap"))
        .await
        .unwrap()
        .table;

    let answer = run(
        &fixture.schema,
        Some(reader()),
        TABLE_WITH_DRILL_DOWN,
        json!({ "plan": "telework-roadmap" }),
    )
    .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let table = &answer["data"]["kpiTable"];
    assert_eq!(table["position"], fixture.ledger.head().position);
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), expected.rows.len());

    let mut drilled = 0;
    for (row, expected_row) in rows.iter().zip(&expected.rows) {
        assert_eq!(row["kpi"], expected_row.kpi.as_str());
        let show = |value: Option<rust_decimal::Decimal>| {
            value.map_or(Value::Null, |value| Value::from(value.to_string()))
        };
        assert_eq!(row["cumulative"], show(expected_row.cumulative));
        assert_eq!(row["achievement"], show(expected_row.achievement));
        for (cell, expected_cell) in row["cells"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&expected_row.cells)
        {
            assert_eq!(cell["value"], show(expected_cell.value));
            assert_eq!(cell["label"], expected_cell.fiscal_year.label());
            let ids: Vec<String> = expected_cell
                .event_ids
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(cell["eventIds"], json!(ids));
            let loaded: Vec<&str> = cell["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|event| event["id"].as_str().unwrap())
                .collect();
            assert_eq!(loaded, ids, "drill-down returns every event, in order");
            drilled += ids.len();
        }
    }
    // The report's own figures, read through GraphQL.
    let kpi1 = &rows[0]["cells"];
    assert_eq!(kpi1[3]["label"], "R6");
    assert_eq!(kpi1[3]["value"], "35.8");
    assert_eq!(rows[1]["cumulative"], "1565");

    assert!(
        drilled > 400,
        "the seed puts hundreds of events behind the cells: {drilled}"
    );
    // Distinct ids per batch are capped at 1,000 by the loader; the whole table fits in one.
    assert_eq!(
        fixture.loads.batches(),
        1,
        "{drilled} drilled-down events over {} cells must be read in one batch",
        rows.len() * 5
    );
}

#[tokio::test]
async fn kpi_history_and_the_event_log_answer_from_the_same_events() {
    let fixture = seeded().await;
    let answer = run(
        &fixture.schema,
        Some(reader()),
        r#"{
          kpiHistory(plan: "telework-roadmap", kpi: "2") {
            kpi series cells { label value events { type title } }
          }
          seminars: events(filter: { type: SEMINAR, fiscalYear: "R6" }, first: 5) {
            edges { cursor node { position type fiscalYear } }
            pageInfo { hasNextPage endCursor }
          }
          head { position hash }
          verification { ok digest { position hash } failure { position } }
        }"#,
        json!({}),
    )
    .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let data = &answer["data"];
    let r6 = &data["kpiHistory"]["cells"][3];
    assert_eq!(r6["label"], "R6");
    assert_eq!(r6["value"], "568");
    let kinds: Vec<&str> = r6["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 15, "13 seminars and 2 consultation tallies");
    assert!(kinds
        .iter()
        .all(|kind| ["SEMINAR", "CONSULTATION"].contains(kind)));

    let edges = data["seminars"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 5);
    for edge in edges {
        assert_eq!(edge["node"]["type"], "SEMINAR");
        assert_eq!(edge["node"]["fiscalYear"], 2024);
        assert_eq!(edge["cursor"], edge["node"]["position"].to_string());
    }
    assert_eq!(data["seminars"]["pageInfo"]["hasNextPage"], true);

    // The next page starts after the cursor and holds the remaining 8 of the 13 seminars.
    let after = data["seminars"]["pageInfo"]["endCursor"].as_str().unwrap();
    let next = run(
        &fixture.schema,
        Some(reader()),
        r#"query Next($after: String) {
          events(filter: { type: SEMINAR, fiscalYear: 2024 }, first: 50, after: $after) {
            edges { node { position } } pageInfo { hasNextPage }
          }
        }"#,
        json!({ "after": after }),
    )
    .await;
    let next_edges = next["data"]["events"]["edges"].as_array().unwrap();
    assert_eq!(next_edges.len(), 8, "{next}");
    assert!(next_edges[0]["node"]["position"].as_u64().unwrap() > after.parse::<u64>().unwrap());
    assert_eq!(next["data"]["events"]["pageInfo"]["hasNextPage"], false);

    let head = fixture.ledger.head();
    assert_eq!(data["head"]["position"], head.position);
    assert_eq!(data["head"]["hash"], head.hash.to_hex());
    assert_eq!(data["verification"]["ok"], true);
    assert_eq!(data["verification"]["digest"]["hash"], head.hash.to_hex());
    assert_eq!(data["verification"]["failure"], Value::Null);
}

#[tokio::test]
async fn audit_findings_are_the_services_and_name_their_events() {
    let fixture = seeded().await;
    let expected = fixture.ledger.audit_findings();
    let answer = run(
        &fixture.schema,
        Some(reader()),
        "{ auditFindings { kind message eventIds events { id } } }",
        json!({}),
    )
    .await;
    let findings = answer["data"]["auditFindings"].as_array().unwrap();
    assert_eq!(findings.len(), expected.len());
    assert!(!findings.is_empty(), "the seed leaves findings to report");
    for (finding, expected) in findings.iter().zip(&expected) {
        assert_eq!(finding["message"], expected.message.as_str());
        assert_eq!(
            finding["eventIds"].as_array().unwrap().len(),
            expected.event_ids.len()
        );
        assert_eq!(
            finding["eventIds"],
            finding["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].clone())
                .collect::<Value>()
        );
    }
    assert_eq!(findings[0]["kind"], "SCHEDULED_COUNTED_AS_HELD");
}

#[tokio::test]
async fn bad_query_arguments_name_the_argument() {
    let fixture = seeded().await;
    for (query, field, code) in [
        (
            r#"{ events(first: 501) { edges { cursor } } }"#,
            "first",
            "BAD_USER_INPUT",
        ),
        (
            r#"{ events(after: "x") { edges { cursor } } }"#,
            "after",
            "BAD_USER_INPUT",
        ),
        (
            r#"{ events(filter: { fiscalYear: "R-6" }) { edges { cursor } } }"#,
            "filter.fiscalYear",
            "BAD_USER_INPUT",
        ),
        (r#"{ event(id: "nope") { id } }"#, "id", "BAD_USER_INPUT"),
        (
            r#"{ kpiTable(plan: "nope") { position } }"#,
            "plan",
            "NOT_FOUND",
        ),
        (
            r#"{ kpiHistory(plan: "telework-roadmap", kpi: "99") { kpi } }"#,
            "kpi",
            "NOT_FOUND",
        ),
    ] {
        let answer = run(&fixture.schema, Some(reader()), query, json!({})).await;
        let error = &answer["errors"][0];
        assert_eq!(error["extensions"]["code"], code, "{query}: {answer}");
        assert_eq!(error["extensions"]["field"], field, "{query}: {answer}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains(field.rsplit('.').next().unwrap()),
            "{query}: the message names the field: {answer}"
        );
    }
}

#[tokio::test]
async fn without_a_caller_every_root_field_is_refused() {
    let fixture = seeded().await;
    for query in [
        "{ plans { id } }",
        r#"{ kpiTable(plan: "telework-roadmap") { position } }"#,
        r#"{ kpiHistory(plan: "telework-roadmap", kpi: "1") { kpi } }"#,
        "{ events { edges { cursor } } }",
        r#"{ event(id: "018f0000-0000-7000-8000-000000000000") { id } }"#,
        "{ verification { ok } }",
        "{ auditFindings { message } }",
        "{ head { position } }",
    ] {
        let answer = run(&fixture.schema, None, query, json!({})).await;
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{query}: {answer}"
        );
        assert_eq!(answer["data"], Value::Null, "{query}: {answer}");
    }
    let reader_answer = run(
        &fixture.schema,
        Some(reader()),
        "{ plans { id kpis { id series unit target { value kind } } } }",
        json!({}),
    )
    .await;
    let plan = &reader_answer["data"]["plans"][0];
    assert_eq!(plan["id"], "telework-roadmap");
    assert_eq!(
        plan["kpis"][1]["target"],
        json!({ "value": "1000", "kind": "CUMULATIVE" })
    );
    assert_eq!(plan["kpis"][0]["unit"], "PERCENT");
}

/// A walk of the whole chain names the first bad position of a log damaged before the
/// checkpoint start-up used (start-up checks only what follows it), and from then on a write
/// is refused with `LOG_DAMAGED`.
#[tokio::test]
async fn verification_names_the_first_bad_position_and_writes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plan = kpi_domain::PlanDefinition::from_toml(support::PLAN).unwrap();
    let ledger = kpi_service::Ledger::open(dir.path(), Default::default(), vec![plan.clone()])
        .await
        .unwrap();
    for n in 0..3 {
        let seminar = json!({
            "title": format!("セミナー {n}"), "organiser": "DX・テレワーク推進センター",
            "first_date": "2024-04-30", "sessions": 1,
            "participants": { "unique": 5, "attendances": 5 }, "status": "held"
        });
        ledger
            .record_payload("clerk", "seminar", &seminar, Default::default())
            .await
            .unwrap();
    }
    let schema = kpi_graphql::build_schema(ledger.clone());
    let query = "{ verification { ok digest { position } failure { position reason } } }";
    let intact = run(&schema, Some(reader()), query, json!({})).await;
    assert_eq!(
        intact["data"]["verification"],
        json!({ "ok": true, "digest": { "position": 3 }, "failure": null })
    );
    drop(schema);
    // Closing writes the checkpoint at position 3.
    ledger.close().await;

    // Each record above was its own commit group, so position 2 is alone under its key. On
    // a blocking thread: the closed ledger's follower lets go of the store meanwhile.
    let path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let store = kpi_store::EventStore::open(&path, Default::default()).unwrap();
        let db = store.__sled();
        db.remove(kpi_store::raw::event_key(2)).unwrap();
        db.flush().unwrap();
    })
    .await
    .unwrap();
    let ledger = kpi_service::Ledger::open(dir.path(), Default::default(), vec![plan])
        .await
        .unwrap();
    let schema = kpi_graphql::build_schema(ledger.clone());
    let broken = run(&schema, Some(reader()), query, json!({})).await;
    let verification = &broken["data"]["verification"];
    assert_eq!(verification["ok"], false, "{broken}");
    assert_eq!(verification["digest"], Value::Null);
    assert_eq!(verification["failure"]["position"], 2);
    assert!(
        verification["failure"]["reason"]
            .as_str()
            .unwrap()
            .contains("missing"),
        "{broken}"
    );

    let recorder = kpi_service::auth::Caller::Token {
        name: "clerk".into(),
        role: kpi_service::auth::Role::Recorder,
    };
    let refused = run(
        &schema,
        Some(recorder),
        r#"mutation { recordSeminar(input: {
            title: "damaged", organiser: "DX・テレワーク推進センター", firstDate: "2024-05-01",
            sessions: 1, participants: { unique: 1, attendances: 1 }, status: HELD
        }) { position } }"#,
        json!({}),
    )
    .await;
    let error = &refused["errors"][0];
    assert_eq!(error["extensions"]["code"], "LOG_DAMAGED", "{refused}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("fails verification at position 2"),
        "{refused}"
    );
    assert_eq!(ledger.head().position, 3, "nothing was appended");
}

#[tokio::test]
async fn a_figures_only_table_has_the_same_figures_as_the_drilled_down_one() {
    let fixture = seeded().await;
    let figures_only = r#"
      query Table($plan: ID!) {
        kpiTable(plan: $plan) { rows { kpi series cumulative achievement cells { label value unit counted } } }
      }"#;
    let with_ids = r#"
      query Table($plan: ID!) {
        kpiTable(plan: $plan) { rows { kpi series cumulative achievement cells { label value unit counted eventIds } } }
      }"#;
    let vars = json!({ "plan": "telework-roadmap" });
    let plain = run(&fixture.schema, Some(reader()), figures_only, vars.clone()).await;
    let mut drilled = run(&fixture.schema, Some(reader()), with_ids, vars).await;
    assert!(plain.get("errors").is_none(), "{plain}");
    let mut ids = 0;
    for row in drilled["data"]["kpiTable"]["rows"].as_array_mut().unwrap() {
        for cell in row["cells"].as_array_mut().unwrap() {
            ids += cell["eventIds"].as_array().unwrap().len();
            cell.as_object_mut().unwrap().remove("eventIds");
        }
    }
    assert!(ids > 300, "the drill-down lists the seed's events: {ids}");
    assert_eq!(plain, drilled);
}

/// Amends half of the seed's survey responses (some twice: corrected twice, or corrected
/// then retracted; a retracted event is not amended again) and a few consultations that a
/// page of responses does not show; the responses' ids with their amendments' ids and types,
/// in log order.
async fn amend_responses(
    ledger: &kpi_service::Ledger,
) -> Vec<(String, Vec<(String, &'static str)>)> {
    let filter = |kind: &str| kpi_service::EventFilter {
        event_type: Some(kind.to_owned()),
        ..Default::default()
    };
    let responses = ledger
        .events(&filter("survey_response"), 0, 500)
        .unwrap()
        .events;
    let consultations = ledger.events(&filter("consultation"), 0, 3).unwrap().events;
    assert!(responses.len() > 150, "the seed holds 187 survey responses");
    let correct = |recorded: &kpi_domain::RecordedEvent, kind: &str| {
        json!({
            "target": recorded.id.to_string(), "target_type": kind,
            "replacement": recorded.event.to_payload(),
            "reason": "名簿の再集計", "decided_on": "2025-05-01"
        })
    };
    let retract = |recorded: &kpi_domain::RecordedEvent| json!({ "target": recorded.id.to_string(), "reason": "二重登録", "decided_on": "2025-05-02" });
    let record = |event_type: &'static str, payload: Value| async move {
        let envelope = ledger
            .record_payload("clerk", event_type, &payload, Default::default())
            .await
            .unwrap_or_else(|error| panic!("{event_type}: {error}"));
        (envelope.event_id.to_string(), event_type)
    };
    let mut expected: Vec<(String, Vec<(String, &'static str)>)> = responses
        .iter()
        .map(|(envelope, _)| (envelope.event_id.to_string(), Vec::new()))
        .collect();
    // Two rounds, so the amendments of different events interleave in the log.
    for round in 0..2 {
        for (index, (_, recorded)) in responses.iter().enumerate() {
            let amendment = match (index % 8, round) {
                (0, 0) | (0, 1) | (1, 0) => {
                    record("correction", correct(recorded, "survey_response")).await
                }
                (1, 1) | (2, 0) => record("retraction", retract(recorded)).await,
                _ => continue,
            };
            expected[index].1.push(amendment);
        }
        for (_, recorded) in &consultations {
            record("correction", correct(recorded, "consultation")).await;
        }
    }
    expected
}

#[tokio::test]
async fn a_page_of_events_reads_all_their_amendments_in_one_batch() {
    let fixture = seeded().await;
    let expected = amend_responses(&fixture.ledger).await;
    let amendments_on_page: usize = expected.iter().map(|(_, list)| list.len()).sum();

    let batches_before = fixture.loads.batches();
    let events_before = fixture.loads.events();
    let answer = run(
        &fixture.schema,
        Some(reader()),
        "{ events(filter: { type: SURVEY_RESPONSE }, first: 500) \
           { edges { node { id amendments { id type } } } } }",
        json!({}),
    )
    .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let nodes: Vec<&Value> = answer["data"]["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| &edge["node"])
        .collect();
    assert_eq!(nodes.len(), expected.len());
    for (node, (id, amendments)) in nodes.iter().zip(&expected) {
        assert_eq!(node["id"], id.as_str());
        let expected: Vec<Value> = amendments
            .iter()
            .map(|(id, kind)| json!({ "id": id, "type": kind.to_uppercase() }))
            .collect();
        assert_eq!(
            node["amendments"],
            Value::Array(expected),
            "the amendments of {id}, in log order"
        );
    }
    assert_eq!(
        fixture.loads.batches() - batches_before,
        1,
        "the amendments of {} events are read in one batch",
        nodes.len()
    );
    assert_eq!(
        fixture.loads.events() - events_before,
        amendments_on_page as u64,
        "only the amendments of the page's events are read, each once"
    );
}
