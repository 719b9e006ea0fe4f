//! Subscriptions over websocket (graphql-transport-ws, and the legacy graphql-ws), with the
//! caller established from the upgrade request's `Authorization` header or, as browsers cannot
//! set headers on websockets, from the `connection_init` payload.

use std::sync::Arc;

use async_graphql::{Data, Executor};
use async_graphql_poem::{GraphQLProtocol, GraphQLWebSocket};
use futures::{SinkExt, StreamExt};
use kpi_access::Caller;
use poem::http::{header, StatusCode};
use poem::web::websocket::{Message, WebSocket, WebSocketConfig};
use poem::{Endpoint, FromRequest, IntoResponse, Request, Response};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Authenticator;

pub(crate) struct Subscriptions<E> {
    pub executor: E,
    pub auth: Arc<Authenticator>,
    /// Largest websocket message accepted, the same cap as an HTTP request body.
    pub max_message_bytes: usize,
    /// Cancelled when the server shuts down: every open socket is then closed with 1001.
    pub stopping: CancellationToken,
    /// The open sockets, so shutdown can wait for their goodbyes (they outlive the HTTP
    /// connection that was upgraded, which is all the server's graceful stop waits for).
    pub sockets: TaskTracker,
}

impl<E: Executor> Endpoint for Subscriptions<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let (req, mut body) = req.split();
        let websocket = WebSocket::from_request(&req, &mut body).await?;
        let protocol = GraphQLProtocol::from_request(&req, &mut body).await?;
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|value| value.to_str().unwrap_or_default());
        let header_caller = match self.auth.from_header(header) {
            Ok(caller) => caller,
            Err(failure) => {
                return Ok(Response::builder()
                    .status(StatusCode::UNAUTHORIZED)
                    .header(header::WWW_AUTHENTICATE, "Bearer realm=\"kpi-ledger\"")
                    .body(failure.to_string()))
            }
        };
        let executor = self.executor.clone();
        let auth = self.auth.clone();
        let stopping = self.stopping.clone();
        let sockets = self.sockets.clone();
        let config = WebSocketConfig::default()
            .max_message_size(Some(self.max_message_bytes))
            .max_frame_size(Some(self.max_message_bytes));
        Ok(websocket
            .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
            .config(config)
            .on_upgrade(move |socket| {
                sockets.track_future(async move {
                    let (mut sink, incoming) = socket.split();
                    // At shutdown the client's side of the conversation ends here, which ends
                    // the GraphQL session and its subscriptions.
                    let incoming = incoming.take_until(stopping.clone().cancelled_owned());
                    GraphQLWebSocket::new_with_pair(&mut sink, incoming, executor, protocol)
                        .on_connection_init(move |payload| async move {
                            let caller = caller_from_init(&auth, &payload, header_caller)?;
                            tracing::debug!(?caller, "websocket connection initialised");
                            let mut data = Data::default();
                            data.insert(caller);
                            Ok(data)
                        })
                        .serve()
                        .await;
                    if stopping.is_cancelled() {
                        // 1001 "going away" (RFC 6455): clients may reconnect elsewhere or
                        // later, instead of seeing an abnormal closure (1006).
                        let _ = sink
                            .send(Message::close_with(1001u16, "server shutting down"))
                            .await;
                    }
                    let _ = sink.close().await;
                })
            })
            .into_response())
    }
}

/// A token in the `connection_init` payload takes precedence over the upgrade header; an
/// invalid one refuses the connection (the socket closes with the reason).
fn caller_from_init(
    auth: &Authenticator,
    payload: &serde_json::Value,
    header_caller: Caller,
) -> async_graphql::Result<Caller> {
    let presented = payload.as_object().and_then(|fields| {
        fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
            .map(|(_, value)| value)
    });
    match presented {
        None | Some(serde_json::Value::Null) => Ok(header_caller),
        Some(serde_json::Value::String(value)) => auth
            .from_header(Some(value))
            .map_err(|failure| async_graphql::Error::new(failure.to_string())),
        Some(_) => Err(async_graphql::Error::new(
            "connection_init payload `Authorization` must be the string `Bearer <token>`",
        )),
    }
}
