//! Every request gets one tracing span carrying its GraphQL operation name, status and
//! duration, closed by a "request finished" event.

use std::io::Write;
use std::sync::{Arc, Mutex};

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
use kpi_server::{routes, App, ServerConfig};
use poem::http::Method;
use poem::{Endpoint, Request};

struct Query;

#[Object]
impl Query {
    async fn answer(&self) -> i32 {
        42
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

#[test]
fn request_span_names_the_operation_and_records_duration() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_writer(move || writer.clone())
        .finish();

    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
            let endpoint = routes(&ServerConfig::default(), App::new(schema)).unwrap();
            let request = Request::builder()
                .method(Method::POST)
                .uri_str("/graphql")
                .content_type("application/json")
                .body(r#"{"query":"query Answer { answer }"}"#);
            let response = endpoint.call(request).await.unwrap();
            assert_eq!(response.status(), 200);
        });
    });

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let finished: serde_json::Value = logs
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|event| event["fields"]["message"] == "request finished")
        .unwrap_or_else(|| panic!("no `request finished` event in:\n{logs}"));
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
