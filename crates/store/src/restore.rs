//! Restoring a log from already-hashed envelopes (a portable archive) into an empty store.
//!
//! An archive is trusted for nothing: every envelope's canonical bytes are rebuilt from its
//! fields exactly as the writer builds them, its hash is recomputed from `prev_hash` and
//! those bytes, and positions, links, stream versions, `recorded_at` and event ids must
//! follow the same rules [`EventStore::verify`] checks. The whole archive is judged before
//! the target directory is touched, so a refused archive writes nothing.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::codec::{self, Body, IndexedEvent, RawBytes, StoredOccurred};
use crate::config::StoreConfig;
use crate::error::{StoreError, VerifyReason};
use crate::store::{check_label, check_text, EventStore};
use crate::types::{Envelope, Hash, Head};

/// Chunks written per sled batch (and per flush) while restoring. Big enough that a
/// million-event restore does not wait on thousands of flushes, small enough that a batch
/// stays a few megabytes.
const CHUNKS_PER_BATCH: usize = 64;

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
    #[error("{dir} is not empty: an archive is restored only into a new or empty directory, never over an existing store")]
    NotEmpty { dir: PathBuf },
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

/// An envelope whose stored record has been rebuilt and checked against the chain.
struct Checked<'a> {
    envelope: &'a Envelope,
    record: Vec<u8>,
}

/// Judges the whole archive and rebuilds each stored record; writes nothing.
/// Returns the records and the head they end at.
fn check_archive(envelopes: &[Envelope]) -> Result<(Vec<Checked<'_>>, Head), RestoreError> {
    let mut prev_hash = Hash::genesis();
    let mut last_event_id = None;
    let mut last_recorded_at = None;
    let mut stream_versions: HashMap<&str, u64> = HashMap::new();
    let mut keys: HashSet<&str> = HashSet::new();
    let mut checked = Vec::with_capacity(envelopes.len());
    for (index, envelope) in envelopes.iter().enumerate() {
        let expected = index as u64 + 1;
        let broken = |reason| RestoreError::Broken {
            index,
            position: envelope.position,
            reason,
        };
        let chain = |reason| broken(ArchiveFault::Chain(reason));
        if envelope.position != expected {
            return Err(broken(ArchiveFault::OutOfOrder { expected }));
        }
        check_envelope_fields(envelope).map_err(&broken)?;
        if envelope.prev_hash != prev_hash {
            return Err(chain(VerifyReason::PrevHashMismatch {
                expected: prev_hash.to_hex(),
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
        let computed = codec::chain_hash(&prev_hash, envelope.position, &body_bytes);
        if computed != envelope.hash {
            return Err(chain(VerifyReason::HashMismatch {
                stored: envelope.hash.to_hex(),
                computed: computed.to_hex(),
            }));
        }
        let stream = envelope.stream_id.as_str();
        let previous_version = stream_versions.get(stream).copied().unwrap_or(0);
        if envelope.stream_version != previous_version + 1 {
            return Err(chain(VerifyReason::StreamVersionGap {
                stream: stream.to_owned(),
                previous: previous_version,
                found: envelope.stream_version,
            }));
        }
        if let Some(previous) = last_recorded_at {
            if envelope.recorded_at < previous {
                return Err(chain(VerifyReason::RecordedAtDecreased {
                    previous: previous.to_rfc3339(),
                    found: envelope.recorded_at.to_rfc3339(),
                }));
            }
        }
        if last_event_id.is_some_and(|last| envelope.event_id <= last) {
            return Err(chain(VerifyReason::EventIdNotIncreasing));
        }
        if let Some(key) = envelope.idempotency_key.as_deref() {
            if !keys.insert(key) {
                return Err(broken(ArchiveFault::DuplicateIdempotencyKey {
                    key: key.to_owned(),
                }));
            }
        }
        stream_versions.insert(stream, envelope.stream_version);
        last_recorded_at = Some(envelope.recorded_at);
        last_event_id = Some(envelope.event_id);
        prev_hash = computed;
        checked.push(Checked {
            envelope,
            record: codec::encode_record(&envelope.prev_hash, &computed, &body_bytes),
        });
    }
    let head = Head {
        position: envelopes.len() as u64,
        hash: prev_hash,
    };
    Ok((checked, head))
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
    /// yields them) into a new store at `dir`, which must be an empty directory or not exist,
    /// and opens it.
    ///
    /// Event ids, `recorded_at` and hashes are kept as they are, so the restored store
    /// verifies to the same digest as the original. The archive is checked completely
    /// first; a refused archive leaves `dir` untouched. Events are written a batch of chunks
    /// at a time, each batch flushed and moving the head, so an interrupted restore leaves a
    /// shorter but valid log (which a second restore refuses as not empty).
    pub fn restore(
        dir: &Path,
        config: StoreConfig,
        envelopes: &[Envelope],
    ) -> Result<EventStore, RestoreError> {
        let (checked, head) = check_archive(envelopes)?;
        // Checked before sled opens anything: opening an existing store already rewrites
        // some of its files.
        if !directory_is_absent_or_empty(dir)? {
            return Err(RestoreError::NotEmpty {
                dir: dir.to_owned(),
            });
        }
        let store = EventStore::open(dir, config.clone())?;
        write_chunks(store.__sled(), &checked)?;
        // The writer thread loaded its state (an empty log) at open: reopen so it starts
        // from the restored head. Dropping the only handle joins its threads.
        drop(store);
        let store = EventStore::open(dir, config)?;
        if store.head() != head {
            return Err(StoreError::Corrupt {
                what: "restored store".to_owned(),
                reason: format!("reopened at {}, expected {head}", store.head()),
            }
            .into());
        }
        tracing::info!(dir = %dir.display(), %head, "archive restored");
        Ok(store)
    }
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

/// Cuts the records into chunks as the writer does and commits them batch by batch.
fn write_chunks(db: &sled::Db, checked: &[Checked<'_>]) -> Result<(), StoreError> {
    let mut batch = sled::Batch::default();
    let mut chunks_in_batch = 0;
    let mut start = 0;
    while start < checked.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < checked.len() && end - start < codec::CHUNK_MAX_EVENTS {
            let size = 4 + checked[end].record.len();
            if end > start && bytes + size > codec::CHUNK_MAX_BYTES {
                break;
            }
            bytes += size;
            end += 1;
        }
        let events = &checked[start..end];
        let mut chunk = Vec::with_capacity(bytes);
        for event in events {
            codec::push_chunk_record(&mut chunk, &event.record);
        }
        batch.insert(&codec::event_key(events[0].envelope.position)[..], chunk);
        let indexed: Vec<IndexedEvent<'_>> = events
            .iter()
            .map(|event| IndexedEvent {
                position: event.envelope.position,
                event_id: *event.envelope.event_id.as_bytes(),
                stream: event.envelope.stream_id.as_str(),
                stream_version: event.envelope.stream_version,
                event_type: &event.envelope.event_type,
                idempotency_key: event.envelope.idempotency_key.as_deref(),
            })
            .collect();
        for entry in codec::chunk_index_entries(&indexed) {
            batch.insert(entry.key, entry.value);
        }
        chunks_in_batch += 1;
        start = end;
        if chunks_in_batch == CHUNKS_PER_BATCH || start == checked.len() {
            let last = events[events.len() - 1].envelope;
            batch.insert(
                codec::META_HEAD_KEY,
                &codec::encode_head(last.position, &last.hash)[..],
            );
            db.apply_batch(std::mem::take(&mut batch))?;
            db.flush()?;
            chunks_in_batch = 0;
        }
    }
    Ok(())
}
