//! Every request gets one tracing span carrying its GraphQL operation name, status and
//! duration, closed by a "request finished" event: at INFO when every request is logged
//! (`server.request_log.every_request`), at WARN for a server error or a slow request whatever
//! that says, and otherwise only at DEBUG (not written by default).

use std::io::Write;
use std::sync::{Arc, Mutex};

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
use kpi_server::{routes, App, RequestLog, ServerConfig};
use poem::http::Method;
use poem::{Endpoint, Request};

struct Query;

#[Object]
impl Query {
    async fn answer(&self) -> i32 {
        42
    }

    async fn slow(&self) -> i32 {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        7
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The "request finished" events written at INFO and above while `config` serves `query`,
/// with the status it answered.
fn finished_lines(config: ServerConfig, query: &str) -> (Vec<serde_json::Value>, u16) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_current_span(true)
        .with_writer(move || writer.clone())
        .finish();

    let status = tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
            let endpoint = routes(&config, App::new(schema)).unwrap();
            let body = serde_json::json!({ "query": query }).to_string();
            let request = Request::builder()
                .method(Method::POST)
                .uri_str("/graphql")
                .content_type("application/json")
                .body(body);
            match endpoint.call(request).await {
                Ok(response) => response.status().as_u16(),
                Err(error) => error.status().as_u16(),
            }
        })
    });

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let finished = logs
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|event| event["fields"]["message"] == "request finished")
        .collect();
    (finished, status)
}

fn every_request() -> ServerConfig {
    ServerConfig {
        request_log: RequestLog {
            every_request: true,
            ..RequestLog::default()
        },
        ..ServerConfig::default()
    }
}

#[test]
fn request_span_names_the_operation_and_records_duration() {
    let (lines, status) = finished_lines(every_request(), "query Answer { answer }");
    assert_eq!(status, 200);
    let [finished] = lines.as_slice() else {
        panic!("one `request finished` line expected: {lines:?}");
    };
    assert_eq!(finished["level"], "INFO", "{finished}");
    let span = &finished["span"];
    assert_eq!(span["name"], "request", "{finished}");
    assert_eq!(span["method"], "POST", "{finished}");
    assert_eq!(span["path"], "/graphql", "{finished}");
    assert_eq!(span["operation"], "Answer", "{finished}");
    assert_eq!(span["status"], 200, "{finished}");
    assert!(
        span["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{finished}"
    );
}

#[test]
fn by_default_a_quick_answer_writes_no_line() {
    let (lines, status) = finished_lines(ServerConfig::default(), "query Answer { answer }");
    assert_eq!(status, 200);
    assert!(lines.is_empty(), "{lines:?}");
}

#[test]
fn a_slow_request_is_logged_at_warn_by_default() {
    let mut config = ServerConfig::default();
    config.request_log.slow_ms = std::num::NonZeroU64::new(100).unwrap();
    let (lines, status) = finished_lines(config, "query Slow { slow }");
    assert_eq!(status, 200);
    let [finished] = lines.as_slice() else {
        panic!("one `request finished` line expected: {lines:?}");
    };
    assert_eq!(finished["level"], "WARN", "{finished}");
    assert_eq!(finished["span"]["operation"], "Slow", "{finished}");
    assert!(
        finished["span"]["duration_ms"]
            .as_f64()
            .is_some_and(|ms| ms >= 100.0),
        "{finished}"
    );
}

#[test]
fn a_server_error_is_logged_at_warn_by_default() {
    let mut config = ServerConfig::default();
    config.limits.request_timeout_ms = std::num::NonZeroU64::new(50).unwrap();
    let (lines, status) = finished_lines(config, "query Slow { slow }");
    assert!(status >= 500, "{status}");
    let [finished] = lines.as_slice() else {
        panic!("one `request finished` line expected: {lines:?}");
    };
    assert_eq!(finished["level"], "WARN", "{finished}");
    assert_eq!(finished["span"]["status"], status, "{finished}");
}
