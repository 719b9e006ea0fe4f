//! The kinds of event by name: THE list of kinds ([`with_event_kinds!`](crate::with_event_kinds))
//! and what it says of a kind without its payload: [`EventKind`] (`ALL`, `COUNT`, the wire
//! `name`, the [`Family`]).
//!
//! The lowest layer of the crate: it imports nothing from it. Plan definitions name kinds
//! ([`crate::plan`]) and events carry them ([`crate::event`]); both stand on this module, so
//! a plan needs nothing from the events it counts to say which kinds it selects.

use std::fmt;

use serde::Serialize;

/// THE list of event kinds, one line each: `Variant = "wire name", Family` and, for a payload
/// read through a wire form and `from_wire`, `read via Wire`. The variant is also the payload
/// type's name, resolved where the list is expanded. It hands the list to `$callback!`, which
/// generates from it: here [`EventKind`], in `event/kinds.rs` everything else that lists kinds
/// ([`crate::LedgerEvent`], the catalogue, the dispatch), in `kpi-graphql` the `EventType`
/// enum. The order is that of `EventKind::ALL`, the catalogue and `EventType`. A wire name is
/// stored in every envelope: never change one. ARCHITECTURE.md says what else a new kind
/// needs.
#[macro_export]
macro_rules! with_event_kinds {
    ($callback:ident) => {
        $callback! {
            Seminar = "seminar", Activity;
            Consultation = "consultation", Activity;
            SkillTraining = "skill_training", Activity;
            SurveyWave = "survey_wave", Activity;
            SurveyResponse = "survey_response", Activity;
            SubsidyGrant = "subsidy_grant", Activity;
            CoworkingTally = "coworking_tally", Activity;
            ExchangeMeeting = "exchange_meeting", Activity;
            WorkationParticipation = "workation_participation", Activity;
            InflowingFirm = "inflowing_firm", Activity;
            Partnership = "partnership", Activity;
            Publication = "publication", Activity;
            CommitteeMeeting = "committee_meeting", Activity;
            Exhibition = "exhibition", Activity;
            MonitorTour = "monitor_tour", Activity;
            OpeningFigure = "opening_figure", Activity;
            DeclaredTotal = "declared_total", Activity;
            Correction = "correction", Amendment, read via CorrectionWire;
            Retraction = "retraction", Amendment;
            PlanAdopted = "plan_adopted", Lifecycle, read via PlanAdoptedWire;
            PlanExtended = "plan_extended", Lifecycle;
            KpiTargetRevised = "kpi_target_revised", Lifecycle;
            KpiAdded = "kpi_added", Lifecycle, read via KpiAddedWire;
            KpiRetired = "kpi_retired", Lifecycle;
            PlanTransferred = "plan_transferred", Lifecycle, read via PlanTransferredWire;
        }
    };
}

/// What a kind of event does, which decides what may be done with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// An activity, a tally, a survey answer or a published figure: what KPIs count and the
    /// audit checks. Recorded by `recordX` over GraphQL.
    Activity,
    /// A correction or retraction: changes another event's contribution.
    Amendment,
    /// A plan lifecycle event: changes a plan's definition; never counted nor amended.
    Lifecycle,
}

/// Generates [`EventKind`] from the list; `event/kinds.rs` generates the rest from the same
/// list.
macro_rules! kind_names {
    ($( $variant:ident = $name:literal, $family:ident $(, read via $wire:ty)? ; )*) => {
        /// The kind of an event without its data; its index is stable within a build and
        /// used to precompute which KPI sources care about which kind.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind {
            $( $variant, )*
        }

        impl EventKind {
            pub const COUNT: usize = [$( EventKind::$variant ),*].len();

            pub const ALL: [EventKind; Self::COUNT] = [$( EventKind::$variant ),*];

            /// The stable snake_case name stored in the envelope.
            pub const fn name(self) -> &'static str {
                match self {
                    $( EventKind::$variant => $name, )*
                }
            }

            /// Whether the kind records an activity, amends an event or changes a plan.
            pub const fn family(self) -> Family {
                match self {
                    $( EventKind::$variant => Family::$family, )*
                }
            }
        }
    };
}

with_event_kinds!(kind_names);

impl EventKind {
    pub fn from_name(name: &str) -> Option<EventKind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Kinds that change other events rather than record an activity.
    pub fn is_amendment(self) -> bool {
        self.family() == Family::Amendment
    }

    /// Plan lifecycle events change plan definitions; they are never counted nor amended.
    pub fn is_lifecycle(self) -> bool {
        self.family() == Family::Lifecycle
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
