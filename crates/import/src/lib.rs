//! Bulk-import files turned into ledger events, row by row. Pure: the caller reads the file
//! and hands over its text.
//!
//! Two forms:
//! - **CSV, one file per event kind.** The header names the kind's fields by their dotted
//!   path in the event catalogue (`participants.unique`), plus an optional `provenance`
//!   column. An empty cell leaves an optional field out. Each cell is read as its catalogue
//!   field reads typed text (`FieldInfo::read_text`, the same as the workbench's forms):
//!   dates `2024-04-30`, `2024/4/30` or in 和暦 (`令和6年4月30日`, `R6.4.30`); numbers with
//!   thousands separators; booleans `true/false`, `yes/no`, `1/0` or `はい/いいえ`.
//! - **JSON lines**: one object per line, `{"type": "seminar", "payload": {...},
//!   "provenance": "..."}` (`provenance` optional); blank lines are skipped.
//!
//! Both are read one row at a time from any reader ([`CsvRows`], [`JsonLines`]), so a large
//! file needs no more memory than a row; [`parse_csv`] and [`parse_json_lines`] collect a
//! file held in memory.
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
use std::io::{BufRead, Read};

use kpi_domain::event::EventKind;
use kpi_domain::{EventKindInfo, LedgerEvent};
use serde_json::Value;
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
    /// The reason in Japanese, when the domain gives one (`ValidationError::reason_ja`).
    pub reason_ja: Option<String>,
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

/// Reads a CSV file of one event kind, held whole in `text`. `source` names the file in
/// provenance. [`CsvRows`] reads one row at a time from any reader.
pub fn parse_csv(kind: &str, text: &str, source: &str) -> Result<Parsed, FileError> {
    let kind = kind_named(kind)?;
    Ok(Parsed::collect(CsvRows::new(
        kind,
        text.as_bytes(),
        source,
    )?))
}

/// Reads a JSON-lines file held whole in `text`; every line is judged on its own.
/// [`JsonLines`] reads one line at a time from any reader.
pub fn parse_json_lines(text: &str, source: &str) -> Parsed {
    Parsed::collect(JsonLines::new(text.as_bytes(), source))
}

/// The kind named, or the error listing the kinds.
pub fn kind_named(kind: &str) -> Result<EventKind, FileError> {
    EventKind::from_name(kind).ok_or_else(|| {
        let known: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.name()).collect();
        FileError::UnknownKind(kind.to_owned(), known.join(", "))
    })
}

/// One row read: an event ready to append, or why not.
pub type RowResult = Result<ImportRow, RowError>;

/// The rows of a CSV file of one kind, read one at a time: memory does not grow with the
/// file (only the keys seen, 16 bytes a row, to tell repeated content apart).
pub struct CsvRows<R: Read> {
    info: &'static EventKindInfo,
    /// Each column's field, `None` for provenance.
    columns: Vec<Option<&'static str>>,
    records: csv::StringRecordsIntoIter<Bom<R>>,
    source: String,
    keys: KeyMaker,
}

impl<R: Read> CsvRows<R> {
    /// Reads and checks the header: every column a field of `kind` (or `provenance`), none
    /// twice, every required field present.
    pub fn new(kind: EventKind, reader: R, source: &str) -> Result<Self, FileError> {
        let info = LedgerEvent::kind_info(kind);
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(Bom::new(reader));
        let headers = reader
            .headers()
            .map_err(|error| FileError::Csv(error.to_string()))?
            .clone();
        if headers.iter().all(str::is_empty) {
            return Err(FileError::NoHeader);
        }
        let mut columns = Vec::with_capacity(headers.len());
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
            columns.push(Some(field.name));
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
        Ok(CsvRows {
            info,
            columns,
            records: reader.into_records(),
            source: source.to_owned(),
            keys: KeyMaker::default(),
        })
    }
}

impl<R: Read> Iterator for CsvRows<R> {
    type Item = RowResult;

    fn next(&mut self) -> Option<RowResult> {
        loop {
            let record = match self.records.next()? {
                Ok(record) => record,
                Err(error) => {
                    let line = error.position().map_or(0, |p| p.line());
                    return Some(Err(RowError {
                        line,
                        field: "row".to_owned(),
                        reason: error.to_string(),
                        reason_ja: None,
                    }));
                }
            };
            let line = record.position().map_or(0, |p| p.line());
            if record.iter().all(|cell| cell.trim().is_empty()) {
                continue;
            }
            let mut provenance = None;
            let mut fields = Vec::with_capacity(self.columns.len());
            for (column, cell) in self.columns.iter().zip(record.iter()) {
                match column {
                    Some(name) => fields.push((*name, cell)),
                    None if !cell.trim().is_empty() => provenance = Some(cell.trim().to_owned()),
                    None => {}
                }
            }
            let provenance = provenance.unwrap_or_else(|| format!("{} line {line}", self.source));
            let kind = self.info.kind;
            return Some(match LedgerEvent::payload_from_fields(kind, fields) {
                Ok(payload) => row(line, self.info.name, payload, provenance, &mut self.keys),
                Err(error) => Err(RowError {
                    line,
                    field: error.field,
                    reason: error.reason,
                    reason_ja: error.reason_ja,
                }),
            });
        }
    }
}

/// The lines of a JSON-lines file, read one at a time (see [`CsvRows`] on memory).
pub struct JsonLines<R: Read> {
    lines: std::io::BufReader<Bom<R>>,
    line: u64,
    buffer: Vec<u8>,
    source: String,
    keys: KeyMaker,
}

impl<R: Read> JsonLines<R> {
    pub fn new(reader: R, source: &str) -> Self {
        JsonLines {
            lines: std::io::BufReader::new(Bom::new(reader)),
            line: 0,
            buffer: Vec::new(),
            source: source.to_owned(),
            keys: KeyMaker::default(),
        }
    }
}

impl<R: Read> Iterator for JsonLines<R> {
    type Item = RowResult;

    fn next(&mut self) -> Option<RowResult> {
        loop {
            self.buffer.clear();
            self.line += 1;
            let line = self.line;
            let error = |field: &str, reason: String| {
                Some(Err(RowError {
                    line,
                    field: field.to_owned(),
                    reason,
                    reason_ja: None,
                }))
            };
            match self.lines.read_until(b'\n', &mut self.buffer) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(read) => return error("line", format!("cannot be read: {read}")),
            }
            let Ok(line_text) = std::str::from_utf8(&self.buffer) else {
                return error("line", "is not UTF-8 text".to_owned());
            };
            if line_text.trim().is_empty() {
                continue;
            }
            let object = match serde_json::from_str::<Value>(line_text) {
                Ok(Value::Object(object)) => object,
                Ok(_) => return error("line", "not a JSON object".to_owned()),
                Err(json_error) => return error("line", format!("not JSON: {json_error}")),
            };
            let Some(Value::String(event_type)) = object.get("type") else {
                return error("type", "missing, or not a string".to_owned());
            };
            let provenance = match object.get(PROVENANCE_COLUMN) {
                None | Some(Value::Null) => format!("{} line {line}", self.source),
                Some(Value::String(text)) => text.clone(),
                Some(_) => return error(PROVENANCE_COLUMN, "not a string".to_owned()),
            };
            if let Some(unknown) = object
                .keys()
                .find(|key| !matches!(key.as_str(), "type" | "payload" | PROVENANCE_COLUMN))
            {
                return error(
                    unknown,
                    "unknown key; a line has type, payload and provenance".to_owned(),
                );
            }
            let payload = object.get("payload").cloned().unwrap_or(Value::Null);
            return Some(row(line, event_type, payload, provenance, &mut self.keys));
        }
    }
}

/// A reader without the UTF-8 byte-order mark Excel writes at the start of a CSV.
pub struct Bom<R> {
    inner: R,
    start: Option<([u8; 3], usize, usize)>,
}

impl<R: Read> Bom<R> {
    fn new(inner: R) -> Self {
        Bom { inner, start: None }
    }
}

impl<R: Read> Read for Bom<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.start.is_none() {
            let mut head = [0u8; 3];
            let mut filled = 0;
            while filled < 3 {
                match self.inner.read(&mut head[filled..])? {
                    0 => break,
                    n => filled += n,
                }
            }
            let skip = if filled == 3 && head == [0xEF, 0xBB, 0xBF] {
                3
            } else {
                0
            };
            self.start = Some((head, skip, filled));
        }
        if let Some((head, at, filled)) = &mut self.start {
            if *at < *filled {
                let n = (*filled - *at).min(out.len());
                out[..n].copy_from_slice(&head[*at..*at + n]);
                *at += n;
                return Ok(n);
            }
        }
        self.inner.read(out)
    }
}

/// A row's payload judged as an event.
fn row(
    line: u64,
    event_type: &str,
    payload: Value,
    provenance: String,
    keys: &mut KeyMaker,
) -> RowResult {
    match LedgerEvent::parse(event_type, &payload) {
        Ok(event) => Ok(ImportRow {
            line,
            idempotency_key: keys.key(event_type, &payload),
            provenance,
            event,
        }),
        Err(error) => {
            let field = match error.field.as_str() {
                "" => "payload".to_owned(),
                "event_type" => "type".to_owned(),
                _ => error.field,
            };
            Err(RowError {
                line,
                field,
                reason: error.reason,
                reason_ja: error.reason_ja,
            })
        }
    }
}

impl Parsed {
    /// Every row of `rows`, sorted into the good and the bad.
    pub fn collect(rows: impl Iterator<Item = RowResult>) -> Parsed {
        let mut parsed = Parsed::default();
        for row in rows {
            match row {
                Ok(row) => parsed.rows.push(row),
                Err(error) => parsed.errors.push(error),
            }
        }
        parsed
    }
}

/// Content-derived keys; the n-th repetition of one content is told apart by `#n`.
#[derive(Default)]
struct KeyMaker {
    seen: HashMap<[u8; 16], usize>,
}

impl KeyMaker {
    fn key(&mut self, event_type: &str, payload: &Value) -> String {
        // serde_json's default map is ordered by key, so equal payloads print equal text.
        let mut hasher = Sha256::new();
        hasher.update(event_type.as_bytes());
        hasher.update([0]);
        hasher.update(payload.to_string().as_bytes());
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&hasher.finalize()[..16]);
        let count = self.seen.entry(digest).or_default();
        let digest = hex::encode(digest);
        *count += 1;
        match *count {
            1 => format!("import:{digest}"),
            n => format!("import:{digest}#{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
