//! What the ledger does about the store's storage failing and recovering (the store itself
//! refuses appends and reopens its database, and logs each change once): the metrics follow
//! it, and once the store has reopened its database the whole hash chain is walked again,
//! so the log's integrity is known afresh (a walk cut short by the failure was not kept).

use std::sync::Weak;

use kpi_store::StorageStatus;
use tokio::sync::watch;

use crate::verification::Verifier;

/// Follows the storage status until the store or the ledger is gone.
pub(crate) async fn watch(mut changes: watch::Receiver<StorageStatus>, verifier: Weak<Verifier>) {
    let mut recoveries = {
        let status = changes.borrow_and_update();
        crate::metrics::record_storage(&status);
        status.recoveries
    };
    while changes.changed().await.is_ok() {
        let status = changes.borrow_and_update().clone();
        crate::metrics::record_storage(&status);
        if status.recoveries > recoveries {
            recoveries = status.recoveries;
            let Some(verifier) = verifier.upgrade() else {
                return;
            };
            // A walk of its own, not waited for here: the status may change meanwhile.
            tokio::spawn(async move {
                // A failure is logged by the verifier, which refuses appends while it lasts.
                match verifier.verify(Some(chrono::Utc::now())).await {
                    Ok(walk) => {
                        if let Ok(head) = &walk.result {
                            tracing::info!(
                                position = head.position,
                                "after the storage recovered, the whole log verifies"
                            );
                        }
                    }
                    Err(error) => tracing::debug!(%error, "walk after the recovery not made"),
                }
            });
        }
    }
}
