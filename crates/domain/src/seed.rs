//! Seed files: published figures and activities written as TOML, expanded deterministically
//! into validated events.
//!
//! ```toml
//! id = "fuji-telework-r6"          # prefix of every idempotency key
//! fiscal_year = "R6"               # dates written "4/30" fall in it; default fiscal_year
//! source = "FY2024 report"         # default provenance
//!
//! [[opening_figures]]              # one opening_figure event per year
//! measure = "seminar_consultation_participants"
//! unit = "persons"
//! values = { R3 = "260", R4 = "340" }
//!
//! [[events]]                       # one event; every other field is payload
//! key = "seminar/2024-04-30"
//! type = "seminar"
//! first_date = "4/30"
//! ...
//!
//! [[generate]]                     # `records` events made from published totals
//! key = "survey/fuji-2024-12"
//! type = "survey_response"
//! records = 187
//! template = { wave_id = "fuji-2024-12", firm_id = "firm-{n:03}" }
//! split = { job_openings = 112 }   # even split, remainder to the first records
//! true_count = { practises_telework = 67 }  # that many `true`, spread evenly
//! each = [{ ... }]                 # overrides of the first records, pinned out of the split
//! ```
//!
//! Every key must be unique; an event's idempotency key is `<id>:<key>` (generated records
//! add `/<n>`, opening figures are `opening/<measure>/<year>`), so importing a file twice
//! appends nothing new, and records keep their keys when others are added around them.
//! Generated records are marked `synthesised`: the report publishes only their totals.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::calendar::FiscalYear;
use crate::event::{EventKind, LedgerEvent};

/// One event to import, with the facts the store keeps beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedRecord {
    /// Deterministic and unique within the file: a second import is a no-op.
    pub idempotency_key: String,
    pub provenance: Option<String>,
    /// Made from a published total rather than read off an individual record.
    pub synthesised: bool,
    pub event: LedgerEvent,
}

/// A seed file that cannot be imported; nothing of it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedError {
    /// Where: `events[3] (key seminar/web-1)`, `generate[0] record 5`, `document`.
    pub location: String,
    pub reason: String,
}

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed {}: {}", self.location, self.reason)
    }
}

impl std::error::Error for SeedError {}

impl SeedError {
    fn new(location: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    id: String,
    fiscal_year: String,
    source: String,
    #[serde(default)]
    opening_figures: Vec<OpeningFigures>,
    #[serde(default)]
    events: Vec<toml::Table>,
    #[serde(default)]
    generate: Vec<Generator>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpeningFigures {
    measure: String,
    unit: String,
    #[serde(default)]
    source: Option<String>,
    values: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Generator {
    key: String,
    #[serde(rename = "type")]
    event_type: String,
    records: u32,
    #[serde(default)]
    provenance: Option<String>,
    #[serde(default)]
    template: toml::Table,
    #[serde(default)]
    split: BTreeMap<String, u64>,
    #[serde(default)]
    true_count: BTreeMap<String, u32>,
    #[serde(default)]
    each: Vec<toml::Table>,
}

/// Fields that may hold a month/day date written without its year.
const DATE_FIELDS: [&str; 5] = ["date", "first_date", "from", "to", "decided_on"];

const MAX_KEY_LEN: usize = 120;
const MAX_GENERATED: u32 = 100_000;

/// The records as a store would have recorded them, without one: positions from 1, one
/// millisecond apart from `start`, ids ascending with position (like the store's UUID v7).
/// For folding a seed where no store is wanted (tests, reports of the published table).
pub fn recorded_log(
    records: &[SeedRecord],
    start: chrono::DateTime<chrono::Utc>,
) -> Vec<crate::RecordedEvent> {
    records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let position = index as u64 + 1;
            crate::RecordedEvent {
                id: uuid::Uuid::from_u128(
                    0x0196_0000_0000_7000_8000_0000_0000_0000 | u128::from(position),
                ),
                position,
                recorded_at: start + chrono::Duration::milliseconds(position as i64),
                actor: "seed".to_owned(),
                provenance: record.provenance.clone(),
                event: record.event.clone(),
            }
        })
        .collect()
}

/// Parses a seed file and expands it into validated events, in file order: opening figures,
/// then events, then generated records.
pub fn parse(text: &str) -> Result<Vec<SeedRecord>, SeedError> {
    let file: SeedFile =
        toml::from_str(text).map_err(|error| SeedError::new("document", error.to_string()))?;
    check_key("id", &file.id)?;
    let year: FiscalYear =
        file.fiscal_year
            .parse()
            .map_err(|error: crate::calendar::FiscalYearError| {
                SeedError::new("fiscal_year", error.to_string())
            })?;
    let mut seen = HashSet::new();
    let mut records = Vec::new();
    let mut push = |location: &str, key: String, record: SeedRecord| {
        if !seen.insert(key.clone()) {
            return Err(SeedError::new(
                location,
                format!("key `{key}` is used twice"),
            ));
        }
        records.push(record);
        Ok(())
    };

    for (index, figures) in file.opening_figures.iter().enumerate() {
        let location = format!("opening_figures[{index}] ({})", figures.measure);
        let source = figures
            .source
            .clone()
            .unwrap_or_else(|| file.source.clone());
        if figures.values.is_empty() {
            return Err(SeedError::new(
                location,
                "values must name at least one year",
            ));
        }
        for (label, value) in &figures.values {
            let figure_year: FiscalYear =
                label
                    .parse()
                    .map_err(|error: crate::calendar::FiscalYearError| {
                        SeedError::new(&location, format!("values.{label}: {error}"))
                    })?;
            let payload = serde_json::json!({
                "measure": figures.measure,
                "fiscal_year": figure_year,
                "value": value,
                "unit": figures.unit,
                "source": source,
            });
            let event = LedgerEvent::parse("opening_figure", &payload)
                .map_err(|error| SeedError::new(&location, format!("{label}: {error}")))?;
            let key = format!("opening/{}/{}", figures.measure, figure_year.label());
            check_key(&location, &key)?;
            let record = SeedRecord {
                idempotency_key: format!("{}:{key}", file.id),
                provenance: Some(source.clone()),
                synthesised: false,
                event,
            };
            push(&location, key, record)?;
        }
    }

    for (index, table) in file.events.iter().enumerate() {
        let mut payload = to_json_object(table);
        let key = take_string(&mut payload, "key")
            .ok_or_else(|| SeedError::new(format!("events[{index}]"), "needs a `key` (text)"))?;
        let location = format!("events[{index}] (key {key})");
        check_key(&location, &key)?;
        let event_type = take_string(&mut payload, "type")
            .ok_or_else(|| SeedError::new(&location, "needs a `type` (event type)"))?;
        let provenance = take_string(&mut payload, "provenance");
        let synthesised = match payload.remove("synthesised") {
            None => false,
            Some(Value::Bool(flag)) => flag,
            Some(_) => return Err(SeedError::new(&location, "synthesised must be true/false")),
        };
        let event = build_event(&event_type, payload, year)
            .map_err(|reason| SeedError::new(&location, reason))?;
        let record = SeedRecord {
            idempotency_key: format!("{}:{key}", file.id),
            provenance: Some(provenance.unwrap_or_else(|| file.source.clone())),
            synthesised,
            event,
        };
        push(&location, key, record)?;
    }

    for (index, generator) in file.generate.iter().enumerate() {
        let location = format!("generate[{index}] (key {})", generator.key);
        check_key(&location, &generator.key)?;
        for (number, payload) in expand(generator)
            .map_err(|reason| SeedError::new(&location, reason))?
            .into_iter()
            .enumerate()
        {
            let number = number + 1;
            let record_location = format!("{location} record {number}");
            let event = build_event(&generator.event_type, payload, year)
                .map_err(|reason| SeedError::new(&record_location, reason))?;
            let key = format!("{}/{number}", generator.key);
            check_key(&record_location, &key)?;
            let record = SeedRecord {
                idempotency_key: format!("{}:{key}", file.id),
                provenance: Some(
                    generator
                        .provenance
                        .clone()
                        .unwrap_or_else(|| file.source.clone()),
                ),
                synthesised: true,
                event,
            };
            push(&record_location, key, record)?;
        }
    }
    Ok(records)
}

fn check_key(location: &str, key: &str) -> Result<(), SeedError> {
    let valid = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:/-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(SeedError::new(
            location,
            format!("key `{key}` must be 1 to {MAX_KEY_LEN} characters of A-Z a-z 0-9 . _ : / -"),
        ))
    }
}

fn to_json_object(table: &toml::Table) -> Map<String, Value> {
    match serde_json::to_value(table) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn take_string(payload: &mut Map<String, Value>, field: &str) -> Option<String> {
    match payload.remove(field) {
        Some(Value::String(text)) => Some(text),
        _ => None,
    }
}

/// Fills in the seed's conventions (year-less dates, default fiscal year) and validates.
fn build_event(
    event_type: &str,
    mut payload: Map<String, Value>,
    year: FiscalYear,
) -> Result<LedgerEvent, String> {
    let kind = EventKind::from_name(event_type)
        .ok_or_else(|| format!("`{event_type}` is not an event type"))?;
    if LedgerEvent::kind_info(kind).field("fiscal_year").is_some()
        && !payload.contains_key("fiscal_year")
    {
        payload.insert("fiscal_year".to_owned(), Value::from(year.start_year()));
    }
    let mut payload = Value::Object(payload);
    resolve_dates(&mut payload, year, "")?;
    LedgerEvent::parse(event_type, &payload).map_err(|error| error.to_string())
}

fn resolve_dates(value: &mut Value, year: FiscalYear, path: &str) -> Result<(), String> {
    let Value::Object(map) = value else {
        return Ok(());
    };
    for (key, field) in map.iter_mut() {
        let field_path = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match field {
            Value::String(text) if DATE_FIELDS.contains(&key.as_str()) => {
                if let Some((month, day)) = month_day(text) {
                    let date = year.date_of_month_day(month, day).ok_or_else(|| {
                        format!(
                            "field `{field_path}`: {text} is not a day of {}",
                            year.label()
                        )
                    })?;
                    *field = Value::String(date.format("%Y-%m-%d").to_string());
                }
            }
            Value::Object(_) => resolve_dates(field, year, &field_path)?,
            _ => {}
        }
    }
    Ok(())
}

fn month_day(text: &str) -> Option<(u32, u32)> {
    let (month, day) = text.split_once('/')?;
    let number = |part: &str| {
        (!part.is_empty() && part.len() <= 2 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u32>().ok())
            .flatten()
    };
    Some((number(month)?, number(day)?))
}

/// The payloads of a generator, before validation.
fn expand(generator: &Generator) -> Result<Vec<Map<String, Value>>, String> {
    let count = generator.records;
    if count == 0 || count > MAX_GENERATED {
        return Err(format!("records must be between 1 and {MAX_GENERATED}"));
    }
    if generator.each.len() > count as usize {
        return Err(format!(
            "each lists {} records but records is {count}",
            generator.each.len()
        ));
    }
    let template = to_json_object(&generator.template);
    let mut payloads: Vec<Map<String, Value>> = (1..=count)
        .map(|number| {
            let mut payload = fill_number(&template, number);
            if let Some(overrides) = generator.each.get(number as usize - 1) {
                for (key, value) in to_json_object(overrides) {
                    payload.insert(key, value);
                }
            }
            payload
        })
        .collect();
    for (field, total) in &generator.split {
        let pinned: Vec<Option<u64>> = generator
            .each
            .iter()
            .map(|overrides| overrides.get(field).and_then(|value| value.as_integer()))
            .map(|value| value.and_then(|value| u64::try_from(value).ok()))
            .chain(std::iter::repeat(None))
            .take(count as usize)
            .collect();
        let pinned_sum: u64 = pinned.iter().flatten().sum();
        let free = pinned.iter().filter(|value| value.is_none()).count() as u64;
        let rest = total.checked_sub(pinned_sum).ok_or_else(|| {
            format!("split.{field}: the pinned values ({pinned_sum}) exceed the total {total}")
        })?;
        if free == 0 {
            if rest != 0 {
                return Err(format!(
                    "split.{field}: every record is pinned but they sum to {pinned_sum}, not {total}"
                ));
            }
            continue;
        }
        let (share, remainder) = (rest / free, rest % free);
        let mut handed = 0;
        for (payload, pinned) in payloads.iter_mut().zip(&pinned) {
            if pinned.is_none() {
                let extra = u64::from(handed < remainder);
                handed += 1;
                payload.insert(field.clone(), Value::from(share + extra));
            }
        }
    }
    for (field, trues) in &generator.true_count {
        if *trues > count {
            return Err(format!(
                "true_count.{field}: {trues} is more than the {count} records"
            ));
        }
        // Spreads the `true` answers evenly instead of bunching them at the start.
        let (trues, count) = (u64::from(*trues), u64::from(count));
        for (index, payload) in payloads.iter_mut().enumerate() {
            let index = index as u64;
            let hit = (index + 1) * trues / count > index * trues / count;
            payload.insert(field.clone(), Value::Bool(hit));
        }
    }
    Ok(payloads)
}

/// Replaces `{n}` and zero-padded `{n:03}` in the template's strings by the record number.
fn fill_number(template: &Map<String, Value>, number: u32) -> Map<String, Value> {
    template
        .iter()
        .map(|(key, value)| (key.clone(), fill_value(value, number)))
        .collect()
}

fn fill_value(value: &Value, number: u32) -> Value {
    match value {
        Value::String(text) => Value::String(fill_text(text, number)),
        Value::Object(map) => Value::Object(fill_number(map, number)),
        other => other.clone(),
    }
}

fn fill_text(text: &str, number: u32) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{n") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let spec = &after[..end];
        match spec.strip_prefix(":0").map(str::parse::<usize>) {
            None if spec.is_empty() => out.push_str(&number.to_string()),
            Some(Ok(width)) => out.push_str(&format!("{number:0width$}")),
            _ => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_numbers_fill_templates() {
        assert_eq!(fill_text("firm-{n:03}", 7), "firm-007");
        assert_eq!(fill_text("space {n} of {n}", 12), "space 12 of 12");
        assert_eq!(fill_text("no placeholder {x}", 1), "no placeholder {x}");
        assert_eq!(fill_text("open {n", 1), "open {n");
    }

    #[test]
    fn month_days_are_recognised_only_when_well_formed() {
        assert_eq!(month_day("4/30"), Some((4, 30)));
        assert_eq!(month_day("12/1"), Some((12, 1)));
        assert_eq!(month_day("2024-04-30"), None);
        assert_eq!(month_day("4/"), None);
        assert_eq!(month_day("a/b"), None);
    }
}
