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
    /// Text of many lines (a TOML definition).
    Document,
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
    /// What the field holds, in English: the English help of a form.
    pub doc: &'static str,
    /// The field's name on a form.
    #[serde(skip)]
    pub label: Label,
    /// What the field holds, in Japanese: the help under the field on a form.
    #[serde(skip)]
    pub help_ja: &'static str,
    #[serde(skip)]
    pub get: Option<FieldGetter>,
}

/// A name shown to people, in Japanese (the default of the city's pages) and English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Label {
    pub ja: &'static str,
    pub en: &'static str,
}

/// One kind of event with its fields.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct EventKindInfo {
    pub name: &'static str,
    #[serde(skip)]
    pub kind: super::EventKind,
    pub schema_version: u32,
    pub summary: &'static str,
    /// The kind's name on the workbench.
    #[serde(skip)]
    pub label: Label,
    /// [`EventKindInfo::summary`] in Japanese.
    #[serde(skip)]
    pub summary_ja: &'static str,
    pub fields: &'static [FieldInfo],
}

impl EventKindInfo {
    pub fn field(&self, name: &str) -> Option<&'static FieldInfo> {
        self.fields.iter().find(|field| field.name == name)
    }
}

/// One field of a catalogue entry, written inside `impl EventPayload for Kind`:
/// `field!(path, FieldType, required, doc, "日本語名" / "English name", "日本語の説明")` for a
/// field no KPI reads, and the same with `, |e| getter` at the end for one a KPI may sum or
/// filter on, where `e` is the payload (`&Kind`). The names and the two helps (`doc` in
/// English) are what a form shows.
macro_rules! field {
    ($name:literal, $ty:ident, $required:literal, $doc:literal, $ja:literal / $en:literal, $help:literal) => {
        $crate::event::FieldInfo {
            name: $name,
            ty: $crate::event::FieldType::$ty,
            required: $required,
            doc: $doc,
            label: $crate::event::Label { ja: $ja, en: $en },
            help_ja: $help,
            get: None,
        }
    };
    ($name:literal, $ty:ident, $required:literal, $doc:literal, $ja:literal / $en:literal, $help:literal, |$e:ident| $read:expr) => {
        $crate::event::FieldInfo {
            name: $name,
            ty: $crate::event::FieldType::$ty,
            required: $required,
            doc: $doc,
            label: $crate::event::Label { ja: $ja, en: $en },
            help_ja: $help,
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
