//! Replay while serving: a projection folded beside the live one, caught up and swapped in
//! by the follower.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use kpi_domain::{PlanDefinition, Projection};
use kpi_store::EventStore;

use tokio::sync::oneshot;

use super::{checkpoint_in_background, fold_onto, Inner, Ledger, RebuildReport, TableChanged};
use crate::error::LedgerError;

impl Ledger {
    /// Replay while serving: folds the whole log into a new projection of `plans` beside the
    /// live one, then the follower folds the events appended meanwhile and swaps it in. Reads
    /// use the old projection until the swap; no event is missed or folded twice. A
    /// checkpoint of the new projection is written after the swap.
    pub async fn rebuild(&self, plans: Vec<PlanDefinition>) -> Result<RebuildReport, LedgerError> {
        let registry_position = self.registry_position();
        start_rebuild(&self.inner, plans, 0, registry_position)
            .await
            .map_err(|_| LedgerError::ProjectionStopped)?
    }

    /// [`Ledger::rebuild`] under the plans in force, read together with the registry's
    /// position so that a lifecycle change racing with the rebuild wins.
    pub async fn rebuild_in_force(&self) -> Result<RebuildReport, LedgerError> {
        let (plans, position) = {
            let registry = self.inner.registry.read();
            (registry.plans(), registry.last_position())
        };
        start_rebuild(&self.inner, plans, position, position)
            .await
            .map_err(|_| LedgerError::ProjectionStopped)?
    }

    fn registry_position(&self) -> u64 {
        self.inner.registry.read().last_position()
    }
}

/// A projection folded beside the live one, up to `through`.
pub(super) struct Replacement {
    pub(super) generation: u64,
    pub(super) projection: Projection,
    pub(super) through: u64,
    pub(super) events_folded: u64,
    /// The lifecycle event whose definitions the projection was built under (0: none).
    pub(super) definitions: u64,
    /// The registry's position when the plans were chosen: a rebuild under plans that a later
    /// lifecycle event changed must not replace the projection under the plans in force.
    pub(super) registry_position: u64,
    pub(super) reply: oneshot::Sender<Result<RebuildReport, LedgerError>>,
}

/// Starts folding the log into a new projection of `plans` on a blocking thread and hands it
/// to the follower, which swaps it in; the receiver gets the outcome. Callable from the
/// follower itself (the rebuild does not wait for it).
pub(super) fn start_rebuild(
    inner: &Arc<Inner>,
    plans: Vec<PlanDefinition>,
    definitions: u64,
    registry_position: u64,
) -> oneshot::Receiver<Result<RebuildReport, LedgerError>> {
    let (reply, outcome) = oneshot::channel();
    let generation = inner.rebuilds_started.fetch_add(1, Ordering::Relaxed) + 1;
    let store = inner.store.clone();
    let replacements = inner.replacements.clone();
    tokio::task::spawn_blocking(move || match fold_beside(&store, plans) {
        Ok((projection, through, events_folded)) => {
            drop(store);
            let replacement = Replacement {
                generation,
                projection,
                through,
                events_folded,
                definitions,
                registry_position,
                reply,
            };
            if let Err(unsent) = replacements.send(replacement) {
                let _ = unsent.0.reply.send(Err(LedgerError::ProjectionStopped));
            }
        }
        Err(error) => {
            let _ = reply.send(Err(error));
        }
    });
    outcome
}

/// Folds the log up to the head read at the start, then the events appended meanwhile for a
/// few rounds, so the follower (which stops applying while it catches the new projection up)
/// has only a short tail left. Returns the projection, the position it reflects and the
/// number of events folded.
fn fold_beside(
    store: &EventStore,
    plans: Vec<PlanDefinition>,
) -> Result<(Projection, u64, u64), LedgerError> {
    const SHORT_TAIL: u64 = 1024;
    let mut through = store.head().position;
    let mut projection = Projection::new(plans);
    projection.reserve(usize::try_from(through).unwrap_or(0));
    let mut folded = fold_onto(store, &mut projection, 1, Some(through))?;
    for _ in 0..3 {
        let head = store.head().position;
        if head - through <= SHORT_TAIL {
            break;
        }
        folded += fold_onto(store, &mut projection, through + 1, Some(head))?;
        through = head;
    }
    Ok((projection, through, folded))
}

/// Catches `replacement` up from its position to the follower's and swaps it in.
pub(super) async fn swap(
    inner: &Arc<Inner>,
    replacement: Replacement,
    position: u64,
    swapped_generation: &mut u64,
) {
    let Replacement {
        generation,
        mut projection,
        through,
        events_folded,
        definitions,
        registry_position,
        reply,
    } = replacement;
    if generation < *swapped_generation {
        let _ = reply.send(Err(LedgerError::RebuildSuperseded));
        return;
    }
    let outdated = {
        let registry = inner.registry.read();
        registry.last_position() > registry_position && projection.plans() != registry.plans()
    };
    if outdated {
        // A lifecycle event changed the plans after these were chosen; its own rebuild
        // brings the plans in force.
        let _ = reply.send(Err(LedgerError::RebuildSuperseded));
        return;
    }
    let store = inner.store.clone();
    let caught_up = tokio::task::spawn_blocking(move || {
        fold_onto(&store, &mut projection, through + 1, Some(position))
            .map(|caught_up| (projection, caught_up))
    })
    .await
    .expect("catching up a rebuilt projection panicked");
    let (projection, events_caught_up) = match caught_up {
        Ok(caught_up) => caught_up,
        Err(error) => {
            let _ = reply.send(Err(error));
            return;
        }
    };
    let plan_ids: Vec<String> = projection
        .plans()
        .iter()
        .map(|plan| plan.id.to_string())
        .collect();
    let replaced = std::mem::replace(&mut *inner.projection.write(), projection);
    *swapped_generation = generation;
    inner.view_version.fetch_add(1, Ordering::Release);
    inner.definitions_live.send_if_modified(|live| {
        let advanced = live.position < definitions;
        live.position = live.position.max(definitions);
        advanced
    });
    // Freeing a large projection takes a while; not on the follower.
    tokio::task::spawn_blocking(move || drop(replaced));
    tracing::info!(
        position,
        events_folded,
        events_caught_up,
        plans = ?plan_ids,
        "rebuilt projection swapped in"
    );
    let _ = inner.table_changed.send(TableChanged { position });
    let _ = reply.send(Ok(RebuildReport {
        plan_ids,
        events_folded,
        events_caught_up,
        position,
    }));
    // The checkpoint on disk was taken under the old plans.
    checkpoint_in_background(inner);
}
