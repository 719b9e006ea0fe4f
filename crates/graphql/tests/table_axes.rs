//! `kpiTable` and `kpiHistory` on the ledger's two kinds of time: `through` (valid time: the
//! activities that happened by a date) and `asOf` (transaction time: what had been recorded by
//! an instant), alone and combined, over the Fuji seed (recorded at import, long after R6).

mod support;

use serde_json::{json, Value};
use support::{reader, run, seeded, Fixture};

const TABLE: &str = r#"
query Table($asOf: DateTime, $through: Date) {
  kpiTable(plan: "telework-roadmap", asOf: $asOf, through: $through) {
    asOf through position
    rows { kpi series cumulative achievement cells { label value eventIds } }
  }
}"#;

async fn table(fixture: &Fixture, as_of: Value, through: Value) -> Value {
    let answer = run(
        &fixture.schema,
        Some(reader()),
        TABLE,
        json!({ "asOf": as_of, "through": through }),
    )
    .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    answer["data"]["kpiTable"].clone()
}

fn row<'a>(table: &'a Value, kpi: &str, series: &str) -> &'a Value {
    table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["kpi"] == kpi && row["series"] == series)
        .unwrap_or_else(|| panic!("no row {kpi} {series}"))
}

/// KPI 2's values R3..R7.
fn kpi2(table: &Value) -> Vec<Value> {
    row(table, "2", "MAIN")["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cell| cell["value"].clone())
        .collect()
}

async fn record_seminar(fixture: &Fixture, title: &str, date: &str, persons: u32) {
    let seminar = json!({
        "title": title, "organiser": "DX・テレワーク推進センター", "first_date": date,
        "sessions": 1, "participants": { "unique": persons, "attendances": persons },
        "status": "held"
    });
    fixture
        .ledger
        .record_payload("clerk", "seminar", &seminar, Default::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_table_through_the_end_of_a_fiscal_year_counts_the_activities_up_to_it() {
    let fixture = seeded().await;
    let end_of_r5 = table(&fixture, Value::Null, json!("2024-03-31")).await;
    assert_eq!(
        kpi2(&end_of_r5),
        [
            json!("260"),
            json!("340"),
            json!("397"),
            Value::Null,
            Value::Null
        ]
    );
    assert_eq!(row(&end_of_r5, "2", "MAIN")["cumulative"], "997");
    assert_eq!(end_of_r5["through"], "2024-03-31");
    assert_eq!(end_of_r5["asOf"], Value::Null);
    // Every R6 cell is empty, with nothing to drill into; R3-R5 are the published figures.
    let now = table(&fixture, Value::Null, Value::Null).await;
    for (cut, full) in end_of_r5["rows"]
        .as_array()
        .unwrap()
        .iter()
        .zip(now["rows"].as_array().unwrap())
    {
        let (cut, full) = (&cut["cells"], &full["cells"]);
        assert_eq!(cut[3]["label"], "R6");
        assert_eq!(cut[3]["value"], Value::Null, "{cut}");
        assert_eq!(cut[3]["eventIds"], json!([]), "{cut}");
        for year in 0..3 {
            assert_eq!(cut[year]["value"], full[year]["value"]);
        }
    }

    let end_of_r6 = table(&fixture, Value::Null, json!("2025-03-31")).await;
    assert_eq!(
        end_of_r6["rows"], now["rows"],
        "the seed is all of R6 and before"
    );
    assert_eq!(kpi2(&end_of_r6)[3], "568");
    assert_eq!(row(&end_of_r6, "1", "MAIN")["cells"][3]["value"], "35.8");
}

#[tokio::test]
async fn through_and_as_of_combine() {
    let fixture = seeded().await;
    let seed_head = fixture.ledger.head().position;
    let seed_recorded = fixture.ledger.store().read_from(seed_head, 1).unwrap()[0]
        .recorded_at
        .to_rfc3339();
    record_seminar(&fixture, "後日登録のR6セミナー", "2024-10-10", 10).await;
    record_seminar(&fixture, "R7のセミナー", "2025-06-10", 7).await;

    let now = table(&fixture, Value::Null, Value::Null).await;
    assert_eq!(kpi2(&now)[3..], [json!("578"), json!("7")]);
    let end_of_r6 = table(&fixture, Value::Null, json!("2025-03-31")).await;
    assert_eq!(
        kpi2(&end_of_r6)[3..],
        [json!("578"), Value::Null],
        "the R7 seminar happened after 2025-03-31"
    );
    let as_known = table(&fixture, json!(seed_recorded), json!("2025-03-31")).await;
    assert_eq!(
        kpi2(&as_known)[3..],
        [json!("568"), Value::Null],
        "the late R6 seminar had not been recorded yet"
    );
    assert_eq!(as_known["through"], "2025-03-31");
    assert!(as_known["asOf"].is_string());
    assert_eq!(as_known["position"], seed_head);

    let history = run(
        &fixture.schema,
        Some(reader()),
        r#"query($asOf: DateTime) {
             later: kpiHistory(plan: "telework-roadmap", kpi: "2", through: "2025-03-31") {
               cells { label value events { title } } }
             known: kpiHistory(plan: "telework-roadmap", kpi: "2", asOf: $asOf, through: "2024-03-31") {
               cells { label value } }
           }"#,
        json!({ "asOf": seed_recorded }),
    )
    .await;
    assert!(history.get("errors").is_none(), "{history}");
    let later = &history["data"]["later"]["cells"];
    assert_eq!(later[3]["value"], "578");
    assert!(later[3]["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|event| event["title"] == "後日登録のR6セミナー"));
    assert_eq!(later[4]["value"], Value::Null);
    assert_eq!(later[4]["events"], json!([]));
    assert_eq!(history["data"]["known"]["cells"][2]["value"], "397");
    assert_eq!(history["data"]["known"]["cells"][3]["value"], Value::Null);
}

#[tokio::test]
async fn a_bad_through_date_names_the_argument() {
    let fixture = seeded().await;
    for query in [
        r#"{ kpiTable(plan: "telework-roadmap", through: "2025-02-30") { position } }"#,
        r#"{ kpiHistory(plan: "telework-roadmap", kpi: "2", through: "R6") { kpi } }"#,
    ] {
        let answer = run(&fixture.schema, Some(reader()), query, json!({})).await;
        let error = &answer["errors"][0];
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{answer}");
        assert_eq!(error["extensions"]["field"], "through", "{answer}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("through") && message.contains("is not a date"),
            "{message}"
        );
    }
    // A date that is not even a string fails the `Date` scalar, which says how to write one.
    let answer = run(
        &fixture.schema,
        Some(reader()),
        r#"query($through: Date) { kpiTable(plan: "telework-roadmap", through: $through) { position } }"#,
        json!({ "through": 20250331 }),
    )
    .await;
    let error = &answer["errors"][0];
    assert_eq!(error["path"], json!(["kpiTable"]), "{answer}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("a date is written as a string YYYY-MM-DD, got 20250331"),
        "{answer}"
    );
}
