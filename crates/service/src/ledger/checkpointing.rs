//! Checkpoints of the live projection, taken without stopping the follower.
//!
//! Every `checkpoint_every_events` the follower asks for one, and goes on folding: the new
//! checkpoint is the one on disk plus the events after it, folded on a blocking thread into a
//! projection of its own (the same fold as every other, so it equals the live projection at
//! that position). The live projection is only read for its plans and position. Only when no
//! checkpoint on disk fits (the first one, or the first after the plans changed) is the live
//! projection copied, which holds the follower back for the copy, as the write at close does.

use std::sync::{Arc, Weak};

use kpi_domain::projection::ProjectionSnapshot;
use kpi_domain::{PlanDefinition, Projection};
use kpi_store::EventStore;

use super::{fold_onto, Inner};
use crate::checkpoint::{self, Checkpoints, Found};
use crate::error::LedgerError;

/// Events folded between two looks at whether the ledger is closing.
const CHUNK: u64 = 65_536;

/// Copies the live projection and writes it as the last checkpoint of this ledger (at close).
/// Returns whether a file was written (not when the same state is already on disk or a newer
/// one was written).
pub(super) fn write_checkpoint(inner: &Inner) -> Result<bool, LedgerError> {
    let Some(checkpoints) = &inner.checkpoints else {
        return Ok(false);
    };
    let sequence = checkpoints.next_sequence();
    let snapshot = inner.projection.read().snapshot();
    let hash = checkpoint::hash_at(&inner.store, snapshot.last_position())?;
    let written = checkpoints
        .write(sequence, hash, &snapshot, true)
        .map_err(|source| LedgerError::Checkpoint {
            path: checkpoints.path(),
            source,
        })?;
    if written {
        tracing::info!(position = snapshot.last_position(), "checkpoint written");
    }
    Ok(written)
}

/// Writes a checkpoint of the live projection as it is now, on a blocking thread, without
/// waiting for it: built beside from the checkpoint on disk (see the module documentation).
/// Skipped while an earlier one is still being built or written.
pub(super) fn checkpoint_in_background(inner: &Arc<Inner>) {
    let Some(checkpoints) = inner.checkpoints.clone() else {
        return;
    };
    if !checkpoints.try_begin_background() {
        return;
    }
    let sequence = checkpoints.next_sequence();
    let (plans, position) = {
        let live = inner.projection.read();
        (live.plans().to_vec(), live.last_position())
    };
    let store = inner.store.clone();
    let live = Arc::downgrade(inner);
    tokio::task::spawn_blocking(move || {
        let snapshot = match fold_from_checkpoint(&store, &checkpoints, plans, position) {
            Ok(Built::Beside(projection, folded)) => {
                tracing::debug!(position, folded, "checkpoint built beside the projection");
                Some(projection.snapshot())
            }
            Ok(Built::Current) | Ok(Built::Stopped) => None,
            Ok(Built::NoBase) => copy_live(&live),
            Err(error) => {
                tracing::warn!(%error, "checkpoint not built");
                None
            }
        };
        if let Some(snapshot) = snapshot {
            write(&store, &checkpoints, sequence, &snapshot);
        }
        checkpoints.end_background();
    });
}

/// What building a checkpoint beside the live projection came to.
#[derive(Debug)]
enum Built {
    /// The projection at the position asked for, and the events folded onto the checkpoint.
    Beside(Box<Projection>, u64),
    /// The checkpoint on disk is already at that position.
    Current,
    /// No checkpoint on disk fits the log and the plans.
    NoBase,
    /// The ledger is closing.
    Stopped,
}

/// The projection of `plans` at `position`: the checkpoint on disk restored, then the events
/// after it folded, a chunk at a time.
fn fold_from_checkpoint(
    store: &EventStore,
    checkpoints: &Checkpoints,
    plans: Vec<PlanDefinition>,
    position: u64,
) -> Result<Built, LedgerError> {
    let (from, snapshot) = match checkpoints.load(store, &plans) {
        Found::Usable {
            position: from,
            snapshot,
            ..
        } if from <= position => (from, snapshot),
        _ => return Ok(Built::NoBase),
    };
    if from == position {
        return Ok(Built::Current);
    }
    let Ok(mut projection) = Projection::restore(plans, *snapshot) else {
        return Ok(Built::NoBase);
    };
    let mut at = from;
    while at < position {
        if checkpoints.stopping() {
            return Ok(Built::Stopped);
        }
        let to = position.min(at + CHUNK);
        fold_onto(store, &mut projection, at + 1, Some(to))?;
        at = to;
    }
    Ok(Built::Beside(Box::new(projection), position - from))
}

/// A copy of the live projection, if the ledger is still open.
fn copy_live(live: &Weak<Inner>) -> Option<ProjectionSnapshot> {
    let inner = live.upgrade()?;
    let snapshot = inner.projection.read().snapshot();
    Some(snapshot)
}

fn write(
    store: &EventStore,
    checkpoints: &Checkpoints,
    sequence: u64,
    snapshot: &ProjectionSnapshot,
) {
    let position = snapshot.last_position();
    let written = checkpoint::hash_at(store, position).and_then(|hash| {
        checkpoints
            .write(sequence, hash, snapshot, false)
            .map_err(|source| LedgerError::Checkpoint {
                path: checkpoints.path(),
                source,
            })
    });
    match written {
        Ok(true) => tracing::info!(position, "checkpoint written"),
        Ok(false) => {}
        Err(error) => tracing::warn!(%error, "checkpoint not written"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kpi_domain::LedgerEvent;
    use kpi_store::{ExpectedVersion, StoreConfig, StreamId};

    const ROADMAP: &str = include_str!("../../../../config/plans/telework-roadmap.toml");

    fn plans() -> Vec<PlanDefinition> {
        vec![PlanDefinition::from_toml(ROADMAP).unwrap()]
    }

    async fn append_seminars(store: &EventStore, from: u32, count: u32) {
        for n in from..from + count {
            let payload = serde_json::json!({
                "title": format!("seminar {n}"),
                "organiser": "DX・テレワーク推進センター",
                "first_date": "2024-05-01",
                "sessions": 1,
                "participants": {"unique": n % 7 + 1, "attendances": n % 7 + 1},
                "status": "held",
            });
            let event = LedgerEvent::parse("seminar", &payload).unwrap();
            let stream = StreamId::parse(event.stream_id()).unwrap();
            let new = crate::convert::new_event(&event, "clerk");
            store
                .append(&stream, ExpectedVersion::Any, vec![new])
                .await
                .unwrap();
        }
    }

    fn full_fold(store: &EventStore, position: u64) -> Projection {
        let mut projection = Projection::new(plans());
        fold_onto(store, &mut projection, 1, Some(position)).unwrap();
        projection
    }

    #[tokio::test]
    async fn a_checkpoint_built_beside_equals_the_fold_of_the_whole_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path(), StoreConfig::default()).unwrap();
        let checkpoints = Checkpoints::new(dir.path());
        assert!(matches!(
            fold_from_checkpoint(&store, &checkpoints, plans(), 0).unwrap(),
            Built::NoBase
        ));

        append_seminars(&store, 1, 40).await;
        let first = full_fold(&store, 40).snapshot();
        let hash = checkpoint::hash_at(&store, 40).unwrap();
        assert!(checkpoints.write(1, hash, &first, false).unwrap());
        assert!(matches!(
            fold_from_checkpoint(&store, &checkpoints, plans(), 40).unwrap(),
            Built::Current
        ));

        append_seminars(&store, 41, 60).await;
        let Built::Beside(beside, folded) =
            fold_from_checkpoint(&store, &checkpoints, plans(), 90).unwrap()
        else {
            panic!("the checkpoint at 40 fits");
        };
        assert_eq!(folded, 50);
        let whole = full_fold(&store, 90);
        assert_eq!(beside.last_position(), 90);
        assert_eq!(beside.tables(), whole.tables());
        assert_eq!(beside.audit_findings(), whole.audit_findings());
        // Byte for byte what a checkpoint of the whole fold would hold.
        let bytes =
            |projection: &Projection| postcard::to_allocvec(&projection.snapshot()).unwrap();
        assert_eq!(bytes(&beside), bytes(&whole));
    }

    #[tokio::test]
    async fn a_checkpoint_under_other_plans_is_no_base() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path(), StoreConfig::default()).unwrap();
        let checkpoints = Checkpoints::new(dir.path());
        append_seminars(&store, 1, 10).await;
        let other =
            PlanDefinition::from_toml(&ROADMAP.replace(r#"value = "1000""#, r#"value = "1001""#))
                .unwrap();
        let mut projection = Projection::new(vec![other]);
        fold_onto(&store, &mut projection, 1, Some(10)).unwrap();
        let hash = checkpoint::hash_at(&store, 10).unwrap();
        assert!(checkpoints
            .write(1, hash, &projection.snapshot(), false)
            .unwrap());
        assert!(matches!(
            fold_from_checkpoint(&store, &checkpoints, plans(), 10).unwrap(),
            Built::NoBase
        ));
    }

    #[tokio::test]
    async fn closing_waits_for_the_build_and_stops_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path(), StoreConfig::default()).unwrap();
        let checkpoints = Arc::new(Checkpoints::new(dir.path()));
        append_seminars(&store, 1, 20).await;
        let mut projection = Projection::new(plans());
        fold_onto(&store, &mut projection, 1, Some(10)).unwrap();
        let hash = checkpoint::hash_at(&store, 10).unwrap();
        assert!(checkpoints
            .write(1, hash, &projection.snapshot(), false)
            .unwrap());

        assert!(checkpoints.try_begin_background());
        let closing = tokio::spawn({
            let checkpoints = checkpoints.clone();
            async move { checkpoints.stop_background().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!closing.is_finished(), "close went on while a build ran");
        assert!(checkpoints.stopping());
        // The build in progress sees it at its next chunk and ends.
        assert!(matches!(
            fold_from_checkpoint(&store, &checkpoints, plans(), 20).unwrap(),
            Built::Stopped
        ));
        checkpoints.end_background();
        closing.await.unwrap();
    }
}
