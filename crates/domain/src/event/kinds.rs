//! What the list of kinds in `event/mod.rs` generates: [`EventKind`] (`ALL`, `COUNT`, `name`,
//! `family`), [`LedgerEvent`] with one variant per kind, the catalogue in kind order, and the
//! dispatch of every per-kind method of [`LedgerEvent`] to the payload's [`EventPayload`]
//! impl. Nothing here names a kind: adding one is a line in the list and an impl beside its
//! payload.
//!
//! [`EventPayload`]: super::payload::EventPayload

use std::fmt;

use serde::Serialize;

use super::EventKind;

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

/// `match` over every variant of [`LedgerEvent`], binding the payload to `$e`.
macro_rules! dispatch {
    ($event:expr, [$($variant:ident)*], |$e:ident| $body:expr) => {
        match $event {
            $( LedgerEvent::$variant($e) => $body, )*
        }
    };
}

/// Reads one kind's payload from a [`super::parse::Source`]: as the payload type itself, or as
/// its wire type handed to `from_wire`.
macro_rules! read_payload {
    ($source:expr, $payload:ident) => {
        $source.read::<$payload>()?
    };
    ($source:expr, $payload:ident, $wire:ty) => {
        $payload::from_wire($source.read::<$wire>()?)?
    };
}

/// Generates the kinds from the list in `event/mod.rs`; see the module docs.
macro_rules! event_kinds {
    ($( $variant:ident = $name:literal, $family:ident $(, read via $wire:ty)? ; )*) => {
        /// Every fact the ledger records; each variant holds the payload type of the same
        /// name.
        #[derive(Debug, Clone, PartialEq)]
        pub enum LedgerEvent {
            $( $variant($variant), )*
        }

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

        $(
            impl OfKind for $variant {
                fn of(event: &LedgerEvent) -> Option<&Self> {
                    match event {
                        LedgerEvent::$variant(payload) => Some(payload),
                        _ => None,
                    }
                }
            }

            impl From<$variant> for LedgerEvent {
                fn from(payload: $variant) -> Self {
                    LedgerEvent::$variant(payload)
                }
            }
        )*

        static CATALOGUE: [EventKindInfo; EventKind::COUNT] = [$(
            EventKindInfo {
                name: $name,
                kind: EventKind::$variant,
                schema_version: SCHEMA_VERSION,
                summary: <$variant as EventPayload>::SUMMARY,
                fields: <$variant as EventPayload>::FIELDS,
            },
        )*];

        /// The payload of an event, serialised as stored.
        pub(crate) struct PayloadOf<'a>(pub(crate) &'a LedgerEvent);

        impl Serialize for PayloadOf<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                dispatch!(self.0, [$($variant)*], |payload| payload.serialize(serializer))
            }
        }

        impl LedgerEvent {
            pub fn kind(&self) -> EventKind {
                match self {
                    $( LedgerEvent::$variant(_) => EventKind::$variant, )*
                }
            }

            /// Reads the payload of an event of `kind` (not yet checked).
            fn read_as<S: Source + ?Sized>(
                kind: EventKind,
                source: &S,
            ) -> Result<LedgerEvent, ValidationError> {
                Ok(match kind {
                    $( EventKind::$variant => {
                        LedgerEvent::$variant(read_payload!(source, $variant $(, $wire)?))
                    } )*
                })
            }

            /// Rules that involve more than one field, or the calendar.
            fn check(&self) -> Result<(), ValidationError> {
                dispatch!(self, [$($variant)*], |payload| payload.check())
            }

            /// The day the activity happened (see the module docs for kinds without a day).
            pub fn occurred_on(&self) -> NaiveDate {
                dispatch!(self, [$($variant)*], |payload| payload.occurred_on())
            }

            /// The fiscal year whose table column the event counts in. Validation guarantees
            /// it exists.
            pub fn fiscal_year(&self) -> FiscalYear {
                dispatch!(self, [$($variant)*], |payload| payload.fiscal_year())
            }

            /// The text a person would search for.
            pub fn title(&self) -> Option<&str> {
                dispatch!(self, [$($variant)*], |payload| payload.title())
            }

            /// The activity's status where it has one; activities without one have happened.
            pub fn status(&self) -> Option<ActivityStatus> {
                dispatch!(self, [$($variant)*], |payload| payload.status())
            }

            /// The activity's own date and the field that states it: the (first) session,
            /// the `date` given, or the last day of a tallied period. `None` for kinds placed
            /// only in a fiscal year, for amendments and for lifecycle events.
            pub fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
                dispatch!(self, [$($variant)*], |payload| payload.stated_date())
            }

            /// The field that places an activity in its fiscal year: the date of a seminar,
            /// the period of a tally, else `fiscal_year`.
            pub fn year_field(&self) -> &'static str {
                dispatch!(self, [$($variant)*], |payload| payload.year_field())
            }

            /// The plan a lifecycle event changes (the adopted plan's own id for an
            /// adoption); `None` for other events.
            pub fn plan_id(&self) -> Option<&Code> {
                dispatch!(self, [$($variant)*], |payload| payload.plan_id())
            }

            /// The stream of a kind with its own stream rule.
            fn own_stream_id(&self) -> Option<String> {
                dispatch!(self, [$($variant)*], |payload| payload.stream_id())
            }

            /// A wave is defined once, a firm answers a wave once, a published yearly figure
            /// is entered once, and a plan is adopted and transferred once; the store enforces
            /// these atomically through new streams.
            pub fn stream_rule(&self) -> StreamRule {
                dispatch!(self, [$($variant)*], |payload| payload.stream_rule())
            }
        }
    };
}

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
