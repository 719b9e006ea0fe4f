//! Crash test of the event store: a child process (`crash_appender`) appends from several
//! tasks and prints every acknowledged envelope; the test kills it with SIGKILL at a random
//! moment, reopens the store and checks that every acknowledged event is present and
//! unchanged, positions are gapless, every batch is all-or-nothing and `verify()` passes.
//!
//! Runs 20 kill cycles by default (a few seconds); set `KPI_LEDGER_CRASH_CYCLES=N` for more,
//! e.g. `KPI_LEDGER_CRASH_CYCLES=500 cargo nextest run -p kpi-tests --test crash`.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::time::{Duration, Instant};

use kpi_store::Envelope;
use kpi_tests::crash::{check_store, read_output, record, spawn_appender};
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
        let mut child = spawn_appender(
            env!("CARGO_BIN_EXE_crash_appender"),
            &store_dir,
            &format!("run{cycle}"),
            &[],
        );
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || read_output(stdout, None));
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
        let opened = output.opened;
        record(&mut acknowledged, output, cycle);
        let last = check_store(&store_dir, &acknowledged, cycle);
        eprintln!(
            "cycle {cycle}: killed after {kill_after:?} (opened: {opened}), log has {last} events, \
             {} acknowledged so far",
            acknowledged.len()
        );
    }
    assert!(
        cycles_with_acks * 2 >= cycles,
        "only {cycles_with_acks} of {cycles} cycles acknowledged anything; the test proved little"
    );
    eprintln!("{cycles} cycles in {:?}", started.elapsed());
}
