//! Plan lifecycle: the roadmap extended to R8, then transferred into the illustrative Fifth
//! Information Plan with the illustrative mapping (config/plans/telework-roadmap-to-fifth.toml).
//! Every expected figure is computed by hand in the comments from the published table
//! (crates/domain/tests/seed.rs) and the events written here.

use chrono::{Duration, TimeZone, Utc};
use kpi_domain::{
    replay_log, seed, Change, FiscalYear, HistoryRule, LedgerEvent, PlanDefinition, PlanRegistry,
    RecordedEvent, Series,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use uuid::Uuid;

const ROADMAP: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const FIFTH: &str = include_str!("../../../config/plans/fifth-information-plan.toml");
const MAPPING: &str = include_str!("../../../config/plans/telework-roadmap-to-fifth.toml");
const SEED: &str = include_str!("../../../config/seed/fuji-telework-r6.toml");

fn r(n: i64) -> FiscalYear {
    FiscalYear::from_reiwa(n).unwrap()
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn roadmap() -> PlanDefinition {
    PlanDefinition::from_toml(ROADMAP).unwrap()
}

struct Log {
    events: Vec<RecordedEvent>,
}

impl Log {
    /// The Fuji seed: R3-R6 of the published table.
    fn seeded() -> Log {
        let mut log = Log { events: Vec::new() };
        for record in seed::parse(SEED).unwrap_or_else(|error| panic!("{error}")) {
            log.push(record.event);
        }
        log
    }

    fn push(&mut self, event: LedgerEvent) -> Uuid {
        let position = self.events.len() as u64 + 1;
        let id = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0000 | u128::from(position));
        self.events.push(RecordedEvent {
            id,
            position,
            recorded_at: Utc.with_ymd_and_hms(2025, 5, 1, 0, 0, 0).unwrap()
                + Duration::seconds(position as i64),
            actor: "clerk".to_owned(),
            provenance: None,
            event,
        });
        id
    }

    fn record(&mut self, event_type: &str, payload: Value) -> Uuid {
        let event = LedgerEvent::parse(event_type, &payload)
            .unwrap_or_else(|error| panic!("{event_type} {payload}: {error}"));
        self.push(event)
    }

    fn registry(&self) -> PlanRegistry {
        PlanRegistry::from_log(vec![roadmap()], &self.events)
    }
}

fn seminar(date: &str, unique: u32) -> Value {
    json!({"title": "DX推進セミナー", "organiser": "DX・テレワーク推進センター",
           "first_date": date, "sessions": 1,
           "participants": {"unique": unique, "attendances": unique}, "status": "held"})
}

fn extension() -> Value {
    json!({"plan_id": "telework-roadmap", "last": "R8", "decided_on": "2025-06-01",
           "reason": "R6 report: the roadmap runs one more year"})
}

fn transfer() -> Value {
    let mapping: Value = toml::from_str(MAPPING).unwrap();
    json!({"plan_id": "telework-roadmap", "successor": "fifth-information-plan",
           "effective_from": "R9", "decided_on": "2027-03-31", "mapping": mapping["mapping"]})
}

#[test]
fn the_extension_adds_the_r8_column_and_counts_its_events() {
    let mut log = Log::seeded();
    log.record("seminar", seminar("2026-06-10", 50));
    let (_, before) = replay_log(vec![roadmap()], &log.events);
    let table = before.table("telework-roadmap").unwrap();
    assert_eq!(table.fiscal_years.last(), Some(&r(7)));
    // Without the extension the R8 seminar is outside the period: KPI 2 stays at 1565.
    let kpi2 = table.row("2", Series::Main).unwrap();
    assert_eq!(kpi2.cumulative, Some(d("1565")));

    log.record("plan_extended", extension());
    let (registry, after) = replay_log(vec![roadmap()], &log.events);
    let table = after.table("telework-roadmap").unwrap();
    let years: Vec<String> = table.fiscal_years.iter().map(|y| y.label()).collect();
    assert_eq!(years, ["R3", "R4", "R5", "R6", "R7", "R8"]);
    let kpi2 = table.row("2", Series::Main).unwrap();
    assert_eq!(kpi2.cell(r(8)).unwrap().value, Some(d("50")));
    // 1565 + 50 = 1615; 1615 / 1000 = 161.5 %.
    assert_eq!(kpi2.cumulative, Some(d("1615")));
    assert_eq!(kpi2.achievement, Some(d("161.5")));

    let history = &registry.entry("telework-roadmap").unwrap().history;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].change, Change::Configured);
    assert_eq!(
        history[1].change,
        Change::PeriodExtended {
            from: r(7),
            to: r(8)
        }
    );
    assert_eq!(history[1].actor.as_deref(), Some("clerk"));
    assert_eq!(
        history[0].definition.period.last,
        r(7),
        "history keeps the old definition"
    );
}

#[test]
fn a_target_revision_and_a_retirement_change_the_table_and_keep_history() {
    let mut log = Log::seeded();
    log.record(
        "kpi_target_revised",
        json!({"plan_id": "telework-roadmap", "kpi": "2",
               "target": {"value": "2000", "kind": "cumulative"},
               "decided_on": "2025-06-01", "reason": "raised for the extension"}),
    );
    log.record(
        "kpi_retired",
        json!({"plan_id": "telework-roadmap", "kpi": "11", "last_year": "R5",
               "decided_on": "2025-06-01", "reason": "partnerships move to the city's DX office"}),
    );
    let (registry, projection) = replay_log(vec![roadmap()], &log.events);
    let table = projection.table("telework-roadmap").unwrap();
    // 1565 / 2000 = 78.25 % -> 78.3 (half up).
    let kpi2 = table.row("2", Series::Main).unwrap();
    assert_eq!(kpi2.achievement, Some(d("78.3")));
    // KPI 11 counts R3-R5 only: 3 + 3 + 2 = 8 of 10 -> 80.0 %; R6's 3 is not counted.
    let kpi11 = table.row("11", Series::Main).unwrap();
    assert_eq!(kpi11.cell(r(6)).unwrap().value, None);
    assert_eq!(kpi11.cumulative, Some(d("8")));
    assert_eq!(kpi11.achievement, Some(d("80.0")));
    assert_eq!(kpi11.last_year, Some(r(5)));
    let changes: Vec<String> = registry.entry("telework-roadmap").unwrap().history[1..]
        .iter()
        .map(|step| step.change.describe())
        .collect();
    assert_eq!(
        changes,
        [
            "KPI 2 target revised from 1000 (cumulative) to 2000 (cumulative)",
            "KPI 11 retired after R5"
        ]
    );
}

/// The seed, the successor adopted, the roadmap extended, an R8 seminar, the transfer, then an
/// R9 seminar and a late R6 seminar.
fn transferred_log() -> (Log, Uuid, Uuid) {
    let mut log = Log::seeded();
    log.record(
        "plan_adopted",
        json!({"definition": FIFTH, "adopted_on": "2027-03-01"}),
    );
    log.record("plan_extended", extension());
    log.record("seminar", seminar("2026-06-10", 50));
    log.record("plan_transferred", transfer());
    let r9 = log.record("seminar", seminar("2027-05-20", 30));
    let late = log.record("seminar", seminar("2024-10-01", 7));
    (log, r9, late)
}

#[test]
fn the_transfer_gives_hand_computed_baselines() {
    let (log, _, late) = transferred_log();
    let (registry, projection) = replay_log(vec![roadmap()], &log.events);
    assert!(registry.ignored().is_empty(), "{:?}", registry.ignored());
    let report = projection.transfer_report("telework-roadmap").unwrap();
    assert_eq!(report.successor, "fifth-information-plan");
    assert_eq!(report.effective_from, r(9));
    let entry = |kpi: &str, series: Series| {
        report
            .entries
            .iter()
            .find(|entry| {
                entry.successor_kpi.kpi.as_str() == kpi && entry.successor_kpi.series == series
            })
            .unwrap_or_else(|| panic!("entry {kpi}"))
    };
    // DX1 as decided at the transfer: roadmap KPI 2 over R3-R8 = 1565 + 50 (R8) = 1615; skill
    // training events over R3-R8 = the six R6 courses, 176 (the published R6 figure of KPI 4;
    // R4-R5 were opening totals, not events). Baseline 1615 + 176 = 1791.
    let dx1 = entry("DX1", Series::Main);
    assert_eq!(dx1.history, Some(HistoryRule::Counts));
    let figures: Vec<Option<Decimal>> = dx1.sources.iter().map(|source| source.figure).collect();
    assert_eq!(figures, [Some(d("1615")), Some(d("176"))]);
    assert_eq!(dx1.baseline, Some(d("1791")));
    // The late R6 seminar (7) recorded after the transfer: the predecessor's history now gives
    // 1622 + 176 = 1798, shown as an adjustment of 7 with its event, never counted.
    let current: Vec<Option<Decimal>> = dx1.sources.iter().map(|source| source.current).collect();
    assert_eq!(current, [Some(d("1622")), Some(d("176"))]);
    assert_eq!(dx1.current_baseline, Some(d("1798")));
    assert_eq!(dx1.adjustment, Some(d("7")));
    assert_eq!(dx1.adjustment_event_ids, vec![late]);
    // DX2: the telework rate is ignored; the report still shows the roadmap's latest, 35.8.
    let dx2 = entry("DX2", Series::Main);
    assert_eq!(dx2.history, Some(HistoryRule::Ignored));
    assert_eq!(dx2.sources[0].figure, Some(d("35.8")));
    assert_eq!(dx2.baseline, None);
    // DX3 / DX3b: migrant households 131 and persons 251 (published cumulatives).
    assert_eq!(entry("DX3", Series::Main).baseline, Some(d("131")));
    assert_eq!(entry("DX3", Series::B).baseline, Some(d("251")));
    // DX4: related population 357, ignored.
    assert_eq!(entry("DX4", Series::Main).sources[0].figure, Some(d("357")));
    assert_eq!(entry("DX4", Series::Main).baseline, None);
    // DX5: partnerships 11. DX6: new, no history.
    assert_eq!(entry("DX5", Series::Main).baseline, Some(d("11")));
    assert_eq!(entry("DX6", Series::Main).history, None);

    let fifth = projection.table("fifth-information-plan").unwrap();
    let dx1_row = fifth.row("DX1", Series::Main).unwrap();
    // R9: the 30-person seminar. Cumulative 1791 + 30 = 1821; 1821 / 2500 = 72.84 % -> 72.8.
    assert_eq!(dx1_row.cell(r(9)).unwrap().value, Some(d("30")));
    assert_eq!(dx1_row.baseline, Some(d("1791")));
    assert_eq!(dx1_row.cumulative, Some(d("1821")));
    assert_eq!(dx1_row.achievement, Some(d("72.8")));
    // DX5: 11 of 15 = 73.33 % -> 73.3, with no partnership after R8.
    let dx5 = fifth.row("DX5", Series::Main).unwrap();
    assert_eq!(dx5.cumulative, Some(d("11")));
    assert_eq!(dx5.achievement, Some(d("73.3")));
    // DX4 ignores its history: no figure yet.
    assert_eq!(fifth.row("DX4", Series::Main).unwrap().cumulative, None);
}

#[test]
fn after_the_transfer_the_roadmap_is_frozen_and_late_entries_are_marked() {
    let (log, r9, late) = transferred_log();
    let (registry, projection) = replay_log(vec![roadmap()], &log.events);
    let table = projection.table("telework-roadmap").unwrap();
    let years: Vec<String> = table.fiscal_years.iter().map(|y| y.label()).collect();
    assert_eq!(years, ["R3", "R4", "R5", "R6", "R7", "R8"], "no R9 column");
    let kpi2 = table.row("2", Series::Main).unwrap();
    // R6: 568 published + 7 late = 575; the R9 seminar counts nowhere in the roadmap.
    let r6 = kpi2.cell(r(6)).unwrap();
    assert_eq!(r6.value, Some(d("575")));
    assert!(r6.event_ids.contains(&late));
    assert_eq!(r6.late_event_ids, [late], "only the late entry is marked");
    assert!(!table
        .rows
        .iter()
        .flat_map(|row| &row.cells)
        .any(|cell| cell.event_ids.contains(&r9)));
    // The R8 seminar came before the transfer: not late.
    assert!(kpi2.cell(r(8)).unwrap().late_event_ids.is_empty());

    // A transferred plan is closed to further changes.
    let mut closed = registry.clone();
    let error = closed
        .check(
            &LedgerEvent::parse(
                "plan_extended",
                &json!({
            "plan_id": "telework-roadmap", "last": "R9", "decided_on": "2027-04-01",
            "reason": "too late"}),
            )
            .unwrap(),
        )
        .unwrap_err();
    assert_eq!(error.field, "plan_id");
    assert!(error.reason.contains("transferred"), "{error}");
    // Applying it anyway (a racing writer) changes nothing and is listed.
    let before = closed.plans();
    let mut racing = Log {
        events: log.events.clone(),
    };
    racing.record(
        "plan_extended",
        json!({
        "plan_id": "telework-roadmap", "last": "R9", "decided_on": "2027-04-01",
        "reason": "too late"}),
    );
    assert!(!closed.apply(racing.events.last().unwrap()));
    assert_eq!(closed.plans(), before);
    assert_eq!(closed.ignored().len(), 1);
}

#[test]
fn changes_that_do_not_fit_the_plans_in_force_name_the_field() {
    let log = Log::seeded();
    let registry = log.registry();
    let check = |event_type: &str, payload: Value| {
        let event = LedgerEvent::parse(event_type, &payload)
            .unwrap_or_else(|error| panic!("{event_type}: {error}"));
        registry.check(&event).unwrap_err()
    };
    let mut unknown_plan = extension();
    unknown_plan["plan_id"] = json!("no-such-plan");
    assert_eq!(check("plan_extended", unknown_plan).field, "plan_id");
    let mut earlier = extension();
    earlier["last"] = json!("R6");
    assert_eq!(check("plan_extended", earlier).field, "last");
    assert_eq!(
        check(
            "kpi_target_revised",
            json!({"plan_id": "telework-roadmap", "kpi": "99",
                   "target": {"value": "5", "kind": "cumulative"},
                   "decided_on": "2025-06-01", "reason": "r"})
        )
        .field,
        "kpi"
    );
    assert_eq!(
        check(
            "kpi_target_revised",
            json!({"plan_id": "telework-roadmap", "kpi": "1",
                   "target": {"value": "50", "kind": "cumulative"},
                   "decided_on": "2025-06-01", "reason": "a rate KPI"})
        )
        .field,
        "target.kind"
    );
    assert_eq!(
        check(
            "kpi_retired",
            json!({"plan_id": "telework-roadmap", "kpi": "11", "last_year": "R9",
                   "decided_on": "2025-06-01", "reason": "r"})
        )
        .field,
        "last_year"
    );
    let kpi = "id = \"13\"\npillar = \"9\"\nname = { ja = \"x\", en = \"x\" }\nunit = \"persons\"\naggregation = \"sum\"\nsources = [{ event = \"seminar\", field = \"sessions\" }]";
    let error = check(
        "kpi_added",
        json!({"plan_id": "telework-roadmap", "definition": kpi, "decided_on": "2025-06-01"}),
    );
    assert_eq!(error.field, "definition");
    assert!(error.reason.contains("pillar"), "{error}");
    // The successor is not in force yet, and the period has not been extended.
    assert_eq!(check("plan_transferred", transfer()).field, "successor");

    let mut log = Log::seeded();
    log.record(
        "plan_adopted",
        json!({"definition": FIFTH, "adopted_on": "2027-03-01"}),
    );
    let registry = log.registry();
    let transfer_error = |payload: Value| {
        registry
            .check(&LedgerEvent::parse("plan_transferred", &payload).unwrap())
            .unwrap_err()
    };
    assert_eq!(
        transfer_error(transfer()).field,
        "effective_from",
        "R7 < R9 leaves a gap"
    );
    log.record("plan_extended", extension());
    let registry = log.registry();
    let transfer_error = |payload: Value| {
        registry
            .check(&LedgerEvent::parse("plan_transferred", &payload).unwrap())
            .unwrap_err()
    };
    registry
        .check(&LedgerEvent::parse("plan_transferred", &transfer()).unwrap())
        .expect("the illustrative mapping fits");
    let mut wrong_unit = transfer();
    wrong_unit["mapping"][2]["from_kpis"] = json!([{"kpi": "9", "series": "b"}]);
    let error = transfer_error(wrong_unit);
    assert_eq!(error.field, "mapping[2].from_kpis[0]");
    assert!(error.reason.contains("persons"), "{error}");
    let mut unknown_successor_kpi = transfer();
    unknown_successor_kpi["mapping"][0]["successor_kpi"] = json!("DX99");
    assert_eq!(
        transfer_error(unknown_successor_kpi).field,
        "mapping[0].successor_kpi"
    );
}

#[test]
fn lifecycle_payloads_are_checked_at_the_boundary() {
    let error = LedgerEvent::parse(
        "plan_adopted",
        &json!({"definition": "id = \"x\"", "adopted_on": "2027-03-01"}),
    )
    .unwrap_err();
    assert_eq!(error.field, "definition");
    let mut mapping = transfer();
    mapping["mapping"][0]["from_events"] = json!([{"event": "party", "count": true}]);
    let error = LedgerEvent::parse("plan_transferred", &mapping).unwrap_err();
    assert_eq!(error.field, "mapping[0].from_events[0].event");
    let mut twice = transfer();
    twice["mapping"][1]["successor_kpi"] = json!("DX1");
    let error = LedgerEvent::parse("plan_transferred", &twice).unwrap_err();
    assert_eq!(error.field, "mapping[1].successor_kpi");
    let error = LedgerEvent::parse(
        "kpi_target_revised",
        &json!({"plan_id": "telework-roadmap", "kpi": "2",
                "target": {"value": "0", "kind": "cumulative"},
                "decided_on": "2025-06-01", "reason": "r"}),
    )
    .unwrap_err();
    assert_eq!(error.field, "target.value");
    // Lifecycle events are never amended.
    let retraction = LedgerEvent::parse(
        "retraction",
        &json!({"target": Uuid::nil(), "reason": "r", "decided_on": "2025-06-01"}),
    )
    .unwrap();
    assert_eq!(
        retraction
            .check_amendment_target("plan_extended")
            .unwrap_err()
            .field,
        "target"
    );
}

#[test]
fn adopting_a_configured_plan_replaces_it_unless_events_changed_it_already() {
    let adoption = json!({"definition": ROADMAP, "adopted_on": "2025-06-01"});
    let mut log = Log::seeded();
    let registry = log.registry();
    assert!(!registry.entry("telework-roadmap").unwrap().is_adopted());
    log.record("plan_adopted", adoption.clone());
    let registry = log.registry();
    let entry = registry.entry("telework-roadmap").unwrap();
    assert!(
        entry.is_adopted(),
        "the recorded definition replaces the configured one"
    );
    assert_eq!(registry.plans().len(), 1);
    let again = registry
        .check(&LedgerEvent::parse("plan_adopted", &adoption).unwrap())
        .unwrap_err();
    assert!(again.reason.contains("already adopted"), "{again}");

    let mut changed = Log::seeded();
    changed.record("plan_extended", extension());
    let error = changed
        .registry()
        .check(&LedgerEvent::parse("plan_adopted", &adoption).unwrap())
        .unwrap_err();
    assert_eq!(error.field, "definition");
    assert!(error.reason.contains("already changed"), "{error}");
}

#[test]
fn a_successor_knows_its_predecessor() {
    let (log, _, _) = transferred_log();
    let registry = PlanRegistry::from_log(vec![roadmap()], &log.events);
    let predecessor = registry.predecessor_of("fifth-information-plan").unwrap();
    assert_eq!(predecessor.definition.id.as_str(), "telework-roadmap");
    assert!(registry.predecessor_of("telework-roadmap").is_none());
}

#[test]
fn a_retracted_late_entry_is_no_longer_listed_as_late() {
    let (mut log, _, late) = transferred_log();
    log.record(
        "retraction",
        json!({"target": late, "reason": "entered twice", "decided_on": "2027-06-01"}),
    );
    let (_, projection) = replay_log(vec![roadmap()], &log.events);
    let table = projection.table("telework-roadmap").unwrap();
    let r6 = table
        .row("2", Series::Main)
        .unwrap()
        .cell(r(6))
        .unwrap()
        .clone();
    assert_eq!(r6.value, Some(d("568")), "back to the published figure");
    assert!(r6.late_event_ids.is_empty());
}
