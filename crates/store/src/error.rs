use std::fmt;
use std::path::PathBuf;

use crate::types::{ExpectedVersion, StreamId};

/// A failure of the store itself (disk, format, lifecycle), as opposed to a rejected append.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{dir} is not a kpi-ledger store: {reason}")]
    NotAStore { dir: PathBuf, reason: String },
    #[error(
        "{dir} holds a kpi-ledger store of format version {found}; this build reads format \
         versions 1 to {supported} only{}",
        newer_note(.found, .supported)
    )]
    UnsupportedFormat {
        dir: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("{dir} is in use: another process (or another open store in this one) holds it")]
    Locked { dir: PathBuf },
    #[error("invalid store config: `{field}` {reason}")]
    InvalidConfig { field: &'static str, reason: String },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// PostgreSQL refused a statement or the connection failed (the message names which).
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error(
        "the PostgreSQL database holds kpi-ledger schema version {found}; this build knows \
         versions up to {supported}{}",
        newer_note(.found, .supported)
    )]
    UnsupportedSchema { found: u32, supported: u32 },
    #[error("corrupt store: {what}: {reason}")]
    Corrupt { what: String, reason: String },
    /// The storage failed while the write group this append belonged to was written or
    /// flushed: the append was not acknowledged, and whether it is in the log is known only
    /// once the store has reopened its database. A retry with the same idempotency key then
    /// returns it if it is there and writes it if not.
    #[error(
        "the append was not acknowledged: the storage failed while writing it ({reason}); it \
         is in the log once the storage recovers, or not at all: send it again with the same \
         idempotency key (without one it may be recorded twice)"
    )]
    WriteFailed { reason: String },
    /// The storage failed and the store has not reopened it yet: reads of the log and
    /// appends are refused meanwhile (nothing is written).
    #[error(
        "the storage is unavailable ({reason}); {}",
        RetryIn(*.retry_in_secs)
    )]
    Unavailable {
        reason: String,
        /// Seconds until the store tries to reopen its database (`None`: not known).
        retry_in_secs: Option<u64>,
    },
    /// The log was found inconsistent (at open, or when reopened after a storage failure):
    /// nothing more is appended to it.
    #[error("the store refuses writes: {reason}")]
    Poisoned { reason: String },
    #[error("the store is closed")]
    Closed,
    /// A tree size or position past what the log (or the tree asked about) holds.
    #[error("{what} {asked} is beyond {head}, the size of the log or tree asked about")]
    BeyondHead {
        what: &'static str,
        asked: u64,
        head: u64,
    },
}

/// Why an append was rejected. Every rejection writes nothing.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(
        "wrong expected version for stream `{stream}`: expected {expected}, actual {}",
        ActualVersion(*.actual)
    )]
    WrongExpectedVersion {
        stream: StreamId,
        expected: ExpectedVersion,
        /// `None` when the stream has no events.
        actual: Option<u64>,
    },
    #[error(
        "idempotency key `{key}` conflicts with an earlier append: a retry must repeat the \
         original batch exactly (same stream, event types, provenance, payloads and keys), and \
         a key may not be reused for a different event"
    )]
    IdempotencyConflict { key: String },
    #[error("empty batch: an append needs at least one event")]
    EmptyBatch,
    #[error("event {index} is too large: {size} bytes, the limit (max_event_bytes) is {limit}")]
    EventTooLarge {
        index: usize,
        size: usize,
        limit: usize,
    },
    /// `field` names the event and field, e.g. `events[2].actor`.
    #[error("invalid `{field}`: {reason}")]
    InvalidEvent { field: String, reason: String },
    /// Refused without being written: the storage failed and the store has not reopened it
    /// yet. The same append (same idempotency key) may be sent again later.
    #[error(
        "nothing was written: the storage is unavailable ({reason}); {}; send the append \
         again later, with the same idempotency key",
        RetryIn(Some(*.retry_in_secs))
    )]
    Unavailable { reason: String, retry_in_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl StoreError {
    /// Whether this is the storage failing (a full disk, an I/O error) rather than the log
    /// or the request: the store recovers by itself, and the same request may be sent again.
    pub fn is_storage_failure(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::WriteFailed { .. }
        )
    }
}

impl AppendError {
    /// See [`StoreError::is_storage_failure`].
    pub fn is_storage_failure(&self) -> bool {
        match self {
            AppendError::Unavailable { .. } => true,
            AppendError::Store(error) => error.is_storage_failure(),
            _ => false,
        }
    }
}

/// When the store tries to reopen its database, in words.
struct RetryIn(Option<u64>);

impl fmt::Display for RetryIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("the store reopens it as soon as it can"),
            Some(0) => f.write_str("the store is trying to reopen it now"),
            Some(secs) => write!(f, "the store tries to reopen it in {secs} s"),
        }
    }
}

fn newer_note(found: &u32, supported: &u32) -> &'static str {
    if found > supported {
        " (it was written by a newer kpi-ledger)"
    } else {
        ""
    }
}

struct ActualVersion(Option<u64>);

impl fmt::Display for ActualVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("no stream"),
            Some(version) => write!(f, "version {version}"),
        }
    }
}

/// Why [`crate::EventStore::verify`] rejected the log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("verification failed at position {position}: {reason}")]
pub struct VerifyFailure {
    pub position: u64,
    pub reason: VerifyReason,
}

/// The first thing found wrong at a position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyReason {
    #[error("the event is missing (positions must be gapless from 1)")]
    Missing,
    #[error("an event exists beyond the head recorded in the store's metadata")]
    BeyondHead,
    #[error("the record cannot be decoded: {0}")]
    Undecodable(String),
    #[error("prev_hash {found} does not match the previous event's hash {expected}")]
    PrevHashMismatch { expected: String, found: String },
    #[error(
        "stored hash {stored} does not match the recomputed hash {computed}: the event was changed"
    )]
    HashMismatch { stored: String, computed: String },
    #[error(
        "the event's hash {found} is not {expected}, the hash recorded for this position \
         (by a projection checkpoint, or when the store was last closed)"
    )]
    UnexpectedHash { expected: String, found: String },
    #[error(
        "the log ends before this position, but it held {closed_at} events when the store was \
         last closed: sled drops what follows a damaged part of its file when it reopens it \
         (restore the latest archive)"
    )]
    Truncated { closed_at: u64 },
    #[error("stream `{stream}` jumps from version {previous} to {found}")]
    StreamVersionGap {
        stream: String,
        previous: u64,
        found: u64,
    },
    #[error("recorded_at {found} is earlier than the previous event's {previous}")]
    RecordedAtDecreased { previous: String, found: String },
    #[error("the event id is not above the previous event's (ids must increase with position)")]
    EventIdNotIncreasing,
    #[error("the {index} index does not point to this event")]
    IndexMismatch { index: &'static str },
    #[error("the store's head metadata says {found}, the log ends with {expected}")]
    HeadMismatch { expected: String, found: String },
    #[error("the store could not be read: {0}")]
    Unreadable(String),
    /// Not a finding about the log: the storage failed while the walk ran (or before it),
    /// so the walk proves nothing either way. Holds the storage's error, e.g. "No space left
    /// on device".
    #[error("the storage is unavailable ({0}): the walk proves nothing about the log")]
    StorageUnavailable(String),
    #[error(
        "the log reopened after a storage failure ends before this position, but events up \
         to position {acknowledged} had been acknowledged"
    )]
    LostAcknowledged { acknowledged: u64 },
}

impl VerifyFailure {
    /// Whether the walk failed because the storage did, not because of the log.
    pub fn is_storage_failure(&self) -> bool {
        matches!(self.reason, VerifyReason::StorageUnavailable(_))
    }
}
