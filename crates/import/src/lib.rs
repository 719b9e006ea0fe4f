//! Bulk-import files turned into ledger events, row by row. Pure: the caller reads the file
//! and hands over its text.
//!
//! Two forms:
//! - **CSV, one file per event kind.** The header names the kind's fields by their dotted
//!   path in the event catalogue (`participants.unique`), plus an optional `provenance`
//!   column. An empty cell leaves an optional field out. Dates may be written `2024-04-30`,
//!   `2024/4/30` or `2024-4-30`; booleans `true/false`, `yes/no`, `1/0` or `はい/いいえ`.
//! - **JSON lines**: one object per line, `{"type": "seminar", "payload": {...},
//!   "provenance": "..."}` (`provenance` optional); blank lines are skipped.
//!
//! This module only maps text to JSON payloads; whether a payload is a valid event is decided
//! by [`LedgerEvent::parse`], which names the field at fault.
//!
//! Every row gets an idempotency key derived from its content (event type and canonical
//! payload), so importing the same file again appends nothing, and a row moved or a file
//! renamed is still recognised. Rows with identical content are distinct events (two equal
//! publication tallies are two tallies): the n-th repetition of a content gets `#n` in its key.

use std::collections::HashMap;
use std::fmt;

use chrono::NaiveDate;
use kpi_domain::event::EventKind;
use kpi_domain::{FieldType, LedgerEvent};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The column that carries a row's provenance instead of a payload field.
pub const PROVENANCE_COLUMN: &str = "provenance";

/// One valid row, ready to append.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    /// Line of the file the row starts on (1-based; a CSV header is line 1).
    pub line: u64,
    pub idempotency_key: String,
    pub provenance: String,
    pub event: LedgerEvent,
}

/// Why one row cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub field: String,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.reason)
    }
}

/// A whole file read: every valid row and every bad one, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub rows: Vec<ImportRow>,
    pub errors: Vec<RowError>,
}

/// A file that cannot be read row by row at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("`{0}` is not an event type; expected one of {1}")]
    UnknownKind(String, String),
    #[error("column `{column}` is not a field of `{kind}`; its fields are {fields}")]
    UnknownColumn {
        column: String,
        kind: &'static str,
        fields: String,
    },
    #[error("column `{0}` appears twice")]
    DuplicateColumn(String),
    #[error("the header is missing required field `{field}` of `{kind}`")]
    MissingColumn { field: String, kind: &'static str },
    #[error("the file has no header line")]
    NoHeader,
    #[error("unreadable CSV: {0}")]
    Csv(String),
}

/// The event kind a CSV file holds, from its name: `seminar.csv` or `seminar-2024.csv`.
pub fn kind_from_file_stem(stem: &str) -> Option<&'static str> {
    EventKind::ALL
        .iter()
        .map(|kind| kind.name())
        .filter(|name| {
            stem == *name
                || stem
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['-', '.', '_']) && !rest[1..].is_empty())
        })
        // `survey_wave` before `survey`-less names: the longest name that fits wins.
        .max_by_key(|name| name.len())
}

/// Reads a CSV file of one event kind. `source` names the file in provenance.
pub fn parse_csv(kind: &str, text: &str, source: &str) -> Result<Parsed, FileError> {
    let kind = EventKind::from_name(kind).ok_or_else(|| {
        let known: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.name()).collect();
        FileError::UnknownKind(kind.to_owned(), known.join(", "))
    })?;
    let info = LedgerEvent::kind_info(kind);
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|error| FileError::Csv(error.to_string()))?
        .clone();
    if headers.iter().all(str::is_empty) {
        return Err(FileError::NoHeader);
    }
    let mut columns: Vec<Option<FieldType>> = Vec::with_capacity(headers.len());
    for (index, column) in headers.iter().enumerate() {
        let column = column.trim();
        if headers.iter().take(index).any(|c| c.trim() == column) {
            return Err(FileError::DuplicateColumn(column.to_owned()));
        }
        if column == PROVENANCE_COLUMN {
            columns.push(None);
            continue;
        }
        let field = info.field(column).ok_or_else(|| FileError::UnknownColumn {
            column: column.to_owned(),
            kind: info.name,
            fields: info
                .fields
                .iter()
                .map(|field| field.name)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        columns.push(Some(field.ty));
    }
    if let Some(missing) = info
        .fields
        .iter()
        .find(|field| field.required && !headers.iter().any(|c| c.trim() == field.name))
    {
        return Err(FileError::MissingColumn {
            field: missing.name.to_owned(),
            kind: info.name,
        });
    }

    let mut keys = KeyMaker::default();
    let mut parsed = Parsed::default();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line());
                parsed.errors.push(RowError {
                    line,
                    field: "row".to_owned(),
                    reason: error.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        let mut payload = Map::new();
        let mut provenance = None;
        for ((name, ty), cell) in headers.iter().zip(&columns).zip(record.iter()) {
            let cell = cell.trim();
            match ty {
                None if !cell.is_empty() => provenance = Some(cell.to_owned()),
                None => {}
                Some(_) if cell.is_empty() => {}
                Some(ty) => insert_dotted(&mut payload, name.trim(), cell_value(*ty, cell)),
            }
        }
        let provenance = provenance.unwrap_or_else(|| format!("{source} line {line}"));
        parsed.push(
            line,
            info.name,
            Value::Object(payload),
            provenance,
            &mut keys,
        );
    }
    Ok(parsed)
}

/// Reads a JSON-lines file; every line is judged on its own.
pub fn parse_json_lines(text: &str, source: &str) -> Parsed {
    let mut keys = KeyMaker::default();
    let mut parsed = Parsed::default();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, line_text) in text.lines().enumerate() {
        let line = index as u64 + 1;
        if line_text.trim().is_empty() {
            continue;
        }
        let error = |field: &str, reason: String| RowError {
            line,
            field: field.to_owned(),
            reason,
        };
        let object = match serde_json::from_str::<Value>(line_text) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                parsed
                    .errors
                    .push(error("line", "not a JSON object".to_owned()));
                continue;
            }
            Err(json_error) => {
                parsed
                    .errors
                    .push(error("line", format!("not JSON: {json_error}")));
                continue;
            }
        };
        let Some(Value::String(event_type)) = object.get("type") else {
            parsed
                .errors
                .push(error("type", "missing, or not a string".to_owned()));
            continue;
        };
        let provenance = match object.get(PROVENANCE_COLUMN) {
            None | Some(Value::Null) => format!("{source} line {line}"),
            Some(Value::String(text)) => text.clone(),
            Some(_) => {
                parsed
                    .errors
                    .push(error(PROVENANCE_COLUMN, "not a string".to_owned()));
                continue;
            }
        };
        if let Some(unknown) = object
            .keys()
            .find(|key| !matches!(key.as_str(), "type" | "payload" | PROVENANCE_COLUMN))
        {
            parsed.errors.push(error(
                unknown,
                "unknown key; a line has type, payload and provenance".to_owned(),
            ));
            continue;
        }
        let payload = object.get("payload").cloned().unwrap_or(Value::Null);
        parsed.push(line, event_type, payload, provenance, &mut keys);
    }
    parsed
}

impl Parsed {
    fn push(
        &mut self,
        line: u64,
        event_type: &str,
        payload: Value,
        provenance: String,
        keys: &mut KeyMaker,
    ) {
        match LedgerEvent::parse(event_type, &payload) {
            Ok(event) => self.rows.push(ImportRow {
                line,
                idempotency_key: keys.key(event_type, &payload),
                provenance,
                event,
            }),
            Err(error) => {
                let field = if error.field.is_empty() || error.field == "event_type" {
                    if error.field.is_empty() {
                        "payload".to_owned()
                    } else {
                        "type".to_owned()
                    }
                } else {
                    error.field
                };
                self.errors.push(RowError {
                    line,
                    field,
                    reason: error.reason,
                })
            }
        }
    }
}

/// Content-derived keys; the n-th repetition of one content is told apart by `#n`.
#[derive(Default)]
struct KeyMaker {
    seen: HashMap<String, usize>,
}

impl KeyMaker {
    fn key(&mut self, event_type: &str, payload: &Value) -> String {
        // serde_json's default map is ordered by key, so equal payloads print equal text.
        let mut hasher = Sha256::new();
        hasher.update(event_type.as_bytes());
        hasher.update([0]);
        hasher.update(payload.to_string().as_bytes());
        let digest = hex::encode(&hasher.finalize()[..16]);
        let count = self.seen.entry(digest.clone()).or_default();
        *count += 1;
        match *count {
            1 => format!("import:{digest}"),
            n => format!("import:{digest}#{n}"),
        }
    }
}

/// Puts `value` at `a.b` inside `payload`.
fn insert_dotted(payload: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            payload.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let child = payload
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(child) = child {
                insert_dotted(child, rest, value);
            }
        }
    }
}

/// The JSON a cell stands for. A cell that does not read as its type is passed on as text,
/// so the domain reports the field and what it expected.
fn cell_value(ty: FieldType, cell: &str) -> Value {
    match ty {
        FieldType::Count | FieldType::PositiveCount | FieldType::Integer => {
            let digits = cell.replace(',', "");
            digits
                .parse::<i64>()
                .map_or_else(|_| Value::String(cell.to_owned()), Value::from)
        }
        FieldType::FiscalYear => cell
            .parse::<i64>()
            .map_or_else(|_| Value::String(cell.to_owned()), Value::from),
        FieldType::Bool => match cell.to_lowercase().as_str() {
            "true" | "yes" | "y" | "1" | "はい" | "有" => Value::Bool(true),
            "false" | "no" | "n" | "0" | "いいえ" | "無" => Value::Bool(false),
            _ => Value::String(cell.to_owned()),
        },
        FieldType::Date => Value::String(
            normalise_date(cell)
                .map(|date| date.to_string())
                .unwrap_or_else(|| cell.to_owned()),
        ),
        _ => Value::String(cell.to_owned()),
    }
}

/// `2024/4/30`, `2024-04-30`, `2024-4-30` and `2024/04/30` are one day.
pub fn normalise_date(text: &str) -> Option<NaiveDate> {
    let mut parts = text.split(['/', '-']);
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 {
        return None;
    }
    NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_either_spelling_are_one_day() {
        let day = NaiveDate::from_ymd_opt(2024, 4, 30);
        assert_eq!(normalise_date("2024/4/30"), day);
        assert_eq!(normalise_date("2024-04-30"), day);
        assert_eq!(normalise_date("2024-4-30"), day);
        assert_eq!(normalise_date("2024/13/1"), None);
        assert_eq!(normalise_date("30/4/2024"), None);
        assert_eq!(normalise_date("2024/4/30/1"), None);
    }

    #[test]
    fn dotted_columns_nest() {
        let mut payload = Map::new();
        insert_dotted(&mut payload, "participants.unique", Value::from(3));
        insert_dotted(&mut payload, "participants.attendances", Value::from(4));
        assert_eq!(
            Value::Object(payload),
            serde_json::json!({"participants": {"unique": 3, "attendances": 4}})
        );
    }

    #[test]
    fn file_names_tell_the_kind() {
        assert_eq!(kind_from_file_stem("seminar"), Some("seminar"));
        assert_eq!(kind_from_file_stem("survey_wave-2024"), Some("survey_wave"));
        assert_eq!(kind_from_file_stem("seminars"), None);
        assert_eq!(kind_from_file_stem("seminar-"), None);
    }

    #[test]
    fn repeated_content_gets_distinct_keys_and_the_same_keys_next_time() {
        let payload = serde_json::json!({"a": 1});
        let mut first = KeyMaker::default();
        let mut again = KeyMaker::default();
        let keys: Vec<String> = (0..2).map(|_| first.key("publication", &payload)).collect();
        assert_ne!(keys[0], keys[1]);
        assert!(keys[1].ends_with("#2"));
        assert_eq!(again.key("publication", &payload), keys[0]);
        assert_ne!(again.key("seminar", &payload), keys[0]);
    }
}
