//! Recording: every rule an event must meet looked up and judged by the domain, the append,
//! and the wait until the event is projected (read-your-writes); imports and their dry run.

use chrono::Utc;
use futures::StreamExt;
use kpi_domain::event::SurveyWave;
use kpi_domain::{LedgerEvent, StreamRule, ValidationError};
use kpi_store::{AppendError, Envelope, ExpectedVersion, StreamId};

use super::{ImportRecord, ImportReport, Ledger, RecordOptions};
use crate::convert::{new_event, recorded_event};
use crate::error::{LedgerError, RecordError};

impl Ledger {
    /// Validates `payload` as an event of `event_type` and records it. The error names the
    /// field when the input is at fault; nothing is written then.
    pub async fn record_payload(
        &self,
        actor: &str,
        event_type: &str,
        payload: &serde_json::Value,
        options: RecordOptions,
    ) -> Result<Envelope, RecordError> {
        let event = LedgerEvent::parse(event_type, payload)?;
        self.record(actor, event, options).await
    }

    /// Records one validated event; returns once it is on disk and projected.
    pub async fn record(
        &self,
        actor: &str,
        event: LedgerEvent,
        options: RecordOptions,
    ) -> Result<Envelope, RecordError> {
        self.record_or_recall(actor, event, options, None)
            .await
            .map(|(envelope, _replayed)| envelope)
    }

    /// [`Ledger::record`], or, for an idempotent retry, the recalled original: the flag says
    /// which (true: recalled, nothing written). `known_retry` is whether the idempotency key
    /// was found used, when the caller looked it up with others (an import); `None` looks it
    /// up here.
    async fn record_or_recall(
        &self,
        actor: &str,
        event: LedgerEvent,
        options: RecordOptions,
        known_retry: Option<bool>,
    ) -> Result<(Envelope, bool), RecordError> {
        if actor.trim().is_empty() {
            return Err(ValidationError::new("actor", "must not be empty").into());
        }
        if let Some(damaged) = self.damaged() {
            tracing::warn!(%damaged, "append refused");
            return Err(damaged.into());
        }
        // Refused before anything is judged: the rules read the log, which is unavailable.
        // Not logged: the store logs the outage once.
        if let Some(outage) = self.inner.store.storage().outage {
            return Err(AppendError::Unavailable {
                retry_in_secs: outage.retry_in_secs(Utc::now()),
                reason: outage.reason,
            }
            .into());
        }
        let stream = StreamId::parse(event.stream_id())
            .map_err(|error| ValidationError::new("stream", error.to_string()))?;
        // A retry is not judged again: what it is checked against (plans, the target's
        // amendments, the configured bounds, today) may have moved on since the original.
        // The store answers it with the original, or refuses it as a conflict.
        let retry = match (known_retry, &options.idempotency_key) {
            (Some(known), Some(_)) => known,
            (None, Some(key)) => self
                .inner
                .store
                .idempotency_key_position(key)
                .map_err(LedgerError::from)?
                .is_some(),
            (_, None) => false,
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let expected = if retry {
                default_expected(&event)
            } else {
                self.judge(&event, &options, None)?
            };
            let mut new = new_event(&event, actor);
            new.idempotency_key = options.idempotency_key.clone();
            new.provenance = options.provenance.clone();
            let started = std::time::Instant::now();
            let appended = self
                .inner
                .store
                .append_or_recall(&stream, expected, vec![new])
                .await;
            let (mut envelopes, replayed) = match appended {
                Ok(appended) => {
                    if !appended.replayed {
                        crate::metrics::record_append_latency(started.elapsed());
                    }
                    (appended.envelopes, appended.replayed)
                }
                Err(AppendError::WrongExpectedVersion { .. })
                    if event.stream_rule() == StreamRule::MustBeNew =>
                {
                    return Err(event.duplicate_error().into());
                }
                // Another amendment of the same target came first: judge again against it
                // (a retraction now refuses this one, naming it).
                Err(AppendError::WrongExpectedVersion { .. })
                    if event.amendment_target().is_some() && attempts < AMENDMENT_ATTEMPTS =>
                {
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            let envelope = envelopes
                .pop()
                .expect("one event appended, one envelope back");
            self.wait_projected(envelope.position).await?;
            if event.kind().is_lifecycle() {
                self.wait_definitions(envelope.position).await?;
            }
            return Ok((envelope, replayed));
        }
    }

    /// Every rule an event must meet before it is appended, with what the domain needs looked
    /// up; returns the version the append must expect of the event's stream. `waves` are
    /// survey waves of the same import not recorded yet, which a response may answer.
    fn judge(
        &self,
        event: &LedgerEvent,
        options: &RecordOptions,
        waves: Option<&std::collections::HashMap<String, SurveyWave>>,
    ) -> Result<ExpectedVersion, RecordError> {
        event.check_bounds(&self.inner.config.bounds)?;
        event.check_not_future(kpi_domain::calendar::jst_date(Utc::now()))?;
        {
            // Under the read lock: a copy of the registry would cost every append.
            let registry = self.inner.registry.read();
            if event.kind().is_lifecycle() {
                registry.check(event)?;
            } else if !options.outside_plans {
                registry.check_covered(event)?;
            }
        }
        if let Some(wave_id) = event.answered_wave() {
            let recorded = self.survey_wave(wave_id.as_str())?;
            let wave = recorded
                .as_ref()
                .or_else(|| waves.and_then(|waves| waves.get(wave_id.as_str())));
            event.check_against_wave(wave)?;
        }
        match self.check_amendment_target(event)? {
            Some(version) => Ok(ExpectedVersion::Exact(version)),
            None => Ok(default_expected(event)),
        }
    }

    /// The recorded survey wave `wave_id`, if any.
    fn survey_wave(&self, wave_id: &str) -> Result<Option<SurveyWave>, RecordError> {
        let stream = StreamId::parse(format!("survey-wave/{wave_id}"))
            .map_err(|error| ValidationError::new("wave_id", error.to_string()))?;
        for envelope in self
            .inner
            .store
            .read_stream(&stream)
            .map_err(LedgerError::from)?
        {
            if let LedgerEvent::SurveyWave(wave) = recorded_event(&envelope)?.event {
                return Ok(Some(wave));
            }
        }
        Ok(None)
    }

    /// A correction or retraction must name an event that exists, of a suitable kind, that
    /// is not retracted. Returns the version of the target's amendment stream the judgement
    /// saw (`None` for other events): the append expects it, so an amendment recorded
    /// meanwhile makes it judge again.
    fn check_amendment_target(&self, event: &LedgerEvent) -> Result<Option<u64>, RecordError> {
        let Some(target) = event.amendment_target() else {
            return Ok(None);
        };
        let envelope = self
            .inner
            .store
            .get(target)
            .map_err(LedgerError::from)?
            .ok_or_else(|| ValidationError::new("target", format!("no event with id {target}")))?;
        event.check_amendment_target(&envelope.event_type)?;
        let stream = StreamId::parse(event.stream_id())
            .map_err(|error| ValidationError::new("stream", error.to_string()))?;
        let amendments = self
            .inner
            .store
            .read_stream(&stream)
            .map_err(LedgerError::from)?;
        let version = amendments.last().map_or(0, |last| last.stream_version);
        let earlier = amendments
            .iter()
            .map(recorded_event)
            .collect::<Result<Vec<_>, _>>()?;
        event.check_target_state(&earlier)?;
        Ok(Some(version))
    }

    /// Judges the records of an import as [`Ledger::import`] would record them, without
    /// writing: each refused record with why, in file order. A survey response may answer a
    /// wave defined earlier in the same import. Records whose idempotency key is already
    /// used are left to the append (a retry, or a conflict).
    pub fn judge_import(&self, records: &[ImportRecord]) -> Vec<(usize, RecordError)> {
        let mut waves = std::collections::HashMap::new();
        let mut refused = Vec::new();
        // The keys looked up together (one query on PostgreSQL); if that fails, each record's
        // own lookup says why it cannot be judged.
        let used_keys = self.used_keys(records);
        for (index, record) in records.iter().enumerate() {
            let used = match &used_keys {
                Some(used) => Ok(used.contains(&record.idempotency_key)),
                None => self
                    .inner
                    .store
                    .idempotency_key_position(&record.idempotency_key)
                    .map(|position| position.is_some()),
            }
            .map_err(|error| RecordError::from(LedgerError::from(error)));
            let judged = match used {
                Ok(true) => Ok(()),
                Ok(false) => self
                    .judge(&record.event, &record.options(), Some(&waves))
                    .map(|_| ()),
                Err(error) => Err(error),
            };
            match judged {
                Ok(()) => {
                    if let LedgerEvent::SurveyWave(wave) = &record.event {
                        waves
                            .entry(wave.wave_id.as_str().to_owned())
                            .or_insert_with(|| wave.clone());
                    }
                }
                Err(error) => refused.push((index, error)),
            }
        }
        refused
    }

    /// Appends records idempotently, in file order: a second import writes nothing.
    pub async fn import(
        &self,
        actor: &str,
        records: Vec<ImportRecord>,
    ) -> Result<ImportReport, RecordError> {
        // Submitting many appends at once lets the store commit them in few flushes; the
        // stream polls them in order, so positions follow the file.
        let used_keys = self.used_keys(&records);
        let results: Vec<Result<(Envelope, bool), RecordError>> = futures::stream::iter(records)
            .map(|record| {
                let options = record.options();
                let known_retry = used_keys
                    .as_ref()
                    .map(|used| used.contains(&record.idempotency_key));
                self.record_or_recall(actor, record.event, options, known_retry)
            })
            .buffered(256)
            .collect()
            .await;
        let mut report = ImportReport::default();
        for result in results {
            let (_, replayed) = result?;
            if replayed {
                report.already_recorded += 1;
            } else {
                report.appended += 1;
            }
        }
        Ok(report)
    }

    /// The idempotency keys of `records` already used, looked up together; `None` when the
    /// lookup failed (each record then looks its own key up, and fails with its own error).
    fn used_keys(&self, records: &[ImportRecord]) -> Option<std::collections::HashSet<String>> {
        let keys: Vec<&str> = records
            .iter()
            .map(|record| record.idempotency_key.as_str())
            .collect();
        match self.inner.store.idempotency_keys_used(&keys) {
            Ok(used) => Some(used),
            Err(error) => {
                tracing::debug!(%error, "looking an import's keys up together failed");
                None
            }
        }
    }

    /// Waits until the projection has folded the log up to `position`.
    pub(super) async fn wait_projected(&self, position: u64) -> Result<(), LedgerError> {
        let mut projected = self.inner.projected.subscribe();
        projected
            .wait_for(|&at| at >= position)
            .await
            .map(|_| ())
            .map_err(|_| LedgerError::ProjectionStopped)
    }

    /// Waits until the live projection is built under the definitions of the lifecycle event
    /// at `position` (or a later one).
    pub(super) async fn wait_definitions(&self, position: u64) -> Result<(), LedgerError> {
        let mut live = self.inner.definitions_live.subscribe();
        let state = live
            .wait_for(|live| {
                live.position >= position
                    || live.failed.as_ref().is_some_and(|(at, _)| *at >= position)
            })
            .await
            .map_err(|_| LedgerError::ProjectionStopped)?;
        match &state.failed {
            Some((at, reason)) if state.position < position && *at >= position => {
                Err(LedgerError::DefinitionsNotApplied {
                    position,
                    reason: reason.clone(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// How often an amendment is judged again when another amendment of its target was recorded
/// between its judgement and its append.
const AMENDMENT_ATTEMPTS: u32 = 5;

/// The version an append expects of the event's stream when nothing else was looked up.
fn default_expected(event: &LedgerEvent) -> ExpectedVersion {
    match event.stream_rule() {
        StreamRule::Any => ExpectedVersion::Any,
        StreamRule::MustBeNew => ExpectedVersion::NoStream,
    }
}
