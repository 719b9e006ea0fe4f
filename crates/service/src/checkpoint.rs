//! Projection checkpoints: the live projection's fold state persisted in the data directory
//! with the log position and event hash it reflects, so start-up folds only the events after
//! it.
//!
//! A checkpoint is one file, `DIR/checkpoints/projection.ckpt`:
//!
//! ```text
//! magic "kpickpt\n" | format version (u32 LE) | header length (u32 LE) | header | body
//! ```
//!
//! The header (postcard) holds the position, the hash of the event at that position, the
//! digest of the plan definitions and the length and SHA-256 of the body; the body is the
//! domain's [`ProjectionSnapshot`] (postcard), compressed with zstd (level 1: at 1,000,000
//! events 80.9 MB became 18.5 MB, in about a quarter of a second). A checkpoint is used only when the log still
//! holds that event at that position, the plans are the same and the body is intact;
//! otherwise it is discarded and the log is folded from the start.

use parking_lot::Mutex;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kpi_domain::projection::{plans_digest, ProjectionSnapshot};
use kpi_domain::PlanDefinition;
use kpi_store::{EventStore, Hash};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::LedgerError;

const MAGIC: &[u8; 8] = b"kpickpt\n";
/// zstd level of the body: level 3 took 1.6x as long for a body 8 % larger.
const BODY_ZSTD_LEVEL: i32 = 1;
/// Bumped whenever the header or the snapshot's encoding changes: an older file is then
/// discarded instead of misread.
pub(crate) const FORMAT_VERSION: u32 = 5;
const DIRECTORY: &str = "checkpoints";
const FILE_NAME: &str = "projection.ckpt";
const TEMP_NAME: &str = "projection.ckpt.tmp";

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    position: u64,
    event_hash: [u8; 32],
    plans_digest: [u8; 32],
    body_len: u64,
    body_sha256: [u8; 32],
}

/// What was found at start-up.
pub(crate) enum Found {
    Absent,
    Usable {
        position: u64,
        /// The hash the checkpoint recorded for the event at `position`.
        hash: Hash,
        snapshot: Box<ProjectionSnapshot>,
    },
    Unusable(String),
}

/// The checkpoint file of one data directory, and the bookkeeping that keeps concurrent
/// writers (the follower, a swap, close) from replacing a newer checkpoint with an older one.
pub(crate) struct Checkpoints {
    directory: PathBuf,
    /// Held while a file is written; the value is the sequence of the last snapshot written.
    written: Mutex<WrittenState>,
    next_sequence: AtomicU64,
    /// Set while a background checkpoint is built or written, so a slow disk does not pile up
    /// copies of the projection.
    busy: AtomicBool,
    /// Set when the ledger closes: a checkpoint being built stops.
    stopping: AtomicBool,
}

struct WrittenState {
    sequence: u64,
    /// Position and plans of the checkpoint on disk, to skip rewriting the same state.
    on_disk: Option<(u64, [u8; 32])>,
    /// Set by the write at close: a background write finishing later (or a ledger opened
    /// meanwhile on the same directory) must not see this one replace its file.
    closed: bool,
}

impl Checkpoints {
    pub(crate) fn new(data_dir: &Path) -> Checkpoints {
        Checkpoints {
            directory: data_dir.join(DIRECTORY),
            written: Mutex::new(WrittenState {
                sequence: 0,
                on_disk: None,
                closed: false,
            }),
            next_sequence: AtomicU64::new(1),
            busy: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
        }
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.directory.join(FILE_NAME)
    }

    /// Orders snapshots: take one just before copying the projection.
    pub(crate) fn next_sequence(&self) -> u64 {
        self.next_sequence.fetch_add(1, Ordering::Relaxed)
    }

    /// Claims the single background write slot; `false` when a write is still pending.
    pub(crate) fn try_begin_background(&self) -> bool {
        !self.busy.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn end_background(&self) {
        self.busy.store(false, Ordering::Release);
    }

    /// Whether the ledger is closing (a background build stops at its next chunk).
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Tells a background checkpoint to stop and waits until it has: it reads the store,
    /// which is about to close.
    pub(crate) async fn stop_background(&self) {
        self.stopping.store(true, Ordering::Release);
        while self.busy.load(Ordering::Acquire) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Reads the checkpoint and checks it against the log and the plans; the snapshot is
    /// decoded only when everything else fits.
    pub(crate) fn load(&self, store: &EventStore, plans: &[PlanDefinition]) -> Found {
        let bytes = match std::fs::read(self.path()) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Found::Absent,
            Err(error) => return Found::Unusable(format!("cannot read it: {error}")),
        };
        match check(&bytes, store, plans) {
            Ok((position, hash, snapshot)) => {
                let mut written = self.lock();
                written.on_disk = Some((position, snapshot.plans_digest()));
                Found::Usable {
                    position,
                    hash,
                    snapshot: Box::new(snapshot),
                }
            }
            Err(reason) => Found::Unusable(reason),
        }
    }

    /// Removes the checkpoint file (one that did not fit the log).
    pub(crate) fn remove(&self) {
        match std::fs::remove_file(self.path()) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(%error, "cannot remove the discarded checkpoint"),
        }
        self.lock().on_disk = None;
    }

    /// Writes `snapshot` as the checkpoint, atomically (temporary file, fsync, rename, fsync
    /// of the directory). `event_hash` is the hash of the event at the snapshot's position.
    /// Returns `false` when nothing was written: a snapshot taken later (higher `sequence`)
    /// is already on disk, or the same state is, or the ledger was closed. `last` marks the
    /// write at close: no other is made after it.
    pub(crate) fn write(
        &self,
        sequence: u64,
        event_hash: Hash,
        snapshot: &ProjectionSnapshot,
        last: bool,
    ) -> io::Result<bool> {
        let mut written = self.lock();
        if written.closed {
            return Ok(false);
        }
        written.closed = last;
        let state = (snapshot.last_position(), snapshot.plans_digest());
        if sequence < written.sequence || written.on_disk == Some(state) {
            return Ok(false);
        }
        let plain = postcard::to_allocvec(snapshot).map_err(io::Error::other)?;
        let body = zstd::stream::encode_all(&plain[..], BODY_ZSTD_LEVEL)?;
        drop(plain);
        let header = Header {
            position: snapshot.last_position(),
            event_hash: *event_hash.as_bytes(),
            plans_digest: snapshot.plans_digest(),
            body_len: body.len() as u64,
            body_sha256: Sha256::digest(&body).into(),
        };
        let header = postcard::to_allocvec(&header).map_err(io::Error::other)?;
        std::fs::create_dir_all(&self.directory)?;
        let temp = self.directory.join(TEMP_NAME);
        let synced = (|| {
            let mut file = File::create(&temp)?;
            file.write_all(MAGIC)?;
            file.write_all(&FORMAT_VERSION.to_le_bytes())?;
            file.write_all(&(header.len() as u32).to_le_bytes())?;
            file.write_all(&header)?;
            file.write_all(&body)?;
            file.sync_all()
        })();
        if let Err(error) = synced {
            // On a full disk a half-written copy of the projection would keep the space
            // the store needs to recover.
            let _ = std::fs::remove_file(&temp);
            return Err(error);
        }
        std::fs::rename(&temp, self.path())?;
        File::open(&self.directory)?.sync_all()?;
        written.sequence = sequence;
        written.on_disk = Some(state);
        Ok(true)
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, WrittenState> {
        self.written.lock()
    }
}

/// The hash of the event at `position` (the genesis value for position 0).
pub(crate) fn hash_at(store: &EventStore, position: u64) -> Result<Hash, LedgerError> {
    if position == 0 {
        return Ok(Hash::genesis());
    }
    match store.iter_raw_from(position).next() {
        Some(Ok(envelope)) if envelope.position == position => Ok(envelope.hash),
        Some(Err(error)) => Err(error.into()),
        _ => Err(LedgerError::Unreadable {
            position,
            reason: "the log has no event at this position".to_owned(),
        }),
    }
}

/// Why a checkpoint does not fit, in the words of the log line.
fn check(
    bytes: &[u8],
    store: &EventStore,
    plans: &[PlanDefinition],
) -> Result<(u64, Hash, ProjectionSnapshot), String> {
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or("not a checkpoint file (bad magic)")?;
    let (version, rest) = split_u32(rest).ok_or("truncated before the format version")?;
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version {version}, this build reads {FORMAT_VERSION}"
        ));
    }
    let (header_len, rest) = split_u32(rest).ok_or("truncated before the header")?;
    let header_len = header_len as usize;
    if rest.len() < header_len {
        return Err("truncated header".to_owned());
    }
    let (header, body) = rest.split_at(header_len);
    let header: Header =
        postcard::from_bytes(header).map_err(|error| format!("unreadable header: {error}"))?;
    let head = store.head().position;
    if header.position > head {
        return Err(format!(
            "its position {} is beyond the log's head {head}",
            header.position
        ));
    }
    let log_hash = hash_at(store, header.position).map_err(|error| error.to_string())?;
    if log_hash.as_bytes() != &header.event_hash {
        return Err(format!(
            "the log's event at position {} has hash {log_hash}, the checkpoint was taken after {}",
            header.position,
            Hash::from_bytes(header.event_hash)
        ));
    }
    if header.plans_digest != plans_digest(plans) {
        return Err("it was taken under other plan definitions".to_owned());
    }
    if body.len() as u64 != header.body_len {
        return Err(format!(
            "its body is {} bytes, the header says {}",
            body.len(),
            header.body_len
        ));
    }
    if <[u8; 32]>::from(Sha256::digest(body)) != header.body_sha256 {
        return Err("its body does not match its SHA-256 (damaged file)".to_owned());
    }
    // Decompressed only once its SHA-256 matched: the frame is the one this build wrote.
    let body = zstd::stream::decode_all(body)
        .map_err(|error| format!("the body does not decompress: {error}"))?;
    let snapshot: ProjectionSnapshot =
        postcard::from_bytes(&body).map_err(|error| format!("unreadable body: {error}"))?;
    if snapshot.last_position() != header.position {
        return Err(format!(
            "its body reflects position {}, its header says {}",
            snapshot.last_position(),
            header.position
        ));
    }
    Ok((header.position, log_hash, snapshot))
}

fn split_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (number, rest) = bytes.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*number), rest))
}

#[cfg(test)]
mod tests {
    use kpi_domain::Projection;

    use super::*;

    #[test]
    fn an_older_snapshot_or_one_after_close_does_not_replace_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::new(dir.path());
        let snapshot = Projection::new(Vec::new()).snapshot();
        let genesis = Hash::genesis();
        let (older, newer) = (checkpoints.next_sequence(), checkpoints.next_sequence());

        assert!(checkpoints.write(newer, genesis, &snapshot, false).unwrap());
        let file = std::fs::read(checkpoints.path()).unwrap();
        assert!(file.starts_with(MAGIC));
        std::fs::remove_file(checkpoints.path()).unwrap();
        // Forget what is on disk, so only the sequence can refuse the older one.
        checkpoints.lock().on_disk = None;
        assert!(!checkpoints.write(older, genesis, &snapshot, false).unwrap());
        assert!(!checkpoints.path().exists());

        let last = checkpoints.next_sequence();
        assert!(checkpoints.write(last, genesis, &snapshot, true).unwrap());
        std::fs::remove_file(checkpoints.path()).unwrap();
        checkpoints.lock().on_disk = None;
        let after_close = checkpoints.next_sequence();
        assert!(!checkpoints
            .write(after_close, genesis, &snapshot, false)
            .unwrap());
        assert!(!checkpoints.path().exists());
    }
}
