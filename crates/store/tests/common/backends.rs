//! One test on each backend: `on_both_backends!` runs a test as `NAME::sled` and
//! `NAME::postgres`, each with a [`TestLog`] (a temporary directory, and for PostgreSQL a
//! fresh database in the process's test cluster, [`super::cluster`]). Shared by the store's
//! and the service's integration tests; the including crate names this module `common`.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use kpi_store::{Backend, EventStore, StoreConfig, StoreError};

use super::cluster::Cluster;

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
                let $log = $crate::common::backends::TestLog::sled();
                $body
            }

            $(#[$attr])*
            async fn postgres() {
                let Some($log) = $crate::common::backends::TestLog::postgres() else {
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
