//! End-to-end tests live in tests/tests/*.rs. This library holds what the two crash tests
//! share: reading what the appending child (`crash_appender`) acknowledged, and checking a
//! reopened store against it.

pub mod crash {
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::io::{BufRead as _, BufReader};
    use std::path::Path;
    use std::process::{Child, Command, Stdio};

    use kpi_store::{Envelope, EventStore, StoreConfig};

    /// What the child printed: the acknowledged envelopes, and whether it got the store open.
    pub struct ChildOutput {
        pub opened: bool,
        pub acknowledged: Vec<Envelope>,
    }

    /// Starts `appender` (the `crash_appender` binary) on the store in `dir`, with `envs`
    /// added to its environment; `run` labels this run's streams and idempotency keys.
    pub fn spawn_appender(appender: &str, dir: &Path, run: &str, envs: &[(&str, &str)]) -> Child {
        Command::new(appender)
            .arg(dir)
            .arg(run)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the crash_appender binary starts")
    }

    /// Reads the child's output to its end; `on_open` hears when it reports the store open.
    pub fn read_output(
        stdout: impl std::io::Read,
        on_open: Option<std::sync::mpsc::Sender<()>>,
    ) -> ChildOutput {
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
                if let Some(on_open) = &on_open {
                    // Nobody listening any more is fine.
                    let _ = on_open.send(());
                }
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

    /// Adds one cycle's acknowledgements to all so far; a position acknowledged twice fails.
    pub fn record(acknowledged: &mut BTreeMap<u64, Envelope>, output: ChildOutput, cycle: usize) {
        for envelope in output.acknowledged {
            let position = envelope.position;
            if let Some(previous) = acknowledged.insert(position, envelope) {
                panic!("cycle {cycle}: position {position} acknowledged twice ({previous:?})");
            }
        }
    }

    /// Checks the reopened store against everything acknowledged so far: it opens, verifies,
    /// positions are gapless, every acknowledged event is at its position unchanged and no
    /// event is stored twice, every batch is whole. Returns the head position.
    pub fn check_store(dir: &Path, acknowledged: &BTreeMap<u64, Envelope>, cycle: usize) -> u64 {
        let store = EventStore::open(dir, StoreConfig::default())
            .unwrap_or_else(|e| panic!("cycle {cycle}: the store does not reopen: {e}"));
        let digest = store
            .verify()
            .unwrap_or_else(|f| panic!("cycle {cycle}: verify failed: {f}"));
        let mut expected_position = 1;
        let mut batches: HashMap<(String, u64, u64), (u64, u64)> = HashMap::new();
        let mut keys = HashSet::new();
        for stored in store.iter_from(1) {
            let stored = stored.unwrap_or_else(|e| panic!("cycle {cycle}: unreadable event: {e}"));
            assert_eq!(stored.position, expected_position, "cycle {cycle}: gap");
            expected_position += 1;
            if let Some(acked) = acknowledged.get(&stored.position) {
                assert_eq!(&stored, acked, "cycle {cycle}: acknowledged event changed");
            }
            let key = stored.idempotency_key.clone();
            assert!(
                keys.insert(key.clone()),
                "cycle {cycle}: event {key:?} stored twice (again at {})",
                stored.position
            );
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
                "cycle {cycle}: acknowledged position {position} lost (log ends at {last}); \
                 {} of {} acknowledged events are missing",
                acknowledged.range(last + 1..).count(),
                acknowledged.len()
            );
        }
        for (batch, (size, found)) in batches {
            assert_eq!(size, found, "cycle {cycle}: batch {batch:?} is partial");
        }
        last
    }
}
