//! Group commit: the single writer applies every waiting append as one sled batch, makes it
//! durable with one blocking flush, then answers the group.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

use crate::codec::{self, Body, RawBytes, StoredOccurred};
use crate::config::StoreConfig;
use crate::error::{AppendError, StoreError};
use crate::layout;
use crate::read;
use crate::recovery::OutageClock;
use crate::storage::Storage;
use crate::types::{Appended, Envelope, ExpectedVersion, Hash, Head, NewEvent, StreamId};

/// An event that passed the caller-side checks, with its payload already serialized once.
pub(crate) struct PreparedEvent {
    pub event: NewEvent,
    pub payload_json: Vec<u8>,
}

pub(crate) type AppendReply = oneshot::Sender<Result<Appended, AppendError>>;

pub(crate) struct AppendRequest {
    pub stream: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<PreparedEvent>,
    pub reply: AppendReply,
}

/// What the writer knows of the applied log (durable or about to be); only the writer thread
/// changes it.
pub(crate) struct WriterState {
    pub position: u64,
    pub hash: Hash,
    pub last_recorded_at: DateTime<Utc>,
    pub last_event_id: Option<Uuid>,
    /// Versions of the streams appended to or looked up since open; others are read from
    /// the stream index on first use.
    pub stream_versions: HashMap<StreamId, u64>,
}

pub(crate) struct Writer {
    pub requests: mpsc::Receiver<AppendRequest>,
    /// The database; `None` during a storage outage.
    pub db: Option<sled::Db>,
    /// The store directory, where the database is reopened after a storage failure.
    pub dir: PathBuf,
    pub config: StoreConfig,
    pub state: WriterState,
    /// The last acknowledged position, which readers never go beyond.
    pub head: Arc<RwLock<Head>>,
    pub published: broadcast::Sender<Arc<[Envelope]>>,
    /// The database slot readers use, the storage's status, and the log's inconsistency
    /// (found at open or at a reopen), which refuses every append.
    pub storage: Arc<Storage>,
    /// Set from a storage failure until the database is reopened.
    pub outage: Option<OutageClock>,
}

/// A group whose batch is applied (visible in sled, not yet durable) or that wrote nothing.
pub(crate) struct AppliedGroup {
    replies: Vec<(AppendReply, Outcome)>,
    /// The group's new events; `Outcome::Written` ranges index into it.
    envelopes: Vec<Envelope>,
    head: Head,
}

/// The effect of one group on the state, applied to [`WriterState`] once sled took it.
struct Staged {
    position: u64,
    hash: Hash,
    recorded_at: DateTime<Utc>,
    last_event_id: Option<Uuid>,
    stream_versions: HashMap<StreamId, u64>,
    /// Idempotency key -> index into `envelopes`, for retries inside the same group.
    keys: HashMap<String, usize>,
    envelopes: Vec<Envelope>,
    /// The stored record of each envelope, same order.
    records: Vec<Vec<u8>>,
}

enum Outcome {
    /// These envelopes of the group.
    Written(Range<usize>),
    Replayed(Vec<Envelope>),
    Rejected(AppendError),
}

/// Answers a group that cannot become durable: its rejections stand, the rest failed.
fn fail_group(replies: Vec<(AppendReply, Outcome)>, error: impl Fn() -> StoreError) {
    for (reply, outcome) in replies {
        let result = match outcome {
            Outcome::Rejected(rejection) => Err(rejection),
            Outcome::Written(_) | Outcome::Replayed(_) => Err(error().into()),
        };
        let _ = reply.send(result);
    }
}

impl Writer {
    pub(crate) fn run(mut self) {
        loop {
            if self.outage.is_some() {
                // Appends are refused until the database is reopened (crate::recovery).
                if !self.ride_out_outage() {
                    break;
                }
                continue;
            }
            let Ok(first) = self.requests.recv() else {
                break;
            };
            let mut events = first.events.len();
            let mut group = vec![first];
            while events < self.config.max_group_events {
                match self.requests.try_recv() {
                    Ok(request) => {
                        events += request.events.len();
                        group.push(request);
                    }
                    Err(_) => break,
                }
            }
            // Appends that arrive during the flush wait in the channel and form the next
            // group. A second thread flushing while this one applied the next group gained
            // nothing: sled's `apply_batch` waits for a running `flush` (both take its
            // concurrency-control lock), and the hand-off cost a wake-up per group (see
            // docs/benchmarks.md, "Patched sled thread pool, one writer thread").
            let storage = self.storage.clone();
            let _committing = storage.commit();
            if let Some(applied) = self.apply_group(group) {
                self.flush_and_answer(applied);
            }
        }
        // Every acknowledged group was flushed already; this covers nothing but sled's own
        // bookkeeping, so a failure is only worth a log line.
        if let Some(Err(error)) = self.db.as_ref().map(|db| db.flush()) {
            tracing::warn!(%error, "final flush of the event store failed");
        }
        tracing::debug!("event store writer stopped");
    }

    /// Stages and applies a group; `None` when it was answered already (an inconsistent log
    /// or a failed batch).
    fn apply_group(&mut self, group: Vec<AppendRequest>) -> Option<AppliedGroup> {
        if let Some(inconsistency) = self.storage.inconsistency() {
            let reason = inconsistency.to_string();
            for request in group {
                let _ = request.reply.send(Err(StoreError::Poisoned {
                    reason: reason.clone(),
                }
                .into()));
            }
            return None;
        }
        let now = Utc::now();
        let mut staged = Staged {
            position: self.state.position,
            hash: self.state.hash,
            recorded_at: now.max(self.state.last_recorded_at),
            last_event_id: self.state.last_event_id,
            stream_versions: HashMap::new(),
            keys: HashMap::new(),
            envelopes: Vec::new(),
            records: Vec::new(),
        };
        let mut replies = Vec::with_capacity(group.len());
        for request in group {
            let outcome = self.stage(
                &mut staged,
                &request.stream,
                request.expected,
                request.events,
            );
            replies.push((request.reply, outcome));
        }

        if !staged.envelopes.is_empty() {
            if let Err(error) = self.db().apply_batch(group_batch(&staged)) {
                // Whether the batch is in the log is unknown: refuse everything until a
                // reopen settles what is there.
                let reason = self.fail_storage(&error);
                fail_group(replies, || StoreError::WriteFailed {
                    reason: reason.clone(),
                });
                return None;
            }
            // The next group builds on this one before it is durable; if the flush fails
            // the database is reopened and the state read from it, so nothing is ever built
            // on a lost group.
            self.state.position = staged.position;
            self.state.hash = staged.hash;
            self.state.last_recorded_at = staged.recorded_at;
            self.state.last_event_id = staged.last_event_id;
            self.state.stream_versions.extend(staged.stream_versions);
        }
        Some(AppliedGroup {
            replies,
            envelopes: staged.envelopes,
            head: Head {
                position: self.state.position,
                hash: self.state.hash,
            },
        })
    }

    /// Checks one request against the committed state plus the group so far, and stages it.
    /// Nothing is staged unless the whole request is accepted.
    fn stage(
        &self,
        staged: &mut Staged,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<PreparedEvent>,
    ) -> Outcome {
        match self.replay_originals(staged, stream, &events) {
            Ok(Some(originals)) => return Outcome::Replayed(originals),
            Ok(None) => {}
            Err(rejection) => return Outcome::Rejected(rejection),
        }

        let current = match self.stream_version(staged, stream) {
            Ok(current) => current,
            Err(error) => return Outcome::Rejected(error.into()),
        };
        if !expected.accepts(current) {
            return Outcome::Rejected(AppendError::WrongExpectedVersion {
                stream: stream.clone(),
                expected,
                actual: (current > 0).then_some(current),
            });
        }

        let mut written = Vec::with_capacity(events.len());
        let mut version = current;
        for prepared in events {
            staged.position += 1;
            version += 1;
            let position = staged.position;
            let event_id = codec::next_event_id(staged.last_event_id);
            staged.last_event_id = Some(event_id);
            let event = prepared.event;
            let body = Body {
                event_id: *event_id.as_bytes(),
                stream_id: stream.as_str().into(),
                stream_version: version,
                event_type: event.event_type.as_str().into(),
                schema_version: event.schema_version,
                occurred: StoredOccurred::from_occurred(event.occurred),
                recorded_at_secs: staged.recorded_at.timestamp(),
                recorded_at_nanos: staged.recorded_at.timestamp_subsec_nanos(),
                actor: event.actor.as_str().into(),
                provenance: event.provenance.as_deref().map(Into::into),
                idempotency_key: event.idempotency_key.as_deref().map(Into::into),
                payload: RawBytes(prepared.payload_json.as_slice().into()),
            };
            let body_bytes = codec::encode_body(&body);
            let prev_hash = staged.hash;
            let hash = codec::chain_hash(&prev_hash, position, &body_bytes);
            staged.hash = hash;
            staged
                .records
                .push(codec::encode_record(&prev_hash, &hash, &body_bytes));
            if let Some(key) = &event.idempotency_key {
                staged
                    .keys
                    .insert(key.clone(), staged.envelopes.len() + written.len());
            }
            written.push(Envelope {
                event_id,
                position,
                stream_id: stream.clone(),
                stream_version: version,
                event_type: event.event_type,
                schema_version: event.schema_version,
                occurred: event.occurred,
                recorded_at: staged.recorded_at,
                actor: event.actor,
                provenance: event.provenance,
                idempotency_key: event.idempotency_key,
                payload: event.payload,
                prev_hash,
                hash,
            });
        }
        staged.stream_versions.insert(stream.clone(), version);
        let start = staged.envelopes.len();
        staged.envelopes.extend(written);
        Outcome::Written(start..staged.envelopes.len())
    }

    /// The stream's version as of the group so far; looked up once per stream, then cached.
    fn stream_version(&self, staged: &mut Staged, stream: &StreamId) -> Result<u64, StoreError> {
        if let Some(version) = staged
            .stream_versions
            .get(stream)
            .or_else(|| self.state.stream_versions.get(stream))
        {
            return Ok(*version);
        }
        let version = read::stream_version(self.db(), stream.as_str())?;
        // Staged like a write, so it reaches the cache only with a committed group.
        staged.stream_versions.insert(stream.clone(), version);
        Ok(version)
    }

    /// `Some(originals)` when every event repeats an earlier one under its idempotency key;
    /// `None` when no event's key was used before; a conflict for anything in between.
    fn replay_originals(
        &self,
        staged: &Staged,
        stream: &StreamId,
        events: &[PreparedEvent],
    ) -> Result<Option<Vec<Envelope>>, AppendError> {
        let mut originals = Vec::new();
        let mut first_used_key = None;
        let mut any_unused = false;
        for prepared in events {
            let Some(key) = &prepared.event.idempotency_key else {
                any_unused = true;
                continue;
            };
            let Some(original) = self.original_for_key(staged, key, stream, prepared)? else {
                any_unused = true;
                continue;
            };
            first_used_key.get_or_insert(key);
            originals.push(original);
        }
        match first_used_key {
            None => Ok(None),
            Some(key) if any_unused => Err(AppendError::IdempotencyConflict { key: key.clone() }),
            Some(_) => Ok(Some(originals)),
        }
    }

    /// The event that used `key` before, if any; a conflict if it differs from `candidate`.
    fn original_for_key(
        &self,
        staged: &Staged,
        key: &str,
        stream: &StreamId,
        candidate: &PreparedEvent,
    ) -> Result<Option<Envelope>, AppendError> {
        let conflict = || AppendError::IdempotencyConflict {
            key: key.to_owned(),
        };
        if let Some(&index) = staged.keys.get(key) {
            let original = &staged.envelopes[index];
            let same = original.stream_id == *stream
                && original.event_type == candidate.event.event_type
                && original.provenance == candidate.event.provenance
                && original.payload == candidate.event.payload;
            return if same {
                Ok(Some(original.clone()))
            } else {
                Err(conflict())
            };
        }
        let Some(position) = self
            .db()
            .get(codec::idempotency_key(key))
            .map_err(StoreError::from)?
        else {
            return Ok(None);
        };
        let corrupt = |reason: String| StoreError::Corrupt {
            what: format!("idempotency index entry for key {key:?}"),
            reason,
        };
        let position = codec::decode_u64(&position)
            .ok_or_else(|| corrupt("the position is not 8 bytes".to_owned()))?;
        let record = read::record_at(self.db(), position)?
            .ok_or_else(|| corrupt(format!("position {position} does not exist")))?;
        let raw = codec::split_record(&record).map_err(corrupt)?;
        let body = codec::decode_body(raw.body_bytes).map_err(corrupt)?;
        // Payloads compare as the JSON text written once at append: serde_json writes object
        // keys in sorted order, so equal values give equal text.
        let same = body.stream_id == stream.as_str()
            && body.event_type == candidate.event.event_type
            && body.provenance.as_deref() == candidate.event.provenance.as_deref()
            && body.payload.0.as_ref() == candidate.payload_json.as_slice();
        if !same {
            return Err(conflict());
        }
        let original =
            codec::body_into_envelope(position, raw.prev_hash, raw.hash, body).map_err(corrupt)?;
        Ok(Some(original))
    }
}

/// The group's sled batch: its events cut into chunks with their index entries (the
/// idempotency keys among them), and the new head.
fn group_batch(staged: &Staged) -> sled::Batch {
    let mut batch = sled::Batch::default();
    layout::add_events(&mut batch, &staged.envelopes, &staged.records);
    layout::set_head(
        &mut batch,
        Head {
            position: staged.position,
            hash: staged.hash,
        },
    );
    batch
}

impl Writer {
    /// The database, while the storage is available (groups are applied only then).
    fn db(&self) -> &sled::Db {
        self.db
            .as_ref()
            .expect("groups are written only while the storage is available")
    }

    fn flush_and_answer(&mut self, group: AppliedGroup) {
        if !group.envelopes.is_empty() {
            let started = Instant::now();
            let flushed = match self.storage.flush_fault() {
                Some(injected) => Err(injected),
                None => self.db().flush(),
            };
            if let Err(error) = flushed {
                // Taken away before anyone is answered: a retry meets the outage.
                let reason = self.fail_storage(&error);
                fail_group(group.replies, || StoreError::WriteFailed {
                    reason: reason.clone(),
                });
                return;
            }
            tracing::trace!(
                events = group.envelopes.len(),
                micros = started.elapsed().as_micros() as u64,
                "flushed"
            );
        }
        self.answer(group);
    }

    fn answer(&self, group: AppliedGroup) {
        let AppliedGroup {
            replies,
            envelopes,
            head,
        } = group;
        // A group of retries and rejections wrote nothing: the head stays, nobody is told.
        if !envelopes.is_empty() {
            *self.head.write() = head;
            // Subscribers hear of the group before its appenders are answered: the ledger's
            // projection follows through a subscription, and an appender that waits for it
            // then usually finds its event folded already instead of waiting to be woken
            // again.
            if self.published.receiver_count() > 0 {
                // No receiver is fine: subscribers come and go.
                let _ = self.published.send(Arc::from(envelopes.clone()));
            }
        }
        let mut envelopes = envelopes.into_iter();
        let mut taken = 0;
        for (reply, outcome) in replies {
            let result = match outcome {
                Outcome::Written(range) => {
                    // Ranges are increasing and disjoint, in reply order.
                    let skip = range.start - taken;
                    taken = range.end;
                    Ok(Appended::written(
                        envelopes.by_ref().skip(skip).take(range.len()).collect(),
                    ))
                }
                Outcome::Replayed(envelopes) => Ok(Appended::replayed(envelopes)),
                Outcome::Rejected(rejection) => Err(rejection),
            };
            // The caller may have given up waiting; the events are committed regardless.
            let _ = reply.send(result);
        }
    }
}
