//! Group commit: the single writer applies every waiting append as one sled batch, makes it
//! durable with one blocking flush, then answers the group.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::chunk::{self, Format};
use crate::config::StoreConfig;
use crate::error::StoreError;
use crate::layout;
use crate::read;
use crate::recovery::OutageClock;
use crate::staging::{self, Committed, Outcome, Publisher, Staged};
pub(crate) use crate::staging::{AppendReply, AppendRequest};
use crate::storage::Storage;
use crate::types::{Envelope, Head, StreamId};

/// What the writer knows of the applied log (durable or about to be); only the writer thread
/// changes it.
pub(crate) struct WriterState {
    pub position: u64,
    pub hash: crate::types::Hash,
    pub last_recorded_at: DateTime<Utc>,
    pub last_event_id: Option<Uuid>,
    /// Versions of the streams appended to or looked up since open; others are read from
    /// the stream index on first use.
    pub stream_versions: HashMap<StreamId, u64>,
}

pub(crate) struct Writer {
    pub requests: mpsc::Receiver<AppendRequest>,
    /// The database; `None` during a storage outage.
    pub db: Option<sled::Db>,
    /// The store directory, where the database is reopened after a storage failure.
    pub dir: PathBuf,
    pub config: StoreConfig,
    /// The store's on-disk format, which every group is written in.
    pub format: Format,
    pub state: WriterState,
    /// The last acknowledged position, which readers never go beyond.
    pub head: Arc<RwLock<Head>>,
    pub published: broadcast::Sender<Arc<[Envelope]>>,
    /// The database slot readers use, the storage's status, and the log's inconsistency
    /// (found at open or at a reopen), which refuses every append.
    pub storage: Arc<Storage>,
    /// Set from a storage failure until the database is reopened.
    pub outage: Option<OutageClock>,
}

/// A group whose batch is applied (visible in sled, not yet durable) or that wrote nothing.
pub(crate) struct AppliedGroup {
    replies: Vec<(AppendReply, Outcome)>,
    /// The group's new events; `Outcome::Written` ranges index into it.
    envelopes: Vec<Envelope>,
    head: Head,
}

/// The committed log as the sled writer knows it: its cache of stream versions, then the
/// database's indexes.
struct SledCommitted<'a> {
    db: &'a sled::Db,
    format: Format,
    stream_versions: &'a HashMap<StreamId, u64>,
}

impl Committed for SledCommitted<'_> {
    fn stream_version(&mut self, stream: &StreamId) -> Result<u64, StoreError> {
        match self.stream_versions.get(stream) {
            Some(version) => Ok(*version),
            None => read::stream_version(self.db, stream.as_str()),
        }
    }

    fn keyed(&mut self, key: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let Some((position, record)) = read::keyed_record(self.db, self.format, key)? else {
            return Ok(None);
        };
        // In format 2 another key may share this entry's hash. Writing this key's event would
        // then take the entry over, and the other key's retries would no longer find their
        // event: refuse instead (SHA-256 makes this a damaged index rather than bad luck).
        let used = chunk::record_has_key(&record, key).map_err(|reason| StoreError::Corrupt {
            what: format!("event at position {position}"),
            reason,
        })?;
        if !used {
            return Err(StoreError::Corrupt {
                what: format!("idempotency index entry for key {key:?}"),
                reason: format!(
                    "it points to position {position}, whose event has another idempotency key"
                ),
            });
        }
        Ok(Some((position, record)))
    }
}

impl Writer {
    pub(crate) fn run(mut self) {
        loop {
            if self.outage.is_some() {
                // Appends are refused until the database is reopened (crate::recovery).
                if !self.ride_out_outage() {
                    break;
                }
                continue;
            }
            let Ok(first) = self.requests.recv() else {
                break;
            };
            let mut events = first.events.len();
            let mut group = vec![first];
            while events < self.config.max_group_events {
                match self.requests.try_recv() {
                    Ok(request) => {
                        events += request.events.len();
                        group.push(request);
                    }
                    Err(_) => break,
                }
            }
            // Appends that arrive during the flush wait in the channel and form the next
            // group. A second thread flushing while this one applied the next group gained
            // nothing: sled's `apply_batch` waits for a running `flush` (both take its
            // concurrency-control lock), and the hand-off cost a wake-up per group (see
            // docs/benchmarks.md, "Patched sled thread pool, one writer thread").
            let storage = self.storage.clone();
            let _committing = storage.commit();
            if let Some(applied) = self.apply_group(group) {
                self.flush_and_answer(applied);
            }
        }
        // Every acknowledged group was flushed already; this covers nothing but sled's own
        // bookkeeping, so a failure is only worth a log line.
        if let Some(Err(error)) = self.db.as_ref().map(|db| db.flush()) {
            tracing::warn!(%error, "final flush of the event store failed");
        }
        tracing::debug!("event store writer stopped");
    }

    /// Stages and applies a group; `None` when it was answered already (an inconsistent log
    /// or a failed batch).
    fn apply_group(&mut self, group: Vec<AppendRequest>) -> Option<AppliedGroup> {
        if let Some(inconsistency) = self.storage.inconsistency() {
            let reason = inconsistency.to_string();
            for request in group {
                let _ = request.reply.send(Err(StoreError::Poisoned {
                    reason: reason.clone(),
                }
                .into()));
            }
            return None;
        }
        let mut staged = Staged::new(
            Head {
                position: self.state.position,
                hash: self.state.hash,
            },
            self.state.last_recorded_at,
            self.state.last_event_id,
            Utc::now(),
        );
        let mut replies = Vec::with_capacity(group.len());
        {
            let mut committed = SledCommitted {
                db: self.db(),
                format: self.format,
                stream_versions: &self.state.stream_versions,
            };
            for request in group {
                let outcome = staging::stage(
                    &mut staged,
                    &mut committed,
                    &request.stream,
                    request.expected,
                    request.events,
                );
                replies.push((request.reply, outcome));
            }
        }

        if !staged.envelopes.is_empty() {
            if let Err(error) = self.db().apply_batch(group_batch(&staged, self.format)) {
                // Whether the batch is in the log is unknown: refuse everything until a
                // reopen settles what is there.
                let reason = self.fail_storage(&error);
                staging::fail_group(replies, || StoreError::WriteFailed {
                    reason: reason.clone(),
                });
                return None;
            }
            // The next group builds on this one before it is durable; if the flush fails
            // the database is reopened and the state read from it, so nothing is ever built
            // on a lost group.
            self.state.position = staged.position;
            self.state.hash = staged.hash;
            self.state.last_recorded_at = staged.recorded_at;
            self.state.last_event_id = staged.last_event_id;
            self.state.stream_versions.extend(staged.stream_versions);
        }
        Some(AppliedGroup {
            replies,
            envelopes: staged.envelopes,
            head: Head {
                position: self.state.position,
                hash: self.state.hash,
            },
        })
    }
}

/// The group's sled batch: its events cut into chunks with their index entries (the
/// idempotency keys among them), and the new head.
fn group_batch(staged: &Staged, format: Format) -> sled::Batch {
    let mut batch = sled::Batch::default();
    layout::add_events(&mut batch, format, &staged.envelopes, &staged.records);
    layout::set_head(&mut batch, staged.head());
    batch
}

impl Writer {
    /// The database, while the storage is available (groups are applied only then).
    fn db(&self) -> &sled::Db {
        self.db
            .as_ref()
            .expect("groups are written only while the storage is available")
    }

    fn flush_and_answer(&mut self, group: AppliedGroup) {
        if !group.envelopes.is_empty() {
            let started = Instant::now();
            let flushed = match self.storage.flush_fault() {
                Some(injected) => Err(injected),
                None => self.db().flush(),
            };
            if let Err(error) = flushed {
                // Taken away before anyone is answered: a retry meets the outage.
                let reason = self.fail_storage(&error);
                staging::fail_group(group.replies, || StoreError::WriteFailed {
                    reason: reason.clone(),
                });
                return;
            }
            tracing::trace!(
                events = group.envelopes.len(),
                micros = started.elapsed().as_micros() as u64,
                "flushed"
            );
        }
        self.answer(group);
    }

    fn answer(&self, group: AppliedGroup) {
        let publisher = Publisher {
            head: self.head.clone(),
            published: self.published.clone(),
        };
        staging::answer(&publisher, group.replies, group.envelopes, group.head);
    }
}
