//! Replay benchmark: rebuild every projection from N synthetic events read from a sled store
//! (not from memory). Reports events/s and peak RSS of the replaying process.
//!
//! Run: `cargo bench -p kpi-service --bench replay` (N = 1,000,000; `KPI_BENCH_EVENTS=N` to
//! change it). The events are the Fuji seed's 300-odd activities repeated, so every KPI route
//! of the plan is exercised. The store is written first, then the bench re-runs itself in a
//! child process that only replays, so the peak RSS reported is the replay's alone.

use std::path::Path;
use std::time::Instant;

use kpi_service::{Ledger, LedgerConfig};
use kpi_store::{EventStore, StoreConfig};

mod support;
use support::{generate, peak_rss_kib, plans};

const CHILD_DIR: &str = "KPI_BENCH_REPLAY_DIR";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        runtime.block_on(replay(Path::new(&dir)));
        return;
    }
    let events: u64 = std::env::var("KPI_BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
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
    store.close().await;

    let started = Instant::now();
    // Without checkpoints: neither read one nor copy the projection for one after the fold.
    let config = LedgerConfig {
        checkpoints: false,
        ..LedgerConfig::default()
    };
    let ledger = Ledger::open_with_config(dir, StoreConfig::default(), config, plans())
        .await
        .unwrap();
    let replay_secs = started.elapsed().as_secs_f64();
    assert_eq!(ledger.projection().last_position(), head);
    let table = ledger.table("telework-roadmap", None).await.unwrap();
    assert!(table.rows.iter().any(|row| row.cumulative.is_some()));

    println!("events in the store:             {head}");
    println!(
        "read envelopes (payload as bytes): {:>10.0} events/s ({decode_secs:.2} s)",
        head as f64 / decode_secs
    );
    println!(
        "full replay (read, parse, fold):   {:>10.0} events/s ({replay_secs:.2} s)",
        head as f64 / replay_secs
    );
    println!(
        "peak RSS of the replay process:  {} MiB",
        peak_rss_kib() / 1024
    );
}
