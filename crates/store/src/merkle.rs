//! The Merkle tree over the log (RFC 9162; arithmetic in `kpi-proof`): entry `i` is the
//! chain hash of the event at position `i + 1`, so a leaf commits to the event's canonical
//! bytes and to every event before it.
//!
//! # Kept as derived data, caught up from the log
//!
//! The tree's nodes (every complete subtree of 64 events and up: about one node per 32
//! events, at most `log2 n - 5` for one event; smaller subtrees are hashed from the log's
//! chain hashes when a proof needs them, at most 32 events) are stored beside the log
//! (sled: the tree `merkle` of the same database; PostgreSQL: the table
//! `kpi_merkle_nodes`), together with the tree size they cover, in one atomic write made
//! when a stored node completes. They are written from acknowledged events, never the
//! other way round:
//!
//! - after each acknowledged append, before the append returns, its events are added from
//!   its envelopes (no read of the log); concurrent appends return in any order, so events
//!   wait in memory for the ones before them (their own appends bring them, just after);
//! - at open, a tree that lags the log (a crash between an append's flush and its tree
//!   write, or a store made before the tree existed) is caught up from the log, and a tree
//!   that is ahead of it (a log that lost its tail) is dropped and rebuilt;
//! - a root or proof at a size the tree has not reached yet catches it up first (on
//!   PostgreSQL, another process may have appended).
//!
//! So the tree never holds anything the log does not, and lags it only until the next
//! append, proof or open. A failed tree write does not fail the append (the event is
//! durable); it is logged and retried at the next catch-up. On PostgreSQL, processes that
//! catch up at the same time write the same nodes (`ON CONFLICT DO NOTHING`).

use kpi_proof::{Frontier, NodeHash, NodeId, Nodes};
use parking_lot::Mutex;

use crate::error::StoreError;
use crate::event_store::EventStore;

/// Events caught up per tree write.
const CATCH_UP_BATCH: usize = 4096;

/// Most events waiting for an earlier one before the tree is caught up from the log.
const MAX_PENDING: usize = 4096;

/// Whether appends catch the tree up (the default); off only in the benchmark that
/// measures what the tree costs an append.
static MAINTAINED_ON_APPEND: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(true);

/// Switches the tree's catch-up after each append off or on, process-wide (the tree then
/// catches up at the next proof or open). For `benches/merkle.rs` only; not part of the API.
#[doc(hidden)]
pub fn __maintain_tree_on_append(on: bool) {
    MAINTAINED_ON_APPEND.store(on, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) fn maintained_on_append() -> bool {
    MAINTAINED_ON_APPEND.load(std::sync::atomic::Ordering::Relaxed)
}

/// Where a backend keeps the tree's nodes.
pub(crate) trait TreeNodes: Send + Sync {
    /// Entries the stored nodes cover.
    fn size(&self) -> Result<u64, StoreError>;
    fn get(&self, id: NodeId) -> Result<Option<NodeHash>, StoreError>;
    /// Stores `nodes` and moves the size to `size`, atomically.
    fn put(&self, nodes: &[(NodeId, NodeHash)], size: u64) -> Result<(), StoreError>;
    /// Forgets every node (the size becomes 0).
    fn clear(&self) -> Result<(), StoreError>;
}

/// The stored tree and its right edge in memory.
pub(crate) struct MerkleLog {
    nodes: Box<dyn TreeNodes>,
    frontier: Mutex<Frontier>,
    /// Appended events waiting for earlier ones (position → chain hash); locked after
    /// `frontier`, never alone before it.
    pending: Mutex<std::collections::BTreeMap<u64, NodeHash>>,
    /// The size stored at open, until [`MerkleLog::load_frontier`] loads it.
    stored_size: u64,
}

/// The lowest level of node the store keeps: complete subtrees of 64 events and up, about
/// one node per 32 events. Smaller subtrees (at most 32 leaves) are hashed from the chain
/// hashes in the log when a proof needs them, so an append writes almost nothing beside the
/// log.
pub(crate) const STORED_FROM_LEVEL: u8 = 6;

/// Nodes for `kpi_proof`'s arithmetic: stored ones read, lower ones hashed from the log's
/// chain hashes; a missing stored node is corruption.
struct Stored<'a> {
    nodes: &'a dyn TreeNodes,
    store: &'a EventStore,
}

impl Nodes for Stored<'_> {
    type Error = StoreError;
    fn node(&mut self, id: NodeId) -> Result<NodeHash, StoreError> {
        if id.level < STORED_FROM_LEVEL {
            return self.hashed_from_log(id);
        }
        self.nodes.get(id)?.ok_or_else(|| StoreError::Corrupt {
            what: format!("Merkle tree node (level {}, index {})", id.level, id.index),
            reason: "is missing although the tree covers it".to_owned(),
        })
    }
}

impl Stored<'_> {
    /// A small complete subtree hashed from its events' chain hashes.
    fn hashed_from_log(&self, id: NodeId) -> Result<NodeHash, StoreError> {
        let count = (id.end() - id.start()) as usize;
        let mut level: Vec<NodeHash> = Vec::with_capacity(count);
        for event in self.store.iter_raw_from(id.start() + 1).take(count) {
            level.push(kpi_proof::leaf_hash(event?.hash.as_bytes()));
        }
        if level.len() != count {
            return Err(StoreError::Corrupt {
                what: format!("Merkle tree node (level {}, index {})", id.level, id.index),
                reason: format!("the log holds {} of its {count} events", level.len()),
            });
        }
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|pair| kpi_proof::node_hash(&pair[0], &pair[1]))
                .collect();
        }
        Ok(level[0])
    }
}

/// Only the nodes the store keeps.
fn kept(added: Vec<(NodeId, NodeHash)>) -> impl Iterator<Item = (NodeId, NodeHash)> {
    added
        .into_iter()
        .filter(|(id, _)| id.level >= STORED_FROM_LEVEL)
}

impl MerkleLog {
    /// Loads the stored tree (dropping it when it is ahead of `head`); the caller catches
    /// it up.
    pub(crate) fn open(nodes: Box<dyn TreeNodes>, head: u64) -> Result<MerkleLog, StoreError> {
        let mut size = nodes.size()?;
        if size > head {
            tracing::warn!(
                tree = size,
                head,
                "the Merkle tree is ahead of the log; rebuilding it from the log"
            );
            nodes.clear()?;
            size = 0;
        }
        Ok(MerkleLog {
            nodes,
            frontier: Mutex::new(Frontier::new()),
            pending: Mutex::new(std::collections::BTreeMap::new()),
            stored_size: size,
        })
    }

    /// Loads the right edge of the stored tree (its small peaks hashed from `store`'s log).
    pub(crate) fn load_frontier(&self, store: &EventStore) -> Result<(), StoreError> {
        let frontier = Frontier::load(
            &mut Stored {
                nodes: self.nodes.as_ref(),
                store,
            },
            self.stored_size,
        )?;
        *self.frontier.lock() = frontier;
        Ok(())
    }

    /// Entries in the tree now.
    pub(crate) fn size(&self) -> u64 {
        self.frontier.lock().size()
    }

    /// Adds the events after the tree's size up to position `head` to the tree.
    pub(crate) fn catch_up(&self, store: &EventStore, head: u64) -> Result<(), StoreError> {
        let mut frontier = self.frontier.lock();
        if frontier.size() >= head {
            return Ok(());
        }
        let started = frontier.size();
        let mut next = frontier.clone();
        let mut added = Vec::new();
        let mut pending = 0;
        for event in store.iter_raw_from(next.size() + 1) {
            let event = event?;
            if event.position > head {
                break;
            }
            debug_assert_eq!(event.position, next.size() + 1);
            added.extend(kept(next.push(event.hash.as_bytes())));
            pending += 1;
            if pending == CATCH_UP_BATCH {
                if !added.is_empty() {
                    self.nodes.put(&added, next.size())?;
                }
                *frontier = next.clone();
                added.clear();
                pending = 0;
            }
        }
        if pending > 0 {
            if !added.is_empty() {
                self.nodes.put(&added, next.size())?;
            }
            *frontier = next;
        }
        let size = frontier.size();
        self.pending.lock().retain(|position, _| *position > size);
        if frontier.size() - started > CATCH_UP_BATCH as u64 {
            tracing::info!(
                from = started,
                to = frontier.size(),
                "Merkle tree caught up"
            );
        }
        Ok(())
    }

    /// Adds an append's `envelopes` to the tree. Concurrent appends return in any order,
    /// so events that are not next yet wait in `pending` (bounded) for the ones before
    /// them, which their own appends bring; nothing is read back from the log. Events that
    /// never come this way (another process's, on PostgreSQL) are caught up from the log
    /// once `pending` passes its bound, and by every proof and open.
    pub(crate) fn extend(
        &self,
        store: &EventStore,
        envelopes: &[crate::types::Envelope],
    ) -> Result<(), StoreError> {
        let Some(last) = envelopes.last() else {
            return Ok(());
        };
        let mut frontier = self.frontier.lock();
        if frontier.size() >= last.position {
            return Ok(());
        }
        let mut pending = self.pending.lock();
        for envelope in envelopes {
            if envelope.position > frontier.size() {
                pending.insert(envelope.position, *envelope.hash.as_bytes());
            }
        }
        let mut next = frontier.clone();
        let mut added = Vec::new();
        while let Some(hash) = pending.remove(&(next.size() + 1)) {
            added.extend(kept(next.push(&hash)));
        }
        if next.size() > frontier.size() {
            // Written only when a stored node completed (every 64 events): the stored size
            // then lags by less than a block, which the next open hashes from the log.
            if !added.is_empty() {
                self.nodes.put(&added, next.size())?;
            }
            *frontier = next;
        }
        if pending.len() > MAX_PENDING {
            drop(pending);
            drop(frontier);
            return self.catch_up(store, store.head().position);
        }
        Ok(())
    }

    /// Runs `f` on the stored nodes once the tree holds `size` entries.
    fn at<T>(
        &self,
        store: &EventStore,
        size: u64,
        f: impl FnOnce(&mut Stored<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let head = store.head().position;
        if size > head {
            return Err(StoreError::BeyondHead {
                what: "tree size",
                asked: size,
                head,
            });
        }
        if self.size() < size {
            self.catch_up(store, head)?;
        }
        f(&mut Stored {
            nodes: self.nodes.as_ref(),
            store,
        })
    }
}

impl EventStore {
    /// Entries (events) the Merkle tree holds now: the head, unless an append is being
    /// added to it.
    pub fn tree_size(&self) -> u64 {
        self.tree.size()
    }

    /// The Merkle tree hash (RFC 9162 MTH) of the first `size` events, `size` ≤ the head.
    pub fn tree_root(&self, size: u64) -> Result<NodeHash, StoreError> {
        self.tree
            .at(self, size, |nodes| kpi_proof::root(nodes, size))
    }

    /// The inclusion proof (audit path) of the event at `position` in the tree of the first
    /// `size` events, leaf side first; `1 ≤ position ≤ size ≤ head`. `O(log size)` reads.
    pub fn inclusion_proof(&self, position: u64, size: u64) -> Result<Vec<NodeHash>, StoreError> {
        if position == 0 || position > size {
            return Err(StoreError::BeyondHead {
                what: "position",
                asked: position,
                head: size,
            });
        }
        self.tree.at(self, size, |nodes| {
            kpi_proof::inclusion_proof(nodes, position - 1, size)
        })
    }

    /// The consistency proof that the tree of the first `old` events is a prefix of the
    /// tree of the first `new`; `1 ≤ old ≤ new ≤ head`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<NodeHash>, StoreError> {
        if old == 0 || old > new {
            return Err(StoreError::BeyondHead {
                what: "old tree size",
                asked: old,
                head: new,
            });
        }
        self.tree.at(self, new, |nodes| {
            kpi_proof::consistency_proof(nodes, old, new)
        })
    }

    /// Catches the tree up to the head now (appends do; this is for a caller that wrote
    /// the log another way, and for tests).
    pub fn catch_up_tree(&self) -> Result<u64, StoreError> {
        let head = self.head().position;
        self.tree.catch_up(self, head)?;
        Ok(self.tree_size())
    }

    /// Adds an append's events to the tree (sled: here, a batch into memory that the next
    /// group's flush carries; PostgreSQL: on the blocking pool, a round trip); a failure is
    /// logged (the next append, proof or open catches up again).
    pub(crate) async fn tree_after_append(&self, envelopes: &[crate::types::Envelope]) {
        let extended = match self.backend() {
            crate::config::Backend::Sled => self.tree.extend(self, envelopes),
            crate::config::Backend::Postgres => {
                let store = self.clone();
                let envelopes = envelopes.to_vec();
                tokio::task::spawn_blocking(move || store.tree.extend(&store, &envelopes))
                    .await
                    .unwrap_or_else(|error| {
                        Err(StoreError::Corrupt {
                            what: "Merkle tree catch-up".to_owned(),
                            reason: format!("panicked: {error}"),
                        })
                    })
            }
        };
        if let Err(error) = extended {
            tracing::warn!(%error, "the Merkle tree could not be caught up after an append");
        }
    }
}
