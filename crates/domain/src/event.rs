//! The event catalogue: every kind of fact the ledger records, with its validation.
//!
//! [`LedgerEvent::parse`] is THE boundary: a payload that gets past it satisfies every rule
//! below, so nothing downstream re-checks. Payloads are JSON objects whose fields are listed
//! by [`LedgerEvent::catalogue`]; unknown fields are refused (a typo must not silently drop
//! a figure).
//!
//! Modelling choices:
//! - Activities the report dates (seminars) carry their date; activities it only places in a
//!   year (trainings, grants, partnerships, ...) carry a `fiscal_year` and an optional `date`
//!   that must fall inside it. Their [`LedgerEvent::occurred_on`] is the date, else the last
//!   day of the fiscal year.
//! - Tallies over a period (consultations, coworking use) carry `period.from..=period.to`,
//!   which must lie within one fiscal year so the tally belongs to exactly one table column.
//! - A multi-session course records unique participants (what a participant KPI counts) and
//!   attendances: `unique <= attendances <= unique x sessions`. Attendance above capacity is
//!   valid (the report has 41 attendees for 40 places).
//! - Opening figures are yearly totals taken from a published table. They name a `measure`
//!   that plan definitions select, so a successor plan can map the same figures.
//! - A correction names its target, the target's event type and a full replacement payload
//!   of that type; a retraction names its target. Neither edits anything: the projection
//!   swaps or removes the target's contribution.
//! - A declared total records a count a document claims ("計7回"), so the audit can set it
//!   against the activities actually recorded.

use std::fmt;

use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::calendar::FiscalYear;
use crate::error::{from_serde_path, ValidationError};
use crate::lifecycle::{
    KpiAdded, KpiRetired, KpiTargetRevised, PlanAdopted, PlanExtended, PlanTransferred,
};
use crate::values::{iso_date, ActivityStatus, Code, Count, PositiveCount, Quantity, Text, Unit};

/// A seminar or a multi-session course counted as one activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seminar {
    pub title: Text,
    pub organiser: Text,
    #[serde(with = "iso_date")]
    pub first_date: NaiveDate,
    pub sessions: PositiveCount,
    pub participants: Participants,
    /// Places per session, if announced. Attendance may exceed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Count>,
    pub status: ActivityStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participants {
    /// Different people who took part at least once.
    pub unique: Count,
    /// Person-sessions: a person attending five sessions counts five times.
    pub attendances: Count,
}

/// An inclusive date range inside one fiscal year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    #[serde(with = "iso_date")]
    pub from: NaiveDate,
    #[serde(with = "iso_date")]
    pub to: NaiveDate,
}

/// Individual consultations given by one provider over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consultation {
    pub provider: Text,
    pub persons: Count,
    pub period: Period,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillTraining {
    pub department: Text,
    pub title: Text,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_date: Option<NaiveDate>,
    pub sessions: PositiveCount,
    pub participants: Count,
    pub status: ActivityStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}

/// One round of the company survey: who was asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyWave {
    pub wave_id: Code,
    pub title: Text,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    pub firms_asked: PositiveCount,
}

/// One firm's answer to a survey wave. A firm answers a wave once: the stream
/// `survey-response/<wave>/<firm>` must be new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyResponse {
    pub wave_id: Code,
    pub firm_id: Code,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    pub practises_telework: bool,
    /// Short-hour or telework job openings the firm reports.
    pub job_openings: Count,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BeneficiaryKind {
    Household,
    Firm,
}

impl BeneficiaryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BeneficiaryKind::Household => "household",
            BeneficiaryKind::Firm => "firm",
        }
    }
}

/// One grant of a subsidy programme to one household or firm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsidyGrant {
    pub programme: Text,
    pub beneficiary: BeneficiaryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beneficiary_name: Option<Text>,
    /// Persons in the household, at least 1 when given (the report gives it for migrant
    /// households, not for renovation grants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persons: Option<Count>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_yen: Option<u64>,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
}

/// Users of one coworking space over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoworkingTally {
    pub space: Text,
    pub period: Period,
    pub users: Count,
    /// Of `users`, those who came to work (counted from R6 on; absent before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_use: Option<Count>,
}

/// An exchange, community or matching meeting. `kind` is a free identifier
/// (e.g. `business_exchange`, `tokyo_exchange`, `job_fair`, `career_talk`) that plans filter on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeMeeting {
    pub kind: Code,
    pub title: Text,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants: Option<Count>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_outside_city: Option<Count>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkationParticipation {
    pub programme: Text,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    pub participants: Count,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InflowingFirm {
    pub firm: Text,
    pub site: Text,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partnership {
    pub organisation: Text,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
}

/// Publications on one channel; `count` > 1 records a tally (250 Facebook posts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publication {
    pub channel: Code,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text>,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    pub count: PositiveCount,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitteeMeeting {
    pub committee: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text>,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exhibition {
    pub title: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<Text>,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
}

/// A tour showing the city to firms from the capital region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorTour {
    pub title: Text,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    pub firms: Count,
}

/// A yearly total taken from a published table, for years without individual records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpeningFigure {
    pub measure: Code,
    pub fiscal_year: FiscalYear,
    pub value: Quantity,
    pub unit: Unit,
    /// Which document and table the figure comes from.
    pub source: Text,
}

/// A total some document claims, kept so the audit can compare it with the records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredTotal {
    /// The event type the claim counts (`seminar` or `skill_training`).
    pub of: Code,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organiser: Option<Text>,
    pub fiscal_year: FiscalYear,
    pub count: Count,
    pub source: Text,
}

/// Replaces the contribution of an earlier event by the replacement's.
#[derive(Debug, Clone, PartialEq)]
pub struct Correction {
    pub target: Uuid,
    pub replacement: Box<LedgerEvent>,
    pub reason: Text,
    pub decided_on: NaiveDate,
}

/// Withdraws an earlier event's contribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retraction {
    pub target: Uuid,
    pub reason: Text,
    #[serde(with = "iso_date")]
    pub decided_on: NaiveDate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorrectionWire {
    target: Uuid,
    target_type: String,
    replacement: serde_json::Value,
    reason: Text,
    #[serde(with = "iso_date")]
    decided_on: NaiveDate,
}

/// Every fact the ledger records.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerEvent {
    Seminar(Seminar),
    Consultation(Consultation),
    SkillTraining(SkillTraining),
    SurveyWave(SurveyWave),
    SurveyResponse(SurveyResponse),
    SubsidyGrant(SubsidyGrant),
    CoworkingTally(CoworkingTally),
    ExchangeMeeting(ExchangeMeeting),
    WorkationParticipation(WorkationParticipation),
    InflowingFirm(InflowingFirm),
    Partnership(Partnership),
    Publication(Publication),
    CommitteeMeeting(CommitteeMeeting),
    Exhibition(Exhibition),
    MonitorTour(MonitorTour),
    OpeningFigure(OpeningFigure),
    DeclaredTotal(DeclaredTotal),
    Correction(Correction),
    Retraction(Retraction),
    PlanAdopted(PlanAdopted),
    PlanExtended(PlanExtended),
    KpiTargetRevised(KpiTargetRevised),
    KpiAdded(KpiAdded),
    KpiRetired(KpiRetired),
    PlanTransferred(PlanTransferred),
}

/// The kind of an event without its data; its index is stable within a build and used to
/// precompute which KPI sources care about which kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    Seminar,
    Consultation,
    SkillTraining,
    SurveyWave,
    SurveyResponse,
    SubsidyGrant,
    CoworkingTally,
    ExchangeMeeting,
    WorkationParticipation,
    InflowingFirm,
    Partnership,
    Publication,
    CommitteeMeeting,
    Exhibition,
    MonitorTour,
    OpeningFigure,
    DeclaredTotal,
    Correction,
    Retraction,
    PlanAdopted,
    PlanExtended,
    KpiTargetRevised,
    KpiAdded,
    KpiRetired,
    PlanTransferred,
}

impl EventKind {
    pub const COUNT: usize = 25;

    pub const ALL: [EventKind; Self::COUNT] = [
        EventKind::Seminar,
        EventKind::Consultation,
        EventKind::SkillTraining,
        EventKind::SurveyWave,
        EventKind::SurveyResponse,
        EventKind::SubsidyGrant,
        EventKind::CoworkingTally,
        EventKind::ExchangeMeeting,
        EventKind::WorkationParticipation,
        EventKind::InflowingFirm,
        EventKind::Partnership,
        EventKind::Publication,
        EventKind::CommitteeMeeting,
        EventKind::Exhibition,
        EventKind::MonitorTour,
        EventKind::OpeningFigure,
        EventKind::DeclaredTotal,
        EventKind::Correction,
        EventKind::Retraction,
        EventKind::PlanAdopted,
        EventKind::PlanExtended,
        EventKind::KpiTargetRevised,
        EventKind::KpiAdded,
        EventKind::KpiRetired,
        EventKind::PlanTransferred,
    ];

    /// The stable snake_case name stored in the envelope.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Seminar => "seminar",
            EventKind::Consultation => "consultation",
            EventKind::SkillTraining => "skill_training",
            EventKind::SurveyWave => "survey_wave",
            EventKind::SurveyResponse => "survey_response",
            EventKind::SubsidyGrant => "subsidy_grant",
            EventKind::CoworkingTally => "coworking_tally",
            EventKind::ExchangeMeeting => "exchange_meeting",
            EventKind::WorkationParticipation => "workation_participation",
            EventKind::InflowingFirm => "inflowing_firm",
            EventKind::Partnership => "partnership",
            EventKind::Publication => "publication",
            EventKind::CommitteeMeeting => "committee_meeting",
            EventKind::Exhibition => "exhibition",
            EventKind::MonitorTour => "monitor_tour",
            EventKind::OpeningFigure => "opening_figure",
            EventKind::DeclaredTotal => "declared_total",
            EventKind::Correction => "correction",
            EventKind::Retraction => "retraction",
            EventKind::PlanAdopted => "plan_adopted",
            EventKind::PlanExtended => "plan_extended",
            EventKind::KpiTargetRevised => "kpi_target_revised",
            EventKind::KpiAdded => "kpi_added",
            EventKind::KpiRetired => "kpi_retired",
            EventKind::PlanTransferred => "plan_transferred",
        }
    }

    pub fn from_name(name: &str) -> Option<EventKind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Kinds that change other events rather than record an activity.
    pub fn is_amendment(self) -> bool {
        matches!(self, EventKind::Correction | EventKind::Retraction)
    }

    /// Plan lifecycle events change plan definitions; they are never counted nor amended.
    pub fn is_lifecycle(self) -> bool {
        matches!(
            self,
            EventKind::PlanAdopted
                | EventKind::PlanExtended
                | EventKind::KpiTargetRevised
                | EventKind::KpiAdded
                | EventKind::KpiRetired
                | EventKind::PlanTransferred
        )
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the store must treat the event's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamRule {
    /// Append whatever the stream's version.
    Any,
    /// The stream must not exist yet; this makes "once only" rules atomic in the store.
    MustBeNew,
}

/// A value read from an event for a KPI source or filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    Int(u64),
    Decimal(rust_decimal::Decimal),
    Bool(bool),
    Str(&'a str),
}

/// Reads one field of one kind of event.
pub type FieldGetter = for<'a> fn(&'a LedgerEvent) -> Option<FieldValue<'a>>;

/// What a field holds, for documentation and for checking plan definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Code,
    Count,
    PositiveCount,
    Integer,
    Decimal,
    Bool,
    Date,
    FiscalYear,
    Unit,
    Status,
    Beneficiary,
    Uuid,
    EventType,
    Payload,
}

impl FieldType {
    /// Can a KPI sum this field?
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::Count | FieldType::PositiveCount | FieldType::Integer | FieldType::Decimal
        )
    }
}

/// One field of an event kind.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FieldInfo {
    /// Dotted path inside the payload.
    pub name: &'static str,
    #[serde(rename = "type")]
    pub ty: FieldType,
    pub required: bool,
    pub doc: &'static str,
    #[serde(skip)]
    pub get: Option<FieldGetter>,
}

/// One kind of event with its fields.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct EventKindInfo {
    pub name: &'static str,
    #[serde(skip)]
    pub kind: EventKind,
    pub schema_version: u32,
    pub summary: &'static str,
    pub fields: &'static [FieldInfo],
}

impl EventKindInfo {
    pub fn field(&self, name: &str) -> Option<&'static FieldInfo> {
        self.fields.iter().find(|field| field.name == name)
    }
}

const SCHEMA_VERSION: u32 = 1;

/// The longest stream id the store accepts.
pub const MAX_STREAM_ID_BYTES: usize = 200;

fn parse_as<T: DeserializeOwned>(payload: &serde_json::Value) -> Result<T, ValidationError> {
    // Path tracking only runs to explain a failure; replay parses valid payloads.
    match T::deserialize(payload) {
        Ok(value) => Ok(value),
        Err(_) => serde_path_to_error::deserialize(payload).map_err(from_serde_path),
    }
}

fn parse_slice_as<T: DeserializeOwned>(payload: &[u8]) -> Result<T, ValidationError> {
    // The plain deserialiser is the fast path for replay; the path-tracking one only runs to
    // explain a failure.
    match serde_json::from_slice(payload) {
        Ok(value) => Ok(value),
        Err(_) => {
            let mut deserializer = serde_json::Deserializer::from_slice(payload);
            match serde_path_to_error::deserialize(&mut deserializer) {
                Ok(value) => Ok(value),
                Err(error) => Err(from_serde_path(error)),
            }
        }
    }
}

/// Where a payload is read from: a JSON tree (commands) or stored bytes (replay).
trait Payload {
    fn read<T: DeserializeOwned>(&self) -> Result<T, ValidationError>;
}

impl Payload for serde_json::Value {
    fn read<T: DeserializeOwned>(&self) -> Result<T, ValidationError> {
        parse_as(self)
    }
}

impl Payload for [u8] {
    fn read<T: DeserializeOwned>(&self) -> Result<T, ValidationError> {
        parse_slice_as(self)
    }
}

impl LedgerEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            LedgerEvent::Seminar(_) => EventKind::Seminar,
            LedgerEvent::Consultation(_) => EventKind::Consultation,
            LedgerEvent::SkillTraining(_) => EventKind::SkillTraining,
            LedgerEvent::SurveyWave(_) => EventKind::SurveyWave,
            LedgerEvent::SurveyResponse(_) => EventKind::SurveyResponse,
            LedgerEvent::SubsidyGrant(_) => EventKind::SubsidyGrant,
            LedgerEvent::CoworkingTally(_) => EventKind::CoworkingTally,
            LedgerEvent::ExchangeMeeting(_) => EventKind::ExchangeMeeting,
            LedgerEvent::WorkationParticipation(_) => EventKind::WorkationParticipation,
            LedgerEvent::InflowingFirm(_) => EventKind::InflowingFirm,
            LedgerEvent::Partnership(_) => EventKind::Partnership,
            LedgerEvent::Publication(_) => EventKind::Publication,
            LedgerEvent::CommitteeMeeting(_) => EventKind::CommitteeMeeting,
            LedgerEvent::Exhibition(_) => EventKind::Exhibition,
            LedgerEvent::MonitorTour(_) => EventKind::MonitorTour,
            LedgerEvent::OpeningFigure(_) => EventKind::OpeningFigure,
            LedgerEvent::DeclaredTotal(_) => EventKind::DeclaredTotal,
            LedgerEvent::Correction(_) => EventKind::Correction,
            LedgerEvent::Retraction(_) => EventKind::Retraction,
            LedgerEvent::PlanAdopted(_) => EventKind::PlanAdopted,
            LedgerEvent::PlanExtended(_) => EventKind::PlanExtended,
            LedgerEvent::KpiTargetRevised(_) => EventKind::KpiTargetRevised,
            LedgerEvent::KpiAdded(_) => EventKind::KpiAdded,
            LedgerEvent::KpiRetired(_) => EventKind::KpiRetired,
            LedgerEvent::PlanTransferred(_) => EventKind::PlanTransferred,
        }
    }

    /// Stable snake_case name, stored in the envelope.
    pub fn event_type(&self) -> &'static str {
        self.kind().name()
    }

    pub fn schema_version(&self) -> u32 {
        SCHEMA_VERSION
    }

    /// Parses and validates a payload. Every rule of the catalogue is checked here.
    pub fn parse(
        event_type: &str,
        payload: &serde_json::Value,
    ) -> Result<LedgerEvent, ValidationError> {
        Self::parse_from(event_type, payload)
    }

    /// [`LedgerEvent::parse`] straight from the stored bytes, without building a JSON tree:
    /// the path replay takes.
    pub fn parse_slice(event_type: &str, payload: &[u8]) -> Result<LedgerEvent, ValidationError> {
        Self::parse_from(event_type, payload)
    }

    /// The one per-kind dispatch of both parse paths.
    fn parse_from<P: Payload + ?Sized>(
        event_type: &str,
        payload: &P,
    ) -> Result<LedgerEvent, ValidationError> {
        let kind = Self::kind_named(event_type)?;
        let event = match kind {
            EventKind::Correction => return Self::correction_from_wire(payload.read()?),
            EventKind::Seminar => LedgerEvent::Seminar(payload.read()?),
            EventKind::Consultation => LedgerEvent::Consultation(payload.read()?),
            EventKind::SkillTraining => LedgerEvent::SkillTraining(payload.read()?),
            EventKind::SurveyWave => LedgerEvent::SurveyWave(payload.read()?),
            EventKind::SurveyResponse => LedgerEvent::SurveyResponse(payload.read()?),
            EventKind::SubsidyGrant => LedgerEvent::SubsidyGrant(payload.read()?),
            EventKind::CoworkingTally => LedgerEvent::CoworkingTally(payload.read()?),
            EventKind::ExchangeMeeting => LedgerEvent::ExchangeMeeting(payload.read()?),
            EventKind::WorkationParticipation => {
                LedgerEvent::WorkationParticipation(payload.read()?)
            }
            EventKind::InflowingFirm => LedgerEvent::InflowingFirm(payload.read()?),
            EventKind::Partnership => LedgerEvent::Partnership(payload.read()?),
            EventKind::Publication => LedgerEvent::Publication(payload.read()?),
            EventKind::CommitteeMeeting => LedgerEvent::CommitteeMeeting(payload.read()?),
            EventKind::Exhibition => LedgerEvent::Exhibition(payload.read()?),
            EventKind::MonitorTour => LedgerEvent::MonitorTour(payload.read()?),
            EventKind::OpeningFigure => LedgerEvent::OpeningFigure(payload.read()?),
            EventKind::DeclaredTotal => LedgerEvent::DeclaredTotal(payload.read()?),
            EventKind::Retraction => LedgerEvent::Retraction(payload.read()?),
            EventKind::PlanAdopted => {
                LedgerEvent::PlanAdopted(PlanAdopted::from_wire(payload.read()?)?)
            }
            EventKind::PlanExtended => LedgerEvent::PlanExtended(payload.read()?),
            EventKind::KpiTargetRevised => LedgerEvent::KpiTargetRevised(payload.read()?),
            EventKind::KpiAdded => LedgerEvent::KpiAdded(KpiAdded::from_wire(payload.read()?)?),
            EventKind::KpiRetired => LedgerEvent::KpiRetired(payload.read()?),
            EventKind::PlanTransferred => {
                LedgerEvent::PlanTransferred(PlanTransferred::from_wire(payload.read()?)?)
            }
        };
        event.check()?;
        Ok(event)
    }

    fn kind_named(event_type: &str) -> Result<EventKind, ValidationError> {
        EventKind::from_name(event_type).ok_or_else(|| {
            let known: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.name()).collect();
            ValidationError::new(
                "event_type",
                format!(
                    "`{event_type}` is not an event type; expected one of {}",
                    known.join(", ")
                ),
            )
        })
    }

    fn correction_from_wire(wire: CorrectionWire) -> Result<LedgerEvent, ValidationError> {
        let target_kind = EventKind::from_name(&wire.target_type).ok_or_else(|| {
            ValidationError::new(
                "target_type",
                format!("`{}` is not an event type", wire.target_type),
            )
        })?;
        if target_kind.is_lifecycle() {
            return Err(ValidationError::new(
                "target_type",
                "plan lifecycle events are not corrected; record a further lifecycle event",
            ));
        }
        if target_kind.is_amendment() {
            return Err(ValidationError::new(
                "target_type",
                "a correction replaces an activity or figure, not another correction or \
                 retraction; retract the amendment's target and record it anew instead",
            ));
        }
        let replacement = LedgerEvent::parse(target_kind.name(), &wire.replacement)
            .map_err(|error| error.nested_in("replacement"))?;
        let correction = LedgerEvent::Correction(Correction {
            target: wire.target,
            replacement: Box::new(replacement),
            reason: wire.reason,
            decided_on: wire.decided_on,
        });
        correction.check()?;
        Ok(correction)
    }

    /// Rules that involve more than one field, or the calendar.
    fn check(&self) -> Result<(), ValidationError> {
        match self {
            LedgerEvent::Seminar(seminar) => {
                in_valid_year("first_date", seminar.first_date)?;
                let unique = seminar.participants.unique.get();
                let attendances = seminar.participants.attendances.get();
                if unique > attendances {
                    return Err(ValidationError::new(
                        "participants.unique",
                        format!(
                            "must not exceed participants.attendances ({attendances}): every \
                             participant attended at least once"
                        ),
                    ));
                }
                let most = u64::from(unique) * u64::from(seminar.sessions.get());
                if u64::from(attendances) > most {
                    return Err(ValidationError::new(
                        "participants.attendances",
                        format!(
                            "must not exceed participants.unique x sessions ({most}): nobody \
                             attends a session twice"
                        ),
                    ));
                }
                Ok(())
            }
            LedgerEvent::Consultation(consultation) => check_period(&consultation.period),
            LedgerEvent::SkillTraining(training) => {
                date_in_year("first_date", training.first_date, training.fiscal_year)
            }
            LedgerEvent::SurveyWave(wave) => date_in_year("date", wave.date, wave.fiscal_year),
            LedgerEvent::SurveyResponse(response) => {
                date_in_year("date", response.date, response.fiscal_year)
            }
            LedgerEvent::SubsidyGrant(grant) => {
                date_in_year("date", grant.date, grant.fiscal_year)?;
                match (grant.beneficiary, grant.persons) {
                    (BeneficiaryKind::Household, Some(persons)) if persons.get() == 0 => Err(
                        ValidationError::new("persons", "must be at least 1 for a household"),
                    ),
                    _ => Ok(()),
                }
            }
            LedgerEvent::CoworkingTally(tally) => {
                check_period(&tally.period)?;
                match tally.work_use {
                    Some(work_use) if work_use > tally.users => Err(ValidationError::new(
                        "work_use",
                        format!("must not exceed users ({})", tally.users),
                    )),
                    _ => Ok(()),
                }
            }
            LedgerEvent::ExchangeMeeting(meeting) => {
                date_in_year("date", meeting.date, meeting.fiscal_year)?;
                match (meeting.participants, meeting.from_outside_city) {
                    (None, None) => Err(ValidationError::new(
                        "participants",
                        "is required unless from_outside_city is given",
                    )),
                    (Some(all), Some(outside)) if outside > all => Err(ValidationError::new(
                        "from_outside_city",
                        format!("must not exceed participants ({all})"),
                    )),
                    _ => Ok(()),
                }
            }
            LedgerEvent::WorkationParticipation(workation) => {
                date_in_year("date", workation.date, workation.fiscal_year)
            }
            LedgerEvent::InflowingFirm(firm) => date_in_year("date", firm.date, firm.fiscal_year),
            LedgerEvent::Partnership(partnership) => {
                date_in_year("date", partnership.date, partnership.fiscal_year)
            }
            LedgerEvent::Publication(publication) => {
                date_in_year("date", publication.date, publication.fiscal_year)
            }
            LedgerEvent::CommitteeMeeting(meeting) => {
                date_in_year("date", meeting.date, meeting.fiscal_year)
            }
            LedgerEvent::Exhibition(exhibition) => {
                date_in_year("date", exhibition.date, exhibition.fiscal_year)
            }
            LedgerEvent::MonitorTour(tour) => date_in_year("date", tour.date, tour.fiscal_year),
            LedgerEvent::OpeningFigure(figure) => {
                if figure.unit == Unit::Percent
                    && figure.value.get() > rust_decimal::Decimal::ONE_HUNDRED
                {
                    return Err(ValidationError::new(
                        "value",
                        "a percentage must be at most 100",
                    ));
                }
                if figure.unit != Unit::Percent && !figure.value.get().fract().is_zero() {
                    return Err(ValidationError::new(
                        "value",
                        format!("a count of {} must be a whole number", figure.unit),
                    ));
                }
                Ok(())
            }
            LedgerEvent::DeclaredTotal(total) => match EventKind::from_name(total.of.as_str()) {
                Some(EventKind::Seminar | EventKind::SkillTraining) => Ok(()),
                _ => Err(ValidationError::new(
                    "of",
                    "must be `seminar` or `skill_training`: the kinds that have sessions",
                )),
            },
            LedgerEvent::Correction(correction) => {
                in_valid_year("decided_on", correction.decided_on).map(|_| ())
            }
            LedgerEvent::Retraction(retraction) => {
                in_valid_year("decided_on", retraction.decided_on).map(|_| ())
            }
            LedgerEvent::PlanAdopted(adopted) => {
                in_valid_year("adopted_on", adopted.adopted_on).map(|_| ())
            }
            LedgerEvent::PlanExtended(extended) => {
                in_valid_year("decided_on", extended.decided_on).map(|_| ())
            }
            LedgerEvent::KpiTargetRevised(revised) => {
                in_valid_year("decided_on", revised.decided_on)?;
                crate::plan::Target::checked(revised.target.value.get(), revised.target.kind)
                    .map(|_| ())
                    .map_err(|reason| ValidationError::new("target.value", reason))
            }
            LedgerEvent::KpiAdded(added) => {
                in_valid_year("decided_on", added.decided_on).map(|_| ())
            }
            LedgerEvent::KpiRetired(retired) => {
                in_valid_year("decided_on", retired.decided_on).map(|_| ())
            }
            LedgerEvent::PlanTransferred(transfer) => {
                in_valid_year("decided_on", transfer.decided_on).map(|_| ())
            }
        }
    }

    /// The payload JSON; `parse(event_type(), to_payload())` gives the event back.
    pub fn to_payload(&self) -> serde_json::Value {
        let value = match self {
            LedgerEvent::Seminar(payload) => serde_json::to_value(payload),
            LedgerEvent::Consultation(payload) => serde_json::to_value(payload),
            LedgerEvent::SkillTraining(payload) => serde_json::to_value(payload),
            LedgerEvent::SurveyWave(payload) => serde_json::to_value(payload),
            LedgerEvent::SurveyResponse(payload) => serde_json::to_value(payload),
            LedgerEvent::SubsidyGrant(payload) => serde_json::to_value(payload),
            LedgerEvent::CoworkingTally(payload) => serde_json::to_value(payload),
            LedgerEvent::ExchangeMeeting(payload) => serde_json::to_value(payload),
            LedgerEvent::WorkationParticipation(payload) => serde_json::to_value(payload),
            LedgerEvent::InflowingFirm(payload) => serde_json::to_value(payload),
            LedgerEvent::Partnership(payload) => serde_json::to_value(payload),
            LedgerEvent::Publication(payload) => serde_json::to_value(payload),
            LedgerEvent::CommitteeMeeting(payload) => serde_json::to_value(payload),
            LedgerEvent::Exhibition(payload) => serde_json::to_value(payload),
            LedgerEvent::MonitorTour(payload) => serde_json::to_value(payload),
            LedgerEvent::OpeningFigure(payload) => serde_json::to_value(payload),
            LedgerEvent::DeclaredTotal(payload) => serde_json::to_value(payload),
            LedgerEvent::Retraction(payload) => serde_json::to_value(payload),
            LedgerEvent::PlanAdopted(payload) => serde_json::to_value(payload),
            LedgerEvent::PlanExtended(payload) => serde_json::to_value(payload),
            LedgerEvent::KpiTargetRevised(payload) => serde_json::to_value(payload),
            LedgerEvent::KpiAdded(payload) => serde_json::to_value(payload),
            LedgerEvent::KpiRetired(payload) => serde_json::to_value(payload),
            LedgerEvent::PlanTransferred(payload) => serde_json::to_value(payload),
            LedgerEvent::Correction(correction) => Ok(serde_json::json!({
                "target": correction.target,
                "target_type": correction.replacement.event_type(),
                "replacement": correction.replacement.to_payload(),
                "reason": correction.reason,
                "decided_on": correction.decided_on.format("%Y-%m-%d").to_string(),
            })),
        };
        value.expect("payload types serialise to JSON without failure")
    }

    /// The day the activity happened (see the module docs for kinds without a day).
    pub fn occurred_on(&self) -> NaiveDate {
        fn dated(date: Option<NaiveDate>, year: FiscalYear) -> NaiveDate {
            date.unwrap_or_else(|| year.last_day())
        }
        match self {
            LedgerEvent::Seminar(e) => e.first_date,
            LedgerEvent::Consultation(e) => e.period.to,
            LedgerEvent::SkillTraining(e) => dated(e.first_date, e.fiscal_year),
            LedgerEvent::SurveyWave(e) => dated(e.date, e.fiscal_year),
            LedgerEvent::SurveyResponse(e) => dated(e.date, e.fiscal_year),
            LedgerEvent::SubsidyGrant(e) => dated(e.date, e.fiscal_year),
            LedgerEvent::CoworkingTally(e) => e.period.to,
            LedgerEvent::ExchangeMeeting(e) => dated(e.date, e.fiscal_year),
            LedgerEvent::WorkationParticipation(e) => dated(e.date, e.fiscal_year),
            LedgerEvent::InflowingFirm(e) => dated(e.date, e.fiscal_year),
            LedgerEvent::Partnership(e) => dated(e.date, e.fiscal_year),
            LedgerEvent::Publication(e) => dated(e.date, e.fiscal_year),
            LedgerEvent::CommitteeMeeting(e) => dated(e.date, e.fiscal_year),
            LedgerEvent::Exhibition(e) => dated(e.date, e.fiscal_year),
            LedgerEvent::MonitorTour(e) => dated(e.date, e.fiscal_year),
            LedgerEvent::OpeningFigure(e) => e.fiscal_year.last_day(),
            LedgerEvent::DeclaredTotal(e) => e.fiscal_year.last_day(),
            LedgerEvent::Correction(e) => e.decided_on,
            LedgerEvent::Retraction(e) => e.decided_on,
            LedgerEvent::PlanAdopted(e) => e.adopted_on,
            LedgerEvent::PlanExtended(e) => e.decided_on,
            LedgerEvent::KpiTargetRevised(e) => e.decided_on,
            LedgerEvent::KpiAdded(e) => e.decided_on,
            LedgerEvent::KpiRetired(e) => e.decided_on,
            LedgerEvent::PlanTransferred(e) => e.decided_on,
        }
    }

    /// The fiscal year whose table column the event counts in. Validation guarantees it exists.
    pub fn fiscal_year(&self) -> FiscalYear {
        match self {
            LedgerEvent::SkillTraining(e) => e.fiscal_year,
            LedgerEvent::SurveyWave(e) => e.fiscal_year,
            LedgerEvent::SurveyResponse(e) => e.fiscal_year,
            LedgerEvent::SubsidyGrant(e) => e.fiscal_year,
            LedgerEvent::ExchangeMeeting(e) => e.fiscal_year,
            LedgerEvent::WorkationParticipation(e) => e.fiscal_year,
            LedgerEvent::InflowingFirm(e) => e.fiscal_year,
            LedgerEvent::Partnership(e) => e.fiscal_year,
            LedgerEvent::Publication(e) => e.fiscal_year,
            LedgerEvent::CommitteeMeeting(e) => e.fiscal_year,
            LedgerEvent::Exhibition(e) => e.fiscal_year,
            LedgerEvent::MonitorTour(e) => e.fiscal_year,
            LedgerEvent::OpeningFigure(e) => e.fiscal_year,
            LedgerEvent::DeclaredTotal(e) => e.fiscal_year,
            other => FiscalYear::from_date(other.occurred_on())
                .expect("validated events have dates inside a representable fiscal year"),
        }
    }

    /// The store stream; characters `[A-Za-z0-9._:/-]` only, at most 200 bytes.
    pub fn stream_id(&self) -> String {
        match self {
            LedgerEvent::SurveyWave(e) => format!("survey-wave/{}", e.wave_id),
            LedgerEvent::SurveyResponse(e) => {
                format!("survey-response/{}/{}", e.wave_id, e.firm_id)
            }
            LedgerEvent::OpeningFigure(e) => format!(
                "opening-figure/{}/{}",
                e.measure,
                e.fiscal_year.start_year()
            ),
            LedgerEvent::DeclaredTotal(e) => {
                format!("declared-total/{}/{}", e.of, e.fiscal_year.start_year())
            }
            LedgerEvent::Correction(e) => format!("amendment/{}", e.target),
            LedgerEvent::Retraction(e) => format!("amendment/{}", e.target),
            // Adoption and transfer happen once per plan; the other changes share a stream.
            LedgerEvent::PlanAdopted(e) => format!("plan-adoption/{}", e.plan.id),
            LedgerEvent::PlanTransferred(e) => format!("plan-transfer/{}", e.plan_id),
            other if other.kind().is_lifecycle() => format!(
                "plan/{}",
                crate::lifecycle::plan_of(other).expect("lifecycle events name a plan")
            ),
            other => format!(
                "{}/{}",
                other.event_type(),
                other.fiscal_year().start_year()
            ),
        }
    }

    /// A wave is defined once, a firm answers a wave once, and a published yearly figure is
    /// entered once; the store enforces these atomically through new streams.
    pub fn stream_rule(&self) -> StreamRule {
        match self {
            LedgerEvent::SurveyWave(_)
            | LedgerEvent::SurveyResponse(_)
            | LedgerEvent::OpeningFigure(_)
            | LedgerEvent::PlanAdopted(_)
            | LedgerEvent::PlanTransferred(_) => StreamRule::MustBeNew,
            _ => StreamRule::Any,
        }
    }

    /// The text a person would search for.
    pub fn title(&self) -> Option<&str> {
        match self {
            LedgerEvent::Seminar(e) => Some(e.title.as_str()),
            LedgerEvent::Consultation(e) => Some(e.provider.as_str()),
            LedgerEvent::SkillTraining(e) => Some(e.title.as_str()),
            LedgerEvent::SurveyWave(e) => Some(e.title.as_str()),
            LedgerEvent::SurveyResponse(_) => None,
            LedgerEvent::SubsidyGrant(e) => Some(e.programme.as_str()),
            LedgerEvent::CoworkingTally(e) => Some(e.space.as_str()),
            LedgerEvent::ExchangeMeeting(e) => Some(e.title.as_str()),
            LedgerEvent::WorkationParticipation(e) => Some(e.programme.as_str()),
            LedgerEvent::InflowingFirm(e) => Some(e.firm.as_str()),
            LedgerEvent::Partnership(e) => Some(e.organisation.as_str()),
            LedgerEvent::Publication(e) => e.title.as_ref().map(Text::as_str),
            LedgerEvent::CommitteeMeeting(e) => e
                .title
                .as_ref()
                .map(Text::as_str)
                .or(Some(e.committee.as_str())),
            LedgerEvent::Exhibition(e) => Some(e.title.as_str()),
            LedgerEvent::MonitorTour(e) => Some(e.title.as_str()),
            LedgerEvent::OpeningFigure(e) => Some(e.source.as_str()),
            LedgerEvent::DeclaredTotal(e) => Some(e.source.as_str()),
            LedgerEvent::Correction(e) => Some(e.reason.as_str()),
            LedgerEvent::Retraction(e) => Some(e.reason.as_str()),
            LedgerEvent::PlanAdopted(e) => Some(e.plan.name.ja.as_str()),
            LedgerEvent::PlanExtended(e) => Some(e.reason.as_str()),
            LedgerEvent::KpiTargetRevised(e) => Some(e.reason.as_str()),
            LedgerEvent::KpiAdded(e) => Some(e.kpi.name.ja.as_str()),
            LedgerEvent::KpiRetired(e) => Some(e.reason.as_str()),
            LedgerEvent::PlanTransferred(e) => Some(e.successor.as_str()),
        }
    }

    /// The activity's status where it has one; activities without one have happened.
    pub fn status(&self) -> Option<ActivityStatus> {
        match self {
            LedgerEvent::Seminar(e) => Some(e.status),
            LedgerEvent::SkillTraining(e) => Some(e.status),
            _ => None,
        }
    }

    /// The activity's own date and the field that states it: the (first) session, the `date`
    /// given, or the last day of a tallied period. `None` for kinds placed only in a fiscal
    /// year, for amendments and for lifecycle events.
    pub fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        let dated = |date: Option<NaiveDate>| date.map(|date| ("date", date));
        match self {
            LedgerEvent::Seminar(e) => Some(("first_date", e.first_date)),
            LedgerEvent::Consultation(e) => Some(("period.to", e.period.to)),
            LedgerEvent::CoworkingTally(e) => Some(("period.to", e.period.to)),
            LedgerEvent::SkillTraining(e) => e.first_date.map(|date| ("first_date", date)),
            LedgerEvent::SurveyWave(e) => dated(e.date),
            LedgerEvent::SurveyResponse(e) => dated(e.date),
            LedgerEvent::SubsidyGrant(e) => dated(e.date),
            LedgerEvent::ExchangeMeeting(e) => dated(e.date),
            LedgerEvent::WorkationParticipation(e) => dated(e.date),
            LedgerEvent::InflowingFirm(e) => dated(e.date),
            LedgerEvent::Partnership(e) => dated(e.date),
            LedgerEvent::Publication(e) => dated(e.date),
            LedgerEvent::CommitteeMeeting(e) => dated(e.date),
            LedgerEvent::Exhibition(e) => dated(e.date),
            LedgerEvent::MonitorTour(e) => dated(e.date),
            _ => None,
        }
    }

    /// The field that places an activity in its fiscal year: the date of a seminar, the
    /// period of a tally, else `fiscal_year`.
    pub fn year_field(&self) -> &'static str {
        match self {
            LedgerEvent::Seminar(_) => "first_date",
            LedgerEvent::Consultation(_) | LedgerEvent::CoworkingTally(_) => "period.from",
            _ => "fiscal_year",
        }
    }

    /// Refuses a held activity dated after `today` (the caller's date in Japan), or placed in
    /// a fiscal year that has not begun: what has not happened cannot be counted yet. A
    /// scheduled activity may lie ahead. A correction is judged by its replacement
    /// (`replacement.<field>`); lifecycle events and the decision dates of amendments are
    /// not judged here.
    pub fn check_not_future(&self, today: NaiveDate) -> Result<(), ValidationError> {
        if let LedgerEvent::Correction(correction) = self {
            return correction
                .replacement
                .check_not_future(today)
                .map_err(|error| error.nested_in("replacement"));
        }
        let kind = self.kind();
        if kind.is_lifecycle()
            || kind.is_amendment()
            || self.status() == Some(ActivityStatus::Scheduled)
        {
            return Ok(());
        }
        let remedy = if self.status().is_some() {
            "a held activity cannot lie in the future: record it as scheduled, or once it has \
             taken place"
        } else {
            "it cannot have happened yet: record it once it has"
        };
        if let Some((field, date)) = self.stated_date() {
            if date > today {
                return Err(ValidationError::new(
                    field,
                    format!("{date} is after today ({today} in Japan); {remedy}"),
                ));
            }
        }
        let year = self.fiscal_year();
        if year.first_day() > today {
            return Err(ValidationError::new(
                self.year_field(),
                format!(
                    "{} begins on {}, after today ({today} in Japan); {remedy}",
                    year.label(),
                    year.first_day()
                ),
            ));
        }
        Ok(())
    }

    /// Every kind with its fields.
    pub fn catalogue() -> &'static [EventKindInfo] {
        CATALOGUE
    }

    /// Catalogue entry of one kind.
    pub fn kind_info(kind: EventKind) -> &'static EventKindInfo {
        &CATALOGUE[kind.index()]
    }
}

fn in_valid_year(field: &str, date: NaiveDate) -> Result<FiscalYear, ValidationError> {
    FiscalYear::from_date(date).map_err(|error| ValidationError::new(field, error.to_string()))
}

fn date_in_year(
    field: &str,
    date: Option<NaiveDate>,
    year: FiscalYear,
) -> Result<(), ValidationError> {
    match date {
        Some(date) if !year.contains(date) => Err(ValidationError::new(
            field,
            format!(
                "{date} is not inside fiscal_year {} ({} to {})",
                year.label(),
                year.first_day(),
                year.last_day()
            ),
        )),
        _ => Ok(()),
    }
}

fn check_period(period: &Period) -> Result<(), ValidationError> {
    let from_year = in_valid_year("period.from", period.from)?;
    in_valid_year("period.to", period.to)?;
    if period.to < period.from {
        return Err(ValidationError::new(
            "period.to",
            format!("must not be before period.from ({})", period.from),
        ));
    }
    if !from_year.contains(period.to) {
        return Err(ValidationError::new(
            "period.to",
            format!(
                "must be in the same fiscal year as period.from ({} ends {})",
                from_year.label(),
                from_year.last_day()
            ),
        ));
    }
    Ok(())
}

macro_rules! field {
    ($name:literal, $ty:ident, $required:literal, $doc:literal) => {
        FieldInfo {
            name: $name,
            ty: FieldType::$ty,
            required: $required,
            doc: $doc,
            get: None,
        }
    };
    ($name:literal, $ty:ident, $required:literal, $doc:literal, $variant:ident, |$e:ident| $read:expr) => {
        FieldInfo {
            name: $name,
            ty: FieldType::$ty,
            required: $required,
            doc: $doc,
            get: Some(|event| match event {
                LedgerEvent::$variant($e) => $read,
                _ => None,
            }),
        }
    };
}

fn count(value: Count) -> Option<FieldValue<'static>> {
    Some(FieldValue::Int(u64::from(value.get())))
}

fn positive(value: PositiveCount) -> Option<FieldValue<'static>> {
    Some(FieldValue::Int(u64::from(value.get())))
}

fn text(value: &Text) -> Option<FieldValue<'_>> {
    Some(FieldValue::Str(value.as_str()))
}

fn code(value: &Code) -> Option<FieldValue<'_>> {
    Some(FieldValue::Str(value.as_str()))
}

static CATALOGUE: &[EventKindInfo] = &[
    EventKindInfo {
        name: "seminar",
        kind: EventKind::Seminar,
        schema_version: SCHEMA_VERSION,
        summary: "A seminar, or a multi-session course recorded once with unique participants and attendances.",
        fields: &[
            field!("title", Text, true, "Title as published.", Seminar, |e| text(&e.title)),
            field!("organiser", Text, true, "Who held it.", Seminar, |e| text(&e.organiser)),
            field!("first_date", Date, true, "Date of the (first) session, YYYY-MM-DD."),
            field!("sessions", PositiveCount, true, "Number of sessions, at least 1.", Seminar, |e| positive(e.sessions)),
            field!("participants.unique", Count, true, "Different people who attended; at most attendances.", Seminar, |e| count(e.participants.unique)),
            field!("participants.attendances", Count, true, "Person-sessions; at most unique x sessions.", Seminar, |e| count(e.participants.attendances)),
            field!("capacity", Count, false, "Places per session; attendance may exceed it.", Seminar, |e| e.capacity.and_then(count)),
            field!("status", Status, true, "held or scheduled.", Seminar, |e| Some(FieldValue::Str(e.status.as_str()))),
            field!("note", Text, false, "Free remark."),
        ],
    },
    EventKindInfo {
        name: "consultation",
        kind: EventKind::Consultation,
        schema_version: SCHEMA_VERSION,
        summary: "Individual consultations given by one provider over a period.",
        fields: &[
            field!("provider", Text, true, "Who gave the consultations.", Consultation, |e| text(&e.provider)),
            field!("persons", Count, true, "Persons consulted.", Consultation, |e| count(e.persons)),
            field!("period.from", Date, true, "First day covered."),
            field!("period.to", Date, true, "Last day covered, same fiscal year."),
            field!("note", Text, false, "Free remark."),
        ],
    },
    EventKindInfo {
        name: "skill_training",
        kind: EventKind::SkillTraining,
        schema_version: SCHEMA_VERSION,
        summary: "A skill-training course.",
        fields: &[
            field!("department", Text, true, "Department or institution running it.", SkillTraining, |e| text(&e.department)),
            field!("title", Text, true, "Course title.", SkillTraining, |e| text(&e.title)),
            field!("fiscal_year", FiscalYear, true, "Fiscal year it counts in."),
            field!("first_date", Date, false, "First session, inside fiscal_year."),
            field!("sessions", PositiveCount, true, "Number of sessions.", SkillTraining, |e| positive(e.sessions)),
            field!("participants", Count, true, "Participants.", SkillTraining, |e| count(e.participants)),
            field!("status", Status, true, "held or scheduled.", SkillTraining, |e| Some(FieldValue::Str(e.status.as_str()))),
            field!("note", Text, false, "Free remark."),
        ],
    },
    EventKindInfo {
        name: "survey_wave",
        kind: EventKind::SurveyWave,
        schema_version: SCHEMA_VERSION,
        summary: "One round of the company survey and how many firms were asked.",
        fields: &[
            field!("wave_id", Code, true, "Identifier of the wave.", SurveyWave, |e| code(&e.wave_id)),
            field!("title", Text, true, "Title of the survey."),
            field!("fiscal_year", FiscalYear, true, "Fiscal year of the wave."),
            field!("date", Date, false, "Date sent, inside fiscal_year."),
            field!("firms_asked", PositiveCount, true, "Firms asked.", SurveyWave, |e| positive(e.firms_asked)),
        ],
    },
    EventKindInfo {
        name: "survey_response",
        kind: EventKind::SurveyResponse,
        schema_version: SCHEMA_VERSION,
        summary: "One firm's answer to a survey wave; a firm answers a wave once.",
        fields: &[
            field!("wave_id", Code, true, "The wave answered.", SurveyResponse, |e| code(&e.wave_id)),
            field!("firm_id", Code, true, "The answering firm.", SurveyResponse, |e| code(&e.firm_id)),
            field!("fiscal_year", FiscalYear, true, "Fiscal year of the wave."),
            field!("date", Date, false, "Date answered, inside fiscal_year."),
            field!("practises_telework", Bool, true, "Does the firm practise telework?", SurveyResponse, |e| Some(FieldValue::Bool(e.practises_telework))),
            field!("job_openings", Count, true, "Short-hour or telework job openings.", SurveyResponse, |e| count(e.job_openings)),
        ],
    },
    EventKindInfo {
        name: "subsidy_grant",
        kind: EventKind::SubsidyGrant,
        schema_version: SCHEMA_VERSION,
        summary: "One grant of a subsidy programme to one household or firm.",
        fields: &[
            field!("programme", Text, true, "Subsidy programme.", SubsidyGrant, |e| text(&e.programme)),
            field!("beneficiary", Beneficiary, true, "household or firm.", SubsidyGrant, |e| Some(FieldValue::Str(e.beneficiary.as_str()))),
            field!("beneficiary_name", Text, false, "Name, if public."),
            field!("persons", Count, false, "Persons in the household, at least 1 when given.", SubsidyGrant, |e| e.persons.and_then(count)),
            field!("amount_yen", Integer, false, "Amount granted in yen.", SubsidyGrant, |e| e.amount_yen.map(FieldValue::Int)),
            field!("fiscal_year", FiscalYear, true, "Fiscal year of the grant."),
            field!("date", Date, false, "Date granted, inside fiscal_year."),
        ],
    },
    EventKindInfo {
        name: "coworking_tally",
        kind: EventKind::CoworkingTally,
        schema_version: SCHEMA_VERSION,
        summary: "Users of one coworking space over a period.",
        fields: &[
            field!("space", Text, true, "The space.", CoworkingTally, |e| text(&e.space)),
            field!("period.from", Date, true, "First day covered."),
            field!("period.to", Date, true, "Last day covered, same fiscal year."),
            field!("users", Count, true, "Users (visits).", CoworkingTally, |e| count(e.users)),
            field!("work_use", Count, false, "Of users, those who came to work.", CoworkingTally, |e| e.work_use.and_then(count)),
        ],
    },
    EventKindInfo {
        name: "exchange_meeting",
        kind: EventKind::ExchangeMeeting,
        schema_version: SCHEMA_VERSION,
        summary: "An exchange, community or matching meeting.",
        fields: &[
            field!("kind", Code, true, "Kind of meeting, e.g. tokyo_exchange, job_fair, career_talk.", ExchangeMeeting, |e| code(&e.kind)),
            field!("title", Text, true, "Title."),
            field!("fiscal_year", FiscalYear, true, "Fiscal year."),
            field!("date", Date, false, "Date, inside fiscal_year."),
            field!("participants", Count, false, "All participants; required unless from_outside_city is given.", ExchangeMeeting, |e| e.participants.and_then(count)),
            field!("from_outside_city", Count, false, "Participants from outside the city; at most participants.", ExchangeMeeting, |e| e.from_outside_city.and_then(count)),
        ],
    },
    EventKindInfo {
        name: "workation_participation",
        kind: EventKind::WorkationParticipation,
        schema_version: SCHEMA_VERSION,
        summary: "Participants of a workation programme.",
        fields: &[
            field!("programme", Text, true, "Programme.", WorkationParticipation, |e| text(&e.programme)),
            field!("fiscal_year", FiscalYear, true, "Fiscal year."),
            field!("date", Date, false, "Date, inside fiscal_year."),
            field!("participants", Count, true, "Participants.", WorkationParticipation, |e| count(e.participants)),
        ],
    },
    EventKindInfo {
        name: "inflowing_firm",
        kind: EventKind::InflowingFirm,
        schema_version: SCHEMA_VERSION,
        summary: "A firm that moved into the city.",
        fields: &[
            field!("firm", Text, true, "The firm.", InflowingFirm, |e| text(&e.firm)),
            field!("site", Text, true, "Where it settled.", InflowingFirm, |e| text(&e.site)),
            field!("fiscal_year", FiscalYear, true, "Fiscal year."),
            field!("date", Date, false, "Date, inside fiscal_year."),
            field!("note", Text, false, "Free remark."),
        ],
    },
    EventKindInfo {
        name: "partnership",
        kind: EventKind::Partnership,
        schema_version: SCHEMA_VERSION,
        summary: "A partnership project or agreement with one organisation.",
        fields: &[
            field!("organisation", Text, true, "The partner organisation.", Partnership, |e| text(&e.organisation)),
            field!("fiscal_year", FiscalYear, true, "Fiscal year."),
            field!("date", Date, false, "Date, inside fiscal_year."),
            field!("description", Text, false, "What the partnership is."),
        ],
    },
    EventKindInfo {
        name: "publication",
        kind: EventKind::Publication,
        schema_version: SCHEMA_VERSION,
        summary: "Publications on one channel (count > 1 records a tally).",
        fields: &[
            field!("channel", Code, true, "Channel, e.g. website, facebook.", Publication, |e| code(&e.channel)),
            field!("title", Text, false, "Title."),
            field!("fiscal_year", FiscalYear, true, "Fiscal year."),
            field!("date", Date, false, "Date, inside fiscal_year."),
            field!("count", PositiveCount, true, "Number of publications this record stands for.", Publication, |e| positive(e.count)),
        ],
    },
    EventKindInfo {
        name: "committee_meeting",
        kind: EventKind::CommitteeMeeting,
        schema_version: SCHEMA_VERSION,
        summary: "A meeting of a committee.",
        fields: &[
            field!("committee", Text, true, "The committee.", CommitteeMeeting, |e| text(&e.committee)),
            field!("title", Text, false, "Title."),
            field!("fiscal_year", FiscalYear, true, "Fiscal year."),
            field!("date", Date, false, "Date, inside fiscal_year."),
        ],
    },
    EventKindInfo {
        name: "exhibition",
        kind: EventKind::Exhibition,
        schema_version: SCHEMA_VERSION,
        summary: "An exhibition the city took part in.",
        fields: &[
            field!("title", Text, true, "Exhibition.", Exhibition, |e| text(&e.title)),
            field!("venue", Text, false, "Where."),
            field!("fiscal_year", FiscalYear, true, "Fiscal year."),
            field!("date", Date, false, "Date, inside fiscal_year."),
        ],
    },
    EventKindInfo {
        name: "monitor_tour",
        kind: EventKind::MonitorTour,
        schema_version: SCHEMA_VERSION,
        summary: "A monitor tour for firms from the capital region.",
        fields: &[
            field!("title", Text, true, "Title."),
            field!("fiscal_year", FiscalYear, true, "Fiscal year."),
            field!("date", Date, false, "Date, inside fiscal_year."),
            field!("firms", Count, true, "Participating firms.", MonitorTour, |e| count(e.firms)),
        ],
    },
    EventKindInfo {
        name: "opening_figure",
        kind: EventKind::OpeningFigure,
        schema_version: SCHEMA_VERSION,
        summary: "A yearly total from a published table, for years without individual records.",
        fields: &[
            field!("measure", Code, true, "What was measured; plans select figures by it.", OpeningFigure, |e| code(&e.measure)),
            field!("fiscal_year", FiscalYear, true, "Fiscal year of the figure."),
            field!("value", Decimal, true, "The figure, exact; a string such as \"29.0\" or an integer.", OpeningFigure, |e| Some(FieldValue::Decimal(e.value.get()))),
            field!("unit", Unit, true, "persons, firms, households, organisations, times or percent.", OpeningFigure, |e| Some(FieldValue::Str(e.unit.as_str()))),
            field!("source", Text, true, "Document and table the figure comes from."),
        ],
    },
    EventKindInfo {
        name: "declared_total",
        kind: EventKind::DeclaredTotal,
        schema_version: SCHEMA_VERSION,
        summary: "A total a document claims, compared with the records by the audit.",
        fields: &[
            field!("of", Code, true, "Event type counted: seminar or skill_training.", DeclaredTotal, |e| code(&e.of)),
            field!("organiser", Text, false, "Only activities of this organiser or department."),
            field!("fiscal_year", FiscalYear, true, "Fiscal year."),
            field!("count", Count, true, "The claimed count.", DeclaredTotal, |e| count(e.count)),
            field!("source", Text, true, "Where the claim is made."),
        ],
    },
    EventKindInfo {
        name: "correction",
        kind: EventKind::Correction,
        schema_version: SCHEMA_VERSION,
        summary: "Replaces an earlier event's contribution with a full replacement payload of the same type.",
        fields: &[
            field!("target", Uuid, true, "Id of the corrected event."),
            field!("target_type", EventType, true, "Event type of the target and the replacement."),
            field!("replacement", Payload, true, "Complete payload of target_type."),
            field!("reason", Text, true, "Why."),
            field!("decided_on", Date, true, "When the correction was decided."),
        ],
    },
    EventKindInfo {
        name: "retraction",
        kind: EventKind::Retraction,
        schema_version: SCHEMA_VERSION,
        summary: "Withdraws an earlier event's contribution.",
        fields: &[
            field!("target", Uuid, true, "Id of the retracted event."),
            field!("reason", Text, true, "Why."),
            field!("decided_on", Date, true, "When the retraction was decided."),
        ],
    },
    EventKindInfo {
        name: "plan_adopted",
        kind: EventKind::PlanAdopted,
        schema_version: SCHEMA_VERSION,
        summary: "Adopts a plan with its whole definition (plan TOML); once per plan.",
        fields: &[
            field!("definition", Text, true, "The plan definition as TOML (format of config/plans/*.toml)."),
            field!("adopted_on", Date, true, "When the plan was adopted."),
        ],
    },
    EventKindInfo {
        name: "plan_extended",
        kind: EventKind::PlanExtended,
        schema_version: SCHEMA_VERSION,
        summary: "Moves a plan's last fiscal year later.",
        fields: &[
            field!("plan_id", Code, true, "The plan extended."),
            field!("last", FiscalYear, true, "The new last fiscal year, after the current one."),
            field!("decided_on", Date, true, "When the extension was decided."),
            field!("reason", Text, true, "Why."),
        ],
    },
    EventKindInfo {
        name: "kpi_target_revised",
        kind: EventKind::KpiTargetRevised,
        schema_version: SCHEMA_VERSION,
        summary: "Replaces a KPI's target.",
        fields: &[
            field!("plan_id", Code, true, "The plan of the KPI."),
            field!("kpi", Code, true, "The KPI's id in its plan."),
            field!("series", Code, false, "main (default) or b."),
            field!("target", Payload, true, "The new target: { value: \"1500\", kind: cumulative|annual|annual_minimum|rate }."),
            field!("decided_on", Date, true, "When the revision was decided."),
            field!("reason", Text, true, "Why."),
        ],
    },
    EventKindInfo {
        name: "kpi_added",
        kind: EventKind::KpiAdded,
        schema_version: SCHEMA_VERSION,
        summary: "Adds a KPI to a plan in force; the definition is the body of a [[kpis]] table.",
        fields: &[
            field!("plan_id", Code, true, "The plan the KPI joins."),
            field!("definition", Text, true, "The KPI as TOML (the keys of a [[kpis]] entry)."),
            field!("decided_on", Date, true, "When the addition was decided."),
            field!("reason", Text, false, "Why."),
        ],
    },
    EventKindInfo {
        name: "kpi_retired",
        kind: EventKind::KpiRetired,
        schema_version: SCHEMA_VERSION,
        summary: "Retires a KPI: it counts up to last_year and shows no figure after it.",
        fields: &[
            field!("plan_id", Code, true, "The plan of the KPI."),
            field!("kpi", Code, true, "The KPI's id in its plan."),
            field!("series", Code, false, "main (default) or b."),
            field!("last_year", FiscalYear, true, "The last fiscal year the KPI counts."),
            field!("decided_on", Date, true, "When the retirement was decided."),
            field!("reason", Text, true, "Why."),
        ],
    },
    EventKindInfo {
        name: "plan_transferred",
        kind: EventKind::PlanTransferred,
        schema_version: SCHEMA_VERSION,
        summary: "Hands a plan over to its successor with a KPI mapping; once per plan.",
        fields: &[
            field!("plan_id", Code, true, "The plan handed over (predecessor)."),
            field!("successor", Code, true, "The successor plan, already adopted or configured."),
            field!("effective_from", FiscalYear, true, "First fiscal year under the successor."),
            field!("decided_on", Date, true, "When the transfer was decided."),
            field!("mapping", Payload, true, "[{ successor_kpi, series?, from_kpis: [{kpi, series?}], from_events: [source], history: counts|ignored }]."),
        ],
    },
];
