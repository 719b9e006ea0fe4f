//! GraphQL over HTTP against a live server on loopback: negotiation, status codes, auth,
//! limits, probes, metrics and graceful shutdown.

mod server_support;

use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, ALLOW, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use server_support::{client, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

async fn post(
    server: &TestServer,
    accept: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, String, Value) {
    let mut request = client()
        .post(server.graphql_url())
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, accept)
        .body(body.to_string());
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    read(request.send().await.unwrap()).await
}

async fn read(response: Response) -> (StatusCode, String, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, content_type, body)
}

async fn head_position(server: &TestServer) -> u64 {
    let (status, _, body) = post(
        server,
        "application/json",
        Some(&server.tokens.reader),
        json!({ "query": "{ head }" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["head"].as_u64().unwrap()
}

fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

#[tokio::test]
async fn queries_answer_in_the_negotiated_media_type() {
    let server = TestServer::start().await;

    for (accept, expected) in [
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        (
            "application/json;q=0.5, application/graphql-response+json",
            GRAPHQL_RESPONSE_JSON,
        ),
    ] {
        let (status, content_type, body) =
            post(&server, accept, None, json!({ "query": "{ whoami }" })).await;
        assert_eq!(status, StatusCode::OK, "{accept}: {body}");
        assert!(
            content_type.starts_with(expected),
            "{accept}: {content_type}"
        );
        assert_eq!(body, json!({ "data": { "whoami": "anonymous:false" } }));
    }

    let refused = client()
        .post(server.graphql_url())
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "text/html")
        .body(json!({ "query": "{ whoami }" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_ACCEPTABLE);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn request_errors_are_400_without_data_for_graphql_response_json() {
    let server = TestServer::start().await;
    let cases = [
        (json!({ "query": "{" }), "expected selection"),
        (json!({ "query": "{ noSuchField }" }), "noSuchField"),
        (
            json!({ "query": "query Q($t: String!) { whoami }", "variables": { "t": null } }),
            "t",
        ),
        (
            json!({ "query": "subscription { ticks(count: 1) }" }),
            "websocket",
        ),
    ];
    for (body, needle) in &cases {
        let (status, _, answer) = post(&server, GRAPHQL_RESPONSE_JSON, None, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer.get("data").is_none(), "{body}: {answer}");
        let message = answer["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {message}");

        // Legacy application/json clients get the same errors with 200.
        let (status, _, legacy) = post(&server, "application/json", None, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}: {legacy}");
        assert!(legacy.get("data").is_none(), "{body}: {legacy}");
        assert_eq!(legacy["errors"], answer["errors"]);
    }

    // Malformed HTTP-level parameters are 400 whatever the client accepts.
    for body in [
        r#"{"query": "{ whoami }", "variables": "x"}"#,
        r#"{"query": 7}"#,
        r#"{"qeury": "{ whoami }"}"#,
        r#"{"query": "{ whoami"#,
    ] {
        let response = client()
            .post(server.graphql_url())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn field_errors_keep_the_data_entry() {
    let server = TestServer::start().await;
    let (status, _, body) = post(
        &server,
        GRAPHQL_RESPONSE_JSON,
        None,
        json!({ "query": "{ whoami head }" }),
    )
    .await;
    // Execution happened: the field that was allowed answers, the refused one errors.
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["whoami"], "anonymous:false", "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["head"]));
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let server = TestServer::start().await;
    let http = client();

    let query = http
        .get(server.graphql_url())
        .query(&[
            (
                "query",
                "query Who($millis: Int!) { whoami slow(millis: $millis) }",
            ),
            ("variables", r#"{"millis":1}"#),
            ("operationName", "Who"),
        ])
        .header(AUTHORIZATION, format!("Bearer {}", server.tokens.reader))
        .send()
        .await
        .unwrap();
    let (status, _, body) = read(query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["whoami"], "viewer:reader", "{body}");
    assert_eq!(body["data"]["slow"], 1, "{body}");

    for (query, operation_name) in [
        (
            r#"mutation { record(title: "over GET") { position } }"#,
            None,
        ),
        (
            r#"query A { whoami } mutation B { record(title: "over GET") { position } }"#,
            Some("B"),
        ),
    ] {
        let mut params = vec![("query", query)];
        params.extend(operation_name.map(|name| ("operationName", name)));
        let response = http
            .get(server.graphql_url())
            .query(&params)
            .header(AUTHORIZATION, format!("Bearer {}", server.tokens.recorder))
            .header(ACCEPT, GRAPHQL_RESPONSE_JSON)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{query}");
        assert_eq!(response.headers()[ALLOW], "POST");
    }
    assert_eq!(head_position(&server).await, 0, "no mutation ran over GET");

    let put = http.put(server.graphql_url()).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn post_needs_a_json_content_type() {
    let server = TestServer::start().await;
    let body = json!({ "query": "{ whoami }" }).to_string();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/json; charset=latin1"),
    ] {
        let mut request = client().post(server.graphql_url()).body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let (status, _, answer) = read(request.send().await.unwrap()).await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}: {answer}"
        );
        assert!(answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("application/json"));
    }
    let utf8 = client()
        .post(server.graphql_url())
        .header(CONTENT_TYPE, "application/json; charset=UTF-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(utf8.status(), StatusCode::OK);
    server.stop().await.unwrap();
}

const RECORD: &str = r#"mutation { record(title: "Telework seminar") { position actor } }"#;

#[tokio::test]
async fn mutations_need_a_token_of_sufficient_role() {
    let server = TestServer::start().await;
    let record = json!({ "query": RECORD });

    let (status, _, anonymous) = post(&server, GRAPHQL_RESPONSE_JSON, None, record.clone()).await;
    assert_eq!(status, StatusCode::OK, "{anonymous}");
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");

    let reader = server.tokens.reader.clone();
    let (_, _, forbidden) = post(
        &server,
        GRAPHQL_RESPONSE_JSON,
        Some(&reader),
        record.clone(),
    )
    .await;
    assert_eq!(error_code(&forbidden), "FORBIDDEN");
    assert_eq!(
        head_position(&server).await,
        0,
        "refused mutations write nothing"
    );

    for (token, name, position) in [
        (&server.tokens.recorder, "clerk", 1),
        (&server.tokens.admin, "ops", 2),
    ] {
        let (status, _, body) =
            post(&server, GRAPHQL_RESPONSE_JSON, Some(token), record.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["data"]["record"],
            json!({ "position": position, "actor": name })
        );
    }

    // A bad credential is refused before anything runs, even a query needing no role.
    let (status, _, unknown) = post(
        &server,
        GRAPHQL_RESPONSE_JSON,
        Some("kpi_not-a-real-token"),
        record.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{unknown}");
    assert_eq!(error_code(&unknown), "UNAUTHENTICATED");
    let malformed = client()
        .post(server.graphql_url())
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, format!("Basic {}", server.tokens.admin))
        .body(json!({ "query": "{ whoami }" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::UNAUTHORIZED);
    assert!(malformed.headers()[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert_eq!(head_position(&server).await, 2);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn anonymous_read_is_a_configuration_switch() {
    let closed = TestServer::start().await;
    let (_, _, refused) = post(
        &closed,
        "application/json",
        None,
        json!({ "query": "{ head }" }),
    )
    .await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED");
    closed.stop().await.unwrap();

    let open = TestServer::start_with(|config| config.anonymous_read = true).await;
    let (_, _, allowed) = post(
        &open,
        "application/json",
        None,
        json!({ "query": "{ head }" }),
    )
    .await;
    assert_eq!(allowed, json!({ "data": { "head": 0 } }));
    let (_, _, still_no_write) =
        post(&open, "application/json", None, json!({ "query": RECORD })).await;
    assert_eq!(error_code(&still_no_write), "UNAUTHENTICATED");
    open.stop().await.unwrap();
}

fn nested_query(depth: usize) -> String {
    // depth counts `nested` plus each `child`, down to the `level` leaf.
    let mut query = String::from("level");
    for _ in 1..depth {
        query = format!("child {{ {query} }}");
    }
    format!("{{ nested {{ {query} }} }}")
}

#[tokio::test]
async fn depth_and_complexity_limits_refuse_before_running() {
    let server = TestServer::start_with(|config| {
        config.limits.max_depth = NonZeroUsize::new(4).unwrap();
        config.limits.max_complexity = NonZeroUsize::new(20).unwrap();
    })
    .await;

    let (status, _, shallow) = post(
        &server,
        GRAPHQL_RESPONSE_JSON,
        None,
        json!({ "query": nested_query(3) }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{shallow}");
    assert_eq!(shallow["data"]["nested"]["child"]["child"]["level"], 3);

    let (status, _, deep) = post(
        &server,
        GRAPHQL_RESPONSE_JSON,
        None,
        json!({ "query": nested_query(6) }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{deep}");
    assert!(
        deep["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too deep"),
        "{deep}"
    );

    let wide: String = (0..25).map(|i| format!("a{i}: whoami ")).collect();
    let (status, _, complex) = post(
        &server,
        GRAPHQL_RESPONSE_JSON,
        None,
        json!({ "query": format!("{{ {wide} }}") }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{complex}");
    assert!(
        complex["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too complex"),
        "{complex}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn body_size_limit_answers_413_declared_or_streamed() {
    let server = TestServer::start_with(|config| {
        config.limits.max_body_bytes = NonZeroUsize::new(1024).unwrap();
    })
    .await;
    let padding = " ".repeat(2000);
    let big = json!({ "query": format!("{{ whoami {padding} }}") }).to_string();

    let (status, _, body) = read(
        client()
            .post(server.graphql_url())
            .header(CONTENT_TYPE, "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(error_code(&body), "PAYLOAD_TOO_LARGE");

    // Chunked encoding declares no length: the limit must hold while reading.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.addr
    );
    for chunk in big.as_bytes().chunks(500) {
        request.push_str(&format!(
            "{:x}\r\n{}\r\n",
            chunk.len(),
            std::str::from_utf8(chunk).unwrap()
        ));
    }
    request.push_str("0\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    let small = json!({ "query": "{ whoami }" }).to_string();
    let ok = client()
        .post(server.graphql_url())
        .header(CONTENT_TYPE, "application/json")
        .body(small)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn slow_requests_are_cut_off_with_504() {
    let server = TestServer::start_with(|config| {
        config.limits.request_timeout_ms = NonZeroU64::new(200).unwrap();
    })
    .await;
    let started = Instant::now();
    let (status, _, body) = post(
        &server,
        GRAPHQL_RESPONSE_JSON,
        None,
        json!({ "query": "{ slow(millis: 5000) }" }),
    )
    .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(error_code(&body), "TIMEOUT");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    let (status, _, fast) = post(
        &server,
        GRAPHQL_RESPONSE_JSON,
        None,
        json!({ "query": "{ slow(millis: 10) }" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{fast}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn probes_and_graphiql() {
    let server = TestServer::start().await;
    let http = client();

    let health = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    server.ready.store(false, Ordering::SeqCst);
    let not_ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let still_alive = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(still_alive.status(), StatusCode::OK);

    let graphiql = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(graphiql.status(), StatusCode::OK);
    assert_eq!(graphiql.headers()["cache-control"], "no-cache");
    let csp = graphiql.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self';") && csp.contains("connect-src 'self';"),
        "{csp}"
    );
    let page = graphiql.text().await.unwrap();
    assert!(
        page.contains("id=\"graphiql\"") && page.contains("/graphql/ws"),
        "{page}"
    );

    // Every asset the page loads comes from this server, embedded in the binary, with its
    // type and a year's cache (its URL carries its hash).
    let assets: Vec<&str> = page
        .split(['"', '\''])
        .filter(|part| part.starts_with("/graphiql/"))
        .collect();
    assert!(
        !page.contains("unpkg") && !page.contains("https:"),
        "{page}"
    );
    let mut kinds = Vec::new();
    for path in &assets {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert_eq!(
            headers["cache-control"], "public, max-age=31536000, immutable",
            "{path}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        let content_type = headers["content-type"].to_str().unwrap().to_owned();
        let expected = match path.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => "text/plain; charset=utf-8",
        };
        assert_eq!(content_type, expected, "{path}");
        assert!(!response.bytes().await.unwrap().is_empty(), "{path}");
        kinds.push(path.rsplit('/').next().unwrap().to_owned());
    }
    for name in [
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphiql.min.js",
        "graphiql.min.css",
        "init.js",
    ] {
        assert!(kinds.iter().any(|kind| kind == name), "{name} in {kinds:?}");
    }
    // Another build's hash, or a file that is not embedded, is not found.
    let stale = assets[0].replacen("/graphiql/", "/graphiql/0", 1);
    let stale = http.get(server.url(&stale)).send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
    let hash = assets[0].split('/').nth(2).unwrap();
    let other = http
        .get(server.url(&format!("/graphiql/{hash}/Cargo.toml")))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    server.stop().await.unwrap();
}

fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_errors_appends_and_head() {
    let server = TestServer::start().await;
    let recorder = server.tokens.recorder.clone();
    for title in ["one", "two", "three"] {
        let (status, _, body) = post(
            &server,
            "application/json",
            Some(&recorder),
            json!({ "query": format!(r#"mutation {{ record(title: "{title}") {{ position }} }}"#) }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    post(
        &server,
        GRAPHQL_RESPONSE_JSON,
        None,
        json!({ "query": "{" }),
    )
    .await;

    let response = client().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();

    assert_eq!(
        metric_value(&text, "kpi_store_head_position"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        metric_value(&text, "kpi_appends_total"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        metric_value(&text, "kpi_append_duration_seconds_count"),
        Some(3.0),
        "{text}"
    );
    assert!(
        text.contains("kpi_append_duration_seconds_bucket{le=\"0.001\"}"),
        "{text}"
    );
    assert!(
        metric_value(
            &text,
            r#"kpi_http_requests_total{endpoint="graphql",status="200"}"#
        )
        .is_some_and(|count| count >= 3.0),
        "{text}"
    );
    assert!(
        metric_value(&text, r#"kpi_graphql_errors_total{kind="request"}"#)
            .is_some_and(|count| count >= 1.0),
        "{text}"
    );
    assert!(
        text.contains("# TYPE kpi_http_request_duration_seconds histogram"),
        "{text}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_then_stops_accepting() {
    let mut server = TestServer::start().await;
    let url = server.graphql_url();
    let in_flight = tokio::spawn(async move {
        let response = client()
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(json!({ "query": "{ slow(millis: 700) }" }).to_string())
            .send()
            .await
            .unwrap();
        read(response).await
    });
    // Let the request reach the resolver before shutdown begins.
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.begin_shutdown();

    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["slow"], 700);

    let addr = server.addr;
    server
        .stop()
        .await
        .expect("serve returns Ok after a graceful shutdown");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the port no longer accepts connections"
    );
}

#[tokio::test]
async fn graphiql_introspection_fits_the_default_limits() {
    let server = TestServer::start().await;
    let query = include_str!("server_support/introspection.graphql");
    let (status, _, body) = post(
        &server,
        GRAPHQL_RESPONSE_JSON,
        Some(&server.tokens.reader),
        json!({ "query": query, "operationName": "IntrospectionQuery" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["__schema"]["queryType"]["name"], "Query",
        "{body}"
    );
    assert_eq!(body["data"]["__schema"]["mutationType"]["name"], "Mutation");
    server.stop().await.unwrap();
}
