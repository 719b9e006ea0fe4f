//! A GraphQL websocket client (`graphql-transport-ws`) of a running server, for the tests of
//! subscriptions through the binary.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::DemoServer;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next message on `socket` within 5 s: a protocol message, or the close code and reason.
pub async fn next(socket: &mut Socket) -> Result<Value, (u16, String)> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("the server speaks within 5 s")
            .expect("the socket ends with a close frame")
            .unwrap();
        match message {
            Message::Text(text) => return Ok(serde_json::from_str(&text).unwrap()),
            Message::Close(Some(frame)) => {
                return Err((frame.code.into(), frame.reason.to_string()))
            }
            Message::Close(None) => return Err((1005, String::new())),
            _ => continue,
        }
    }
}

/// A websocket admitted by `token` (in `connection_init`) with `subscription` subscribed as
/// id `events`.
pub async fn subscribed(server: &DemoServer, token: &str, subscription: &str) -> Socket {
    let mut request = server
        .url("/graphql/ws")
        .replace("http://", "ws://")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::text(init.to_string())).await.unwrap();
    assert_eq!(next(&mut socket).await.unwrap()["type"], "connection_ack");
    let subscribe = json!({ "id": "events", "type": "subscribe",
        "payload": { "query": subscription } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    socket
}
