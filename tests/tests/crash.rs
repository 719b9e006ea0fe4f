//! Crash test of the event store: a child process (`crash_appender`) appends from several
//! tasks and prints every acknowledged envelope; the test kills it with SIGKILL at a random
//! moment, reopens the store and checks that every acknowledged event is present and
//! unchanged, positions are gapless, every batch is all-or-nothing and `verify()` passes.
//!
//! Runs 20 kill cycles by default (a few seconds); set `KPI_LEDGER_CRASH_CYCLES=N` for more,
//! e.g. `KPI_LEDGER_CRASH_CYCLES=500 cargo nextest run -p kpi-tests --test crash`.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kpi_store::{Envelope, EventStore, StoreConfig};
use rand::Rng as _;

const DEFAULT_CYCLES: usize = 20;
/// The child is killed this long after it was started; the low end falls inside opening
/// (and, in the first cycle, creating) the store.
const KILL_AFTER_MS: std::ops::Range<u64> = 5..400;

fn cycles() -> usize {
    match std::env::var("KPI_LEDGER_CRASH_CYCLES") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("KPI_LEDGER_CRASH_CYCLES={text:?} is not a count")),
        Err(_) => DEFAULT_CYCLES,
    }
}

/// What the child printed: the acknowledged envelopes, and whether it got the store open.
struct ChildOutput {
    opened: bool,
    acknowledged: Vec<Envelope>,
}

fn spawn_appender(dir: &Path, run: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_crash_appender"))
        .arg(dir)
        .arg(run)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the crash_appender binary starts")
}

fn read_output(stdout: impl std::io::Read) -> ChildOutput {
    let mut output = ChildOutput {
        opened: false,
        acknowledged: Vec::new(),
    };
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        if reader
            .read_line(&mut line)
            .expect("child stdout is readable")
            == 0
        {
            break;
        }
        // A line cut short by the kill was never acknowledged to anyone: skip it.
        let Some(complete) = line.strip_suffix('\n') else {
            break;
        };
        if complete.starts_with("OPEN ") {
            output.opened = true;
        } else if let Some(json) = complete.strip_prefix("ACK ") {
            let envelope = serde_json::from_str(json)
                .unwrap_or_else(|e| panic!("unparsable ACK line {json:?}: {e}"));
            output.acknowledged.push(envelope);
        } else {
            panic!("unexpected line from crash_appender: {complete:?}");
        }
    }
    output
}

/// Checks the reopened store against everything acknowledged so far.
fn check_store(dir: &Path, acknowledged: &BTreeMap<u64, Envelope>, cycle: usize) -> u64 {
    let store = EventStore::open(dir, StoreConfig::default())
        .unwrap_or_else(|e| panic!("cycle {cycle}: the store does not reopen: {e}"));
    let digest = store
        .verify()
        .unwrap_or_else(|f| panic!("cycle {cycle}: verify failed: {f}"));
    let mut expected_position = 1;
    let mut batches: HashMap<(String, u64, u64), (u64, u64)> = HashMap::new();
    for stored in store.iter_from(1) {
        let stored = stored.unwrap_or_else(|e| panic!("cycle {cycle}: unreadable event: {e}"));
        assert_eq!(stored.position, expected_position, "cycle {cycle}: gap");
        expected_position += 1;
        if let Some(acked) = acknowledged.get(&stored.position) {
            assert_eq!(&stored, acked, "cycle {cycle}: acknowledged event changed");
        }
        let payload = &stored.payload;
        let batch = (
            payload["run"].as_str().unwrap().to_owned(),
            payload["task"].as_u64().unwrap(),
            payload["append"].as_u64().unwrap(),
        );
        let entry = batches
            .entry(batch)
            .or_insert((payload["batch_size"].as_u64().unwrap(), 0));
        entry.1 += 1;
    }
    let last = expected_position - 1;
    assert_eq!(digest.position, last, "cycle {cycle}: verify's head");
    if let Some((&position, _)) = acknowledged.last_key_value() {
        assert!(
            position <= last,
            "cycle {cycle}: acknowledged position {position} lost (log ends at {last})"
        );
    }
    for (batch, (size, found)) in batches {
        assert_eq!(size, found, "cycle {cycle}: batch {batch:?} is partial");
    }
    last
}

#[test]
fn acknowledged_events_survive_sigkill() {
    let cycles = cycles();
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let mut rng = rand::thread_rng();
    let mut acknowledged: BTreeMap<u64, Envelope> = BTreeMap::new();
    let mut cycles_with_acks = 0;
    let started = Instant::now();
    for cycle in 0..cycles {
        let mut child = spawn_appender(&store_dir, &format!("run{cycle}"));
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || read_output(stdout));
        let kill_after = Duration::from_millis(rng.gen_range(KILL_AFTER_MS));
        std::thread::sleep(kill_after);
        if let Some(status) = child.try_wait().unwrap() {
            let mut message = String::new();
            stderr.read_to_string(&mut message).unwrap();
            panic!("cycle {cycle}: crash_appender exited by itself ({status}): {message}");
        }
        child.kill().expect("SIGKILL is delivered");
        child.wait().unwrap();
        let output = reader.join().expect("the output reader finished");
        if !output.acknowledged.is_empty() {
            cycles_with_acks += 1;
        }
        for envelope in output.acknowledged {
            let position = envelope.position;
            if let Some(previous) = acknowledged.insert(position, envelope) {
                panic!("cycle {cycle}: position {position} acknowledged twice ({previous:?})");
            }
        }
        let last = check_store(&store_dir, &acknowledged, cycle);
        eprintln!(
            "cycle {cycle}: killed after {kill_after:?} (opened: {}), log has {last} events, \
             {} acknowledged so far",
            output.opened,
            acknowledged.len()
        );
    }
    assert!(
        cycles_with_acks * 2 >= cycles,
        "only {cycles_with_acks} of {cycles} cycles acknowledged anything; the test proved little"
    );
    eprintln!("{cycles} cycles in {:?}", started.elapsed());
}
