//! Facts the fold keeps about events in force that no table shows, for audit findings and
//! the rate rule: activities still scheduled, amendments that could not be applied, survey
//! waves and responses, activities outside every plan's period, and each transferred plan's
//! figures as decided at its transfer.

use std::collections::HashMap;

use chrono::NaiveDate;
use foldhash::fast::RandomState;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::snapshot;
use super::transfer::Decided;
use super::Projection;
use crate::calendar::FiscalYear;
use crate::event::EventKind;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ScheduledActivity {
    #[serde(with = "snapshot::kind_by_name")]
    pub(crate) kind: EventKind,
    pub(crate) title: String,
    pub(crate) date: NaiveDate,
    pub(crate) counted_in_kpis: bool,
}

/// Something the log says that does not change the tables but a person should look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum AmendmentProblem {
    UnknownTarget,
    TargetIsAmendment,
    TargetRetracted,
    KindMismatch {
        #[serde(with = "snapshot::kind_by_name")]
        target: EventKind,
        #[serde(with = "snapshot::kind_by_name")]
        replacement: EventKind,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IgnoredAmendment {
    pub(crate) amendment: Uuid,
    pub(crate) target: Uuid,
    pub(crate) problem: AmendmentProblem,
}

/// A recorded survey wave in force.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WaveNote {
    pub(crate) event: Uuid,
    pub(crate) wave_id: String,
    pub(crate) on: NaiveDate,
    pub(crate) fiscal_year: FiscalYear,
}

/// A survey response in force.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ResponseNote {
    pub(crate) event: Uuid,
    pub(crate) wave_id: String,
    pub(crate) fiscal_year: FiscalYear,
}

/// An activity in force whose fiscal year no plan's period covers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OutsideNote {
    pub(crate) event: Uuid,
    #[serde(with = "snapshot::kind_by_name")]
    pub(crate) kind: EventKind,
    pub(crate) fiscal_year: FiscalYear,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Notes {
    pub(crate) waves: Vec<WaveNote>,
    /// By event id: an amendment removes its target's note without a scan (responses can be a
    /// large share of the log).
    pub(crate) responses: HashMap<Uuid, ResponseNote, RandomState>,
    pub(crate) outside: HashMap<Uuid, OutsideNote, RandomState>,
    /// Per plan, once the fold passed its transfer.
    pub(crate) decided: Vec<Option<Decided>>,
}

impl Projection {
    /// The recorded wave of `wave_id` in force, if any.
    pub(crate) fn wave_note(&self, wave_id: &str) -> Option<&WaveNote> {
        self.notes
            .waves
            .iter()
            .rev()
            .find(|wave| wave.wave_id == wave_id)
    }
}
