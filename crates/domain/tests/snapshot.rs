//! Snapshots: a projection restored from its snapshot and fed the rest of the log answers
//! exactly as the projection that folded the whole log; a snapshot is refused under other
//! plan definitions.

use chrono::{Duration, TimeZone, Utc};
use kpi_domain::event::EventKind;
use kpi_domain::projection::{plans_digest, ProjectionSnapshot, SnapshotMismatch};
use kpi_domain::{seed, FiscalYear, LedgerEvent, PlanDefinition, Projection, RecordedEvent};
use serde_json::json;
use uuid::Uuid;

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const SEED: &str = include_str!("../../../config/seed/fuji-telework-r6.toml");

fn plans() -> Vec<PlanDefinition> {
    vec![PlanDefinition::from_toml(PLAN).unwrap()]
}

fn recorded(position: u64, event: LedgerEvent) -> RecordedEvent {
    RecordedEvent {
        id: Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0000 | u128::from(position)),
        position,
        recorded_at: Utc.with_ymd_and_hms(2025, 5, 1, 0, 0, 0).unwrap()
            + Duration::milliseconds(position as i64),
        actor: "seed".to_owned(),
        provenance: None,
        event,
    }
}

/// The seed, then amendments of events from its first half (so some amendments cross the
/// snapshot point and take back contributions that only the restored state remembers).
fn log() -> Vec<RecordedEvent> {
    let mut events: Vec<RecordedEvent> = seed::parse(SEED)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(index, record)| recorded(index as u64 + 1, record.event))
        .collect();
    let seminars: Vec<(Uuid, LedgerEvent)> = events
        .iter()
        .filter(|event| event.event.kind() == EventKind::Seminar)
        .take(2)
        .map(|event| (event.id, event.event.clone()))
        .collect();
    let retraction = json!({
        "target": seminars[0].0.to_string(), "reason": "entered twice", "decided_on": "2025-05-02"
    });
    let mut replacement = seminars[1].1.to_payload();
    replacement["participants"] = json!({ "unique": 7, "attendances": 7 });
    let correction = json!({
        "target": seminars[1].0.to_string(), "target_type": "seminar",
        "replacement": replacement, "reason": "typo", "decided_on": "2025-05-02"
    });
    for (kind, payload) in [("retraction", retraction), ("correction", correction)] {
        let position = events.len() as u64 + 1;
        let event = LedgerEvent::parse(kind, &payload).unwrap_or_else(|e| panic!("{kind}: {e}"));
        events.push(recorded(position, event));
    }
    events
}

fn assert_same_answers(restored: &Projection, full: &Projection, log: &[RecordedEvent]) {
    assert_eq!(restored.tables(), full.tables());
    for event in log {
        assert_eq!(
            restored.amendments_of(event.id),
            full.amendments_of(event.id),
            "amendments of {}",
            event.id
        );
    }
    assert_eq!(restored.audit_findings(), full.audit_findings());
    assert_eq!(restored.survey_waves(), full.survey_waves());
    for year in 2021..=2025 {
        let year = FiscalYear::new(year).unwrap();
        for kind in [EventKind::Seminar, EventKind::Consultation] {
            assert_eq!(
                restored.activity_summary(kind, year),
                full.activity_summary(kind, year)
            );
        }
    }
    assert_eq!(restored.applied(), full.applied());
    assert_eq!(restored.last_position(), full.last_position());
}

#[test]
fn restored_snapshot_plus_tail_equals_full_replay() {
    let log = log();
    let full = Projection::replay(plans(), &log);
    for split in [0, 1, log.len() / 2, log.len() - 1, log.len()] {
        let prefix = Projection::replay(plans(), &log[..split]);
        let bytes = postcard::to_allocvec(&prefix.snapshot()).unwrap();
        let snapshot: ProjectionSnapshot = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(snapshot.last_position(), split as u64);
        let mut restored = Projection::restore(plans(), snapshot).unwrap();
        for event in &log[split..] {
            restored.apply(event);
        }
        assert_same_answers(&restored, &full, &log);
    }
    let amended = full.tables()[0]
        .rows
        .iter()
        .flat_map(|row| &row.cells)
        .filter(|cell| !cell.amended_by.is_empty())
        .count();
    assert!(amended > 0, "the amendments must reach the table");
    let with_history = log
        .iter()
        .filter(|event| !full.amendments_of(event.id).is_empty())
        .count();
    assert_eq!(with_history, 2, "the retracted and the corrected seminar");
}

#[test]
fn a_snapshot_is_refused_under_other_plan_definitions() {
    let log = log();
    let snapshot = Projection::replay(plans(), &log).snapshot();
    assert_eq!(snapshot.plans_digest(), plans_digest(&plans()));

    let retargeted = PLAN.replacen("value = \"", "value = \"1", 1);
    assert_ne!(
        retargeted, PLAN,
        "the plan file changed shape; adjust the test"
    );
    let other = vec![PlanDefinition::from_toml(&retargeted).unwrap()];
    assert_ne!(plans_digest(&other), plans_digest(&plans()));
    assert_eq!(
        Projection::restore(other, snapshot.clone()).unwrap_err(),
        SnapshotMismatch::PlansDiffer
    );
    assert_eq!(
        Projection::restore(Vec::new(), snapshot).unwrap_err(),
        SnapshotMismatch::PlansDiffer
    );
}
