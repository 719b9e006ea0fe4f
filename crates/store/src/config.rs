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
}

pub(crate) const MIB: u64 = 1024 * 1024;

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            cache_capacity_bytes: 64 * MIB,
            max_event_bytes: MIB as usize,
            max_group_events: 10_000,
            subscriber_buffer: 1_024,
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
        Ok(())
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
}
