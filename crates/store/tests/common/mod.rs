//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kpi_store::{EventStore, NewEvent, Occurred, StoreConfig, StreamId};
use serde_json::json;

pub mod backends;
pub mod cluster;

#[allow(unused_imports)] // not every test names it
pub use backends::TestLog;

pub fn stream(id: &str) -> StreamId {
    id.parse().expect("test stream ids are valid")
}

/// An event shaped like a seminar record of the roadmap report.
pub fn seminar(attendees: u32) -> NewEvent {
    NewEvent::new(
        "SeminarHeld",
        "2024-06-14".parse::<Occurred>().unwrap(),
        "clerk:industry-policy",
        json!({
            "title": "テレワーク導入セミナー",
            "venue": "富士市産業支援センター f-Biz",
            "fiscal_year": 2024,
            "attendees": attendees,
            "organizer": "Fuji City",
        }),
    )
}

pub fn open(dir: &Path) -> EventStore {
    EventStore::open(dir, StoreConfig::default()).expect("store opens")
}

/// Every file under `dir` with its bytes, to prove an operation left a directory untouched.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.insert(path.clone(), Vec::new());
                pending.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}
