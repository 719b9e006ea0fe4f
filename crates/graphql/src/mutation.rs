//! Mutations: one typed mutation per event kind, plus corrections and retractions.
//!
//! Every input object mirrors a domain payload field for field; its Rust field names are the
//! domain's snake_case names, so serialising an input gives the payload JSON the domain
//! parses. Fields are typed only as far as GraphQL must (strings, integers, enums): every
//! rule (dates inside the fiscal year, unique <= attendances, non-empty text...) is checked
//! by `LedgerEvent::parse`, whose error names the field. All kinds share one code path,
//! [`record`]. An input object and its line in `record_mutations!` are the only things written
//! here per kind; tests hold the list to the domain's activity kinds and each input object to
//! its kind's catalogue entry (`tests/kinds.rs`).

use async_graphql::{Context, InputObject, MergedObject, Object, OneofObject, ID};
use kpi_domain::command::{Command, CorrectEvent, RetractEvent};
use kpi_domain::EventKind;
use kpi_service::auth::Role;
use kpi_service::RecordOptions;
use serde::Serialize;

use crate::error::{internal, record_error, require, Arguments};
use crate::loader::ledger;
use crate::scalars::{Date, DecimalValue, FiscalYearValue};
use crate::types::{ActivityStatus, BeneficiaryKind, Event, EventType, Unit};

/// Different people and person-sessions of a seminar or course.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct ParticipantsInput {
    /// Different people who attended at least once; at most `attendances`.
    pub unique: i32,
    /// Person-sessions; at most `unique` x `sessions`.
    pub attendances: i32,
}

/// An inclusive date range inside one fiscal year.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct PeriodInput {
    /// First day covered.
    pub from: Date,
    /// Last day covered, in the same fiscal year as `from`.
    pub to: Date,
}

/// A seminar, or a multi-session course recorded once.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct SeminarInput {
    /// Title as published.
    pub title: String,
    /// Who held it.
    pub organiser: String,
    /// Date of the (first) session.
    pub first_date: Date,
    /// Number of sessions, at least 1.
    pub sessions: i32,
    pub participants: ParticipantsInput,
    /// Places per session, if announced; attendance may exceed it.
    pub capacity: Option<i32>,
    pub status: ActivityStatus,
    /// Free remark.
    pub note: Option<String>,
}

/// Individual consultations given by one provider over a period.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct ConsultationInput {
    /// Who gave the consultations.
    pub provider: String,
    /// Persons consulted.
    pub persons: i32,
    pub period: PeriodInput,
    /// Free remark.
    pub note: Option<String>,
}

/// A skill-training course.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct SkillTrainingInput {
    /// Department or institution running it.
    pub department: String,
    /// Course title.
    pub title: String,
    /// Fiscal year it counts in.
    pub fiscal_year: FiscalYearValue,
    /// First session, inside `fiscalYear`.
    pub first_date: Option<Date>,
    /// Number of sessions, at least 1.
    pub sessions: i32,
    pub participants: i32,
    pub status: ActivityStatus,
    /// Free remark.
    pub note: Option<String>,
}

/// One round of the company survey; a wave is defined once.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct SurveyWaveInput {
    /// Identifier of the wave: letters, digits, `.`, `_`, `-`.
    pub wave_id: String,
    /// Title of the survey.
    pub title: String,
    pub fiscal_year: FiscalYearValue,
    /// Date sent, inside `fiscalYear`.
    pub date: Option<Date>,
    /// Firms asked, at least 1.
    pub firms_asked: i32,
}

/// One firm's answer to a survey wave; a firm answers a wave once.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct SurveyResponseInput {
    /// The wave answered.
    pub wave_id: String,
    /// The answering firm: letters, digits, `.`, `_`, `-`.
    pub firm_id: String,
    /// Fiscal year of the wave.
    pub fiscal_year: FiscalYearValue,
    /// Date answered, inside `fiscalYear`.
    pub date: Option<Date>,
    /// Does the firm practise telework?
    pub practises_telework: bool,
    /// Short-hour or telework job openings the firm reports.
    pub job_openings: i32,
}

/// One grant of a subsidy programme to one household or firm.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct SubsidyGrantInput {
    /// Subsidy programme.
    pub programme: String,
    pub beneficiary: BeneficiaryKind,
    /// Name, if public.
    pub beneficiary_name: Option<String>,
    /// Persons in the household, at least 1 when given.
    pub persons: Option<i32>,
    /// Amount granted in yen.
    pub amount_yen: Option<i64>,
    pub fiscal_year: FiscalYearValue,
    /// Date granted, inside `fiscalYear`.
    pub date: Option<Date>,
}

/// Users of one coworking space over a period.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct CoworkingTallyInput {
    /// The space.
    pub space: String,
    pub period: PeriodInput,
    /// Users (visits).
    pub users: i32,
    /// Of `users`, those who came to work.
    pub work_use: Option<i32>,
}

/// An exchange, community or matching meeting.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct ExchangeMeetingInput {
    /// Kind of meeting, e.g. `tokyo_exchange`, `job_fair`, `career_talk`.
    pub kind: String,
    pub title: String,
    pub fiscal_year: FiscalYearValue,
    /// Date, inside `fiscalYear`.
    pub date: Option<Date>,
    /// All participants; required unless `fromOutsideCity` is given.
    pub participants: Option<i32>,
    /// Participants from outside the city; at most `participants`.
    pub from_outside_city: Option<i32>,
}

/// Participants of a workation programme.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct WorkationParticipationInput {
    pub programme: String,
    pub fiscal_year: FiscalYearValue,
    /// Date, inside `fiscalYear`.
    pub date: Option<Date>,
    pub participants: i32,
}

/// A firm that moved into the city.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct InflowingFirmInput {
    pub firm: String,
    /// Where it settled.
    pub site: String,
    pub fiscal_year: FiscalYearValue,
    /// Date, inside `fiscalYear`.
    pub date: Option<Date>,
    /// Free remark.
    pub note: Option<String>,
}

/// A partnership project or agreement with one organisation.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct PartnershipInput {
    pub organisation: String,
    pub fiscal_year: FiscalYearValue,
    /// Date, inside `fiscalYear`.
    pub date: Option<Date>,
    /// What the partnership is.
    pub description: Option<String>,
}

/// Publications on one channel; `count` above 1 records a tally.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct PublicationInput {
    /// Channel, e.g. `website`, `facebook`.
    pub channel: String,
    pub title: Option<String>,
    pub fiscal_year: FiscalYearValue,
    /// Date, inside `fiscalYear`.
    pub date: Option<Date>,
    /// Number of publications this record stands for, at least 1.
    pub count: i32,
}

/// A meeting of a committee.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct CommitteeMeetingInput {
    pub committee: String,
    pub title: Option<String>,
    pub fiscal_year: FiscalYearValue,
    /// Date, inside `fiscalYear`.
    pub date: Option<Date>,
}

/// An exhibition the city took part in.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct ExhibitionInput {
    pub title: String,
    pub venue: Option<String>,
    pub fiscal_year: FiscalYearValue,
    /// Date, inside `fiscalYear`.
    pub date: Option<Date>,
}

/// A tour showing the city to firms from the capital region.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct MonitorTourInput {
    pub title: String,
    pub fiscal_year: FiscalYearValue,
    /// Date, inside `fiscalYear`.
    pub date: Option<Date>,
    /// Participating firms.
    pub firms: i32,
}

/// A yearly total from a published table; entered once per measure and year.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct OpeningFigureInput {
    /// What was measured; plans select figures by it.
    pub measure: String,
    pub fiscal_year: FiscalYearValue,
    /// The figure, exact: a string such as "29.0", or an integer.
    pub value: DecimalValue,
    pub unit: Unit,
    /// Document and table the figure comes from.
    pub source: String,
}

/// A total a document claims, compared with the records by the audit.
#[derive(InputObject, Serialize, Debug, Clone)]
pub struct DeclaredTotalInput {
    /// The kind counted: `SEMINAR` or `SKILL_TRAINING`.
    pub of: EventType,
    /// Only activities of this organiser or department.
    pub organiser: Option<String>,
    pub fiscal_year: FiscalYearValue,
    /// The claimed count.
    pub count: i32,
    /// Where the claim is made.
    pub source: String,
}

/// The payload JSON the domain parses. Absent optional fields are left out rather than sent
/// as null: the domain reads a missing field as "not given".
fn payload_of(input: &impl Serialize) -> serde_json::Value {
    let mut value =
        serde_json::to_value(input).expect("input objects serialise to JSON without failure");
    drop_nulls(&mut value);
    value
}

fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(fields) => {
            fields.retain(|_, field| !field.is_null());
            fields.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn options(
    idempotency_key: Option<String>,
    provenance: Option<String>,
    outside_plans: Option<bool>,
) -> RecordOptions {
    RecordOptions {
        idempotency_key,
        provenance,
        outside_plans: outside_plans.unwrap_or(false),
    }
}

/// The one write path of every mutation: role check, then the service validates (through
/// the domain) and records; a refusal names the argument at fault.
pub(crate) async fn record(
    ctx: &Context<'_>,
    needed: Role,
    kind: EventKind,
    payload: serde_json::Value,
    options: RecordOptions,
    arguments: Arguments,
) -> async_graphql::Result<Event> {
    let caller = require(ctx, needed)?;
    // Anonymous callers never hold the recorder or admin role, so every caller here has a name.
    let actor = caller
        .actor()
        .ok_or_else(|| internal("an anonymous caller passed the role check"))?;
    let envelope = ledger(ctx)
        .record_payload(actor, kind.name(), &payload, options)
        .await
        .map_err(|error| record_error(error, arguments))?;
    tracing::info!(
        event_type = kind.name(),
        position = envelope.position,
        actor,
        "event recorded over GraphQL"
    );
    Ok(envelope.into())
}

/// The GraphQL face of each activity kind: its input object and mutation.
macro_rules! record_mutations {
    ($( $(#[$doc:meta])* $variant:ident($input:ident) => $mutation:ident; )*) => {
        /// Exactly one event, given under the field of its kind.
        #[derive(OneofObject, Debug, Clone)]
        pub enum EventInput {
            $( $variant($input), )*
        }

        impl EventInput {
            /// The kinds recorded by a mutation here, in list order.
            #[cfg(test)]
            const KINDS: &'static [EventKind] = &[$( EventKind::$variant, )*];

            fn kind(&self) -> EventKind {
                match self {
                    $( EventInput::$variant(_) => EventKind::$variant, )*
                }
            }

            fn payload(&self) -> serde_json::Value {
                match self {
                    $( EventInput::$variant(input) => payload_of(input), )*
                }
            }
        }

        /// One mutation per event kind.
        #[derive(Default)]
        pub struct RecordMutations;

        #[Object]
        impl RecordMutations {
            $(
                $(#[$doc])*
                ///
                /// Needs the `recorder` role. Returns the stored event.
                async fn $mutation(
                    &self,
                    ctx: &Context<'_>,
                    input: $input,
                    #[graphql(desc = "Makes a retry harmless: the same key with the same event and provenance returns the event first recorded; the same key with another event or provenance is a CONFLICT.")] idempotency_key: Option<String>,
                    #[graphql(desc = "Where the figure was taken from, e.g. \"FY2024 report, KPI table\".")] provenance: Option<String>,
                    #[graphql(desc = "True records an activity whose fiscal year lies outside every plan in force, which counts in no KPI (otherwise refused, naming the plans' periods). Changes nothing for an activity inside a plan.")] outside_plans: Option<bool>,
                ) -> async_graphql::Result<Event> {
                    record(
                        ctx,
                        Role::Recorder,
                        EventKind::$variant,
                        payload_of(&input),
                        options(idempotency_key, provenance, outside_plans),
                        Arguments::Record,
                    )
                    .await
                }
            )*
        }
    };
}

record_mutations! {
    /// Records a seminar or a multi-session course.
    Seminar(SeminarInput) => record_seminar;
    /// Records consultations given by one provider over a period.
    Consultation(ConsultationInput) => record_consultation;
    /// Records a skill-training course.
    SkillTraining(SkillTrainingInput) => record_skill_training;
    /// Defines a survey wave (once per wave).
    SurveyWave(SurveyWaveInput) => record_survey_wave;
    /// Records one firm's answer to a survey wave (once per firm and wave).
    SurveyResponse(SurveyResponseInput) => record_survey_response;
    /// Records one subsidy grant.
    SubsidyGrant(SubsidyGrantInput) => record_subsidy_grant;
    /// Records the users of a coworking space over a period.
    CoworkingTally(CoworkingTallyInput) => record_coworking_tally;
    /// Records an exchange, community or matching meeting.
    ExchangeMeeting(ExchangeMeetingInput) => record_exchange_meeting;
    /// Records the participants of a workation programme.
    WorkationParticipation(WorkationParticipationInput) => record_workation_participation;
    /// Records a firm that moved into the city.
    InflowingFirm(InflowingFirmInput) => record_inflowing_firm;
    /// Records a partnership with one organisation.
    Partnership(PartnershipInput) => record_partnership;
    /// Records publications on one channel.
    Publication(PublicationInput) => record_publication;
    /// Records a committee meeting.
    CommitteeMeeting(CommitteeMeetingInput) => record_committee_meeting;
    /// Records an exhibition.
    Exhibition(ExhibitionInput) => record_exhibition;
    /// Records a monitor tour.
    MonitorTour(MonitorTourInput) => record_monitor_tour;
    /// Records a yearly total from a published table (once per measure and year).
    OpeningFigure(OpeningFigureInput) => record_opening_figure;
    /// Records a total a document claims, for the audit.
    DeclaredTotal(DeclaredTotalInput) => record_declared_total;
}

/// Corrections and retractions: new events that name the event they change.
#[derive(Default)]
pub struct AmendMutations;

#[Object]
impl AmendMutations {
    /// Replaces an earlier event's contribution with `replacement`, a complete event of the
    /// target's kind. Both stay in history. Needs the `recorder` role.
    #[allow(clippy::too_many_arguments)]
    async fn correct_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Id of the event corrected.")] target: ID,
        #[graphql(desc = "The complete corrected event, of the target's kind.")]
        replacement: EventInput,
        #[graphql(desc = "Why.")] reason: String,
        #[graphql(desc = "When the correction was decided.")] decided_on: Date,
        #[graphql(
            desc = "Makes a retry harmless: the same key with the same event and provenance returns the event first recorded; the same key with another event or provenance is a CONFLICT."
        )]
        idempotency_key: Option<String>,
        #[graphql(desc = "Where the figure was taken from, e.g. \"FY2024 report, KPI table\".")]
        provenance: Option<String>,
        #[graphql(
            desc = "True records a replacement whose fiscal year lies outside every plan in force, which counts in no KPI (otherwise refused, naming the plans' periods)."
        )]
        outside_plans: Option<bool>,
    ) -> async_graphql::Result<Event> {
        let kind = replacement.kind();
        let correction = CorrectEvent {
            target: target.0,
            replacement_kind: kind,
            replacement: replacement.payload(),
            reason,
            decided_on: decided_on.0,
        };
        record(
            ctx,
            Role::Recorder,
            CorrectEvent::KIND,
            correction.payload(),
            options(idempotency_key, provenance, outside_plans),
            Arguments::Correct { replacement: kind },
        )
        .await
    }

    /// Withdraws an earlier event's contribution. Both stay in history. Needs the `recorder`
    /// role.
    async fn retract_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Id of the event retracted.")] target: ID,
        #[graphql(desc = "Why.")] reason: String,
        #[graphql(desc = "When the retraction was decided.")] decided_on: Date,
        #[graphql(
            desc = "Makes a retry harmless: the same key with the same event and provenance returns the event first recorded; the same key with another event or provenance is a CONFLICT."
        )]
        idempotency_key: Option<String>,
        #[graphql(desc = "Where the figure was taken from, e.g. \"FY2024 report, KPI table\".")]
        provenance: Option<String>,
    ) -> async_graphql::Result<Event> {
        let retraction = RetractEvent {
            target: target.0,
            reason,
            decided_on: decided_on.0,
        };
        record(
            ctx,
            Role::Recorder,
            RetractEvent::KIND,
            retraction.payload(),
            options(idempotency_key, provenance, None),
            Arguments::Retract,
        )
        .await
    }
}

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(RecordMutations, AmendMutations, crate::plans::PlanMutations);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_become_domain_payloads_without_absent_fields() {
        let input = SeminarInput {
            title: "Web活用促進セミナー".into(),
            organiser: "DX・テレワーク推進センター".into(),
            first_date: Date("2024-04-30".into()),
            sessions: 1,
            participants: ParticipantsInput {
                unique: 41,
                attendances: 41,
            },
            capacity: None,
            status: ActivityStatus::Held,
            note: None,
        };
        let payload = payload_of(&input);
        assert_eq!(
            payload,
            serde_json::json!({
                "title": "Web活用促進セミナー",
                "organiser": "DX・テレワーク推進センター",
                "first_date": "2024-04-30",
                "sessions": 1,
                "participants": { "unique": 41, "attendances": 41 },
                "status": "held",
            })
        );
        kpi_domain::LedgerEvent::parse("seminar", &payload).expect("the domain accepts it");
    }

    /// Every activity kind of the domain's list has its input object and mutation here, in
    /// the same order; amendments and lifecycle events have their own mutations.
    #[test]
    fn every_activity_kind_has_a_record_mutation() {
        let activities: Vec<EventKind> = EventKind::ALL
            .into_iter()
            .filter(|kind| kind.family() == kpi_domain::event::Family::Activity)
            .collect();
        assert_eq!(EventInput::KINDS, activities.as_slice());
    }

    #[test]
    fn event_type_names_are_the_domain_names() {
        for kind in EventKind::ALL {
            let local = EventType::from(kind);
            assert_eq!(
                serde_json::to_value(local).unwrap(),
                serde_json::Value::from(kind.name())
            );
        }
    }
}
