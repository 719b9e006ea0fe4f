//! A heavy request gives its memory back: `kpi-ledger serve` on a store of many events answers
//! a drill-down into every cell of the table (each event behind every figure, with its
//! payload), which allocates far more while it runs than the server holds at rest; once it is
//! answered and the server is left alone, its resident memory must come back near where it
//! was before. The allocator returns memory unused for its purge delay (kpi-alloc, 10 s);
//! with `MIMALLOC_PURGE_DELAY=-1` in the environment (the old setting: never) this test fails.
//! Linux only: it reads the server's VmRSS from /proc.
#![cfg(target_os = "linux")]

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kpi_store::{EventStore, ExpectedVersion, NewEvent, StoreConfig, StreamId};
use support::DemoServer;

/// Synthetic events: the Fuji seed's activities repeated (as the benches do), all of them in
/// the roadmap's table, so the drill-down lists every one.
const EVENTS: u64 = 20_000;
const MIB: u64 = 1024 * 1024;
/// The request must take at least this much above the resting level, or the test shows
/// nothing (a build that allocates less would need more events).
const LEAST_TRANSIENT: u64 = 64 * MIB;
/// How long the server gets to give the memory back: the purge delay (10 s), Tokio's idle
/// blocking threads (10 s) and the purger's tick, with room for a loaded machine.
const GIVE_BACK_WITHIN: Duration = Duration::from_secs(60);

const DRILL_DOWN: &str = r#"{ kpiTable(plan: "telework-roadmap") { rows { cells {
    events { id position hash prevHash streamId type occurred recordedAt payload } } } } }"#;

fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server runs");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line");
    kib * 1024
}

/// Appends `EVENTS` events to a new store in `dir`, straight through the store (an import
/// through the ledger would take minutes in a debug build).
async fn write_events(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let seed = std::fs::read_to_string(root.join("config/seed/fuji-telework-r6.toml")).unwrap();
    let templates: Vec<NewEvent> = kpi_domain::seed::parse(&seed)
        .unwrap()
        .into_iter()
        .map(|record| kpi_service::new_event(&record.event, "memory-test"))
        .collect();
    let store = EventStore::open(dir, StoreConfig::default()).unwrap();
    let batch = 1_000;
    for first in (0..EVENTS).step_by(batch as usize) {
        let events = (first..(first + batch).min(EVENTS))
            .map(|i| templates[(i % templates.len() as u64) as usize].clone())
            .collect();
        let stream = StreamId::parse(format!("memory/{}", first / batch)).unwrap();
        store
            .append(&stream, ExpectedVersion::Any, events)
            .await
            .unwrap();
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heavy_request_gives_its_memory_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    write_events(&data).await;
    let server = DemoServer::start_with_env(
        &data,
        // A debug build answers the drill-down in seconds, maybe not within the default 10 s.
        &[("KPI_LEDGER_SERVER__LIMITS__REQUEST_TIMEOUT_MS", "120000")],
    );
    let pid = server.pid();
    // At rest: after start-up (a fold of the whole log, the demo seed's import) and the walk
    // of the hash chain that follows it (sled keeps a little for every page it has read);
    // asking for the walk's answer waits for it.
    let walk = server.query("{ verification { ok } }").await;
    assert_eq!(walk["data"]["verification"]["ok"], true, "{walk}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss(pid);

    let peak = Arc::new(AtomicU64::new(before));
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, running) = (peak.clone(), running.clone());
        std::thread::spawn(move || {
            while running.load(Ordering::Relaxed) {
                peak.fetch_max(rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let answer: serde_json::Value = reqwest::Client::new()
        .post(server.url("/graphql"))
        .json(&serde_json::json!({ "query": DRILL_DOWN }))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    running.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let events: usize = answer["data"]["kpiTable"]["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("a table: {answer:.300}"))
        .iter()
        .flat_map(|row| row["cells"].as_array().unwrap())
        .map(|cell| cell["events"].as_array().unwrap().len())
        .sum();
    assert!(
        events as u64 >= EVENTS,
        "the drill-down lists every event: {events}"
    );
    drop(answer);
    let peak = peak.load(Ordering::Relaxed);
    let transient = peak.saturating_sub(before);
    assert!(
        transient >= LEAST_TRANSIENT,
        "the request should take at least {} MiB: {} MiB at rest, {} MiB at the peak",
        LEAST_TRANSIENT / MIB,
        before / MIB,
        peak / MIB
    );

    // Back near the resting level: within a third of what the request took (sled keeps a
    // little per page it read, and freed pages of a few live objects stay).
    let limit = before + transient / 3;
    let started = Instant::now();
    let mut now = rss(pid);
    while now > limit && started.elapsed() < GIVE_BACK_WITHIN {
        tokio::time::sleep(Duration::from_millis(250)).await;
        now = rss(pid);
    }
    assert!(
        now <= limit,
        "{} MiB still resident {:?} after the request: {} MiB at rest before it, {} MiB at \
         its peak (limit {} MiB)",
        now / MIB,
        started.elapsed(),
        before / MIB,
        peak / MIB,
        limit / MIB
    );
    eprintln!(
        "{} MiB at rest, {} MiB at the peak, {} MiB {:?} after the request",
        before / MIB,
        peak / MIB,
        now / MIB,
        started.elapsed()
    );
}
