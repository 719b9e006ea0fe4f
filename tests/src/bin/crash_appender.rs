//! The victim of the crash test (`tests/tests/crash.rs`): appends to an event store from
//! several tasks until it is killed, printing every acknowledged envelope.
//!
//! Usage: `crash_appender <store dir> <run label>`. The label keeps idempotency keys and
//! streams of different runs apart. With `CRASH_APPENDER_LARGE_EVERY=N`, every Nth append of
//! task 0 is one event of about 160 KiB, which sled stores as a blob file of its own (values
//! over 128 KiB). Output, one line each:
//! - `OPEN <head position>` once the store is open;
//! - `ACK <envelope JSON>` for every event, printed only after its append returned, i.e.
//!   after it was flushed to disk.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use kpi_store::{EventStore, ExpectedVersion, NewEvent, Occurred, StoreConfig, StreamId};
use serde_json::json;

const TASKS: usize = 8;
/// Padding of a large event: over sled's blob threshold (a quarter of its 512 KiB segment).
const LARGE_PADDING: usize = 160 * 1024;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().context("missing argument: store dir")?);
    let run = args.next().context("missing argument: run label")?;
    let large_every = match std::env::var("CRASH_APPENDER_LARGE_EVERY") {
        Ok(text) => Some(text.parse::<u64>().context("CRASH_APPENDER_LARGE_EVERY")?),
        Err(_) => None,
    };
    let store = EventStore::open(&dir, StoreConfig::default())?;
    println!("OPEN {}", store.head().position);

    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let store = store.clone();
        let run = run.clone();
        let large_every = large_every.filter(|_| task == 0);
        tasks.spawn(async move { append_forever(store, run, task, large_every).await });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    Ok(())
}

/// Even tasks own a stream and append with exact expected versions; odd tasks share one
/// stream with `Any`. Batches hold 1 to 3 events, so atomicity after a crash is checkable.
async fn append_forever(
    store: EventStore,
    run: String,
    task: usize,
    large_every: Option<u64>,
) -> anyhow::Result<()> {
    let own = task.is_multiple_of(2);
    let stream: StreamId = if own {
        format!("crash:{run}:task-{task}").parse()?
    } else {
        format!("crash:{run}:shared").parse()?
    };
    let occurred: Occurred = "2024-10-01".parse()?;
    let mut version = 0;
    for n in 0u64.. {
        let large = large_every.is_some_and(|every| n % every == every - 1);
        let batch_size = if large {
            1
        } else {
            1 + (n as usize + task) % 3
        };
        let events = (0..batch_size)
            .map(|index| {
                let mut payload = json!({
                    "run": run,
                    "task": task,
                    "append": n,
                    "index": index,
                    "batch_size": batch_size,
                    "attendees": (n * 7 + index as u64) % 90,
                });
                if large {
                    payload["padding"] = json!("x".repeat(LARGE_PADDING));
                }
                NewEvent::new("SeminarHeld", occurred, "crash-appender", payload)
                    .with_idempotency_key(format!("{run}:{task}:{n}:{index}"))
            })
            .collect();
        let expected = if own {
            ExpectedVersion::Exact(version)
        } else {
            ExpectedVersion::Any
        };
        let written = store.append(&stream, expected, events).await?;
        version = written.last().map_or(version, |e| e.stream_version);
        let mut lines = String::new();
        for envelope in &written {
            lines.push_str("ACK ");
            lines.push_str(&serde_json::to_string(envelope)?);
            lines.push('\n');
        }
        // One write per batch under the lock, so lines of different tasks never interleave.
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(lines.as_bytes())?;
        stdout.flush()?;
    }
    Ok(())
}
