//! GraphQL over HTTP under load: the real server (kpi-server + kpi-graphql + kpi-service on a
//! sled store) on a loopback port, driven by a Rust load client.
//!
//! Run: `cargo bench -p kpi-tests --bench http_load` (under a minute on 2 cores, after the
//! build). Results and their reading: docs/benchmarks.md, "GraphQL over HTTP".
//! `KPI_BENCH_EVENTS=N` changes the size of the large store (default 1,000,000; 0 skips it);
//! `KPI_BENCH_PROFILE=append` or `=table` runs only that workload (32 clients, seed store),
//! for a profiler; `=schema`, `=ledger` or `=store` one in-process layer of the append path,
//! `=plain` the append over HTTP without GraphQL;
//! `KPI_BENCH_PROFILE_EACH=N` sets its requests per client (300); `KPI_BENCH_SERVER_THREADS`
//! the server runtime's workers (2).
//!
//! Two stores are served in turn: the Fuji seed (~300 events, the real table) and a store of
//! N synthetic events (the seed's activities repeated, appended directly with
//! `EventStore::append` in batches of 1,000, as in the replay bench). Against each, 1, 32 and
//! 64 clients each send a bounded number of `recordSeminar` mutations, then of `kpiTable`
//! queries. A client is one task sending one request at a time over its own keep-alive
//! connection (a minimal HTTP/1.1 client with requests built before the clock starts), so at
//! N clients N requests are in flight. Latency is from sending the request to having read the
//! whole response body; every response must be 200 without `errors`, and after each mutation
//! run the head must have advanced by exactly the number of mutations sent.
//!
//! The ledger is served twice, on two ports: as `kpi-ledger serve` runs it (with the answer
//! cache keyed by the ledger's view version and head), and without the answer cache, so the
//! cost of a query whose answer is not cached (the first after every write) is measured too.
//!
//! The store baseline for the append ratio is `EventStore::append` in process, 32 tasks each
//! appending the same seminar event the ledger would append (same stream, same payload),
//! one event per append, to a fresh store. The layers of the append path are measured in five
//! rounds, each round once per layer, and the ratio is given round by round as well;
//! `GET /healthz` through the same client is the floor of an HTTP round trip. One layer is
//! the ledger behind a bench-only poem route without GraphQL (the payload as the JSON body),
//! which splits the loss between HTTP and GraphQL.
//!
//! The server runs on a runtime of 2 worker threads, as `kpi-ledger serve` does on 2 cores.
//! The load client's tasks run on the same runtime, so its CPU comes out of the same 2 cores
//! and is reported separately (the CPU of its polls); `KPI_BENCH_CLIENT_RUNTIME=separate`
//! gives it a runtime and thread of its own instead, which on 2 cores adds OS preemption of
//! server threads to the tail latencies. No tracing subscriber is installed: request logging
//! is off, as with `RUST_LOG=warn`. The process runs on mimalloc with its purger thread, as
//! the binary does.
//!
//! Files: `fixtures` (plan, seed, large store, documents, the seminar appended), `measure`
//! (loads, `drive`, percentiles), `cpu` (CPU accounting), `client` (the raw HTTP/1.1 load
//! client), `metrics` (server timings scraped from `/metrics`), `servers` (the ledger served,
//! plain-HTTP variant, runtimes), `workloads` (the HTTP workloads and their tables),
//! `layers` (the append path layer by layer).

mod client;
mod cpu;
mod fixtures;
mod layers;
mod measure;
mod metrics;
mod servers;
mod workloads;

use std::time::Instant;

use kpi_service::{ImportRecord, Ledger, LedgerConfig};
use kpi_store::StoreConfig;

use crate::fixtures::{generate, plans, seed_records};
use crate::layers::append_ratio;
use crate::servers::{Runtimes, Served};
use crate::workloads::{http_workloads, in_process_costs, profile_only, QUERY_LOADS};

// As the `kpi-ledger` binary does (crates/cli/src/main.rs): the server answers requests with
// many short-lived allocations, and the figures should be the binary's, not glibc's.
#[global_allocator]
static ALLOCATOR: kpi_alloc::Allocator = kpi_alloc::Allocator;

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    kpi_alloc::configure();
    kpi_alloc::start_purger().expect("start the allocator's purger");
    let large: u64 = std::env::var("KPI_BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let runtimes = Runtimes::new();
    println!(
        "machine: {} cores, load average {} at start; server (2 runtime threads) and load \
         client in one process, the client {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
        if runtimes.separate_client.is_some() {
            "on a runtime and thread of its own"
        } else {
            "on the server's runtime"
        },
    );

    // The Fuji seed: the real table.
    let seeded_dir = tempfile::tempdir().expect("a temporary directory");
    let served = runtimes.server.block_on(async {
        let ledger = Ledger::open(seeded_dir.path(), StoreConfig::default(), plans())
            .await
            .expect("open the seeded ledger");
        let records = seed_records().into_iter().map(ImportRecord::from).collect();
        ledger
            .import("bench-seed", records)
            .await
            .expect("import the Fuji seed");
        Served::start(ledger).await
    });
    if let Ok(workload) = std::env::var("KPI_BENCH_PROFILE") {
        profile_only(&runtimes, &served, &workload);
        runtimes.server.block_on(served.shut_down());
        return;
    }
    http_workloads(&runtimes, &served, "Fuji seed store", &QUERY_LOADS);
    in_process_costs(&runtimes, &served);
    append_ratio(&runtimes, &served);
    runtimes.server.block_on(served.shut_down());

    if large == 0 {
        println!("\nKPI_BENCH_EVENTS=0: large store skipped");
    } else {
        let large_dir = tempfile::tempdir().expect("a temporary directory");
        let started = Instant::now();
        runtimes.server.block_on(generate(large_dir.path(), large));
        println!(
            "\nwrote {large} events in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        // Opening a log without a checkpoint folds it all and then writes a checkpoint in
        // the background, which takes both cores and the disk for seconds. The workloads
        // measure a server restarted on the large store instead: the first open (replay,
        // with no background checkpoint) is closed, which writes the checkpoint, and the
        // ledger is opened again from it.
        let started = Instant::now();
        runtimes.server.block_on(async {
            let no_background_checkpoint = LedgerConfig {
                checkpoint_every_events: 0,
                ..LedgerConfig::default()
            };
            Ledger::open_with_config(
                large_dir.path(),
                StoreConfig::default(),
                no_background_checkpoint,
                plans(),
            )
            .await
            .expect("open the large ledger")
            .close()
            .await
        });
        println!(
            "opened the ledger (replay of the whole log) and closed it (checkpoint) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let served = runtimes.server.block_on(async {
            let ledger = Ledger::open(large_dir.path(), StoreConfig::default(), plans())
                .await
                .expect("open the large ledger again");
            Served::start(ledger).await
        });
        println!(
            "opened it again from the checkpoint in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        http_workloads(&runtimes, &served, "large store", &QUERY_LOADS);
        in_process_costs(&runtimes, &served);
        runtimes.server.block_on(served.shut_down());
    }
    println!("\nload average {} at the end", load_average());
}
