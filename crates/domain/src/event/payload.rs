//! What every kind of event says about itself: [`EventPayload`], implemented by each payload
//! type next to its struct. The list of kinds (`kind.rs`) ties a payload type to its kind and
//! generates the dispatch from [`super::LedgerEvent`] to these methods, so a rule about one
//! kind is written once, in that kind's impl.

use chrono::NaiveDate;
use serde::Serialize;

use super::{FieldInfo, LedgerEvent, StreamRule};
use crate::calendar::FiscalYear;
use crate::error::ValidationError;
use crate::values::{ActivityStatus, Code};

/// The payload of one kind of event: its catalogue entry and its rules. Serialising it gives
/// the stored payload JSON, so its serde attributes are the wire format: never change them
/// for an existing kind.
///
/// Reading: a payload is deserialised as itself, or, when the list of kinds (`kind.rs`) says
/// `read via Wire`, as `Wire` then passed to the type's `from_wire` (which parses what the
/// wire holds: a plan's TOML, a correction's replacement). [`EventPayload::check`] then runs.
pub(crate) trait EventPayload: Serialize {
    /// The kind's name on a form and a page, in Japanese and English.
    const LABEL: super::Label;
    /// One line for the catalogue.
    const SUMMARY: &'static str;
    /// [`EventPayload::SUMMARY`] in Japanese.
    const SUMMARY_JA: &'static str;
    /// Every field, by dotted path, in payload order (`field!`).
    const FIELDS: &'static [FieldInfo];

    /// Rules that involve more than one field, or the calendar; the field-level ones are the
    /// value types' (`Count`, `Text`, ...).
    fn check(&self) -> Result<(), ValidationError>;

    /// The day the activity happened; the last day of the fiscal year for kinds placed only
    /// in a year, the decision date for amendments and lifecycle events.
    fn occurred_on(&self) -> NaiveDate;

    /// The text a person would search for.
    fn title(&self) -> Option<&str>;

    /// The fiscal year whose table column the event counts in: that of
    /// [`EventPayload::occurred_on`] unless the payload states one.
    fn fiscal_year(&self) -> FiscalYear {
        FiscalYear::from_date(self.occurred_on())
            .expect("validated events have dates inside a representable fiscal year")
    }

    /// The activity's own date and the field that states it, if it has one
    /// (see [`LedgerEvent::stated_date`]).
    fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        None
    }

    /// The field that places the activity in its fiscal year.
    fn year_field(&self) -> &'static str {
        "fiscal_year"
    }

    /// The activity's status, for kinds that may be recorded before they happen.
    fn status(&self) -> Option<ActivityStatus> {
        None
    }

    /// The plan a lifecycle event changes.
    fn plan_id(&self) -> Option<&Code> {
        None
    }

    /// The store stream, when the kind has its own rule; otherwise the changes of one plan
    /// share `plan/<id>` and other events `<event type>/<start year of the fiscal year>`.
    fn stream_id(&self) -> Option<String> {
        None
    }

    /// [`StreamRule::MustBeNew`] for a kind recorded once per stream.
    fn stream_rule(&self) -> StreamRule {
        StreamRule::Any
    }
}

/// A payload type's payload inside an event of its kind, for the catalogue's field getters.
/// Implemented for every payload type by the list of kinds (`kind.rs`).
pub(crate) trait OfKind: Sized {
    fn of(event: &LedgerEvent) -> Option<&Self>;
}
