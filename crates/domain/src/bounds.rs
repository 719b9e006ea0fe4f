//! Plausibility bounds: the largest figure each count field of each event kind may hold.
//!
//! A count is refused above its bound at the boundary, naming the field and the bound, so a
//! slip of the keyboard (a seminar of 1,000,000,000 participants) never reaches a KPI. The
//! defaults ([`Bounds::default`]) suit a city of about 250,000 people; the configuration
//! (`[ledger.bounds]`) changes any of them. Every count field of every activity kind of the
//! catalogue has a bound; an opening figure's `value` has one per unit (`value.persons`,
//! `value.percent`, ...).
//!
//! Serde: a `Bounds` reads as the changes to the defaults, a table of event kind -> field
//! path -> maximum, where the path may be written nested (`participants = { unique = 5000 }`,
//! as environment variables give it) or as one dotted key (`"participants.unique" = 5000`).
//! An unknown kind or field is refused, naming the known ones. It writes only the bounds that
//! differ from the defaults, nested, so that merging configuration layers compares like with
//! like.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ValidationError;
use crate::event::{EventKind, FieldValue, LedgerEvent};
use crate::values::Unit;

/// The defaults: (event kind, field path, maximum).
const DEFAULTS: &[(&str, &str, u64)] = &[
    ("seminar", "sessions", 1_000),
    ("seminar", "participants.unique", 100_000),
    ("seminar", "participants.attendances", 1_000_000),
    ("seminar", "capacity", 100_000),
    ("consultation", "persons", 100_000),
    ("skill_training", "sessions", 1_000),
    ("skill_training", "participants", 100_000),
    ("survey_wave", "firms_asked", 1_000_000),
    ("survey_response", "job_openings", 100_000),
    ("subsidy_grant", "persons", 100),
    ("subsidy_grant", "amount_yen", 1_000_000_000),
    ("coworking_tally", "users", 10_000_000),
    ("coworking_tally", "work_use", 10_000_000),
    ("exchange_meeting", "participants", 100_000),
    ("exchange_meeting", "from_outside_city", 100_000),
    ("workation_participation", "participants", 100_000),
    ("publication", "count", 100_000),
    ("monitor_tour", "firms", 10_000),
    ("opening_figure", "value.persons", 10_000_000),
    ("opening_figure", "value.firms", 1_000_000),
    ("opening_figure", "value.households", 1_000_000),
    ("opening_figure", "value.organisations", 100_000),
    ("opening_figure", "value.times", 1_000_000),
    ("opening_figure", "value.percent", 100),
    ("declared_total", "count", 10_000),
];

/// The largest plausible value of every count field, by event kind and field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds {
    /// kind name -> field path -> maximum. Holds exactly the paths of [`DEFAULTS`].
    maxima: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
}

impl Default for Bounds {
    fn default() -> Self {
        let mut maxima: BTreeMap<&'static str, BTreeMap<&'static str, u64>> = BTreeMap::new();
        for &(kind, field, max) in DEFAULTS {
            maxima.entry(kind).or_default().insert(field, max);
        }
        Bounds { maxima }
    }
}

impl Bounds {
    /// The bound of `field` (a dotted path; `value.<unit>` for an opening figure) of events
    /// of `kind`, if it has one.
    pub fn max(&self, kind: &str, field: &str) -> Option<u64> {
        self.maxima.get(kind)?.get(field).copied()
    }

    /// Changes one bound. Only the fields that have a default bound can be set; the error
    /// names the known kinds or fields.
    pub fn set(&mut self, kind: &str, field: &str, max: u64) -> Result<(), String> {
        let known_kinds = self.maxima.keys().copied().collect::<Vec<_>>().join(", ");
        let Some(fields) = self.maxima.get_mut(kind) else {
            let reason = if EventKind::from_name(kind).is_some() {
                format!("`{kind}` has no count field to bound")
            } else {
                format!("`{kind}` is not an event kind")
            };
            return Err(format!("{reason}; the kinds with bounds are {known_kinds}"));
        };
        match fields.get_mut(field) {
            Some(bound) => {
                *bound = max;
                Ok(())
            }
            None => Err(format!(
                "`{field}` is not a count field of `{kind}`; its bounded fields are {}",
                fields.keys().copied().collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// [`Bounds::set`] by value, for building bounds in one expression.
    pub fn with(mut self, kind: &str, field: &str, max: u64) -> Result<Self, String> {
        self.set(kind, field, max)?;
        Ok(self)
    }

    /// Every bound: (kind, field path, maximum), in kind then field order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> + '_ {
        self.maxima
            .iter()
            .flat_map(|(kind, fields)| fields.iter().map(move |(field, max)| (*kind, *field, *max)))
    }
}

impl LedgerEvent {
    /// Refuses a count above its plausible maximum, naming the field, the bound and the
    /// configuration key that changes it. A correction's replacement is checked as the event
    /// it stands for (`replacement.<field>`).
    pub fn check_bounds(&self, bounds: &Bounds) -> Result<(), ValidationError> {
        if let LedgerEvent::Correction(correction) = self {
            return correction
                .replacement
                .check_bounds(bounds)
                .map_err(|error| error.nested_in("replacement"));
        }
        let info = LedgerEvent::kind_info(self.kind());
        for field in info.fields.iter().filter(|field| field.ty.is_numeric()) {
            let Some(value) = field.get.and_then(|get| get(self)) else {
                continue;
            };
            let (path, unit) = match self {
                LedgerEvent::OpeningFigure(figure) => {
                    (format!("{}.{}", field.name, figure.unit), Some(figure.unit))
                }
                _ => (field.name.to_owned(), None),
            };
            let Some(max) = bounds.max(info.name, &path) else {
                continue;
            };
            let above = match value {
                FieldValue::Int(value) => value > max,
                FieldValue::Decimal(value) => value > Decimal::from(max),
                FieldValue::Bool(_) | FieldValue::Str(_) => false,
            };
            if above {
                return Err(ValidationError::new(
                    field.name,
                    format!(
                        "{} is above the plausible maximum {max} for {}{} (configure \
                         ledger.bounds.{}.{path} if such a figure is real)",
                        Shown(value),
                        with_article(&info.name.replace('_', " ")),
                        unit.map_or_else(String::new, |unit: Unit| format!(" in {unit}")),
                        info.name,
                    ),
                ));
            }
        }
        Ok(())
    }
}

struct Shown<'a>(FieldValue<'a>);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            FieldValue::Int(value) => value.fmt(f),
            FieldValue::Decimal(value) => value.fmt(f),
            FieldValue::Bool(value) => value.fmt(f),
            FieldValue::Str(value) => value.fmt(f),
        }
    }
}

fn with_article(words: &str) -> String {
    let article = if words.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {words}")
}

/// One level of the configuration table: a maximum, or more path segments.
enum Node {
    Max(u64),
    Table(BTreeMap<String, Node>),
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Max(max) => serializer.serialize_u64(*max),
            Node::Table(table) => table.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number (the maximum) or a table of fields")
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Node, E> {
                Ok(Node::Max(value))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Node, E> {
                u64::try_from(value)
                    .map(Node::Max)
                    .map_err(|_| E::custom(format!("a bound must not be negative, not {value}")))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Node, E> {
                value.trim().parse().map(Node::Max).map_err(|_| {
                    E::custom(format!("`{value}` is not a whole number of at least 0"))
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut table = BTreeMap::new();
                while let Some((key, node)) = map.next_entry::<String, Node>()? {
                    table.insert(key, node);
                }
                Ok(Node::Table(table))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// Every (dotted path, maximum) below `node`.
fn flatten(prefix: &str, node: Node, out: &mut Vec<(String, u64)>) {
    match node {
        Node::Max(max) => out.push((prefix.to_owned(), max)),
        Node::Table(table) => {
            for (key, child) in table {
                let path = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, child, out);
            }
        }
    }
}

impl Serialize for Bounds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let defaults = Bounds::default();
        let mut kinds: BTreeMap<String, Node> = BTreeMap::new();
        for (kind, field, max) in self.iter() {
            if defaults.max(kind, field) == Some(max) {
                continue;
            }
            let mut node = kinds
                .entry(kind.to_owned())
                .or_insert_with(|| Node::Table(BTreeMap::new()));
            let mut segments = field.split('.').peekable();
            while let Some(segment) = segments.next() {
                let Node::Table(table) = node else {
                    unreachable!("bounded paths are never prefixes of each other")
                };
                node = if segments.peek().is_some() {
                    table
                        .entry(segment.to_owned())
                        .or_insert_with(|| Node::Table(BTreeMap::new()))
                } else {
                    table.entry(segment.to_owned()).or_insert(Node::Max(max))
                };
            }
        }
        kinds.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Bounds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let kinds = BTreeMap::<String, Node>::deserialize(deserializer)?;
        let mut bounds = Bounds::default();
        for (kind, node) in kinds {
            if let Node::Max(_) = node {
                return Err(de::Error::custom(format!(
                    "`{kind}` must be a table of its fields' bounds, e.g. [ledger.bounds.{kind}]"
                )));
            }
            let mut fields = Vec::new();
            flatten("", node, &mut fields);
            let mut seen = std::collections::BTreeSet::new();
            for (field, max) in fields {
                if !seen.insert(field.clone()) {
                    return Err(de::Error::custom(format!(
                        "the bound of `{kind}.{field}` is given twice"
                    )));
                }
                bounds
                    .set(&kind, &field, max)
                    .map_err(|reason| de::Error::custom(format!("bounds: {reason}")))?;
            }
        }
        Ok(bounds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::FieldType;

    /// Every count field of every activity kind has a default bound, and every default bounds
    /// a real count field: a kind or field added to the catalogue cannot go unbounded.
    #[test]
    fn every_count_field_of_the_catalogue_has_a_default_bound() {
        let bounds = Bounds::default();
        let mut expected = Vec::new();
        for info in LedgerEvent::catalogue() {
            for field in info.fields.iter().filter(|field| field.ty.is_numeric()) {
                if field.ty == FieldType::Decimal {
                    for unit in Unit::ALL {
                        expected.push((info.name, format!("{}.{unit}", field.name)));
                    }
                } else {
                    expected.push((info.name, field.name.to_owned()));
                }
            }
        }
        let mut actual: Vec<(&str, String)> = bounds
            .iter()
            .map(|(kind, field, _)| (kind, field.to_owned()))
            .collect();
        expected.sort();
        actual.sort();
        assert_eq!(actual, expected);
        for (kind, field, max) in bounds.iter() {
            assert!(max > 0, "{kind}.{field}");
        }
        assert_eq!(bounds.max("opening_figure", "value.percent"), Some(100));
    }

    #[test]
    fn a_count_above_its_bound_is_refused_naming_field_bound_and_key() {
        let seminar = LedgerEvent::parse(
            "seminar",
            &serde_json::json!({
                "title": "DX人材育成セミナー", "organiser": "DX・テレワーク推進センター",
                "first_date": "2024-10-10", "sessions": 1,
                "participants": { "unique": 1_000_000_000u64, "attendances": 1_000_000_000u64 },
                "status": "held"
            }),
        )
        .unwrap();
        let error = seminar.check_bounds(&Bounds::default()).unwrap_err();
        assert_eq!(error.field, "participants.unique");
        assert_eq!(
            error.reason,
            "1000000000 is above the plausible maximum 100000 for a seminar (configure \
             ledger.bounds.seminar.participants.unique if such a figure is real)"
        );
        let raised = Bounds::default()
            .with("seminar", "participants.unique", 2_000_000_000)
            .unwrap()
            .with("seminar", "participants.attendances", 2_000_000_000)
            .unwrap();
        seminar.check_bounds(&raised).unwrap();

        let figure = LedgerEvent::parse(
            "opening_figure",
            &serde_json::json!({
                "measure": "coworking_users", "fiscal_year": "R3", "value": "20000000",
                "unit": "persons", "source": "R6 report, KPI table"
            }),
        )
        .unwrap();
        let error = figure.check_bounds(&Bounds::default()).unwrap_err();
        assert_eq!(error.field, "value");
        assert!(
            error
                .reason
                .contains("maximum 10000000 for an opening figure in persons"),
            "{}",
            error.reason
        );
        assert!(error
            .reason
            .contains("ledger.bounds.opening_figure.value.persons"));
    }

    #[test]
    fn a_correction_is_bounded_by_its_replacement() {
        let correction = LedgerEvent::parse(
            "correction",
            &serde_json::json!({
                "target": "0190a1b2-0000-7000-8000-000000000001", "target_type": "consultation",
                "replacement": { "provider": "DX相談", "persons": 2_000_000_000u64,
                                 "period": { "from": "2024-04-01", "to": "2025-03-31" } },
                "reason": "typo", "decided_on": "2025-04-10"
            }),
        )
        .unwrap();
        let error = correction.check_bounds(&Bounds::default()).unwrap_err();
        assert_eq!(error.field, "replacement.persons");
        assert!(error.reason.contains("maximum 100000 for a consultation"));
    }

    #[test]
    fn configuration_changes_defaults_nested_or_dotted_and_refuses_unknown_names() {
        let read = |json: serde_json::Value| serde_json::from_value::<Bounds>(json);
        let bounds = read(serde_json::json!({
            "seminar": { "participants": { "unique": 5000 }, "capacity": "300" },
            "opening_figure": { "value.persons": 42 }
        }))
        .unwrap();
        assert_eq!(bounds.max("seminar", "participants.unique"), Some(5000));
        assert_eq!(bounds.max("seminar", "capacity"), Some(300));
        assert_eq!(bounds.max("seminar", "sessions"), Some(1_000));
        assert_eq!(bounds.max("opening_figure", "value.persons"), Some(42));
        // Written back as the changes only, nested: reading them again gives the same.
        let written = serde_json::to_value(&bounds).unwrap();
        assert_eq!(
            written,
            serde_json::json!({
                "opening_figure": { "value": { "persons": 42 } },
                "seminar": { "capacity": 300, "participants": { "unique": 5000 } }
            })
        );
        assert_eq!(read(written).unwrap(), bounds);
        assert_eq!(
            serde_json::to_value(Bounds::default()).unwrap(),
            serde_json::json!({})
        );

        let error = read(serde_json::json!({ "seminr": { "sessions": 3 } })).unwrap_err();
        assert!(
            error.to_string().contains("`seminr` is not an event kind"),
            "{error}"
        );
        assert!(error.to_string().contains("seminar"), "{error}");
        let error = read(serde_json::json!({ "retraction": { "x": 3 } })).unwrap_err();
        assert!(error.to_string().contains("no count field"), "{error}");
        let error =
            read(serde_json::json!({ "seminar": { "participants": { "uniq": 3 } } })).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`participants.uniq` is not a count field of `seminar`"),
            "{error}"
        );
        assert!(error.to_string().contains("participants.unique"), "{error}");
        let error = read(serde_json::json!({ "seminar": { "sessions": -1 } })).unwrap_err();
        assert!(error.to_string().contains("negative"), "{error}");
        let error = read(serde_json::json!({
            "seminar": { "participants": { "unique": 1 }, "participants.unique": 2 }
        }))
        .unwrap_err();
        assert!(error.to_string().contains("given twice"), "{error}");
    }
}
