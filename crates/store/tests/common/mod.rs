//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kpi_store::{Backend, EventStore, NewEvent, Occurred, StoreConfig, StoreError, StreamId};
use serde_json::json;

pub mod cluster;

use cluster::Cluster;
use std::sync::Arc;

/// Runs one test on each backend, as `NAME::sled` and `NAME::postgres`. The PostgreSQL run
/// gets a fresh database in the process's test cluster, and is skipped (saying so) only
/// when PostgreSQL 15 is not installed and `KPI_POSTGRES_REQUIRED` is not 1.
///
/// ```ignore
/// on_both_backends! {
///     #[tokio::test]
///     async fn appends_read_back(log) { let store = log.open(); ... }
/// }
/// ```
#[macro_export]
macro_rules! on_both_backends {
    ($(#[$attr:meta])* async fn $name:ident($log:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$attr])*
            async fn sled() {
                let $log = $crate::common::TestLog::sled();
                $body
            }

            $(#[$attr])*
            async fn postgres() {
                let Some($log) = $crate::common::TestLog::postgres() else {
                    return;
                };
                $body
            }
        }
    };
}

/// Where a test's log lives: a temporary directory for sled, a fresh database (and a
/// directory, which the PostgreSQL backend does not use) for PostgreSQL.
pub struct TestLog {
    pub dir: tempfile::TempDir,
    backend: Backend,
    url: Option<String>,
    cluster: Option<Arc<Cluster>>,
}

impl TestLog {
    pub fn sled() -> Self {
        TestLog {
            dir: tempfile::tempdir().unwrap(),
            backend: Backend::Sled,
            url: None,
            cluster: None,
        }
    }

    /// `None` when the test is skipped (see [`Cluster::shared`]).
    pub fn postgres() -> Option<Self> {
        let cluster = Cluster::shared()?;
        Some(TestLog {
            dir: tempfile::tempdir().unwrap(),
            backend: Backend::Postgres,
            url: Some(cluster.database()),
            cluster: Some(cluster),
        })
    }

    /// Another, empty log of the same backend (a restore target).
    pub fn another(&self) -> Self {
        let dir = tempfile::tempdir().unwrap();
        match &self.cluster {
            None => TestLog {
                dir,
                backend: Backend::Sled,
                url: None,
                cluster: None,
            },
            Some(cluster) => TestLog {
                dir,
                backend: Backend::Postgres,
                url: Some(cluster.database()),
                cluster: Some(cluster.clone()),
            },
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The directory a sled store opens in (also passed, unused, for PostgreSQL).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `config` pointed at this log.
    pub fn configure(&self, mut config: StoreConfig) -> StoreConfig {
        config.backend = self.backend;
        config.postgres.url = self.url.clone();
        config
    }

    pub fn config(&self) -> StoreConfig {
        self.configure(StoreConfig::default())
    }

    pub fn open(&self) -> EventStore {
        self.open_with(StoreConfig::default()).expect("store opens")
    }

    pub fn open_with(&self, config: StoreConfig) -> Result<EventStore, StoreError> {
        EventStore::open(self.path(), self.configure(config))
    }

    /// Runs `sql` in this log's database (PostgreSQL only).
    pub fn psql(&self, sql: &str) -> String {
        let cluster = self.cluster.as_ref().expect("a PostgreSQL log");
        cluster.psql(self.url.as_deref().unwrap(), sql)
    }
}

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
