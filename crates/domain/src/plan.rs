//! Plans and their KPIs, as data (`config/plans/*.toml`).
//!
//! A KPI row names its unit, target, how yearly values are aggregated, and the *sources*
//! that feed it: an event type, what to take from each event (a numeric field, a count of
//! events, or the share of `true` answers of a boolean field), and optional filters on
//! payload fields. No KPI number appears in code, so a successor plan can re-project the
//! same events under its own definitions.
//!
//! ```toml
//! id = "telework-roadmap"
//! period = { first = "R3", last = "R7" }
//! name = { ja = "富士市テレワーク推進ロードマップ", en = "Fuji City Telework Promotion Roadmap" }
//!
//! [[pillars]]
//! id = "1"
//! name = { ja = "市内企業へのテレワーク導入の促進と支援", en = "Telework in local firms" }
//!
//! [[kpis]]
//! id = "2"                      # series = "main" by default; "b" for the bracketed rows
//! pillar = "1"
//! name = { ja = "セミナー・相談会参加者", en = "Seminar and consultation participants" }
//! unit = "persons"
//! target = { value = "1000", kind = "cumulative" }
//! aggregation = "sum"           # or "latest_rate"
//! cumulative = true             # show the period total
//! achievement = { show = true } # decimals = 1, rounding = "half_up" by default
//! sources = [
//!   { event = "seminar", field = "participants.unique" },
//!   { event = "consultation", field = "persons" },
//!   { event = "opening_figure", field = "value", where = { measure = "seminar_consultation_participants" } },
//! ]
//! ```
//!
//! Source forms: `field = "<numeric field>"` sums the field; `count = true` counts events;
//! `share_of = "<bool field>"` (with `group_by`) gives the percentage of `true` answers per
//! group, for `latest_rate` rows. `where` maps a field to a value or a list of accepted values.
//! Opening figures carry a unit; a figure in another unit than the row's is shown but never
//! summed into the cumulative.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::calendar::FiscalYear;
use crate::event::{EventKind, FieldGetter, FieldType, LedgerEvent};
use crate::values::{Code, Unit};

/// A plan definition that could not be used: where in the document, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plan definition, {path}: {reason}")]
pub struct PlanError {
    pub path: String,
    pub reason: String,
}

impl PlanError {
    fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// A name in both languages of the city's documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalizedText {
    pub ja: String,
    pub en: String,
}

/// The fiscal years a plan runs, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlanPeriod {
    pub first: FiscalYear,
    pub last: FiscalYear,
}

impl PlanPeriod {
    pub fn years(self) -> Vec<FiscalYear> {
        FiscalYear::range_inclusive(self.first, self.last).collect()
    }

    pub fn len(self) -> usize {
        self.first.years_until(self.last).unwrap_or(0) + 1
    }

    pub fn is_empty(self) -> bool {
        false
    }

    /// Column of a fiscal year in the plan's table, if inside the period.
    pub fn column(self, year: FiscalYear) -> Option<usize> {
        if year > self.last {
            return None;
        }
        self.first.years_until(year)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pillar {
    pub id: String,
    pub name: LocalizedText,
}

/// Main row, or the bracketed secondary row (4b, 5b, 9b).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Series {
    #[default]
    Main,
    B,
}

impl Series {
    pub fn as_str(self) -> &'static str {
        match self {
            Series::Main => "main",
            Series::B => "b",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// Reach the value summed over the plan period by its end.
    Cumulative,
    /// Reach the value every year.
    Annual,
    /// At least the value every year.
    AnnualMinimum,
    /// A percentage to reach.
    Rate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Target {
    pub value: Decimal,
    pub kind: TargetKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Sum of the sources' amounts per fiscal year.
    Sum,
    /// The percentage of the latest group (survey wave) of the fiscal year.
    LatestRate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RoundingMode {
    /// 四捨五入: the default of the city's tables.
    #[default]
    HalfUp,
    /// Cut off, as the report prints the survey response rate (35.48 -> 35.4).
    Truncate,
}

/// How a percentage is rounded and how many decimals it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rounding {
    #[serde(default)]
    pub mode: RoundingMode,
    #[serde(default = "one_decimal")]
    pub decimals: u32,
}

fn one_decimal() -> u32 {
    1
}

impl Default for Rounding {
    fn default() -> Self {
        Self {
            mode: RoundingMode::HalfUp,
            decimals: 1,
        }
    }
}

impl Rounding {
    pub const HALF_UP_ONE_DECIMAL: Rounding = Rounding {
        mode: RoundingMode::HalfUp,
        decimals: 1,
    };
    pub const TRUNCATE_ONE_DECIMAL: Rounding = Rounding {
        mode: RoundingMode::Truncate,
        decimals: 1,
    };

    /// Rounds and fixes the scale, so 130 prints as "130.0" with one decimal.
    pub fn apply(self, value: Decimal) -> Decimal {
        let strategy = match self.mode {
            RoundingMode::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            RoundingMode::Truncate => RoundingStrategy::ToZero,
        };
        let mut rounded = value.round_dp_with_strategy(self.decimals, strategy);
        rounded.rescale(self.decimals);
        rounded
    }

    /// `part / whole` as a rounded percentage; `None` when `whole` is zero.
    pub fn percent(self, part: Decimal, whole: Decimal) -> Option<Decimal> {
        if whole.is_zero() {
            return None;
        }
        part.checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|scaled| scaled.checked_div(whole))
            .map(|ratio| self.apply(ratio))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AchievementRule {
    pub show: bool,
    pub rounding: Rounding,
}

/// What a source takes from each selected event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceMeasure {
    /// Sum of a numeric field; events where the optional field is absent add nothing.
    Field(String),
    /// One per event.
    Count,
    /// Percentage of events whose boolean field is true, per group.
    ShareOf {
        field: String,
        group_by: Option<String>,
    },
}

impl SourceMeasure {
    /// What is taken, in words: "sum of participants", "count", "share of practises_telework".
    pub fn describe(&self) -> String {
        match self {
            SourceMeasure::Field(field) => format!("sum of {field}"),
            SourceMeasure::Count => "count".to_owned(),
            SourceMeasure::ShareOf { field, .. } => format!("share of {field}"),
        }
    }
}

/// A condition on a payload field: its value must be one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filter {
    pub field: String,
    pub one_of: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceDefinition {
    pub event: EventKind,
    pub measure: SourceMeasure,
    pub filters: Vec<Filter>,
}

/// One row of a plan's KPI table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KpiDefinition {
    /// The plan's own number ("2").
    pub id: String,
    pub series: Series,
    pub pillar: String,
    pub category: Option<LocalizedText>,
    pub name: LocalizedText,
    pub unit: Unit,
    pub target: Option<Target>,
    pub aggregation: Aggregation,
    /// Rounding of computed rates (latest_rate rows).
    pub value_rounding: Rounding,
    pub show_cumulative: bool,
    pub achievement: AchievementRule,
    pub sources: Vec<SourceDefinition>,
    /// Set when the KPI is retired: the last fiscal year it counts; later cells stay empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_year: Option<FiscalYear>,
}

/// A plan with its period, pillars and KPI rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanDefinition {
    pub id: Code,
    pub name: LocalizedText,
    pub period: PlanPeriod,
    pub pillars: Vec<Pillar>,
    pub kpis: Vec<KpiDefinition>,
    /// Set once the plan has been transferred to a successor (a lifecycle event, never TOML).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<PlanTransfer>,
}

/// A plan's hand-over to its successor: from which fiscal year, and how each successor KPI
/// takes its baseline from the predecessor's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanTransfer {
    pub successor: Code,
    pub effective_from: FiscalYear,
    /// Log position of the transfer event: events recorded after it that still count for the
    /// predecessor are late entries.
    pub position: u64,
    pub mapping: Vec<KpiMapping>,
}

/// One KPI of the predecessor, by id and series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiRef {
    pub kpi: Code,
    #[serde(default)]
    pub series: Series,
}

impl fmt::Display for KpiRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.series {
            Series::Main => write!(f, "{}", self.kpi),
            Series::B => write!(f, "{}b", self.kpi),
        }
    }
}

/// Whether the predecessor's history becomes the successor KPI's baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryRule {
    /// The predecessor figures are the baseline and count toward the successor's cumulative
    /// and achievement.
    Counts,
    /// The successor starts from nothing; the predecessor figures are reported only.
    Ignored,
}

impl HistoryRule {
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryRule::Counts => "counts",
            HistoryRule::Ignored => "ignored",
        }
    }
}

/// How one successor KPI is fed by the predecessor: its KPIs, and event selectors read over
/// the predecessor's period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KpiMapping {
    pub successor_kpi: KpiRef,
    pub from_kpis: Vec<KpiRef>,
    pub from_events: Vec<SourceDefinition>,
    pub history: HistoryRule,
}

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

impl PlanDefinition {
    /// Parses and checks a plan: every source must name an event type and fields that exist
    /// and fit its row's aggregation.
    pub fn from_toml(text: &str) -> Result<PlanDefinition, PlanError> {
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
            let definition = kpi_from_toml(&path, kpi, Some(&pillars))?;
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

    pub fn kpi(&self, id: &str, series: Series) -> Option<&KpiDefinition> {
        self.kpis
            .iter()
            .find(|kpi| kpi.id == id && kpi.series == series)
    }

    /// The same plan running to a later fiscal year (the report extends the roadmap to R8).
    pub fn extended_to(&self, last: FiscalYear) -> Result<PlanDefinition, PlanError> {
        if last < self.period.last {
            return Err(PlanError::new(
                "period.last",
                format!(
                    "an extension must not end before the current end {}",
                    self.period.last.label()
                ),
            ));
        }
        let mut extended = self.clone();
        extended.period.last = last;
        Ok(extended)
    }
}

impl fmt::Display for PlanDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, {}-{})",
            self.name.en,
            self.id,
            self.period.first.label(),
            self.period.last.label()
        )
    }
}

/// `pillars`: `None` when the KPI is read alone (a KPI added by a lifecycle event), whose
/// pillar the plan checks when the event is applied.
fn kpi_from_toml(
    path: &str,
    kpi: KpiToml,
    pillars: Option<&[Pillar]>,
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
            source_from_toml(&format!("{path}.sources[{index}]"), source, kpi.aggregation)
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
    let info = LedgerEvent::kind_info(event);
    let readable = |field_path: &str, name: &str| -> Result<FieldType, PlanError> {
        match info.field(name) {
            Some(field) if field.get.is_some() => Ok(field.ty),
            Some(_) => Err(PlanError::new(
                field_path,
                format!("field `{name}` of {} cannot be selected", info.name),
            )),
            None => Err(PlanError::new(
                field_path,
                format!("{} has no field `{name}`", info.name),
            )),
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
        let ty = readable(&format!("{path}.field"), &field)?;
        if !ty.is_numeric() {
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
        if readable(&format!("{path}.share_of"), &field)? != FieldType::Bool {
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

/// The accessor of a source's field, resolved once when a projection is built.
impl KpiDefinition {
    /// One KPI written as the body of a `[[kpis]]` table (a KPI added to a plan in force).
    /// Its pillar is checked against the plan when the addition is applied.
    pub fn from_toml(text: &str) -> Result<KpiDefinition, PlanError> {
        let raw: KpiToml =
            toml::from_str(text).map_err(|error| PlanError::new("document", error.to_string()))?;
        kpi_from_toml("kpi", raw, None)
    }

    pub fn reference(&self) -> KpiRef {
        KpiRef {
            kpi: Code::parse(&self.id).expect("KPI ids are checked as codes when parsed"),
            series: self.series,
        }
    }
}

impl Target {
    /// A target as a lifecycle event states it; checks what a plan file's target must meet.
    pub fn checked(value: Decimal, kind: TargetKind) -> Result<Target, String> {
        if value <= Decimal::ZERO {
            return Err("must be greater than 0".to_owned());
        }
        if kind == TargetKind::Rate && value > Decimal::ONE_HUNDRED {
            return Err("a rate target must be at most 100".to_owned());
        }
        Ok(Target { value, kind })
    }
}

impl SourceDefinition {
    /// An event selector written as JSON in the plan-file source form (`{ "event": "seminar",
    /// "field": "participants.unique", "where": {...} }`), summed per fiscal year.
    pub fn from_json(path: &str, value: &serde_json::Value) -> Result<SourceDefinition, PlanError> {
        let raw = SourceToml::deserialize(value)
            .map_err(|error| PlanError::new(path, error.to_string()))?;
        source_from_toml(path, raw, Aggregation::Sum)
    }
}

pub(crate) fn getter(kind: EventKind, field: &str) -> FieldGetter {
    LedgerEvent::kind_info(kind)
        .field(field)
        .and_then(|info| info.get)
        .expect("plan definitions only hold fields checked against the catalogue")
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

    #[test]
    fn rounding_is_per_indicator_and_exact() {
        let half_up = Rounding::HALF_UP_ONE_DECIMAL;
        let truncate = Rounding::TRUNCATE_ONE_DECIMAL;
        let pct = |rounding: Rounding, part: i64, whole: i64| {
            rounding
                .percent(Decimal::from(part), Decimal::from(whole))
                .unwrap()
                .to_string()
        };
        assert_eq!(pct(half_up, 922, 800), "115.3");
        assert_eq!(pct(half_up, 16_969, 10_000), "169.7");
        assert_eq!(pct(half_up, 13, 10), "130.0");
        assert_eq!(pct(truncate, 187, 527), "35.4");
        assert_eq!(pct(half_up, 187, 527), "35.5");
        assert_eq!(pct(half_up, 67, 187), "35.8");
        let whole = Rounding {
            mode: RoundingMode::HalfUp,
            decimals: 0,
        };
        assert_eq!(pct(whole, 12, 12), "100");
        assert_eq!(half_up.percent(Decimal::ONE, Decimal::ZERO), None);
    }
}
