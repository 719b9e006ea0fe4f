//! The server's own view of a run, scraped from its `/metrics` (Prometheus text): request and
//! store-append durations, the request-duration histogram (its p99 bound) and the answer
//! cache's hits and misses, as differences between a scrape before and one after.

use std::time::Duration;

use crate::client::Target;

impl Target {
    /// The server's own timing histograms, from `/metrics`.
    pub(crate) async fn server_timings(&self) -> ServerTimings {
        let url = self.url.replace("/graphql", "/metrics");
        let text = self
            .http
            .get(url)
            .send()
            .await
            .expect("the server answers /metrics")
            .text()
            .await
            .expect("read /metrics");
        ServerTimings::parse(&text)
    }
}

/// Totals of the server's duration histograms; the difference over a run gives the mean
/// time a request spent in the server, and an append in the store.
#[derive(Clone, Default)]
pub(crate) struct ServerTimings {
    graphql_seconds: f64,
    graphql_requests: f64,
    /// Cumulative histogram of GraphQL request durations: (upper bound in seconds, count).
    graphql_buckets: Vec<(f64, f64)>,
    append_seconds: f64,
    appends: f64,
    /// GraphQL requests answered from the server's answer cache, and looked up but not found.
    cache_hits: f64,
    cache_misses: f64,
}

impl ServerTimings {
    fn parse(metrics: &str) -> Self {
        let value = |name: &str| {
            metrics
                .lines()
                .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let graphql = "{endpoint=\"graphql\"}";
        let graphql_buckets = metrics
            .lines()
            .filter_map(|line| {
                let labels = line
                    .strip_prefix("kpi_http_request_duration_seconds_bucket{")?
                    .split_once('}')?;
                if !labels.0.contains("endpoint=\"graphql\"") {
                    return None;
                }
                let bound = labels.0.split("le=\"").nth(1)?.split('"').next()?;
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse().ok()?
                };
                Some((bound, labels.1.trim().parse().ok()?))
            })
            .collect();
        Self {
            graphql_seconds: value(&format!("kpi_http_request_duration_seconds_sum{graphql}")),
            graphql_requests: value(&format!("kpi_http_request_duration_seconds_count{graphql}")),
            graphql_buckets,
            append_seconds: value("kpi_append_duration_seconds_sum"),
            appends: value("kpi_append_duration_seconds_count"),
            cache_hits: value("kpi_graphql_cache_lookups_total{outcome=\"hit\"}"),
            cache_misses: value("kpi_graphql_cache_lookups_total{outcome=\"miss\"}"),
        }
    }

    pub(crate) fn since(&self, earlier: ServerTimings) -> ServerTimings {
        let earlier_count = |bound: f64| {
            earlier
                .graphql_buckets
                .iter()
                .find(|(le, _)| *le == bound)
                .map_or(0.0, |(_, count)| *count)
        };
        ServerTimings {
            graphql_seconds: self.graphql_seconds - earlier.graphql_seconds,
            graphql_requests: self.graphql_requests - earlier.graphql_requests,
            graphql_buckets: self
                .graphql_buckets
                .iter()
                .map(|&(le, count)| (le, count - earlier_count(le)))
                .collect(),
            append_seconds: self.append_seconds - earlier.append_seconds,
            appends: self.appends - earlier.appends,
            cache_hits: self.cache_hits - earlier.cache_hits,
            cache_misses: self.cache_misses - earlier.cache_misses,
        }
    }

    /// The histogram bucket bound under which 99% of the GraphQL requests completed in the
    /// server: an upper bound of the server-side p99 (the buckets are 2-2.5x apart).
    pub(crate) fn request_p99_bound(&self) -> Option<f64> {
        let total = self.graphql_requests;
        self.graphql_buckets
            .iter()
            .find(|(_, count)| total > 0.0 && *count >= 0.99 * total)
            .map(|(le, _)| *le)
    }

    /// Share of the cache lookups answered from the cache; `-` when nothing was looked up
    /// (mutations are not).
    pub(crate) fn cache_hit_share(&self) -> String {
        let lookups = self.cache_hits + self.cache_misses;
        if lookups > 0.0 {
            format!("{:.1}%", 100.0 * self.cache_hits / lookups)
        } else {
            "-".into()
        }
    }

    /// Mean time of a GraphQL request in the server (routing to response written).
    pub(crate) fn request_mean(&self) -> Option<Duration> {
        mean(self.graphql_seconds, self.graphql_requests)
    }

    /// Mean time of the store append inside a mutation (append call to on disk).
    pub(crate) fn append_mean(&self) -> Option<Duration> {
        mean(self.append_seconds, self.appends)
    }
}

fn mean(seconds: f64, count: f64) -> Option<Duration> {
    (count > 0.0).then(|| Duration::from_secs_f64(seconds / count))
}

pub(crate) fn at_most(bound: Option<f64>) -> String {
    match bound {
        Some(seconds) if seconds.is_finite() => format!("<= {} ms", seconds * 1e3),
        Some(_) => "> 10 s".into(),
        None => "-".into(),
    }
}
