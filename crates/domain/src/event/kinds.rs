//! What the list of kinds (`kind.rs`) generates on the event side: [`LedgerEvent`] with one
//! variant per kind, the catalogue in kind order, and the dispatch of every per-kind method of
//! [`LedgerEvent`] to the payload's [`EventPayload`] impl ([`EventKind`] itself is generated
//! in `kind.rs`). Nothing here names a kind: adding one is a line in the list and an impl
//! beside its payload.
//!
//! [`EventPayload`]: super::payload::EventPayload
//! [`LedgerEvent`]: super::LedgerEvent
//! [`EventKind`]: crate::kind::EventKind

/// `match` over every variant of [`LedgerEvent`](super::LedgerEvent), binding the payload to `$e`.
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

/// Generates the event side of the kinds from the list in `kind.rs`; see the module docs.
macro_rules! event_kinds {
    ($( $variant:ident = $name:literal, $family:ident $(, read via $wire:ty)? ; )*) => {
        /// Every fact the ledger records; each variant holds the payload type of the same
        /// name.
        #[derive(Debug, Clone, PartialEq)]
        pub enum LedgerEvent {
            $( $variant($variant), )*
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
                label: <$variant as EventPayload>::LABEL,
                summary_ja: <$variant as EventPayload>::SUMMARY_JA,
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
