//! Small value types of event payloads. Each one can only hold a valid value, and its
//! deserialiser says in plain words what was wrong, so the boundary's error can name the field.

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A count of persons, firms, attendances, ...: a whole number from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Count(u32);

impl Count {
    pub const ZERO: Count = Count(0);

    pub fn new(value: u32) -> Self {
        Self(value)
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl From<u32> for Count {
    fn from(value: u32) -> Self {
        Self(value)
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

struct CountVisitor {
    minimum: u32,
}

impl Visitor<'_> for CountVisitor {
    type Value = u32;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a whole number of at least {}", self.minimum)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
        let value =
            u32::try_from(v).map_err(|_| E::custom(format!("must be at most {}", u32::MAX)))?;
        if value < self.minimum {
            return Err(E::custom(format!("must be at least {}", self.minimum)));
        }
        Ok(value)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
        if v < 0 {
            return Err(E::custom("must not be negative"));
        }
        self.visit_u64(v as u64)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<u32, E> {
        Err(E::custom("must be a whole number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<u32, E> {
        Err(E::custom("must be a number, not text"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<u32, E> {
        Err(E::custom("must be a number, not true/false"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<u32, E> {
        Err(E::custom("must be a number, not null"))
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(CountVisitor { minimum: 0 })
            .map(Count)
    }
}

/// A count that must be at least one: sessions of a course, firms asked by a survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PositiveCount(u32);

impl PositiveCount {
    pub const ONE: PositiveCount = PositiveCount(1);

    pub fn new(value: u32) -> Option<Self> {
        (value >= 1).then_some(Self(value))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for PositiveCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for PositiveCount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for PositiveCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(CountVisitor { minimum: 1 })
            .map(PositiveCount)
    }
}

/// Free text shown to people (titles, organisers, reasons): trimmed, not empty, no control
/// characters, at most [`Text::MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(String);

impl Text {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(value: &str) -> Result<Self, String> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if trimmed.chars().any(char::is_control) {
            return Err("must not contain control characters".to_owned());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrVisitor {
            what: "text",
            parse: Text::parse,
        })
    }
}

/// A machine identifier (survey wave, firm, measure, meeting kind): 1 to 64 characters of
/// `[A-Za-z0-9._-]`, so it can be part of a stream id as is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code(String);

impl Code {
    pub const MAX_LEN: usize = 64;

    pub fn parse(value: &str) -> Result<Self, String> {
        if value.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if value.len() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters", Self::MAX_LEN));
        }
        if let Some(bad) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(format!(
                "may only contain letters A-Z a-z, digits, '.', '_' and '-' (found {bad:?})"
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrVisitor {
            what: "an identifier",
            parse: Code::parse,
        })
    }
}

struct StrVisitor<T> {
    what: &'static str,
    parse: fn(&str) -> Result<T, String>,
}

impl<T> Visitor<'_> for StrVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<T, E> {
        Err(E::custom(format!("must be {}, not a number", self.what)))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
        Err(E::custom(format!("must be {}, not a number", self.what)))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        Err(E::custom(format!("must be {}, not a number", self.what)))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
        Err(E::custom(format!("must be {}, not true/false", self.what)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Err(E::custom(format!("must be {}, not null", self.what)))
    }
}

/// The unit a KPI or a figure is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Persons,
    Firms,
    Households,
    Organisations,
    Times,
    Percent,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Persons => "persons",
            Unit::Firms => "firms",
            Unit::Households => "households",
            Unit::Organisations => "organisations",
            Unit::Times => "times",
            Unit::Percent => "percent",
        }
    }

    pub const ALL: [Unit; 6] = [
        Unit::Persons,
        Unit::Firms,
        Unit::Households,
        Unit::Organisations,
        Unit::Times,
        Unit::Percent,
    ];

    pub fn from_name(name: &str) -> Option<Unit> {
        Self::ALL.into_iter().find(|unit| unit.as_str() == name)
    }

    /// The counter word of the city's tables (人, 社, 世帯, 団体, 回, %).
    pub fn suffix_ja(self) -> &'static str {
        match self {
            Unit::Persons => "人",
            Unit::Firms => "社",
            Unit::Households => "世帯",
            Unit::Organisations => "団体",
            Unit::Times => "回",
            Unit::Percent => "%",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an activity has taken place or is only planned at the time of recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityStatus {
    Held,
    Scheduled,
}

impl ActivityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityStatus::Held => "held",
            ActivityStatus::Scheduled => "scheduled",
        }
    }
}

/// A non-negative exact decimal (an opening figure such as 29.0 %). Written as a string
/// ("29.0") or an integer: a JSON fraction would pass through binary floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(Decimal);

impl Quantity {
    pub fn new(value: Decimal) -> Result<Self, String> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err("must not be negative".to_owned());
        }
        Ok(Self(value))
    }

    pub fn get(self) -> Decimal {
        self.0
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QuantityVisitor;
        impl Visitor<'_> for QuantityVisitor {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal written as a string, e.g. \"29.0\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                let value: Decimal = v
                    .trim()
                    .parse()
                    .map_err(|_| E::custom(format!("`{v}` is not a decimal number")))?;
                Quantity::new(value).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                Quantity::new(Decimal::from(v)).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                Quantity::new(Decimal::from(v)).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Quantity, E> {
                Err(E::custom(
                    "write a fraction as a string (\"29.0\"), not a binary floating-point number",
                ))
            }
        }
        deserializer.deserialize_any(QuantityVisitor)
    }
}

/// ISO dates (YYYY-MM-DD) with an error message people understand.
pub(crate) mod iso_date {
    use super::*;

    /// Hand-parsed because replay reads millions of dates and chrono's format interpreter
    /// costs several times more than the date itself.
    pub fn parse(text: &str) -> Result<NaiveDate, String> {
        let bytes = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| -> Option<u32> {
            bytes[range].iter().try_fold(0u32, |acc, byte| {
                byte.is_ascii_digit()
                    .then(|| acc * 10 + u32::from(byte - b'0'))
            })
        };
        let date = (bytes.len() == 10 && bytes[4] == b'-' && bytes[7] == b'-')
            .then(|| {
                let year = i32::try_from(digits(0..4)?).ok()?;
                NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)
            })
            .flatten();
        date.ok_or_else(|| format!("`{text}` is not a calendar date written YYYY-MM-DD"))
    }

    pub fn serialize<S: Serializer>(date: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&date.format("%Y-%m-%d"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
        deserializer.deserialize_any(StrVisitor {
            what: "a date written YYYY-MM-DD",
            parse,
        })
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            date: &Option<NaiveDate>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match date {
                Some(date) => super::serialize(date, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<NaiveDate>, D::Error> {
            super::deserialize(deserializer).map(Some)
        }
    }
}

/// The Japanese of a refusal above (counts, texts), for a clerk's form; `None` for a message
/// that is not one of them. Kept beside the messages so that one changes with the other.
pub(crate) fn japanese_of_refusal(message: &str) -> Option<String> {
    let number_after = |prefix: &str| -> Option<String> {
        let rest = message.strip_prefix(prefix)?;
        (!rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit())).then(|| rest.to_owned())
    };
    if let Some(rest) = message.strip_prefix("must be at most ") {
        if let Some(count) = rest.strip_suffix(" characters") {
            return Some(format!("{count}文字以内にしてください"));
        }
    }
    if let Some(most) = number_after("must be at most ") {
        return Some(format!("{most}以下にしてください"));
    }
    if let Some(least) = number_after("must be at least ") {
        return Some(format!("{least}以上にしてください"));
    }
    Some(
        match message {
            "must not be negative" => "0以上にしてください",
            "must be a whole number" => "整数にしてください",
            "must be a number, not text" => "数で入力してください",
            "must not be empty" => "入力してください（空にはできません）",
            "must not contain control characters" => "制御文字は使えません",
            _ => return None,
        }
        .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_of_a_count_or_a_text_has_its_japanese() {
        let count = |json: &str| serde_json::from_str::<Count>(json).unwrap_err();
        let messages = [
            count("-1").to_string(),
            count("1.5").to_string(),
            count("\"3\"").to_string(),
            count("4294967296").to_string(),
            serde_json::from_str::<PositiveCount>("0")
                .unwrap_err()
                .to_string(),
            Text::parse("   ").unwrap_err(),
            Text::parse("a\u{7}b").unwrap_err(),
            Text::parse(&"あ".repeat(Text::MAX_CHARS + 1)).unwrap_err(),
        ];
        for message in messages {
            // serde_json adds " at line 1 column N"; the error boundary strips it.
            let message = message.split(" at line ").next().unwrap();
            assert!(japanese_of_refusal(message).is_some(), "{message}");
        }
        assert_eq!(
            japanese_of_refusal("must be at least 1").as_deref(),
            Some("1以上にしてください")
        );
        assert_eq!(japanese_of_refusal("must be at least "), None);
        assert_eq!(japanese_of_refusal("is not a plan"), None);
    }

    #[test]
    fn counts_refuse_negatives_fractions_and_text_in_words() {
        let err = |json: &str| serde_json::from_str::<Count>(json).unwrap_err().to_string();
        assert!(err("-1").starts_with("must not be negative"));
        assert!(err("1.5").starts_with("must be a whole number"));
        assert!(err("\"3\"").starts_with("must be a number"));
        assert!(err("4294967296").starts_with("must be at most"));
        assert_eq!(serde_json::from_str::<Count>("0").unwrap(), Count::ZERO);
        assert!(serde_json::from_str::<PositiveCount>("0")
            .unwrap_err()
            .to_string()
            .starts_with("must be at least 1"));
    }

    #[test]
    fn text_is_trimmed_and_must_say_something() {
        assert_eq!(Text::parse("  セミナー ").unwrap().as_str(), "セミナー");
        assert!(Text::parse("   ").is_err());
        assert!(Text::parse("a\u{7}b").is_err());
        assert!(Text::parse(&"あ".repeat(Text::MAX_CHARS + 1)).is_err());
        assert!(Text::parse(&"あ".repeat(Text::MAX_CHARS)).is_ok());
    }

    #[test]
    fn codes_are_safe_inside_stream_ids() {
        assert!(Code::parse("fuji-2024-12").is_ok());
        assert!(Code::parse("firm/1").is_err());
        assert!(Code::parse("会社").is_err());
        assert!(Code::parse("").is_err());
        assert!(Code::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn quantities_are_exact_and_refuse_floats() {
        let q: Quantity = serde_json::from_str("\"29.0\"").unwrap();
        assert_eq!(q.get().to_string(), "29.0");
        assert_eq!(serde_json::to_string(&q).unwrap(), "\"29.0\"");
        assert!(serde_json::from_str::<Quantity>("29.0").is_err());
        assert!(serde_json::from_str::<Quantity>("\"-1\"").is_err());
        assert!(serde_json::from_str::<Quantity>("\"abc\"").is_err());
    }

    #[test]
    fn dates_must_be_iso() {
        assert!(iso_date::parse("2024-04-30").is_ok());
        assert!(iso_date::parse("2025-02-29").is_err());
        assert!(iso_date::parse("4/30").is_err());
        assert!(iso_date::parse("2024-4-30").is_err());
        assert!(iso_date::parse("2024-04-3x").is_err());
        assert!(iso_date::parse("2024/04/30").is_err());
        assert!(iso_date::parse("2024-02-29").is_ok());
        assert!(iso_date::parse("+024-04-30").is_err());
    }
}
