use parking_lot::{Mutex, RwLock};
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use futures::Stream;
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

use crate::chunk::{self, Format};
use crate::codec;
use crate::config::StoreConfig;
use crate::error::{AppendError, StoreError, VerifyFailure, VerifyReason};
use crate::open::{
    check_closed_head, check_inner_format, claim_directory, io_error, load_state, open_sled,
    read_closed_head, write_closed_head,
};
use crate::prepare::prepare;
use crate::read::{self, EventIter};
use crate::storage::{Lease, Storage, StorageStatus};
use crate::subscription;
use crate::types::{
    Appended, Envelope, ExpectedVersion, Hash, Head, NewEvent, RawEnvelope, StreamId,
};
use crate::walk;
use crate::writer::{AppendRequest, Writer};

/// The on-disk format this build writes and reads.
pub const FORMAT_VERSION: u32 = 2;
/// The file that marks a directory as a kpi-ledger store and names its format version.
pub const MARKER_FILE: &str = "kpi-ledger-store.toml";
/// The sled database inside a store directory.
pub const SLED_DIR: &str = "log";
/// The head of the log when the store was last closed, written after the final flush: a log
/// that opens shorter than this, or with another event there, lost or changed events (sled
/// drops whatever follows a damaged part of its file when it recovers it).
pub const CLOSED_HEAD_FILE: &str = "kpi-ledger-closed-head.toml";

pub use crate::prepare::MAX_LABEL_BYTES;

/// The sled backend of [`crate::EventStore`]. Cheap to clone: clones share one database and
/// one writer.
#[derive(Clone)]
pub(crate) struct SledStore {
    shared: Arc<Shared>,
    writer: Arc<WriterHandle>,
}

/// What readers need; subscriptions keep this alive without keeping the writer alive.
pub(crate) struct Shared {
    /// The database (taken away while the storage has failed) and what is known of it.
    pub(crate) storage: Arc<Storage>,
    /// The store directory, where the head is written at close.
    dir: std::path::PathBuf,
    head: Arc<RwLock<Head>>,
    config: StoreConfig,
    /// The store's on-disk format (see [`crate::chunk`]).
    format: Format,
}

struct WriterHandle {
    requests: Mutex<Option<mpsc::Sender<AppendRequest>>>,
    published: Mutex<Option<broadcast::Sender<Arc<[Envelope]>>>>,
    /// The writer thread.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl WriterHandle {
    /// Stops accepting appends, lets the writer commit what it already received, and waits.
    fn shut_down(&self) {
        self.requests.lock().take();
        self.published.lock().take();
        let threads = std::mem::take(&mut *self.threads.lock());
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!("an event store writer thread panicked");
            }
        }
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl SledStore {
    /// Opens the store in `dir`, creating it when `dir` does not exist or is empty.
    ///
    /// A directory with other content, or a store of another format version, is refused
    /// before anything in it is opened or written.
    pub fn open(dir: &Path, config: StoreConfig) -> Result<SledStore, StoreError> {
        config.check()?;
        let format = claim_directory(dir)?;
        let closed_head = read_closed_head(dir)?;
        let db = open_sled(dir, &config)?;
        check_inner_format(dir, &db, format)?;
        let mut loaded = load_state(&db, format)?;
        if loaded.inconsistency.is_none() {
            loaded.inconsistency = closed_head
                .and_then(|closed| check_closed_head(&db, format, closed, loaded.state.position));
        }
        let head = Arc::new(RwLock::new(Head {
            position: loaded.state.position,
            hash: loaded.state.hash,
        }));
        let (requests, receiver) = mpsc::channel();
        let (published, _) = broadcast::channel(config.subscriber_buffer);
        if let Some(inconsistency) = &loaded.inconsistency {
            tracing::error!(%inconsistency, "event store is inconsistent; appends are refused");
        }
        let storage = Storage::new(db.clone(), loaded.inconsistency);
        let writer = Writer {
            requests: receiver,
            db: Some(db),
            dir: dir.to_owned(),
            config: config.clone(),
            format,
            state: loaded.state,
            head: head.clone(),
            published: published.clone(),
            storage: storage.clone(),
            outage: None,
        };
        let writer = std::thread::Builder::new()
            .name("kpi-store-writer".to_owned())
            .spawn(move || writer.run())
            .map_err(io_error(dir))?;
        let position = head.read().position;
        tracing::info!(dir = %dir.display(), head = position, "event store opened");
        Ok(SledStore {
            shared: Arc::new(Shared {
                storage,
                dir: dir.to_owned(),
                head,
                config,
                format,
            }),
            writer: Arc::new(WriterHandle {
                requests: Mutex::new(Some(requests)),
                published: Mutex::new(Some(published)),
                threads: Mutex::new(vec![writer]),
            }),
        })
    }

    /// [`EventStore::append`], or, for an idempotent retry, the recalled originals: the answer
    /// says which ([`Appended::replayed`]), for callers that count what they wrote.
    pub async fn append_or_recall(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, AppendError> {
        let events = prepare(events, self.shared.config.max_event_bytes)?;
        // Refused here without a wait while the storage is out; the writer refuses whatever
        // reaches it meanwhile too.
        if let Some(outage) = self.shared.storage.outage() {
            return Err(AppendError::Unavailable {
                retry_in_secs: outage.retry_in_secs(chrono::Utc::now()),
                reason: outage.reason,
            });
        }
        let (reply, answer) = oneshot::channel();
        {
            let requests = self.writer.requests.lock();
            let requests = requests.as_ref().ok_or(StoreError::Closed)?;
            requests
                .send(AppendRequest {
                    stream: stream.clone(),
                    expected,
                    events,
                    reply,
                })
                .map_err(|_| StoreError::Closed)?;
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Every event from `from_position` up to the head at the time of the call, decoded
    /// lazily: replaying a large log holds one event at a time.
    pub fn iter_from(
        &self,
        from_position: u64,
    ) -> impl Iterator<Item = Result<Envelope, StoreError>> + Send + 'static {
        self.shared.iter_from(from_position)
    }

    /// [`EventStore::iter_from`] with each payload left as its stored JSON text, for readers
    /// that deserialize payloads into their own types (replaying without a
    /// `serde_json::Value` per event).
    pub fn iter_raw_from(
        &self,
        from_position: u64,
    ) -> impl Iterator<Item = Result<RawEnvelope, StoreError>> + Send + 'static {
        EventIter::raw(
            self.shared.source(),
            self.shared.format,
            from_position,
            self.shared.head().position + 1,
        )
    }

    /// Every event of `stream` in stream-version order; empty for an unknown stream.
    pub fn read_stream(&self, stream: &StreamId) -> Result<Vec<Envelope>, StoreError> {
        self.shared
            .read(|db, lease| self.read_stream_of(db, lease, stream))
    }

    fn read_stream_of(
        &self,
        db: &sled::Db,
        lease: &Lease,
        stream: &StreamId,
    ) -> Result<Vec<Envelope>, StoreError> {
        let head = self.shared.head().position;
        let prefix = codec::stream_index_prefix(stream.as_str());
        let mut envelopes = Vec::new();
        for entry in db.scan_prefix(&prefix) {
            let (key, value) = entry?;
            let run = codec::StreamRun::decode(prefix.len(), &key, &value).ok_or_else(|| {
                StoreError::Corrupt {
                    what: format!("stream index entry {key:?}"),
                    reason: "malformed".to_owned(),
                }
            })?;
            if run.first_position > head {
                break;
            }
            let end = (run.first_position + run.count).min(head + 1);
            let source = lease.check().map(|()| (db.clone(), None));
            for envelope in EventIter::new(source, self.shared.format, run.first_position, end) {
                envelopes.push(envelope?);
            }
        }
        Ok(envelopes)
    }

    /// Up to `limit` events of type `event_type` at or after `from_position`, in position order.
    pub fn read_by_type(
        &self,
        event_type: &str,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        self.shared
            .read(|db, _| self.read_by_type_of(db, event_type, from_position, limit))
    }

    fn read_by_type_of(
        &self,
        db: &sled::Db,
        event_type: &str,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        let head = self.shared.head().position;
        let from = from_position.max(1);
        if from > head || limit == 0 {
            return Ok(Vec::new());
        }
        // Type entries are keyed by their chunk's first position, which may lie before `from`.
        let start_chunk = read::chunk_at_or_before(db, from)?.map_or(from, |(first, _)| first);
        let start = codec::type_index_key(event_type, start_chunk);
        let end = codec::type_index_key(event_type, head + 1);
        let prefix_len = start.len() - 8;
        let mut envelopes = Vec::new();
        for entry in db.range(start..end) {
            let (key, positions) = entry?;
            let malformed = || StoreError::Corrupt {
                what: format!("type index entry {key:?}"),
                reason: "malformed".to_owned(),
            };
            let chunk_first = codec::decode_u64(&key[prefix_len..]).ok_or_else(malformed)?;
            if positions.len() % 8 != 0 {
                return Err(malformed());
            }
            let chunk = db
                .get(codec::event_key(chunk_first))?
                .ok_or_else(malformed)?;
            let chunk = read::decode_chunk(self.shared.format, chunk_first, chunk)?;
            for position in positions.chunks_exact(8).filter_map(codec::decode_u64) {
                if position < from || position > head {
                    continue;
                }
                let record = chunk::record_in_chunk(&chunk, chunk_first, position)
                    .map_err(|reason| StoreError::Corrupt {
                        what: format!("chunk at position {chunk_first}"),
                        reason,
                    })?
                    .ok_or_else(malformed)?;
                envelopes.push(read::decode_at(position, record)?);
                if envelopes.len() == limit {
                    return Ok(envelopes);
                }
            }
        }
        Ok(envelopes)
    }

    /// The event with this id, if it exists.
    pub fn get(&self, event_id: Uuid) -> Result<Option<Envelope>, StoreError> {
        self.shared.read(|db, _| self.get_from(db, event_id))
    }

    fn get_from(&self, db: &sled::Db, event_id: Uuid) -> Result<Option<Envelope>, StoreError> {
        // Ids increase with position, so the chunk that may hold this id is the last one
        // whose first id is at or below it.
        let floor = db
            .range(&codec::event_id_key_min()[..]..=&codec::event_id_key(event_id)[..])
            .next_back()
            .transpose()?;
        let Some((key, value)) = floor else {
            return Ok(None);
        };
        let chunk_first = codec::decode_u64(&value).ok_or_else(|| StoreError::Corrupt {
            what: format!("event id index entry {key:?}"),
            reason: "the position is not 8 bytes".to_owned(),
        })?;
        if chunk_first > self.shared.head().position {
            return Ok(None);
        }
        let corrupt = |reason: String| StoreError::Corrupt {
            what: format!("chunk at position {chunk_first}"),
            reason,
        };
        let chunk = db
            .get(codec::event_key(chunk_first))?
            .ok_or_else(|| corrupt("the event id index points to it but it is missing".into()))?;
        let chunk = read::decode_chunk(self.shared.format, chunk_first, chunk)?;
        let mut rest = &chunk[..];
        let mut position = chunk_first;
        while !rest.is_empty() {
            let (record, used) = chunk::next_chunk_record(rest).map_err(corrupt)?;
            if codec::event_id_of_record(record) == Some(*event_id.as_bytes()) {
                return read::decode_at(position, record).map(Some);
            }
            rest = &rest[used..];
            position += 1;
        }
        Ok(None)
    }

    /// The position of the event that used the idempotency key `key`, if one acknowledged
    /// event did. Lets a caller recognise a retry before judging the request again against a
    /// state that may have moved on since the original: the append then answers the retry
    /// with the original, or refuses it as a conflict.
    pub fn idempotency_key_position(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let (format, head) = (self.shared.format, self.shared.head().position);
        self.shared
            .read(|db, _| read::key_position(db, format, head, key))
    }

    /// The last acknowledged position and hash (position 0 and the genesis hash when empty).
    pub fn head(&self) -> Head {
        self.shared.head()
    }

    /// Every event from `from_position` on: first those stored, then live ones as they are
    /// committed, in position order with no gap and no duplicate at the hand-over.
    ///
    /// The stream ends after the store is closed. It must be polled inside a Tokio runtime
    /// (stored events are read on the blocking pool).
    pub fn subscribe(
        &self,
        from_position: u64,
    ) -> impl Stream<Item = Result<Envelope, StoreError>> + Send + 'static {
        // Subscribing before reading is what closes the gap: whatever is committed after
        // this line arrives live, whatever before it is found by the read.
        let live = self
            .writer
            .published
            .lock()
            .as_ref()
            .map(broadcast::Sender::subscribe);
        subscription::catch_up(self.shared.clone(), live, from_position)
    }

    /// Walks the whole log up to the head: recomputes every hash and checks the chain links,
    /// gapless positions from 1, contiguous stream versions, non-decreasing `recorded_at`,
    /// and that the indexes point at each event. Returns the head it proved, or the first
    /// bad position and why.
    pub fn verify(&self) -> Result<Head, VerifyFailure> {
        let head = self.shared.head();
        self.shared
            .verify(head, None, &mut |_| true)
            .expect("a walk that is never stopped ends")
    }

    /// [`EventStore::verify`] up to `head`, a head this store reported (the log up to it
    /// never changes), asking `proceed` before each chunk of events with the position the
    /// chunk starts at: the walk stops as soon as it answers `false`, and returns `None`.
    /// A walk nobody waits for any more is stopped this way within one chunk (at most 64
    /// events).
    pub fn verify_to(
        &self,
        head: Head,
        mut proceed: impl FnMut(u64) -> bool,
    ) -> Option<Result<Head, VerifyFailure>> {
        self.shared.verify(head, None, &mut proceed)
    }

    /// Verifies the events after `position` up to the head: every one is read, its hash
    /// recomputed and its link to the one before checked, back to the event at `position`,
    /// whose hash must be `hash` (recorded by the caller, e.g. in a projection checkpoint);
    /// the indexes of every chunk read are checked too. Stream versions are checked within
    /// the walk only (the versions before `position` are not read). Position 0 with the
    /// genesis hash is the whole of [`EventStore::verify`]. Costs the events after
    /// `position`, not the whole log.
    pub fn verify_after(&self, position: u64, hash: Hash) -> Result<Head, VerifyFailure> {
        let head = self.shared.head();
        let anchor = (position > 0).then_some((position, hash));
        if anchor.is_none() && hash != Hash::genesis() {
            return Err(VerifyFailure {
                position: 0,
                reason: VerifyReason::UnexpectedHash {
                    expected: hash.to_hex(),
                    found: Hash::genesis().to_hex(),
                },
            });
        }
        self.shared
            .verify(head, anchor, &mut |_| true)
            .expect("a walk that is never stopped ends")
    }

    /// Stops the writer after it has committed every append already submitted, and flushes.
    /// Appends through other clones fail with [`StoreError::Closed`] afterwards; reads keep
    /// working while a clone is alive.
    pub async fn close(self) {
        let writer = self.writer.clone();
        let shared = self.shared.clone();
        drop(self);
        let joined = tokio::task::spawn_blocking(move || {
            writer.shut_down();
            // Without a database (the storage failed and was not reopened) every
            // acknowledged event was flushed already, and the head is theirs.
            let flushed = match shared.storage.db() {
                Ok(db) => db.flush()?,
                Err(_) => 0,
            };
            // A store found inconsistent keeps the evidence: its head is not written.
            if shared.storage.inconsistency().is_none() {
                if let Err(error) = write_closed_head(&shared.dir, shared.head()) {
                    tracing::warn!(%error, "the head at close was not written");
                }
            }
            Ok::<_, sled::Error>(flushed)
        })
        .await;
        match joined {
            Ok(Ok(_)) => tracing::debug!("event store closed"),
            Ok(Err(error)) => tracing::warn!(%error, "flush at close failed"),
            Err(error) => tracing::error!(%error, "closing the event store panicked"),
        }
    }

    /// Whether the storage takes writes now, and its failures and recoveries since the
    /// store opened.
    pub fn storage(&self) -> StorageStatus {
        self.shared.storage.status()
    }

    /// Told of every change of [`EventStore::storage`].
    pub fn storage_changes(&self) -> tokio::sync::watch::Receiver<StorageStatus> {
        self.shared.storage.changes()
    }

    pub fn refusal(&self) -> Option<String> {
        self.shared
            .storage
            .inconsistency()
            .map(|failure| failure.to_string())
    }

    /// Direct access to the underlying sled database, for tests that damage a store on
    /// purpose. Not part of the API. Panics while the storage is unavailable.
    #[doc(hidden)]
    pub fn __sled(&self) -> sled::Db {
        self.shared.storage.db().expect("the storage is available")
    }

    /// Makes the next flush fail with the OS error `os_error` (as a full disk would: 28),
    /// for tests of the storage's failure and recovery. Not part of the API.
    #[doc(hidden)]
    pub fn __inject_flush_failure(&self, os_error: i32) {
        self.shared.storage.inject_flush_failure(os_error);
    }

    /// Makes the next `attempts` attempts to reopen the database fail, for tests. Not part
    /// of the API.
    #[doc(hidden)]
    pub fn __inject_reopen_failures(&self, attempts: u32) {
        self.shared.storage.inject_reopen_failures(attempts);
    }
}

impl crate::subscription::LogSource for Shared {
    fn read_from(&self, from_position: u64, limit: usize) -> Result<Vec<Envelope>, StoreError> {
        Shared::read_from(self, from_position, limit)
    }

    fn storage_changes(&self) -> tokio::sync::watch::Receiver<StorageStatus> {
        self.storage.changes()
    }
}

impl SledStore {
    /// Where this store keeps its Merkle tree.
    pub(crate) fn tree_nodes(&self) -> crate::merkle_sled::SledNodes {
        crate::merkle_sled::SledNodes {
            storage: self.shared.storage.clone(),
        }
    }
}

impl Shared {
    pub(crate) fn head(&self) -> Head {
        *self.head.read()
    }

    pub(crate) fn iter_from(
        &self,
        from_position: u64,
    ) -> impl Iterator<Item = Result<Envelope, StoreError>> + Send + 'static {
        EventIter::new(
            self.source(),
            self.format,
            from_position,
            self.head().position + 1,
        )
    }

    /// Runs a short read of the database. An error that the storage's failure caused (the
    /// database was taken away before the read could end) is the storage's `Unavailable`,
    /// not the database's error.
    fn read<T>(
        &self,
        read: impl FnOnce(&sled::Db, &Lease) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (db, lease) = self.storage.lease()?;
        read(&db, &lease).map_err(|error| match error {
            StoreError::Sled(_) if lease.lost_to_storage_failure() => self.storage.unavailable(),
            other => other,
        })
    }

    /// The database for an iterator, under a lease.
    fn source(&self) -> read::Source {
        self.storage.lease().map(|(db, lease)| (db, Some(lease)))
    }

    pub(crate) fn read_from(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        self.iter_from(from_position).take(limit).collect()
    }

    /// Walks the log up to `head` (see [`walk::walk`]), failing with the inconsistency
    /// found at open when the walk finds nothing earlier. A walk the storage's failure
    /// stopped or made unreadable fails with [`VerifyReason::StorageUnavailable`]: it proves
    /// nothing about the log.
    fn verify(
        &self,
        head: Head,
        anchor: Option<(u64, Hash)>,
        proceed: &mut dyn FnMut(u64) -> bool,
    ) -> Option<Result<Head, VerifyFailure>> {
        let storage_failure = |position, error: StoreError| VerifyFailure {
            position,
            reason: VerifyReason::StorageUnavailable(match error {
                StoreError::Unavailable { reason, .. } => reason,
                other => other.to_string(),
            }),
        };
        let first = anchor.map_or(1, |(position, _)| position);
        let (db, lease) = match self.storage.lease() {
            Ok(leased) => leased,
            Err(error) => return Some(Err(storage_failure(first, error))),
        };
        let inconsistency = self.storage.inconsistency();
        let mut lost_at = None;
        let walked = walk::walk(
            &db,
            self.format,
            head,
            anchor,
            inconsistency.as_ref(),
            &mut |position| {
                if !lease.current() {
                    lost_at = Some(position);
                    return false;
                }
                proceed(position)
            },
        );
        // The failed database is let go of before anything else.
        drop(db);
        if let Some(position) = lost_at {
            return Some(Err(storage_failure(position, self.storage.unavailable())));
        }
        match walked {
            Some(Err(failure))
                if matches!(failure.reason, VerifyReason::Unreadable(_))
                    && lease.lost_to_storage_failure() =>
            {
                Some(Err(storage_failure(
                    failure.position,
                    self.storage.unavailable(),
                )))
            }
            other => other,
        }
    }
}
