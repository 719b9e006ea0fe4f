//! Whether the ledger may be served: the log's integrity (walks of the hash chain), the
//! storage, and a projection that keeps up with the head.

use std::sync::Arc;

use chrono::Utc;
use kpi_store::{StorageStatus, StoreError, VerifyReason};

use tokio::sync::watch;

use super::Ledger;
use crate::error::LedgerError;
use crate::verification::{Integrity, Verification};

impl Ledger {
    /// Whether the projection keeps up with the log (`/readyz`): it reaches the head as it is
    /// now within `within`. An event being folded while appends arrive is not "behind"; a
    /// stopped or stuck projection is.
    pub async fn catches_up_within(&self, within: std::time::Duration) -> bool {
        let head = self.head().position;
        matches!(
            tokio::time::timeout(within, self.wait_projected(head)).await,
            Ok(Ok(()))
        )
    }

    /// Whether the ledger may be served (`/readyz`), and if not why: the last walk of the
    /// hash chain failed, the store refuses every write ([`kpi_store::EventStore::refusal`]),
    /// the storage failed and the store has not reopened it yet
    /// (`storage: No space left on device; retrying in 4s`), or the projection does not reach
    /// the head within `within` ([`Ledger::catches_up_within`]).
    pub async fn readiness(&self, within: std::time::Duration) -> Result<(), String> {
        if let Some(damaged) = self.damaged() {
            return Err(damaged.to_string());
        }
        // The store refuses every append (an inconsistent log, or on PostgreSQL a database
        // that lacks what it acknowledged): not ready before any walk says so.
        if let Some(reason) = self.inner.store.refusal() {
            return Err(format!("the store refuses writes: {reason}"));
        }
        if let Some(outage) = self.inner.store.storage().outage {
            let retry = match outage.retry_in_secs(Utc::now()) {
                0 => "retrying now".to_owned(),
                secs => format!("retrying in {secs}s"),
            };
            return Err(format!("storage: {}; {retry}", outage.reason));
        }
        if !self.catches_up_within(within).await {
            return Err(format!(
                "the projection does not reach the log's head within {} ms",
                within.as_millis()
            ));
        }
        Ok(())
    }

    /// The refusal of a damaged log: the last walk of the hash chain failed.
    pub(super) fn damaged(&self) -> Option<LedgerError> {
        let integrity = self.inner.verifier.integrity();
        let last = integrity.last.as_deref()?;
        let failure = last.result.as_ref().err()?;
        Some(LedgerError::damaged(failure, Some(last.finished_at)))
    }

    /// Walks the whole hash chain up to the head, or answers from the walk that did: one walk
    /// at a time, shared by every caller at the same head, its answer kept for that head,
    /// stopped when no caller waits any more (see [`crate::Verification`]). The answer's head
    /// may be later than the head when asked, never earlier. While the storage is unavailable
    /// no walk is made, and a walk the storage's failure stopped proves nothing: both are
    /// the store's `Unavailable` error.
    pub async fn verify(&self) -> Result<Arc<Verification>, LedgerError> {
        self.storage_available()?;
        let verification = self.inner.verifier.verify(None).await?;
        match &verification.result {
            Err(failure) => match &failure.reason {
                VerifyReason::StorageUnavailable(reason) => {
                    self.storage_available()?;
                    Err(StoreError::Unavailable {
                        reason: reason.clone(),
                        retry_in_secs: None,
                    }
                    .into())
                }
                _ => Ok(verification),
            },
            _ => Ok(verification),
        }
    }

    /// `Err` with the store's refusal while the storage is unavailable.
    fn storage_available(&self) -> Result<(), StoreError> {
        match self.inner.store.storage().outage {
            None => Ok(()),
            Some(outage) => Err(StoreError::Unavailable {
                retry_in_secs: Some(outage.retry_in_secs(Utc::now())),
                reason: outage.reason,
            }),
        }
    }

    /// Whether the storage takes writes, and its failures and recoveries since the ledger
    /// opened (see [`kpi_store::StorageStatus`]).
    pub fn storage(&self) -> StorageStatus {
        self.inner.store.storage()
    }

    /// The log's integrity as the last walk found it.
    pub fn integrity(&self) -> Integrity {
        self.inner.verifier.integrity()
    }

    /// Told of every walk's answer.
    pub fn integrity_changes(&self) -> watch::Receiver<Integrity> {
        self.inner.verifier.integrity_changes()
    }

    /// Walks of the whole hash chain run since the ledger opened (a walk stopped part-way
    /// counts; start-up's does not).
    pub fn verification_walks(&self) -> u64 {
        self.inner.verifier.walks()
    }

    /// Walks the whole hash chain in the background, right away and then every
    /// `verify_every_secs` (nothing when it is 0), sharing the walks of
    /// [`Ledger::verify`]. A failure refuses appends and makes [`Ledger::readiness`] say so
    /// until a walk passes again. Stops when the ledger closes. `serve` calls it; one-shot
    /// commands do not.
    pub fn verify_in_background(&self) {
        let every = self.inner.config.verify_every_secs;
        if every == 0 {
            return;
        }
        let verifier = self.inner.verifier.clone();
        tokio::spawn(verifier.verify_periodically(std::time::Duration::from_secs(every)));
    }
}
