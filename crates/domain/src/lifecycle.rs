//! Plan lifecycle events: a plan's definition changes only by events, so the definition in
//! force at any time can be read back from the log.
//!
//! Each payload is read in its wire form and then parsed (a plan's TOML text into a
//! [`PlanDefinition`], a mapping's selectors into [`SourceDefinition`]s), so an event that
//! gets past [`crate::LedgerEvent::parse`] holds a definition that parses. Whether the change
//! fits the plans in force (the KPI exists, the plan is not yet transferred, ...) is the
//! registry's rule ([`crate::registry::PlanRegistry::check`]), since it depends on other
//! events.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::calendar::FiscalYear;
use crate::error::ValidationError;
use crate::event::payload::EventPayload;
use crate::event::rules::in_valid_year;
use crate::event::{FieldInfo, StreamRule};
use crate::plan::{
    HistoryRule, KpiDefinition, KpiMapping, KpiRef, PlanDefinition, PlanError, Series,
    SourceDefinition, Target, TargetKind,
};
use crate::values::{iso_date, Code, Quantity, Text};

fn plan_error(field: &str, error: PlanError) -> ValidationError {
    ValidationError::new(field, format!("{}: {}", error.path, error.reason))
}

/// A plan adopted with its whole definition (the TOML text of a `config/plans/*.toml` file).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanAdopted {
    pub definition: String,
    #[serde(with = "iso_date")]
    pub adopted_on: NaiveDate,
    #[serde(skip)]
    pub plan: PlanDefinition,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanAdoptedWire {
    definition: String,
    #[serde(with = "iso_date")]
    adopted_on: NaiveDate,
}

/// The largest plan definition accepted: the roadmap's file is about 12 KB.
pub const MAX_DEFINITION_BYTES: usize = 256 * 1024;

fn definition_size(field: &str, text: &str) -> Result<(), ValidationError> {
    if text.len() > MAX_DEFINITION_BYTES {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_DEFINITION_BYTES} bytes"),
        ));
    }
    Ok(())
}

impl PlanAdopted {
    pub(crate) fn from_wire(wire: PlanAdoptedWire) -> Result<PlanAdopted, ValidationError> {
        definition_size("definition", &wire.definition)?;
        let plan = PlanDefinition::from_toml(&wire.definition)
            .map_err(|error| plan_error("definition", error))?;
        Ok(PlanAdopted {
            definition: wire.definition,
            adopted_on: wire.adopted_on,
            plan,
        })
    }
}

impl EventPayload for PlanAdopted {
    const LABEL: crate::event::Label = crate::event::Label {
        ja: "計画の策定",
        en: "Plan adopted",
    };
    const SUMMARY_JA: &'static str = "計画を定義ごと策定する。";
    const SUMMARY: &'static str =
        "Adopts a plan with its whole definition (plan TOML); once per plan.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("definition", Document, true, "The plan definition as TOML (format of config/plans/*.toml).", "計画定義（TOML）" / "Definition", "config/plans/*.toml と同じ形式の計画定義。"),
        field!("adopted_on", Date, true, "When the plan was adopted.", "策定日" / "Adopted on", "計画を策定した日。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        in_valid_year("adopted_on", self.adopted_on).map(|_| ())
    }

    fn occurred_on(&self) -> NaiveDate {
        self.adopted_on
    }

    fn title(&self) -> Option<&str> {
        Some(self.plan.name.ja.as_str())
    }

    fn plan_id(&self) -> Option<&Code> {
        Some(&self.plan.id)
    }

    fn stream_id(&self) -> Option<String> {
        Some(format!("plan-adoption/{}", self.plan.id))
    }

    /// A plan is adopted once.
    fn stream_rule(&self) -> StreamRule {
        StreamRule::MustBeNew
    }
}

/// A plan's period moved to a later last fiscal year (the roadmap extended to R8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanExtended {
    pub plan_id: Code,
    pub last: FiscalYear,
    #[serde(with = "iso_date")]
    pub decided_on: NaiveDate,
    pub reason: Text,
}

impl EventPayload for PlanExtended {
    const LABEL: crate::event::Label = crate::event::Label {
        ja: "計画期間の延長",
        en: "Plan extended",
    };
    const SUMMARY_JA: &'static str = "計画の最終年度を延ばす。";
    const SUMMARY: &'static str = "Moves a plan's last fiscal year later.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("plan_id", Code, true, "The plan extended.", "計画ID" / "Plan", "対象の計画の識別子。"),
        field!("last", FiscalYear, true, "The new last fiscal year, after the current one.", "新しい最終年度" / "New last year", "延長後の最終年度。"),
        field!("decided_on", Date, true, "When the extension was decided.", "決定日" / "Decided on", "決定した日。"),
        field!("reason", Text, true, "Why.", "理由" / "Reason", "なぜそうするか。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        in_valid_year("decided_on", self.decided_on).map(|_| ())
    }

    fn occurred_on(&self) -> NaiveDate {
        self.decided_on
    }

    fn title(&self) -> Option<&str> {
        Some(self.reason.as_str())
    }

    fn plan_id(&self) -> Option<&Code> {
        Some(&self.plan_id)
    }
}

/// A target as a lifecycle event states it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    pub value: Quantity,
    pub kind: TargetKind,
}

impl TargetSpec {
    pub fn target(self) -> Target {
        Target {
            value: self.value.get(),
            kind: self.kind,
        }
    }
}

/// A KPI's target replaced by a new one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiTargetRevised {
    pub plan_id: Code,
    pub kpi: Code,
    #[serde(default)]
    pub series: Series,
    pub target: TargetSpec,
    #[serde(with = "iso_date")]
    pub decided_on: NaiveDate,
    pub reason: Text,
}

impl KpiTargetRevised {
    pub fn kpi_ref(&self) -> KpiRef {
        KpiRef {
            kpi: self.kpi.clone(),
            series: self.series,
        }
    }
}

impl EventPayload for KpiTargetRevised {
    const LABEL: crate::event::Label = crate::event::Label {
        ja: "KPI目標の改定",
        en: "KPI target revised",
    };
    const SUMMARY_JA: &'static str = "KPIの目標を改める。";
    const SUMMARY: &'static str = "Replaces a KPI's target.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("plan_id", Code, true, "The plan of the KPI.", "計画ID" / "Plan", "対象の計画の識別子。"),
        field!("kpi", Code, true, "The KPI's id in its plan.", "KPI番号" / "KPI", "計画の中のKPIの番号。"),
        field!("series", Code, false, "main (default) or b.", "系列" / "Series", "main（既定）または b。"),
        field!("target", Payload, true, "The new target: { value: \"1500\", kind: cumulative|annual|annual_minimum|rate }.", "新しい目標（JSON）" / "Target", "{ value: \"1500\", kind: cumulative|annual|annual_minimum|rate }"),
        field!("decided_on", Date, true, "When the revision was decided.", "決定日" / "Decided on", "決定した日。"),
        field!("reason", Text, true, "Why.", "理由" / "Reason", "なぜそうするか。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        in_valid_year("decided_on", self.decided_on)?;
        crate::plan::Target::checked(self.target.value.get(), self.target.kind)
            .map(|_| ())
            .map_err(|reason| ValidationError::new("target.value", reason))
    }

    fn occurred_on(&self) -> NaiveDate {
        self.decided_on
    }

    fn title(&self) -> Option<&str> {
        Some(self.reason.as_str())
    }

    fn plan_id(&self) -> Option<&Code> {
        Some(&self.plan_id)
    }
}

/// A KPI added to a plan in force, written as the body of a `[[kpis]]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiAdded {
    pub plan_id: Code,
    pub definition: String,
    #[serde(with = "iso_date")]
    pub decided_on: NaiveDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
    #[serde(skip)]
    pub kpi: KpiDefinition,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KpiAddedWire {
    plan_id: Code,
    definition: String,
    #[serde(with = "iso_date")]
    decided_on: NaiveDate,
    #[serde(default)]
    reason: Option<Text>,
}

impl KpiAdded {
    pub(crate) fn from_wire(wire: KpiAddedWire) -> Result<KpiAdded, ValidationError> {
        definition_size("definition", &wire.definition)?;
        let kpi = KpiDefinition::from_toml(&wire.definition)
            .map_err(|error| plan_error("definition", error))?;
        Ok(KpiAdded {
            plan_id: wire.plan_id,
            definition: wire.definition,
            decided_on: wire.decided_on,
            reason: wire.reason,
            kpi,
        })
    }
}

impl EventPayload for KpiAdded {
    const LABEL: crate::event::Label = crate::event::Label {
        ja: "KPIの追加",
        en: "KPI added",
    };
    const SUMMARY_JA: &'static str = "計画にKPIを加える。";
    const SUMMARY: &'static str =
        "Adds a KPI to a plan in force; the definition is the body of a [[kpis]] table.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("plan_id", Code, true, "The plan the KPI joins.", "計画ID" / "Plan", "対象の計画の識別子。"),
        field!("definition", Document, true, "The KPI as TOML (the keys of a [[kpis]] entry).", "KPI定義（TOML）" / "Definition", "[[kpis]] の1項目と同じ形式。"),
        field!("decided_on", Date, true, "When the addition was decided.", "決定日" / "Decided on", "決定した日。"),
        field!("reason", Text, false, "Why.", "理由" / "Reason", "なぜそうするか。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        in_valid_year("decided_on", self.decided_on).map(|_| ())
    }

    fn occurred_on(&self) -> NaiveDate {
        self.decided_on
    }

    fn title(&self) -> Option<&str> {
        Some(self.kpi.name.ja.as_str())
    }

    fn plan_id(&self) -> Option<&Code> {
        Some(&self.plan_id)
    }
}

/// A KPI retired: it counts up to `last_year` and shows no figure after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiRetired {
    pub plan_id: Code,
    pub kpi: Code,
    #[serde(default)]
    pub series: Series,
    pub last_year: FiscalYear,
    #[serde(with = "iso_date")]
    pub decided_on: NaiveDate,
    pub reason: Text,
}

impl KpiRetired {
    pub fn kpi_ref(&self) -> KpiRef {
        KpiRef {
            kpi: self.kpi.clone(),
            series: self.series,
        }
    }
}

impl EventPayload for KpiRetired {
    const LABEL: crate::event::Label = crate::event::Label {
        ja: "KPIの廃止",
        en: "KPI retired",
    };
    const SUMMARY_JA: &'static str = "KPIを数えるのを終える。";
    const SUMMARY: &'static str =
        "Retires a KPI: it counts up to last_year and shows no figure after it.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("plan_id", Code, true, "The plan of the KPI.", "計画ID" / "Plan", "対象の計画の識別子。"),
        field!("kpi", Code, true, "The KPI's id in its plan.", "KPI番号" / "KPI", "計画の中のKPIの番号。"),
        field!("series", Code, false, "main (default) or b.", "系列" / "Series", "main（既定）または b。"),
        field!("last_year", FiscalYear, true, "The last fiscal year the KPI counts.", "最終年度" / "Last year", "KPIを数える最後の年度。"),
        field!("decided_on", Date, true, "When the retirement was decided.", "決定日" / "Decided on", "決定した日。"),
        field!("reason", Text, true, "Why.", "理由" / "Reason", "なぜそうするか。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        in_valid_year("decided_on", self.decided_on).map(|_| ())
    }

    fn occurred_on(&self) -> NaiveDate {
        self.decided_on
    }

    fn title(&self) -> Option<&str> {
        Some(self.reason.as_str())
    }

    fn plan_id(&self) -> Option<&Code> {
        Some(&self.plan_id)
    }
}

/// One entry of a transfer's mapping, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiMappingWire {
    pub successor_kpi: Code,
    #[serde(default)]
    pub series: Series,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_kpis: Vec<KpiRef>,
    /// Selectors in the plan-file source form, read over the predecessor's period.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_events: Vec<serde_json::Value>,
    pub history: HistoryRule,
}

/// A plan handed over to its successor from `effective_from`. The predecessor's table stays
/// as it was at the end of its period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanTransferred {
    pub plan_id: Code,
    pub successor: Code,
    pub effective_from: FiscalYear,
    #[serde(with = "iso_date")]
    pub decided_on: NaiveDate,
    #[serde(rename = "mapping")]
    pub mapping_wire: Vec<KpiMappingWire>,
    #[serde(skip)]
    pub mapping: Vec<KpiMapping>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanTransferredWire {
    plan_id: Code,
    successor: Code,
    effective_from: FiscalYear,
    #[serde(with = "iso_date")]
    decided_on: NaiveDate,
    mapping: Vec<KpiMappingWire>,
}

impl PlanTransferred {
    pub(crate) fn from_wire(wire: PlanTransferredWire) -> Result<PlanTransferred, ValidationError> {
        if wire.successor == wire.plan_id {
            return Err(ValidationError::new(
                "successor",
                "a plan cannot be transferred to itself",
            ));
        }
        let mut mapping: Vec<KpiMapping> = Vec::with_capacity(wire.mapping.len());
        for (index, entry) in wire.mapping.iter().enumerate() {
            let path = format!("mapping[{index}]");
            let successor_kpi = KpiRef {
                kpi: entry.successor_kpi.clone(),
                series: entry.series,
            };
            if mapping
                .iter()
                .any(|known| known.successor_kpi == successor_kpi)
            {
                return Err(ValidationError::new(
                    format!("{path}.successor_kpi"),
                    format!("successor KPI {successor_kpi} is mapped twice"),
                ));
            }
            if entry.from_kpis.is_empty() && entry.from_events.is_empty() {
                return Err(ValidationError::new(
                    format!("{path}.from_kpis"),
                    "name at least one predecessor KPI, or an event selector in from_events \
                     (a KPI without a predecessor needs no mapping entry)",
                ));
            }
            for (kpi_index, from) in entry.from_kpis.iter().enumerate() {
                if entry.from_kpis[..kpi_index].contains(from) {
                    return Err(ValidationError::new(
                        format!("{path}.from_kpis[{kpi_index}]"),
                        format!("predecessor KPI {from} is named twice"),
                    ));
                }
            }
            let from_events = entry
                .from_events
                .iter()
                .enumerate()
                .map(|(selector, value)| {
                    let field = format!("{path}.from_events[{selector}]");
                    SourceDefinition::from_json(&field, value).map_err(|error| {
                        ValidationError::new(error.path.clone(), error.reason.clone())
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            mapping.push(KpiMapping {
                successor_kpi,
                from_kpis: entry.from_kpis.clone(),
                from_events,
                history: entry.history,
            });
        }
        Ok(PlanTransferred {
            plan_id: wire.plan_id,
            successor: wire.successor,
            effective_from: wire.effective_from,
            decided_on: wire.decided_on,
            mapping_wire: wire.mapping,
            mapping,
        })
    }
}

impl EventPayload for PlanTransferred {
    const LABEL: crate::event::Label = crate::event::Label {
        ja: "計画の移管",
        en: "Plan transferred",
    };
    const SUMMARY_JA: &'static str = "計画を後継計画に引き継ぐ。";
    const SUMMARY: &'static str =
        "Hands a plan over to its successor with a KPI mapping; once per plan.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("plan_id", Code, true, "The plan handed over (predecessor).", "移管元の計画" / "Plan", "移管する計画（前計画）。"),
        field!("successor", Code, true, "The successor plan, already adopted or configured.", "移管先の計画" / "Successor", "移管先の計画（策定済み）。"),
        field!("effective_from", FiscalYear, true, "First fiscal year under the successor.", "移管先の最初の年度" / "Effective from", "移管先で数える最初の年度。"),
        field!("decided_on", Date, true, "When the transfer was decided.", "決定日" / "Decided on", "決定した日。"),
        field!("mapping", Payload, true, "[{ successor_kpi, series?, from_kpis: [{kpi, series?}], from_events: [source], history: counts|ignored }].", "対応表（JSON）" / "Mapping", "前計画のKPIと後継計画のKPIの対応。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        in_valid_year("decided_on", self.decided_on).map(|_| ())
    }

    fn occurred_on(&self) -> NaiveDate {
        self.decided_on
    }

    fn title(&self) -> Option<&str> {
        Some(self.successor.as_str())
    }

    fn plan_id(&self) -> Option<&Code> {
        Some(&self.plan_id)
    }

    fn stream_id(&self) -> Option<String> {
        Some(format!("plan-transfer/{}", self.plan_id))
    }

    /// A plan is handed over once.
    fn stream_rule(&self) -> StreamRule {
        StreamRule::MustBeNew
    }
}
