//! Subscriptions over websocket (graphql-transport-ws, and the legacy graphql-ws), with the
//! caller established from the upgrade request's `Authorization` header or, as browsers cannot
//! set headers on websockets, from the `connection_init` payload. A connection remembers which
//! token admitted it; when a reload revokes that token, lowers its role or switches anonymous
//! read off, the connection is closed with 4403 and the reason.

use std::sync::{Arc, OnceLock};

use async_graphql::{Data, Executor};
use async_graphql_poem::{GraphQLProtocol, GraphQLWebSocket};
use futures::{SinkExt, StreamExt};
use poem::http::{header, StatusCode};
use poem::web::websocket::{Message, WebSocket, WebSocketConfig};
use poem::{Endpoint, FromRequest, IntoResponse, Request, Response};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{Admission, Authenticator};
use crate::reload::AuthHandle;

/// The close code of a connection whose token no longer admits it: graphql-transport-ws's
/// "Forbidden", which it also uses when `connection_init` is refused.
pub(crate) const CLOSE_REVOKED: u16 = 4403;

pub(crate) struct Subscriptions<E> {
    pub executor: E,
    pub auth: AuthHandle,
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
        let header_admission = match self.auth.current().admit_header(header) {
            Ok(admission) => admission,
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
                    // Whom `connection_init` admitted; none until it arrives.
                    let (admitted, admission) = watch::channel(None);
                    let revoked = Arc::new(OnceLock::new());
                    let ending = {
                        let (stopping, revoked) = (stopping.clone(), revoked.clone());
                        let changes = auth.subscribe();
                        async move {
                            tokio::select! {
                                () = stopping.cancelled_owned() => {}
                                reason = revocation(changes, admission) => {
                                    let _ = revoked.set(reason);
                                }
                            }
                        }
                    };
                    // At shutdown, or when the token is revoked, the client's side of the
                    // conversation ends here, which ends the GraphQL session and its
                    // subscriptions.
                    let incoming = incoming.take_until(ending);
                    let init = admitted.clone();
                    GraphQLWebSocket::new_with_pair(&mut sink, incoming, executor, protocol)
                        .on_connection_init(move |payload| async move {
                            let admission =
                                admission_from_init(&auth.current(), &payload, header_admission)?;
                            tracing::debug!(caller = ?admission.caller, "websocket connection initialised");
                            let mut data = Data::default();
                            data.insert(admission.caller.clone());
                            init.send_replace(Some(admission));
                            Ok(data)
                        })
                        .serve()
                        .await;
                    drop(admitted);
                    if let Some(reason) = revoked.get() {
                        tracing::info!(%reason, "websocket closed: its token no longer admits it");
                        let _ = sink
                            .send(Message::close_with(CLOSE_REVOKED, reason.clone()))
                            .await;
                    } else if stopping.is_cancelled() {
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

/// Resolves, with the reason, once the settings in force no longer admit the connection as
/// it was admitted: re-judged whenever the settings are replaced, and when `connection_init`
/// admits it (settings may have been replaced while it was being judged).
async fn revocation(
    mut settings: watch::Receiver<Arc<Authenticator>>,
    mut admission: watch::Receiver<Option<Admission>>,
) -> String {
    loop {
        let reason = {
            let admission = admission.borrow_and_update();
            let settings = settings.borrow_and_update();
            admission
                .as_ref()
                .and_then(|admission| settings.revocation(admission))
        };
        if let Some(reason) = reason {
            return reason;
        }
        // Either sender outlives the connection's session; should one go, nothing can
        // revoke the connection any more.
        tokio::select! {
            changed = settings.changed() => if changed.is_err() { std::future::pending::<()>().await },
            changed = admission.changed() => if changed.is_err() { std::future::pending::<()>().await },
        }
    }
}

/// A token in the `connection_init` payload takes precedence over the upgrade header; an
/// invalid one refuses the connection (the socket closes with the reason), and so does an
/// upgrade header whose token was revoked since the upgrade.
fn admission_from_init(
    auth: &Authenticator,
    payload: &serde_json::Value,
    header_admission: Admission,
) -> async_graphql::Result<Admission> {
    let presented = payload.as_object().and_then(|fields| {
        fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
            .map(|(_, value)| value)
    });
    match presented {
        None | Some(serde_json::Value::Null) => match auth.revocation(&header_admission) {
            Some(reason) => Err(async_graphql::Error::new(reason)),
            None => Ok(header_admission),
        },
        Some(serde_json::Value::String(value)) => auth
            .admit_header(Some(value))
            .map_err(|failure| async_graphql::Error::new(failure.to_string())),
        Some(_) => Err(async_graphql::Error::new(
            "connection_init payload `Authorization` must be the string `Bearer <token>`",
        )),
    }
}
