//! The catalogue's vocabulary: what a kind's entry says (summary, fields) and how a field is
//! read for a KPI. Each kind writes its own entry next to its payload (`EventPayload::FIELDS`);
//! the list of kinds (`kind.rs`) gathers them into [`super::LedgerEvent::catalogue`], in kind
//! order.

use serde::Serialize;

use super::LedgerEvent;
use crate::values::{Code, Count, PositiveCount, Text};

/// The payload schema version every kind is written in.
pub(super) const SCHEMA_VERSION: u32 = 1;

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
    pub kind: super::EventKind,
    pub schema_version: u32,
    pub summary: &'static str,
    pub fields: &'static [FieldInfo],
}

impl EventKindInfo {
    pub fn field(&self, name: &str) -> Option<&'static FieldInfo> {
        self.fields.iter().find(|field| field.name == name)
    }
}

/// One field of a catalogue entry, written inside `impl EventPayload for Kind`:
/// `field!(path, FieldType, required, doc)` for a field no KPI reads, and
/// `field!(path, FieldType, required, doc, |e| getter)` for one a KPI may sum or filter on,
/// where `e` is the payload (`&Kind`).
macro_rules! field {
    ($name:literal, $ty:ident, $required:literal, $doc:literal) => {
        $crate::event::FieldInfo {
            name: $name,
            ty: $crate::event::FieldType::$ty,
            required: $required,
            doc: $doc,
            get: None,
        }
    };
    ($name:literal, $ty:ident, $required:literal, $doc:literal, |$e:ident| $read:expr) => {
        $crate::event::FieldInfo {
            name: $name,
            ty: $crate::event::FieldType::$ty,
            required: $required,
            doc: $doc,
            get: Some(
                |event| match <Self as $crate::event::payload::OfKind>::of(event) {
                    Some($e) => $read,
                    None => None,
                },
            ),
        }
    };
}

pub(super) fn count(value: Count) -> Option<FieldValue<'static>> {
    Some(FieldValue::Int(u64::from(value.get())))
}

pub(super) fn positive(value: PositiveCount) -> Option<FieldValue<'static>> {
    Some(FieldValue::Int(u64::from(value.get())))
}

pub(super) fn text(value: &Text) -> Option<FieldValue<'_>> {
    Some(FieldValue::Str(value.as_str()))
}

pub(super) fn code(value: &Code) -> Option<FieldValue<'_>> {
    Some(FieldValue::Str(value.as_str()))
}
