//! Activity and survey statistics: what each event adds to its family's totals (per fiscal
//! year and organiser, department, provider or wave), and the summaries read from them.

use serde::{Deserialize, Serialize};

use super::{ActivitySummary, Projection, SurveyWaveSummary};
use crate::calendar::FiscalYear;
use crate::event::{EventKind, LedgerEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum StatFamily {
    Seminar,
    SkillTraining,
    Consultation,
    Survey,
}

/// One label's totals (organiser, department, provider or wave) in one family and fiscal year:
/// events, sessions, participants, attendances; for surveys firms asked, responses, those
/// practising telework, job openings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StatSlot {
    pub(crate) family: StatFamily,
    pub(crate) fiscal_year: FiscalYear,
    pub(crate) label: String,
    pub(crate) totals: [u64; 4],
}

impl Projection {
    /// The slot of `label`'s totals in `family` and `year`, made on first use.
    pub(super) fn stat_slot(&mut self, family: StatFamily, year: FiscalYear, label: &str) -> u32 {
        let labels = self.stat_index.entry((family, year)).or_default();
        if let Some(slot) = labels.get(label) {
            return *slot;
        }
        let slot = self.stats.len() as u32;
        labels.insert(label.to_owned(), slot);
        self.stats.push(StatSlot {
            family,
            fiscal_year: year,
            label: label.to_owned(),
            totals: [0; 4],
        });
        slot
    }

    /// Totals of seminars, skill trainings or consultations in a fiscal year.
    pub fn activity_summary(&self, kind: EventKind, year: FiscalYear) -> ActivitySummary {
        let family = match kind {
            EventKind::Seminar => StatFamily::Seminar,
            EventKind::SkillTraining => StatFamily::SkillTraining,
            EventKind::Consultation => StatFamily::Consultation,
            _ => return ActivitySummary::default(),
        };
        self.summary_of(family, year, None)
    }

    pub(crate) fn summary_of(
        &self,
        family: StatFamily,
        year: FiscalYear,
        label: Option<&str>,
    ) -> ActivitySummary {
        let mut summary = ActivitySummary::default();
        for slot in self.stats.iter().filter(|slot| {
            slot.family == family
                && slot.fiscal_year == year
                && label.is_none_or(|label| slot.label == label)
        }) {
            // Saturating: totals of u32 counts cannot reach u64::MAX, and never wrap if so.
            summary.events = summary.events.saturating_add(slot.totals[0]);
            summary.sessions = summary.sessions.saturating_add(slot.totals[1]);
            summary.participants = summary.participants.saturating_add(slot.totals[2]);
            summary.attendances = summary.attendances.saturating_add(slot.totals[3]);
        }
        summary
    }

    /// Every survey wave with its responses, in order of first appearance.
    pub fn survey_waves(&self) -> Vec<SurveyWaveSummary> {
        self.stats
            .iter()
            .filter(|slot| slot.family == StatFamily::Survey)
            .map(|slot| SurveyWaveSummary {
                wave_id: slot.label.clone(),
                fiscal_year: slot.fiscal_year,
                firms_asked: (slot.totals[0] > 0).then_some(slot.totals[0]),
                responses: slot.totals[1],
                practising_telework: slot.totals[2],
                job_openings: slot.totals[3],
            })
            .collect()
    }
}

pub(super) fn stat_of(event: &LedgerEvent) -> Option<(StatFamily, &str, [u32; 4])> {
    match event {
        LedgerEvent::Seminar(seminar) => Some((
            StatFamily::Seminar,
            seminar.organiser.as_str(),
            [
                1,
                seminar.sessions.get(),
                seminar.participants.unique.get(),
                seminar.participants.attendances.get(),
            ],
        )),
        LedgerEvent::SkillTraining(training) => Some((
            StatFamily::SkillTraining,
            training.department.as_str(),
            [1, training.sessions.get(), training.participants.get(), 0],
        )),
        LedgerEvent::Consultation(consultation) => Some((
            StatFamily::Consultation,
            consultation.provider.as_str(),
            [1, 0, consultation.persons.get(), 0],
        )),
        LedgerEvent::SurveyWave(wave) => Some((
            StatFamily::Survey,
            wave.wave_id.as_str(),
            [wave.firms_asked.get(), 0, 0, 0],
        )),
        LedgerEvent::SurveyResponse(response) => Some((
            StatFamily::Survey,
            response.wave_id.as_str(),
            [
                0,
                1,
                u32::from(response.practises_telework),
                response.job_openings.get(),
            ],
        )),
        _ => None,
    }
}
