//! Prometheus metrics. Recording goes through the `metrics` facade, so the service records
//! appends (`kpi_service::metrics`, whose names [`names`] repeats) without depending on this
//! crate; this crate installs the process-wide recorder and renders
//! it at `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Metric names, shared by whoever records them.
pub mod names {
    /// Counter of HTTP requests, labelled `endpoint` and `status`.
    pub const HTTP_REQUESTS: &str = "kpi_http_requests_total";
    /// Histogram of HTTP request durations in seconds, labelled `endpoint`.
    pub const HTTP_REQUEST_SECONDS: &str = "kpi_http_request_duration_seconds";
    /// Counter of GraphQL responses carrying errors, labelled `kind`
    /// (`request`, `field`, `timeout`, `unauthenticated`, `too_large`).
    pub const GRAPHQL_ERRORS: &str = "kpi_graphql_errors_total";
    /// Counter of GraphQL-over-HTTP requests looked up in the answer cache, labelled
    /// `outcome` (`hit`, `miss`).
    pub const GRAPHQL_CACHE: &str = "kpi_graphql_cache_lookups_total";
    /// Counter of events appended to the store (recorded by kpi-service).
    pub const APPENDS: &str = kpi_service::metrics::APPENDS;
    /// Histogram of append latency in seconds (recorded by kpi-service).
    pub const APPEND_SECONDS: &str = kpi_service::metrics::APPEND_SECONDS;
    /// Gauge of the HTTP connections open now (websockets included).
    pub const HTTP_OPEN_CONNECTIONS: &str = "kpi_http_open_connections";
    /// Counter of connections closed by a timeout, labelled `kind`: `header` (a request head
    /// too slow to arrive) or `idle` (no next request on a kept-alive connection).
    pub const HTTP_CONNECTION_TIMEOUTS: &str = "kpi_http_connection_timeouts_total";
    /// Gauge of the store's head position (the last event's position; 0 when empty).
    pub const HEAD_POSITION: &str = "kpi_store_head_position";
    /// Gauge: 1 when the last walk of the hash chain passed, 0 when it failed (kpi-service).
    pub const VERIFICATION_OK: &str = kpi_service::metrics::VERIFICATION_OK;
    /// Gauge: the last position the last walk found intact (kpi-service).
    pub const VERIFIED_POSITION: &str = kpi_service::metrics::VERIFIED_POSITION;
    /// Gauge: when the last walk finished, in Unix seconds (kpi-service).
    pub const VERIFIED_AT: &str = kpi_service::metrics::VERIFIED_AT;
    /// Counter of walks of the hash chain by `outcome` (kpi-service).
    pub const VERIFICATION_WALKS: &str = kpi_service::metrics::VERIFICATION_WALKS;
    /// Gauge: 1 while the storage takes writes, 0 during a storage outage (kpi-service).
    pub const STORAGE_AVAILABLE: &str = kpi_service::metrics::STORAGE_AVAILABLE;
    /// Counter of storage failures (kpi-service).
    pub const STORAGE_FAILURES: &str = kpi_service::metrics::STORAGE_FAILURES;
    /// Gauge: when the storage last failed, in Unix seconds (kpi-service).
    pub const STORAGE_LAST_FAILURE: &str = kpi_service::metrics::STORAGE_LAST_FAILURE;
    /// Counter of attempts to reopen the database by `outcome` (kpi-service).
    pub const STORAGE_REOPENS: &str = kpi_service::metrics::STORAGE_REOPENS;
}

// Appends are group-committed with an fsync, so latencies span from sub-millisecond (batched)
// to tens of milliseconds (a slow disk); the buckets cover that range in roughly 2.5x steps.
const SECONDS_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0,
];

/// Handle to the process-wide Prometheus recorder.
#[derive(Clone, Debug)]
pub struct Metrics {
    handle: PrometheusHandle,
}

static GLOBAL: OnceLock<Metrics> = OnceLock::new();

impl Metrics {
    /// The process-wide recorder, installed on first use. If another recorder was installed
    /// first (only possible if the binary chose one), recording goes there and `/metrics`
    /// serves this recorder's (empty) view, which a warning in the log explains.
    pub fn global() -> Metrics {
        GLOBAL
            .get_or_init(|| {
                let recorder = PrometheusBuilder::new()
                    .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                    .expect("bucket list is non-empty")
                    .build_recorder();
                let handle = recorder.handle();
                if let Err(err) = metrics::set_global_recorder(recorder) {
                    tracing::warn!(%err, "another metrics recorder is installed; /metrics will be empty");
                }
                describe();
                Metrics { handle }
            })
            .clone()
    }

    /// Records the store's head position.
    pub fn set_head_position(&self, position: u64) {
        // Prometheus values are f64; positions stay exact up to 2^53 events.
        metrics::gauge!(names::HEAD_POSITION).set(position as f64);
    }

    /// The Prometheus text exposition of every metric recorded so far.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }

    /// Folds buffered histogram samples into their buckets so memory stays bounded between
    /// scrapes; the server calls this periodically.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(names::HTTP_REQUESTS, "HTTP requests served");
    describe_histogram!(
        names::HTTP_REQUEST_SECONDS,
        Unit::Seconds,
        "HTTP request duration"
    );
    describe_counter!(names::GRAPHQL_ERRORS, "GraphQL responses with errors");
    describe_counter!(
        names::GRAPHQL_CACHE,
        "GraphQL query answers looked up in the answer cache"
    );
    describe_counter!(names::APPENDS, "events appended to the store");
    describe_histogram!(
        names::APPEND_SECONDS,
        Unit::Seconds,
        "append latency, command to durable event"
    );
    describe_gauge!(
        names::HTTP_OPEN_CONNECTIONS,
        "HTTP connections open, websockets included"
    );
    describe_counter!(
        names::HTTP_CONNECTION_TIMEOUTS,
        "HTTP connections closed by the header-read or keep-alive timeout"
    );
    describe_gauge!(names::HEAD_POSITION, "position of the last stored event");
    describe_gauge!(
        names::VERIFICATION_OK,
        "1 when the last walk of the hash chain passed, 0 when it failed"
    );
    describe_gauge!(
        names::VERIFIED_POSITION,
        "last position the last walk of the hash chain found intact"
    );
    describe_gauge!(
        names::VERIFIED_AT,
        Unit::Seconds,
        "when the last walk of the hash chain finished (Unix time)"
    );
    describe_counter!(
        names::VERIFICATION_WALKS,
        "walks of the hash chain, by outcome (ok, failed, stopped, unavailable)"
    );
    describe_gauge!(
        names::STORAGE_AVAILABLE,
        "1 while the storage takes writes, 0 from a storage failure until the store reopened it"
    );
    describe_counter!(
        names::STORAGE_FAILURES,
        "storage failures (a full disk, an I/O error)"
    );
    describe_gauge!(
        names::STORAGE_LAST_FAILURE,
        Unit::Seconds,
        "when the storage last failed (Unix time)"
    );
    describe_counter!(
        names::STORAGE_REOPENS,
        "attempts to reopen the database after a storage failure, by outcome (failed, recovered)"
    );
}
