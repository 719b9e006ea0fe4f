//! Prometheus metrics. Recording goes through the `metrics` facade, so the service records
//! and describes its own metrics (appends, walks of the hash chain: `kpi_service::metrics`)
//! without either crate depending on the other; this crate installs the process-wide
//! recorder, describes the HTTP metrics it records, and renders them all at `/metrics`.

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
    /// Gauge of the HTTP connections open now (websockets included).
    pub const HTTP_OPEN_CONNECTIONS: &str = "kpi_http_open_connections";
    /// Counter of connections closed by a timeout, labelled `kind`: `header` (a request head
    /// too slow to arrive) or `idle` (no next request on a kept-alive connection).
    pub const HTTP_CONNECTION_TIMEOUTS: &str = "kpi_http_connection_timeouts_total";
    /// Gauge of the store's head position (the last event's position; 0 when empty).
    pub const HEAD_POSITION: &str = "kpi_store_head_position";
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
    describe_gauge!(
        names::HTTP_OPEN_CONNECTIONS,
        "HTTP connections open, websockets included"
    );
    describe_counter!(
        names::HTTP_CONNECTION_TIMEOUTS,
        "HTTP connections closed by the header-read or keep-alive timeout"
    );
    describe_gauge!(names::HEAD_POSITION, "position of the last stored event");
}
