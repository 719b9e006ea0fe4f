//! Replay benchmark: rebuild every projection from N synthetic events read from a sled store
//! (not from memory). Reports events/s and peak RSS of the replaying process.
//!
//! Run: `cargo bench -p kpi-service --bench replay` (N = 1,000,000; `KPI_BENCH_EVENTS=N` to
//! change it). The events are the Fuji seed's 300-odd activities repeated, so every KPI route
//! of the plan is exercised. The store is written first, then the bench re-runs itself in a
//! child process that only replays, so the peak RSS reported is the replay's alone.

use std::path::Path;

// The binary runs on mimalloc too (crates/cli/src/main.rs): replay allocates a few small
// strings per event, where the system allocator is slow.
#[global_allocator]
static ALLOCATOR: kpi_alloc::Allocator = kpi_alloc::Allocator;
use std::time::Instant;

use kpi_service::{fold_log, FoldLimits, Ledger, LedgerConfig, TableQuery};
use kpi_store::{EventStore, StoreConfig};

mod support;
use support::{both_plans, generate, peak_rss_kib, plans};

const CHILD_DIR: &str = "KPI_BENCH_REPLAY_DIR";

fn main() {
    kpi_alloc::configure();
    let runtime = support::runtime();
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        runtime.block_on(replay(Path::new(&dir)));
        return;
    }
    let events = support::env_number("KPI_BENCH_EVENTS", 1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    runtime.block_on(generate(dir.path(), events));
    println!(
        "wrote {events} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD_DIR, dir.path())
        .status()
        .unwrap();
    assert!(status.success());
}

async fn replay(dir: &Path) {
    let store = EventStore::open(dir, StoreConfig::default()).unwrap();
    let head = store.head().position;
    let started = Instant::now();
    let mut decoded = 0u64;
    for envelope in store.iter_raw_from(1) {
        envelope.unwrap();
        decoded += 1;
    }
    let decode_secs = started.elapsed().as_secs_f64();
    assert_eq!(decoded, head);

    // What `kpi-ledger replay` runs (one fold of the log, no walk of the chain first), in
    // rounds alternating with a bare read, so the ratio compares like with like.
    let mut ratios = Vec::new();
    for _ in 0..3 {
        let read = timed_read(&store, head);
        let started = Instant::now();
        let (_, projection) = fold_log(&store, plans(), FoldLimits::default()).unwrap();
        let fold_secs = started.elapsed().as_secs_f64();
        assert_eq!(projection.last_position(), head);
        drop(projection);
        println!(
            "bare read {:>10.0} events/s, fold_log (kpi-ledger replay) {:>10.0} events/s: {:.2}x",
            head as f64 / read,
            head as f64 / fold_secs,
            read / fold_secs
        );
        ratios.push(read / fold_secs);
    }
    ratios.sort_by(f64::total_cmp);
    println!("fold_log / bare read, median of 3: {:.2}x", ratios[1]);
    store.close().await;

    // Three replays of each, alternating: the first replay of a process also pays for warming
    // sled's cache and the allocator, and the two cores are shared with whatever else runs.
    let mut one_plan = Vec::new();
    let mut two_plans = Vec::new();
    let mut single_rss = 0;
    for _ in 0..3 {
        one_plan.push(timed_replay(dir, plans(), head).await);
        // Peak RSS is a high-water mark: read it before the first, larger two-plan replay.
        if single_rss == 0 {
            single_rss = peak_rss_kib();
        }
        two_plans.push(timed_replay(dir, both_plans(), head).await);
    }
    let rates = |runs: &[f64]| {
        runs.iter()
            .map(|secs| format!("{:.0}", head as f64 / secs))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let best = |runs: &[f64]| head as f64 / runs.iter().copied().fold(f64::MAX, f64::min);

    println!("events in the store:             {head}");
    println!(
        "read envelopes (payload as bytes): {:>10.0} events/s ({decode_secs:.2} s)",
        head as f64 / decode_secs
    );
    println!(
        "full replay (read, parse, fold):   {:>10.0} events/s best; runs: {}",
        best(&one_plan),
        rates(&one_plan)
    );
    println!(
        "  into two plans (+ fifth plan):   {:>10.0} events/s best; runs: {}",
        best(&two_plans),
        rates(&two_plans)
    );
    println!(
        "peak RSS of the replay process:  {} MiB (one plan), {} MiB (all runs)",
        single_rss / 1024,
        peak_rss_kib() / 1024
    );
}

/// Seconds to read every envelope (payload as bytes) in log order.
fn timed_read(store: &EventStore, head: u64) -> f64 {
    let started = Instant::now();
    let mut read = 0u64;
    for envelope in store.iter_raw_from(1) {
        envelope.unwrap();
        read += 1;
    }
    assert_eq!(read, head);
    started.elapsed().as_secs_f64()
}

/// Opens the ledger on the store without checkpoints (neither read one nor copy the projection
/// for one after the fold) and returns the seconds the full replay took.
async fn timed_replay(dir: &Path, plans: Vec<kpi_domain::PlanDefinition>, head: u64) -> f64 {
    let plan_ids: Vec<String> = plans.iter().map(|plan| plan.id.to_string()).collect();
    let started = Instant::now();
    let config = LedgerConfig {
        checkpoints: false,
        ..LedgerConfig::default()
    };
    let ledger = Ledger::open_with_config(dir, StoreConfig::default(), config, plans)
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(ledger.projected_position(), head);
    for id in &plan_ids {
        let table = ledger.table(&TableQuery::new(id)).await.unwrap().table;
        assert!(
            table.rows.iter().any(|row| row.cumulative.is_some()),
            "{id}"
        );
    }
    ledger.close().await;
    secs
}
