//! Subscriptions over websocket (graphql-transport-ws) with authentication from the
//! `connection_init` payload or the upgrade request's header.

mod server_support;

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use server_support::ws::{connect, init, receive, send, ticks};
use server_support::TestServer;
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn token_in_connection_init_payload_authenticates() {
    let server = TestServer::start().await;
    let mut socket = connect(&server, None).await.unwrap();
    let ack = init(
        &mut socket,
        json!({ "Authorization": format!("Bearer {}", server.tokens.reader) }),
    )
    .await
    .unwrap();
    assert_eq!(ack["type"], "connection_ack");

    let received = ticks(&mut socket).await;
    let values: Vec<_> = received
        .iter()
        .map(|message| message["payload"]["data"]["ticks"].clone())
        .collect();
    assert_eq!(values, vec![json!(1), json!(2), json!(3)], "{received:?}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn token_in_upgrade_header_authenticates() {
    let server = TestServer::start().await;
    let mut socket = connect(&server, Some(&server.tokens.admin)).await.unwrap();
    assert_eq!(
        init(&mut socket, json!({})).await.unwrap()["type"],
        "connection_ack"
    );
    let received = ticks(&mut socket).await;
    assert_eq!(received.len(), 3, "{received:?}");
    assert_eq!(received[2]["payload"]["data"]["ticks"], 3);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn anonymous_subscription_is_refused_unless_anonymous_read() {
    let server = TestServer::start().await;
    let mut socket = connect(&server, None).await.unwrap();
    assert_eq!(
        init(&mut socket, json!({})).await.unwrap()["type"],
        "connection_ack"
    );
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { ticks(count: 3) }" } }),
    )
    .await;
    let refused = receive(&mut socket).await.unwrap();
    let error = if refused["type"] == "error" {
        refused["payload"][0].clone()
    } else {
        refused["payload"]["errors"][0].clone()
    };
    assert_eq!(error["extensions"]["code"], "UNAUTHENTICATED", "{refused}");
    server.stop().await.unwrap();

    let open = TestServer::start_with(|config| config.anonymous_read = true).await;
    let mut socket = connect(&open, None).await.unwrap();
    assert_eq!(
        init(&mut socket, Value::Null).await.unwrap()["type"],
        "connection_ack"
    );
    assert_eq!(ticks(&mut socket).await.len(), 3);
    open.stop().await.unwrap();
}

#[tokio::test]
async fn bad_credentials_refuse_the_connection() {
    let server = TestServer::start().await;

    let mut socket = connect(&server, None).await.unwrap();
    let (code, reason) = init(&mut socket, json!({ "Authorization": "Bearer kpi_forged" }))
        .await
        .expect_err("an unknown token gets no connection_ack");
    assert_eq!(code, 1002);
    assert!(reason.contains("unknown"), "{reason}");

    let mut socket = connect(&server, None).await.unwrap();
    let (_, reason) = init(&mut socket, json!({ "Authorization": 42 }))
        .await
        .expect_err("a non-string credential gets no connection_ack");
    assert!(reason.contains("Bearer"), "{reason}");

    let refused = connect(&server, Some("kpi_forged")).await.err();
    assert_eq!(refused, Some(StatusCode::UNAUTHORIZED));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn oversized_messages_close_the_socket() {
    let server = TestServer::start_with(|config| {
        config.limits.max_body_bytes = std::num::NonZeroUsize::new(1024).unwrap();
    })
    .await;
    let mut socket = connect(&server, Some(&server.tokens.reader)).await.unwrap();
    assert_eq!(
        init(&mut socket, json!({})).await.unwrap()["type"],
        "connection_ack"
    );
    let padding = " ".repeat(4096);
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": format!("subscription {{ ticks(count: 1) {padding} }}") } }),
    )
    .await;
    // The server drops the connection instead of reading the message.
    let next = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("the server reacts within 5 s");
    assert!(
        !matches!(next, Some(Ok(Message::Text(_)))),
        "an oversized message must not be executed: {next:?}"
    );
    server.stop().await.unwrap();
}

/// A shutdown says goodbye on every open socket with 1001 "going away" instead of dropping
/// the connection (1006 at the client), and the server still stops promptly.
#[tokio::test]
async fn shutdown_closes_open_sockets_with_going_away() {
    let mut server = TestServer::start().await;
    let mut socket = connect(&server, Some(&server.tokens.reader)).await.unwrap();
    assert_eq!(
        init(&mut socket, json!({})).await.unwrap()["type"],
        "connection_ack"
    );
    server.begin_shutdown();
    let (code, reason) = receive(&mut socket)
        .await
        .expect_err("the server closes the socket");
    assert_eq!(code, 1001, "{reason}");
    assert!(reason.contains("shutting down"), "{reason}");
    server.stop().await.unwrap();
}
