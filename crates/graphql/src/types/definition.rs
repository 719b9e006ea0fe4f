//! A plan's KPI rows as defined (no figures), and the pieces they share with the tables.

use async_graphql::{SimpleObject, ID};
use kpi_domain::plan::{
    LocalizedText as DomainText, Pillar as DomainPillar, Target as DomainTarget,
};

use super::{Aggregation, Series, TargetKind, Unit};
use crate::scalars::{DecimalValue, FiscalYearValue};

/// A name in both languages of the city's documents.
#[derive(SimpleObject, Debug, Clone)]
pub struct LocalizedText {
    pub ja: String,
    pub en: String,
}

impl From<&DomainText> for LocalizedText {
    fn from(text: &DomainText) -> Self {
        Self {
            ja: text.ja.clone(),
            en: text.en.clone(),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Target {
    pub value: DecimalValue,
    pub kind: TargetKind,
}

impl From<&DomainTarget> for Target {
    fn from(target: &DomainTarget) -> Self {
        Self {
            value: target.value.into(),
            kind: target.kind.into(),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Pillar {
    pub id: String,
    pub name: LocalizedText,
}

impl From<&DomainPillar> for Pillar {
    fn from(pillar: &DomainPillar) -> Self {
        Self {
            id: pillar.id.clone(),
            name: (&pillar.name).into(),
        }
    }
}

/// One KPI row of a plan, as defined (no figures).
#[derive(SimpleObject, Debug, Clone)]
pub struct Kpi {
    /// The plan's own number ("2").
    pub id: ID,
    pub series: Series,
    pub pillar: String,
    pub category: Option<LocalizedText>,
    pub name: LocalizedText,
    pub unit: Unit,
    pub target: Option<Target>,
    pub aggregation: Aggregation,
    pub show_cumulative: bool,
    pub show_achievement: bool,
    /// For a retired KPI, the last fiscal year it counts; later cells stay empty.
    pub last_year: Option<FiscalYearValue>,
}

impl From<&kpi_domain::KpiDefinition> for Kpi {
    fn from(kpi: &kpi_domain::KpiDefinition) -> Self {
        Self {
            id: ID(kpi.id.clone()),
            series: kpi.series.into(),
            pillar: kpi.pillar.clone(),
            category: kpi.category.as_ref().map(Into::into),
            name: (&kpi.name).into(),
            unit: kpi.unit.into(),
            target: kpi.target.as_ref().map(Into::into),
            aggregation: kpi.aggregation.into(),
            show_cumulative: kpi.show_cumulative,
            show_achievement: kpi.achievement.show,
            last_year: kpi.last_year.map(Into::into),
        }
    }
}
