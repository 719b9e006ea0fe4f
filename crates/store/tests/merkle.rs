//! The Merkle tree the store keeps over its log, on both backends: it follows every
//! append, answers roots and proofs at every size that check against an independent
//! computation from the log's chain hashes, and catches up at open when it lags the log
//! (or is rebuilt when it is ahead of it).

mod common;

use common::{seminar, stream};
use kpi_proof::{leaf_hash, node_hash, verify_consistency, verify_inclusion, NodeHash, EMPTY_ROOT};
use kpi_store::{EventStore, ExpectedVersion, StoreError};

/// MTH straight from RFC 9162 over the chain hashes, with no stored node.
fn naive_root(entries: &[NodeHash]) -> NodeHash {
    match entries.len() {
        0 => EMPTY_ROOT,
        1 => leaf_hash(&entries[0]),
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node_hash(&naive_root(&entries[..k]), &naive_root(&entries[k..]))
        }
    }
}

fn chain_hashes(store: &EventStore) -> Vec<NodeHash> {
    store
        .iter_raw_from(1)
        .map(|event| *event.unwrap().hash.as_bytes())
        .collect()
}

async fn fill(store: &EventStore, batches: &[u32]) {
    for (i, size) in batches.iter().enumerate() {
        let events = (0..*size).map(|n| seminar(n + i as u32)).collect();
        store
            .append(
                &stream(&format!("seminar:{i}")),
                ExpectedVersion::Any,
                events,
            )
            .await
            .unwrap();
    }
}

/// Every root, every inclusion proof at a few sizes and every consistency proof to the
/// head agree with the chain hashes in the log.
fn check_tree(store: &EventStore) {
    let hashes = chain_hashes(store);
    let head = store.head().position;
    assert_eq!(hashes.len() as u64, head);
    assert_eq!(store.tree_size(), head, "the tree follows the log");
    for size in 0..=head {
        assert_eq!(
            store.tree_root(size).unwrap(),
            naive_root(&hashes[..size as usize]),
            "root at {size}"
        );
    }
    for size in [1, head / 2 + 1, head] {
        let root = store.tree_root(size).unwrap();
        for position in 1..=size {
            let proof = store.inclusion_proof(position, size).unwrap();
            verify_inclusion(
                &hashes[position as usize - 1],
                position - 1,
                size,
                &proof,
                &root,
            )
            .unwrap_or_else(|e| panic!("{position} in {size}: {e}"));
        }
    }
    let root = store.tree_root(head).unwrap();
    for old in 1..=head {
        let proof = store.consistency_proof(old, head).unwrap();
        verify_consistency(old, &store.tree_root(old).unwrap(), head, &root, &proof)
            .unwrap_or_else(|e| panic!("{old} -> {head}: {e}"));
    }
}

on_both_backends! {
#[tokio::test]
async fn merkle_tree_follows_every_append(log) {
    let store = log.open();
    assert_eq!(store.tree_root(0).unwrap(), EMPTY_ROOT);
    fill(&store, &[1, 2, 5, 1, 9, 3]).await;
    check_tree(&store);
    // Concurrent appenders: groups of several requests, one tree write each.
    let mut tasks = Vec::new();
    for task in 0..8u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..4 {
                store
                    .append(&stream(&format!("concurrent:{task}")), ExpectedVersion::Any, vec![seminar(n)])
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.head().position, 21 + 32);
    check_tree(&store);
    // An idempotent retry writes nothing and leaves the tree as it is.
    let root = store.tree_root(53).unwrap();
    assert!(matches!(
        store.tree_root(54),
        Err(StoreError::BeyondHead { asked: 54, head: 53, .. })
    ));
    assert!(matches!(
        store.inclusion_proof(0, 53),
        Err(StoreError::BeyondHead { .. })
    ));
    assert!(matches!(
        store.consistency_proof(10, 9),
        Err(StoreError::BeyondHead { .. })
    ));
    assert_eq!(store.tree_root(53).unwrap(), root);
}
}

/// Makes the stored tree of `log` cover only the first `size` events, as after a crash
/// between an append's flush and its tree write (`size = 0`: a store older than the tree).
async fn cut_tree(log: &common::TestLog, store: EventStore, size: u64) {
    match log.backend() {
        kpi_store::Backend::Sled => {
            let tree = store
                .__sled()
                .open_tree(kpi_store::MERKLE_SLED_TREE)
                .unwrap();
            for entry in tree.iter() {
                let (key, _) = entry.unwrap();
                if key.len() == 9 {
                    let level = key[0];
                    let index = u64::from_be_bytes(key[1..].try_into().unwrap());
                    if (index + 1) << level > size {
                        tree.remove(key).unwrap();
                    }
                }
            }
            tree.insert(b"size", &size.to_be_bytes()[..]).unwrap();
            store.__sled().flush().unwrap();
            store.close().await;
        }
        kpi_store::Backend::Postgres => {
            store.close().await;
            log.psql(&format!(
                "DELETE FROM kpi_merkle_nodes WHERE ((idx + 1) << level) > {size}; \
                 UPDATE kpi_merkle_size SET size = {size}"
            ));
        }
    }
}

on_both_backends! {
#[tokio::test]
async fn merkle_a_tree_that_lags_the_log_catches_up_at_open(log) {
    let store = log.open();
    fill(&store, &[3, 4, 6]).await;
    let root = store.tree_root(13).unwrap();
    cut_tree(&log, store, 5).await;

    let store = log.open();
    assert_eq!(store.tree_size(), 13, "caught up before the store is handed out");
    assert_eq!(store.tree_root(13).unwrap(), root);
    check_tree(&store);

    // A store that never had a tree (made before it existed) gets one at open.
    cut_tree(&log, store, 0).await;
    let store = log.open();
    assert_eq!(store.tree_root(13).unwrap(), root);
    check_tree(&store);
}
}

on_both_backends! {
#[tokio::test]
async fn merkle_a_tree_ahead_of_the_log_is_rebuilt_at_open(log) {
    let store = log.open();
    fill(&store, &[2, 5]).await;
    let root = store.tree_root(7).unwrap();
    match log.backend() {
        kpi_store::Backend::Sled => {
            let tree = store.__sled().open_tree(kpi_store::MERKLE_SLED_TREE).unwrap();
            tree.insert(b"size", &100u64.to_be_bytes()[..]).unwrap();
            store.__sled().flush().unwrap();
            store.close().await;
        }
        kpi_store::Backend::Postgres => {
            store.close().await;
            log.psql("UPDATE kpi_merkle_size SET size = 100");
        }
    }
    let store = log.open();
    assert_eq!(store.tree_size(), 7);
    assert_eq!(store.tree_root(7).unwrap(), root);
    check_tree(&store);
}
}

on_both_backends! {
#[tokio::test]
async fn canonical_bytes_rebuilt_from_an_event_hash_to_its_chain_hash(log) {
    let store = log.open();
    fill(&store, &[2, 3]).await;
    for event in store.iter_raw_from(1) {
        let event = event.unwrap();
        let body = kpi_store::canonical_body(&event);
        assert_eq!(kpi_store::chain_hash(&event.prev_hash, event.position, &body), event.hash);
        let decoded =
            kpi_store::decode_canonical(event.position, event.prev_hash, event.hash, &body).unwrap();
        assert_eq!(decoded, event);
        let mut changed = body.clone();
        let last = changed.len() - 2;
        changed[last] ^= 1;
        let error = kpi_store::decode_canonical(event.position, event.prev_hash, event.hash, &changed)
            .unwrap_err();
        assert!(error.contains("not to its chain hash"), "{error}");
    }
}
}

on_both_backends! {
#[tokio::test]
async fn merkle_stored_levels_and_log_hashed_levels_agree_past_a_block(log) {
    // Past 64 events the store keeps complete subtrees of 64 and up and hashes the smaller
    // ones from the log: every root and proof still agrees with the naive tree, and a
    // tree cut back mid-block reloads its edge from both.
    let store = log.open();
    fill(&store, &[100, 100, 37, 63]).await;
    check_tree(&store);
    let root = store.tree_root(300).unwrap();
    cut_tree(&log, store, 150).await;
    let store = log.open();
    assert_eq!(store.tree_size(), 300);
    assert_eq!(store.tree_root(300).unwrap(), root);
    fill(&store, &[5]).await;
    check_tree(&store);
}
}
