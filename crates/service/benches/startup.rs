//! Start-up benchmark: `Ledger::open` on a store of N synthetic events (default 1,000,000)
//! without a checkpoint, from a checkpoint a tail of events behind the head, and from a
//! checkpoint at the head. Also times writing the checkpoint (at close) and its size.
//!
//! Run: `cargo bench -p kpi-service --bench startup` (`KPI_BENCH_EVENTS=N`,
//! `KPI_BENCH_TAIL=T` events appended after the first checkpoint, default 10,000). Each
//! start-up runs in a fresh child process, so one's memory does not help the next and the
//! peak RSS reported is that start-up's own.

// As in the binary (crates/cli/src/main.rs).
#[global_allocator]
static ALLOCATOR: kpi_alloc::Allocator = kpi_alloc::Allocator;

use std::path::Path;
use std::time::Instant;

use kpi_service::{CheckpointUse, Ledger, LedgerConfig};
use kpi_store::StoreConfig;

mod support;
use support::{generate, peak_rss_kib, plans};

const CHILD_DIR: &str = "KPI_BENCH_STARTUP_DIR";
const CHILD_MODE: &str = "KPI_BENCH_STARTUP_MODE";

fn main() {
    kpi_alloc::configure();
    let runtime = support::runtime();
    if let (Ok(dir), Ok(mode)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_MODE)) {
        runtime.block_on(start_up(Path::new(&dir), &mode));
        return;
    }
    let events = support::env_number("KPI_BENCH_EVENTS", 1_000_000);
    let tail = support::env_number("KPI_BENCH_TAIL", 10_000).min(events);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    runtime.block_on(generate(dir.path(), events - tail));
    child(dir.path(), "write-checkpoint");
    runtime.block_on(generate(dir.path(), tail));
    println!(
        "wrote {events} events in {:.1} s, the checkpoint {tail} events before the head",
        started.elapsed().as_secs_f64()
    );
    child(dir.path(), "no-checkpoint");
    child(dir.path(), "checkpoint-and-tail");
    child(dir.path(), "checkpoint-at-head");
}

fn child(dir: &Path, mode: &str) {
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD_DIR, dir)
        .env(CHILD_MODE, mode)
        .status()
        .unwrap();
    assert!(status.success(), "{mode} failed");
}

async fn start_up(dir: &Path, mode: &str) {
    let config = LedgerConfig {
        checkpoints: mode != "no-checkpoint",
        // Only the explicit close writes, so the timings hold nothing else.
        checkpoint_every_events: 0,
        ..LedgerConfig::default()
    };
    let started = Instant::now();
    let ledger = Ledger::open_with_config(dir, StoreConfig::default(), config, plans())
        .await
        .unwrap();
    let open_secs = started.elapsed().as_secs_f64();
    let head = ledger.head().position;
    let startup = ledger.startup().clone();
    assert_eq!(ledger.projected_position(), head);
    let expected_use = |checkpoint: &CheckpointUse| match mode {
        "no-checkpoint" => *checkpoint == CheckpointUse::Disabled,
        "write-checkpoint" => *checkpoint == CheckpointUse::Absent,
        "checkpoint-and-tail" => {
            matches!(checkpoint, CheckpointUse::Used { position } if *position < head)
        }
        _ => *checkpoint == CheckpointUse::Used { position: head },
    };
    assert!(expected_use(&startup.checkpoint), "{mode}: {startup:?}");
    let rss = peak_rss_kib() / 1024;

    let started = Instant::now();
    ledger.close().await;
    let close_secs = started.elapsed().as_secs_f64();
    let checkpoint_bytes = std::fs::metadata(dir.join("checkpoints/projection.ckpt"))
        .map(|metadata| metadata.len())
        .unwrap_or(0);
    println!(
        "{mode:<20} open {open_secs:>6.2} s  ({} events folded, {:?})  peak RSS {rss} MiB",
        startup.events_folded, startup.checkpoint
    );
    if mode == "write-checkpoint" || mode == "checkpoint-and-tail" {
        println!(
            "{:<20} close (writes the checkpoint) {close_secs:.2} s, {:.1} MB",
            "",
            checkpoint_bytes as f64 / 1e6
        );
    }
}
