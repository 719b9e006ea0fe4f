//! What is open without a token when `anonymous_read` is off: introspection follows the read
//! rule (or `server.introspection`), browsers on foreign origins are refused (CORS and
//! websocket upgrades), `/metrics` can be kept behind a token, and the probes stay open.

mod server_support;

use futures::{SinkExt, StreamExt};
use kpi_server::{new_token, AllowedOrigin, Introspection};
use kpi_service::auth::Role;
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, CONTENT_TYPE,
    ORIGIN, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use server_support::{client, TestServer};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const SCHEMA_QUERY: &str = "{ __schema { queryType { name } } }";
const LISTED: &str = "https://dashboard.example.org";
const FOREIGN: &str = "https://evil.example";

async fn graphql(
    server: &TestServer,
    token: Option<&str>,
    origin: Option<&str>,
    query: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = client()
        .post(server.graphql_url())
        .header(CONTENT_TYPE, "application/json")
        .body(json!({ "query": query }).to_string());
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(origin) = origin {
        request = request.header(ORIGIN, origin);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

#[tokio::test]
async fn anonymous_introspection_is_refused_when_anonymous_read_is_off() {
    let server = TestServer::start().await;

    let (status, headers, body) = graphql(&server, None, None, SCHEMA_QUERY).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(headers.contains_key(WWW_AUTHENTICATE));
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert!(body.get("data").is_none(), "{body}");
    let (status, _, body) = graphql(
        &server,
        None,
        None,
        "{ ...F } fragment F on Query { __type(name: \"Query\") { name } }",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // GET is held to the same rule.
    let get = client()
        .get(server.graphql_url())
        .query(&[("query", SCHEMA_QUERY)])
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::UNAUTHORIZED);

    // `__typename` is not introspection of the schema.
    let (status, _, body) = graphql(&server, None, None, "{ __typename }").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["__typename"], "Query");

    // Any token reads the schema.
    let (status, _, body) = graphql(&server, Some(&server.tokens.reader), None, SCHEMA_QUERY).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    server.stop().await.unwrap();

    // With anonymous read on, anyone may read the schema too.
    let open = TestServer::start_with(|config| config.anonymous_read = true).await;
    let (status, _, body) = graphql(&open, None, None, SCHEMA_QUERY).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    open.stop().await.unwrap();
}

#[tokio::test]
async fn introspection_public_and_off() {
    let public =
        TestServer::start_with(|config| config.introspection = Introspection::Public).await;
    let (status, _, body) = graphql(&public, None, None, SCHEMA_QUERY).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    public.stop().await.unwrap();

    let off = TestServer::start_with(|config| config.introspection = Introspection::Off).await;
    let (status, _, body) = graphql(&off, Some(&off.tokens.admin), None, SCHEMA_QUERY).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_code(&body), "FORBIDDEN");
    // Other queries are unaffected; GraphiQL, useless without a schema, is not served.
    let (status, _, body) = graphql(&off, Some(&off.tokens.admin), None, "{ head }").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page = client().get(off.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    // Nor are its assets, whatever their hash.
    let served = TestServer::start().await;
    let page = client().get(served.url("/")).send().await.unwrap();
    let page = page.text().await.unwrap();
    let asset = page
        .split('"')
        .find(|part| part.starts_with("/graphiql/"))
        .expect("the page links its assets")
        .to_owned();
    let found = client().get(served.url(&asset)).send().await.unwrap();
    assert_eq!(found.status(), StatusCode::OK, "{asset}");
    let missing = client().get(off.url(&asset)).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND, "{asset}");
    served.stop().await.unwrap();
    off.stop().await.unwrap();
}

/// GraphiQL's page is static and holds no data, so it is served to anyone; the schema it
/// loads needs a token (entered in its Headers pane).
#[tokio::test]
async fn graphiql_is_served_but_its_schema_needs_a_token() {
    let server = TestServer::start().await;
    let page = client().get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let own_origin = format!("http://{}", server.addr);
    let (status, _, _) = graphql(&server, None, Some(&own_origin), SCHEMA_QUERY).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = graphql(
        &server,
        Some(&server.tokens.reader),
        Some(&own_origin),
        SCHEMA_QUERY,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.stop().await.unwrap();
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn connect(server: &TestServer, origin: Option<&str>) -> Result<Socket, StatusCode> {
    let mut request = server
        .url("/graphql/ws")
        .replace("http://", "ws://")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(StatusCode::from_u16(response.status().as_u16()).unwrap())
        }
        Err(other) => panic!("websocket connect failed: {other}"),
    }
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

async fn receive(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("the server answers within 10 s")
            .expect("the socket stays open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
        assert!(!message.is_close(), "closed: {message:?}");
    }
}

#[tokio::test]
async fn websocket_upgrades_from_foreign_origins_are_refused() {
    let server = TestServer::start_with(|config| {
        config.allowed_origins = vec![AllowedOrigin::parse(LISTED).unwrap()];
    })
    .await;
    assert_eq!(
        connect(&server, Some(FOREIGN)).await.err(),
        Some(StatusCode::FORBIDDEN)
    );
    assert_eq!(
        connect(&server, Some("null")).await.err(),
        Some(StatusCode::FORBIDDEN)
    );
    // A listed origin, the server's own, and a non-browser client (no Origin) are accepted.
    let own = format!("http://{}", server.addr);
    for origin in [Some(LISTED), Some(own.as_str()), None] {
        let mut socket = connect(&server, origin)
            .await
            .unwrap_or_else(|status| panic!("{origin:?} refused with {status}"));
        send(
            &mut socket,
            json!({ "type": "connection_init", "payload": {} }),
        )
        .await;
        assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    }
    server.stop().await.unwrap();

    // With no origin listed (the default), a foreign one is refused all the same.
    let default = TestServer::start().await;
    assert_eq!(
        connect(&default, Some(LISTED)).await.err(),
        Some(StatusCode::FORBIDDEN)
    );
    default.stop().await.unwrap();
}

#[tokio::test]
async fn introspection_over_websocket_follows_the_read_rule() {
    let server = TestServer::start().await;
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": SCHEMA_QUERY } });

    let mut anonymous = connect(&server, None).await.unwrap();
    send(
        &mut anonymous,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    assert_eq!(receive(&mut anonymous).await["type"], "connection_ack");
    send(&mut anonymous, subscribe.clone()).await;
    let refused = receive(&mut anonymous).await;
    let error = if refused["type"] == "error" {
        refused["payload"][0].clone()
    } else {
        refused["payload"]["errors"][0].clone()
    };
    assert_eq!(error["extensions"]["code"], "UNAUTHENTICATED", "{refused}");
    assert!(refused["payload"]["data"].is_null(), "{refused}");

    let mut reader = connect(&server, None).await.unwrap();
    send(
        &mut reader,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", server.tokens.reader) } }),
    )
    .await;
    assert_eq!(receive(&mut reader).await["type"], "connection_ack");
    send(&mut reader, subscribe).await;
    let answer = receive(&mut reader).await;
    assert_eq!(
        answer["payload"]["data"]["__schema"]["queryType"]["name"], "Query",
        "{answer}"
    );
    server.stop().await.unwrap();
}

async fn preflight(server: &TestServer, origin: &str) -> reqwest::Response {
    client()
        .request(Method::OPTIONS, server.graphql_url())
        .header(ORIGIN, origin)
        .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_answers_only_listed_origins() {
    // By default no origin is listed: no cross-origin browser access at all.
    let server = TestServer::start().await;
    let refused = preflight(&server, FOREIGN).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(!refused.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    let (status, headers, _) = graphql(
        &server,
        Some(&server.tokens.reader),
        Some(FOREIGN),
        "{ head }",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    // Same-origin (a page served by this server) and non-browser clients are served.
    let own = format!("http://{}", server.addr);
    let (status, headers, body) =
        graphql(&server, Some(&server.tokens.reader), Some(&own), "{ head }").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    let (status, _, body) = graphql(&server, Some(&server.tokens.reader), None, "{ head }").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.stop().await.unwrap();

    let server = TestServer::start_with(|config| {
        config.allowed_origins = vec![AllowedOrigin::parse(LISTED).unwrap()];
    })
    .await;
    let refused = preflight(&server, FOREIGN).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(!refused.headers().contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));

    let allowed = preflight(&server, LISTED).await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let header = |name| {
        allowed
            .headers()
            .get(name)
            .map(|value: &reqwest::header::HeaderValue| value.to_str().unwrap().to_lowercase())
            .unwrap_or_default()
    };
    assert_eq!(header(ACCESS_CONTROL_ALLOW_ORIGIN), LISTED);
    assert!(header(ACCESS_CONTROL_ALLOW_METHODS).contains("post"));
    assert!(header(ACCESS_CONTROL_ALLOW_HEADERS).contains("authorization"));

    let (status, headers, body) = graphql(
        &server,
        Some(&server.tokens.reader),
        Some(LISTED),
        "{ head }",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], LISTED);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn metrics_can_need_a_token_and_probes_stay_open() {
    // Open by default.
    let server = TestServer::start().await;
    let metrics = client().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    server.stop().await.unwrap();

    let scraper = new_token(Role::Reader, "prometheus").unwrap();
    let server = TestServer::start_with(|config| {
        config.metrics_token_sha256 = Some(scraper.entry.sha256);
    })
    .await;
    let scrape = |token: Option<String>| {
        let mut request = client().get(server.url("/metrics"));
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        request.send()
    };
    let anonymous = scrape(None).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().contains_key(WWW_AUTHENTICATE));
    // A GraphQL token, even an admin's, is not the metrics token.
    let admin = scrape(Some(server.tokens.admin.clone())).await.unwrap();
    assert_eq!(admin.status(), StatusCode::UNAUTHORIZED);
    let scraped = scrape(Some(scraper.token.clone())).await.unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(scraped
        .text()
        .await
        .unwrap()
        .contains("kpi_store_head_position"));

    // Probes answer anyone, from any origin.
    for path in ["/healthz", "/readyz"] {
        for origin in [None, Some(FOREIGN)] {
            let mut request = client().get(server.url(path));
            if let Some(origin) = origin {
                request = request.header(ORIGIN, origin);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path} from {origin:?}");
        }
    }
    server.stop().await.unwrap();
}
