//! The single writer: group commit of every waiting append with one sled batch and one flush.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

use crate::codec::{self, Body, RawBytes, StoredOccurred};
use crate::error::{AppendError, StoreError};
use crate::types::{Envelope, ExpectedVersion, Hash, Head, NewEvent, StreamId};

/// An event that passed the caller-side checks, with its payload already serialized once.
pub(crate) struct PreparedEvent {
    pub event: NewEvent,
    pub payload_json: Vec<u8>,
}

pub(crate) type AppendReply = oneshot::Sender<Result<Vec<Envelope>, AppendError>>;

pub(crate) struct AppendRequest {
    pub stream: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<PreparedEvent>,
    pub reply: AppendReply,
}

/// What the writer knows of the committed log; only the writer thread changes it.
pub(crate) struct WriterState {
    pub position: u64,
    pub hash: Hash,
    pub last_recorded_at: DateTime<Utc>,
    pub stream_versions: HashMap<StreamId, u64>,
}

pub(crate) struct Writer {
    pub requests: mpsc::Receiver<AppendRequest>,
    pub db: sled::Db,
    pub head: Arc<RwLock<Head>>,
    pub state: WriterState,
    pub published: broadcast::Sender<Arc<[Envelope]>>,
    pub max_group_events: usize,
    /// Set when the on-disk state is uncertain or inconsistent; every append is then refused.
    pub poisoned: Option<String>,
}

/// The effect of one group on the state, applied to [`WriterState`] only once it is durable.
struct Staged {
    batch: sled::Batch,
    position: u64,
    hash: Hash,
    recorded_at: DateTime<Utc>,
    stream_versions: HashMap<StreamId, u64>,
    /// Idempotency key -> index into `envelopes`, for retries inside the same group.
    keys: HashMap<String, usize>,
    envelopes: Vec<Envelope>,
}

enum Outcome {
    Written(Vec<Envelope>),
    Replayed(Vec<Envelope>),
    Rejected(AppendError),
}

impl Writer {
    pub(crate) fn run(mut self) {
        while let Ok(first) = self.requests.recv() {
            let mut events = first.events.len();
            let mut group = vec![first];
            while events < self.max_group_events {
                match self.requests.try_recv() {
                    Ok(request) => {
                        events += request.events.len();
                        group.push(request);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(group);
        }
        // Every acknowledged group was flushed already; this covers nothing but sled's own
        // bookkeeping, so a failure is only worth a log line.
        if let Err(error) = self.db.flush() {
            tracing::warn!(%error, "final flush of the event store failed");
        }
        tracing::debug!("event store writer stopped");
    }

    fn commit_group(&mut self, group: Vec<AppendRequest>) {
        if let Some(reason) = &self.poisoned {
            for request in group {
                let _ = request.reply.send(Err(StoreError::Poisoned {
                    reason: reason.clone(),
                }
                .into()));
            }
            return;
        }
        let started = Instant::now();
        let now = Utc::now();
        let mut staged = Staged {
            batch: sled::Batch::default(),
            position: self.state.position,
            hash: self.state.hash,
            recorded_at: now.max(self.state.last_recorded_at),
            stream_versions: HashMap::new(),
            keys: HashMap::new(),
            envelopes: Vec::new(),
        };
        let requests = group.len();
        let mut replies = Vec::with_capacity(requests);
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
            staged.batch.insert(
                codec::META_HEAD_KEY,
                &codec::encode_head(staged.position, &staged.hash)[..],
            );
            let durable = self
                .db
                .apply_batch(std::mem::take(&mut staged.batch))
                .and_then(|()| self.db.flush().map(drop));
            if let Err(error) = durable {
                // The batch may or may not be on disk now, and readers of this process may
                // already see it: refuse everything until a reopen settles what is there.
                let reason = error.to_string();
                tracing::error!(%reason, "group commit failed; the store refuses further writes");
                self.poisoned = Some(reason.clone());
                for (reply, outcome) in replies {
                    let result = match outcome {
                        Outcome::Rejected(rejection) => Err(rejection),
                        Outcome::Written(_) | Outcome::Replayed(_) => {
                            Err(StoreError::WriteFailed {
                                reason: reason.clone(),
                            }
                            .into())
                        }
                    };
                    let _ = reply.send(result);
                }
                return;
            }
            self.state.position = staged.position;
            self.state.hash = staged.hash;
            self.state.last_recorded_at = staged.recorded_at;
            self.state.stream_versions.extend(staged.stream_versions);
            *self.head.write().unwrap_or_else(|e| e.into_inner()) = Head {
                position: staged.position,
                hash: staged.hash,
            };
            tracing::trace!(
                requests,
                events = staged.envelopes.len(),
                head = staged.position,
                micros = started.elapsed().as_micros() as u64,
                "group committed"
            );
            if self.published.receiver_count() > 0 {
                // No receiver is fine: subscribers come and go.
                let _ = self.published.send(Arc::from(staged.envelopes));
            }
        }
        for (reply, outcome) in replies {
            let result = match outcome {
                Outcome::Written(envelopes) | Outcome::Replayed(envelopes) => Ok(envelopes),
                Outcome::Rejected(rejection) => Err(rejection),
            };
            // The caller may have given up waiting; the events are committed regardless.
            let _ = reply.send(result);
        }
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

        let current = staged
            .stream_versions
            .get(stream)
            .or_else(|| self.state.stream_versions.get(stream))
            .copied()
            .unwrap_or(0);
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
            let event_id = Uuid::now_v7();
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

            let position_bytes = codec::encode_u64(position);
            let batch = &mut staged.batch;
            batch.insert(
                &codec::event_key(position)[..],
                codec::encode_record(&prev_hash, &hash, &body_bytes),
            );
            batch.insert(
                codec::stream_index_key(stream.as_str(), version),
                &position_bytes[..],
            );
            batch.insert(codec::type_index_key(&event.event_type, position), &[][..]);
            batch.insert(&codec::event_id_key(event_id)[..], &position_bytes[..]);
            if let Some(key) = &event.idempotency_key {
                batch.insert(codec::idempotency_key(key), &position_bytes[..]);
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
        staged.batch.insert(
            codec::stream_version_key(stream.as_str()),
            &codec::encode_u64(version)[..],
        );
        staged.stream_versions.insert(stream.clone(), version);
        staged.envelopes.extend(written.iter().cloned());
        Outcome::Written(written)
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
                && original.payload == candidate.event.payload;
            return if same {
                Ok(Some(original.clone()))
            } else {
                Err(conflict())
            };
        }
        let Some(position) = self
            .db
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
        let record = self
            .db
            .get(codec::event_key(position))
            .map_err(StoreError::from)?
            .ok_or_else(|| corrupt(format!("position {position} does not exist")))?;
        let raw = codec::split_record(&record).map_err(corrupt)?;
        let body = codec::decode_body(raw.body_bytes).map_err(corrupt)?;
        // Payloads compare as the JSON text written once at append: serde_json writes object
        // keys in sorted order, so equal values give equal text.
        let same = body.stream_id == stream.as_str()
            && body.event_type == candidate.event.event_type
            && body.payload.0.as_ref() == candidate.payload_json.as_slice();
        if !same {
            return Err(conflict());
        }
        let original =
            codec::body_into_envelope(position, raw.prev_hash, raw.hash, body).map_err(corrupt)?;
        Ok(Some(original))
    }
}
