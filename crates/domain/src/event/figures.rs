//! Figures taken from documents: yearly totals from a published table (opening figures) and
//! the counts a document claims (declared totals), which the audit compares with the records.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::catalogue::{code, count};
use super::payload::EventPayload;
use super::{EventKind, FieldInfo, FieldValue, StreamRule};
use crate::calendar::FiscalYear;
use crate::error::ValidationError;
use crate::values::{Code, Count, Quantity, Text, Unit};

/// A yearly total taken from a published table, for years without individual records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpeningFigure {
    pub measure: Code,
    pub fiscal_year: FiscalYear,
    pub value: Quantity,
    pub unit: Unit,
    /// Which document and table the figure comes from.
    pub source: Text,
}

impl EventPayload for OpeningFigure {
    const LABEL: super::Label = super::Label {
        ja: "公表済みの年度値",
        en: "Opening figure",
    };
    const SUMMARY_JA: &'static str = "個別の記録がない年度の、公表された表の年度合計。";
    const SUMMARY: &'static str =
        "A yearly total from a published table, for years without individual records.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("measure", Code, true, "What was measured; plans select figures by it.", "測定項目" / "Measure", "計画が選ぶ測定項目の識別子。", |e| code(&e.measure)),
        field!("fiscal_year", FiscalYear, true, "Fiscal year of the figure.", "年度" / "Fiscal year", "計上する年度。R6、令和6年度、2024 のどれでも。"),
        field!("value", Decimal, true, "The figure, exact; a string such as \"29.0\" or an integer.", "値" / "Value", "正確な値（例 29.0）。", |e| Some(FieldValue::Decimal(e.value.get()))),
        field!("unit", Unit, true, "persons, firms, households, organisations, times or percent.", "単位" / "Unit", "人、社、世帯、団体、回、%。", |e| Some(FieldValue::Str(e.unit.as_str()))),
        field!("source", Text, true, "Document and table the figure comes from.", "出典" / "Source", "数値の出典（資料と表）。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        if self.unit == Unit::Percent && self.value.get() > rust_decimal::Decimal::ONE_HUNDRED {
            return Err(
                ValidationError::new("value", "a percentage must be at most 100")
                    .ja("割合は100以下にしてください"),
            );
        }
        if self.unit != Unit::Percent && !self.value.get().fract().is_zero() {
            return Err(ValidationError::new(
                "value",
                format!("a count of {} must be a whole number", self.unit),
            )
            .ja(format!("{} の数は整数にしてください", self.unit)));
        }
        Ok(())
    }

    fn occurred_on(&self) -> NaiveDate {
        self.fiscal_year.last_day()
    }

    fn title(&self) -> Option<&str> {
        Some(self.source.as_str())
    }

    fn fiscal_year(&self) -> FiscalYear {
        self.fiscal_year
    }

    fn stream_id(&self) -> Option<String> {
        Some(format!(
            "opening-figure/{}/{}",
            self.measure,
            self.fiscal_year.start_year()
        ))
    }

    /// A published yearly figure is entered once.
    fn stream_rule(&self) -> StreamRule {
        StreamRule::MustBeNew
    }
}

/// A total some document claims, kept so the audit can compare it with the records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredTotal {
    /// The event type the claim counts (`seminar` or `skill_training`).
    pub of: Code,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organiser: Option<Text>,
    pub fiscal_year: FiscalYear,
    pub count: Count,
    pub source: Text,
}

impl EventPayload for DeclaredTotal {
    const LABEL: super::Label = super::Label {
        ja: "資料上の件数",
        en: "Declared total",
    };
    const SUMMARY_JA: &'static str = "資料が示す件数。監査で記録と突き合わせる。";
    const SUMMARY: &'static str =
        "A total a document claims, compared with the records by the audit.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("of", Code, true, "Event type counted: seminar or skill_training.", "対象の種類" / "Of", "seminar（セミナー）か skill_training（技能講習）。", |e| code(&e.of)),
        field!("organiser", Text, false, "Only activities of this organiser or department.", "主催者" / "Organiser", "この主催者・部署の活動だけを数える場合。"),
        field!("fiscal_year", FiscalYear, true, "Fiscal year.", "年度" / "Fiscal year", "計上する年度。R6、令和6年度、2024 のどれでも。"),
        field!("count", Count, true, "The claimed count.", "件数" / "Count", "資料が示す件数。", |e| count(e.count)),
        field!("source", Text, true, "Where the claim is made.", "出典" / "Source", "その件数が書かれた資料。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        match EventKind::from_name(self.of.as_str()) {
            Some(EventKind::Seminar | EventKind::SkillTraining) => Ok(()),
            _ => Err(ValidationError::new(
                "of",
                "must be `seminar` or `skill_training`: the kinds that have sessions",
            )),
        }
    }

    fn occurred_on(&self) -> NaiveDate {
        self.fiscal_year.last_day()
    }

    fn title(&self) -> Option<&str> {
        Some(self.source.as_str())
    }

    fn fiscal_year(&self) -> FiscalYear {
        self.fiscal_year
    }

    fn stream_id(&self) -> Option<String> {
        Some(format!(
            "declared-total/{}/{}",
            self.of,
            self.fiscal_year.start_year()
        ))
    }
}
