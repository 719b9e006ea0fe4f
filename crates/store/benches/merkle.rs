//! What the Merkle tree costs and answers (issue 19), on sled:
//!
//! 1. durable appends per second with the tree caught up after every append, against the
//!    same store with that catch-up switched off (`__maintain_tree_on_append(false)`), in
//!    alternating rounds (`KPI_BENCH_ROUNDS`, default 3; the median round of each printed);
//! 2. inclusion and consistency proofs in a store of `KPI_BENCH_EVENTS` events (default
//!    1,000,000; appended in batches of 1,000): p50/p99/max over 10,000 random positions.
//!
//! Run: `cargo bench -p kpi-store --bench merkle`

use std::time::{Duration, Instant};

use kpi_store::{EventStore, ExpectedVersion, NewEvent, Occurred, StoreConfig, StreamId};
use serde_json::json;

fn event(n: u64) -> NewEvent {
    NewEvent::new(
        "SeminarHeld",
        "2024-06-14".parse::<Occurred>().unwrap(),
        "clerk:bench",
        json!({
            "title": format!("テレワーク導入セミナー {n}"),
            "venue": "富士市産業支援センター f-Biz",
            "fiscal_year": 2024,
            "participants": {"unique": n % 40 + 1, "attendances": n % 40 + 1},
            "organizer": "Fuji City",
        }),
    )
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Events per second for `appenders` concurrent single-event appenders, `each` appends each.
async fn append_rate(tree: bool, appenders: usize, batch: usize, each: usize) -> f64 {
    kpi_store::__maintain_tree_on_append(tree);
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), StoreConfig::default()).unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for a in 0..appenders {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let stream: StreamId = format!("bench:{a}").parse().unwrap();
            for n in 0..each {
                let events = (0..batch).map(|i| event((n * batch + i) as u64)).collect();
                store
                    .append(&stream, ExpectedVersion::Any, events)
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let events = store.head().position;
    if tree {
        assert_eq!(store.tree_size(), events, "the tree followed every append");
    }
    store.close().await;
    kpi_store::__maintain_tree_on_append(true);
    events as f64 / elapsed.as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let rounds = env_u64("KPI_BENCH_ROUNDS", 3) as usize;
    println!("## append throughput, tree caught up on append vs not ({rounds} alternating rounds, median)");
    for (appenders, batch, each) in [(32usize, 1usize, 300usize), (1, 100, 100), (1, 1, 1000)] {
        let (mut with, mut without) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            with.push(runtime.block_on(append_rate(true, appenders, batch, each)));
            without.push(runtime.block_on(append_rate(false, appenders, batch, each)));
        }
        let (with, without) = (median(with), median(without));
        println!(
            "{appenders} appender(s), batches of {batch}: with tree {with:.0} events/s, without {without:.0} events/s ({:+.1} %)",
            (with / without - 1.0) * 100.0
        );
    }

    let total = env_u64("KPI_BENCH_EVENTS", 1_000_000);
    println!("## proofs at {total} events");
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), StoreConfig::default()).unwrap();
    let started = Instant::now();
    runtime.block_on(async {
        let stream: StreamId = "bench:large".parse().unwrap();
        let mut n = 0;
        while n < total {
            let size = 1_000.min(total - n);
            let events = (n..n + size).map(event).collect();
            store
                .append(&stream, ExpectedVersion::Any, events)
                .await
                .unwrap();
            n += size;
        }
    });
    println!(
        "appended {total} events (tree kept) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(store.tree_size(), total);
    let root = store.tree_root(total).unwrap();
    // A cheap deterministic spread of positions.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut inclusion = Vec::with_capacity(10_000);
    let mut consistency = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let position = x % total + 1;
        let started = Instant::now();
        let proof = store.inclusion_proof(position, total).unwrap();
        inclusion.push(started.elapsed());
        assert!(proof.len() <= 20);
        let started = Instant::now();
        store.consistency_proof(position, total).unwrap();
        consistency.push(started.elapsed());
    }
    // One proof checked end to end, so the timings are of real proofs.
    let position = total / 3;
    let event = store.iter_raw_from(position).next().unwrap().unwrap();
    kpi_proof::verify_inclusion(
        event.hash.as_bytes(),
        position - 1,
        total,
        &store.inclusion_proof(position, total).unwrap(),
        &root,
    )
    .unwrap();
    for (name, mut times) in [("inclusion", inclusion), ("consistency", consistency)] {
        times.sort();
        println!(
            "{name} proof at {total}: p50 {:?}, p99 {:?}, max {:?} (10,000 random positions)",
            percentile(&times, 0.50),
            percentile(&times, 0.99),
            times[times.len() - 1]
        );
    }
    runtime.block_on(store.close());
}
