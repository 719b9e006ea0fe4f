//! [`EventStore`], the store's one interface, over its two backends: sled in a directory
//! (`crate::store`) or a PostgreSQL database (`crate::pg`), chosen by
//! [`StoreConfig::backend`]. Both keep the same envelopes, gapless positions, hash chain
//! and guarantees, so nothing above this crate knows which one it talks to.

use std::path::Path;
use std::sync::Arc;

use futures::{Stream, StreamExt as _};
use uuid::Uuid;

use crate::config::{Backend, StoreConfig};
use crate::error::{AppendError, StoreError, VerifyFailure, VerifyReason};
use crate::merkle::{MerkleLog, TreeNodes};
use crate::pg::PgStore;
use crate::storage::StorageStatus;
use crate::store::SledStore;
use crate::types::{
    Appended, Envelope, ExpectedVersion, Hash, Head, NewEvent, RawEnvelope, StreamId,
};

/// The append-only event store. Cheap to clone: clones share one database and one writer.
#[derive(Clone)]
pub struct EventStore {
    backend: Inner,
    /// The Merkle tree over the log (`crate::merkle`), on the same backend.
    pub(crate) tree: Arc<MerkleLog>,
}

#[derive(Clone)]
enum Inner {
    Sled(SledStore),
    Postgres(PgStore),
}

impl EventStore {
    /// Opens the store of `config.backend`: for sled, in `dir`, creating it when `dir` does
    /// not exist or is empty (a directory with other content, or a store of another format
    /// version, is refused before anything in it is opened or written); for PostgreSQL, in
    /// the database of `config.postgres.url` (its schema created or upgraded first; `dir`
    /// is not used).
    pub fn open(dir: &Path, config: StoreConfig) -> Result<EventStore, StoreError> {
        match config.backend {
            Backend::Sled => EventStore::with_tree(Inner::Sled(SledStore::open(dir, config)?)),
            Backend::Postgres => EventStore::from_pg(PgStore::open(config)?),
        }
    }

    /// A PostgreSQL store opened (or restored) by the backend, with its tree.
    pub(crate) fn from_pg(store: PgStore) -> Result<EventStore, StoreError> {
        EventStore::with_tree(Inner::Postgres(store))
    }

    /// Loads the backend's Merkle tree and catches it up: a tree that lags the log (a
    /// crash after an append's flush, or a store older than the tree) is complete before
    /// the store is handed out.
    fn with_tree(backend: Inner) -> Result<EventStore, StoreError> {
        let (nodes, head): (Box<dyn TreeNodes>, Head) = match &backend {
            Inner::Sled(store) => (Box::new(store.tree_nodes()), store.head()),
            Inner::Postgres(store) => (Box::new(store.tree_nodes()), store.head()),
        };
        let store = EventStore {
            tree: Arc::new(MerkleLog::open(nodes, head.position)?),
            backend,
        };
        // A log that cannot be read (damage found at open, refused appends) still opens, as
        // before the tree existed: the tree stays where it is, and proofs fail with the
        // log's error until it can be read.
        if let Err(error) = store
            .tree
            .load_frontier(&store)
            .and_then(|()| store.catch_up_tree().map(|_| ()))
        {
            tracing::warn!(%error, "the Merkle tree could not be caught up at open");
        }
        Ok(store)
    }

    /// Which backend holds the log.
    pub fn backend(&self) -> Backend {
        match &self.backend {
            Inner::Sled(_) => Backend::Sled,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// Appends `events` to `stream` atomically, returning their envelopes once they are
    /// durable (sled: flushed; PostgreSQL: committed with `synchronous_commit = on`). All of
    /// the batch or none of it is ever visible.
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
        self.append_or_recall(stream, expected, events)
            .await
            .map(|appended| appended.envelopes)
    }

    /// [`EventStore::append`], or, for an idempotent retry, the recalled originals: the answer
    /// says which ([`Appended`]`::replayed`), for callers that count what they wrote.
    pub async fn append_or_recall(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, AppendError> {
        let appended = match &self.backend {
            Inner::Sled(store) => store.append_or_recall(stream, expected, events).await,
            Inner::Postgres(store) => store.append_or_recall(stream, expected, events).await,
        }?;
        if !appended.replayed && crate::merkle::maintained_on_append() {
            self.tree_after_append(&appended.envelopes).await;
        }
        Ok(appended)
    }

    /// Up to `limit` events from `from_position` on (position 0 reads from the start).
    pub fn read_from(&self, from_position: u64, limit: usize) -> Result<Vec<Envelope>, StoreError> {
        self.iter_from(from_position).take(limit).collect()
    }

    /// Every event from `from_position` up to the head at the time of the call, decoded
    /// lazily: replaying a large log holds one event (sled) or one page of events
    /// (PostgreSQL) at a time.
    pub fn iter_from(
        &self,
        from_position: u64,
    ) -> impl Iterator<Item = Result<Envelope, StoreError>> + Send + 'static {
        let events: Box<dyn Iterator<Item = Result<Envelope, StoreError>> + Send> =
            match &self.backend {
                Inner::Sled(store) => Box::new(store.iter_from(from_position)),
                Inner::Postgres(store) => Box::new(store.iter_from(from_position)),
            };
        events
    }

    /// [`EventStore::iter_from`] with each payload left as its stored JSON text, for readers
    /// that deserialize payloads into their own types (replaying without a
    /// `serde_json::Value` per event).
    pub fn iter_raw_from(
        &self,
        from_position: u64,
    ) -> impl Iterator<Item = Result<RawEnvelope, StoreError>> + Send + 'static {
        let events: Box<dyn Iterator<Item = Result<RawEnvelope, StoreError>> + Send> =
            match &self.backend {
                Inner::Sled(store) => Box::new(store.iter_raw_from(from_position)),
                Inner::Postgres(store) => Box::new(store.iter_raw_from(from_position)),
            };
        events
    }

    /// Every event of `stream` in stream-version order; empty for an unknown stream.
    pub fn read_stream(&self, stream: &StreamId) -> Result<Vec<Envelope>, StoreError> {
        match &self.backend {
            Inner::Sled(store) => store.read_stream(stream),
            Inner::Postgres(store) => store.read_stream(stream),
        }
    }

    /// Up to `limit` events of type `event_type` at or after `from_position`, in position order.
    pub fn read_by_type(
        &self,
        event_type: &str,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        match &self.backend {
            Inner::Sled(store) => store.read_by_type(event_type, from_position, limit),
            Inner::Postgres(store) => store.read_by_type(event_type, from_position, limit),
        }
    }

    /// The event with this id, if it exists.
    pub fn get(&self, event_id: Uuid) -> Result<Option<Envelope>, StoreError> {
        match &self.backend {
            Inner::Sled(store) => store.get(event_id),
            Inner::Postgres(store) => store.get(event_id),
        }
    }

    /// The position of the event that used the idempotency key `key`, if one acknowledged
    /// event did. Lets a caller recognise a retry before judging the request again against a
    /// state that may have moved on since the original: the append then answers the retry
    /// with the original, or refuses it as a conflict.
    pub fn idempotency_key_position(&self, key: &str) -> Result<Option<u64>, StoreError> {
        match &self.backend {
            Inner::Sled(store) => store.idempotency_key_position(key),
            Inner::Postgres(store) => store.idempotency_key_position(key),
        }
    }

    /// Which of `keys` an acknowledged event used: [`idempotency_key_position`] for many
    /// keys at once (an import's chunk), in one query on PostgreSQL instead of one per key.
    ///
    /// [`idempotency_key_position`]: Self::idempotency_key_position
    pub fn idempotency_keys_used(
        &self,
        keys: &[&str],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        match &self.backend {
            Inner::Sled(store) => {
                let mut used = std::collections::HashSet::new();
                for key in keys {
                    if store.idempotency_key_position(key)?.is_some() {
                        used.insert((*key).to_owned());
                    }
                }
                Ok(used)
            }
            Inner::Postgres(store) => store.idempotency_keys_used(keys),
        }
    }

    /// The last acknowledged position and hash (position 0 and the genesis hash when empty).
    /// Reads never go beyond it.
    pub fn head(&self) -> Head {
        match &self.backend {
            Inner::Sled(store) => store.head(),
            Inner::Postgres(store) => store.head(),
        }
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
        match &self.backend {
            Inner::Sled(store) => store.subscribe(from_position).left_stream(),
            Inner::Postgres(store) => store.subscribe(from_position).right_stream(),
        }
    }

    /// Walks the whole log up to the head: recomputes every hash and checks the chain links,
    /// gapless positions from 1, contiguous stream versions, non-decreasing `recorded_at`,
    /// increasing event ids, and that the indexes (sled) or lookup columns (PostgreSQL)
    /// agree with each event. Returns the head it proved, or the first bad position and why.
    pub fn verify(&self) -> Result<Head, VerifyFailure> {
        match &self.backend {
            Inner::Sled(store) => store.verify(),
            Inner::Postgres(store) => store
                .verify_walk(store.head(), None, &mut |_| true)
                .expect("a walk that is never stopped ends"),
        }
    }

    /// [`EventStore::verify`] up to `head`, a head this store reported (the log up to it
    /// never changes), asking `proceed` before each chunk (sled: at most 64 events;
    /// PostgreSQL: a page of at most 1,024) with the position it starts at: the walk stops as
    /// soon as it answers `false`, and returns `None`.
    pub fn verify_to(
        &self,
        head: Head,
        mut proceed: impl FnMut(u64) -> bool,
    ) -> Option<Result<Head, VerifyFailure>> {
        match &self.backend {
            Inner::Sled(store) => store.verify_to(head, proceed),
            Inner::Postgres(store) => store.verify_walk(head, None, &mut proceed),
        }
    }

    /// Verifies the events after `position` up to the head: every one is read, its hash
    /// recomputed and its link to the one before checked, back to the event at `position`,
    /// whose hash must be `hash` (recorded by the caller, e.g. in a projection checkpoint).
    /// Stream versions are checked within the walk only. Position 0 with the genesis hash
    /// is the whole of [`EventStore::verify`]. Costs the events after `position`, not the
    /// whole log.
    pub fn verify_after(&self, position: u64, hash: Hash) -> Result<Head, VerifyFailure> {
        match &self.backend {
            Inner::Sled(store) => store.verify_after(position, hash),
            Inner::Postgres(store) => {
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
                store
                    .verify_walk(store.head(), anchor, &mut |_| true)
                    .expect("a walk that is never stopped ends")
            }
        }
    }

    /// Stops the writer after it has committed every append already submitted (sled: and
    /// flushes). Appends through other clones fail with [`StoreError::Closed`] afterwards;
    /// reads keep working while a clone is alive.
    pub async fn close(self) {
        match self.backend {
            Inner::Sled(store) => store.close().await,
            Inner::Postgres(store) => store.close().await,
        }
    }

    /// Whether the storage takes writes now, and its failures and recoveries since the
    /// store opened. (PostgreSQL: always available; a failed connection fails the request
    /// it served, and the next one reconnects.)
    pub fn storage(&self) -> StorageStatus {
        match &self.backend {
            Inner::Sled(store) => store.storage(),
            Inner::Postgres(store) => store.storage(),
        }
    }

    /// Why the store refuses every append until an operator acts, if it does: the log was
    /// found inconsistent (sled, at open or reopen), or the database lacks an event this
    /// process acknowledged (PostgreSQL: a promoted standby that was behind). Not a passing
    /// storage failure ([`EventStore::storage`]).
    pub fn refusal(&self) -> Option<String> {
        match &self.backend {
            Inner::Sled(store) => store.refusal(),
            Inner::Postgres(store) => store.refusal(),
        }
    }

    /// Told of every change of [`EventStore::storage`].
    pub fn storage_changes(&self) -> tokio::sync::watch::Receiver<StorageStatus> {
        match &self.backend {
            Inner::Sled(store) => store.storage_changes(),
            Inner::Postgres(store) => store.storage_changes(),
        }
    }

    fn sled(&self) -> &SledStore {
        match &self.backend {
            Inner::Sled(store) => store,
            Inner::Postgres(_) => panic!("only a sled store has a sled database"),
        }
    }

    /// Direct access to the underlying sled database, for tests that damage a store on
    /// purpose. Not part of the API. Panics while the storage is unavailable, and on a
    /// PostgreSQL store.
    #[doc(hidden)]
    pub fn __sled(&self) -> sled::Db {
        self.sled().__sled()
    }

    /// Makes the next flush fail with the OS error `os_error` (as a full disk would: 28),
    /// for tests of the storage's failure and recovery. Not part of the API; sled only.
    #[doc(hidden)]
    pub fn __inject_flush_failure(&self, os_error: i32) {
        self.sled().__inject_flush_failure(os_error);
    }

    /// Makes the next `attempts` attempts to reopen the database fail, for tests. Not part
    /// of the API; sled only.
    #[doc(hidden)]
    pub fn __inject_reopen_failures(&self, attempts: u32) {
        self.sled().__inject_reopen_failures(attempts);
    }
}
