//! The Merkle tree's nodes on sled: the tree [`TREE_NAME`] of the store's database, keyed
//! `level (1 byte) ‖ index (u64 BE)` → the 32-byte hash, and [`SIZE_KEY`] → the size they
//! cover (u64 BE). Nodes and size move in one `sled::Batch`. Not flushed on its own: the
//! next group's flush carries it, and a tree that lost its last write is caught up at open.

use std::sync::Arc;

use kpi_proof::{NodeHash, NodeId};

use crate::error::StoreError;
use crate::merkle::TreeNodes;
use crate::storage::Storage;

/// The sled tree that holds the Merkle nodes.
pub const TREE_NAME: &str = "merkle";
const SIZE_KEY: &[u8] = b"size";

pub(crate) struct SledNodes {
    pub(crate) storage: Arc<Storage>,
}

fn key(id: NodeId) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = id.level;
    key[1..].copy_from_slice(&id.index.to_be_bytes());
    key
}

impl SledNodes {
    /// The `merkle` tree, opened per use: a handle kept across calls would keep a failed
    /// database alive and stop the store from reopening it (writes come once per 64 events,
    /// so opening costs nothing that matters).
    fn tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.storage.db()?.open_tree(TREE_NAME)?)
    }
}

fn corrupt(what: String, reason: &str) -> StoreError {
    StoreError::Corrupt {
        what,
        reason: reason.to_owned(),
    }
}

impl TreeNodes for SledNodes {
    fn size(&self) -> Result<u64, StoreError> {
        match self.tree()?.get(SIZE_KEY)? {
            None => Ok(0),
            Some(bytes) => crate::codec::decode_u64(&bytes)
                .ok_or_else(|| corrupt("Merkle tree size".to_owned(), "is not 8 bytes")),
        }
    }

    fn get(&self, id: NodeId) -> Result<Option<NodeHash>, StoreError> {
        let Some(bytes) = self.tree()?.get(key(id))? else {
            return Ok(None);
        };
        let hash: NodeHash = bytes.as_ref().try_into().map_err(|_| {
            corrupt(
                format!("Merkle tree node (level {}, index {})", id.level, id.index),
                "is not 32 bytes",
            )
        })?;
        Ok(Some(hash))
    }

    fn put(&self, nodes: &[(NodeId, NodeHash)], size: u64) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (id, hash) in nodes {
            batch.insert(&key(*id)[..], &hash[..]);
        }
        batch.insert(SIZE_KEY, &size.to_be_bytes()[..]);
        self.tree()?.apply_batch(batch)?;
        Ok(())
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.tree()?.clear()?;
        Ok(())
    }
}
