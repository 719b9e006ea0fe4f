//! The follower: the only writer of the live projection. It folds the log in position order,
//! folds lifecycle events into the plans in force, and starts a checkpoint every
//! `checkpoint_every_events` (built beside it: `checkpointing`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use futures::StreamExt;
use kpi_domain::RecordedEvent;
use tokio::sync::mpsc;

use super::{checkpoint_in_background, start_rebuild, swap, Inner, Replacement, TableChanged};
use crate::convert::recorded_event;
use crate::error::LedgerError;

/// At most this many already-delivered events are folded under one lock and one announcement.
const FOLLOW_CHUNK: usize = 1_024;

/// Follows the log from `from` and folds each event into the live projection, in position
/// order; swaps in rebuilt projections between two events. Ends when the ledger is dropped
/// or the store closes.
pub(super) async fn follow(
    inner: Weak<Inner>,
    from: u64,
    mut since_checkpoint: u64,
    mut replacements: mpsc::UnboundedReceiver<Replacement>,
) {
    let (stream, checkpoint_every) = match inner.upgrade() {
        Some(inner) => {
            let checkpoint_every = inner.config.checkpoint_every_events;
            if checkpoint_every > 0 && since_checkpoint >= checkpoint_every {
                since_checkpoint = 0;
                checkpoint_in_background(&inner);
            }
            (inner.store.subscribe(from), checkpoint_every)
        }
        None => return,
    };
    // Every event already delivered is folded under one lock and announced once: waiters
    // and subscribers wake once per group commit instead of once per event.
    let stream = stream.ready_chunks(FOLLOW_CHUNK);
    futures::pin_mut!(stream);
    let mut position = from - 1;
    // A replacement that reflects a position the stream has not delivered yet waits here.
    let mut pending: Option<Replacement> = None;
    let mut swapped_generation = 0u64;
    loop {
        tokio::select! {
            biased;
            Some(replacement) = replacements.recv(), if pending.is_none() => {
                pending = Some(replacement);
            }
            items = stream.next() => {
                let Some(items) = items else { return };
                let Some(inner) = inner.upgrade() else { return };
                let mut failure = None;
                // Parsed before the projection is locked, so readers wait only for the folds.
                let mut parsed = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Ok(envelope) => parsed.push((envelope.position, recorded_event(&envelope))),
                        Err(error) => {
                            failure = Some(error);
                            break;
                        }
                    }
                }
                let folded = parsed.len() as u64;
                // Folded into the plans after the projection's lock is released, in order.
                let mut lifecycle = Vec::new();
                {
                    let mut projection = inner
                        .projection
                        .write();
                    for (at, recorded) in parsed {
                        match recorded {
                            Ok(recorded) => {
                                projection.apply(&recorded);
                                if recorded.event.kind().is_lifecycle() {
                                    lifecycle.push(recorded);
                                }
                            }
                            // Recorded events were validated on the way in; one that no
                            // longer parses is skipped loudly rather than stopping every
                            // later figure.
                            Err(error) => tracing::error!(%error, "event skipped by the projection"),
                        }
                        position = at;
                    }
                }
                for recorded in lifecycle {
                    fold_definitions(&inner, recorded);
                }
                if folded > 0 {
                    // Every event the store writes is delivered here once, whoever appended it
                    // and whether or not they still wait for the answer.
                    crate::metrics::count_appended(folded);
                    inner.view_version.fetch_add(folded, Ordering::Release);
                    inner.projected.send_replace(position);
                    let _ = inner.table_changed.send(TableChanged { position });
                }
                if let Some(error) = failure {
                    tracing::error!(%error, "projection cannot read the log; it stops following");
                    return;
                }
                since_checkpoint += folded;
                if checkpoint_every > 0 && since_checkpoint >= checkpoint_every {
                    since_checkpoint = 0;
                    checkpoint_in_background(&inner);
                }
            }
        }
        if let Some(replacement) = pending.take_if(|waiting| waiting.through <= position) {
            let Some(inner) = inner.upgrade() else { return };
            swap(&inner, replacement, position, &mut swapped_generation).await;
            since_checkpoint = 0;
        }
    }
}

/// Folds a lifecycle event into the plans in force; when they change, rebuilds the projection
/// under them beside the live one (the follower swaps it in when ready).
fn fold_definitions(inner: &Arc<Inner>, recorded: RecordedEvent) {
    let position = recorded.position;
    let changed = inner.registry.write().apply(&recorded);
    inner.lifecycle.write().push(recorded);
    if changed {
        let plans = inner.registry.read().plans();
        tracing::info!(
            position,
            "plan definitions changed; rebuilding the projection"
        );
        let outcome = start_rebuild(inner, plans, position, position);
        let weak = Arc::downgrade(inner);
        tokio::spawn(async move {
            // Success and supersession reach the waiters through the swap; a failure must be
            // told, or a caller waiting for these definitions would wait forever.
            let failure = match outcome.await {
                Ok(Ok(_)) | Ok(Err(LedgerError::RebuildSuperseded)) => return,
                Ok(Err(error)) => error.to_string(),
                Err(_) => "the rebuild was dropped".to_owned(),
            };
            tracing::error!(position, %failure, "rebuild under changed plan definitions failed");
            if let Some(inner) = weak.upgrade() {
                inner
                    .definitions_live
                    .send_modify(|live| live.failed = Some((position, failure)));
            }
        });
    } else {
        // A change that did not fit (a racing writer) leaves the definitions as they are.
        tracing::warn!(
            position,
            "plan lifecycle event ignored: it does not fit the plans in force"
        );
        inner
            .definitions_live
            .send_modify(|live| live.position = live.position.max(position));
    }
}
