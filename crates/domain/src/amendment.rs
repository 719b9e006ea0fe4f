//! Rules that relate one event to others already in the log: what an amendment may target
//! and in which state, which wave a survey response belongs to, and how a broken "once only"
//! rule is reported. The caller looks the other events up; the rules stay here.

use uuid::Uuid;

use crate::error::ValidationError;
use crate::event::{EventKind, LedgerEvent, SurveyWave};
use crate::recorded::RecordedEvent;
use crate::values::Code;

impl LedgerEvent {
    /// The event a correction or retraction changes.
    pub fn amendment_target(&self) -> Option<Uuid> {
        match self {
            LedgerEvent::Correction(correction) => Some(correction.target),
            LedgerEvent::Retraction(retraction) => Some(retraction.target),
            _ => None,
        }
    }

    /// Checks an amendment against the type of the event it targets: a correction's
    /// replacement must be of the target's kind, and amendments are not themselves amended
    /// (retract the original and record it anew instead).
    pub fn check_amendment_target(&self, target_event_type: &str) -> Result<(), ValidationError> {
        let target_kind = EventKind::from_name(target_event_type).ok_or_else(|| {
            ValidationError::new(
                "target",
                format!("the target is a `{target_event_type}`, which this ledger cannot amend"),
            )
        })?;
        if self.amendment_target().is_some() && target_kind.is_lifecycle() {
            return Err(ValidationError::new(
                "target",
                format!(
                    "the target is a `{target_event_type}`; plan lifecycle events are not \
                     amended: record a further lifecycle event instead"
                ),
            ));
        }
        if self.amendment_target().is_some() && target_kind.is_amendment() {
            return Err(ValidationError::new(
                "target",
                format!(
                    "the target is a `{target_event_type}`; amendments cannot be amended: \
                     retract the original event and record it anew"
                ),
            ));
        }
        if let LedgerEvent::Correction(correction) = self {
            let replacement = correction.replacement.kind();
            if replacement != target_kind {
                return Err(ValidationError::new(
                    "target_type",
                    format!(
                        "the target is a `{}`, but the replacement is a `{}`",
                        target_kind.name(),
                        replacement.name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks an amendment against the amendments already recorded for its target (the
    /// target's amendment stream, in log order): a retracted event is not corrected or
    /// retracted again, since the projection would ignore the amendment. The error names the
    /// target's state: which retraction, decided when.
    pub fn check_target_state(&self, earlier: &[RecordedEvent]) -> Result<(), ValidationError> {
        let Some(target) = self.amendment_target() else {
            return Ok(());
        };
        let retraction = earlier.iter().find_map(|recorded| match &recorded.event {
            LedgerEvent::Retraction(retraction) if retraction.target == target => {
                Some((recorded.id, retraction.decided_on))
            }
            _ => None,
        });
        match retraction {
            Some((id, decided_on)) => Err(ValidationError::new(
                "target",
                format!(
                    "event {target} was retracted by {id} on {decided_on}; a retracted event \
                     cannot be corrected or retracted again: record it anew"
                ),
            )),
            None => Ok(()),
        }
    }

    /// The survey wave a response answers: the response's, or that of a correction's
    /// replacement response.
    pub fn answered_wave(&self) -> Option<&Code> {
        match self {
            LedgerEvent::SurveyResponse(response) => Some(&response.wave_id),
            LedgerEvent::Correction(correction) => correction.replacement.answered_wave(),
            _ => None,
        }
    }

    /// A response belongs to its wave's fiscal year: one that names another year would count
    /// in a column its wave is not in. `wave` is the recorded wave of
    /// [`LedgerEvent::answered_wave`]; a wave not recorded yet leaves the response as it is
    /// (the audit reports a response without its wave).
    pub fn check_against_wave(&self, wave: Option<&SurveyWave>) -> Result<(), ValidationError> {
        match (self, wave) {
            (LedgerEvent::Correction(correction), _) => correction
                .replacement
                .check_against_wave(wave)
                .map_err(|error| error.nested_in("replacement")),
            (LedgerEvent::SurveyResponse(response), Some(wave))
                if response.fiscal_year != wave.fiscal_year =>
            {
                Err(ValidationError::new(
                    "fiscal_year",
                    format!(
                        "{} differs from {}, the fiscal year of survey wave `{}`; a response \
                         counts in its wave's year",
                        response.fiscal_year.label(),
                        wave.fiscal_year.label(),
                        wave.wave_id
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The error for an event whose "once only" stream already exists
    /// ([`crate::StreamRule::MustBeNew`]).
    pub fn duplicate_error(&self) -> ValidationError {
        match self {
            LedgerEvent::SurveyResponse(response) => ValidationError::new(
                "firm_id",
                format!(
                    "firm `{}` has already answered survey wave `{}`; a firm answers a wave once \
                     (correct or retract the earlier response instead)",
                    response.firm_id, response.wave_id
                ),
            ),
            LedgerEvent::SurveyWave(wave) => ValidationError::new(
                "wave_id",
                format!("survey wave `{}` is already defined", wave.wave_id),
            ),
            LedgerEvent::OpeningFigure(figure) => ValidationError::new(
                "measure",
                format!(
                    "an opening figure for `{}` in {} is already recorded; correct it instead",
                    figure.measure, figure.fiscal_year
                ),
            ),
            other => ValidationError::new(
                "stream",
                format!("this `{}` is already recorded", other.event_type()),
            ),
        }
    }
}
