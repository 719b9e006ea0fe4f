//! Following other processes' commits: LISTEN on the log's channel, and wake the writer.

use parking_lot::RwLock;
use tokio::sync::mpsc;

use super::{describe, pg_error, LOG_CHANNEL};
use crate::error::StoreError;
use crate::types::Head;

/// How long the listener waits before it reconnects after its connection failed.
const LISTEN_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Listens on [`LOG_CHANNEL`] and wakes the writer when a commit moved the log beyond
/// `head` (another process's, usually: our own commits move `head` first). Correctness never
/// rests on a notification: the writer catches up by position from the head row, at every
/// commit group and at every wake; a notification only makes it sooner. After the
/// connection failed it reconnects, and wakes the writer once (whatever was notified
/// meanwhile is caught up). Ends when the writer does.
pub(crate) async fn listen(
    pg: tokio_postgres::Config,
    head: std::sync::Arc<RwLock<Head>>,
    wake: mpsc::UnboundedSender<()>,
) {
    loop {
        let error = tokio::select! {
            () = wake.closed() => return,
            ended = listen_once(&pg, &head, &wake) => match ended {
                Ok(()) => return,
                Err(error) => error,
            },
        };
        tracing::warn!(%error, "listening for other processes' appends failed; reconnecting");
        tokio::select! {
            () = wake.closed() => return,
            () = tokio::time::sleep(LISTEN_RETRY) => {}
        }
    }
}

async fn listen_once(
    pg: &tokio_postgres::Config,
    head: &RwLock<Head>,
    wake: &mpsc::UnboundedSender<()>,
) -> Result<(), StoreError> {
    use futures::StreamExt as _;
    let (client, mut connection) = pg.connect(tokio_postgres::NoTls).await.map_err(pg_error)?;
    let (notified, mut notifications) = mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(notification)) => {
                    if notified.send(notification.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => return describe(&error),
            }
        }
        "the connection ended".to_owned()
    });
    let listening = client
        .batch_execute(&format!("LISTEN {LOG_CHANNEL}"))
        .await
        .map_err(pg_error);
    if let Err(error) = listening {
        driver.abort();
        return Err(error);
    }
    if wake.send(()).is_err() {
        return Ok(());
    }
    while let Some(payload) = notifications.recv().await {
        let position = payload.parse::<u64>().unwrap_or(u64::MAX);
        let ours = head.read().position;
        if position > ours && wake.send(()).is_err() {
            return Ok(());
        }
    }
    drop(client);
    let reason = driver.await.unwrap_or_else(|error| error.to_string());
    Err(StoreError::Unavailable {
        reason: format!("PostgreSQL LISTEN connection: {reason}"),
        retry_in_secs: Some(LISTEN_RETRY.as_secs()),
    })
}
