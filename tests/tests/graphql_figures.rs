//! One answer for every figure over real HTTP: a corrected event stays in its cell's
//! drill-down (KPI 2 and 4b), and the latest survey wave is the one with the latest date,
//! whatever order the waves were recorded in.

mod graphql_support;

use graphql_support::{cell, record_mutation, LedgerServer, Who, CORRECT_EVENT, PLAN_ID, TABLE};
use serde_json::{json, Value};

fn seminar(title: &str, date: &str, unique: u32) -> Value {
    json!({
        "title": title, "organiser": "DX・テレワーク推進センター", "firstDate": date,
        "sessions": 1, "participants": { "unique": unique, "attendances": unique },
        "status": "HELD"
    })
}

async fn record(server: &LedgerServer, mutation: &str, input_type: &str, input: Value) -> Value {
    server
        .data(
            Who::Recorder,
            &record_mutation(mutation, input_type),
            json!({ "input": input }),
        )
        .await[mutation]
        .clone()
}

async fn table(server: &LedgerServer) -> Value {
    server
        .data(Who::Reader, TABLE, json!({ "plan": PLAN_ID }))
        .await["kpiTable"]
        .clone()
}

async fn correct(server: &LedgerServer, target: &Value, replacement: Value) -> Value {
    server
        .data(
            Who::Recorder,
            CORRECT_EVENT,
            json!({
                "target": target,
                "replacement": { "seminar": replacement },
                "reason": "参加者数の集計誤り",
                "decidedOn": "2025-05-01",
            }),
        )
        .await["correctEvent"]
        .clone()
}

#[tokio::test]
async fn a_corrected_seminar_stays_in_its_cells_drill_down() {
    let server = LedgerServer::start().await;
    let original = record(
        &server,
        "recordSeminar",
        "SeminarInput",
        seminar("A", "2024-10-10", 10),
    )
    .await;
    let correction = correct(&server, &original["id"], seminar("A", "2024-10-10", 12)).await;
    let table = table(&server).await;
    for (kpi, series) in [("2", "MAIN"), ("4", "B")] {
        let r6 = cell(&table, kpi, series, "R6");
        assert_eq!(r6["value"], "12", "KPI {kpi} {series}");
        assert_eq!(
            r6["eventIds"],
            json!([original["id"]]),
            "KPI {kpi} {series}"
        );
        assert_eq!(
            r6["amendedByIds"],
            json!([correction["id"]]),
            "KPI {kpi} {series}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn correcting_the_last_of_three_seminars_keeps_all_three_listed() {
    let server = LedgerServer::start().await;
    let mut ids = Vec::new();
    for (title, unique) in [("A", 5), ("B", 6), ("C", 7)] {
        let event = record(
            &server,
            "recordSeminar",
            "SeminarInput",
            seminar(title, "2024-10-10", unique),
        )
        .await;
        ids.push(event["id"].clone());
    }
    correct(&server, &ids[2], seminar("C", "2024-10-10", 9)).await;
    let table = table(&server).await;
    let r6 = cell(&table, "2", "MAIN", "R6");
    assert_eq!(r6["value"], "20");
    let mut listed: Vec<Value> = r6["eventIds"].as_array().unwrap().clone();
    listed.sort_by_key(|id| id.to_string());
    ids.sort_by_key(|id| id.to_string());
    assert_eq!(listed, ids);
    server.stop().await;
}

#[tokio::test]
async fn the_latest_survey_wave_is_the_latest_by_its_date() {
    let server = LedgerServer::start().await;
    // December first (3 of 4 firms telework), then June (1 of 4); responses undated.
    for (wave, date, teleworking) in [("r3-dec", "2021-12-01", 3), ("r3-jun", "2021-06-01", 1)] {
        record(
            &server,
            "recordSurveyWave",
            "SurveyWaveInput",
            json!({ "waveId": wave, "title": "調査", "fiscalYear": 2021, "date": date,
                    "firmsAsked": 10 }),
        )
        .await;
        for firm in 0..4 {
            record(
                &server,
                "recordSurveyResponse",
                "SurveyResponseInput",
                json!({ "waveId": wave, "firmId": format!("f{firm}"), "fiscalYear": 2021,
                        "practisesTelework": firm < teleworking, "jobOpenings": 0 }),
            )
            .await;
        }
    }
    let table = table(&server).await;
    assert_eq!(cell(&table, "1", "MAIN", "R3")["value"], "75.0");
    server.stop().await;
}
