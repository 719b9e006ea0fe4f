//! The sled database behind the store, and whether it can be used: after a write or flush
//! fails (a full disk, a quota, an I/O error) sled keeps the error and fails every later
//! flush, so the writer takes the database away from readers, refuses appends, and reopens
//! it from disk when it can (`crate::recovery`). This module holds what the writer, the
//! readers and the store's users share about that: the database slot, the status they are
//! told, and the check readers use to tell a failing storage from a damaged log.

use parking_lot::{Mutex, MutexGuard, RwLock};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::error::{StoreError, VerifyFailure};

/// Whether the store's storage takes writes, and what happened to it since the store opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageStatus {
    /// `None` while the storage works; the current outage otherwise.
    pub outage: Option<Outage>,
    /// How many times the storage failed since the store opened.
    pub failures: u64,
    /// When it last failed.
    pub last_failure_at: Option<DateTime<Utc>>,
    /// Attempts to reopen the database, since the store opened, that did not succeed.
    pub failed_attempts: u64,
    /// Outages that ended with the database reopened and every acknowledged event found.
    pub recoveries: u64,
}

/// A storage failure not recovered from yet: appends are refused, reads of the store fail,
/// and the store tries to reopen its database at `next_attempt_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    /// The error of the failed write or flush, or of the last attempt to reopen, e.g. "No
    /// space left on device".
    pub reason: String,
    /// When the write or flush failed.
    pub since: DateTime<Utc>,
    /// Attempts to reopen made so far in this outage.
    pub attempts: u32,
    /// When the next attempt is made.
    pub next_attempt_at: DateTime<Utc>,
}

impl Outage {
    /// Whole seconds until the next attempt (rounded up; 0 when it is due or running).
    pub fn retry_in_secs(&self, now: DateTime<Utc>) -> u64 {
        let millis = (self.next_attempt_at - now).num_milliseconds();
        u64::try_from(millis).map_or(0, |millis| millis.div_ceil(1000))
    }
}

/// The delay before attempt `attempt` (0: the first, after the failure) to reopen: `first`,
/// doubling after each failed attempt, at most `max`.
pub(crate) fn backoff(attempt: u32, first: Duration, max: Duration) -> Duration {
    first
        .checked_mul(2u32.saturating_pow(attempt))
        .map_or(max, |delay| delay.min(max))
}

/// The state shared by the writer, readers and the store's handle.
pub(crate) struct Storage {
    /// The database; `None` from a storage failure until it is reopened.
    db: RwLock<Option<sled::Db>>,
    /// Moves each time the database is taken away: a read begun before sees it and stops,
    /// letting go of the failed database so that it can be reopened.
    generation: AtomicU64,
    status: watch::Sender<StorageStatus>,
    /// Found at open (or at a reopen): the log lacks or disagrees with what it should hold.
    /// Appends are refused and `verify` reports it if the walk finds nothing earlier.
    inconsistency: Mutex<Option<VerifyFailure>>,
    /// Held by the writer while it commits a group and, when that fails, until the database
    /// is taken away: a reader whose read failed waits for it to learn which it was.
    commit: Mutex<()>,
    faults: Mutex<Faults>,
}

/// Failures injected by tests (`EventStore::__inject_*`).
#[derive(Default)]
struct Faults {
    /// The OS error the next flush fails with.
    flush: Option<i32>,
    /// Attempts to reopen that fail before one is made for real.
    reopens: u32,
}

/// A reader's hold on one generation of the database.
pub(crate) struct Lease {
    storage: Arc<Storage>,
    generation: u64,
}

impl Lease {
    /// Whether the database this read uses is still the store's.
    pub(crate) fn current(&self) -> bool {
        self.storage.generation.load(Ordering::Acquire) == self.generation
    }

    /// `Ok` while the database is the store's; the storage error once it was taken away.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if self.current() {
            Ok(())
        } else {
            Err(self.storage.unavailable())
        }
    }

    /// After a read failed: whether it failed because the storage did. Waits for a commit
    /// in progress, which takes the database away if its write failed.
    pub(crate) fn lost_to_storage_failure(&self) -> bool {
        drop(self.storage.commit());
        !self.current()
    }
}

impl Storage {
    pub(crate) fn new(db: sled::Db, inconsistency: Option<VerifyFailure>) -> Arc<Storage> {
        Arc::new(Storage {
            db: RwLock::new(Some(db)),
            generation: AtomicU64::new(0),
            status: watch::channel(StorageStatus::default()).0,
            inconsistency: Mutex::new(inconsistency),
            commit: Mutex::new(()),
            faults: Mutex::new(Faults::default()),
        })
    }

    /// The database for a short read.
    pub(crate) fn db(&self) -> Result<sled::Db, StoreError> {
        self.slot().clone().ok_or_else(|| self.unavailable())
    }

    /// The database for a read that may take long, with the lease it checks between steps.
    pub(crate) fn lease(self: &Arc<Self>) -> Result<(sled::Db, Lease), StoreError> {
        let slot = self.slot();
        let db = slot.clone().ok_or_else(|| self.unavailable())?;
        let lease = Lease {
            storage: self.clone(),
            generation: self.generation.load(Ordering::Acquire),
        };
        Ok((db, lease))
    }

    fn slot(&self) -> parking_lot::RwLockReadGuard<'_, Option<sled::Db>> {
        self.db.read()
    }

    /// Takes the database away from readers (the writer drops its own handle too).
    pub(crate) fn take_db(&self) {
        let mut slot = self.db.write();
        *slot = None;
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Hands the reopened database to readers.
    pub(crate) fn put_db(&self, db: sled::Db) {
        *self.db.write() = Some(db);
    }

    /// The error of a read or append made while the storage is unavailable.
    pub(crate) fn unavailable(&self) -> StoreError {
        match &self.status.borrow().outage {
            Some(outage) => StoreError::Unavailable {
                reason: outage.reason.clone(),
                retry_in_secs: Some(outage.retry_in_secs(Utc::now())),
            },
            // Taken away a moment ago, or given back since the read began.
            None => StoreError::Unavailable {
                reason: "the storage failed while this read ran".to_owned(),
                retry_in_secs: None,
            },
        }
    }

    pub(crate) fn status(&self) -> StorageStatus {
        self.status.borrow().clone()
    }

    pub(crate) fn outage(&self) -> Option<Outage> {
        self.status.borrow().outage.clone()
    }

    pub(crate) fn changes(&self) -> watch::Receiver<StorageStatus> {
        self.status.subscribe()
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut StorageStatus)) {
        self.status.send_modify(change);
    }

    pub(crate) fn inconsistency(&self) -> Option<VerifyFailure> {
        self.inconsistency.lock().clone()
    }

    pub(crate) fn set_inconsistency(&self, failure: VerifyFailure) {
        self.inconsistency.lock().get_or_insert(failure);
    }

    pub(crate) fn commit(&self) -> MutexGuard<'_, ()> {
        self.commit.lock()
    }

    pub(crate) fn inject_flush_failure(&self, os_error: i32) {
        self.faults.lock().flush = Some(os_error);
    }

    pub(crate) fn inject_reopen_failures(&self, attempts: u32) {
        self.faults.lock().reopens = attempts;
    }

    /// The injected failure of this flush, if any (taken: it fails once).
    pub(crate) fn flush_fault(&self) -> Option<sled::Error> {
        let code = self.faults.lock().flush.take()?;
        Some(sled::Error::Io(std::io::Error::from_raw_os_error(code)))
    }

    /// Whether this attempt to reopen is to fail by injection.
    pub(crate) fn reopen_fault(&self) -> bool {
        let mut faults = self.faults.lock();
        let fail = faults.reopens > 0;
        faults.reopens = faults.reopens.saturating_sub(1);
        fail
    }
}

/// A sled error as an operator reads it: "No space left on device", not sled's debug text.
pub(crate) fn describe(error: &sled::Error) -> String {
    match error {
        sled::Error::Io(io) => describe_io(io),
        other => other.to_string(),
    }
}

/// The OS's words for an I/O error. sled hands its kept error out as a copy whose text is
/// the original's debug form (`Os { code: 28, kind: StorageFull, message: "..." }`); the
/// code is read back from it.
pub(crate) fn describe_io(io: &std::io::Error) -> String {
    let text = io.to_string();
    let code = io.raw_os_error().or_else(|| {
        let rest = text.split_once("code: ")?.1;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    });
    match code {
        Some(code) => {
            let words = std::io::Error::from_raw_os_error(code).to_string();
            match words.split_once(" (os error") {
                Some((words, _)) => words.to_owned(),
                None => words,
            }
        }
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_from_the_first_up_to_the_most() {
        let first = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        let delays: Vec<u64> = (0..9)
            .map(|attempt| backoff(attempt, first, max).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(u32::MAX, first, max), max);
        assert_eq!(
            backoff(3, Duration::from_millis(250), max),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn io_errors_are_told_in_the_os_words_even_from_sleds_copy() {
        let full = std::io::Error::from_raw_os_error(libc_enospc());
        assert_eq!(describe_io(&full), "No space left on device");
        // What sled's kept error looks like when it hands it out again.
        let copied = std::io::Error::new(full.kind(), format!("{full:?}"));
        assert_eq!(describe_io(&copied), "No space left on device");
        assert_eq!(
            describe(&sled::Error::Io(copied)),
            "No space left on device"
        );
        let other = std::io::Error::other("something else");
        assert_eq!(describe_io(&other), "something else");
    }

    /// ENOSPC on Linux (and the other platforms sled runs on).
    fn libc_enospc() -> i32 {
        28
    }

    #[test]
    fn the_time_to_the_next_attempt_is_rounded_up_to_whole_seconds() {
        let now = Utc::now();
        let outage = |millis| Outage {
            reason: "No space left on device".to_owned(),
            since: now,
            attempts: 0,
            next_attempt_at: now + chrono::Duration::milliseconds(millis),
        };
        assert_eq!(outage(3_200).retry_in_secs(now), 4);
        assert_eq!(outage(4_000).retry_in_secs(now), 4);
        assert_eq!(outage(0).retry_in_secs(now), 0);
        assert_eq!(outage(-500).retry_in_secs(now), 0);
    }
}
