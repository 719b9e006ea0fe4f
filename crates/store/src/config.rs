use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// Tuning of an [`crate::EventStore`]; loadable from the `[store]` section of the config file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreConfig {
    /// Where the log lives: in sled inside the data directory (the default, nothing else to
    /// run), or in a PostgreSQL database named by [`PostgresConfig::url`].
    pub backend: Backend,
    /// The PostgreSQL database, when `backend = "postgres"`.
    pub postgres: PostgresConfig,
    /// sled's page cache size. Default 16 MiB: at 1,000,000 events the server idles at
    /// 255 MiB after its start-up walk of the chain with it, 369 MiB with 64 MiB (sled holds
    /// about twice what it counts); the projection, not sled, answers the tables.
    pub cache_capacity_bytes: u64,
    /// Whether a new sled store compresses what it writes (zstd, sled's own). Chosen once,
    /// when the store is created: sled cannot change it afterwards, so an existing store
    /// keeps the setting it was made with whatever this says (moving a log to a store made
    /// with the other setting is an archive export and import). The hashed canonical bytes
    /// are the same either way. Default off.
    pub compression: bool,
    /// Largest accepted event: payload JSON plus event type, actor, provenance and
    /// idempotency key, in bytes. Default 1 MiB.
    pub max_event_bytes: usize,
    /// Most events the writer takes into one group (one sled batch); bounds the latency a
    /// huge backlog adds to the appends at its front. A single larger append still forms one
    /// group. Default 10,000.
    pub max_group_events: usize,
    /// How many committed groups a live subscriber may fall behind before it re-reads the
    /// store instead (it never misses events, it only switches to reading). Default 1,024.
    pub subscriber_buffer: usize,
    /// After the storage fails (a full disk, an I/O error), appends are refused and the store
    /// tries to reopen its database this many milliseconds later, then after twice as long
    /// each time an attempt fails. Default 1,000.
    pub retry_initial_ms: u64,
    /// The longest wait between two attempts to reopen. Default 60,000.
    pub retry_max_ms: u64,
}

/// Which engine holds the log. Above the store crate the choice is invisible: both keep the
/// same envelopes, positions and hash chain behind the same [`crate::EventStore`] API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// An embedded sled database in the data directory.
    #[default]
    Sled,
    /// A PostgreSQL database (schema applied and upgraded at open).
    Postgres,
}

/// The PostgreSQL database of `backend = "postgres"`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// A libpq connection URL, e.g.
    /// `postgresql://kpi@db1:5432,db2:5432/kpi?target_session_attrs=read-write`: several
    /// hosts are tried in turn, and with `target_session_attrs=read-write` only a primary is
    /// taken. Holds a password only if set from the environment (never in a config file in
    /// the repository); it is never logged. TLS is not supported by this build: connect over
    /// loopback or a private network.
    pub url: Option<String>,
    /// Connections kept for reads (replays, verification, lookups), besides the writer's
    /// one and the one that listens for other processes' appends. Default 4.
    pub read_connections: usize,
}

impl PostgresConfig {
    /// No database named; four read connections.
    pub const fn unset() -> Self {
        PostgresConfig {
            url: None,
            read_connections: 4,
        }
    }

    /// The URL with any password replaced by `***`, for messages and logs.
    pub fn redacted_url(&self) -> String {
        self.url.as_deref().map(redact).unwrap_or_default()
    }
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self::unset()
    }
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &self.url.as_deref().map(redact))
            .field("read_connections", &self.read_connections)
            .finish()
    }
}

/// A libpq URL without its password: the one after `user:` before `@`, and any
/// `password=` parameter.
fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        if let Some(at) = out[rest..].find('@').map(|at| rest + at) {
            if let Some(colon) = out[rest..at].find(':').map(|colon| rest + colon) {
                out.replace_range(colon + 1..at, "***");
            }
        }
    }
    if let Some(start) = out.find("password=").map(|start| start + "password=".len()) {
        let end = out[start..].find('&').map_or(out.len(), |end| start + end);
        out.replace_range(start..end, "***");
    }
    out
}

pub(crate) const MIB: u64 = 1024 * 1024;

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Sled,
            postgres: PostgresConfig::unset(),
            cache_capacity_bytes: 16 * MIB,
            compression: false,
            max_event_bytes: MIB as usize,
            max_group_events: 10_000,
            subscriber_buffer: 1_024,
            retry_initial_ms: 1_000,
            retry_max_ms: 60_000,
        }
    }
}

impl StoreConfig {
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        let positive = |field: &'static str, value: u64| {
            if value == 0 {
                Err(StoreError::InvalidConfig {
                    field,
                    reason: "must be greater than 0".to_owned(),
                })
            } else {
                Ok(())
            }
        };
        positive("cache_capacity_bytes", self.cache_capacity_bytes)?;
        positive("max_event_bytes", self.max_event_bytes as u64)?;
        positive("max_group_events", self.max_group_events as u64)?;
        positive("subscriber_buffer", self.subscriber_buffer as u64)?;
        positive("retry_initial_ms", self.retry_initial_ms)?;
        if self.backend == Backend::Postgres {
            if self
                .postgres
                .url
                .as_deref()
                .is_none_or(|url| url.trim().is_empty())
            {
                return Err(StoreError::InvalidConfig {
                    field: "postgres.url",
                    reason: "must be set when backend = \"postgres\" (a libpq URL, e.g. \
                             KPI_LEDGER_STORE__POSTGRES__URL=postgresql://kpi@db/kpi)"
                        .to_owned(),
                });
            }
            positive(
                "postgres.read_connections",
                self.postgres.read_connections as u64,
            )?;
        }
        if self.retry_max_ms < self.retry_initial_ms {
            return Err(StoreError::InvalidConfig {
                field: "retry_max_ms",
                reason: format!(
                    "is {}, less than retry_initial_ms ({})",
                    self.retry_max_ms, self.retry_initial_ms
                ),
            });
        }
        Ok(())
    }

    pub(crate) fn retry_initial(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.retry_initial_ms)
    }

    pub(crate) fn retry_max(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.retry_max_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_take_their_defaults() {
        let config: StoreConfig = serde_json::from_str(r#"{"max_event_bytes": 4096}"#).unwrap();
        assert_eq!(config.max_event_bytes, 4096);
        assert_eq!(config.cache_capacity_bytes, 16 * MIB);
        assert_eq!(config.max_group_events, 10_000);
    }

    #[test]
    fn the_backend_is_named_in_lowercase_and_postgres_needs_a_url() {
        let config: StoreConfig = serde_json::from_str(r#"{"backend": "postgres"}"#).unwrap();
        assert_eq!(config.backend, Backend::Postgres);
        let err = config.check().unwrap_err();
        assert!(err.to_string().contains("`postgres.url`"), "{err}");
        assert!(serde_json::from_str::<StoreConfig>(r#"{"backend": "mysql"}"#).is_err());
        assert!(
            serde_json::from_str::<StoreConfig>(r#"{"postgres": {"uri": "x"}}"#).is_err(),
            "unknown keys of [store.postgres] are refused"
        );
        assert_eq!(StoreConfig::default().backend, Backend::Sled);
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let config = PostgresConfig {
            url: Some("postgresql://kpi:s3cret@db1:5432,db2/kpi?password=other&x=1".to_owned()),
            ..PostgresConfig::unset()
        };
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("other"),
            "{shown}"
        );
        assert!(
            shown.contains("postgresql://kpi:***@db1:5432,db2/kpi?password=***&x=1"),
            "{shown}"
        );
    }

    #[test]
    fn zero_limits_are_rejected_by_name() {
        let config = StoreConfig {
            max_event_bytes: 0,
            ..StoreConfig::default()
        };
        let err = config.check().unwrap_err();
        assert!(err.to_string().contains("`max_event_bytes`"), "{err}");
    }

    #[test]
    fn the_longest_retry_wait_may_not_be_shorter_than_the_first() {
        let config = StoreConfig {
            retry_initial_ms: 5_000,
            retry_max_ms: 1_000,
            ..StoreConfig::default()
        };
        let err = config.check().unwrap_err();
        assert!(err.to_string().contains("`retry_max_ms`"), "{err}");
        assert!(err.to_string().contains("retry_initial_ms (5000)"), "{err}");
        let config = StoreConfig {
            retry_initial_ms: 0,
            ..StoreConfig::default()
        };
        let err = config.check().unwrap_err();
        assert!(err.to_string().contains("`retry_initial_ms`"), "{err}");
    }
}
