//! Appends while a background checkpoint is taken: 32 tasks record seminars through
//! `Ledger::record` on a store of N events (default 1,000,000), in rounds that alternate
//! between no background checkpoint (`checkpoint_every_events = 0`) and one every E events
//! (default 25,000), each round on a ledger opened from the checkpoint at the head. Prints,
//! per round, the appends per second and the latency percentiles, then the medians of each
//! kind of round. The goal (issue 18): the p99 with checkpoints no more than 2x the p99
//! without, in the same run.
//!
//! Run: `cargo bench -p kpi-service --bench checkpoint_stall` (`KPI_BENCH_EVENTS=N`,
//! `KPI_BENCH_CHECKPOINT_EVERY=E`, `KPI_BENCH_APPENDS=A` appends per round, default 100,000,
//! `KPI_BENCH_ROUNDS=R` rounds of each kind, default 2).

// As in the binary (crates/cli/src/main.rs).
#[global_allocator]
static ALLOCATOR: kpi_alloc::Allocator = kpi_alloc::Allocator;

use std::path::Path;
use std::time::{Duration, Instant};

use kpi_service::{Ledger, LedgerConfig, RecordOptions};
use kpi_store::StoreConfig;

mod support;
use support::{generate, peak_rss_kib, plans};

const APPENDERS: u64 = 32;

fn main() {
    kpi_alloc::configure();
    let runtime = support::runtime();
    let events = support::env_number("KPI_BENCH_EVENTS", 1_000_000);
    let every = support::env_number("KPI_BENCH_CHECKPOINT_EVERY", 25_000);
    let appends = support::env_number("KPI_BENCH_APPENDS", 100_000);
    let rounds = support::env_number("KPI_BENCH_ROUNDS", 2);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    runtime.block_on(async {
        generate(dir.path(), events).await;
        // The first open folds the whole log; its close writes the checkpoint every round
        // then starts from.
        open(dir.path(), 0).await.close().await;
    });
    println!(
        "{events} events written and checkpointed in {:.1} s; {APPENDERS} appenders, \
         {appends} appends per round, a checkpoint every {every} events in the rounds with",
        started.elapsed().as_secs_f64()
    );
    let mut without = Vec::new();
    let mut with = Vec::new();
    for round in 0..rounds * 2 {
        let checkpoints = round % 2 == 1;
        let figures = runtime.block_on(measure(
            dir.path(),
            if checkpoints { every } else { 0 },
            appends,
        ));
        println!(
            "round {round}: {:<32} {}",
            if checkpoints {
                "with background checkpoints"
            } else {
                "without"
            },
            figures.line()
        );
        if checkpoints {
            with.push(figures);
        } else {
            without.push(figures);
        }
    }
    let median = |rounds: &[Figures], pick: fn(&Figures) -> f64| {
        let mut values: Vec<f64> = rounds.iter().map(pick).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    for (name, rounds) in [("without", &without), ("with checkpoints", &with)] {
        println!(
            "median {name:<17} {:>8.0} appends/s  p99 {:>7.2} ms  max {:>7.2} ms",
            median(rounds, |f| f.per_sec),
            median(rounds, |f| f.p99_ms),
            median(rounds, |f| f.max_ms),
        );
    }
    println!(
        "p99 with / without: {:.2}x",
        median(&with, |f| f.p99_ms) / median(&without, |f| f.p99_ms)
    );
    println!("peak RSS of the whole run {} MiB", peak_rss_kib() / 1024);
}

async fn open(dir: &Path, checkpoint_every_events: u64) -> Ledger {
    let config = LedgerConfig {
        checkpoint_every_events,
        verify_every_secs: 0,
        ..LedgerConfig::default()
    };
    Ledger::open_with_config(dir, StoreConfig::default(), config, plans())
        .await
        .unwrap()
}

struct Figures {
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Figures {
    fn line(&self) -> String {
        format!(
            "{:>8.0} appends/s  p50 {:>6.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            self.per_sec, self.p50_ms, self.p99_ms, self.max_ms
        )
    }
}

async fn measure(dir: &Path, checkpoint_every_events: u64, appends: u64) -> Figures {
    let ledger = open(dir, checkpoint_every_events).await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..APPENDERS)
        .map(|task| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                for n in 0..appends / APPENDERS {
                    let payload = serde_json::json!({
                        "title": format!("bench seminar {task}-{n}"),
                        "organiser": "DX・テレワーク推進センター",
                        "first_date": "2024-05-01",
                        "sessions": 1,
                        "participants": {"unique": 3, "attendances": 3},
                        "status": "held",
                    });
                    let began = Instant::now();
                    ledger
                        .record_payload("bench", "seminar", &payload, RecordOptions::default())
                        .await
                        .unwrap();
                    latencies.push(began.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    ledger.close().await;
    latencies.sort_unstable();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 * q) as usize).min(latencies.len() - 1);
        latencies[index].as_secs_f64() * 1e3
    };
    Figures {
        per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: latencies.last().unwrap().as_secs_f64() * 1e3,
    }
}
