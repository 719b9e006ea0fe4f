//! The kpi-ledger event store: an append-only, hash-chained log of envelopes on sled or on
//! PostgreSQL.
//!
//! Payloads are opaque JSON here; the store only enforces envelope-level rules: stream
//! versions (optimistic concurrency), idempotency keys, size limits and the hash chain.
//!
//! # Two backends, one log
//!
//! [`EventStore`] is the one interface; [`StoreConfig::backend`] picks sled (a directory,
//! the default; described below) or PostgreSQL (`pg`: a database named by
//! [`PostgresConfig::url`], schema migrations in `crates/store/migrations/` applied at
//! open). Both judge a commit group with the same code (`staging`), store the same
//! canonical bytes and hashes, and verify with the same checks (`walk::ChainCheck`), so an
//! archive moved from one to the other keeps every byte and its digest. On PostgreSQL a
//! group is one transaction that locks the single head row first (gapless positions under
//! a lock, one chain order across processes) and is acknowledged after COMMIT with
//! `synchronous_commit = on`.
//!
//! # Durability: group commit
//!
//! One writer thread owns every write. [`EventStore::append`] hands its batch to the writer
//! and waits. The writer takes every request waiting at that moment, checks each against the
//! committed state plus the requests before it in the same group (a rejected request does not
//! affect the others), and applies the whole group as **one atomic `sled::Batch`**. It then
//! makes it durable with **one blocking `flush()`** and only after that answers the appends,
//! so an acknowledged event is on disk, and a crash leaves each group entirely present or
//! entirely absent. Appends that arrive during the flush form the next group.
//! `sled::Db::flush_async` is never used (sled #1308: it hangs with 8 or more waiters).
//!
//! # A failing storage
//!
//! If a write or flush fails (a full disk, a quota, an I/O error), the appends of that group
//! are told they were not acknowledged ([`StoreError::WriteFailed`]), the store reports
//! itself unavailable ([`EventStore::storage`]), refuses appends
//! ([`AppendError::Unavailable`]) and reads of the log ([`StoreError::Unavailable`]), and
//! reopens its database from disk after `retry_initial_ms`, then after twice as long each
//! time an attempt fails, up to `retry_max_ms`. An attempt succeeds only once the log holds
//! every acknowledged event and its chain links on from the last one (`recovery`); the store
//! then takes appends again, in the same process.
//!
//! Reads never show events beyond [`EventStore::head`], the last acknowledged position, even
//! though sled already holds a group that is still being flushed.
//!
//! # On-disk format (version [`FORMAT_VERSION`])
//!
//! A store directory holds a marker file [`MARKER_FILE`] (`format = 2`) and the sled database
//! in [`SLED_DIR`]`/`. The marker is read before sled opens anything, so a foreign directory
//! or a store of an unknown format is refused without being touched. All data lives in sled's
//! default tree under one-byte key prefixes (integers are big-endian so key order is numeric).
//! A group's events are stored in *chunks* of up to 64 consecutive events, so that a commit
//! writes a handful of keys rather than several per event:
//!
//! | key | value |
//! |---|---|
//! | `e` first position | chunk: one zstd frame of, per event, record length (u32) ‖ `prev_hash (32) ‖ hash (32) ‖ body` |
//! | `s` stream `\0` first stream version | first position ‖ count: a run of one stream's consecutive versions in one chunk |
//! | `t` event_type `\0` chunk's first position | positions of that chunk's events of that type |
//! | `u` chunk's first event_id (16 bytes) | chunk's first position (event ids increase with position) |
//! | `i` first 16 bytes of SHA-256(idempotency_key) | position |
//! | `m:format` | format version (u32) |
//! | `m:head` | last position ‖ its hash |
//!
//! Chunks are compressed with zstd level 1 (4.3x on seminar events) because sled writes
//! every value at least twice (in its log, then in the page or blob file). An idempotency
//! entry keyed by a 16-byte hash only names a candidate: a lookup reads the event at that
//! position and takes it only if the event's own key is the one asked for, so a collision
//! can never answer a retry with another key's event (an append whose key's entry points to
//! another key's event is refused rather than take the entry over). `verify` checks every
//! chunk decodes and every index entry its events imply, these among them.
//!
//! ## Format 1
//!
//! Stores made before format 2 are format 1: the same layout, except that a chunk value is
//! the plain records (not compressed) and an idempotency entry is keyed by `i` ‖ the key's
//! text. A store keeps the format it was made with, named by its marker file and by
//! `m:format` (which must agree), and this build reads *and writes* format 1 stores in
//! format 1, so an existing store opens and keeps taking appends unchanged, and an older
//! build can still open it. There is no in-place migration (rewriting every chunk and
//! idempotency entry in one atomic step would need the whole log in one sled batch); to
//! move a store to format 2, export its archive and restore it into an empty directory
//! (`restore` always makes a store of the current format, with the same bytes and digest).
//! The module `chunk` is the one place that knows the two formats apart: every read of a
//! chunk decodes through it, every write encodes through it, and every idempotency lookup
//! makes its key there.
//!
//! # Canonical bytes and the hash chain
//!
//! ```text
//! hash(n)     = SHA-256( prev_hash(n) ‖ position(n) as u64 big-endian ‖ body(n) )
//! prev_hash(1) = SHA-256("kpi-ledger genesis v1")      (Hash::genesis)
//! prev_hash(n) = hash(n - 1)
//! ```
//!
//! `body` is the [postcard](https://docs.rs/postcard) 1.x encoding (a specified, stable,
//! deterministic wire format: varint integers, length-prefixed strings and bytes, `0`/`1`
//! option tags, variant index then fields for enums) of these fields in this order:
//! `event_id` (16 raw bytes), `stream_id`, `stream_version`, `event_type`, `schema_version`,
//! `occurred` (variant 0 = date as days since 0001-01-01, i32; variant 1 = instant as Unix
//! seconds i64 and nanoseconds u32), `recorded_at` seconds (i64) and nanoseconds (u32),
//! `actor`, `provenance` (option), `idempotency_key` (option), `payload`.
//! The payload is the JSON text produced once at append by `serde_json::to_vec` (object keys
//! sorted); the stored bytes are hashed as they are, never re-serialized. The stored body is
//! exactly the hashed body, so [`EventStore::verify`] recomputes each hash from the stored
//! bytes and any changed byte is found. Chunking and the chunks' compression are not part
//! of the canonical form: the chain is the same however events are grouped and encoded, in
//! either format.
//!
//! Event ids are UUID v7 kept strictly increasing in position order (if the clock steps
//! back, the random bits after the timestamp count up), which `verify` checks too.
//!
//! # The Merkle tree
//!
//! Beside the chain, the store keeps an RFC 9162 Merkle tree over the log whose leaf `i` is
//! SHA-256(0x00 ‖ the chain hash of position `i + 1`): [`EventStore::tree_root`],
//! [`EventStore::inclusion_proof`], [`EventStore::consistency_proof`]. It is derived data
//! (sled: the tree [`MERKLE_SLED_TREE`] of the same database; PostgreSQL: migration 0002),
//! caught up from acknowledged appends and at open; see `merkle`.

mod archive;
mod canonical;
mod chunk;
mod codec;
mod config;
mod error;
mod event_store;
mod layout;
mod merkle;
mod merkle_sled;
mod open;
mod pg;
mod prepare;
mod read;
mod recovery;
mod restore;
mod staging;
mod storage;
mod store;
mod subscription;
mod types;
mod walk;
mod writer;

pub use archive::{
    ArchiveExport, ArchiveReadError, ArchiveReader, ReadFault, Trailer, ARCHIVE_FORMAT,
};
pub use canonical::{canonical_body, chain_hash, decode_canonical};
pub use config::{Backend, PostgresConfig, StoreConfig};
pub use error::{AppendError, StoreError, VerifyFailure, VerifyReason};
pub use event_store::EventStore;
pub use kpi_proof::NodeHash;
pub use merkle::__maintain_tree_on_append;
pub use merkle_sled::TREE_NAME as MERKLE_SLED_TREE;
pub use restore::{check_archive, ArchiveFault, RestoreError};
pub use storage::{Outage, StorageStatus};
pub use store::{CLOSED_HEAD_FILE, FORMAT_VERSION, MARKER_FILE, MAX_LABEL_BYTES, SLED_DIR};
pub use types::{
    Appended, Digest, Envelope, ExpectedVersion, Hash, HashParseError, Head, NewEvent, Occurred,
    OccurredError, RawEnvelope, StreamId, StreamIdError, GENESIS_SEED, MAX_STREAM_ID_BYTES,
};

/// Key layout helpers for tests that damage a store on purpose. Not part of the API.
#[doc(hidden)]
pub mod raw {
    pub use crate::codec::event_key;

    /// The plain bytes of a chunk value written by a store of the current format: per
    /// record, its length (u32 BE) then `prev_hash ‖ hash ‖ body`. Panics on a bad value.
    pub fn chunk_records(value: &[u8]) -> Vec<u8> {
        let format = crate::chunk::Format::CURRENT;
        crate::chunk::decode_chunk(format, value.into())
            .expect("a chunk of the current format")
            .to_vec()
    }

    /// The idempotency index key a store of the current format files `key` under.
    pub fn idempotency_index_key(key: &str) -> Vec<u8> {
        crate::chunk::idempotency_index_key(crate::chunk::Format::CURRENT, key)
    }

    /// The value a store of the current format stores for a chunk of these plain bytes.
    pub fn chunk_value(records: Vec<u8>) -> Vec<u8> {
        crate::chunk::encode_chunk(crate::chunk::Format::CURRENT, records)
    }
}
