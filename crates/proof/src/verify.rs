//! Checking proofs, with the `ct-merkle` crate's RFC 6962/9162 verification: independent
//! of [`crate::tree`], which builds them.

use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use sha2_ct::Sha256;

use crate::tree::NodeHash;

/// Why a proof does not check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("entry {index} is not in a tree of {size} entries")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error(
        "the proof has {found} hashes; a proof for this position and tree size has {expected}"
    )]
    WrongLength { expected: usize, found: usize },
    #[error("the proof does not lead to the root hash {root}")]
    RootMismatch { root: String },
    #[error("a consistency proof needs 0 < old size ≤ new size (got {old} and {new})")]
    BadSizes { old: u64, new: u64 },
    #[error("the tree of {old} entries is not a prefix of the tree of {new} entries: {reason}")]
    Inconsistent { old: u64, new: u64, reason: String },
}

fn ct_root(root: &NodeHash, size: u64) -> RootHash<Sha256> {
    RootHash::new((*root).into(), size)
}

fn flatten(proof: &[NodeHash]) -> Vec<u8> {
    proof.iter().flatten().copied().collect()
}

/// The number of hashes in the audit path of entry `index` in a tree of `size`: one per
/// level of PATH's recursion (RFC 9162 §2.1.3.1), fixed by the two numbers.
fn inclusion_len(index: u64, size: u64) -> usize {
    let (mut m, mut n, mut len) = (index, size, 0);
    while n > 1 {
        let k = crate::tree::split(n);
        if m < k {
            n = k;
        } else {
            m -= k;
            n -= k;
        }
        len += 1;
    }
    len
}

/// Checks that `entry` (an event's chain hash) is entry `index` of the tree of `size`
/// entries whose root is `root`, by its audit path `proof` (leaf side first).
pub fn verify_inclusion(
    entry: &[u8],
    index: u64,
    size: u64,
    proof: &[NodeHash],
    root: &NodeHash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    let ct_proof = InclusionProof::<Sha256>::from_bytes(flatten(proof));
    ct_root(root, size)
        .verify_inclusion(&entry, index, &ct_proof)
        .map_err(|_| ProofError::RootMismatch {
            root: hex::encode(root),
        })
}

/// Checks that the tree of `old` entries with root `old_root` is a prefix of the tree of
/// `new` entries with root `new_root`, by the consistency proof `proof`.
pub fn verify_consistency(
    old: u64,
    old_root: &NodeHash,
    new: u64,
    new_root: &NodeHash,
    proof: &[NodeHash],
) -> Result<(), ProofError> {
    if old == 0 || old > new {
        return Err(ProofError::BadSizes { old, new });
    }
    if old == new {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Inconsistent {
                old,
                new,
                reason: "trees of the same size have different roots".to_owned(),
            })
        };
    }
    let ct_proof = ConsistencyProof::<Sha256>::try_from_bytes(flatten(proof)).map_err(|e| {
        ProofError::Inconsistent {
            old,
            new,
            reason: format!("{e:?}"),
        }
    })?;
    ct_root(new_root, new)
        .verify_consistency(&ct_root(old_root, old), &ct_proof)
        .map_err(|e| ProofError::Inconsistent {
            old,
            new,
            reason: match e {
                ct_merkle::ConsistencyVerifError::MalformedProof => {
                    format!("the proof has the wrong number of hashes ({})", proof.len())
                }
                other => format!("the proof does not match both roots ({other:?})"),
            },
        })
}
