//! The audit findings recomputed from the events in force.

use uuid::Uuid;

use super::amounts::RowRule;
use super::fold::Fold;
use crate::audit::{AuditFinding, FindingKind};
use crate::calendar::FiscalYear;
use crate::event::{EventKind, LedgerEvent};
use crate::projection::KpiTable;
use crate::values::ActivityStatus;

impl Fold<'_, '_> {
    pub(super) fn findings(&self, tables: &[KpiTable]) -> Vec<AuditFinding> {
        let mut findings = Vec::new();
        let mut add = |kind, fiscal_year, event_ids: Vec<Uuid>| {
            findings.push(AuditFinding {
                kind,
                fiscal_year,
                plan_id: None,
                kpi: None,
                series: None,
                event_ids,
                message: String::new(),
            });
        };
        for version in self.counted() {
            let event = version.event;
            let year = event.fiscal_year();
            let in_a_kpi = self.plans.iter().any(|plan| {
                plan.kpis
                    .iter()
                    .any(|kpi| !RowRule::kpi(plan, kpi).amounts(event, year).is_empty())
            });
            if event.status() == Some(ActivityStatus::Scheduled) && in_a_kpi {
                let on = FiscalYear::from_date(event.occurred_on()).ok();
                add(FindingKind::ScheduledCountedAsHeld, on, vec![version.id]);
            }
            if !self
                .plans
                .iter()
                .any(|plan| plan.period.column(year).is_some())
            {
                add(FindingKind::OutsideEveryPlan, Some(year), vec![version.id]);
            }
            if let LedgerEvent::DeclaredTotal(declared) = event {
                let of = EventKind::from_name(declared.of.as_str());
                let organiser = declared.organiser.as_ref().map(|text| text.as_str());
                let (mut events, mut sessions) = (0u64, 0u64);
                for other in self.counted() {
                    let (label, held) = match other.event {
                        LedgerEvent::Seminar(seminar) => (&seminar.organiser, seminar.sessions),
                        LedgerEvent::SkillTraining(training) => {
                            (&training.department, training.sessions)
                        }
                        _ => continue,
                    };
                    if Some(other.event.kind()) == of
                        && other.event.fiscal_year() == declared.fiscal_year
                        && organiser.is_none_or(|organiser| label.as_str() == organiser)
                    {
                        events += 1;
                        sessions += u64::from(held.get());
                    }
                }
                let claimed = u64::from(declared.count.get());
                if claimed != events && claimed != sessions {
                    add(
                        FindingKind::DeclaredTotalMismatch,
                        Some(declared.fiscal_year),
                        vec![version.id],
                    );
                }
            }
            if let LedgerEvent::SurveyResponse(response) = event {
                let wave = self.counted().filter(|other| {
                    matches!(other.event, LedgerEvent::SurveyWave(wave)
                        if wave.wave_id == response.wave_id)
                });
                if let Some(wave) = wave.last() {
                    if wave.event.fiscal_year() != year {
                        add(
                            FindingKind::SurveyResponseYearMismatch,
                            Some(year),
                            vec![version.id, wave.id],
                        );
                    }
                }
            }
        }
        for (amendment, target) in &self.history.ignored {
            add(
                FindingKind::IgnoredAmendment,
                None,
                vec![*amendment, *target],
            );
        }
        // Survey waves per fiscal year: firms asked against the responses counted there.
        let mut waves: Vec<(FiscalYear, String, u64, u64)> = Vec::new();
        for version in self.counted() {
            let (wave_id, asked, answered) = match version.event {
                LedgerEvent::SurveyWave(wave) => (wave.wave_id.as_str(), wave.firms_asked.get(), 0),
                LedgerEvent::SurveyResponse(response) => (response.wave_id.as_str(), 0, 1),
                _ => continue,
            };
            let year = version.event.fiscal_year();
            match waves
                .iter_mut()
                .find(|(known_year, known, ..)| *known_year == year && known == wave_id)
            {
                Some(entry) => {
                    entry.2 += u64::from(asked);
                    entry.3 += answered;
                }
                None => waves.push((year, wave_id.to_owned(), u64::from(asked), answered)),
            }
        }
        for (year, _, asked, responses) in waves {
            if asked == 0 && responses > 0 {
                add(FindingKind::SurveyWaveMissing, Some(year), Vec::new());
            } else if asked > 0 && responses > asked {
                add(
                    FindingKind::SurveyResponsesExceedFirmsAsked,
                    Some(year),
                    Vec::new(),
                );
            }
        }
        for (plan, table) in self.plans.iter().zip(tables) {
            for (kpi, row) in plan.kpis.iter().zip(&table.rows) {
                for cell in &row.cells {
                    let overflowed = self
                        .figure(&RowRule::kpi(plan, kpi), Some(kpi), cell.fiscal_year)
                        .overflowed;
                    let kind = match (cell.unit, cell.value) {
                        _ if overflowed => FindingKind::ArithmeticOverflow,
                        (Some(_), Some(_)) => FindingKind::WrongUnit,
                        _ => continue,
                    };
                    findings.push(AuditFinding {
                        kind,
                        fiscal_year: Some(cell.fiscal_year),
                        plan_id: Some(table.plan_id.clone()),
                        kpi: Some(row.kpi.clone()),
                        series: Some(row.series),
                        event_ids: if kind == FindingKind::WrongUnit {
                            cell.event_ids.clone()
                        } else {
                            Vec::new()
                        },
                        message: String::new(),
                    });
                }
            }
        }
        findings
    }
}
