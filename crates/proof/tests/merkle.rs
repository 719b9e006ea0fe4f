//! The tree arithmetic against the published RFC 6962/9162 test vectors (transparency-dev/
//! merkle `testonly/constants.go` and `proof/verify_test.go`, Trillian's originals) and
//! against a second implementation written here straight from RFC 9162 §2.1 (recursive
//! MTH, PATH and SUBPROOF over the list of entries, with no stored nodes).

use std::collections::HashMap;
use std::convert::Infallible;

use kpi_proof::{
    consistency_proof, from_hex, inclusion_proof, leaf_hash, node_hash, root, verify_consistency,
    verify_inclusion, Frontier, NodeHash, NodeId, Nodes, ProofError, EMPTY_ROOT,
};

/// The eight leaf inputs of the CT test vectors.
const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// MTH of the first 1..=8 leaves.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (0-based index, tree size, audit path).
const PATHS: &[(u64, u64, &[&str])] = &[
    (0, 1, &[]),
    (
        0,
        2,
        &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
    ),
    (
        1,
        2,
        &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

/// (old size, new size, consistency proof).
const CONSISTENCY: &[(u64, u64, &[&str])] = &[
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

fn h(text: &str) -> NodeHash {
    from_hex(text).expect("64 hex digits")
}

fn hashes(texts: &[&str]) -> Vec<NodeHash> {
    texts.iter().map(|t| h(t)).collect()
}

/// Stored nodes, as a store keeps them: every node an append reports.
#[derive(Default)]
struct Memory {
    nodes: HashMap<NodeId, NodeHash>,
    reads: usize,
}

impl Nodes for Memory {
    type Error = Infallible;
    fn node(&mut self, id: NodeId) -> Result<NodeHash, Infallible> {
        self.reads += 1;
        Ok(*self
            .nodes
            .get(&id)
            .unwrap_or_else(|| panic!("node {id:?} was never stored")))
    }
}

fn grow(entries: &[Vec<u8>]) -> (Frontier, Memory) {
    let mut frontier = Frontier::new();
    let mut memory = Memory::default();
    for entry in entries {
        for (id, hash) in frontier.push(entry) {
            assert!(
                memory.nodes.insert(id, hash).is_none(),
                "{id:?} stored twice"
            );
        }
    }
    (frontier, memory)
}

fn vector_entries() -> Vec<Vec<u8>> {
    LEAVES.iter().map(|l| hex::decode(l).unwrap()).collect()
}

// ---- the second implementation: RFC 9162 §2.1 as written, over the entries themselves ----

fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn naive_mth(d: &[Vec<u8>]) -> NodeHash {
    match d.len() {
        0 => EMPTY_ROOT,
        1 => leaf_hash(&d[0]),
        n => {
            let k = k_of(n);
            node_hash(&naive_mth(&d[..k]), &naive_mth(&d[k..]))
        }
    }
}

fn naive_path(m: usize, d: &[Vec<u8>]) -> Vec<NodeHash> {
    let n = d.len();
    if n == 1 {
        return vec![];
    }
    let k = k_of(n);
    if m < k {
        let mut p = naive_path(m, &d[..k]);
        p.push(naive_mth(&d[k..]));
        p
    } else {
        let mut p = naive_path(m - k, &d[k..]);
        p.push(naive_mth(&d[..k]));
        p
    }
}

fn naive_subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<NodeHash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![naive_mth(d)] };
    }
    let k = k_of(n);
    if m <= k {
        let mut p = naive_subproof(m, &d[..k], b);
        p.push(naive_mth(&d[k..]));
        p
    } else {
        let mut p = naive_subproof(m - k, &d[k..], false);
        p.push(naive_mth(&d[..k]));
        p
    }
}

fn entries(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| leaf_hash(format!("event {i}").as_bytes()).to_vec())
        .collect()
}

#[test]
fn merkle_hashes_match_the_rfc6962_vectors() {
    assert_eq!(
        hex::encode(EMPTY_ROOT),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        hex::encode(leaf_hash(b"L123456")),
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    );
    let all = vector_entries();
    for size in 1..=8 {
        let (frontier, mut memory) = grow(&all[..size]);
        assert_eq!(
            frontier.root(),
            h(ROOTS[size - 1]),
            "frontier root at {size}"
        );
        assert_eq!(root(&mut memory, size as u64).unwrap(), h(ROOTS[size - 1]));
        assert_eq!(
            naive_mth(&all[..size]),
            h(ROOTS[size - 1]),
            "naive root at {size}"
        );
    }
    // Every smaller root from the tree of eight, as a store answers roots at old sizes.
    let (_, mut memory) = grow(&all);
    for size in 1..=8u64 {
        assert_eq!(
            root(&mut memory, size).unwrap(),
            h(ROOTS[size as usize - 1])
        );
    }
    assert_eq!(root(&mut memory, 0).unwrap(), EMPTY_ROOT);
}

#[test]
fn merkle_node_hash_is_prefix_one_then_both_children() {
    use sha2::{Digest, Sha256};
    let (l, r) = (leaf_hash(b"a"), leaf_hash(b"b"));
    let mut expected = Sha256::new();
    expected.update([1u8]);
    expected.update(l);
    expected.update(r);
    assert_eq!(node_hash(&l, &r), <[u8; 32]>::from(expected.finalize()));
    assert_ne!(node_hash(&l, &r), node_hash(&r, &l));
}

#[test]
fn merkle_inclusion_proofs_match_the_vectors_and_verify() {
    let all = vector_entries();
    let (_, mut memory) = grow(&all);
    for (index, size, path) in PATHS {
        let proof = inclusion_proof(&mut memory, *index, *size).unwrap();
        assert_eq!(proof, hashes(path), "path of {index} in {size}");
        verify_inclusion(
            &all[*index as usize],
            *index,
            *size,
            &proof,
            &h(ROOTS[*size as usize - 1]),
        )
        .unwrap();
    }
}

#[test]
fn merkle_consistency_proofs_match_the_vectors_and_verify() {
    let all = vector_entries();
    let (_, mut memory) = grow(&all);
    for (old, new, proof_hex) in CONSISTENCY {
        let proof = consistency_proof(&mut memory, *old, *new).unwrap();
        assert_eq!(proof, hashes(proof_hex), "proof from {old} to {new}");
        verify_consistency(
            *old,
            &h(ROOTS[*old as usize - 1]),
            *new,
            &h(ROOTS[*new as usize - 1]),
            &proof,
        )
        .unwrap();
    }
}

#[test]
fn merkle_agrees_with_the_naive_implementation_at_every_size_up_to_70() {
    let all = entries(70);
    let (_, mut memory) = grow(&all);
    for size in 1..=70usize {
        let d = &all[..size];
        let root_hash = root(&mut memory, size as u64).unwrap();
        assert_eq!(root_hash, naive_mth(d), "root at {size}");
        for (index, entry) in d.iter().enumerate() {
            let proof = inclusion_proof(&mut memory, index as u64, size as u64).unwrap();
            assert_eq!(proof, naive_path(index, d), "path of {index} in {size}");
            verify_inclusion(entry, index as u64, size as u64, &proof, &root_hash)
                .unwrap_or_else(|e| panic!("{index} in {size}: {e}"));
        }
        for old in 1..=size {
            let proof = consistency_proof(&mut memory, old as u64, size as u64).unwrap();
            let expected = if old == size {
                vec![]
            } else {
                naive_subproof(old, d, true)
            };
            assert_eq!(proof, expected, "consistency {old} -> {size}");
            verify_consistency(
                old as u64,
                &naive_mth(&all[..old]),
                size as u64,
                &root_hash,
                &proof,
            )
            .unwrap_or_else(|e| panic!("{old} -> {size}: {e}"));
        }
    }
}

#[test]
fn merkle_a_proof_reads_logarithmically_many_nodes() {
    let all = entries(1000);
    let (_, mut memory) = grow(&all);
    for (index, size) in [(0u64, 1000u64), (999, 1000), (517, 999), (3, 513)] {
        memory.reads = 0;
        inclusion_proof(&mut memory, index, size).unwrap();
        // ⌈log2 1000⌉ = 10 levels; each level costs one stored node, and the right edge's
        // incomplete subtrees share their peaks.
        assert!(
            memory.reads <= 20,
            "{} reads for {index} in {size}",
            memory.reads
        );
    }
}

#[test]
fn merkle_tampered_inclusion_proofs_fail() {
    let all = entries(13);
    let (_, mut memory) = grow(&all);
    let root_hash = root(&mut memory, 13).unwrap();
    let proof = inclusion_proof(&mut memory, 6, 13).unwrap();
    verify_inclusion(&all[6], 6, 13, &proof, &root_hash).unwrap();
    // Another entry, another index, another size, a changed hash, a missing or extra hash.
    assert!(matches!(
        verify_inclusion(&all[7], 6, 13, &proof, &root_hash),
        Err(ProofError::RootMismatch { .. })
    ));
    assert!(verify_inclusion(&all[6], 7, 13, &proof, &root_hash).is_err());
    // (A path can fit several tree sizes with the same shape: RFC 9162 binds the size
    // through the signed head, which the bundle checks separately.)
    assert!(verify_inclusion(&all[6], 6, 7, &proof, &root_hash).is_err());
    assert!(matches!(
        verify_inclusion(&all[6], 13, 13, &proof, &root_hash),
        Err(ProofError::IndexOutOfRange { .. })
    ));
    for i in 0..proof.len() {
        let mut bad = proof.clone();
        bad[i][0] ^= 8;
        assert!(verify_inclusion(&all[6], 6, 13, &bad, &root_hash).is_err());
    }
    assert!(matches!(
        verify_inclusion(&all[6], 6, 13, &proof[1..], &root_hash),
        Err(ProofError::WrongLength { .. })
    ));
    let mut longer = proof.clone();
    longer.push(root_hash);
    assert!(matches!(
        verify_inclusion(&all[6], 6, 13, &longer, &root_hash),
        Err(ProofError::WrongLength { .. })
    ));
}

#[test]
fn merkle_a_rewritten_history_fails_the_consistency_proof() {
    let honest = entries(20);
    let mut rewritten = honest.clone();
    rewritten[4] = leaf_hash(b"a changed event").to_vec();
    let (_, mut before) = grow(&honest[..12]);
    let old_root = root(&mut before, 12).unwrap();
    let (_, mut after) = grow(&rewritten);
    let new_root = root(&mut after, 20).unwrap();
    let proof = consistency_proof(&mut after, 12, 20).unwrap();
    assert!(matches!(
        verify_consistency(12, &old_root, 20, &new_root, &proof),
        Err(ProofError::Inconsistent { .. })
    ));
    // The honest log's own proof verifies.
    let (_, mut honest_tree) = grow(&honest);
    let honest_root = root(&mut honest_tree, 20).unwrap();
    let honest_proof = consistency_proof(&mut honest_tree, 12, 20).unwrap();
    verify_consistency(12, &old_root, 20, &honest_root, &honest_proof).unwrap();
}
