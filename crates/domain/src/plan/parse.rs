//! Reading a plan from TOML (and a KPI or an event selector alone): the file's shape, then
//! every rule a definition must meet, each refusal naming its place in the document.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::model::{
    AchievementRule, Aggregation, Filter, KpiDefinition, LocalizedText, Pillar, PlanDefinition,
    PlanError, PlanPeriod, Series, SourceDefinition, SourceMeasure, Target, TargetKind,
};
use super::rounding::{Rounding, RoundingMode};
use crate::calendar::FiscalYear;
use crate::kind::EventKind;
use crate::values::{Code, Unit};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanToml {
    id: String,
    name: LocalizedText,
    period: PeriodToml,
    #[serde(default)]
    pillars: Vec<PillarToml>,
    #[serde(default)]
    kpis: Vec<KpiToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodToml {
    first: String,
    last: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PillarToml {
    id: String,
    name: LocalizedText,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KpiToml {
    id: String,
    #[serde(default)]
    series: Series,
    pillar: String,
    #[serde(default)]
    category: Option<LocalizedText>,
    name: LocalizedText,
    unit: Unit,
    #[serde(default)]
    target: Option<TargetToml>,
    aggregation: Aggregation,
    #[serde(default)]
    value_rounding: Option<Rounding>,
    #[serde(default)]
    cumulative: bool,
    #[serde(default)]
    achievement: Option<AchievementToml>,
    sources: Vec<SourceToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetToml {
    value: String,
    kind: TargetKind,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AchievementToml {
    show: bool,
    #[serde(default)]
    decimals: Option<u32>,
    #[serde(default)]
    rounding: Option<RoundingMode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceToml {
    event: String,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    count: bool,
    #[serde(default)]
    share_of: Option<String>,
    #[serde(default)]
    group_by: Option<String>,
    #[serde(default, rename = "where")]
    filters: BTreeMap<String, FilterValues>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FilterValues {
    One(String),
    Many(Vec<String>),
    Flag(bool),
}

/// How a KPI source may use a field of an event kind: the event catalogue's answer, asked
/// while a definition is read. Plans do not import the catalogue: the reader is handed a
/// [`FieldLookup`], and `crate::event::sources` hands in the catalogue's for
/// `PlanDefinition::from_toml` and the other public readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceField {
    /// The kind has no such field.
    Missing,
    /// The field exists but a source cannot read it.
    Unreadable,
    /// A number a source may sum.
    Number,
    /// true/false, for `share_of`.
    Flag,
    /// Readable for `where` and `group_by` only.
    Other,
}

/// The event catalogue as a plan reader asks it.
pub(crate) type FieldLookup = fn(EventKind, &str) -> SourceField;

/// Parses and checks a plan: every source must name an event type and fields that exist (in
/// `fields`) and fit its row's aggregation.
pub(crate) fn read_plan(text: &str, fields: FieldLookup) -> Result<PlanDefinition, PlanError> {
    let raw: PlanToml =
        toml::from_str(text).map_err(|error| PlanError::new("document", error.to_string()))?;
    let id = Code::parse(&raw.id).map_err(|reason| PlanError::new("id", reason))?;
    let year = |path: &str, text: &str| {
        text.parse::<FiscalYear>()
            .map_err(|error| PlanError::new(path, error.to_string()))
    };
    let period = PlanPeriod {
        first: year("period.first", &raw.period.first)?,
        last: year("period.last", &raw.period.last)?,
    };
    if period.last < period.first {
        return Err(PlanError::new(
            "period.last",
            "must not be before period.first",
        ));
    }
    let mut pillars: Vec<Pillar> = Vec::new();
    for (index, pillar) in raw.pillars.into_iter().enumerate() {
        if pillars.iter().any(|known| known.id == pillar.id) {
            return Err(PlanError::new(
                format!("pillars[{index}].id"),
                format!("pillar `{}` is defined twice", pillar.id),
            ));
        }
        pillars.push(Pillar {
            id: pillar.id,
            name: pillar.name,
        });
    }
    let mut kpis: Vec<KpiDefinition> = Vec::new();
    for (index, kpi) in raw.kpis.into_iter().enumerate() {
        let path = format!("kpis[{index}]");
        let definition = kpi_from_toml(&path, kpi, Some(&pillars), fields)?;
        if kpis
            .iter()
            .any(|known| known.id == definition.id && known.series == definition.series)
        {
            return Err(PlanError::new(
                format!("{path}.id"),
                format!(
                    "KPI {} ({}) is defined twice",
                    definition.id,
                    definition.series.as_str()
                ),
            ));
        }
        kpis.push(definition);
    }
    for (index, kpi) in kpis.iter().enumerate() {
        if kpi.series == Series::B
            && !kpis
                .iter()
                .any(|main| main.id == kpi.id && main.series == Series::Main)
        {
            return Err(PlanError::new(
                format!("kpis[{index}].series"),
                format!("a b-series row needs a main row for KPI {}", kpi.id),
            ));
        }
    }
    Ok(PlanDefinition {
        id,
        name: raw.name,
        period,
        pillars,
        kpis,
        transfer: None,
    })
}

/// `pillars`: `None` when the KPI is read alone (a KPI added by a lifecycle event), whose
/// pillar the plan checks when the event is applied.
fn kpi_from_toml(
    path: &str,
    kpi: KpiToml,
    pillars: Option<&[Pillar]>,
    fields: FieldLookup,
) -> Result<KpiDefinition, PlanError> {
    if kpi.id.trim().is_empty() {
        return Err(PlanError::new(format!("{path}.id"), "must not be empty"));
    }
    if let Err(reason) = Code::parse(&kpi.id) {
        return Err(PlanError::new(format!("{path}.id"), reason));
    }
    if pillars.is_some_and(|pillars| !pillars.iter().any(|pillar| pillar.id == kpi.pillar)) {
        return Err(PlanError::new(
            format!("{path}.pillar"),
            format!("pillar `{}` is not defined", kpi.pillar),
        ));
    }
    let target = match kpi.target {
        None => None,
        Some(target) => {
            let value: Decimal = target.value.trim().parse().map_err(|_| {
                PlanError::new(
                    format!("{path}.target.value"),
                    format!("`{}` is not a decimal number", target.value),
                )
            })?;
            if value <= Decimal::ZERO {
                return Err(PlanError::new(
                    format!("{path}.target.value"),
                    "must be greater than 0",
                ));
            }
            Some(Target {
                value,
                kind: target.kind,
            })
        }
    };
    let rate_target = matches!(
        target,
        Some(Target {
            kind: TargetKind::Rate,
            ..
        })
    );
    if rate_target != (kpi.aggregation == Aggregation::LatestRate) && target.is_some() {
        return Err(PlanError::new(
            format!("{path}.target.kind"),
            "a rate target goes with aggregation \"latest_rate\", and only with it",
        ));
    }
    if kpi.cumulative && kpi.aggregation != Aggregation::Sum {
        return Err(PlanError::new(
            format!("{path}.cumulative"),
            "only a \"sum\" row has a cumulative",
        ));
    }
    let achievement = match kpi.achievement {
        None => AchievementRule {
            show: false,
            rounding: Rounding::default(),
        },
        Some(rule) => {
            if rule.show && target.is_none() {
                return Err(PlanError::new(
                    format!("{path}.achievement.show"),
                    "achievement needs a target",
                ));
            }
            AchievementRule {
                show: rule.show,
                rounding: Rounding {
                    mode: rule.rounding.unwrap_or_default(),
                    decimals: rule.decimals.unwrap_or(1),
                },
            }
        }
    };
    if matches!(
        target,
        Some(Target {
            kind: TargetKind::Cumulative,
            ..
        })
    ) && achievement.show
        && !kpi.cumulative
    {
        return Err(PlanError::new(
            format!("{path}.cumulative"),
            "a cumulative target's achievement is computed from the cumulative; set cumulative = true",
        ));
    }
    if kpi.sources.is_empty() {
        return Err(PlanError::new(
            format!("{path}.sources"),
            "a KPI needs at least one source",
        ));
    }
    let sources = kpi
        .sources
        .into_iter()
        .enumerate()
        .map(|(index, source)| {
            source_from_toml(
                &format!("{path}.sources[{index}]"),
                source,
                kpi.aggregation,
                fields,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(KpiDefinition {
        id: kpi.id,
        series: kpi.series,
        pillar: kpi.pillar,
        category: kpi.category,
        name: kpi.name,
        unit: kpi.unit,
        target,
        aggregation: kpi.aggregation,
        value_rounding: kpi.value_rounding.unwrap_or_default(),
        show_cumulative: kpi.cumulative,
        achievement,
        sources,
        last_year: None,
    })
}

fn source_from_toml(
    path: &str,
    source: SourceToml,
    aggregation: Aggregation,
    fields: FieldLookup,
) -> Result<SourceDefinition, PlanError> {
    let event = EventKind::from_name(&source.event).ok_or_else(|| {
        PlanError::new(
            format!("{path}.event"),
            format!("`{}` is not an event type", source.event),
        )
    })?;
    if event.is_amendment() {
        return Err(PlanError::new(
            format!("{path}.event"),
            "corrections and retractions change other events' contributions; select the \
             activity's own type",
        ));
    }
    if event.is_lifecycle() {
        return Err(PlanError::new(
            format!("{path}.event"),
            "plan lifecycle events change definitions, they are not activities to count",
        ));
    }
    let readable = |field_path: &str, name: &str| -> Result<SourceField, PlanError> {
        match fields(event, name) {
            SourceField::Unreadable => Err(PlanError::new(
                field_path,
                format!("field `{name}` of {} cannot be selected", event.name()),
            )),
            SourceField::Missing => Err(PlanError::new(
                field_path,
                format!("{} has no field `{name}`", event.name()),
            )),
            readable => Ok(readable),
        }
    };
    let chosen = [
        source.field.is_some(),
        source.count,
        source.share_of.is_some(),
    ]
    .into_iter()
    .filter(|chosen| *chosen)
    .count();
    if chosen != 1 {
        return Err(PlanError::new(
            path,
            "give exactly one of `field`, `count = true` or `share_of`",
        ));
    }
    let measure = if let Some(field) = source.field {
        if readable(&format!("{path}.field"), &field)? != SourceField::Number {
            return Err(PlanError::new(
                format!("{path}.field"),
                format!("field `{field}` is not a number"),
            ));
        }
        SourceMeasure::Field(field)
    } else if source.count {
        SourceMeasure::Count
    } else {
        let field = source.share_of.expect("one measure was chosen");
        if readable(&format!("{path}.share_of"), &field)? != SourceField::Flag {
            return Err(PlanError::new(
                format!("{path}.share_of"),
                format!("field `{field}` is not true/false"),
            ));
        }
        if let Some(group) = &source.group_by {
            readable(&format!("{path}.group_by"), group)?;
        }
        SourceMeasure::ShareOf {
            field,
            group_by: source.group_by.clone(),
        }
    };
    if source.group_by.is_some() && !matches!(measure, SourceMeasure::ShareOf { .. }) {
        return Err(PlanError::new(
            format!("{path}.group_by"),
            "only a `share_of` source is grouped",
        ));
    }
    match (&measure, aggregation) {
        (SourceMeasure::ShareOf { .. }, Aggregation::Sum) => {
            return Err(PlanError::new(
                format!("{path}.share_of"),
                "a share is a rate: use it in a \"latest_rate\" row",
            ))
        }
        (SourceMeasure::Count, Aggregation::LatestRate) => {
            return Err(PlanError::new(
                format!("{path}.count"),
                "a count is not a rate: use `share_of`, or a percentage `field`",
            ))
        }
        _ => {}
    }
    let mut filters = Vec::new();
    for (field, values) in source.filters {
        let filter_path = format!("{path}.where.{field}");
        readable(&filter_path, &field)?;
        let one_of = match values {
            FilterValues::One(value) => vec![value],
            FilterValues::Many(values) => values,
            FilterValues::Flag(flag) => vec![flag.to_string()],
        };
        if one_of.is_empty() {
            return Err(PlanError::new(filter_path, "needs at least one value"));
        }
        filters.push(Filter { field, one_of });
    }
    Ok(SourceDefinition {
        event,
        measure,
        filters,
    })
}

/// One KPI written as the body of a `[[kpis]]` table; its pillar is checked when it joins a
/// plan.
pub(crate) fn read_kpi(text: &str, fields: FieldLookup) -> Result<KpiDefinition, PlanError> {
    let raw: KpiToml =
        toml::from_str(text).map_err(|error| PlanError::new("document", error.to_string()))?;
    kpi_from_toml("kpi", raw, None, fields)
}

/// An event selector in the plan-file source form, given as JSON, summed per fiscal year.
pub(crate) fn read_selector(
    path: &str,
    value: &serde_json::Value,
    fields: FieldLookup,
) -> Result<SourceDefinition, PlanError> {
    let raw =
        SourceToml::deserialize(value).map_err(|error| PlanError::new(path, error.to_string()))?;
    source_from_toml(path, raw, Aggregation::Sum, fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        id = "p"
        name = { ja = "計画", en = "Plan" }
        period = { first = "R3", last = "R7" }
        pillars = [{ id = "1", name = { ja = "柱", en = "Pillar" } }]
        [[kpis]]
        id = "1"
        pillar = "1"
        name = { ja = "参加者", en = "Participants" }
        unit = "persons"
        target = { value = "100", kind = "cumulative" }
        aggregation = "sum"
        cumulative = true
        achievement = { show = true }
        sources = [{ event = "seminar", field = "participants.unique" }]
    "#;

    fn broken(from: &str, to: &str) -> PlanError {
        let text = MINIMAL.replacen(from, to, 1);
        assert_ne!(text, MINIMAL, "replacement of {from:?} must apply");
        PlanDefinition::from_toml(&text).unwrap_err()
    }

    #[test]
    fn a_minimal_plan_parses() {
        let plan = PlanDefinition::from_toml(MINIMAL).unwrap();
        assert_eq!(plan.period.len(), 5);
        assert_eq!(plan.period.column(FiscalYear::new(2024).unwrap()), Some(3));
        assert_eq!(plan.period.column(FiscalYear::new(2026).unwrap()), None);
        assert_eq!(
            plan.kpis[0].achievement.rounding,
            Rounding::HALF_UP_ONE_DECIMAL
        );
    }

    #[test]
    fn bad_definitions_name_the_place() {
        assert_eq!(
            broken("\"seminar\"", "\"party\"").path,
            "kpis[0].sources[0].event"
        );
        assert_eq!(
            broken("participants.unique", "participants.everyone").path,
            "kpis[0].sources[0].field"
        );
        assert_eq!(
            broken("participants.unique", "title").path,
            "kpis[0].sources[0].field"
        );
        assert_eq!(broken("last = \"R7\"", "last = \"R2\"").path, "period.last");
        assert_eq!(
            broken("pillar = \"1\"", "pillar = \"9\"").path,
            "kpis[0].pillar"
        );
        assert_eq!(broken("\"100\"", "\"0\"").path, "kpis[0].target.value");
        assert_eq!(
            broken("cumulative = true", "cumulative = false").path,
            "kpis[0].cumulative"
        );
        assert_eq!(
            broken("field = \"participants.unique\"", "share_of = \"status\"").path,
            "kpis[0].sources[0].share_of"
        );
        assert_eq!(
            broken(
                "field = \"participants.unique\" }",
                "field = \"sessions\", where = { colour = \"red\" } }"
            )
            .path,
            "kpis[0].sources[0].where.colour"
        );
        assert_eq!(
            broken("unit = \"persons\"", "unit = \"yen\"").path,
            "document"
        );
        assert_eq!(
            broken("\"seminar\"", "\"retraction\"").path,
            "kpis[0].sources[0].event"
        );
    }
}
