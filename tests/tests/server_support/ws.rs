//! A graphql-transport-ws client for the server tests, on tokio-tungstenite.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::TestServer;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn connect(
    server: &TestServer,
    header_token: Option<&str>,
) -> Result<Socket, StatusCode> {
    connect_to(&server.url("/graphql/ws"), header_token).await
}

/// Opens `url` (`http://host:port/graphql/ws`) with the graphql-transport-ws protocol and, if
/// given, a bearer token in the upgrade request; the refusal's status otherwise.
pub async fn connect_to(url: &str, header_token: Option<&str>) -> Result<Socket, StatusCode> {
    let mut request = url
        .replace("http://", "ws://")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    if let Some(token) = header_token {
        request
            .headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status()),
        Err(other) => panic!("websocket connect failed: {other}"),
    }
}

pub async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

/// The next protocol message, or the close frame's code and reason.
pub async fn receive(socket: &mut Socket) -> Result<Value, (u16, String)> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("the server answers within 5 s")
            .expect("the socket stays open until closed")
            .unwrap();
        match message {
            Message::Text(text) => return Ok(serde_json::from_str(&text).unwrap()),
            Message::Close(frame) => {
                let frame = frame.expect("close frames carry a reason");
                return Err((frame.code.into(), frame.reason.to_string()));
            }
            _ => continue,
        }
    }
}

pub async fn init(socket: &mut Socket, payload: Value) -> Result<Value, (u16, String)> {
    send(
        socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    receive(socket).await
}

/// Subscribes to `ticks(count: 3)` and collects what arrives until `complete`.
pub async fn ticks(socket: &mut Socket) -> Vec<Value> {
    send(
        socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { ticks(count: 3) }" } }),
    )
    .await;
    let mut received = Vec::new();
    loop {
        let message = receive(socket).await.unwrap();
        match message["type"].as_str() {
            Some("complete") => return received,
            Some("next") | Some("error") => received.push(message),
            other => panic!("unexpected {other:?}: {message}"),
        }
    }
}
