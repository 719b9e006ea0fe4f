//! The event catalogue: every kind of fact the ledger records, with its validation.
//!
//! [`LedgerEvent::parse`] is THE boundary: a payload that gets past it satisfies every rule
//! below, so nothing downstream re-checks. Payloads are JSON objects whose fields are listed
//! by [`LedgerEvent::catalogue`]; unknown fields are refused (a typo must not silently drop
//! a figure).
//!
//! Where things are: the list of kinds ([`crate::kind`]) generates [`EventKind`] there and
//! everything else that lists kinds here (`kinds.rs`). Each payload type sits with its rules
//! and its catalogue entry (its `EventPayload` impl, `payload.rs`) in a file of its family:
//! [`courses`], [`tallies`], [`surveys`], [`activities`], [`figures`], [`amendments`], and
//! [`crate::lifecycle`].
//! `parse.rs` holds the two parse paths, `rules.rs` the rules shared by kinds, `catalogue.rs`
//! the catalogue's vocabulary. ARCHITECTURE.md has the recipe for adding a kind.
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

use chrono::NaiveDate;
use serde::Serialize;

use crate::calendar::FiscalYear;
use crate::error::ValidationError;
use crate::lifecycle::{
    KpiAdded, KpiAddedWire, KpiRetired, KpiTargetRevised, PlanAdopted, PlanAdoptedWire,
    PlanExtended, PlanTransferred, PlanTransferredWire,
};
use crate::values::{ActivityStatus, Code};

#[macro_use]
mod catalogue;
#[macro_use]
mod kinds;
pub mod activities;
pub mod amendments;
pub mod courses;
pub mod figures;
mod form;
mod parse;
pub(crate) mod payload;
pub(crate) mod rules;
pub(crate) mod sources;
pub mod surveys;
pub mod tallies;

pub use crate::kind::{EventKind, Family};
pub use activities::{
    BeneficiaryKind, CommitteeMeeting, ExchangeMeeting, Exhibition, InflowingFirm, MonitorTour,
    Partnership, Publication, SubsidyGrant, WorkationParticipation,
};
pub use amendments::{Correction, Retraction};
pub use catalogue::{EventKindInfo, FieldGetter, FieldInfo, FieldType, FieldValue, Label};
pub use courses::{Participants, Seminar, SkillTraining};
pub use figures::{DeclaredTotal, OpeningFigure};
pub use form::Choice;
pub use rules::StreamRule;
pub use surveys::{SurveyResponse, SurveyWave};
pub use tallies::{Consultation, CoworkingTally, Period};

use amendments::CorrectionWire;
use catalogue::SCHEMA_VERSION;
use parse::Source;
use payload::{EventPayload, OfKind};

crate::with_event_kinds!(event_kinds);

/// The longest stream id the store accepts.
pub const MAX_STREAM_ID_BYTES: usize = 200;

impl LedgerEvent {
    /// Stable snake_case name, stored in the envelope.
    pub fn event_type(&self) -> &'static str {
        self.kind().name()
    }

    pub fn schema_version(&self) -> u32 {
        SCHEMA_VERSION
    }

    /// The payload JSON; `parse(event_type(), to_payload())` gives the event back.
    pub fn to_payload(&self) -> serde_json::Value {
        serde_json::to_value(PayloadOf(self))
            .expect("payload types serialise to JSON without failure")
    }

    /// Every kind with its fields, in kind order.
    pub fn catalogue() -> &'static [EventKindInfo] {
        &CATALOGUE
    }

    /// Catalogue entry of one kind.
    pub fn kind_info(kind: EventKind) -> &'static EventKindInfo {
        &CATALOGUE[kind.index()]
    }
}
