//! Payloads from text typed field by field: a web form or a CSV row. Each catalogue field says
//! how its text is read ([`FieldInfo::read_text`]: numbers with thousands separators, dates
//! western or in 和暦, yes/no, JSON for a nested payload), and [`LedgerEvent::from_fields`]
//! builds the payload under the fields' dotted paths and parses it like any other, so a
//! front-end neither writes payload JSON nor knows a kind's fields, and every refusal names
//! the field.

use serde_json::{Map, Value};

use super::{EventKind, FieldInfo, FieldType, Label, LedgerEvent};
use crate::calendar::parse_date_input;
use crate::error::ValidationError;

/// One value of a field that takes one of a fixed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// What the payload holds.
    pub value: &'static str,
    pub label: Label,
}

const fn choice(value: &'static str, ja: &'static str, en: &'static str) -> Choice {
    Choice {
        value,
        label: Label { ja, en },
    }
}

static STATUS: [Choice; 2] = [
    choice("held", "実施済み", "held"),
    choice("scheduled", "予定", "scheduled"),
];
static BENEFICIARY: [Choice; 2] = [
    choice("household", "世帯", "household"),
    choice("firm", "事業者", "firm"),
];
static UNIT: [Choice; 6] = [
    choice("persons", "人", "persons"),
    choice("firms", "社", "firms"),
    choice("households", "世帯", "households"),
    choice("organisations", "団体", "organisations"),
    choice("times", "回", "times"),
    choice("percent", "%", "percent"),
];
static BOOL: [Choice; 2] = [
    choice("true", "はい", "yes"),
    choice("false", "いいえ", "no"),
];

impl FieldType {
    /// The values a field of this type may take, when there are few.
    pub fn choices(self) -> Option<&'static [Choice]> {
        match self {
            FieldType::Status => Some(&STATUS),
            FieldType::Beneficiary => Some(&BENEFICIARY),
            FieldType::Unit => Some(&UNIT),
            FieldType::Bool => Some(&BOOL),
            _ => None,
        }
    }
}

/// Full-width digits and commas (１，２００) as ASCII.
fn half_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .collect()
}

impl FieldInfo {
    /// The payload value typed `text` stands for; `None` when nothing was typed (the field is
    /// left out). A number, date, yes/no or JSON that does not read is refused here with the
    /// reason, naming this field; anything else is passed on as text for the payload's own
    /// rules to judge.
    pub fn read_text(&self, text: &str) -> Result<Option<Value>, ValidationError> {
        let refuse = |en: String, ja: String| ValidationError::new(self.name, en).ja(ja);
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let value = match self.ty {
            FieldType::Count | FieldType::PositiveCount | FieldType::Integer => {
                let digits = half_width(text).replace(',', "");
                match digits.parse::<i64>() {
                    Ok(number) => Value::from(number),
                    Err(_) => {
                        return Err(refuse(
                            format!("`{text}` is not a whole number"),
                            format!("「{text}」は整数ではありません"),
                        ))
                    }
                }
            }
            FieldType::FiscalYear => {
                let text = half_width(text);
                text.parse::<i64>()
                    .map_or_else(|_| Value::String(text), Value::from)
            }
            FieldType::Bool => match text.to_lowercase().as_str() {
                "true" | "yes" | "y" | "1" | "はい" | "有" => Value::Bool(true),
                "false" | "no" | "n" | "0" | "いいえ" | "無" => Value::Bool(false),
                _ => {
                    return Err(refuse(
                        format!("`{text}` is neither yes (はい) nor no (いいえ)"),
                        format!("「{text}」は「はい」か「いいえ」で入力してください"),
                    ))
                }
            },
            FieldType::Date => match parse_date_input(text) {
                Ok(date) => Value::String(date.format("%Y-%m-%d").to_string()),
                Err(error) => return Err(refuse(error.to_string(), error.japanese())),
            },
            FieldType::Payload => serde_json::from_str(text).map_err(|error| {
                refuse(
                    format!("is not JSON: {error}"),
                    format!("JSON として読めません: {error}"),
                )
            })?,
            FieldType::Decimal => Value::String(half_width(text).replace(',', "")),
            _ => Value::String(text.to_owned()),
        };
        Ok(Some(value))
    }
}

impl LedgerEvent {
    /// An event of `kind` from text typed per field, by the fields' dotted paths
    /// (`participants.unique`); an empty text leaves its field out. Refuses a name that is
    /// no field of the kind, a text its field cannot read, and whatever
    /// [`LedgerEvent::parse`] refuses, naming the field.
    pub fn from_fields<'a>(
        kind: EventKind,
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<LedgerEvent, ValidationError> {
        let payload = Self::payload_from_fields(kind, fields)?;
        LedgerEvent::parse(kind.name(), &payload)
    }

    /// The payload [`LedgerEvent::from_fields`] parses.
    pub fn payload_from_fields<'a>(
        kind: EventKind,
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Value, ValidationError> {
        let info = LedgerEvent::kind_info(kind);
        let mut payload = Map::new();
        for (name, text) in fields {
            let field = info.field(name).ok_or_else(|| {
                ValidationError::new(name, format!("is not a field of `{}`", info.name))
            })?;
            if let Some(value) = field.read_text(text)? {
                insert_dotted(&mut payload, name, value);
            }
        }
        Ok(Value::Object(payload))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_seminar_from_typed_text() {
        let event = LedgerEvent::from_fields(
            EventKind::Seminar,
            [
                ("title", " 創業セミナー "),
                ("organiser", "産業支援課"),
                ("first_date", "令和6年10月10日"),
                ("sessions", "２"),
                ("participants.unique", "1,200"),
                ("participants.attendances", "2400"),
                ("capacity", ""),
                ("status", "held"),
                ("note", ""),
            ],
        )
        .unwrap();
        assert_eq!(
            event.to_payload(),
            json!({
                "title": "創業セミナー", "organiser": "産業支援課", "first_date": "2024-10-10",
                "sessions": 2, "participants": {"unique": 1200, "attendances": 2400},
                "status": "held"
            })
        );
    }

    #[test]
    fn a_refusal_names_the_field() {
        let refuse = |fields: &[(&str, &str)]| {
            LedgerEvent::from_fields(EventKind::Seminar, fields.iter().copied()).unwrap_err()
        };
        let error = refuse(&[("first_date", "平成31年5月1日")]);
        assert_eq!(error.field, "first_date");
        assert!(error.reason.contains("平成 ended"), "{}", error.reason);
        assert_eq!(refuse(&[("sessions", "two")]).field, "sessions");
        assert_eq!(refuse(&[("colour", "red")]).field, "colour");
        let missing = refuse(&[("title", "x")]);
        assert_eq!(missing.field, "organiser");
        assert_eq!(missing.reason, "is required");
    }

    #[test]
    fn a_refusal_a_form_can_meet_has_its_reason_in_japanese_too() {
        let complete = [
            ("title", "創業セミナー"),
            ("organiser", "産業支援課"),
            ("first_date", "2024-10-10"),
            ("sessions", "2"),
            ("participants.unique", "30"),
            ("participants.attendances", "40"),
            ("status", "held"),
        ];
        let refuse = |changes: &[(&'static str, &'static str)]| {
            let mut fields: Vec<(&str, &str)> = complete
                .iter()
                .filter(|(name, _)| changes.iter().all(|(changed, _)| changed != name))
                .copied()
                .collect();
            fields.extend(changes.iter().filter(|(_, text)| !text.is_empty()));
            LedgerEvent::from_fields(EventKind::Seminar, fields).unwrap_err()
        };
        for (changes, field, japanese) in [
            (
                &[("first_date", "令和6年13月1日")][..],
                "first_date",
                "という日はありません",
            ),
            (
                &[("sessions", "two")][..],
                "sessions",
                "「two」は整数ではありません",
            ),
            (&[("sessions", "0")][..], "sessions", "1以上にしてください"),
            (&[("organiser", "")][..], "organiser", "入力してください"),
            (
                &[("participants.unique", "50")][..],
                "participants.unique",
                "延べ参加者数（40）を超えることはできません",
            ),
            (
                &[("participants.attendances", "70")][..],
                "participants.attendances",
                "実参加者数×回数（60）を超えることはできません",
            ),
        ] {
            let error = refuse(changes);
            assert_eq!(error.field, field, "{changes:?}");
            let shown = error.reason_for(true);
            assert!(shown.contains(japanese), "{changes:?}: {shown}");
            assert_eq!(
                error.reason_for(false),
                error.reason,
                "English stays English"
            );
            assert!(!error.reason.contains(japanese));
        }
    }

    #[test]
    fn every_typed_field_of_every_kind_is_known_to_the_catalogue() {
        for info in LedgerEvent::catalogue() {
            for field in info.fields {
                assert!(!field.label.ja.is_empty() && !field.label.en.is_empty());
                assert!(!field.help_ja.is_empty(), "{}.{}", info.name, field.name);
                if let Some(choices) = field.ty.choices() {
                    for choice in choices {
                        assert!(field.read_text(choice.value).unwrap().is_some());
                    }
                }
            }
            assert!(!info.label.ja.is_empty() && !info.summary_ja.is_empty());
        }
    }
}
