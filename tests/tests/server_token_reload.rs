//! Token settings replaced while the server runs (what SIGHUP does in the binary): the next
//! HTTP request is judged by them, and an open websocket whose token no longer admits it is
//! closed with 4403 and the reason, while the others stay open and served.

mod server_support;

use kpi_server::{new_token, ServerConfig, TokenHash};
use kpi_service::auth::Role;
use serde_json::{json, Value};
use server_support::ws::{connect, init, receive, send, ticks, Socket};
use server_support::TestServer;

/// POSTs `query` with `token` (if any) through `http`: the status and the JSON answer.
async fn post(
    server: &TestServer,
    http: &reqwest::Client,
    token: Option<&str>,
    query: &str,
) -> (u16, Value) {
    let mut request = http
        .post(server.graphql_url())
        .json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// A socket admitted by `header` or `payload`, with an open subscription that sends nothing.
async fn subscribed(server: &TestServer, header: Option<&str>, payload: Value) -> Socket {
    let mut socket = connect(server, header).await.unwrap();
    let ack = init(&mut socket, payload).await.unwrap();
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    send(
        &mut socket,
        json!({ "id": "open", "type": "subscribe", "payload": { "query": "subscription { silence }" } }),
    )
    .await;
    socket
}

/// The close code and reason the server ends `socket` with; the subscription must have sent
/// nothing before (an error would show it was never open).
async fn closed(socket: &mut Socket) -> (u16, String) {
    match receive(socket).await {
        Err(close) => close,
        Ok(message) => panic!("expected the socket to close, got {message}"),
    }
}

fn without(config: &ServerConfig, name: &str) -> ServerConfig {
    let mut next = config.clone();
    next.tokens.retain(|entry| entry.name.as_str() != name);
    next
}

#[tokio::test]
async fn added_and_revoked_tokens_take_effect_on_the_next_request() {
    let server = TestServer::start().await;
    // One client throughout: its kept-alive connection does not keep the old settings.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let reader = server.tokens.reader.clone();
    let night = new_token(Role::Recorder, "night").unwrap();
    let (status, body) = post(&server, &http, Some(&reader), "{ head }").await;
    assert_eq!((status, &body["data"]["head"]), (200, &json!(0)), "{body}");
    let (status, body) = post(&server, &http, Some(&night.token), "{ head }").await;
    assert_eq!(status, 401, "{body}");

    let mut next = without(&server.config, "viewer");
    next.tokens.push(night.entry.clone());
    let changes = server.auth.reload(&next).unwrap();
    assert_eq!(
        changes.to_string(),
        "added night (recorder); revoked viewer"
    );

    let (status, body) = post(&server, &http, Some(&reader), "{ head }").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    let (status, body) = post(
        &server,
        &http,
        Some(&night.token),
        "mutation { record(title: \"after the reload\") { position actor } }",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["record"]["actor"], "night", "{body}");

    // The /metrics token is a token setting too.
    let metrics = new_token(Role::Reader, "prometheus").unwrap();
    next.metrics_token_sha256 = Some(metrics.entry.sha256);
    let changes = server.auth.reload(&next).unwrap();
    assert!(changes.metrics_token, "{changes}");
    let scrape = |token: Option<String>| {
        let mut request = http.get(server.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(scrape(None).await, 401);
    assert_eq!(scrape(Some(metrics.token.clone())).await, 200);
    next.metrics_token_sha256 = Some(TokenHash::parse_hex(&"0".repeat(64)).unwrap());
    server.auth.reload(&next).unwrap();
    assert_eq!(scrape(Some(metrics.token)).await, 401);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn revoking_a_token_closes_the_websockets_it_opened_and_only_those() {
    let server = TestServer::start().await;
    let reader = server.tokens.reader.clone();
    let mut by_payload = subscribed(
        &server,
        None,
        json!({ "Authorization": format!("Bearer {reader}") }),
    )
    .await;
    let mut by_header = subscribed(&server, Some(&reader), json!({})).await;
    let mut other = subscribed(&server, Some(&server.tokens.recorder), json!({})).await;

    server
        .auth
        .reload(&without(&server.config, "viewer"))
        .unwrap();
    for socket in [&mut by_payload, &mut by_header] {
        assert_eq!(
            closed(socket).await,
            (4403, "the token `viewer` was revoked".to_owned())
        );
    }
    // The recorder's socket is untouched: its open subscription stays, a new one is served.
    let received = ticks(&mut other).await;
    assert_eq!(received.len(), 3, "{received:?}");

    // Upgraded with a token that is revoked before `connection_init`: no connection.
    let renewed = new_token(Role::Recorder, "clerk").unwrap();
    let mut late = connect(&server, Some(&server.tokens.recorder))
        .await
        .unwrap();
    let mut next = without(&server.config, "viewer");
    next.tokens = next
        .tokens
        .into_iter()
        .map(|entry| match entry.name.as_str() {
            "clerk" => renewed.entry.clone(),
            _ => entry,
        })
        .collect();
    assert_eq!(
        server.auth.reload(&next).unwrap().to_string(),
        "new token for clerk"
    );
    let (_, reason) = init(&mut late, json!({}))
        .await
        .expect_err("a revoked token gets no connection_ack");
    assert_eq!(reason, "the token `clerk` was revoked");
    assert_eq!(
        closed(&mut other).await,
        (4403, "the token `clerk` was revoked".to_owned())
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_lower_role_or_anonymous_read_switched_off_closes_sockets() {
    let server = TestServer::start_with(|config| config.anonymous_read = true).await;
    let mut anonymous = subscribed(&server, None, json!({})).await;
    let mut admin = subscribed(&server, Some(&server.tokens.admin), json!({})).await;
    let mut recorder = subscribed(&server, Some(&server.tokens.recorder), json!({})).await;

    let mut next = server.config.clone();
    next.anonymous_read = false;
    for entry in &mut next.tokens {
        entry.role = match entry.role {
            Role::Admin => Role::Recorder,
            Role::Recorder => Role::Admin,
            Role::Reader => Role::Reader,
        };
    }
    let changes = server.auth.reload(&next).unwrap();
    assert_eq!(
        changes.to_string(),
        "clerk: role recorder -> admin; ops: role admin -> recorder; anonymous_read off"
    );
    assert_eq!(
        closed(&mut anonymous).await,
        (4403, "anonymous read was switched off".to_owned())
    );
    assert_eq!(
        closed(&mut admin).await,
        (4403, "the token `ops` now has the role recorder".to_owned())
    );
    // A higher role keeps the socket open, with the role it was opened with.
    assert_eq!(ticks(&mut recorder).await.len(), 3);
    server.stop().await.unwrap();
}
