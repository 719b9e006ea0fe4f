//! Group commit on PostgreSQL: the writer task takes every append waiting, and commits them
//! as one transaction:
//!
//! 1. `SELECT ... FROM kpi_log_head FOR UPDATE`: the head row is locked until COMMIT, so
//!    groups of every process commit one after another and positions follow the head
//!    without a gap (a rolled-back group took none). If another process moved the head, its
//!    events are read and announced first (the chain must link on from our last one).
//! 2. The group's streams' versions and idempotency keys are looked up in two queries, and
//!    the group judged as on sled (`crate::staging`).
//! 3. The rows are inserted (one statement), the head row moved, `pg_notify` sent, COMMIT.
//!    The connection runs with `synchronous_commit = on`, so COMMIT returns once the WAL is
//!    flushed (and, with synchronous standbys, replicated): only then are appends answered.
//!
//! A failure anywhere fails the group's appends with [`StoreError::WriteFailed`] (a retry
//! with the same idempotency key returns the events if the COMMIT did land); the next
//! group reconnects if the connection is gone and finds the head as the database has it.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient, Statement};
use uuid::Uuid;

use super::rows::{Rows, INSERT};
use super::{connect, describe, pg_error, read, LOG_CHANNEL};
use crate::config::StoreConfig;
use crate::error::StoreError;
use crate::staging::{self, AppendRequest, Committed, Publisher, Staged};
use crate::types::{Envelope, Hash, Head, StreamId};

/// Rows read per query when catching up with another process's appends.
const CATCH_UP_PAGE: i64 = 1_024;

/// Opens the writer's connection: every COMMIT on it waits for the WAL flush.
pub(crate) async fn connect_writer(pg: &tokio_postgres::Config) -> Result<Client, StoreError> {
    let client = connect(pg, "writer").await?;
    client
        .batch_execute("SET synchronous_commit = on")
        .await
        .map_err(pg_error)?;
    Ok(client)
}

/// What the writer knows of the committed log.
pub(crate) struct State {
    pub head: Head,
    last_recorded_at: DateTime<Utc>,
    last_event_id: Option<Uuid>,
    /// Valid while nobody else appended since our last group: cleared when the head moved.
    stream_versions: HashMap<StreamId, u64>,
}

/// The head and the last event as the database has them.
pub(crate) async fn load_state(client: &impl GenericClient) -> Result<State, StoreError> {
    let row = client
        .query_one("SELECT position, hash FROM kpi_log_head", &[])
        .await
        .map_err(pg_error)?;
    let head = head_of(row.get(0), row.get(1))?;
    let mut state = State {
        head,
        last_recorded_at: DateTime::<Utc>::MIN_UTC,
        last_event_id: None,
        stream_versions: HashMap::new(),
    };
    if head.position > 0 {
        let row = client
            .query_opt(
                "SELECT position, prev_hash, hash, body FROM kpi_events WHERE position = $1",
                &[&(head.position as i64)],
            )
            .await
            .map_err(pg_error)?
            .ok_or_else(|| StoreError::Corrupt {
                what: format!("position {}", head.position),
                reason: "the head row names it but it is missing".to_owned(),
            })?;
        let last = read::envelope(&row)?;
        state.last_recorded_at = last.recorded_at;
        state.last_event_id = Some(last.event_id);
    }
    Ok(state)
}

pub(crate) fn head_of(position: i64, hash: Vec<u8>) -> Result<Head, StoreError> {
    let hash: [u8; 32] = hash.try_into().map_err(|_| StoreError::Corrupt {
        what: "kpi_log_head".to_owned(),
        reason: "the hash is not 32 bytes".to_owned(),
    })?;
    Ok(Head {
        position: position as u64,
        hash: Hash::from_bytes(hash),
    })
}

/// The statements a group runs, prepared once per connection.
struct Statements {
    lock_head: Statement,
    versions: Statement,
    keyed: Statement,
    insert: Statement,
    set_head: Statement,
    notify: Statement,
}

impl Statements {
    async fn prepare(client: &Client) -> Result<Self, tokio_postgres::Error> {
        Ok(Statements {
            lock_head: client
                .prepare("SELECT position, hash FROM kpi_log_head FOR UPDATE")
                .await?,
            versions: client
                .prepare(
                    "SELECT stream_id, max(stream_version) FROM kpi_events \
                     WHERE stream_id = ANY($1) GROUP BY stream_id",
                )
                .await?,
            keyed: client
                .prepare(
                    "SELECT position, prev_hash, hash, body, idempotency_key FROM kpi_events \
                     WHERE idempotency_key = ANY($1)",
                )
                .await?,
            insert: client.prepare(INSERT).await?,
            set_head: client
                .prepare("UPDATE kpi_log_head SET position = $1, hash = $2")
                .await?,
            notify: client.prepare("SELECT pg_notify($1, $2)").await?,
        })
    }
}

pub(crate) struct PgWriter {
    requests: mpsc::UnboundedReceiver<AppendRequest>,
    /// Woken by `super::listen` when another process committed.
    wakes: mpsc::UnboundedReceiver<()>,
    pg: tokio_postgres::Config,
    connection: Option<(Client, Option<Statements>)>,
    config: StoreConfig,
    state: State,
    publisher: Publisher,
    /// Set when the database's log lacks what this process acknowledged: appends refused.
    /// Shared with the store's handle, which reports it ([`crate::EventStore::refusal`]).
    poisoned: Arc<Mutex<Option<String>>>,
}

/// The committed log as looked up for one group.
struct Fetched<'a> {
    cache: &'a HashMap<StreamId, u64>,
    versions: HashMap<String, u64>,
    keyed: HashMap<String, (u64, Vec<u8>)>,
}

impl Committed for Fetched<'_> {
    fn stream_version(&mut self, stream: &StreamId) -> Result<u64, StoreError> {
        Ok(self
            .cache
            .get(stream)
            .or_else(|| self.versions.get(stream.as_str()))
            .copied()
            .unwrap_or(0))
    }

    fn keyed(&mut self, key: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Ok(self.keyed.get(key).cloned())
    }
}

fn fail_all(group: Vec<AppendRequest>, error: impl Fn() -> StoreError) {
    for request in group {
        let _ = request.reply.send(Err(error().into()));
    }
}

impl PgWriter {
    pub(crate) fn new(
        requests: mpsc::UnboundedReceiver<AppendRequest>,
        wakes: mpsc::UnboundedReceiver<()>,
        pg: tokio_postgres::Config,
        client: Client,
        config: StoreConfig,
        state: State,
        publisher: Publisher,
    ) -> Self {
        PgWriter {
            requests,
            wakes,
            pg,
            connection: Some((client, None)),
            config,
            state,
            publisher,
            poisoned: Arc::new(Mutex::new(None)),
        }
    }

    /// Why the writer refuses every append, once it does; for the store's handle.
    pub(crate) fn refusal(&self) -> Arc<Mutex<Option<String>>> {
        self.poisoned.clone()
    }

    pub(crate) async fn run(mut self) {
        loop {
            let first = tokio::select! {
                biased;
                request = self.requests.recv() => match request {
                    Some(first) => first,
                    None => break,
                },
                Some(()) = self.wakes.recv() => {
                    while self.wakes.try_recv().is_ok() {}
                    self.follow().await;
                    continue;
                }
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
            self.commit_group(group).await;
        }
        tracing::debug!("PostgreSQL event store writer stopped");
    }

    /// Another process committed (its notification woke us): its events are read up to the
    /// head row and announced, as a commit group would before its own.
    async fn follow(&mut self) {
        if self.poisoned.lock().is_some() {
            return;
        }
        let (client, statements) = match self.connection().await {
            Ok(connection) => connection,
            Err(error) => {
                tracing::warn!(%error, "cannot follow the PostgreSQL log now");
                return;
            }
        };
        let followed = async {
            let row = client
                .query_one("SELECT position, hash FROM kpi_log_head", &[])
                .await
                .map_err(pg_error)?;
            let head = head_of(row.get(0), row.get(1))?;
            self.catch_up(&client, head).await
        }
        .await;
        if let Err(error) = followed {
            if let StoreError::Poisoned { reason } = &error {
                tracing::error!(%reason, "the PostgreSQL log lost acknowledged events");
                *self.poisoned.lock() = Some(reason.clone());
            } else {
                tracing::warn!(%error, "following the PostgreSQL log failed");
            }
        }
        if !client.is_closed() {
            self.connection = Some((client, Some(statements)));
        }
    }

    /// The connection and its statements, reconnecting when it is gone.
    async fn connection(&mut self) -> Result<(Client, Statements), StoreError> {
        let (client, statements) = match self.connection.take() {
            Some((client, statements)) if !client.is_closed() => (client, statements),
            _ => (connect_writer(&self.pg).await?, None),
        };
        let statements = match statements {
            Some(statements) => statements,
            None => Statements::prepare(&client).await.map_err(pg_error)?,
        };
        Ok((client, statements))
    }

    async fn commit_group(&mut self, group: Vec<AppendRequest>) {
        let poisoned = self.poisoned.lock().clone();
        if let Some(reason) = poisoned {
            fail_all(group, || StoreError::Poisoned {
                reason: reason.clone(),
            });
            return;
        }
        let (mut client, statements) = match self.connection().await {
            Ok(connection) => connection,
            Err(error) => {
                let reason = error.to_string();
                tracing::error!(%reason, "no PostgreSQL connection for the commit group");
                fail_all(group, || StoreError::WriteFailed {
                    reason: reason.clone(),
                });
                return;
            }
        };
        self.commit_on(&mut client, &statements, group).await;
        if !client.is_closed() {
            self.connection = Some((client, Some(statements)));
        }
    }

    /// Commits a group in two round trips: BEGIN, the head row locked and the group's
    /// lookups (run after the lock, so they see every commit before ours) pipelined; then the
    /// rows, the head, the notification and COMMIT pipelined. A statement that fails aborts
    /// the transaction, and the COMMIT behind it only rolls back.
    async fn commit_on(
        &mut self,
        client: &mut Client,
        statements: &Statements,
        group: Vec<AppendRequest>,
    ) {
        let failed = |error: &dyn std::fmt::Display| {
            let reason = format!("PostgreSQL: {error}");
            tracing::error!(%reason, "a commit group failed");
            move || StoreError::WriteFailed {
                reason: reason.clone(),
            }
        };
        let opened = self.open_group(client, statements, &group).await;
        let fetched = match opened {
            Ok(fetched) => fetched,
            Err(error) => {
                let _ = client.batch_execute("ROLLBACK").await;
                if let StoreError::Poisoned { reason } = &error {
                    tracing::error!(%reason, "the PostgreSQL log lost acknowledged events");
                    *self.poisoned.lock() = Some(reason.clone());
                    // Refused for good from this group on, not a failure to retry.
                    return fail_all(group, || StoreError::Poisoned {
                        reason: reason.clone(),
                    });
                }
                return fail_all(group, failed(&error));
            }
        };
        let mut staged = Staged::new(
            self.state.head,
            self.state.last_recorded_at,
            self.state.last_event_id,
            Utc::now(),
        );
        let mut replies = Vec::with_capacity(group.len());
        {
            let mut committed = Fetched {
                cache: &self.state.stream_versions,
                versions: fetched.0,
                keyed: fetched.1,
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
        let ended = if staged.envelopes.is_empty() {
            client.batch_execute("ROLLBACK").await
        } else {
            write_and_commit(client, statements, &staged).await
        };
        if let Err(error) = ended {
            // Whether a COMMIT landed is unknown: the next group reads the head anew.
            let _ = client.batch_execute("ROLLBACK").await;
            if !staged.envelopes.is_empty() {
                return staging::fail_group(replies, failed(&describe(&error)));
            }
        }
        self.state.head = staged.head();
        self.state.last_recorded_at = staged.recorded_at;
        self.state.last_event_id = staged.last_event_id;
        self.state.stream_versions.extend(staged.stream_versions);
        let head = self.state.head;
        staging::answer(&self.publisher, replies, staged.envelopes, head);
    }

    /// BEGIN, the head row locked, the group's lookups; when the head moved (another
    /// process, or a COMMIT we could not confirm), its events are caught up and the lookups
    /// made again without the cache.
    #[allow(clippy::type_complexity)]
    async fn open_group(
        &mut self,
        client: &Client,
        statements: &Statements,
        group: &[AppendRequest],
    ) -> Result<(HashMap<String, u64>, HashMap<String, (u64, Vec<u8>)>), StoreError> {
        use futures::TryFutureExt as _;
        let (streams, keys) = lookups(group, &self.state.stream_versions);
        let (_, locked, versions, keyed) = futures::try_join!(
            client.batch_execute("BEGIN").map_err(pg_error),
            client
                .query_one(&statements.lock_head, &[])
                .map_err(pg_error),
            versions_of(client, statements, &streams),
            keyed_by(client, statements, &keys),
        )?;
        let locked = head_of(locked.get(0), locked.get(1))?;
        if locked == self.state.head {
            return Ok((versions, keyed));
        }
        self.catch_up(client, locked).await?;
        let (streams, keys) = lookups(group, &self.state.stream_versions);
        Ok(futures::try_join!(
            versions_of(client, statements, &streams),
            keyed_by(client, statements, &keys),
        )?)
    }

    /// Reads and announces the events after our head up to `locked`, the head row as read;
    /// a log that lacks what we acknowledged, or does not link on from it, poisons the
    /// writer.
    async fn catch_up(
        &mut self,
        client: &impl GenericClient,
        locked: Head,
    ) -> Result<(), StoreError> {
        if locked == self.state.head {
            return Ok(());
        }
        let ours = self.state.head;
        if locked.position < ours.position {
            return Err(StoreError::Poisoned {
                reason: format!(
                    "the database's log ends at position {}, before position {} that was \
                     acknowledged",
                    locked.position, ours.position
                ),
            });
        }
        self.state.stream_versions.clear();
        while self.state.head.position < locked.position {
            let rows = client
                .query(
                    "SELECT position, prev_hash, hash, body FROM kpi_events \
                     WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3",
                    &[
                        &(self.state.head.position as i64),
                        &(locked.position as i64),
                        &CATCH_UP_PAGE,
                    ],
                )
                .await
                .map_err(pg_error)?;
            let mut envelopes: Vec<Envelope> = Vec::with_capacity(rows.len());
            for row in &rows {
                let envelope = read::envelope(row)?;
                let previous = envelopes.last().map_or(self.state.head, |last| Head {
                    position: last.position,
                    hash: last.hash,
                });
                if envelope.position != previous.position + 1 || envelope.prev_hash != previous.hash
                {
                    return Err(StoreError::Poisoned {
                        reason: format!(
                            "the database's event at position {} does not link on from the \
                             acknowledged {previous}",
                            envelope.position
                        ),
                    });
                }
                envelopes.push(envelope);
            }
            let Some(last) = envelopes.last() else {
                return Err(StoreError::Corrupt {
                    what: format!("position {}", self.state.head.position + 1),
                    reason: "missing from the log although the head is beyond it".to_owned(),
                });
            };
            self.state.head = Head {
                position: last.position,
                hash: last.hash,
            };
            self.state.last_recorded_at = last.recorded_at;
            self.state.last_event_id = Some(last.event_id);
            self.publisher.publish(&envelopes, self.state.head);
        }
        if self.state.head != locked {
            return Err(StoreError::Corrupt {
                what: "kpi_log_head".to_owned(),
                reason: format!("it says {locked}, the log ends with {}", self.state.head),
            });
        }
        Ok(())
    }
}

/// The group's streams whose versions are not cached, and its idempotency keys.
fn lookups<'a>(
    group: &'a [AppendRequest],
    cache: &HashMap<StreamId, u64>,
) -> (Vec<&'a str>, Vec<&'a str>) {
    let mut streams: Vec<&str> = group
        .iter()
        .map(|request| &request.stream)
        .filter(|stream| !cache.contains_key(*stream))
        .map(StreamId::as_str)
        .collect();
    streams.sort_unstable();
    streams.dedup();
    let keys = group
        .iter()
        .flat_map(|request| &request.events)
        .filter_map(|prepared| prepared.event.idempotency_key.as_deref())
        .collect();
    (streams, keys)
}

/// The current version of each of `streams` that has events.
async fn versions_of(
    client: &Client,
    statements: &Statements,
    streams: &[&str],
) -> Result<HashMap<String, u64>, StoreError> {
    let mut versions = HashMap::new();
    if !streams.is_empty() {
        for row in client
            .query(&statements.versions, &[&streams])
            .await
            .map_err(pg_error)?
        {
            versions.insert(row.get::<_, String>(0), row.get::<_, i64>(1) as u64);
        }
    }
    Ok(versions)
}

/// The position and record of each event that used one of `keys`.
async fn keyed_by(
    client: &Client,
    statements: &Statements,
    keys: &[&str],
) -> Result<HashMap<String, (u64, Vec<u8>)>, StoreError> {
    let mut keyed = HashMap::new();
    if !keys.is_empty() {
        for row in client
            .query(&statements.keyed, &[&keys])
            .await
            .map_err(pg_error)?
        {
            let (position, record) = read::record(&row)?;
            keyed.insert(row.get::<_, String>(4), (position, record));
        }
    }
    Ok(keyed)
}

/// Inserts the group's rows, moves the head row, notifies other processes (delivered at
/// COMMIT) and commits, pipelined on the connection. COMMIT returns once the WAL is flushed
/// (`synchronous_commit = on`).
async fn write_and_commit(
    client: &Client,
    statements: &Statements,
    staged: &Staged,
) -> Result<(), tokio_postgres::Error> {
    let rows = Rows::of(&staged.envelopes, &staged.records);
    let head = staged.head();
    let position = head.position as i64;
    let hash = head.hash.as_bytes().as_slice();
    let notified = head.position.to_string();
    let head_params: [&(dyn ToSql + Sync); 2] = [&position, &hash];
    let notify_params: [&(dyn ToSql + Sync); 2] = [&LOG_CHANNEL, &notified];
    futures::try_join!(
        rows.insert(client, &statements.insert),
        client.execute(&statements.set_head, &head_params),
        client.execute(&statements.notify, &notify_params),
        client.batch_execute("COMMIT"),
    )?;
    Ok(())
}
