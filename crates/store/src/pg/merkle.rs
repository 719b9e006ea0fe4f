//! The Merkle tree's nodes on PostgreSQL: `kpi_merkle_nodes (level, idx, hash)` and the
//! size they cover in `kpi_merkle_size` (migration 0002). Nodes and size move in one
//! statement; nodes that another process wrote first are kept (they are the same hashes).

use std::sync::Arc;

use kpi_proof::{NodeHash, NodeId};

use super::PgShared;
use crate::error::StoreError;
use crate::merkle::TreeNodes;

pub(crate) struct PgNodes {
    pub(crate) shared: Arc<PgShared>,
}

impl super::PgStore {
    /// Where this store keeps its Merkle tree.
    pub(crate) fn tree_nodes(&self) -> PgNodes {
        PgNodes {
            shared: self.shared.clone(),
        }
    }
}

impl TreeNodes for PgNodes {
    fn size(&self) -> Result<u64, StoreError> {
        let rows = self
            .shared
            .query("SELECT size FROM kpi_merkle_size", Vec::new())?;
        let size: i64 = rows.first().map_or(0, |row| row.get(0));
        Ok(size.max(0) as u64)
    }

    fn get(&self, id: NodeId) -> Result<Option<NodeHash>, StoreError> {
        let rows = self.shared.query(
            "SELECT hash FROM kpi_merkle_nodes WHERE level = $1 AND idx = $2",
            vec![Box::new(i16::from(id.level)), Box::new(id.index as i64)],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let bytes: Vec<u8> = row.get(0);
        let hash: NodeHash = bytes.try_into().map_err(|_| StoreError::Corrupt {
            what: format!("Merkle tree node (level {}, index {})", id.level, id.index),
            reason: "is not 32 bytes".to_owned(),
        })?;
        Ok(Some(hash))
    }

    fn put(&self, nodes: &[(NodeId, NodeHash)], size: u64) -> Result<(), StoreError> {
        let levels: Vec<i16> = nodes.iter().map(|(id, _)| i16::from(id.level)).collect();
        let indexes: Vec<i64> = nodes.iter().map(|(id, _)| id.index as i64).collect();
        let hashes: Vec<Vec<u8>> = nodes.iter().map(|(_, hash)| hash.to_vec()).collect();
        self.shared.query(
            "WITH added AS (
                 INSERT INTO kpi_merkle_nodes (level, idx, hash)
                 SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])
                 ON CONFLICT DO NOTHING
             )
             UPDATE kpi_merkle_size SET size = greatest(size, $4)",
            vec![
                Box::new(levels),
                Box::new(indexes),
                Box::new(hashes),
                Box::new(size as i64),
            ],
        )?;
        Ok(())
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.shared.query(
            "WITH gone AS (DELETE FROM kpi_merkle_nodes) UPDATE kpi_merkle_size SET size = 0",
            Vec::new(),
        )?;
        Ok(())
    }
}
