//! The ledger's proofs, as pure arithmetic (no I/O): an RFC 9162 Merkle tree over the log
//! and signed tree heads.
//!
//! # The tree
//!
//! Entry `i` of the tree (0-based) is the event at log position `i + 1`, and its entry bytes
//! are that event's 32-byte **chain hash**. The chain hash already commits to the event's
//! canonical bytes and to the previous hash (see `kpi-store`), so a leaf proves the event's
//! exact bytes and its place in the chain. Hashing is RFC 9162 §2.1.1 with SHA-256:
//!
//! ```text
//! leaf(i)       = SHA-256(0x00 ‖ chain_hash(position i + 1))
//! node(l, r)    = SHA-256(0x01 ‖ l ‖ r)
//! MTH({})       = SHA-256("")
//! MTH(D[n])     = node(MTH(D[0:k]), MTH(D[k:n]))   k = largest power of two < n
//! ```
//!
//! The store keeps the hash of every *complete, aligned* subtree ([`NodeId`]: `2^level`
//! entries from `index · 2^level`); they never change once the tree has grown past them,
//! an append adds the leaf and one node per trailing one bit of its index ([`Frontier`]),
//! and any tree hash at any size, inclusion path or consistency proof is computed from
//! `O(log n)` of them ([`tree`]). Proofs are checked with the `ct-merkle` crate
//! ([`verify_inclusion`], [`verify_consistency`]), an implementation independent of the
//! code that builds them.
//!
//! # Signed tree heads
//!
//! [`TreeHead`]: tree size, root hash and time, signed with Ed25519 ([`sign`]) over the
//! bytes of [`TreeHead::message`].

mod head;
pub mod tree;
mod verify;

pub use head::{
    fingerprint, parse_public_key, parse_secret_key, public_key_hex, sign, verify_head, HeadError,
    KeyError, PublicKey, SecretKey, SignedTreeHead, TreeHead, HEAD_CONTEXT,
};
pub use tree::{
    consistency_proof, inclusion_proof, leaf_hash, node_hash, root, Frontier, NodeHash, NodeId,
    Nodes, EMPTY_ROOT,
};
pub use verify::{verify_consistency, verify_inclusion, ProofError};

/// Lower-case hex of a node hash.
pub fn to_hex(hash: &NodeHash) -> String {
    hex::encode(hash)
}

/// A node hash from 64 hex digits.
pub fn from_hex(text: &str) -> Option<NodeHash> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).ok()?;
    Some(hash)
}
