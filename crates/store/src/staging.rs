//! The judgement of a commit group, the same on every backend: each append checked against
//! the committed log plus the appends before it in the group (idempotent retries recalled,
//! expected versions checked), event ids, `recorded_at` and the hash chain assigned, and
//! the group's appenders answered once the backend made it durable. What the committed log
//! holds is asked of the backend through [`Committed`]; how the group is written is the
//! backend's (`crate::writer` for sled, `crate::pg::writer` for PostgreSQL).

use parking_lot::RwLock;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

use crate::codec::{self, Body, RawBytes, StoredOccurred};
use crate::error::{AppendError, StoreError};
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

/// What a group is judged against besides the group itself: the committed log.
pub(crate) trait Committed {
    /// The stream's current version (0: no events).
    fn stream_version(&mut self, stream: &StreamId) -> Result<u64, StoreError>;
    /// The position and stored record (`prev_hash ‖ hash ‖ body`) of the event that used
    /// the idempotency key `key`, if one did.
    fn keyed(&mut self, key: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError>;
}

/// The effect of one group on the log, built up request by request.
pub(crate) struct Staged {
    pub position: u64,
    pub hash: Hash,
    pub recorded_at: DateTime<Utc>,
    pub last_event_id: Option<Uuid>,
    /// The version of every stream the group looked at, after the group.
    pub stream_versions: HashMap<StreamId, u64>,
    /// Idempotency key -> index into `envelopes`, for retries inside the same group.
    keys: HashMap<String, usize>,
    pub envelopes: Vec<Envelope>,
    /// The stored record of each envelope, same order (its body, the canonical bytes, from
    /// byte [`codec::HASHES_LEN`] on).
    pub records: Vec<Vec<u8>>,
}

impl Staged {
    /// A group on top of the log ending at `head`, whose last event was recorded at
    /// `last_recorded_at` with id `last_event_id`; its events are recorded at `now` or, if
    /// the clock stepped back, at the last event's time.
    pub(crate) fn new(
        head: Head,
        last_recorded_at: DateTime<Utc>,
        last_event_id: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Self {
        Staged {
            position: head.position,
            hash: head.hash,
            recorded_at: now.max(last_recorded_at),
            last_event_id,
            stream_versions: HashMap::new(),
            keys: HashMap::new(),
            envelopes: Vec::new(),
            records: Vec::new(),
        }
    }

    pub(crate) fn head(&self) -> Head {
        Head {
            position: self.position,
            hash: self.hash,
        }
    }
}

pub(crate) enum Outcome {
    /// These envelopes of the group.
    Written(Range<usize>),
    Replayed(Vec<Envelope>),
    Rejected(AppendError),
}

/// Answers a group that cannot become durable: its rejections stand, the rest failed.
pub(crate) fn fail_group(replies: Vec<(AppendReply, Outcome)>, error: impl Fn() -> StoreError) {
    for (reply, outcome) in replies {
        let result = match outcome {
            Outcome::Rejected(rejection) => Err(rejection),
            Outcome::Written(_) | Outcome::Replayed(_) => Err(error().into()),
        };
        let _ = reply.send(result);
    }
}

/// Checks one request against the committed log plus the group so far, and stages it.
/// Nothing is staged unless the whole request is accepted.
pub(crate) fn stage(
    staged: &mut Staged,
    committed: &mut dyn Committed,
    stream: &StreamId,
    expected: ExpectedVersion,
    events: Vec<PreparedEvent>,
) -> Outcome {
    match replay_originals(staged, committed, stream, &events) {
        Ok(Some(originals)) => return Outcome::Replayed(originals),
        Ok(None) => {}
        Err(rejection) => return Outcome::Rejected(rejection),
    }

    let current = match staged.stream_versions.get(stream) {
        Some(version) => *version,
        None => match committed.stream_version(stream) {
            Ok(version) => {
                // Staged like a write, so a backend caches it only with a committed group.
                staged.stream_versions.insert(stream.clone(), version);
                version
            }
            Err(error) => return Outcome::Rejected(error.into()),
        },
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

/// `Some(originals)` when every event repeats an earlier one under its idempotency key;
/// `None` when no event's key was used before; a conflict for anything in between.
fn replay_originals(
    staged: &Staged,
    committed: &mut dyn Committed,
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
        let Some(original) = original_for_key(staged, committed, key, stream, prepared)? else {
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
    staged: &Staged,
    committed: &mut dyn Committed,
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
    let Some((position, record)) = committed.keyed(key)? else {
        return Ok(None);
    };
    let corrupt = |reason: String| StoreError::Corrupt {
        what: format!("idempotency index entry for key {key:?}"),
        reason,
    };
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

/// Where a durable group is announced: the head readers stop at, and the live subscribers.
pub(crate) struct Publisher {
    pub head: Arc<RwLock<Head>>,
    pub published: broadcast::Sender<Arc<[Envelope]>>,
}

impl Publisher {
    /// Moves the head to `head` and tells subscribers of `envelopes` (the events up to it
    /// not announced yet); nothing when there are none.
    pub(crate) fn publish(&self, envelopes: &[Envelope], head: Head) {
        if envelopes.is_empty() {
            return;
        }
        *self.head.write() = head;
        if self.published.receiver_count() > 0 {
            // No receiver is fine: subscribers come and go.
            let _ = self.published.send(Arc::from(envelopes.to_vec()));
        }
    }
}

/// Answers a durable group: the head moves and subscribers hear of it first, then each
/// appender gets its envelopes, its originals or its rejection.
pub(crate) fn answer(
    publisher: &Publisher,
    replies: Vec<(AppendReply, Outcome)>,
    envelopes: Vec<Envelope>,
    head: Head,
) {
    // A group of retries and rejections wrote nothing: the head stays, nobody is told.
    // Subscribers hear of the group before its appenders are answered: the ledger's
    // projection follows through a subscription, and an appender that waits for it then
    // usually finds its event folded already instead of waiting to be woken again.
    publisher.publish(&envelopes, head);
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
