//! RFC 9162 §2.1 over stored complete subtrees: MTH at any size, PATH (inclusion) and
//! PROOF/SUBPROOF (consistency), and the [`Frontier`] that says which nodes an append adds.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// A SHA-256 node (or leaf, or root) hash.
pub type NodeHash = [u8; 32];

/// MTH of the empty tree: SHA-256 of nothing.
pub const EMPTY_ROOT: NodeHash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The leaf hash of an entry: SHA-256(0x00 ‖ entry). The ledger's entries are chain hashes.
pub fn leaf_hash(entry: &[u8]) -> NodeHash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(entry);
    hasher.finalize().into()
}

/// An interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &NodeHash, right: &NodeHash) -> NodeHash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// A complete, aligned subtree: the `2^level` entries from `index << level`. Level 0 is a
/// leaf. Its hash never changes once the tree holds all its entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    /// The first entry it covers.
    pub fn start(self) -> u64 {
        self.index << self.level
    }

    /// One past the last entry it covers.
    pub fn end(self) -> u64 {
        (self.index + 1) << self.level
    }
}

/// Where complete subtree hashes are read from (a store, or memory in tests).
pub trait Nodes {
    type Error;
    /// The hash of `id`, which lies wholly inside the tree.
    fn node(&mut self, id: NodeId) -> Result<NodeHash, Self::Error>;
}

/// MTH of ranges of entries, from complete subtrees read through `nodes`, each range
/// computed once (the right edges of nested ranges are shared, so a proof reads
/// `O(log n)` nodes).
struct Ranges<'a, N> {
    nodes: &'a mut N,
    memo: HashMap<(u64, u64), NodeHash>,
}

/// The largest power of two smaller than `n` (n ≥ 2).
pub(crate) fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

impl<N: Nodes> Ranges<'_, N> {
    /// MTH(D[start:end]), `start < end`.
    fn mth(&mut self, start: u64, end: u64) -> Result<NodeHash, N::Error> {
        let n = end - start;
        if n.is_power_of_two() && start.is_multiple_of(n) {
            let level = n.trailing_zeros() as u8;
            return self.nodes.node(NodeId {
                level,
                index: start >> level,
            });
        }
        if let Some(hash) = self.memo.get(&(start, end)) {
            return Ok(*hash);
        }
        let k = split(n);
        let left = self.mth(start, start + k)?;
        let right = self.mth(start + k, end)?;
        let hash = node_hash(&left, &right);
        self.memo.insert((start, end), hash);
        Ok(hash)
    }

    /// PATH(m, D[start:end]) appended to `out`, leaf side first.
    fn path(
        &mut self,
        m: u64,
        start: u64,
        end: u64,
        out: &mut Vec<NodeHash>,
    ) -> Result<(), N::Error> {
        let n = end - start;
        if n <= 1 {
            return Ok(());
        }
        let k = split(n);
        if m - start < k {
            self.path(m, start, start + k, out)?;
            out.push(self.mth(start + k, end)?);
        } else {
            self.path(m, start + k, end, out)?;
            out.push(self.mth(start, start + k)?);
        }
        Ok(())
    }

    /// SUBPROOF(m, D[start:end], b) appended to `out`.
    fn subproof(
        &mut self,
        m: u64,
        start: u64,
        end: u64,
        complete: bool,
        out: &mut Vec<NodeHash>,
    ) -> Result<(), N::Error> {
        let n = end - start;
        if m == n {
            if !complete {
                out.push(self.mth(start, end)?);
            }
            return Ok(());
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, start, start + k, complete, out)?;
            out.push(self.mth(start + k, end)?);
        } else {
            self.subproof(m - k, start + k, end, false, out)?;
            out.push(self.mth(start, start + k)?);
        }
        Ok(())
    }
}

fn ranges<N: Nodes>(nodes: &mut N) -> Ranges<'_, N> {
    Ranges {
        nodes,
        memo: HashMap::new(),
    }
}

/// MTH of the first `size` entries.
pub fn root<N: Nodes>(nodes: &mut N, size: u64) -> Result<NodeHash, N::Error> {
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    ranges(nodes).mth(0, size)
}

/// The inclusion proof (audit path, RFC 9162 §2.1.3.1) of entry `index` in the tree of the
/// first `size` entries, leaf side first. `index < size`.
pub fn inclusion_proof<N: Nodes>(
    nodes: &mut N,
    index: u64,
    size: u64,
) -> Result<Vec<NodeHash>, N::Error> {
    assert!(index < size, "entry {index} is not in a tree of {size}");
    let mut out = Vec::with_capacity(64);
    ranges(nodes).path(index, 0, size, &mut out)?;
    Ok(out)
}

/// The consistency proof (RFC 9162 §2.1.4.1) that the tree of the first `old` entries is
/// a prefix of the tree of the first `new`. `0 < old ≤ new`; empty when they are equal.
pub fn consistency_proof<N: Nodes>(
    nodes: &mut N,
    old: u64,
    new: u64,
) -> Result<Vec<NodeHash>, N::Error> {
    assert!(
        0 < old && old <= new,
        "no consistency proof from {old} to {new}"
    );
    let mut out = Vec::with_capacity(64);
    if old < new {
        ranges(nodes).subproof(old, 0, new, true, &mut out)?;
    }
    Ok(out)
}

/// The right edge of the tree: the complete subtrees that make up the first `size` entries
/// (one per set bit of `size`, largest first). Appending an entry tells which new nodes to
/// store; the tree hash at `size` folds them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    peaks: Vec<NodeHash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// The nodes whose hashes make up the frontier at `size`, largest first.
    pub fn peak_ids(size: u64) -> Vec<NodeId> {
        (0..64u8)
            .rev()
            .filter(|bit| size & (1 << bit) != 0)
            .map(|bit| NodeId {
                level: bit,
                index: (size >> bit) - 1,
            })
            .collect()
    }

    /// The frontier at `size`, its peaks read through `nodes`.
    pub fn load<N: Nodes>(nodes: &mut N, size: u64) -> Result<Frontier, N::Error> {
        let peaks = Frontier::peak_ids(size)
            .into_iter()
            .map(|id| nodes.node(id))
            .collect::<Result<_, _>>()?;
        Ok(Frontier { size, peaks })
    }

    /// Entries in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds an entry; returns the nodes that became complete (its leaf first, then one per
    /// trailing one bit of its index), to be stored.
    pub fn push(&mut self, entry: &[u8]) -> Vec<(NodeId, NodeHash)> {
        let mut hash = leaf_hash(entry);
        let mut id = NodeId {
            level: 0,
            index: self.size,
        };
        let mut added = vec![(id, hash)];
        while id.index & 1 == 1 {
            let left = self
                .peaks
                .pop()
                .expect("an odd index has a left sibling on the frontier");
            hash = node_hash(&left, &hash);
            id = NodeId {
                level: id.level + 1,
                index: id.index >> 1,
            };
            added.push((id, hash));
        }
        self.peaks.push(hash);
        self.size += 1;
        added
    }

    /// MTH of the tree.
    pub fn root(&self) -> NodeHash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return EMPTY_ROOT;
        };
        peaks.fold(*last, |right, left| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        assert_eq!(split(2), 1);
        assert_eq!(split(3), 2);
        assert_eq!(split(4), 2);
        assert_eq!(split(5), 4);
        assert_eq!(split(1 << 40), 1 << 39);
        assert_eq!(split((1 << 40) + 1), 1 << 40);
    }

    #[test]
    fn peak_ids_cover_the_size_left_to_right() {
        let ids = Frontier::peak_ids(13);
        assert_eq!(
            ids.iter()
                .map(|id| (id.start(), id.end()))
                .collect::<Vec<_>>(),
            vec![(0, 8), (8, 12), (12, 13)]
        );
        assert!(Frontier::peak_ids(0).is_empty());
    }
}
