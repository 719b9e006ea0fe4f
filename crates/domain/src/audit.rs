//! Audit findings: what the log shows that a reader of the published table should know.
//! They are computed from the events, never stored, and never change a figure: the ledger
//! exposes inconsistencies instead of silently "fixing" them.

use serde::Serialize;
use uuid::Uuid;

use crate::calendar::FiscalYear;
use crate::event::EventKind;
use crate::plan::Series;
use crate::projection::{AmendmentProblem, Projection, StatFamily};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// An activity still marked scheduled is counted in a KPI as if it had been held.
    ScheduledCountedAsHeld,
    /// A figure measured in another unit than its KPI's; shown, not summed.
    WrongUnit,
    /// A document's claimed count disagrees with the activities recorded.
    DeclaredTotalMismatch,
    /// A correction or retraction that could not be applied.
    IgnoredAmendment,
    /// Responses to a survey wave that was never recorded.
    SurveyWaveMissing,
    /// More responses than firms asked.
    SurveyResponsesExceedFirmsAsked,
    /// A survey response counted in another fiscal year than its wave's.
    SurveyResponseYearMismatch,
    /// An activity whose fiscal year no plan in force covers: it counts in no KPI.
    OutsideEveryPlan,
    /// A sum left the range of exact arithmetic; the cell shows no figure.
    ArithmeticOverflow,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditFinding {
    pub kind: FindingKind,
    pub fiscal_year: Option<FiscalYear>,
    pub plan_id: Option<String>,
    pub kpi: Option<String>,
    pub series: Option<Series>,
    /// The events the finding is about.
    pub event_ids: Vec<Uuid>,
    pub message: String,
}

impl AuditFinding {
    fn about(kind: FindingKind, message: String) -> Self {
        Self {
            kind,
            fiscal_year: None,
            plan_id: None,
            kpi: None,
            series: None,
            event_ids: Vec::new(),
            message,
        }
    }
}

impl Projection {
    /// Every finding, in a stable order: by kind, then as the log or the plan lists them.
    pub fn audit_findings(&self) -> Vec<AuditFinding> {
        let mut findings = Vec::new();
        self.scheduled_findings(&mut findings);
        self.unit_findings(&mut findings);
        self.declared_findings(&mut findings);
        self.amendment_findings(&mut findings);
        self.survey_findings(&mut findings);
        self.response_year_findings(&mut findings);
        self.outside_findings(&mut findings);
        self.overflow_findings(&mut findings);
        findings
    }

    fn response_year_findings(&self, findings: &mut Vec<AuditFinding>) {
        let mut mismatched: Vec<_> = self
            .notes
            .responses
            .values()
            .filter_map(|response| {
                let wave = self.wave_note(&response.wave_id)?;
                (wave.fiscal_year != response.fiscal_year).then_some((response, wave))
            })
            .collect();
        mismatched.sort_by_key(|(response, _)| response.event);
        for (response, wave) in mismatched {
            let mut finding = AuditFinding::about(
                FindingKind::SurveyResponseYearMismatch,
                format!(
                    "a response to survey wave {} counts in {}, but the wave belongs to {}",
                    response.wave_id,
                    response.fiscal_year.label(),
                    wave.fiscal_year.label()
                ),
            );
            finding.fiscal_year = Some(response.fiscal_year);
            finding.event_ids = vec![response.event, wave.event];
            findings.push(finding);
        }
    }

    fn outside_findings(&self, findings: &mut Vec<AuditFinding>) {
        let periods: Vec<String> = self
            .plans()
            .iter()
            .map(|plan| {
                format!(
                    "{} {}-{}",
                    plan.id,
                    plan.period.first.label(),
                    plan.period.last.label()
                )
            })
            .collect();
        let mut outside: Vec<_> = self.notes.outside.values().collect();
        outside.sort_by_key(|note| note.event);
        for note in outside {
            let mut finding = AuditFinding::about(
                FindingKind::OutsideEveryPlan,
                format!(
                    "{} in {} is outside every plan in force ({}) and counts in no KPI",
                    note.kind,
                    note.fiscal_year.label(),
                    if periods.is_empty() {
                        "none".to_owned()
                    } else {
                        periods.join(", ")
                    }
                ),
            );
            finding.fiscal_year = Some(note.fiscal_year);
            finding.event_ids = vec![note.event];
            findings.push(finding);
        }
    }

    fn overflow_findings(&self, findings: &mut Vec<AuditFinding>) {
        for plan in self.plans() {
            let Some(table) = self.table_values(plan.id.as_str()) else {
                continue;
            };
            for (row, state) in table.rows.iter().zip(self.plan_rows_of(plan.id.as_str())) {
                for (column, cell) in row.cells.iter().enumerate() {
                    if !self.cells[state + column].figures.overflowed {
                        continue;
                    }
                    let mut finding = AuditFinding::about(
                        FindingKind::ArithmeticOverflow,
                        format!(
                            "KPI {}{} {}: the sum of its events exceeds exact arithmetic; no \
                             figure is shown",
                            row.kpi,
                            if row.series == Series::B { "b" } else { "" },
                            cell.fiscal_year.label()
                        ),
                    );
                    finding.fiscal_year = Some(cell.fiscal_year);
                    finding.plan_id = Some(table.plan_id.clone());
                    finding.kpi = Some(row.kpi.clone());
                    finding.series = Some(row.series);
                    findings.push(finding);
                }
            }
        }
    }

    fn scheduled_findings(&self, findings: &mut Vec<AuditFinding>) {
        let mut scheduled: Vec<_> = self
            .scheduled
            .iter()
            .filter(|(_, activity)| activity.counted_in_kpis)
            .collect();
        scheduled.sort_by_key(|(id, activity)| (activity.date, **id));
        for (id, activity) in scheduled {
            let mut finding = AuditFinding::about(
                FindingKind::ScheduledCountedAsHeld,
                format!(
                    "{} \"{}\" on {} is recorded as scheduled but counted in KPIs as held",
                    activity.kind, activity.title, activity.date
                ),
            );
            finding.fiscal_year = FiscalYear::from_date(activity.date).ok();
            finding.event_ids = vec![*id];
            findings.push(finding);
        }
    }

    fn unit_findings(&self, findings: &mut Vec<AuditFinding>) {
        let values = self
            .plans()
            .iter()
            .filter_map(|plan| self.table_values(plan.id.as_str()));
        for table in values {
            for row in &table.rows {
                for cell in &row.cells {
                    let (Some(unit), Some(value)) = (cell.unit, cell.value) else {
                        continue;
                    };
                    let mut finding = AuditFinding::about(
                        FindingKind::WrongUnit,
                        format!(
                            "KPI {}{} {}: {} {} measured in {}, not {}; shown but left out of \
                             the cumulative",
                            row.kpi,
                            if row.series == Series::B { "b" } else { "" },
                            cell.fiscal_year.label(),
                            value,
                            unit,
                            unit,
                            row.unit
                        ),
                    );
                    finding.fiscal_year = Some(cell.fiscal_year);
                    finding.plan_id = Some(table.plan_id.clone());
                    finding.kpi = Some(row.kpi.clone());
                    finding.series = Some(row.series);
                    finding.event_ids = self
                        .cell_events(&table.plan_id, &row.kpi, row.series, cell.fiscal_year)
                        .unwrap_or_default();
                    findings.push(finding);
                }
            }
        }
    }

    fn declared_findings(&self, findings: &mut Vec<AuditFinding>) {
        for (id, declared) in &self.declared {
            let family = match EventKind::from_name(declared.of.as_str()) {
                Some(EventKind::Seminar) => StatFamily::Seminar,
                Some(EventKind::SkillTraining) => StatFamily::SkillTraining,
                _ => continue,
            };
            let organiser = declared.organiser.as_ref().map(|text| text.as_str());
            let recorded = self.summary_of(family, declared.fiscal_year, organiser);
            let claimed = u64::from(declared.count.get());
            if claimed == recorded.events || claimed == recorded.sessions {
                continue;
            }
            let mut finding = AuditFinding::about(
                FindingKind::DeclaredTotalMismatch,
                format!(
                    "{} declares {} {} in {}{}, but the ledger records {} ({} sessions)",
                    declared.source,
                    claimed,
                    declared.of,
                    declared.fiscal_year.label(),
                    organiser
                        .map(|organiser| format!(" by {organiser}"))
                        .unwrap_or_default(),
                    recorded.events,
                    recorded.sessions
                ),
            );
            finding.fiscal_year = Some(declared.fiscal_year);
            finding.event_ids = vec![*id];
            findings.push(finding);
        }
    }

    fn amendment_findings(&self, findings: &mut Vec<AuditFinding>) {
        for ignored in &self.ignored_amendments {
            let why = match &ignored.problem {
                AmendmentProblem::UnknownTarget => "its target is not in the log".to_owned(),
                AmendmentProblem::TargetIsAmendment => {
                    "its target is itself a correction or retraction".to_owned()
                }
                AmendmentProblem::TargetRetracted => "its target was already retracted".to_owned(),
                AmendmentProblem::KindMismatch {
                    target,
                    replacement,
                } => format!("it replaces a {target} with a {replacement}"),
            };
            let mut finding = AuditFinding::about(
                FindingKind::IgnoredAmendment,
                format!(
                    "amendment {} of {} changed nothing: {why}",
                    ignored.amendment, ignored.target
                ),
            );
            finding.event_ids = vec![ignored.amendment, ignored.target];
            findings.push(finding);
        }
    }

    fn survey_findings(&self, findings: &mut Vec<AuditFinding>) {
        for wave in self.survey_waves() {
            let finding = match wave.firms_asked {
                None if wave.responses > 0 => Some(AuditFinding::about(
                    FindingKind::SurveyWaveMissing,
                    format!(
                        "{} responses to survey wave {} whose wave (firms asked) is not recorded",
                        wave.responses, wave.wave_id
                    ),
                )),
                Some(asked) if wave.responses > asked => Some(AuditFinding::about(
                    FindingKind::SurveyResponsesExceedFirmsAsked,
                    format!(
                        "survey wave {} has {} responses but asked {} firms",
                        wave.wave_id, wave.responses, asked
                    ),
                )),
                _ => None,
            };
            if let Some(mut finding) = finding {
                finding.fiscal_year = Some(wave.fiscal_year);
                findings.push(finding);
            }
        }
    }
}
