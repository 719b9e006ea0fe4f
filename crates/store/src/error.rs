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
         version {supported} only{}",
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
    #[error("corrupt store: {what}: {reason}")]
    Corrupt { what: String, reason: String },
    /// The write group this append belonged to could not be made durable.
    #[error("the append could not be written: {reason}")]
    WriteFailed { reason: String },
    /// An earlier flush failed, so nothing more is accepted: what is on disk is unknown
    /// until the store is reopened (and verified).
    #[error("the store refuses writes since a failed flush: {reason}; reopen it")]
    Poisoned { reason: String },
    #[error("the store is closed")]
    Closed,
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
    #[error(transparent)]
    Store(#[from] StoreError),
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
}
