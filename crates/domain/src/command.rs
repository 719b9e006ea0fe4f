//! Commands as the front-ends take them: one struct per event that a front-end states field
//! by field (a correction, a retraction, each change of a plan's lifecycle), holding what the
//! user gave, not yet read. The domain writes the payload from it and parses that
//! ([`Command::parse`]), so no front-end writes a payload's JSON or an event type's name, and
//! every rule and every message stays the domain's: an error names the payload field
//! (`last`, `target.value`, `mapping[0].history`), which the front-end translates back into
//! its flag or argument.
//!
//! Activities are not here: their front-ends hand over a whole payload (a GraphQL input
//! object, a CSV row), which [`LedgerEvent::parse`] reads as it is.

use std::borrow::Cow;

use serde::{Serialize, Serializer};

use crate::error::ValidationError;
use crate::event::amendments::CorrectionFields;
use crate::event::{EventKind, LedgerEvent};
use crate::plan::{HistoryRule, Series, TargetKind};

/// A field as a front-end was given it, not yet read: text from a command line, a GraphQL
/// scalar (a number or a string), or a value the front-end already holds typed (a series).
/// The domain reads it when it parses the payload, so the error is the same whatever the
/// front-end.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Given(serde_json::Value);

impl From<String> for Given {
    fn from(text: String) -> Self {
        Given(serde_json::Value::String(text))
    }
}

impl From<&str> for Given {
    fn from(text: &str) -> Self {
        Given(serde_json::Value::from(text))
    }
}

/// A value read from a file or a GraphQL scalar (a number, a string, a list...).
impl From<serde_json::Value> for Given {
    fn from(value: serde_json::Value) -> Self {
        Given(value)
    }
}

impl From<Series> for Given {
    fn from(series: Series) -> Self {
        Given::of(&series)
    }
}

impl From<TargetKind> for Given {
    fn from(kind: TargetKind) -> Self {
        Given::of(&kind)
    }
}

impl From<HistoryRule> for Given {
    fn from(rule: HistoryRule) -> Self {
        Given::of(&rule)
    }
}

/// A transfer's mapping built entry by entry.
impl From<Vec<MappingEntry>> for Given {
    fn from(entries: Vec<MappingEntry>) -> Self {
        Given::of(&entries)
    }
}

impl Given {
    fn of(value: &impl Serialize) -> Given {
        Given(serde_json::to_value(value).expect("command values serialise to JSON"))
    }
}

/// What a front-end asks to record, field by field.
pub trait Command: Serialize {
    /// The kind of event the command records.
    const KIND: EventKind;

    /// The payload the command stands for: its fields under their payload names, as given.
    fn payload(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("commands serialise to JSON")
    }

    /// The event, parsed and checked like any payload of its kind.
    fn parse(&self) -> Result<LedgerEvent, ValidationError> {
        LedgerEvent::parse(Self::KIND.name(), &self.payload())
    }
}

/// Replaces an earlier event's contribution with a complete event of the target's kind.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrectEvent {
    /// The id of the event corrected.
    pub target: String,
    /// The kind of the replacement, which must be the target's.
    pub replacement_kind: EventKind,
    /// The complete replacement payload, as given.
    pub replacement: serde_json::Value,
    pub reason: String,
    pub decided_on: String,
}

impl Serialize for CorrectEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        CorrectionFields {
            target: &self.target,
            target_type: Cow::Borrowed(self.replacement_kind.name()),
            replacement: &self.replacement,
            reason: &self.reason,
            decided_on: &self.decided_on,
        }
        .serialize(serializer)
    }
}

impl Command for CorrectEvent {
    const KIND: EventKind = EventKind::Correction;
}

/// Withdraws an earlier event's contribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetractEvent {
    /// The id of the event retracted.
    pub target: String,
    pub reason: String,
    pub decided_on: String,
}

impl Command for RetractEvent {
    const KIND: EventKind = EventKind::Retraction;
}

/// Adopts a plan with its whole definition (the TOML text of a plan file).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdoptPlan {
    pub definition: String,
    pub adopted_on: String,
}

impl Command for AdoptPlan {
    const KIND: EventKind = EventKind::PlanAdopted;
}

/// Moves a plan's last fiscal year later.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtendPlan {
    pub plan_id: String,
    /// The new last fiscal year.
    pub last: Given,
    pub decided_on: String,
    pub reason: String,
}

impl Command for ExtendPlan {
    const KIND: EventKind = EventKind::PlanExtended;
}

/// Replaces a KPI's target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviseKpiTarget {
    pub plan_id: String,
    pub kpi: String,
    /// The main row when not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Given>,
    pub target: NewTarget,
    pub decided_on: String,
    pub reason: String,
}

/// The target a revision sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewTarget {
    /// An exact decimal.
    pub value: Given,
    pub kind: Given,
}

impl Command for ReviseKpiTarget {
    const KIND: EventKind = EventKind::KpiTargetRevised;
}

/// Adds a KPI, written as the body of a `[[kpis]]` table, to a plan in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddKpi {
    pub plan_id: String,
    pub definition: String,
    pub decided_on: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Command for AddKpi {
    const KIND: EventKind = EventKind::KpiAdded;
}

/// Retires a KPI: it counts up to `last_year` and shows no figure after it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetireKpi {
    pub plan_id: String,
    pub kpi: String,
    /// The main row when not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Given>,
    pub last_year: Given,
    pub decided_on: String,
    pub reason: String,
}

impl Command for RetireKpi {
    const KIND: EventKind = EventKind::KpiRetired;
}

/// Hands a plan over to its successor with a KPI mapping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferPlan {
    pub plan_id: String,
    pub successor: String,
    pub effective_from: Given,
    pub decided_on: String,
    /// The `[[mapping]]` entries of a mapping file, or [`MappingEntry`]s.
    pub mapping: Given,
}

impl Command for TransferPlan {
    const KIND: EventKind = EventKind::PlanTransferred;
}

/// How one successor KPI is fed by the predecessor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MappingEntry {
    pub successor_kpi: String,
    pub series: Given,
    pub from_kpis: Vec<FromKpi>,
    /// Event selectors in the plan-file source form.
    pub from_events: Vec<serde_json::Value>,
    pub history: Given,
}

/// One predecessor KPI of a mapping entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FromKpi {
    pub kpi: String,
    pub series: Given,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;

    const KPI: &str = r#"
        id = "13"
        pillar = "1"
        name = { ja = "参加者", en = "Participants" }
        unit = "persons"
        aggregation = "sum"
        sources = [{ event = "seminar", field = "participants.unique" }]
    "#;

    const PLAN: &str = r#"
        id = "p"
        name = { ja = "計画", en = "Plan" }
        period = { first = "R9", last = "R13" }
        pillars = [{ id = "1", name = { ja = "柱", en = "Pillar" } }]
        [[kpis]]
        id = "1"
        pillar = "1"
        name = { ja = "参加者", en = "Participants" }
        unit = "persons"
        aggregation = "sum"
        sources = [{ event = "seminar", field = "participants.unique" }]
    "#;

    fn keys(payload: &serde_json::Value) -> BTreeSet<String> {
        payload.as_object().unwrap().keys().cloned().collect()
    }

    /// The catalogue's top-level fields of a kind (`target` for `target.value`).
    fn catalogue_keys(kind: EventKind) -> BTreeSet<String> {
        LedgerEvent::kind_info(kind)
            .fields
            .iter()
            .map(|field| field.name.split('.').next().unwrap().to_owned())
            .collect()
    }

    /// Parses `command`, whose every optional field is given, and checks that it writes
    /// exactly its kind's catalogue fields and gives an event of its kind.
    fn parses_with_every_field<C: Command>(command: C) -> LedgerEvent {
        let payload = command.payload();
        assert_eq!(keys(&payload), catalogue_keys(C::KIND), "{}", C::KIND);
        let event = command
            .parse()
            .unwrap_or_else(|error| panic!("{}: {error}", C::KIND));
        assert_eq!(event.kind(), C::KIND);
        event
    }

    #[test]
    fn every_command_writes_the_fields_of_its_kind_and_parses() {
        let seminar = json!({
            "title": "Web活用セミナー", "organiser": "DX・テレワーク推進センター",
            "first_date": "2024-04-30", "sessions": 1,
            "participants": {"unique": 41, "attendances": 41}, "status": "held"
        });
        let correction = parses_with_every_field(CorrectEvent {
            target: "0190f5c4-0000-7000-8000-000000000001".into(),
            replacement_kind: EventKind::Seminar,
            replacement: seminar.clone(),
            reason: "typo".into(),
            decided_on: "2025-04-10".into(),
        });
        // The payload a parsed correction writes is the one its command wrote.
        let LedgerEvent::Correction(parsed) = &correction else {
            unreachable!()
        };
        assert_eq!(parsed.replacement.to_payload(), seminar);
        parses_with_every_field(RetractEvent {
            target: "0190f5c4-0000-7000-8000-000000000001".into(),
            reason: "twice".into(),
            decided_on: "2025-04-10".into(),
        });
        parses_with_every_field(AdoptPlan {
            definition: PLAN.into(),
            adopted_on: "2027-03-01".into(),
        });
        parses_with_every_field(ExtendPlan {
            plan_id: "telework-roadmap".into(),
            last: "R8".into(),
            decided_on: "2025-06-01".into(),
            reason: "one more year".into(),
        });
        let revised = parses_with_every_field(ReviseKpiTarget {
            plan_id: "telework-roadmap".into(),
            kpi: "4".into(),
            series: Some(Series::B.into()),
            target: NewTarget {
                value: json!(1500).into(),
                kind: TargetKind::Cumulative.into(),
            },
            decided_on: "2025-06-01".into(),
            reason: "revised".into(),
        });
        let LedgerEvent::KpiTargetRevised(revised) = revised else {
            unreachable!()
        };
        assert_eq!(revised.series, Series::B);
        parses_with_every_field(AddKpi {
            plan_id: "telework-roadmap".into(),
            definition: KPI.into(),
            decided_on: "2025-06-01".into(),
            reason: Some("counted".into()),
        });
        parses_with_every_field(RetireKpi {
            plan_id: "telework-roadmap".into(),
            kpi: "12".into(),
            series: Some("main".into()),
            last_year: json!(2025).into(),
            decided_on: "2025-06-01".into(),
            reason: "merged".into(),
        });
        let transfer = parses_with_every_field(TransferPlan {
            plan_id: "telework-roadmap".into(),
            successor: "fifth-information-plan".into(),
            effective_from: "R9".into(),
            decided_on: "2027-03-31".into(),
            mapping: vec![MappingEntry {
                successor_kpi: "DX1".into(),
                series: Series::Main.into(),
                from_kpis: vec![FromKpi {
                    kpi: "2".into(),
                    series: Series::Main.into(),
                }],
                from_events: vec![json!({"event": "skill_training", "field": "participants"})],
                history: HistoryRule::Counts.into(),
            }]
            .into(),
        });
        let LedgerEvent::PlanTransferred(transfer) = transfer else {
            unreachable!()
        };
        assert_eq!(transfer.mapping.len(), 1);
        assert_eq!(transfer.mapping[0].from_events.len(), 1);
    }

    #[test]
    fn a_command_is_refused_like_its_payload_naming_the_field() {
        let extend = ExtendPlan {
            plan_id: "telework-roadmap".into(),
            last: "R99x".into(),
            decided_on: "2025-06-01".into(),
            reason: "one more year".into(),
        };
        let error = extend.parse().unwrap_err();
        assert_eq!(error.field, "last");
        assert_eq!(
            error,
            LedgerEvent::parse("plan_extended", &extend.payload()).unwrap_err()
        );
        let correction = CorrectEvent {
            target: "0190f5c4-0000-7000-8000-000000000001".into(),
            replacement_kind: EventKind::Partnership,
            replacement: json!({"organisation": "", "fiscal_year": 2024}),
            reason: "typo".into(),
            decided_on: "2025-04-10".into(),
        };
        assert_eq!(
            correction.parse().unwrap_err().field,
            "replacement.organisation"
        );
    }
}
