//! THE seed test: the seed file, folded under the roadmap plan, reproduces the city's
//! published KPI table cell for cell. The expected table is written out below as printed in
//! the report, not derived from the code.

use std::collections::HashSet;

use chrono::{TimeZone, Utc};
use kpi_domain::event::EventKind;
use kpi_domain::{
    seed, FindingKind, FiscalYear, LedgerEvent, PlanDefinition, Projection, RecordedEvent,
    Rounding, SeedRecord,
};

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const SEED: &str = include_str!("../../../config/seed/fuji-telework-r6.toml");

/// No, series, R3, R4, R5, R6, R7, cumulative, achievement. "—" is "no figure"; "19 firms" is
/// a figure in another unit than the KPI's.
#[rustfmt::skip]
const PUBLISHED: [(&str, &str, [&str; 5], &str, &str); 15] = [
    ("1",  "main", ["29.0", "31.6", "34.4",     "35.8",  "—"], "—",    "—"),
    ("2",  "main", ["260",  "340",  "397",      "568",   "—"], "1565", "156.5"),
    ("3",  "main", ["—",    "—",    "19 firms", "112",   "—"], "112",  "56.0"),
    ("4",  "main", ["—",    "104",  "91",       "176",   "—"], "371",  "37.1"),
    ("4",  "b",    ["226",  "345",  "369",      "528",   "—"], "1468", "146.8"),
    ("5",  "main", ["2608", "8739", "15071",    "16969", "—"], "—",    "169.7"),
    ("5",  "b",    ["—",    "—",    "—",        "8379",  "—"], "—",    "—"),
    ("6",  "main", ["—",    "294",  "336",      "292",   "—"], "922",  "115.3"),
    ("7",  "main", ["—",    "38",   "8",        "54",    "—"], "100",  "33.3"),
    ("8",  "main", ["2",    "4",    "5",        "2",     "—"], "13",   "130.0"),
    ("9",  "main", ["30",   "26",   "43",       "32",    "—"], "131",  "131.0"),
    ("9",  "b",    ["62",   "42",   "79",       "68",    "—"], "251",  "125.5"),
    ("10", "main", ["—",    "122",  "122",      "113",   "—"], "357",  "119.0"),
    ("11", "main", ["3",    "3",    "2",        "3",     "—"], "11",   "110.0"),
    ("12", "main", ["—",    "14",   "12",       "12",    "—"], "—",    "100"),
];

fn seeded() -> (Vec<SeedRecord>, Vec<RecordedEvent>, Projection) {
    let records = seed::parse(SEED).unwrap_or_else(|error| panic!("{error}"));
    let events = seed::recorded_log(&records, Utc.with_ymd_and_hms(2025, 5, 1, 0, 0, 0).unwrap());
    let plan = PlanDefinition::from_toml(PLAN).unwrap();
    let projection = Projection::replay(vec![plan], &events);
    (records, events, projection)
}

fn show(value: Option<rust_decimal::Decimal>) -> String {
    value.map_or_else(|| "—".to_owned(), |value| value.to_string())
}

#[test]
fn the_seed_reproduces_every_cell_of_the_published_table() {
    let (_, _, projection) = seeded();
    let table = projection.table("telework-roadmap").unwrap();
    let years: Vec<String> = table.fiscal_years.iter().map(|y| y.label()).collect();
    assert_eq!(years, ["R3", "R4", "R5", "R6", "R7"]);
    assert_eq!(table.rows.len(), PUBLISHED.len());
    for (row, (kpi, series, cells, cumulative, achievement)) in table.rows.iter().zip(PUBLISHED) {
        let name = format!("KPI {kpi} ({series})");
        assert_eq!(
            (row.kpi.as_str(), row.series.as_str()),
            (kpi, series),
            "row order"
        );
        let actual: Vec<String> = row
            .cells
            .iter()
            .map(|cell| match cell.unit {
                Some(unit) => format!("{} {unit}", show(cell.value)),
                None => show(cell.value),
            })
            .collect();
        assert_eq!(actual, cells, "{name} yearly cells");
        assert_eq!(show(row.cumulative), cumulative, "{name} cumulative");
        assert_eq!(show(row.achievement), achievement, "{name} achievement");
    }
}

#[test]
fn the_table_serialises_with_exact_decimals_and_start_years() {
    let (_, _, projection) = seeded();
    let json = serde_json::to_value(projection.table("telework-roadmap").unwrap()).unwrap();
    assert_eq!(json["plan_id"], "telework-roadmap");
    assert_eq!(
        json["fiscal_years"],
        serde_json::json!([2021, 2022, 2023, 2024, 2025])
    );
    let kpi2 = &json["rows"][1];
    assert_eq!(kpi2["kpi"], "2");
    assert_eq!(kpi2["series"], "main");
    assert_eq!(kpi2["unit"], "persons");
    assert_eq!(
        kpi2["target"],
        serde_json::json!({"value": "1000", "kind": "cumulative"})
    );
    assert_eq!(kpi2["cumulative"], "1565");
    assert_eq!(kpi2["achievement"], "156.5");
    assert_eq!(kpi2["cells"][4]["value"], serde_json::Value::Null);
    let kpi3_r5 = &json["rows"][2]["cells"][2];
    assert_eq!(kpi3_r5["value"], "19");
    assert_eq!(kpi3_r5["unit"], "firms");
    assert_eq!(kpi3_r5["counted"], false);
}

#[test]
fn the_r6_details_match_the_report() {
    let (_, _, projection) = seeded();
    let r6 = FiscalYear::from_reiwa(6).unwrap();

    let seminars = projection.activity_summary(EventKind::Seminar, r6);
    assert_eq!(seminars.events, 13);
    assert_eq!(seminars.sessions, 17);
    assert_eq!(seminars.participants, 352, "unique participants");
    assert_eq!(seminars.attendances, 376);

    let consultations = projection.activity_summary(EventKind::Consultation, r6);
    assert_eq!(consultations.participants, 216);
    assert_eq!(consultations.events, 2);

    let trainings = projection.activity_summary(EventKind::SkillTraining, r6);
    assert_eq!(trainings.participants, 176);
    assert_eq!(trainings.events, 6);

    let waves = projection.survey_waves();
    assert_eq!(waves.len(), 1);
    let wave = &waves[0];
    assert_eq!(wave.wave_id, "fuji-2024-12");
    assert_eq!(wave.firms_asked, Some(527));
    assert_eq!(wave.responses, 187);
    assert_eq!(wave.practising_telework, 67);
    assert_eq!(wave.job_openings, 112);
    assert_eq!(
        show(wave.response_rate(Rounding::TRUNCATE_ONE_DECIMAL)),
        "35.4",
        "the report truncates 35.48"
    );
    assert_eq!(
        show(wave.telework_rate(Rounding::HALF_UP_ONE_DECIMAL)),
        "35.8"
    );
}

#[test]
fn every_cell_drills_down_to_its_events() {
    let (records, events, projection) = seeded();
    let table = projection.table("telework-roadmap").unwrap();
    let r6 = FiscalYear::from_reiwa(6).unwrap();
    let row = table.row("2", kpi_domain::Series::Main).unwrap();
    let cell = row.cell(r6).unwrap();
    assert_eq!(
        cell.event_ids.len(),
        15,
        "13 seminars and 2 consultation tallies"
    );
    for id in &cell.event_ids {
        let event = events.iter().find(|event| event.id == *id).unwrap();
        assert!(matches!(
            event.event,
            LedgerEvent::Seminar(_) | LedgerEvent::Consultation(_)
        ));
    }
    let r3 = row.cell(FiscalYear::from_reiwa(3).unwrap()).unwrap();
    assert_eq!(r3.event_ids.len(), 1);
    let opening = events
        .iter()
        .find(|event| event.id == r3.event_ids[0])
        .unwrap();
    assert!(opening
        .provenance
        .as_deref()
        .unwrap()
        .contains("KPI一覧 No.2"));
    let twelve = table
        .row("12", kpi_domain::Series::Main)
        .unwrap()
        .cell(r6)
        .unwrap();
    assert_eq!(
        twelve.event_ids.len(),
        12,
        "the website updates, not the Facebook tally"
    );
    let kpi1 = table
        .row("1", kpi_domain::Series::Main)
        .unwrap()
        .cell(r6)
        .unwrap();
    assert_eq!(kpi1.event_ids.len(), 187);
    let synthesised = records.iter().filter(|record| record.synthesised).count();
    assert_eq!(synthesised, 265);
}

#[test]
fn the_audit_finds_what_the_report_leaves_inconsistent() {
    let (_, _, projection) = seeded();
    let findings = projection.audit_findings();
    let kinds: Vec<FindingKind> = findings.iter().map(|finding| finding.kind).collect();
    assert_eq!(
        kinds,
        [
            FindingKind::ScheduledCountedAsHeld,
            FindingKind::WrongUnit,
            FindingKind::DeclaredTotalMismatch
        ],
        "{findings:#?}"
    );
    assert!(findings[0].message.contains("1から学ぶChatGPT"));
    assert!(findings[0].message.contains("2025-02-27"));
    assert_eq!(findings[1].kpi.as_deref(), Some("3"));
    assert_eq!(
        findings[1].fiscal_year.map(|y| y.label()).as_deref(),
        Some("R5")
    );
    assert!(
        findings[2].message.contains("declares 7 seminar")
            && findings[2].message.contains("records 13 (17 sessions)"),
        "{}",
        findings[2].message
    );
}

#[test]
fn the_seed_expands_deterministically_with_unique_keys() {
    let first = seed::parse(SEED).unwrap();
    let second = seed::parse(SEED).unwrap();
    assert_eq!(first, second);
    assert_eq!(first.len(), 36 + 34 + 265);
    let keys: HashSet<&str> = first.iter().map(|r| r.idempotency_key.as_str()).collect();
    assert_eq!(keys.len(), first.len());
    assert!(first
        .iter()
        .all(|r| r.idempotency_key.starts_with("fuji-telework-r6:")));
    let streams_once: HashSet<String> = first
        .iter()
        .filter(|r| r.event.stream_rule() == kpi_domain::StreamRule::MustBeNew)
        .map(|r| r.event.stream_id())
        .collect();
    let must_be_new = first
        .iter()
        .filter(|r| r.event.stream_rule() == kpi_domain::StreamRule::MustBeNew)
        .count();
    assert_eq!(
        streams_once.len(),
        must_be_new,
        "once-only streams are distinct"
    );
    for record in &first {
        let payload = record.event.to_payload();
        assert_eq!(
            LedgerEvent::parse(record.event.event_type(), &payload).unwrap(),
            record.event
        );
    }
    let chatgpt = first
        .iter()
        .find(|r| r.idempotency_key.ends_with("training/2025-02-27-chatgpt"))
        .unwrap();
    assert_eq!(chatgpt.event.occurred_on().to_string(), "2025-02-27");
    let april = first
        .iter()
        .find(|r| r.idempotency_key.ends_with("seminar/2024-04-30-web-1"))
        .unwrap();
    assert_eq!(april.event.occurred_on().to_string(), "2024-04-30");
}

#[test]
fn generated_records_split_published_totals() {
    let records = seed::parse(SEED).unwrap();
    let persons: Vec<u32> = records
        .iter()
        .filter_map(|r| match &r.event {
            LedgerEvent::SubsidyGrant(grant)
                if grant.programme.as_str() == "移住就業支援補助金（テレワーク要件）" =>
            {
                grant.persons.map(|p| p.get())
            }
            _ => None,
        })
        .collect();
    assert_eq!(persons.len(), 14);
    assert_eq!(persons.iter().sum::<u32>(), 32);
    assert!(persons.iter().all(|p| (2..=3).contains(p)));
    let spaces: Vec<(String, u32, u32)> = records
        .iter()
        .filter_map(|r| match &r.event {
            LedgerEvent::CoworkingTally(tally) => Some((
                tally.space.to_string(),
                tally.users.get(),
                tally.work_use.map_or(0, |w| w.get()),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(spaces.len(), 6);
    assert_eq!(spaces[0].0, "WORX新富士（新富士駅シェアオフィス）");
    assert_eq!(spaces[0].1, 3029);
    assert_eq!(spaces.iter().map(|s| s.1).sum::<u32>(), 16_969);
    assert_eq!(spaces.iter().map(|s| s.2).sum::<u32>(), 8_379);
}

fn seed_error(text: &str) -> seed::SeedError {
    seed::parse(text).expect_err("bad seed must be refused")
}

const HEADER: &str = "id = \"t\"\nfiscal_year = \"R6\"\nsource = \"s\"\n";

#[test]
fn bad_seed_input_names_the_record_and_the_field() {
    let error = seed_error(&format!(
        "{HEADER}[[events]]\nkey = \"a\"\ntype = \"partnership\"\norganisation = \"\"\n"
    ));
    assert_eq!(error.location, "events[0] (key a)");
    assert!(error.reason.contains("field `organisation`"), "{error}");

    let error = seed_error(&format!(
        "{HEADER}[[events]]\nkey = \"a\"\ntype = \"partnership\"\norganisation = \"x\"\n\
         [[events]]\nkey = \"a\"\ntype = \"partnership\"\norganisation = \"y\"\n"
    ));
    assert!(error.reason.contains("used twice"), "{error}");

    let error = seed_error(&format!(
        "{HEADER}[[events]]\nkey = \"a\"\ntype = \"seminar\"\ntitle = \"t\"\norganiser = \"o\"\n\
         first_date = \"2/30\"\nsessions = 1\nparticipants = {{ unique = 1, attendances = 1 }}\n\
         status = \"held\"\n"
    ));
    assert!(error.reason.contains("first_date"), "{error}");

    let error = seed_error(&format!(
        "{HEADER}[[generate]]\nkey = \"g\"\ntype = \"subsidy_grant\"\nrecords = 2\n\
         template = {{ programme = \"p\", beneficiary = \"household\" }}\n\
         each = [{{ persons = 9 }}]\nsplit = {{ persons = 5 }}\n"
    ));
    assert!(error.reason.contains("exceed the total"), "{error}");

    let error = seed_error(&format!(
        "{HEADER}[[generate]]\nkey = \"g\"\ntype = \"subsidy_grant\"\nrecords = 3\n\
         template = {{ programme = \"p\", beneficiary = \"household\" }}\nsplit = {{ persons = 2 }}\n"
    ));
    assert_eq!(error.location, "generate[0] (key g) record 3");
    assert!(error.reason.contains("field `persons`"), "{error}");

    let error = seed_error(&format!(
        "{HEADER}[[events]]\nkey = \"a b\"\ntype = \"exhibition\"\n"
    ));
    assert!(error.reason.contains("key `a b`"), "{error}");
    let error = seed_error(&format!(
        "{HEADER}[[events]]\nkey = \"a\"\ntype = \"party\"\n"
    ));
    assert!(error.reason.contains("party"), "{error}");
    let error = seed_error("id = \"t\"\nfiscal_year = \"R66666\"\nsource = \"s\"\n");
    assert_eq!(error.location, "fiscal_year");
    let error = seed_error(&format!(
        "{HEADER}[[opening_figures]]\nmeasure = \"m\"\nunit = \"persons\"\nvalues = {{ R3 = \"1.5\" }}\n"
    ));
    assert!(error.reason.contains("field `value`"), "{error}");
    assert_eq!(seed_error("not toml = ").location, "document");
}
