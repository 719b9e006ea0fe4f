//! A storage outage, as the writer lives it: after a write or flush fails it takes the
//! database away, refuses appends, and tries to reopen the database from disk with growing
//! waits between attempts, until one finds every acknowledged event.
//!
//! sled keeps the first I/O error of a database and fails every later flush of it, so the
//! database is never written again once a flush failed. Its page cache is not trusted either
//! (after a failed fsync, the kernel's may hold data that never reached the disk): the
//! database is reopened, which reads the log back from the file. An attempt:
//!
//! 1. writes and syncs a probe file of [`PROBE_BYTES`] beside the log and removes it, so a
//!    disk with a few bytes free does not reopen only to fail at the next group;
//! 2. opens the database (sled recovers its log: whatever a torn write left is dropped);
//! 3. checks that the log still holds the last acknowledged event, with its hash, and walks
//!    the chain from it to the log's end: events of the group that failed may be there
//!    (written, but not known to be flushed) and must link on;
//! 4. syncs the database file, so that whatever it now holds is on disk before it is
//!    acknowledged or built on;
//! 5. takes the events beyond the acknowledged head as written (they were never
//!    acknowledged: their appenders were told the outcome is unknown, and a retry with the
//!    same idempotency key returns them) and tells subscribers of them.
//!
//! A log that lacks an acknowledged event is damaged: the store stays open for reads and
//! `verify` (which names the position), and refuses appends.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::chunk::Format;
use crate::config::StoreConfig;
use crate::error::{AppendError, StoreError, VerifyFailure, VerifyReason};
use crate::open::{check_inner_format, io_error, load_state, open_sled};
use crate::read::EventIter;
use crate::storage::{backoff, describe, Outage};
use crate::store::SLED_DIR;
use crate::types::{Envelope, Head};
use crate::walk;
use crate::writer::{AppendRequest, Writer, WriterState};

/// The size of the probe written before each attempt to reopen: two of sled's 512 KiB log
/// segments, what a group may need when it starts a new one.
pub(crate) const PROBE_BYTES: usize = 1024 * 1024;
const PROBE_FILE: &str = ".kpi-ledger-space-probe";
/// sled's log file inside its directory.
const SLED_LOG_FILE: &str = "db";

/// The writer's side of an outage.
pub(crate) struct OutageClock {
    started: Instant,
    /// Attempts made so far.
    attempts: u32,
    next_attempt: Instant,
    reason: String,
}

/// What an attempt to reopen found.
enum Reopened {
    /// Every acknowledged event is there; `adopted` are the events after them.
    Intact {
        db: sled::Db,
        state: WriterState,
        adopted: Vec<Envelope>,
    },
    /// The log lacks or changed an acknowledged event.
    Damaged {
        db: sled::Db,
        failure: VerifyFailure,
    },
}

impl Writer {
    /// A write or flush failed: the database is taken away (from readers too) and appends
    /// are refused until it is reopened. Returns the failure in words.
    pub(crate) fn fail_storage(&mut self, error: &sled::Error) -> String {
        let reason = describe(error);
        self.storage.take_db();
        self.db = None;
        let delay = self.delay(0);
        let now = Utc::now();
        self.outage = Some(OutageClock {
            started: Instant::now(),
            attempts: 0,
            next_attempt: Instant::now() + delay,
            reason: reason.clone(),
        });
        self.storage.update(|status| {
            status.outage = Some(Outage {
                reason: reason.clone(),
                since: now,
                attempts: 0,
                next_attempt_at: now + delay,
            });
            status.failures += 1;
            status.last_failure_at = Some(now);
        });
        let head = self.head.read().position;
        tracing::error!(
            %reason,
            head,
            retry_in_ms = delay.as_millis() as u64,
            "the storage failed: appends are refused (STORAGE_UNAVAILABLE) and the log is \
             not read until the store has reopened it; it tries again and again, waiting \
             longer each time"
        );
        reason
    }

    fn delay(&self, attempt: u32) -> Duration {
        backoff(
            attempt,
            self.config.retry_initial(),
            self.config.retry_max(),
        )
    }

    /// Refuses appends until the next attempt is due, then makes it. `false` when the store
    /// is closing (no more appends can arrive).
    pub(crate) fn ride_out_outage(&mut self) -> bool {
        let Some(clock) = &self.outage else {
            return true;
        };
        let due = clock.next_attempt;
        loop {
            let now = Instant::now();
            if now >= due {
                break;
            }
            match self.requests.recv_timeout(due - now) {
                Ok(request) => self.refuse(request),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        }
        self.attempt_recovery();
        true
    }

    fn refuse(&self, request: AppendRequest) {
        let (reason, retry_in_secs) = match self.storage.outage() {
            Some(outage) => (outage.reason.clone(), outage.retry_in_secs(Utc::now())),
            None => ("the storage failed".to_owned(), 0),
        };
        let _ = request.reply.send(Err(AppendError::Unavailable {
            reason,
            retry_in_secs,
        }));
    }

    fn attempt_recovery(&mut self) {
        let acknowledged = *self.head.read();
        let started = Instant::now();
        let reopened = if self.storage.reopen_fault() {
            Err("injected failure".to_owned())
        } else {
            reopen(&self.dir, &self.config, self.format, acknowledged)
        };
        let Some(clock) = self.outage.as_mut() else {
            return;
        };
        clock.attempts += 1;
        match reopened {
            Ok(Reopened::Intact { db, state, adopted }) => {
                self.recovered(db, state, adopted, started.elapsed())
            }
            Ok(Reopened::Damaged { db, failure }) => self.damaged(db, failure),
            Err(reason) => {
                let attempts = clock.attempts;
                let delay = self.delay(attempts);
                let Some(clock) = self.outage.as_mut() else {
                    return;
                };
                clock.next_attempt = Instant::now() + delay;
                let changed = clock.reason != reason;
                clock.reason = reason.clone();
                let now = Utc::now();
                self.storage.update(|status| {
                    status.failed_attempts += 1;
                    if let Some(outage) = &mut status.outage {
                        outage.reason = reason.clone();
                        outage.attempts = attempts;
                        outage.next_attempt_at = now + delay;
                    }
                });
                // Once per reason, not once per attempt.
                if changed {
                    tracing::warn!(
                        %reason,
                        attempts,
                        retry_in_ms = delay.as_millis() as u64,
                        "the storage is still unavailable"
                    );
                } else {
                    tracing::debug!(
                        %reason,
                        attempts,
                        retry_in_ms = delay.as_millis() as u64,
                        "the storage is still unavailable"
                    );
                }
            }
        }
    }

    /// `took`: how long the attempt that succeeded took.
    fn recovered(
        &mut self,
        db: sled::Db,
        state: WriterState,
        adopted: Vec<Envelope>,
        took: Duration,
    ) {
        let Some(clock) = self.outage.take() else {
            return;
        };
        let head = Head {
            position: state.position,
            hash: state.hash,
        };
        self.storage.put_db(db.clone());
        self.db = Some(db);
        self.state = state;
        let adopted_events = adopted.len();
        if !adopted.is_empty() {
            *self.head.write() = head;
            if self.published.receiver_count() > 0 {
                let _ = self.published.send(Arc::from(adopted));
            }
        }
        self.storage.update(|status| {
            status.outage = None;
            status.recoveries += 1;
        });
        tracing::warn!(
            head = head.position,
            down_for_ms = clock.started.elapsed().as_millis() as u64,
            attempts = clock.attempts,
            reopen_ms = took.as_millis() as u64,
            adopted_events,
            "the storage is available again: the store reopened its database, found every \
             acknowledged event and accepts appends"
        );
    }

    fn damaged(&mut self, db: sled::Db, failure: VerifyFailure) {
        tracing::error!(
            %failure,
            "the log reopened after the storage failure lacks acknowledged events: appends \
             are refused; stop the server, run `kpi-ledger verify` and restore the latest \
             archive"
        );
        self.outage = None;
        self.storage.set_inconsistency(failure);
        self.storage.put_db(db.clone());
        self.db = Some(db);
        self.storage.update(|status| status.outage = None);
    }
}

/// One attempt to reopen the database after a storage failure (see the module
/// documentation). `Err` with the reason when the storage is still unusable.
fn reopen(
    dir: &Path,
    config: &StoreConfig,
    format: Format,
    acknowledged: Head,
) -> Result<Reopened, String> {
    probe_space(dir).map_err(|error| crate::storage::describe_io(&error))?;
    let db = open_sled(dir, config).map_err(|error| match error {
        StoreError::Locked { .. } => "the failed database is still held by a read in this \
                                      process (a long export or query)"
            .to_owned(),
        StoreError::Sled(error) => describe(&error),
        other => other.to_string(),
    })?;
    check_inner_format(dir, &db, format).map_err(|error| error.to_string())?;
    let loaded = load_state(&db, format).map_err(|error| error.to_string())?;
    let head = Head {
        position: loaded.state.position,
        hash: loaded.state.hash,
    };
    let failure = match loaded.inconsistency {
        Some(inconsistency) => Some(inconsistency),
        None if head.position < acknowledged.position => Some(VerifyFailure {
            position: head.position + 1,
            reason: VerifyReason::LostAcknowledged {
                acknowledged: acknowledged.position,
            },
        }),
        None => {
            let anchor =
                (acknowledged.position > 0).then_some((acknowledged.position, acknowledged.hash));
            walk::walk(&db, format, head, anchor, None, &mut |_| true)
                .expect("a walk that is never stopped ends")
                .err()
        }
    };
    if let Some(failure) = failure {
        return Ok(Reopened::Damaged { db, failure });
    }
    let log_file = dir.join(SLED_DIR).join(SLED_LOG_FILE);
    fs::File::open(&log_file)
        .and_then(|file| file.sync_data())
        .map_err(|error| io_error(&log_file)(error).to_string())?;
    let adopted = EventIter::new(
        Ok((db.clone(), None)),
        format,
        acknowledged.position + 1,
        head.position + 1,
    )
    .collect::<Result<Vec<_>, _>>()
    .map_err(|error| error.to_string())?;
    Ok(Reopened::Intact {
        db,
        state: loaded.state,
        adopted,
    })
}

/// Writes [`PROBE_BYTES`] (not zeros: a compressing filesystem would store little of them)
/// to a file beside the log, syncs it and removes it.
fn probe_space(dir: &Path) -> io::Result<()> {
    let path = dir.join(PROBE_FILE);
    let written = (|| {
        let mut file = fs::File::create(&path)?;
        let mut block = vec![0u8; 64 * 1024];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..PROBE_BYTES / block.len() {
            for byte in block.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *byte = seed as u8;
            }
            file.write_all(&block)?;
        }
        file.sync_data()
    })();
    let removed = match fs::remove_file(&path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    };
    written.and(removed)
}
