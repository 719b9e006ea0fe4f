use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, Weak};

use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use kpi_domain::event::SurveyWave;
use kpi_domain::{
    AuditFinding, Bounds, EventKind, KpiTable, LedgerEvent, PlanDefinition, PlanRegistry,
    Projection, RecordedEvent, StreamRule, TransferReport, ValidationError,
};
use kpi_store::{
    AppendError, Envelope, EventStore, ExpectedVersion, Head, StorageStatus, StoreConfig,
    StoreError, StreamId, VerifyFailure, VerifyReason,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::checkpoint::{self, Checkpoints, Found};
use crate::convert::{new_event, recorded_event, recorded_event_raw};
use crate::error::{LedgerError, RecordError};
use crate::folds::FoldSlots;
use crate::verification::{Integrity, Verification, Verifier};

use crate::locks::Unpoisoned;

/// Settings of the ledger service; the `[ledger]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// Whether the projection is checkpointed in the data directory and start-up begins from
    /// the checkpoint. Default on.
    pub checkpoints: bool,
    /// Events the live projection folds between two checkpoints (written in the background);
    /// 0 writes one only at close and after a rebuild. Default 100,000.
    pub checkpoint_every_events: u64,
    /// The plausible maximum of each count field: a figure above it is refused when recorded
    /// (`[ledger.bounds.<kind>]`, the changes to [`Bounds::default`]).
    pub bounds: Bounds,
    /// Seconds between two walks of the whole hash chain while serving
    /// ([`Ledger::verify_in_background`]), the first right after start-up; 0 walks only when
    /// asked (`verification`), and once after the store recovers from a storage failure
    /// (which happens whatever this is). Default 3600.
    pub verify_every_secs: u64,
    /// Most as-of and through folds (each a fresh fold of the whole log, holding a whole
    /// projection while it runs) run at once; further ones wait for a slot. Default 2.
    pub max_concurrent_folds: NonZeroUsize,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            checkpoints: true,
            checkpoint_every_events: 100_000,
            bounds: Bounds::default(),
            verify_every_secs: 3600,
            max_concurrent_folds: NonZeroUsize::new(2).expect("non-zero literal"),
        }
    }
}

/// How start-up used the projection checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointUse {
    /// Checkpoints are switched off (`LedgerConfig::checkpoints`).
    Disabled,
    /// There was none; the whole log was folded.
    Absent,
    /// The checkpoint at this log position was restored; only later events were folded.
    Used { position: u64 },
    /// The checkpoint did not fit the log or the plans, was removed, and the whole log was
    /// folded.
    Discarded { reason: String },
}

/// What [`Ledger::open`] did to build the projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupReport {
    pub checkpoint: CheckpointUse,
    /// Events folded at start-up (after the checkpoint when one was used).
    pub events_folded: u64,
    /// Events read and hash-checked at start-up before they were folded: those after the
    /// checkpoint (linked back to the hash it recorded), else the whole log.
    pub events_verified: u64,
    /// The log position the projection reflected when the ledger opened.
    pub position: u64,
}

/// What [`Ledger::rebuild`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// The plans of the projection now live, in order.
    pub plan_ids: Vec<String>,
    /// Events folded beside the live projection.
    pub events_folded: u64,
    /// Events appended meanwhile, folded by the follower just before the swap.
    pub events_caught_up: u64,
    /// The log position the new projection reflected when it was swapped in.
    pub position: u64,
}

/// Optional facts of one record call.
#[derive(Debug, Clone, Default)]
pub struct RecordOptions {
    /// Makes a retry harmless: the same key and event return the original envelope.
    pub idempotency_key: Option<String>,
    /// Where the figure was taken from, e.g. "FY2024 report, KPI table".
    pub provenance: Option<String>,
    /// The recorder says the activity lies outside every plan in force and is meant to count
    /// in no KPI: it is recorded although its fiscal year is in no plan's period (otherwise
    /// refused). Changes nothing for an event inside a plan.
    pub outside_plans: bool,
}

/// Sent after the projection has folded events that may have changed a KPI table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableChanged {
    /// The log position the tables now reflect.
    pub position: u64,
}

/// One event of an import (seed file, bulk file), keyed so that re-importing is harmless.
#[derive(Debug, Clone)]
pub struct ImportRecord {
    pub idempotency_key: String,
    pub provenance: Option<String>,
    pub event: LedgerEvent,
    /// See [`RecordOptions::outside_plans`].
    pub outside_plans: bool,
}

impl ImportRecord {
    fn options(&self) -> RecordOptions {
        RecordOptions {
            idempotency_key: Some(self.idempotency_key.clone()),
            provenance: self.provenance.clone(),
            outside_plans: self.outside_plans,
        }
    }
}

impl From<kpi_domain::SeedRecord> for ImportRecord {
    fn from(record: kpi_domain::SeedRecord) -> Self {
        ImportRecord {
            idempotency_key: record.idempotency_key,
            provenance: record.provenance,
            event: record.event,
            outside_plans: false,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Events written by this import.
    pub appended: usize,
    /// Events found already recorded (same idempotency key and content): nothing written.
    pub already_recorded: usize,
}

/// The ledger service: the store plus the live projection that follows it. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    store: EventStore,
    projection: RwLock<Projection>,
    projected: watch::Sender<u64>,
    table_changed: broadcast::Sender<TableChanged>,
    config: LedgerConfig,
    /// `None` when checkpoints are switched off.
    checkpoints: Option<Arc<Checkpoints>>,
    startup: StartupReport,
    /// Rebuilt projections on their way to the follower, which swaps them in.
    replacements: mpsc::UnboundedSender<Replacement>,
    /// Numbers rebuilds in the order they start, so a slow older one never replaces a newer.
    rebuilds_started: AtomicU64,
    /// The plans of the configuration, before any lifecycle event.
    configured: Vec<PlanDefinition>,
    /// The plans in force: the configured ones as the lifecycle events folded so far left
    /// them. Changed by the follower only, in log order.
    registry: RwLock<PlanRegistry>,
    /// The lifecycle events folded so far, for the definitions in force at an earlier time.
    lifecycle: RwLock<Vec<RecordedEvent>>,
    /// Position of the latest lifecycle event the live projection's definitions reflect.
    definitions_live: watch::Sender<DefinitionsLive>,
    /// Bumped by the follower after every change readers of the projection can see (an
    /// event folded, a rebuilt projection swapped in), before anyone is told of it.
    view_version: AtomicU64,
    /// Walks of the whole hash chain, and the integrity their answers give the log.
    verifier: Arc<Verifier>,
    /// The as-of and through folds running, at most `config.max_concurrent_folds`.
    folds: FoldSlots,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A walk still running must not keep the store open for a ledger nobody holds.
        self.verifier.close_now();
    }
}

/// Which lifecycle change the live projection's definitions reflect.
#[derive(Debug, Clone, Default)]
struct DefinitionsLive {
    /// Position of the latest lifecycle event the live projection is built under.
    position: u64,
    /// A rebuild for a lifecycle event that failed: its position and why.
    failed: Option<(u64, String)>,
}

/// A projection folded beside the live one, up to `through`.
struct Replacement {
    generation: u64,
    projection: Projection,
    through: u64,
    events_folded: u64,
    /// The lifecycle event whose definitions the projection was built under (0: none).
    definitions: u64,
    /// The registry's position when the plans were chosen: a rebuild under plans that a later
    /// lifecycle event changed must not replace the projection under the plans in force.
    registry_position: u64,
    reply: oneshot::Sender<Result<RebuildReport, LedgerError>>,
}

impl Ledger {
    /// [`Ledger::open_with_config`] with the default [`LedgerConfig`].
    pub async fn open(
        dir: &Path,
        store_config: StoreConfig,
        plans: Vec<PlanDefinition>,
    ) -> Result<Ledger, LedgerError> {
        Self::open_with_config(dir, store_config, LedgerConfig::default(), plans).await
    }

    /// Opens (or creates) the store in `dir`, builds the projection of `plans` (from the
    /// checkpoint when one fits the log, else from the whole log), and starts following the
    /// log. Needs a Tokio runtime.
    pub async fn open_with_config(
        dir: &Path,
        store_config: StoreConfig,
        config: LedgerConfig,
        plans: Vec<PlanDefinition>,
    ) -> Result<Ledger, LedgerError> {
        let checkpoints = config.checkpoints.then(|| Arc::new(Checkpoints::new(dir)));
        let dir = dir.to_path_buf();
        let startup_checkpoints = checkpoints.clone();
        let configured = plans.clone();
        let (store, projection, startup, registry, lifecycle, verified) =
            tokio::task::spawn_blocking(move || {
                let store = EventStore::open(&dir, store_config)?;
                // Definitions first: the projection is built under the plans the log puts in force.
                let lifecycle = read_lifecycle(&store)?;
                let registry = PlanRegistry::from_log(plans, &lifecycle);
                let (projection, startup, verified) =
                    start(&store, registry.plans(), startup_checkpoints.as_deref())?;
                Ok::<_, LedgerError>((store, projection, startup, registry, lifecycle, verified))
            })
            .await
            .expect("opening the ledger panicked")?;
        let verifier = Verifier::of(store.clone());
        if let Some(verified) = verified {
            verifier.seed(verified);
        }
        let position = projection.last_position();
        tracing::info!(
            position,
            events_folded = startup.events_folded,
            checkpoint = ?startup.checkpoint,
            "projection built"
        );
        let (projected, _) = watch::channel(position);
        let (table_changed, _) = broadcast::channel(64);
        let (replacements, replaced) = mpsc::unbounded_channel();
        let (definitions_live, _) = watch::channel(DefinitionsLive {
            position: registry.last_position(),
            failed: None,
        });
        // The next start-up should not pay for a long fold again: the follower checkpoints
        // before its first event, without holding up this one.
        let folded_since_checkpoint = startup.events_folded;
        let folds = FoldSlots::new(config.max_concurrent_folds);
        let ledger = Ledger {
            inner: Arc::new(Inner {
                store,
                projection: RwLock::new(projection),
                projected,
                table_changed,
                config,
                checkpoints,
                startup,
                replacements,
                rebuilds_started: AtomicU64::new(0),
                configured,
                registry: RwLock::new(registry),
                lifecycle: RwLock::new(lifecycle),
                definitions_live,
                view_version: AtomicU64::new(0),
                verifier,
                folds,
            }),
        };
        tokio::spawn(follow(
            Arc::downgrade(&ledger.inner),
            position + 1,
            folded_since_checkpoint,
            replaced,
        ));
        tokio::spawn(crate::storage::watch(
            ledger.inner.store.storage_changes(),
            Arc::downgrade(&ledger.inner.verifier),
        ));
        Ok(ledger)
    }

    /// How the projection was built when the ledger opened.
    pub fn startup(&self) -> &StartupReport {
        &self.inner.startup
    }

    /// Replay while serving: folds the whole log into a new projection of `plans` beside the
    /// live one, then the follower folds the events appended meanwhile and swaps it in. Reads
    /// use the old projection until the swap; no event is missed or folded twice. A
    /// checkpoint of the new projection is written after the swap.
    pub async fn rebuild(&self, plans: Vec<PlanDefinition>) -> Result<RebuildReport, LedgerError> {
        let registry_position = self.registry_position();
        start_rebuild(&self.inner, plans, 0, registry_position)
            .await
            .map_err(|_| LedgerError::ProjectionStopped)?
    }

    /// [`Ledger::rebuild`] under the plans in force, read together with the registry's
    /// position so that a lifecycle change racing with the rebuild wins.
    pub async fn rebuild_in_force(&self) -> Result<RebuildReport, LedgerError> {
        let (plans, position) = {
            let registry = self.inner.registry.read_unpoisoned();
            (registry.plans(), registry.last_position())
        };
        start_rebuild(&self.inner, plans, position, position)
            .await
            .map_err(|_| LedgerError::ProjectionStopped)?
    }

    fn registry_position(&self) -> u64 {
        self.inner.registry.read_unpoisoned().last_position()
    }

    pub fn store(&self) -> &EventStore {
        &self.inner.store
    }

    pub fn head(&self) -> Head {
        self.inner.store.head()
    }

    /// A number that changes whenever anything read from the projection may have changed: an
    /// event folded (figures, plans in force, lifecycle history) or a rebuilt projection
    /// swapped in. It moves after the change is visible and before a waiting `record` call
    /// returns, so an answer computed after reading it is never older than it. Together with
    /// [`Ledger::head`] (what reads of the store see) it keys caches of query answers.
    pub fn view_version(&self) -> u64 {
        self.inner.view_version.load(Ordering::Acquire)
    }

    /// Whether the projection keeps up with the log (`/readyz`): it reaches the head as it is
    /// now within `within`. An event being folded while appends arrive is not "behind"; a
    /// stopped or stuck projection is.
    pub async fn catches_up_within(&self, within: std::time::Duration) -> bool {
        let head = self.head().position;
        matches!(
            tokio::time::timeout(within, self.wait_projected(head)).await,
            Ok(Ok(()))
        )
    }

    /// Whether the ledger may be served (`/readyz`), and if not why: the last walk of the
    /// hash chain failed, the storage failed and the store has not reopened it yet
    /// (`storage: No space left on device; retrying in 4s`), or the projection does not reach
    /// the head within `within` ([`Ledger::catches_up_within`]).
    pub async fn readiness(&self, within: std::time::Duration) -> Result<(), String> {
        if let Some(damaged) = self.damaged() {
            return Err(damaged.to_string());
        }
        if let Some(outage) = self.inner.store.storage().outage {
            let retry = match outage.retry_in_secs(Utc::now()) {
                0 => "retrying now".to_owned(),
                secs => format!("retrying in {secs}s"),
            };
            return Err(format!("storage: {}; {retry}", outage.reason));
        }
        if !self.catches_up_within(within).await {
            return Err(format!(
                "the projection does not reach the log's head within {} ms",
                within.as_millis()
            ));
        }
        Ok(())
    }

    /// The refusal of a damaged log: the last walk of the hash chain failed.
    fn damaged(&self) -> Option<LedgerError> {
        let integrity = self.inner.verifier.integrity();
        let last = integrity.last.as_deref()?;
        let failure = last.result.as_ref().err()?;
        Some(LedgerError::damaged(failure, Some(last.finished_at)))
    }

    /// Walks the whole hash chain up to the head, or answers from the walk that did: one walk
    /// at a time, shared by every caller at the same head, its answer kept for that head,
    /// stopped when no caller waits any more (see [`crate::Verification`]). The answer's head
    /// may be later than the head when asked, never earlier. While the storage is unavailable
    /// no walk is made, and a walk the storage's failure stopped proves nothing: both are
    /// the store's `Unavailable` error.
    pub async fn verify(&self) -> Result<Arc<Verification>, LedgerError> {
        self.storage_available()?;
        let verification = self.inner.verifier.verify(None).await?;
        match &verification.result {
            Err(failure) => match &failure.reason {
                VerifyReason::StorageUnavailable(reason) => {
                    self.storage_available()?;
                    Err(StoreError::Unavailable {
                        reason: reason.clone(),
                        retry_in_secs: None,
                    }
                    .into())
                }
                _ => Ok(verification),
            },
            _ => Ok(verification),
        }
    }

    /// `Err` with the store's refusal while the storage is unavailable.
    fn storage_available(&self) -> Result<(), StoreError> {
        match self.inner.store.storage().outage {
            None => Ok(()),
            Some(outage) => Err(StoreError::Unavailable {
                retry_in_secs: Some(outage.retry_in_secs(Utc::now())),
                reason: outage.reason,
            }),
        }
    }

    /// Whether the storage takes writes, and its failures and recoveries since the ledger
    /// opened (see [`kpi_store::StorageStatus`]).
    pub fn storage(&self) -> StorageStatus {
        self.inner.store.storage()
    }

    /// The log's integrity as the last walk found it.
    pub fn integrity(&self) -> Integrity {
        self.inner.verifier.integrity()
    }

    /// Told of every walk's answer.
    pub fn integrity_changes(&self) -> watch::Receiver<Integrity> {
        self.inner.verifier.integrity_changes()
    }

    /// Walks of the whole hash chain run since the ledger opened (a walk stopped part-way
    /// counts; start-up's does not).
    pub fn verification_walks(&self) -> u64 {
        self.inner.verifier.walks()
    }

    /// Walks the whole hash chain in the background, right away and then every
    /// `verify_every_secs` (nothing when it is 0), sharing the walks of
    /// [`Ledger::verify`]. A failure refuses appends and makes [`Ledger::readiness`] say so
    /// until a walk passes again. Stops when the ledger closes. `serve` calls it; one-shot
    /// commands do not.
    pub fn verify_in_background(&self) {
        let every = self.inner.config.verify_every_secs;
        if every == 0 {
            return;
        }
        let verifier = self.inner.verifier.clone();
        tokio::spawn(verifier.verify_periodically(std::time::Duration::from_secs(every)));
    }

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
        self.record_or_recall(actor, event, options)
            .await
            .map(|(envelope, _replayed)| envelope)
    }

    /// [`Ledger::record`], or, for an idempotent retry, the recalled original: the flag says
    /// which (true: recalled, nothing written).
    async fn record_or_recall(
        &self,
        actor: &str,
        event: LedgerEvent,
        options: RecordOptions,
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
        let retry = match &options.idempotency_key {
            Some(key) => self
                .inner
                .store
                .idempotency_key_position(key)
                .map_err(LedgerError::from)?
                .is_some(),
            None => false,
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
            let registry = self.inner.registry.read_unpoisoned();
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

    /// Judges the records of an import as [`Ledger::import`] would record them, without
    /// writing: each refused record with why, in file order. A survey response may answer a
    /// wave defined earlier in the same import. Records whose idempotency key is already
    /// used are left to the append (a retry, or a conflict).
    pub fn judge_import(&self, records: &[ImportRecord]) -> Vec<(usize, RecordError)> {
        let mut waves = std::collections::HashMap::new();
        let mut refused = Vec::new();
        for (index, record) in records.iter().enumerate() {
            let used = self
                .inner
                .store
                .idempotency_key_position(&record.idempotency_key)
                .map_err(|error| RecordError::from(LedgerError::from(error)));
            let judged = match used {
                Ok(Some(_)) => Ok(()),
                Ok(None) => self
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

    /// Waits until the live projection is built under the definitions of the lifecycle event
    /// at `position` (or a later one).
    async fn wait_definitions(&self, position: u64) -> Result<(), LedgerError> {
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

    /// The plans in force and how each came to be (its definition history).
    pub fn registry(&self) -> PlanRegistry {
        self.inner.registry.read_unpoisoned().clone()
    }

    /// The plans in force as of `at`: the configured ones changed by the lifecycle events
    /// recorded up to then.
    pub fn registry_as_of(&self, at: DateTime<Utc>) -> PlanRegistry {
        let lifecycle = self.inner.lifecycle.read_unpoisoned();
        PlanRegistry::from_log(
            self.inner.configured.clone(),
            lifecycle.iter().filter(|event| event.recorded_at <= at),
        )
    }

    /// How a transferred plan's history feeds its successor.
    pub fn transfer_report(&self, plan_id: &str) -> Result<TransferReport, LedgerError> {
        let projection = self.projection();
        match projection.transfer_report(plan_id) {
            Some(report) => Ok(report),
            None if projection
                .plans()
                .iter()
                .any(|plan| plan.id.as_str() == plan_id) =>
            {
                Err(LedgerError::NotTransferred(plan_id.to_owned()))
            }
            None => Err(LedgerError::UnknownPlan(plan_id.to_owned())),
        }
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

    /// Appends records idempotently, in file order: a second import writes nothing.
    pub async fn import(
        &self,
        actor: &str,
        records: Vec<ImportRecord>,
    ) -> Result<ImportReport, RecordError> {
        // Submitting many appends at once lets the store commit them in few flushes; the
        // stream polls them in order, so positions follow the file.
        let results: Vec<Result<(Envelope, bool), RecordError>> = futures::stream::iter(records)
            .map(|record| {
                let options = record.options();
                self.record_or_recall(actor, record.event, options)
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

    /// Waits until the projection has folded the log up to `position`.
    async fn wait_projected(&self, position: u64) -> Result<(), LedgerError> {
        let mut projected = self.inner.projected.subscribe();
        projected
            .wait_for(|&at| at >= position)
            .await
            .map(|_| ())
            .map_err(|_| LedgerError::ProjectionStopped)
    }

    /// The live projection (read lock held while the guard lives; keep it short).
    pub fn projection(&self) -> RwLockReadGuard<'_, Projection> {
        self.inner.projection.read_unpoisoned()
    }

    pub fn plans(&self) -> Vec<PlanDefinition> {
        self.projection().plans().to_vec()
    }

    /// A plan's KPI table now, or as recorded up to `as_of` (transaction time), counting
    /// only activities that happened by `through` (valid time); both may be combined.
    pub async fn table(
        &self,
        plan_id: &str,
        as_of: Option<DateTime<Utc>>,
        through: Option<NaiveDate>,
    ) -> Result<KpiTable, LedgerError> {
        let table = match (as_of, through) {
            (None, None) => self.projection().table(plan_id),
            _ => self.projection_at(as_of, through).await?.table(plan_id),
        };
        table.ok_or_else(|| LedgerError::UnknownPlan(plan_id.to_owned()))
    }

    /// The projection of the part of the log recorded up to `at`.
    pub async fn projection_as_of(&self, at: DateTime<Utc>) -> Result<Projection, LedgerError> {
        self.projection_at(Some(at), None).await
    }

    /// The projection of the log recorded up to `as_of` (all of it when `None`), counting
    /// the activities that happened by `through` (all when `None`), under the plans in force
    /// at `as_of`. A fresh fold by [`fold_log`], the path every table takes; at most
    /// [`LedgerConfig::max_concurrent_folds`] run at once.
    pub async fn projection_at(
        &self,
        as_of: Option<DateTime<Utc>>,
        through: Option<NaiveDate>,
    ) -> Result<Projection, LedgerError> {
        let store = self.inner.store.clone();
        let plans = match as_of {
            Some(at) => self.registry_as_of(at).plans(),
            None => self.registry().plans(),
        };
        let limits = FoldLimits {
            as_of,
            through,
            ..FoldLimits::default()
        };
        self.inner
            .folds
            .run(move || fold(&store, plans, limits))
            .await
    }

    pub fn audit_findings(&self) -> Vec<AuditFinding> {
        self.projection().audit_findings()
    }

    /// Notified whenever newly projected events may have changed a table.
    pub fn table_changes(&self) -> broadcast::Receiver<TableChanged> {
        self.inner.table_changed.subscribe()
    }

    /// Reads one event by id as a domain event.
    pub fn event(&self, id: uuid::Uuid) -> Result<Option<(Envelope, RecordedEvent)>, LedgerError> {
        match self.inner.store.get(id)? {
            None => Ok(None),
            Some(envelope) => {
                let recorded = recorded_event(&envelope)?;
                Ok(Some((envelope, recorded)))
            }
        }
    }

    /// Writes a checkpoint of the projection (when enabled), then stops the store after
    /// in-flight appends are committed, and flushes.
    pub async fn close(self) {
        self.inner.verifier.close().await;
        if self.inner.checkpoints.is_some() {
            let inner = self.inner.clone();
            let written = tokio::task::spawn_blocking(move || write_checkpoint(&inner)).await;
            match written {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "no checkpoint written at close"),
                Err(error) => tracing::error!(%error, "writing the checkpoint panicked"),
            }
        }
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => {
                let store = inner.store.clone();
                drop(inner);
                store.close().await
            }
            Err(shared) => shared.store.clone().close().await,
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

/// Builds the projection at start-up: from the checkpoint when it fits the log and the plans,
/// else from the whole log. Every event it folds is read and hash-checked first: those after
/// the checkpoint, linked back to the hash it recorded, else the whole log (whose walk is
/// returned as the first verification). A log that fails is refused.
fn start(
    store: &EventStore,
    plans: Vec<PlanDefinition>,
    checkpoints: Option<&Checkpoints>,
) -> Result<(Projection, StartupReport, Option<Verification>), LedgerError> {
    let full = |plans, checkpoint| {
        let head = store.head();
        let result = store
            .verify_to(head, |_| true)
            .expect("a walk that is never stopped ends");
        let verified = startup_check(result)?;
        let projection = fold(store, plans, FoldLimits::default())?;
        let report = StartupReport {
            checkpoint,
            events_folded: projection.applied(),
            events_verified: verified.position,
            position: projection.last_position(),
        };
        let verification = Verification {
            head,
            result: Ok(verified),
            finished_at: Utc::now(),
        };
        Ok((projection, report, Some(verification)))
    };
    let Some(checkpoints) = checkpoints else {
        return full(plans, CheckpointUse::Disabled);
    };
    let reason = match checkpoints.load(store, &plans) {
        Found::Absent => return full(plans, CheckpointUse::Absent),
        Found::Unusable(reason) => reason,
        Found::Usable {
            position,
            hash,
            snapshot,
        } => {
            let verified = startup_check(store.verify_after(position, hash))?;
            match Projection::restore(plans.clone(), *snapshot) {
                Ok(mut projection) => {
                    let events_folded = fold_onto(store, &mut projection, position + 1, None)?;
                    let report = StartupReport {
                        checkpoint: CheckpointUse::Used { position },
                        events_folded,
                        events_verified: verified.position - position,
                        position: projection.last_position(),
                    };
                    return Ok((projection, report, None));
                }
                Err(mismatch) => mismatch.to_string(),
            }
        }
    };
    tracing::warn!(
        path = %checkpoints.path().display(),
        "checkpoint discarded: {reason}; folding the whole log"
    );
    checkpoints.remove();
    full(plans, CheckpointUse::Discarded { reason })
}

/// Start-up's verdict on its walk: a log that fails is not opened.
fn startup_check(result: Result<Head, VerifyFailure>) -> Result<Head, LedgerError> {
    result.map_err(|failure| {
        let refused = LedgerError::damaged(&failure, None);
        tracing::error!(
            position = failure.position,
            reason = %failure.reason,
            "the log fails verification at start-up; the ledger is not opened"
        );
        refused
    })
}

/// How much of the log a fold reads, and which activities it counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FoldLimits {
    /// Transaction time: stop at the first event recorded after this instant.
    pub as_of: Option<DateTime<Utc>>,
    /// Valid time: count only activities that happened on or before this date.
    pub through: Option<NaiveDate>,
    /// Stop after this log position (the head read when the fold starts, if lower).
    pub position: Option<u64>,
}

/// The one fold of a whole log that every table comes from: the start-up of `serve`, rebuilds,
/// as-of and through tables, `kpi-ledger table` and `kpi-ledger replay`. The plans in force are
/// the configured ones changed by the log's lifecycle events up to the limits (definitions
/// first), then every event is folded under them.
pub fn fold_log(
    store: &EventStore,
    configured: Vec<PlanDefinition>,
    limits: FoldLimits,
) -> Result<(PlanRegistry, Projection), LedgerError> {
    let position = limits
        .position
        .unwrap_or(u64::MAX)
        .min(store.head().position);
    let lifecycle = read_lifecycle(store)?.into_iter().filter(|event| {
        event.position <= position && limits.as_of.is_none_or(|at| event.recorded_at <= at)
    });
    let registry = PlanRegistry::from_log(configured, lifecycle.collect::<Vec<_>>().iter());
    let limits = FoldLimits {
        position: Some(position),
        ..limits
    };
    let projection = fold(store, registry.plans(), limits)?;
    Ok((registry, projection))
}

/// Folds the log from the start under `plans`, within `limits`.
fn fold(
    store: &EventStore,
    plans: Vec<PlanDefinition>,
    limits: FoldLimits,
) -> Result<Projection, LedgerError> {
    let mut projection = Projection::through(plans, limits.through);
    projection.reserve(usize::try_from(store.head().position).unwrap_or(0));
    fold_range(
        store,
        &mut projection,
        1,
        limits.position.unwrap_or(u64::MAX),
        limits.as_of,
    )?;
    Ok(projection)
}

/// Folds every event from position `from` up to the head (as it is now) into `projection`.
fn fold_onto(
    store: &EventStore,
    projection: &mut Projection,
    from: u64,
    through: Option<u64>,
) -> Result<u64, LedgerError> {
    fold_range(store, projection, from, through.unwrap_or(u64::MAX), None)
}

/// Folds the events from `from` to `through` (or the head, if lower) into `projection`,
/// stopping at the first event recorded after `until`; returns how many it folded.
///
/// On a long range a second thread reads the log in batches while this one folds. Reading
/// costs about as much as parsing, and folding less, so the parsing is shared: the reader
/// parses a batch itself while the folder has batches queued, and otherwise hands it over raw
/// for the folder to parse. On two cores a replay is then bounded by half the total work
/// rather than by the reader's read-plus-parse.
fn fold_range(
    store: &EventStore,
    projection: &mut Projection,
    from: u64,
    through: u64,
    until: Option<DateTime<Utc>>,
) -> Result<u64, LedgerError> {
    const BATCH: usize = 1024;
    let through = through.min(store.head().position);
    if through < from {
        return Ok(0);
    }
    let envelopes = store
        .iter_raw_from(from)
        .take_while(move |envelope| {
            envelope
                .as_ref()
                .map_or(true, |envelope| envelope.position <= through)
        })
        .map(|envelope| envelope.map_err(LedgerError::from))
        .take_while(move |envelope| {
            // The log is in recorded order: the as-of prefix ends at the first later event.
            envelope.as_ref().map_or(true, |envelope| {
                until.is_none_or(|at| envelope.recorded_at <= at)
            })
        });
    let mut folded = 0;
    if through - from < BATCH as u64 * 4 {
        for envelope in envelopes {
            projection.apply(&recorded_event_raw(envelope?)?);
            folded += 1;
        }
        return Ok(folded);
    }
    enum Batch {
        Parsed(Vec<RecordedEvent>),
        Raw(Vec<kpi_store::RawEnvelope>),
    }
    let queued = Arc::new(AtomicU64::new(0));
    let (batches, received) = std::sync::mpsc::sync_channel::<Result<Batch, LedgerError>>(8);
    let reader_queued = queued.clone();
    let reader = std::thread::spawn(move || {
        let send = |batch: Result<Batch, LedgerError>| {
            reader_queued.fetch_add(1, Ordering::Relaxed);
            batches.send(batch).is_ok()
        };
        let mut raw = Vec::with_capacity(BATCH);
        let mut envelopes = envelopes.peekable();
        while let Some(envelope) = envelopes.next() {
            match envelope {
                Ok(envelope) => raw.push(envelope),
                Err(error) => {
                    send(Err(error));
                    return;
                }
            }
            if raw.len() < BATCH && envelopes.peek().is_some() {
                continue;
            }
            let batch = std::mem::replace(&mut raw, Vec::with_capacity(BATCH));
            let batch = if reader_queued.load(Ordering::Relaxed) >= 2 {
                // The folder is behind: parse here.
                match batch.into_iter().map(recorded_event_raw).collect() {
                    Ok(parsed) => Ok(Batch::Parsed(parsed)),
                    Err(error) => Err(error),
                }
            } else {
                Ok(Batch::Raw(batch))
            };
            if !send(batch) {
                return;
            }
        }
    });
    for batch in received {
        queued.fetch_sub(1, Ordering::Relaxed);
        match batch? {
            Batch::Parsed(events) => {
                for recorded in &events {
                    projection.apply(recorded);
                }
                folded += events.len() as u64;
            }
            Batch::Raw(envelopes) => {
                folded += envelopes.len() as u64;
                for envelope in envelopes {
                    projection.apply(&recorded_event_raw(envelope)?);
                }
            }
        }
    }
    reader.join().expect("the log reader panicked");
    Ok(folded)
}

/// Starts folding the log into a new projection of `plans` on a blocking thread and hands it
/// to the follower, which swaps it in; the receiver gets the outcome. Callable from the
/// follower itself (the rebuild does not wait for it).
fn start_rebuild(
    inner: &Arc<Inner>,
    plans: Vec<PlanDefinition>,
    definitions: u64,
    registry_position: u64,
) -> oneshot::Receiver<Result<RebuildReport, LedgerError>> {
    let (reply, outcome) = oneshot::channel();
    let generation = inner.rebuilds_started.fetch_add(1, Ordering::Relaxed) + 1;
    let store = inner.store.clone();
    let replacements = inner.replacements.clone();
    tokio::task::spawn_blocking(move || match fold_beside(&store, plans) {
        Ok((projection, through, events_folded)) => {
            drop(store);
            let replacement = Replacement {
                generation,
                projection,
                through,
                events_folded,
                definitions,
                registry_position,
                reply,
            };
            if let Err(unsent) = replacements.send(replacement) {
                let _ = unsent.0.reply.send(Err(LedgerError::ProjectionStopped));
            }
        }
        Err(error) => {
            let _ = reply.send(Err(error));
        }
    });
    outcome
}

/// Folds the log up to the head read at the start, then the events appended meanwhile for a
/// few rounds, so the follower (which stops applying while it catches the new projection up)
/// has only a short tail left. Returns the projection, the position it reflects and the
/// number of events folded.
fn fold_beside(
    store: &EventStore,
    plans: Vec<PlanDefinition>,
) -> Result<(Projection, u64, u64), LedgerError> {
    const SHORT_TAIL: u64 = 1024;
    let mut through = store.head().position;
    let mut projection = Projection::new(plans);
    projection.reserve(usize::try_from(through).unwrap_or(0));
    let mut folded = fold_onto(store, &mut projection, 1, Some(through))?;
    for _ in 0..3 {
        let head = store.head().position;
        if head - through <= SHORT_TAIL {
            break;
        }
        folded += fold_onto(store, &mut projection, through + 1, Some(head))?;
        through = head;
    }
    Ok((projection, through, folded))
}

/// Copies the live projection and writes it as the last checkpoint of this ledger (at close).
/// Returns whether a file was written (not when the same state is already on disk or a newer
/// one was written).
fn write_checkpoint(inner: &Inner) -> Result<bool, LedgerError> {
    let Some(checkpoints) = &inner.checkpoints else {
        return Ok(false);
    };
    let sequence = checkpoints.next_sequence();
    let snapshot = inner.projection.read_unpoisoned().snapshot();
    let hash = checkpoint::hash_at(&inner.store, snapshot.last_position())?;
    let written = checkpoints
        .write(sequence, hash, &snapshot, true)
        .map_err(|source| LedgerError::Checkpoint {
            path: checkpoints.path(),
            source,
        })?;
    if written {
        tracing::info!(position = snapshot.last_position(), "checkpoint written");
    }
    Ok(written)
}

/// Copies the live projection (the follower waits meanwhile: nothing changes under the copy)
/// and writes it as the checkpoint on a blocking thread, without waiting for the write.
/// Skipped while an earlier background write is still pending.
async fn checkpoint_in_background(inner: &Arc<Inner>) {
    let Some(checkpoints) = inner.checkpoints.clone() else {
        return;
    };
    if !checkpoints.try_begin_background() {
        return;
    }
    let copying = inner.clone();
    let copied = tokio::task::spawn_blocking(move || {
        let sequence = checkpoints.next_sequence();
        let snapshot = copying.projection.read_unpoisoned().snapshot();
        let hash = checkpoint::hash_at(&copying.store, snapshot.last_position());
        (checkpoints, sequence, snapshot, hash)
    })
    .await;
    let Ok((checkpoints, sequence, snapshot, hash)) = copied else {
        tracing::error!("copying the projection for a checkpoint panicked");
        return;
    };
    // The write holds no reference to the ledger, so closing it is not held up.
    tokio::task::spawn_blocking(move || {
        let written = hash.and_then(|hash| {
            checkpoints
                .write(sequence, hash, &snapshot, false)
                .map_err(|source| LedgerError::Checkpoint {
                    path: checkpoints.path(),
                    source,
                })
        });
        match written {
            Ok(true) => tracing::info!(position = snapshot.last_position(), "checkpoint written"),
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "checkpoint not written"),
        }
        checkpoints.end_background();
    });
}

/// At most this many already-delivered events are folded under one lock and one announcement.
const FOLLOW_CHUNK: usize = 1_024;

/// Follows the log from `from` and folds each event into the live projection, in position
/// order; swaps in rebuilt projections between two events. Ends when the ledger is dropped
/// or the store closes.
async fn follow(
    inner: Weak<Inner>,
    from: u64,
    mut since_checkpoint: u64,
    mut replacements: mpsc::UnboundedReceiver<Replacement>,
) {
    let (stream, checkpoint_every) = match inner.upgrade() {
        Some(inner) => {
            let checkpoint_every = inner.config.checkpoint_every_events;
            if checkpoint_every > 0 && since_checkpoint >= checkpoint_every {
                since_checkpoint = 0;
                checkpoint_in_background(&inner).await;
            }
            (inner.store.subscribe(from), checkpoint_every)
        }
        None => return,
    };
    // Every event already delivered is folded under one lock and announced once: waiters
    // and subscribers wake once per group commit instead of once per event.
    let stream = stream.ready_chunks(FOLLOW_CHUNK);
    futures::pin_mut!(stream);
    let mut position = from - 1;
    // A replacement that reflects a position the stream has not delivered yet waits here.
    let mut pending: Option<Replacement> = None;
    let mut swapped_generation = 0u64;
    loop {
        tokio::select! {
            biased;
            Some(replacement) = replacements.recv(), if pending.is_none() => {
                pending = Some(replacement);
            }
            items = stream.next() => {
                let Some(items) = items else { return };
                let Some(inner) = inner.upgrade() else { return };
                let mut failure = None;
                // Parsed before the projection is locked, so readers wait only for the folds.
                let mut parsed = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Ok(envelope) => parsed.push((envelope.position, recorded_event(&envelope))),
                        Err(error) => {
                            failure = Some(error);
                            break;
                        }
                    }
                }
                let folded = parsed.len() as u64;
                // Folded into the plans after the projection's lock is released, in order.
                let mut lifecycle = Vec::new();
                {
                    let mut projection = inner
                        .projection
                        .write_unpoisoned();
                    for (at, recorded) in parsed {
                        match recorded {
                            Ok(recorded) => {
                                projection.apply(&recorded);
                                if recorded.event.kind().is_lifecycle() {
                                    lifecycle.push(recorded);
                                }
                            }
                            // Recorded events were validated on the way in; one that no
                            // longer parses is skipped loudly rather than stopping every
                            // later figure.
                            Err(error) => tracing::error!(%error, "event skipped by the projection"),
                        }
                        position = at;
                    }
                }
                for recorded in lifecycle {
                    fold_definitions(&inner, recorded);
                }
                if folded > 0 {
                    // Every event the store writes is delivered here once, whoever appended it
                    // and whether or not they still wait for the answer.
                    crate::metrics::count_appended(folded);
                    inner.view_version.fetch_add(folded, Ordering::Release);
                    inner.projected.send_replace(position);
                    let _ = inner.table_changed.send(TableChanged { position });
                }
                if let Some(error) = failure {
                    tracing::error!(%error, "projection cannot read the log; it stops following");
                    return;
                }
                since_checkpoint += folded;
                if checkpoint_every > 0 && since_checkpoint >= checkpoint_every {
                    since_checkpoint = 0;
                    checkpoint_in_background(&inner).await;
                }
            }
        }
        if let Some(replacement) = pending.take_if(|waiting| waiting.through <= position) {
            let Some(inner) = inner.upgrade() else { return };
            swap(&inner, replacement, position, &mut swapped_generation).await;
            since_checkpoint = 0;
        }
    }
}

/// Folds a lifecycle event into the plans in force; when they change, rebuilds the projection
/// under them beside the live one (the follower swaps it in when ready).
fn fold_definitions(inner: &Arc<Inner>, recorded: RecordedEvent) {
    let position = recorded.position;
    let changed = inner.registry.write_unpoisoned().apply(&recorded);
    inner.lifecycle.write_unpoisoned().push(recorded);
    if changed {
        let plans = inner.registry.read_unpoisoned().plans();
        tracing::info!(
            position,
            "plan definitions changed; rebuilding the projection"
        );
        let outcome = start_rebuild(inner, plans, position, position);
        let weak = Arc::downgrade(inner);
        tokio::spawn(async move {
            // Success and supersession reach the waiters through the swap; a failure must be
            // told, or a caller waiting for these definitions would wait forever.
            let failure = match outcome.await {
                Ok(Ok(_)) | Ok(Err(LedgerError::RebuildSuperseded)) => return,
                Ok(Err(error)) => error.to_string(),
                Err(_) => "the rebuild was dropped".to_owned(),
            };
            tracing::error!(position, %failure, "rebuild under changed plan definitions failed");
            if let Some(inner) = weak.upgrade() {
                inner
                    .definitions_live
                    .send_modify(|live| live.failed = Some((position, failure)));
            }
        });
    } else {
        // A change that did not fit (a racing writer) leaves the definitions as they are.
        tracing::warn!(
            position,
            "plan lifecycle event ignored: it does not fit the plans in force"
        );
        inner
            .definitions_live
            .send_modify(|live| live.position = live.position.max(position));
    }
}

/// The lifecycle events of the log, in position order: fold them with
/// [`PlanRegistry::from_log`] for the plans in force.
pub fn read_lifecycle(store: &EventStore) -> Result<Vec<RecordedEvent>, LedgerError> {
    let mut events = Vec::new();
    for kind in EventKind::ALL
        .into_iter()
        .filter(|kind| kind.is_lifecycle())
    {
        for envelope in store.read_by_type(kind.name(), 1, usize::MAX)? {
            events.push(recorded_event(&envelope)?);
        }
    }
    events.sort_by_key(|event| event.position);
    Ok(events)
}

/// Catches `replacement` up from its position to the follower's and swaps it in.
async fn swap(
    inner: &Arc<Inner>,
    replacement: Replacement,
    position: u64,
    swapped_generation: &mut u64,
) {
    let Replacement {
        generation,
        mut projection,
        through,
        events_folded,
        definitions,
        registry_position,
        reply,
    } = replacement;
    if generation < *swapped_generation {
        let _ = reply.send(Err(LedgerError::RebuildSuperseded));
        return;
    }
    let outdated = {
        let registry = inner.registry.read_unpoisoned();
        registry.last_position() > registry_position && projection.plans() != registry.plans()
    };
    if outdated {
        // A lifecycle event changed the plans after these were chosen; its own rebuild
        // brings the plans in force.
        let _ = reply.send(Err(LedgerError::RebuildSuperseded));
        return;
    }
    let store = inner.store.clone();
    let caught_up = tokio::task::spawn_blocking(move || {
        fold_onto(&store, &mut projection, through + 1, Some(position))
            .map(|caught_up| (projection, caught_up))
    })
    .await
    .expect("catching up a rebuilt projection panicked");
    let (projection, events_caught_up) = match caught_up {
        Ok(caught_up) => caught_up,
        Err(error) => {
            let _ = reply.send(Err(error));
            return;
        }
    };
    let plan_ids: Vec<String> = projection
        .plans()
        .iter()
        .map(|plan| plan.id.to_string())
        .collect();
    let replaced = std::mem::replace(&mut *inner.projection.write_unpoisoned(), projection);
    *swapped_generation = generation;
    inner.view_version.fetch_add(1, Ordering::Release);
    inner.definitions_live.send_if_modified(|live| {
        let advanced = live.position < definitions;
        live.position = live.position.max(definitions);
        advanced
    });
    // Freeing a large projection takes a while; not on the follower.
    tokio::task::spawn_blocking(move || drop(replaced));
    tracing::info!(
        position,
        events_folded,
        events_caught_up,
        plans = ?plan_ids,
        "rebuilt projection swapped in"
    );
    let _ = inner.table_changed.send(TableChanged { position });
    let _ = reply.send(Ok(RebuildReport {
        plan_ids,
        events_folded,
        events_caught_up,
        position,
    }));
    // The checkpoint on disk was taken under the old plans.
    checkpoint_in_background(inner).await;
}
