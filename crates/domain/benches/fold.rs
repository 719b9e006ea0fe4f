//! The domain's share of replay: parsing stored payload bytes and folding the events into the
//! roadmap projection, without the store.
//!
//! Run: `cargo bench -p kpi-domain --bench fold`
//!
//! Workload: 1,000,000 synthetic events of the kinds replay meets most (seminars, consultations,
//! trainings, survey responses, grants, coworking tallies, exchange meetings, publications)
//! spread over R3-R7, plus 1% corrections and 1% retractions of earlier events. Payloads are
//! serialised to JSON bytes first, as the store holds them; the timed part is
//! `LedgerEvent::parse_slice` then `Projection::apply`, measured separately and together.
//! Peak RSS is read from /proc/self/status (VmHWM) at the end.

use std::hint::black_box;
use std::time::Instant;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use kpi_domain::{LedgerEvent, PlanDefinition, Projection, RecordedEvent};
use serde_json::{json, Value};
use uuid::Uuid;

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const EVENTS: usize = 1_000_000;

fn payload(index: usize) -> (&'static str, Value) {
    let day = NaiveDate::from_ymd_opt(2021, 4, 1).unwrap() + Duration::days((index % 1800) as i64);
    let date = day.format("%Y-%m-%d").to_string();
    let year = kpi_domain::FiscalYear::from_date(day).unwrap().start_year();
    let n = (index % 97) as u32;
    match index % 8 {
        0 => (
            "seminar",
            json!({"title": "WEB活用促進セミナー", "organiser": "DX・テレワーク推進センター",
                   "first_date": date, "sessions": 1,
                   "participants": {"unique": n, "attendances": n}, "capacity": 40,
                   "status": "held"}),
        ),
        1 => (
            "consultation",
            json!({"provider": "DX・テレワーク推進センター", "persons": n,
                   "period": {"from": date, "to": date}}),
        ),
        2 => (
            "skill_training",
            json!({"department": "こども未来課", "title": "集客デザイン講座", "fiscal_year": year,
                   "sessions": 1, "participants": n, "status": "held"}),
        ),
        3 => (
            "survey_response",
            json!({"wave_id": format!("wave-{year}"), "firm_id": format!("firm-{index}"),
                   "fiscal_year": year, "practises_telework": n.is_multiple_of(3),
                   "job_openings": n % 4}),
        ),
        4 => (
            "subsidy_grant",
            json!({"programme": "先導的テレワーク移住者支援補助金", "beneficiary": "household",
                   "persons": n % 4 + 1, "fiscal_year": year}),
        ),
        5 => (
            "coworking_tally",
            json!({"space": "WORX新富士", "period": {"from": date, "to": date},
                   "users": n * 10, "work_use": n * 5}),
        ),
        6 => (
            "exchange_meeting",
            json!({"kind": "tokyo_exchange", "title": "東京での交流会", "fiscal_year": year,
                   "participants": n, "from_outside_city": n}),
        ),
        _ => (
            "publication",
            json!({"channel": "website", "fiscal_year": year, "count": 1}),
        ),
    }
}

fn id(position: usize) -> Uuid {
    Uuid::from_u128((0x0196_u128 << 112) | (0x7 << 76) | position as u128)
}

fn stored_log() -> Vec<(Uuid, u64, &'static str, Vec<u8>)> {
    (1..=EVENTS)
        .map(|position| {
            let (event_type, payload) = match position % 100 {
                // 1% corrections and 1% retractions of an event 50 positions back.
                0 if position > 100 => {
                    let target = position - 50;
                    let (target_type, mut replacement) = payload(target);
                    if target_type == "seminar" {
                        replacement["participants"] = json!({"unique": 1, "attendances": 1});
                    }
                    (
                        "correction",
                        json!({"target": id(target), "target_type": target_type,
                               "replacement": replacement, "reason": "bench",
                               "decided_on": "2025-04-01"}),
                    )
                }
                1 if position > 100 => (
                    "retraction",
                    json!({"target": id(position - 51), "reason": "bench",
                           "decided_on": "2025-04-01"}),
                ),
                _ => payload(position),
            };
            (
                id(position),
                position as u64,
                event_type,
                serde_json::to_vec(&payload).unwrap(),
            )
        })
        .collect()
}

fn peak_rss_mib() -> Option<f64> {
    status_mib("VmHWM:")
}

fn rss_mib() -> Option<f64> {
    status_mib("VmRSS:")
}

fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn rate(count: usize, seconds: f64) -> String {
    format!(
        "{:>12.0} events/s ({:.3} s)",
        count as f64 / seconds,
        seconds
    )
}

fn main() {
    let plan = PlanDefinition::from_toml(PLAN).expect("plan parses");
    let log = stored_log();
    let bytes: usize = log.iter().map(|(_, _, _, payload)| payload.len()).sum();
    println!(
        "kpi-domain fold bench: {} events, {:.1} MiB of payload JSON",
        log.len(),
        bytes as f64 / (1024.0 * 1024.0)
    );
    let recorded_at = Utc.with_ymd_and_hms(2025, 5, 1, 0, 0, 0).unwrap();
    let record = |(id, position, event_type, payload): &(Uuid, u64, &str, Vec<u8>)| RecordedEvent {
        id: *id,
        position: *position,
        recorded_at,
        actor: String::new(),
        provenance: None,
        event: LedgerEvent::parse_slice(event_type, payload).expect("valid payload"),
    };

    // First, on a fresh heap, so the RSS growth is the projection's own size.
    let rss_before = rss_mib();
    let started = Instant::now();
    let mut projection = Projection::new(vec![plan.clone()]);
    projection.reserve(log.len());
    for stored in &log {
        projection.apply(&record(stored));
    }
    println!(
        "parse_slice + apply   {}",
        rate(log.len(), started.elapsed().as_secs_f64())
    );
    if let (Some(before), Some(after)) = (rss_before, rss_mib()) {
        println!(
            "projection memory     {:.0} MiB (RSS growth while folding)",
            after - before
        );
    }
    let started = Instant::now();
    let table = projection.table("telework-roadmap").expect("plan present");
    let findings = projection.audit_findings();
    println!(
        "table + audit         {:.3} ms ({} rows, {} findings)",
        started.elapsed().as_secs_f64() * 1000.0,
        table.rows.len(),
        findings.len()
    );
    let first_fold = projection.table_values("telework-roadmap");
    drop(projection);

    let started = Instant::now();
    let parsed: Vec<RecordedEvent> = log.iter().map(record).collect();
    println!(
        "parse_slice alone     {}",
        rate(log.len(), started.elapsed().as_secs_f64())
    );

    let started = Instant::now();
    let mut projection = Projection::new(vec![plan]);
    for event in &parsed {
        projection.apply(event);
    }
    println!(
        "apply alone           {} (no reserve)",
        rate(parsed.len(), started.elapsed().as_secs_f64())
    );
    assert_eq!(
        first_fold,
        projection.table_values("telework-roadmap"),
        "both folds agree"
    );
    drop(parsed);
    drop(projection);

    let values: Vec<Value> = log
        .iter()
        .map(|(_, _, _, payload)| serde_json::from_slice(payload).unwrap())
        .collect();
    let started = Instant::now();
    for ((_, _, event_type, _), value) in log.iter().zip(&values) {
        black_box(LedgerEvent::parse(event_type, value).expect("valid payload"));
    }
    println!(
        "parse from a Value    {}",
        rate(log.len(), started.elapsed().as_secs_f64())
    );
    if let Some(peak) = peak_rss_mib() {
        println!(
            "peak RSS              {peak:.0} MiB (whole bench: log, parsed copies, JSON values)"
        );
    }
}
