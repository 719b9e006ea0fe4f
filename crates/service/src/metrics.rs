//! Metrics the service records through the `metrics` facade. The binary installs the
//! process-wide recorder (kpi-server's, which renders them at `/metrics`) and then calls
//! [`describe`]; without a recorder (the CLI's one-shot commands) recording costs nothing.

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

/// Gauge: 1 when the last walk of the whole hash chain passed, 0 when it failed (absent
/// before the first walk).
pub const VERIFICATION_OK: &str = "kpi_verification_ok";
/// Gauge: the last position the last walk found intact (its head when it passed, the
/// position before the first bad one when it failed).
pub const VERIFIED_POSITION: &str = "kpi_verification_verified_position";
/// Gauge: when the last walk finished, in Unix seconds.
pub const VERIFIED_AT: &str = "kpi_verification_last_timestamp_seconds";
/// Counter of walks of the whole hash chain, labelled `outcome`: `ok`, `failed`, `stopped`
/// (nobody waited for it any more, or the ledger closed) or `unavailable` (the storage
/// failed under it: it proves nothing, and is not kept).
pub const VERIFICATION_WALKS: &str = "kpi_verification_walks_total";

/// Records the answer of a finished walk.
pub fn record_verification(verification: &crate::Verification) {
    let ok = verification.result.is_ok();
    metrics::gauge!(VERIFICATION_OK).set(if ok { 1.0 } else { 0.0 });
    // Prometheus values are f64; positions stay exact up to 2^53 events.
    metrics::gauge!(VERIFIED_POSITION).set(verification.verified_position() as f64);
    let at = verification.finished_at;
    metrics::gauge!(VERIFIED_AT)
        .set(at.timestamp() as f64 + f64::from(at.timestamp_subsec_millis()) / 1e3);
    count_verification_walk(if ok { "ok" } else { "failed" });
}

/// Counts one walk that ended with `outcome`.
pub fn count_verification_walk(outcome: &'static str) {
    metrics::counter!(VERIFICATION_WALKS, "outcome" => outcome).increment(1);
}

/// Gauge: 1 while the storage takes writes, 0 from a storage failure (a full disk, an I/O
/// error) until the store has reopened its database.
pub const STORAGE_AVAILABLE: &str = "kpi_storage_available";
/// Counter of storage failures since the ledger opened.
pub const STORAGE_FAILURES: &str = "kpi_storage_failures_total";
/// Gauge: when the storage last failed, in Unix seconds (absent before the first failure).
pub const STORAGE_LAST_FAILURE: &str = "kpi_storage_last_failure_timestamp_seconds";
/// Counter of attempts to reopen the database after a storage failure, labelled `outcome`:
/// `failed` (still unavailable, tried again later) or `recovered`.
pub const STORAGE_REOPENS: &str = "kpi_storage_reopen_attempts_total";

/// Records the store's storage status.
pub fn record_storage(status: &kpi_store::StorageStatus) {
    let available = status.outage.is_none();
    metrics::gauge!(STORAGE_AVAILABLE).set(if available { 1.0 } else { 0.0 });
    metrics::counter!(STORAGE_FAILURES).absolute(status.failures);
    if let Some(at) = status.last_failure_at {
        metrics::gauge!(STORAGE_LAST_FAILURE)
            .set(at.timestamp() as f64 + f64::from(at.timestamp_subsec_millis()) / 1e3);
    }
    metrics::counter!(STORAGE_REOPENS, "outcome" => "failed").absolute(status.failed_attempts);
    metrics::counter!(STORAGE_REOPENS, "outcome" => "recovered").absolute(status.recoveries);
}

/// Gives the installed recorder each metric's help text and unit; call once after installing it.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(APPENDS, "events appended to the store");
    describe_histogram!(
        APPEND_SECONDS,
        Unit::Seconds,
        "append latency, command to durable event"
    );
    describe_gauge!(
        VERIFICATION_OK,
        "1 when the last walk of the hash chain passed, 0 when it failed"
    );
    describe_gauge!(
        VERIFIED_POSITION,
        "last position the last walk of the hash chain found intact"
    );
    describe_gauge!(
        VERIFIED_AT,
        Unit::Seconds,
        "when the last walk of the hash chain finished (Unix time)"
    );
    describe_counter!(
        VERIFICATION_WALKS,
        "walks of the hash chain, by outcome (ok, failed, stopped)"
    );
    describe_gauge!(
        STORAGE_AVAILABLE,
        "1 while the storage takes writes, 0 during a storage outage"
    );
    describe_counter!(
        STORAGE_FAILURES,
        "storage failures (a full disk, an I/O error)"
    );
    describe_gauge!(
        STORAGE_LAST_FAILURE,
        Unit::Seconds,
        "when the storage last failed (Unix time)"
    );
    describe_counter!(
        STORAGE_REOPENS,
        "attempts to reopen the database after a storage failure, by outcome"
    );
}
