//! Restoring a log from already-hashed envelopes (a portable archive) into an empty store.
//!
//! An archive is trusted for nothing: every envelope's canonical bytes are rebuilt from its
//! fields exactly as the writer builds them, its hash is recomputed from `prev_hash` and
//! those bytes, and positions, links, stream versions, `recorded_at` and event ids must
//! follow the same rules [`EventStore::verify`] checks. The whole archive is judged before
//! the target directory is touched, so a refused archive writes nothing.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::chunk::Format;
use crate::codec::{self, Body, RawBytes, StoredOccurred};
use crate::config::Backend;
use crate::config::StoreConfig;
use crate::error::{StoreError, VerifyReason};
use crate::event_store::EventStore;
use crate::layout::{self, Chunker};
use crate::prepare::{check_label, check_text};
use crate::types::{Envelope, Hash, Head};

/// Chunks written per sled batch (and per flush) while restoring: 1,024 events. Measured at
/// 1,000,000 events (docs/benchmarks.md), 16 took 88 s and 5.0 GiB, 64 took 115 s and 6.4 GiB.
const CHUNKS_PER_BATCH: usize = 16;

/// Why an archive was refused, or the store could not take it.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// `index` is the envelope's place in the archive, from 0.
    #[error("archive entry {index} (position {position}): {reason}")]
    Broken {
        index: usize,
        position: u64,
        reason: ArchiveFault,
    },
    /// The archive could not yield entry `index` (from 0): unreadable or not an envelope.
    #[error("archive entry {index}: {source}")]
    Unreadable {
        index: usize,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{dir} is not empty: an archive is restored only into a new or empty directory, never over an existing store")]
    NotEmpty { dir: PathBuf },
    #[error("the PostgreSQL log is not empty (it ends at {head}): an archive is restored only into an empty log, never over an existing one")]
    LogNotEmpty { head: Head },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The first thing wrong with an archive entry.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveFault {
    #[error("expected position {expected}: entries must be in position order, gapless from 1 (reordered or missing entries)")]
    OutOfOrder { expected: u64 },
    #[error("invalid `{field}`: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("idempotency key {key:?} was already used at an earlier position")]
    DuplicateIdempotencyKey { key: String },
    #[error(transparent)]
    Chain(VerifyReason),
}

/// The chain as judged so far: what the next archive entry must continue.
pub(crate) struct Chain {
    prev_hash: Hash,
    next_position: u64,
    last_event_id: Option<uuid::Uuid>,
    last_recorded_at: Option<chrono::DateTime<chrono::Utc>>,
    stream_versions: HashMap<String, u64>,
    keys: HashSet<String>,
}

impl Chain {
    pub(crate) fn new() -> Self {
        Chain {
            prev_hash: Hash::genesis(),
            next_position: 1,
            last_event_id: None,
            last_recorded_at: None,
            stream_versions: HashMap::new(),
            keys: HashSet::new(),
        }
    }

    pub(crate) fn head(&self) -> Head {
        Head {
            position: self.next_position - 1,
            hash: self.prev_hash,
        }
    }

    /// Checks the entry at `index` against the chain so far and returns its stored record.
    pub(crate) fn check(
        &mut self,
        index: usize,
        envelope: &Envelope,
    ) -> Result<Vec<u8>, RestoreError> {
        let broken = |reason| RestoreError::Broken {
            index,
            position: envelope.position,
            reason,
        };
        let chain = |reason| broken(ArchiveFault::Chain(reason));
        let expected = self.next_position;
        if envelope.position != expected {
            return Err(broken(ArchiveFault::OutOfOrder { expected }));
        }
        check_envelope_fields(envelope).map_err(&broken)?;
        if envelope.prev_hash != self.prev_hash {
            return Err(chain(VerifyReason::PrevHashMismatch {
                expected: self.prev_hash.to_hex(),
                found: envelope.prev_hash.to_hex(),
            }));
        }
        let payload = serde_json::to_vec(&envelope.payload).map_err(|e| {
            broken(ArchiveFault::InvalidField {
                field: "payload",
                reason: e.to_string(),
            })
        })?;
        let body = Body {
            event_id: *envelope.event_id.as_bytes(),
            stream_id: envelope.stream_id.as_str().into(),
            stream_version: envelope.stream_version,
            event_type: envelope.event_type.as_str().into(),
            schema_version: envelope.schema_version,
            occurred: StoredOccurred::from_occurred(envelope.occurred),
            recorded_at_secs: envelope.recorded_at.timestamp(),
            recorded_at_nanos: envelope.recorded_at.timestamp_subsec_nanos(),
            actor: envelope.actor.as_str().into(),
            provenance: envelope.provenance.as_deref().map(Into::into),
            idempotency_key: envelope.idempotency_key.as_deref().map(Into::into),
            payload: RawBytes(payload.as_slice().into()),
        };
        let body_bytes = codec::encode_body(&body);
        let computed = codec::chain_hash(&self.prev_hash, envelope.position, &body_bytes);
        if computed != envelope.hash {
            return Err(chain(VerifyReason::HashMismatch {
                stored: envelope.hash.to_hex(),
                computed: computed.to_hex(),
            }));
        }
        let stream = envelope.stream_id.as_str();
        let previous_version = self.stream_versions.get(stream).copied().unwrap_or(0);
        if envelope.stream_version != previous_version + 1 {
            return Err(chain(VerifyReason::StreamVersionGap {
                stream: stream.to_owned(),
                previous: previous_version,
                found: envelope.stream_version,
            }));
        }
        if let Some(previous) = self.last_recorded_at {
            if envelope.recorded_at < previous {
                return Err(chain(VerifyReason::RecordedAtDecreased {
                    previous: previous.to_rfc3339(),
                    found: envelope.recorded_at.to_rfc3339(),
                }));
            }
        }
        if self
            .last_event_id
            .is_some_and(|last| envelope.event_id <= last)
        {
            return Err(chain(VerifyReason::EventIdNotIncreasing));
        }
        if let Some(key) = envelope.idempotency_key.as_deref() {
            if !self.keys.insert(key.to_owned()) {
                return Err(broken(ArchiveFault::DuplicateIdempotencyKey {
                    key: key.to_owned(),
                }));
            }
        }
        self.stream_versions
            .insert(stream.to_owned(), envelope.stream_version);
        self.last_recorded_at = Some(envelope.recorded_at);
        self.last_event_id = Some(envelope.event_id);
        self.prev_hash = computed;
        self.next_position += 1;
        Ok(codec::encode_record(
            &envelope.prev_hash,
            &computed,
            &body_bytes,
        ))
    }
}

/// The same envelope-level rules an append enforces, since a valid chain proves only that
/// the archive is self-consistent, not that a store wrote it.
fn check_envelope_fields(envelope: &Envelope) -> Result<(), ArchiveFault> {
    let invalid = |field, reason| ArchiveFault::InvalidField { field, reason };
    check_label(&envelope.event_type).map_err(|r| invalid("event_type", r))?;
    check_label(&envelope.actor).map_err(|r| invalid("actor", r))?;
    if envelope.schema_version == 0 {
        return Err(invalid("schema_version", "must be at least 1".to_owned()));
    }
    if let Some(provenance) = &envelope.provenance {
        check_text(provenance).map_err(|r| invalid("provenance", r))?;
    }
    if let Some(key) = &envelope.idempotency_key {
        check_label(key).map_err(|r| invalid("idempotency_key", r))?;
    }
    Ok(())
}

impl EventStore {
    /// Restores `envelopes` (a whole log, positions 1..=n, as [`EventStore::iter_from`]
    /// yields them) into a new store at `dir`; see [`EventStore::restore_from`].
    pub fn restore(
        dir: &Path,
        config: StoreConfig,
        envelopes: &[Envelope],
    ) -> Result<EventStore, RestoreError> {
        EventStore::restore_from(dir, config, || {
            envelopes
                .iter()
                .cloned()
                .map(Ok::<_, std::convert::Infallible>)
        })
    }

    /// Restores an archive into a new store at `dir`, which must be an empty directory or
    /// not exist, and opens it. `archive` is called twice and must yield the same entries
    /// both times (e.g. by reading a file twice), so memory does not grow with the log: the
    /// first pass judges the whole archive and a refused archive leaves `dir` untouched; the
    /// second pass writes it. An entry that cannot be read is [`RestoreError::Unreadable`].
    ///
    /// Event ids, `recorded_at` and hashes are kept as they are, so the restored store
    /// verifies to the same digest as the original. Events are written a batch of chunks at
    /// a time, each batch flushed and moving the head, so an interrupted restore (or an
    /// archive changed between the passes) leaves a shorter but valid log, which a second
    /// restore refuses because the directory is not empty.
    pub fn restore_from<F, I, E>(
        dir: &Path,
        config: StoreConfig,
        archive: F,
    ) -> Result<EventStore, RestoreError>
    where
        F: Fn() -> I,
        I: IntoIterator<Item = Result<Envelope, E>>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let head = check_archive(archive())?;
        if config.backend == Backend::Postgres {
            let store = EventStore::from_pg(crate::pg::restore::restore_from(config, archive)?)?;
            return restored(store, head, dir);
        }
        // Checked before sled opens anything: opening an existing store already rewrites
        // some of its files.
        if !directory_is_absent_or_empty(dir)? {
            return Err(RestoreError::NotEmpty {
                dir: dir.to_owned(),
            });
        }
        let store = EventStore::open(dir, config.clone())?;
        write_chunks(&store.__sled(), archive)?;
        // The writer thread loaded its state (an empty log) at open: reopen so it starts
        // from the restored head. Dropping the only handle joins its threads.
        drop(store);
        let store = EventStore::open(dir, config)?;
        restored(store, head, dir)
    }
}

/// The store a restore opened, if it ends at the archive's head.
fn restored(store: EventStore, head: Head, dir: &Path) -> Result<EventStore, RestoreError> {
    if store.head() != head {
        return Err(StoreError::Corrupt {
            what: "restored store".to_owned(),
            reason: format!(
                "reopened at {}, expected {head}: the archive changed during the restore",
                store.head()
            ),
        }
        .into());
    }
    match store.backend() {
        Backend::Sled => tracing::info!(dir = %dir.display(), %head, "archive restored"),
        Backend::Postgres => tracing::info!(%head, "archive restored into PostgreSQL"),
    }
    Ok(store)
}

/// Judges a whole archive as [`EventStore::restore_from`] does before writing anything (every
/// hash recomputed, links, positions, stream versions, `recorded_at`, event ids, idempotency
/// keys), writing nothing: the head it ends at, or the first entry at fault.
pub fn check_archive<I, E>(archive: I) -> Result<Head, RestoreError>
where
    I: IntoIterator<Item = Result<Envelope, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut judged = Chain::new();
    for (index, entry) in archive.into_iter().enumerate() {
        let envelope = entry.map_err(|source| RestoreError::Unreadable {
            index,
            source: source.into(),
        })?;
        judged.check(index, &envelope)?;
    }
    Ok(judged.head())
}

fn directory_is_absent_or_empty(dir: &Path) -> Result<bool, StoreError> {
    let io = |source| StoreError::Io {
        path: dir.to_owned(),
        source,
    };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(error) => Err(io(error)),
    }
}

/// Second pass: checks each entry again (the archive is read anew) and commits the records
/// cut into chunks as the writer cuts them, a batch of chunks per flush. The store was made
/// empty for the restore, so it is of the current format.
fn write_chunks<F, I, E>(db: &sled::Db, archive: F) -> Result<(), RestoreError>
where
    F: Fn() -> I,
    I: IntoIterator<Item = Result<Envelope, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut chain = Chain::new();
    let mut batch = sled::Batch::default();
    let mut chunks_in_batch = 0;
    let mut chunker = Chunker::default();
    // The chunk being filled: its events and their stored records.
    let mut envelopes: Vec<Envelope> = Vec::new();
    let mut records: Vec<Vec<u8>> = Vec::new();
    for (index, entry) in archive().into_iter().enumerate() {
        let envelope = entry.map_err(|source| RestoreError::Unreadable {
            index,
            source: source.into(),
        })?;
        let record = chain.check(index, &envelope)?;
        if chunker.opens_chunk(record.len()) && !envelopes.is_empty() {
            layout::add_chunk(&mut batch, Format::CURRENT, &envelopes, &records);
            chunks_in_batch += 1;
            if chunks_in_batch == CHUNKS_PER_BATCH {
                let last = &envelopes[envelopes.len() - 1];
                let head = Head {
                    position: last.position,
                    hash: last.hash,
                };
                commit(db, &mut batch, head)?;
                chunks_in_batch = 0;
            }
            envelopes.clear();
            records.clear();
        }
        envelopes.push(envelope);
        records.push(record);
    }
    if !envelopes.is_empty() {
        layout::add_chunk(&mut batch, Format::CURRENT, &envelopes, &records);
        commit(db, &mut batch, chain.head())?;
    }
    Ok(())
}

fn commit(db: &sled::Db, batch: &mut sled::Batch, head: Head) -> Result<(), StoreError> {
    layout::set_head(batch, head);
    db.apply_batch(std::mem::take(batch))?;
    db.flush()?;
    Ok(())
}
