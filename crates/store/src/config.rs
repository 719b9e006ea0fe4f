use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// Tuning of an [`crate::EventStore`]; loadable from the `[store]` section of the config file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreConfig {
    /// sled's page cache size. Default 64 MiB.
    pub cache_capacity_bytes: u64,
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

pub(crate) const MIB: u64 = 1024 * 1024;

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            cache_capacity_bytes: 64 * MIB,
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
        assert_eq!(config.cache_capacity_bytes, 64 * MIB);
        assert_eq!(config.max_group_events, 10_000);
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
