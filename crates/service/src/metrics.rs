//! Metrics the service records through the `metrics` facade. kpi-server installs the
//! process-wide recorder, describes these names and renders them at `/metrics`; without a
//! recorder (the CLI's one-shot commands) recording costs nothing.

use std::time::Duration;

/// Counter of events appended to the store since the ledger opened (idempotent retries,
/// which write nothing, are not counted). Counted as the projection follows the log, so an
/// append whose caller went away before the answer counts too.
pub const APPENDS: &str = "kpi_appends_total";
/// Histogram of append latency in seconds: from handing the event to the store until it is
/// on disk, for appends that wrote and whose caller waited for the answer.
pub const APPEND_SECONDS: &str = "kpi_append_duration_seconds";

/// Counts `events` newly appended events.
pub fn count_appended(events: u64) {
    metrics::counter!(APPENDS).increment(events);
}

/// Records the latency of one append that wrote.
pub fn record_append_latency(latency: Duration) {
    metrics::histogram!(APPEND_SECONDS).record(latency.as_secs_f64());
}
