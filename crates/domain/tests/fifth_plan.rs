//! The illustrative successor plan (config/plans/fifth-information-plan.toml) projected
//! beside the roadmap over one log: the Fuji seed (R3-R6) plus events of R8-R10 written
//! below. Every expected figure is computed by hand in the comments, not by the code.

use chrono::{Duration, TimeZone, Utc};
use kpi_domain::{
    seed, FiscalYear, KpiTable, LedgerEvent, PlanDefinition, Projection, RecordedEvent, Series,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use uuid::Uuid;

const ROADMAP: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const FIFTH: &str = include_str!("../../../config/plans/fifth-information-plan.toml");
const SEED: &str = include_str!("../../../config/seed/fuji-telework-r6.toml");

const MIGRATION: &str = "移住就業支援補助金（テレワーク要件）";

fn r(n: i64) -> FiscalYear {
    FiscalYear::from_reiwa(n).unwrap()
}

/// Events after the roadmap's period, as a clerk would record them.
fn later_events() -> Vec<(&'static str, Value)> {
    let seminar = |date: &str, unique: u32, attendances: u32, sessions: u32| {
        json!({"title": "DX推進セミナー", "organiser": "DX・テレワーク推進センター",
               "first_date": date, "sessions": sessions,
               "participants": {"unique": unique, "attendances": attendances}, "status": "held"})
    };
    let response = |firm: &str, telework: bool| {
        json!({"wave_id": "survey-r9", "firm_id": firm, "fiscal_year": "R9",
               "practises_telework": telework, "job_openings": 0})
    };
    let grant = |programme: &str, beneficiary: &str, persons: u32| {
        json!({"programme": programme, "beneficiary": beneficiary, "persons": persons,
               "fiscal_year": "R9"})
    };
    vec![
        // R8 (FY2026): after the roadmap's R7 and before the successor's R9: neither counts it.
        ("seminar", seminar("2026-06-10", 50, 50, 1)),
        // R9 (FY2027).
        ("seminar", seminar("2027-05-20", 30, 30, 1)),
        // A four-session course: 12 people, 48 attendances; DX1 counts the 12.
        ("seminar", seminar("2027-09-01", 12, 48, 4)),
        (
            "consultation",
            json!({"provider": "f-Biz", "persons": 25,
                                "period": {"from": "2027-04-01", "to": "2028-03-31"}}),
        ),
        (
            "skill_training",
            json!({"department": "産業政策課", "title": "生成AI活用講座",
                                  "fiscal_year": "R9", "sessions": 3, "participants": 40,
                                  "status": "held"}),
        ),
        (
            "survey_wave",
            json!({"wave_id": "survey-r9", "title": "企業アンケート",
                               "fiscal_year": "R9", "firms_asked": 10}),
        ),
        ("survey_response", response("firm-a", true)),
        ("survey_response", response("firm-b", true)),
        ("survey_response", response("firm-c", true)),
        ("survey_response", response("firm-d", false)),
        ("subsidy_grant", grant(MIGRATION, "household", 3)),
        (
            "subsidy_grant",
            grant("先導的テレワーク移住者支援補助金", "household", 2),
        ),
        // Not a telework migration grant, and a firm grant: neither counts for DX3.
        ("subsidy_grant", grant("住宅取得補助金", "household", 4)),
        ("subsidy_grant", grant(MIGRATION, "firm", 1)),
        (
            "exchange_meeting",
            json!({"kind": "tokyo_exchange", "title": "東京交流会",
                                    "fiscal_year": "R9", "participants": 20,
                                    "from_outside_city": 18}),
        ),
        // A business exchange is not related population.
        (
            "exchange_meeting",
            json!({"kind": "business_exchange", "title": "交流会",
                                    "fiscal_year": "R9", "participants": 40,
                                    "from_outside_city": 5}),
        ),
        (
            "partnership",
            json!({"organisation": "静岡県立大学", "fiscal_year": "R9"}),
        ),
        (
            "partnership",
            json!({"organisation": "富士商工会議所", "fiscal_year": "R9"}),
        ),
        (
            "monitor_tour",
            json!({"title": "首都圏企業モニターツアー", "fiscal_year": "R9",
                                "firms": 6}),
        ),
        // R10 (FY2028).
        ("seminar", seminar("2028-05-15", 20, 20, 1)),
    ]
}

fn recorded_log() -> Vec<RecordedEvent> {
    let records = seed::parse(SEED).unwrap_or_else(|error| panic!("{error}"));
    let mut events: Vec<LedgerEvent> = records.into_iter().map(|record| record.event).collect();
    for (event_type, payload) in later_events() {
        events.push(
            LedgerEvent::parse(event_type, &payload)
                .unwrap_or_else(|error| panic!("{event_type} {payload}: {error}")),
        );
    }
    let start = Utc.with_ymd_and_hms(2025, 5, 1, 0, 0, 0).unwrap();
    events
        .into_iter()
        .enumerate()
        .map(|(index, event)| {
            let position = index as u64 + 1;
            RecordedEvent {
                id: Uuid::from_u128(
                    0x0196_0000_0000_7000_8000_0000_0000_0000 | u128::from(position),
                ),
                position,
                recorded_at: start + Duration::milliseconds(position as i64),
                actor: "test".to_owned(),
                provenance: None,
                event,
            }
        })
        .collect()
}

fn both_plans() -> (KpiTable, KpiTable) {
    let roadmap = PlanDefinition::from_toml(ROADMAP).unwrap();
    let fifth = PlanDefinition::from_toml(FIFTH).unwrap_or_else(|error| panic!("{error}"));
    let projection = Projection::replay(vec![roadmap, fifth], &recorded_log());
    (
        projection.table("telework-roadmap").unwrap(),
        projection.table("fifth-information-plan").unwrap(),
    )
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// Cells R9..R13 of a row, then cumulative and achievement.
fn figures(
    table: &KpiTable,
    kpi: &str,
    series: Series,
) -> (Vec<Option<Decimal>>, Option<Decimal>, Option<Decimal>) {
    let row = table
        .row(kpi, series)
        .unwrap_or_else(|| panic!("KPI {kpi} {series:?}"));
    let cells = (9..=13)
        .map(|n| row.cell(r(n)).expect("a column per year").value)
        .collect();
    (cells, row.cumulative, row.achievement)
}

#[test]
fn the_file_says_it_is_illustrative_and_starts_in_r9() {
    assert!(FIFTH.contains("ILLUSTRATIVE ONLY"));
    let plan = PlanDefinition::from_toml(FIFTH).unwrap();
    assert_eq!(plan.period.first, r(9));
    assert_eq!(plan.period.first.label(), "R9");
    let ids: Vec<String> = plan
        .kpis
        .iter()
        .map(|kpi| {
            format!(
                "{}{}",
                kpi.id,
                if kpi.series == Series::B { "b" } else { "" }
            )
        })
        .collect();
    assert_eq!(ids, ["DX1", "DX2", "DX3", "DX3b", "DX4", "DX5", "DX6"]);
}

#[test]
fn the_successor_counts_only_its_own_years_with_hand_computed_figures() {
    let (_, fifth) = both_plans();
    let years: Vec<String> = fifth.fiscal_years.iter().map(|y| y.label()).collect();
    assert_eq!(years, ["R9", "R10", "R11", "R12", "R13"]);
    let none = None;

    // DX1, R9: seminars 30 + 12 (unique, not 48 attendances) + consultation 25 + training 40
    // = 107; R10: 20. The R8 seminar (50) and all of the seed (R3-R6) are outside the period.
    // Cumulative 127; achievement 127 / 2500 = 5.08 % -> 5.1.
    assert_eq!(
        figures(&fifth, "DX1", Series::Main),
        (
            vec![Some(d("107")), Some(d("20")), none, none, none],
            Some(d("127")),
            Some(d("5.1"))
        )
    );
    // DX2: 3 of 4 responses of the R9 wave practise telework = 75.0 %; no achievement shown.
    let (cells, cumulative, achievement) = figures(&fifth, "DX2", Series::Main);
    assert_eq!(cells, [Some(d("75.0")), none, none, none, none]);
    assert_eq!((cumulative, achievement), (None, None));
    // DX3: two telework-migration household grants (3 and 2 persons); the housing grant and
    // the firm grant do not count. 2 / 100 = 2.0 %, 5 / 200 = 2.5 %.
    assert_eq!(
        figures(&fifth, "DX3", Series::Main),
        (
            vec![Some(d("2")), none, none, none, none],
            Some(d("2")),
            Some(d("2.0"))
        )
    );
    assert_eq!(
        figures(&fifth, "DX3", Series::B),
        (
            vec![Some(d("5")), none, none, none, none],
            Some(d("5")),
            Some(d("2.5"))
        )
    );
    // DX4: 18 from outside the city at the Tokyo exchange; the business exchange's 5 do not
    // count. 18 / 400 = 4.5 %.
    assert_eq!(
        figures(&fifth, "DX4", Series::Main),
        (
            vec![Some(d("18")), none, none, none, none],
            Some(d("18")),
            Some(d("4.5"))
        )
    );
    // DX5: two partners. 2 / 15 = 13.33 % -> 13.3.
    assert_eq!(
        figures(&fifth, "DX5", Series::Main),
        (
            vec![Some(d("2")), none, none, none, none],
            Some(d("2")),
            Some(d("13.3"))
        )
    );
    // DX6, the KPI with no predecessor: 6 firms. 6 / 30 = 20.0 %.
    assert_eq!(
        figures(&fifth, "DX6", Series::Main),
        (
            vec![Some(d("6")), none, none, none, none],
            Some(d("6")),
            Some(d("20.0"))
        )
    );
}

#[test]
fn the_roadmap_keeps_its_published_table_beside_the_successor() {
    let (roadmap, _) = both_plans();
    let years: Vec<String> = roadmap.fiscal_years.iter().map(|y| y.label()).collect();
    assert_eq!(years, ["R3", "R4", "R5", "R6", "R7"]);
    // Figures of the report's table (see tests/seed.rs): the events of R8-R10 change none.
    let row = |kpi, series| roadmap.row(kpi, series).unwrap();
    let kpi2 = row("2", Series::Main);
    assert_eq!(kpi2.cell(r(6)).unwrap().value, Some(d("568")));
    assert_eq!(kpi2.cell(r(7)).unwrap().value, None);
    assert_eq!(kpi2.cumulative, Some(d("1565")));
    assert_eq!(kpi2.achievement, Some(d("156.5")));
    let kpi4b = row("4", Series::B);
    assert_eq!(kpi4b.cumulative, Some(d("1468")));
    let kpi9 = row("9", Series::Main);
    assert_eq!(kpi9.cumulative, Some(d("131")));
    assert_eq!(row("9", Series::B).cumulative, Some(d("251")));
    assert_eq!(row("10", Series::Main).cumulative, Some(d("357")));
    assert_eq!(row("11", Series::Main).cumulative, Some(d("11")));
    assert_eq!(
        row("1", Series::Main).cell(r(6)).unwrap().value,
        Some(d("35.8"))
    );
}
