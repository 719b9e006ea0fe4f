//! Property test: random appends (expected versions, idempotency keys, reopens) against a
//! plain in-memory model of the store's rules.

mod common;

use std::collections::{HashMap, HashSet};

use common::{stream, TestLog};
use kpi_store::{AppendError, Envelope, ExpectedVersion, NewEvent};
use proptest::prelude::*;
use serde_json::json;

#[derive(Clone, Debug)]
enum Expect {
    Any,
    NoStream,
    /// The stream's current version (likely to succeed).
    Current,
    /// A fixed version (likely to conflict).
    Exact(u64),
}

#[derive(Clone, Debug)]
struct EventSpec {
    kind: u8,
    value: u8,
    key: Option<u8>,
}

#[derive(Clone, Debug)]
enum Op {
    Append {
        stream: u8,
        expect: Expect,
        events: Vec<EventSpec>,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let expect = prop_oneof![
        Just(Expect::Any),
        Just(Expect::NoStream),
        Just(Expect::Current),
        (0u64..4).prop_map(Expect::Exact),
    ];
    let event = (0u8..2, 0u8..3, proptest::option::weighted(0.6, 0u8..8))
        .prop_map(|(kind, value, key)| EventSpec { kind, value, key });
    prop_oneof![
        12 => (0u8..3, expect, proptest::collection::vec(event, 1..4))
            .prop_map(|(stream, expect, events)| Op::Append { stream, expect, events }),
        1 => Just(Op::Reopen),
    ]
}

fn new_event(spec: &EventSpec) -> NewEvent {
    let event_type = if spec.kind == 0 {
        "SeminarHeld"
    } else {
        "ConsultationHeld"
    };
    let mut event = NewEvent::new(
        event_type,
        "2024-04-01".parse().unwrap(),
        "prop",
        json!({ "value": spec.value }),
    );
    event.idempotency_key = spec.key.map(|k| format!("key-{k}"));
    event
}

/// What the model says an append must do.
#[derive(Debug, PartialEq)]
enum Expected {
    Written {
        first_position: u64,
        first_version: u64,
    },
    Replayed(Vec<u64>),
    WrongVersion(Option<u64>),
    Conflict(String),
    Invalid,
}

#[derive(Default)]
struct Model {
    versions: HashMap<String, u64>,
    /// Idempotency key -> (stream, event type, payload, position).
    keys: HashMap<String, (String, String, serde_json::Value, u64)>,
    log: Vec<Envelope>,
}

impl Model {
    fn decide(&self, stream: &str, expected: ExpectedVersion, events: &[NewEvent]) -> Expected {
        let mut seen = HashSet::new();
        if events
            .iter()
            .filter_map(|e| e.idempotency_key.as_ref())
            .any(|k| !seen.insert(k))
        {
            return Expected::Invalid;
        }
        let mut originals = Vec::new();
        let mut first_used = None;
        let mut any_unused = false;
        for event in events {
            match event
                .idempotency_key
                .as_ref()
                .and_then(|k| self.keys.get(k).map(|o| (k, o)))
            {
                None => any_unused = true,
                Some((key, (s, t, p, position))) => {
                    if s != stream || *t != event.event_type || *p != event.payload {
                        return Expected::Conflict(key.clone());
                    }
                    first_used.get_or_insert(key.clone());
                    originals.push(*position);
                }
            }
        }
        match first_used {
            Some(key) if any_unused => return Expected::Conflict(key),
            Some(_) => return Expected::Replayed(originals),
            None => {}
        }
        let current = self.versions.get(stream).copied().unwrap_or(0);
        let accepted = match expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current == 0,
            ExpectedVersion::Exact(v) => v == current,
        };
        if !accepted {
            return Expected::WrongVersion((current > 0).then_some(current));
        }
        Expected::Written {
            first_position: self.log.len() as u64 + 1,
            first_version: current + 1,
        }
    }

    fn record(&mut self, stream: &str, written: &[Envelope]) {
        for envelope in written {
            self.versions
                .insert(stream.to_owned(), envelope.stream_version);
            if let Some(key) = &envelope.idempotency_key {
                self.keys.insert(
                    key.clone(),
                    (
                        stream.to_owned(),
                        envelope.event_type.clone(),
                        envelope.payload.clone(),
                        envelope.position,
                    ),
                );
            }
            self.log.push(envelope.clone());
        }
    }
}

async fn run(log: &TestLog, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut store = log.open();
    let mut model = Model::default();
    for op in ops {
        let (stream_index, expect, specs) = match op {
            Op::Reopen => {
                store.close().await;
                store = log.open();
                continue;
            }
            Op::Append {
                stream,
                expect,
                events,
            } => (stream, expect, events),
        };
        let name = format!("stream-{stream_index}");
        let expected = match expect {
            Expect::Any => ExpectedVersion::Any,
            Expect::NoStream => ExpectedVersion::NoStream,
            Expect::Current => {
                ExpectedVersion::Exact(model.versions.get(&name).copied().unwrap_or(0))
            }
            Expect::Exact(v) => ExpectedVersion::Exact(v),
        };
        let events: Vec<NewEvent> = specs.iter().map(new_event).collect();
        let decision = model.decide(&name, expected, &events);
        let head_before = store.head();
        let result = store.append(&stream(&name), expected, events.clone()).await;
        match (&decision, result) {
            (
                Expected::Written {
                    first_position,
                    first_version,
                },
                Ok(written),
            ) => {
                prop_assert_eq!(written.len(), events.len());
                for (i, (envelope, event)) in written.iter().zip(&events).enumerate() {
                    prop_assert_eq!(envelope.position, first_position + i as u64);
                    prop_assert_eq!(envelope.stream_version, first_version + i as u64);
                    prop_assert_eq!(&envelope.payload, &event.payload);
                    prop_assert_eq!(&envelope.idempotency_key, &event.idempotency_key);
                }
                model.record(&name, &written);
            }
            (Expected::Replayed(positions), Ok(replayed)) => {
                let originals: Vec<Envelope> = positions
                    .iter()
                    .map(|p| model.log[*p as usize - 1].clone())
                    .collect();
                prop_assert_eq!(replayed, originals);
                prop_assert_eq!(store.head(), head_before);
            }
            (
                Expected::WrongVersion(actual),
                Err(AppendError::WrongExpectedVersion { actual: got, .. }),
            ) => {
                prop_assert_eq!(*actual, got);
                prop_assert_eq!(store.head(), head_before);
            }
            (Expected::Conflict(key), Err(AppendError::IdempotencyConflict { key: got })) => {
                prop_assert_eq!(key, &got);
                prop_assert_eq!(store.head(), head_before);
            }
            (Expected::Invalid, Err(AppendError::InvalidEvent { field, .. })) => {
                prop_assert!(field.ends_with("idempotency_key"), "{}", field);
                prop_assert_eq!(store.head(), head_before);
            }
            (decision, result) => {
                prop_assert!(false, "model said {:?}, store did {:?}", decision, result);
            }
        }
    }
    let stored = store.read_from(0, usize::MAX).unwrap();
    prop_assert_eq!(&stored, &model.log);
    for (index, envelope) in stored.iter().enumerate() {
        prop_assert_eq!(envelope.position, index as u64 + 1);
    }
    let digest = store
        .verify()
        .map_err(|f| TestCaseError::fail(f.to_string()))?;
    prop_assert_eq!(digest.position, model.log.len() as u64);
    if let Some(last) = model.log.last() {
        prop_assert_eq!(digest.hash, last.hash);
    }
    store.close().await;
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_store_behaves_like_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        runtime().block_on(run(&TestLog::sled(), ops))?;
    }
}

/// The same model on PostgreSQL, a fresh database per case in one cluster (fewer cases: a
/// database costs more to make than a directory).
#[test]
fn the_store_on_postgres_behaves_like_the_model() {
    let Some(cluster_holder) = TestLog::postgres() else {
        return;
    };
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 16,
        ..ProptestConfig::default()
    });
    let outcome = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        runtime().block_on(run(&cluster_holder.another(), ops))
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
