//! Metrics the service records through the `metrics` facade. kpi-server installs the
//! process-wide recorder, describes these names and renders them at `/metrics`; without a
//! recorder (the CLI's one-shot commands) recording costs nothing.

use std::time::Duration;

/// Counter of events appended to the store by this process (idempotent retries, which
/// write nothing, are not counted).
pub const APPENDS: &str = "kpi_appends_total";
/// Histogram of append latency in seconds: from handing the event to the store until it is
/// on disk, for appends that wrote.
pub const APPEND_SECONDS: &str = "kpi_append_duration_seconds";

/// Records one append of `events` new events that took `latency`.
pub fn record_append(events: usize, latency: Duration) {
    metrics::counter!(APPENDS).increment(events as u64);
    metrics::histogram!(APPEND_SECONDS).record(latency.as_secs_f64());
}
