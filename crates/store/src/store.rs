use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::Stream;
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

use crate::codec::{self, Body, IndexedEvent};
use crate::config::StoreConfig;
use crate::error::{AppendError, StoreError, VerifyFailure, VerifyReason};
use crate::read::{self, EventIter};
use crate::subscription;
use crate::types::{
    Appended, Envelope, ExpectedVersion, Hash, Head, NewEvent, RawEnvelope, StreamId,
};
use crate::writer::{AppendRequest, PreparedEvent, Writer, WriterState};

/// The on-disk format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The file that marks a directory as a kpi-ledger store and names its format version.
pub const MARKER_FILE: &str = "kpi-ledger-store.toml";
/// The sled database inside a store directory.
pub const SLED_DIR: &str = "log";
/// The head of the log when the store was last closed, written after the final flush: a log
/// that opens shorter than this, or with another event there, lost or changed events (sled
/// drops whatever follows a damaged part of its file when it recovers it).
pub const CLOSED_HEAD_FILE: &str = "kpi-ledger-closed-head.toml";
const CLOSED_HEAD_TMP: &str = ".kpi-ledger-closed-head.toml.tmp";
const MARKER_TMP: &str = ".kpi-ledger-store.toml.tmp";

/// Longest event type, actor and idempotency key, in bytes: they are index keys or
/// short labels, and a bound keeps keys small.
pub const MAX_LABEL_BYTES: usize = 200;

/// The append-only event store. Cheap to clone: clones share one database and one writer.
#[derive(Clone)]
pub struct EventStore {
    shared: Arc<Shared>,
    writer: Arc<WriterHandle>,
}

/// What readers need; subscriptions keep this alive without keeping the writer alive.
pub(crate) struct Shared {
    db: sled::Db,
    /// The store directory, where the head is written at close.
    dir: std::path::PathBuf,
    head: Arc<RwLock<Head>>,
    config: StoreConfig,
    /// Found at open: the metadata disagrees with the log. Appends are refused and
    /// `verify` reports it if the walk finds nothing earlier.
    inconsistency: Option<VerifyFailure>,
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
        lock(&self.requests).take();
        lock(&self.published).take();
        let threads = std::mem::take(&mut *lock(&self.threads));
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave their Option half-updated.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

impl EventStore {
    /// Opens the store in `dir`, creating it when `dir` does not exist or is empty.
    ///
    /// A directory with other content, or a store of another format version, is refused
    /// before anything in it is opened or written.
    pub fn open(dir: &Path, config: StoreConfig) -> Result<EventStore, StoreError> {
        config.check()?;
        claim_directory(dir)?;
        let closed_head = read_closed_head(dir)?;
        let db = open_sled(dir, &config)?;
        check_inner_format(dir, &db)?;
        let mut loaded = load_state(&db)?;
        if loaded.inconsistency.is_none() {
            loaded.inconsistency = closed_head
                .and_then(|closed| check_closed_head(&db, closed, loaded.state.position));
        }
        let head = Arc::new(RwLock::new(Head {
            position: loaded.state.position,
            hash: loaded.state.hash,
        }));
        let (requests, receiver) = mpsc::channel();
        let (published, _) = broadcast::channel(config.subscriber_buffer);
        let poisoned = Arc::new(Mutex::new(
            loaded.inconsistency.as_ref().map(|f| f.to_string()),
        ));
        let writer = Writer {
            requests: receiver,
            db: db.clone(),
            state: loaded.state,
            max_group_events: config.max_group_events,
            head: head.clone(),
            published: published.clone(),
            poisoned,
        };
        let writer = std::thread::Builder::new()
            .name("kpi-store-writer".to_owned())
            .spawn(move || writer.run())
            .map_err(io_error(dir))?;
        let position = lock_read(&head).position;
        tracing::info!(dir = %dir.display(), head = position, "event store opened");
        if let Some(inconsistency) = &loaded.inconsistency {
            tracing::error!(%inconsistency, "event store is inconsistent; appends are refused");
        }
        Ok(EventStore {
            shared: Arc::new(Shared {
                db,
                dir: dir.to_owned(),
                head,
                config,
                inconsistency: loaded.inconsistency,
            }),
            writer: Arc::new(WriterHandle {
                requests: Mutex::new(Some(requests)),
                published: Mutex::new(Some(published)),
                threads: Mutex::new(vec![writer]),
            }),
        })
    }

    /// Appends `events` to `stream` atomically, returning their envelopes once they are on
    /// disk (flushed). All of the batch or none of it is ever visible.
    ///
    /// Idempotency: when every event carries an idempotency key already used by an event of
    /// the same stream, type, provenance and payload, nothing is written and the original
    /// envelopes are returned, however old they are. A key used for something else (another
    /// payload, or the same payload from another source), or a batch mixing used and unused
    /// keys, is an [`AppendError::IdempotencyConflict`]. The actor is not compared: the same
    /// content submitted again by someone else (a seed imported by `serve --demo`, then by
    /// `kpi-ledger import`) is the same event. A retry is answered before `expected` is
    /// checked, since the original append already moved the stream on.
    pub async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Envelope>, AppendError> {
        self.append_reporting(stream, expected, events)
            .await
            .map(|appended| appended.envelopes)
    }

    /// [`EventStore::append`], also telling whether the events were written now or are the
    /// originals of an idempotent retry: for callers that count what they wrote.
    pub async fn append_reporting(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, AppendError> {
        let events = prepare(events, self.shared.config.max_event_bytes)?;
        let (reply, answer) = oneshot::channel();
        {
            let requests = lock(&self.writer.requests);
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

    /// Up to `limit` events from `from_position` on (position 0 reads from the start).
    pub fn read_from(&self, from_position: u64, limit: usize) -> Result<Vec<Envelope>, StoreError> {
        self.iter_from(from_position).take(limit).collect()
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
            &self.shared.db,
            from_position,
            self.shared.head().position + 1,
        )
    }

    /// Every event of `stream` in stream-version order; empty for an unknown stream.
    pub fn read_stream(&self, stream: &StreamId) -> Result<Vec<Envelope>, StoreError> {
        let head = self.shared.head().position;
        let prefix = codec::stream_index_prefix(stream.as_str());
        let mut envelopes = Vec::new();
        for entry in self.shared.db.scan_prefix(&prefix) {
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
            for envelope in EventIter::new(&self.shared.db, run.first_position, end) {
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
        let db = &self.shared.db;
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
            for position in positions.chunks_exact(8).filter_map(codec::decode_u64) {
                if position < from || position > head {
                    continue;
                }
                let record = codec::record_in_chunk(&chunk, chunk_first, position)
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
        let db = &self.shared.db;
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
        let mut rest = &chunk[..];
        let mut position = chunk_first;
        while !rest.is_empty() {
            let (record, used) = codec::next_chunk_record(rest).map_err(corrupt)?;
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
        let Some(value) = self.shared.db.get(codec::idempotency_key(key))? else {
            return Ok(None);
        };
        let position = codec::decode_u64(&value).ok_or_else(|| StoreError::Corrupt {
            what: format!("idempotency index entry for key {key:?}"),
            reason: "the position is not 8 bytes".to_owned(),
        })?;
        Ok((position <= self.shared.head().position).then_some(position))
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
        let live = lock(&self.writer.published)
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
            let flushed = shared.db.flush()?;
            // A store found inconsistent keeps the evidence: its head is not written.
            if shared.inconsistency.is_none() {
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

    /// Direct access to the underlying sled database, for tests that damage a store on
    /// purpose. Not part of the API.
    #[doc(hidden)]
    pub fn __sled(&self) -> &sled::Db {
        &self.shared.db
    }
}

fn lock_read(head: &RwLock<Head>) -> Head {
    *head.read().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn head(&self) -> Head {
        lock_read(&self.head)
    }

    pub(crate) fn iter_from(
        &self,
        from_position: u64,
    ) -> impl Iterator<Item = Result<Envelope, StoreError>> + Send + 'static {
        EventIter::new(&self.db, from_position, self.head().position + 1)
    }

    pub(crate) fn read_from(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        self.iter_from(from_position).take(limit).collect()
    }

    /// Walks the log up to `head`: from position 1 and the genesis hash, or from the chunk
    /// holding `anchor`'s position, whose event must have `anchor`'s hash. `None` when
    /// `proceed` stopped it.
    fn verify(
        &self,
        head: Head,
        anchor: Option<(u64, Hash)>,
        proceed: &mut dyn FnMut(u64) -> bool,
    ) -> Option<Result<Head, VerifyFailure>> {
        let unreadable = |position, error: &dyn std::fmt::Display| VerifyFailure {
            position,
            reason: VerifyReason::Unreadable(error.to_string()),
        };
        let first = match anchor {
            None => 1,
            Some((position, _)) if position > head.position => {
                return Some(Err(VerifyFailure {
                    position,
                    reason: VerifyReason::Missing,
                }))
            }
            Some((position, _)) => match read::chunk_at_or_before(&self.db, position) {
                Ok(Some((first, _))) => first,
                Ok(None) => {
                    return Some(Err(VerifyFailure {
                        position,
                        reason: VerifyReason::Missing,
                    }))
                }
                Err(error) => return Some(Err(unreadable(position, &error))),
            },
        };
        let mut walk = VerifyWalk {
            db: &self.db,
            expected_position: first,
            prev_hash: anchor.is_none().then(Hash::genesis),
            anchor,
            whole: anchor.is_none(),
            last_event_id: None,
            previous_recorded: None,
            stream_versions: HashMap::new(),
        };
        let chunks = self
            .db
            .range(codec::event_key(first)..codec::event_key(head.position.saturating_add(1)));
        for entry in chunks {
            if !proceed(walk.expected_position) {
                return None;
            }
            let (key, chunk) = match entry {
                Ok(entry) => entry,
                Err(error) => return Some(Err(unreadable(walk.expected_position, &error))),
            };
            if let Err(failure) = walk.chunk(&key, &chunk) {
                return Some(Err(failure));
            }
        }
        Some(self.end_of_walk(&walk, head))
    }

    /// What the walk must have reached: the head, with its hash, and nothing beyond.
    fn end_of_walk(&self, walk: &VerifyWalk<'_>, head: Head) -> Result<Head, VerifyFailure> {
        let fail = |position, reason| Err(VerifyFailure { position, reason });
        if walk.expected_position <= head.position {
            return fail(walk.expected_position, VerifyReason::Missing);
        }
        if walk.expected_position > head.position + 1 {
            return fail(head.position + 1, VerifyReason::BeyondHead);
        }
        if let Some(inconsistency) = &self.inconsistency {
            return Err(inconsistency.clone());
        }
        let reached = walk.prev_hash.unwrap_or_else(Hash::genesis);
        if reached != head.hash {
            return fail(
                head.position,
                VerifyReason::HeadMismatch {
                    expected: format!("hash {}", reached.to_hex()),
                    found: format!("hash {}", head.hash.to_hex()),
                },
            );
        }
        Ok(head)
    }
}

/// The state of a verification walk between chunks.
struct VerifyWalk<'a> {
    db: &'a sled::Db,
    expected_position: u64,
    /// The hash the next event must link to; `None` at the start of a walk from an anchor,
    /// whose chunk's first link is taken as stored (the anchor's own hash is then checked).
    prev_hash: Option<Hash>,
    /// The position and hash of an event the caller vouches for.
    anchor: Option<(u64, Hash)>,
    /// Whether the walk started at position 1, so every stream's versions are known.
    whole: bool,
    last_event_id: Option<[u8; 16]>,
    previous_recorded: Option<DateTime<Utc>>,
    stream_versions: HashMap<String, u64>,
}

impl VerifyWalk<'_> {
    fn chunk(&mut self, key: &[u8], chunk: &[u8]) -> Result<(), VerifyFailure> {
        let fail = |position, reason| Err(VerifyFailure { position, reason });
        let Some(first) = codec::position_of_event_key(key) else {
            return fail(
                self.expected_position,
                VerifyReason::Undecodable(format!("chunk key {key:?} is not a position")),
            );
        };
        if first != self.expected_position {
            return fail(self.expected_position, VerifyReason::Missing);
        }
        // Bodies borrow from `chunk`; the index entries are checked once the chunk is read.
        let mut bodies = Vec::new();
        let mut rest = chunk;
        while !rest.is_empty() {
            let position = self.expected_position;
            let (record, used) = match codec::next_chunk_record(rest) {
                Ok(step) => step,
                Err(reason) => return fail(position, VerifyReason::Undecodable(reason)),
            };
            rest = &rest[used..];
            bodies.push((position, self.event(position, record)?));
            self.expected_position += 1;
        }
        if bodies.is_empty() {
            return fail(first, VerifyReason::Undecodable("empty chunk".to_owned()));
        }
        let indexed: Vec<IndexedEvent<'_>> = bodies
            .iter()
            .map(|(position, body)| IndexedEvent {
                position: *position,
                event_id: body.event_id,
                stream: &body.stream_id,
                stream_version: body.stream_version,
                event_type: &body.event_type,
                idempotency_key: body.idempotency_key.as_deref(),
            })
            .collect();
        for entry in codec::chunk_index_entries(&indexed) {
            let stored = self.db.get(&entry.key).map_err(|e| VerifyFailure {
                position: entry.position,
                reason: VerifyReason::Unreadable(e.to_string()),
            })?;
            if stored.as_deref() != Some(entry.value.as_slice()) {
                return fail(
                    entry.position,
                    VerifyReason::IndexMismatch { index: entry.index },
                );
            }
        }
        Ok(())
    }

    /// Checks one record against the chain and the envelope rules; returns its body.
    fn event<'r>(&mut self, position: u64, record: &'r [u8]) -> Result<Body<'r>, VerifyFailure> {
        let fail = |reason| Err(VerifyFailure { position, reason });
        let raw = match codec::split_record(record) {
            Ok(raw) => raw,
            Err(reason) => return fail(VerifyReason::Undecodable(reason)),
        };
        let prev_hash = self.prev_hash.unwrap_or(raw.prev_hash);
        if raw.prev_hash != prev_hash {
            return fail(VerifyReason::PrevHashMismatch {
                expected: prev_hash.to_hex(),
                found: raw.prev_hash.to_hex(),
            });
        }
        let computed = codec::chain_hash(&raw.prev_hash, position, raw.body_bytes);
        if computed != raw.hash {
            return fail(VerifyReason::HashMismatch {
                stored: raw.hash.to_hex(),
                computed: computed.to_hex(),
            });
        }
        if let Some((_, expected)) = self.anchor.filter(|(at, _)| *at == position) {
            if raw.hash != expected {
                return fail(VerifyReason::UnexpectedHash {
                    expected: expected.to_hex(),
                    found: raw.hash.to_hex(),
                });
            }
        }
        let body = match codec::decode_body(raw.body_bytes) {
            Ok(body) => body,
            Err(reason) => return fail(VerifyReason::Undecodable(reason)),
        };
        // A walk from an anchor knows a stream's versions from its first event in the walk.
        let previous_version = match self.stream_versions.get(body.stream_id.as_ref()) {
            Some(version) => Some(*version),
            None => self.whole.then_some(0),
        };
        if let Some(previous_version) =
            previous_version.filter(|previous| body.stream_version != previous + 1)
        {
            return fail(VerifyReason::StreamVersionGap {
                stream: body.stream_id.to_string(),
                previous: previous_version,
                found: body.stream_version,
            });
        }
        let Some(recorded_at) =
            DateTime::<Utc>::from_timestamp(body.recorded_at_secs, body.recorded_at_nanos)
        else {
            return fail(VerifyReason::Undecodable(
                "recorded_at is out of range".to_owned(),
            ));
        };
        if let Some(previous) = self.previous_recorded {
            if recorded_at < previous {
                return fail(VerifyReason::RecordedAtDecreased {
                    previous: previous.to_rfc3339(),
                    found: recorded_at.to_rfc3339(),
                });
            }
        }
        if self.last_event_id.is_some_and(|last| body.event_id <= last) {
            return fail(VerifyReason::EventIdNotIncreasing);
        }
        self.stream_versions
            .insert(body.stream_id.to_string(), body.stream_version);
        self.previous_recorded = Some(recorded_at);
        self.last_event_id = Some(body.event_id);
        self.prev_hash = Some(raw.hash);
        Ok(body)
    }
}

/// Checks each event's envelope fields and serializes its payload once; nothing here
/// touches the store, so a rejection writes nothing.
fn prepare(
    events: Vec<NewEvent>,
    max_event_bytes: usize,
) -> Result<Vec<PreparedEvent>, AppendError> {
    if events.is_empty() {
        return Err(AppendError::EmptyBatch);
    }
    let mut keys = HashSet::new();
    let mut prepared = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        let invalid = |field: &str, reason: String| AppendError::InvalidEvent {
            field: format!("events[{index}].{field}"),
            reason,
        };
        check_label(&event.event_type).map_err(|r| invalid("event_type", r))?;
        check_label(&event.actor).map_err(|r| invalid("actor", r))?;
        if event.schema_version == 0 {
            return Err(invalid("schema_version", "must be at least 1".to_owned()));
        }
        if let Some(provenance) = &event.provenance {
            check_text(provenance).map_err(|r| invalid("provenance", r))?;
        }
        if let Some(key) = &event.idempotency_key {
            check_label(key).map_err(|r| invalid("idempotency_key", r))?;
            if !keys.insert(key.clone()) {
                return Err(invalid(
                    "idempotency_key",
                    format!("{key:?} appears twice in the batch"),
                ));
            }
        }
        let payload_json = serde_json::to_vec(&event.payload)
            .map_err(|e| invalid("payload", format!("cannot be serialized: {e}")))?;
        let size = payload_json.len()
            + event.event_type.len()
            + event.actor.len()
            + event.provenance.as_ref().map_or(0, String::len)
            + event.idempotency_key.as_ref().map_or(0, String::len);
        if size > max_event_bytes {
            return Err(AppendError::EventTooLarge {
                index,
                size,
                limit: max_event_bytes,
            });
        }
        prepared.push(PreparedEvent {
            event,
            payload_json,
        });
    }
    Ok(prepared)
}

pub(crate) fn check_label(value: &str) -> Result<(), String> {
    if value.len() > MAX_LABEL_BYTES {
        return Err(format!(
            "is {} bytes long, the limit is {MAX_LABEL_BYTES}",
            value.len()
        ));
    }
    check_text(value)
}

pub(crate) fn check_text(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty or blank".to_owned());
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!("must not contain the control character {c:?}"));
    }
    Ok(())
}

/// Makes sure `dir` is a store of our format, or an empty directory turned into one, before
/// sled opens anything: sled writes to a directory as soon as it opens it.
fn claim_directory(dir: &Path) -> Result<(), StoreError> {
    let not_a_store = |reason: String| StoreError::NotAStore {
        dir: dir.to_owned(),
        reason,
    };
    match fs::metadata(dir) {
        Ok(metadata) if !metadata.is_dir() => {
            return Err(not_a_store("it is not a directory".to_owned()))
        }
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        Err(error) => return Err(io_error(dir)(error)),
    }
    let marker = dir.join(MARKER_FILE);
    match fs::read_to_string(&marker) {
        Ok(text) => {
            let found = parse_marker(&text).ok_or_else(|| {
                not_a_store(format!(
                    "{MARKER_FILE} does not name a format version (expected a line `format = N`)"
                ))
            })?;
            if found != FORMAT_VERSION {
                return Err(StoreError::UnsupportedFormat {
                    dir: dir.to_owned(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            Ok(())
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let mut others: Vec<String> = fs::read_dir(dir)
                .map_err(io_error(dir))?
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                // A marker half-written by an interrupted creation does not make a
                // directory foreign.
                .filter(|name| name != MARKER_TMP)
                .collect();
            if !others.is_empty() {
                others.sort();
                others.truncate(5);
                return Err(not_a_store(format!(
                    "it is not empty and has no {MARKER_FILE} (it holds {})",
                    others.join(", ")
                )));
            }
            write_marker(dir)
        }
        Err(error) => Err(io_error(&marker)(error)),
    }
}

fn parse_marker(text: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        (name.trim() == "format").then(|| value.trim().parse().ok())?
    })
}

/// Written through a temporary file and a rename, so a crash leaves either no marker or a
/// whole one.
fn write_marker(dir: &Path) -> Result<(), StoreError> {
    let tmp = dir.join(MARKER_TMP);
    let marker = dir.join(MARKER_FILE);
    let text = format!(
        "# A kpi-ledger event store. The log itself is in {SLED_DIR}/ (sled).\n\
         format = {FORMAT_VERSION}\n"
    );
    let mut file = fs::File::create(&tmp).map_err(io_error(&tmp))?;
    file.write_all(text.as_bytes()).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    fs::rename(&tmp, &marker).map_err(io_error(&marker))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))?;
    tracing::info!(dir = %dir.display(), "created a new event store");
    Ok(())
}

/// The head written at the last close, if any.
fn read_closed_head(dir: &Path) -> Result<Option<Head>, StoreError> {
    let path = dir.join(CLOSED_HEAD_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(&path)(error)),
    };
    let value = |name: &str| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == name).then(|| value.trim().trim_matches('"').to_owned())
        })
    };
    let position = value("position").and_then(|position| position.parse().ok());
    let hash = value("hash").and_then(|hash| hash.parse().ok());
    match (position, hash) {
        (Some(position), Some(hash)) => Ok(Some(Head { position, hash })),
        _ => Err(StoreError::Corrupt {
            what: path.display().to_string(),
            reason: "expected the lines `position = N` and `hash = \"HEX\"` (delete the file \
                     to open the store without this check)"
                .to_owned(),
        }),
    }
}

/// Whether the log still holds the head it had when it was last closed.
fn check_closed_head(db: &sled::Db, closed: Head, position: u64) -> Option<VerifyFailure> {
    if closed.position > position {
        return Some(VerifyFailure {
            position: position + 1,
            reason: VerifyReason::Truncated {
                closed_at: closed.position,
            },
        });
    }
    if closed.position == 0 {
        return None;
    }
    let stored = read::record_at(db, closed.position)
        .map_err(|error| VerifyReason::Unreadable(error.to_string()))
        .and_then(|record| record.ok_or(VerifyReason::Missing))
        .and_then(|record| {
            codec::split_record(&record)
                .map(|raw| raw.hash)
                .map_err(VerifyReason::Undecodable)
        });
    let reason = match stored {
        Ok(hash) if hash == closed.hash => return None,
        Ok(hash) => VerifyReason::UnexpectedHash {
            expected: closed.hash.to_hex(),
            found: hash.to_hex(),
        },
        Err(reason) => reason,
    };
    Some(VerifyFailure {
        position: closed.position,
        reason,
    })
}

/// Written through a temporary file and a rename, both synced.
fn write_closed_head(dir: &Path, head: Head) -> io::Result<()> {
    let tmp = dir.join(CLOSED_HEAD_TMP);
    let text = format!(
        "# The head of the log when this store was last closed. A log that opens shorter, or\n\
         # with another event at this position, is refused as damaged (appends, verify).\n\
         position = {}\nhash = \"{}\"\n",
        head.position,
        head.hash.to_hex()
    );
    let mut file = fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(CLOSED_HEAD_FILE))?;
    fs::File::open(dir)?.sync_all()
}

/// How long `open` waits for sled's lock on the database file.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens the sled database, waiting briefly for its file lock: after a store in this process
/// is closed, sled's I/O threads can hold the file for a moment longer, and reopening right
/// away (a restart, a restore, a test) must not fail for that.
fn open_sled(dir: &Path, config: &StoreConfig) -> Result<sled::Db, StoreError> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        let opened = sled::Config::new()
            .path(dir.join(SLED_DIR))
            .cache_capacity(config.cache_capacity_bytes)
            // The writer flushes every group itself; a timer flush would only compete.
            .flush_every_ms(None)
            .open();
        match opened {
            Ok(db) => {
                // sled creates its directory and files (db, conf, blobs/) without syncing
                // the directories naming them; a power cut soon after a store is created
                // must not lose them.
                for synced in [dir.join(SLED_DIR), dir.to_owned()] {
                    fs::File::open(&synced)
                        .and_then(|d| d.sync_all())
                        .map_err(io_error(&synced))?;
                }
                return Ok(db);
            }
            Err(error) if is_lock_conflict(&error) => {
                if Instant::now() >= deadline {
                    return Err(StoreError::Locked {
                        dir: dir.to_owned(),
                    });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// sled 0.34 reports a held lock only as this I/O error text.
fn is_lock_conflict(error: &sled::Error) -> bool {
    matches!(error, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

fn check_inner_format(dir: &Path, db: &sled::Db) -> Result<(), StoreError> {
    match db.get(codec::META_FORMAT_KEY)? {
        Some(value) => {
            let found = <[u8; 4]>::try_from(value.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    what: "format version key".to_owned(),
                    reason: format!("{} bytes instead of 4", value.len()),
                })?;
            if found != FORMAT_VERSION {
                return Err(StoreError::UnsupportedFormat {
                    dir: dir.to_owned(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            Ok(())
        }
        None if db.first()?.is_none() => {
            db.insert(codec::META_FORMAT_KEY, &FORMAT_VERSION.to_be_bytes()[..])?;
            db.flush()?;
            Ok(())
        }
        None => Err(StoreError::Corrupt {
            what: "store metadata".to_owned(),
            reason: "the log has entries but no format version key".to_owned(),
        }),
    }
}

struct Loaded {
    state: WriterState,
    inconsistency: Option<VerifyFailure>,
}

fn load_state(db: &sled::Db) -> Result<Loaded, StoreError> {
    let mut inconsistency = None;
    let (position, hash) = match db.get(codec::META_HEAD_KEY)? {
        None => (0, Hash::genesis()),
        Some(value) => codec::decode_head(&value).ok_or_else(|| StoreError::Corrupt {
            what: "head metadata".to_owned(),
            reason: format!("{} bytes instead of 40", value.len()),
        })?,
    };
    let last_chunk = db
        .range(&codec::event_key(0)[..]..&codec::EVENTS_END[..])
        .next_back()
        .transpose()?;
    let last_stored = match &last_chunk {
        None => 0,
        Some((key, chunk)) => {
            let first = codec::position_of_event_key(key).unwrap_or(0);
            let mut count = 0;
            let mut rest = &chunk[..];
            while let Ok((_, used)) = codec::next_chunk_record(rest) {
                count += 1;
                rest = &rest[used..];
            }
            (first + count).saturating_sub(1)
        }
    };
    if last_stored > position {
        inconsistency = Some(VerifyFailure {
            position: position + 1,
            reason: VerifyReason::BeyondHead,
        });
    }
    let mut last_recorded_at = DateTime::<Utc>::MIN_UTC;
    let mut last_event_id = None;
    if position > 0 {
        let last = read::record_at(db, position)?
            .ok_or(VerifyReason::Missing)
            .and_then(|record| {
                let raw = codec::split_record(&record).map_err(VerifyReason::Undecodable)?;
                let body = codec::decode_body(raw.body_bytes).map_err(VerifyReason::Undecodable)?;
                let recorded_at =
                    DateTime::<Utc>::from_timestamp(body.recorded_at_secs, body.recorded_at_nanos)
                        .ok_or_else(|| {
                            VerifyReason::Undecodable("recorded_at is out of range".into())
                        })?;
                Ok((recorded_at, Uuid::from_bytes(body.event_id)))
            });
        match last {
            Ok((recorded_at, event_id)) => {
                last_recorded_at = recorded_at;
                last_event_id = Some(event_id);
            }
            Err(reason) => {
                inconsistency.get_or_insert(VerifyFailure { position, reason });
            }
        }
    }
    Ok(Loaded {
        state: WriterState {
            position,
            hash,
            last_recorded_at,
            last_event_id,
            stream_versions: HashMap::new(),
        },
        inconsistency,
    })
}
