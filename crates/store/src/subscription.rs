//! Catch-up subscriptions: stored events first, then live ones, with no gap or duplicate.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::error::StoreError;
use crate::storage::StorageStatus;
use crate::types::Envelope;

/// What a subscription reads stored events from, whichever backend holds them.
pub(crate) trait LogSource: Send + Sync + 'static {
    /// Up to `limit` events from `from_position` on, up to the head (blocking).
    fn read_from(&self, from_position: u64, limit: usize) -> Result<Vec<Envelope>, StoreError>;
    /// Told of every change of the storage's status.
    fn storage_changes(&self) -> tokio::sync::watch::Receiver<StorageStatus>;
}

/// How many stored events one blocking read fetches while catching up.
const CATCH_UP_CHUNK: usize = 1_024;
/// How long a catch-up read the storage's failure stopped waits, once the storage is
/// available again, before it reads again.
const STORAGE_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);
/// How often a subscription waiting for the storage looks whether the store closed.
const STORE_CLOSED_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

enum Mode {
    /// Reading stored events; switches to `Live` when a read comes back empty.
    CatchUp,
    Live,
    Done,
}

struct Subscription {
    shared: Arc<dyn LogSource>,
    /// `None` when the store was already closed at subscribe time: only stored events follow.
    live: Option<broadcast::Receiver<Arc<[Envelope]>>>,
    next_position: u64,
    ready: VecDeque<Envelope>,
    mode: Mode,
}

/// `live` must have been subscribed before this reads anything from the store.
pub(crate) fn catch_up(
    shared: Arc<dyn LogSource>,
    live: Option<broadcast::Receiver<Arc<[Envelope]>>>,
    from_position: u64,
) -> impl Stream<Item = Result<Envelope, StoreError>> + Send + 'static {
    let subscription = Subscription {
        shared,
        live,
        next_position: from_position.max(1),
        ready: VecDeque::new(),
        mode: Mode::CatchUp,
    };
    futures::stream::unfold(subscription, |mut subscription| async move {
        let item = subscription.next_item().await?;
        Some((item, subscription))
    })
}

impl Subscription {
    async fn next_item(&mut self) -> Option<Result<Envelope, StoreError>> {
        loop {
            if let Some(envelope) = self.ready.pop_front() {
                self.next_position = envelope.position + 1;
                return Some(Ok(envelope));
            }
            match self.mode {
                Mode::Done => return None,
                Mode::CatchUp => match self.read_stored().await {
                    Ok(stored) if stored.is_empty() => self.mode = Mode::Live,
                    Ok(stored) => self.ready.extend(stored),
                    // The storage failed: nothing is lost, the read is made again once the
                    // store has reopened its database.
                    Err(error) if error.is_storage_failure() => {
                        if !self.wait_for_storage().await {
                            self.mode = Mode::Done;
                            return Some(Err(error));
                        }
                    }
                    Err(error) => {
                        self.mode = Mode::Done;
                        return Some(Err(error));
                    }
                },
                Mode::Live => self.receive_live().await,
            }
        }
    }

    async fn read_stored(&self) -> Result<Vec<Envelope>, StoreError> {
        let shared = self.shared.clone();
        let from = self.next_position;
        tokio::task::spawn_blocking(move || shared.read_from(from, CATCH_UP_CHUNK))
            .await
            .map_err(|error| StoreError::Corrupt {
                what: "catch-up read".to_owned(),
                reason: format!("the reading task failed: {error}"),
            })?
    }

    /// Waits until the storage is available again, and a moment more (the database is
    /// taken away a moment before the outage is announced); `false` when the store closed
    /// meanwhile.
    async fn wait_for_storage(&self) -> bool {
        let mut changes = self.shared.storage_changes();
        loop {
            if self
                .live
                .as_ref()
                .is_none_or(broadcast::Receiver::is_closed)
            {
                return false;
            }
            let available = async {
                changes
                    .wait_for(|status| status.outage.is_none())
                    .await
                    .is_ok()
            };
            if let Ok(true) = tokio::time::timeout(STORE_CLOSED_CHECK, available).await {
                tokio::time::sleep(STORAGE_RETRY_PAUSE).await;
                return true;
            }
        }
    }

    async fn receive_live(&mut self) {
        let Some(live) = &mut self.live else {
            self.mode = Mode::Done;
            return;
        };
        match live.recv().await {
            Ok(group) => {
                let Some(first) = group.first() else { return };
                if first.position > self.next_position {
                    // Cannot happen while the receiver keeps up, but reading the store is
                    // always a correct way to fill a hole.
                    self.mode = Mode::CatchUp;
                    return;
                }
                self.ready.extend(
                    group
                        .iter()
                        .filter(|envelope| envelope.position >= self.next_position)
                        .cloned(),
                );
            }
            Err(RecvError::Lagged(skipped)) => {
                tracing::debug!(skipped, "subscriber lagged; reading the store instead");
                self.mode = Mode::CatchUp;
            }
            // The writer is gone and every group it published was received before this.
            Err(RecvError::Closed) => self.mode = Mode::Done,
        }
    }
}
