//! The event store on PostgreSQL: the same envelopes, positions, hash chain and API
//! guarantees as on sled, in a database several processes may share.
//!
//! - **Writes**: one writer task per process commits every waiting append as one
//!   transaction (group commit, [`writer`]). It locks the log's head row first, so positions
//!   are assigned under a lock (gapless, one chain order across processes), judges the group
//!   with the same code as the sled writer (`crate::staging`), inserts the rows, moves the
//!   head and commits with `synchronous_commit = on`; appends are answered only after
//!   COMMIT returned.
//! - **Reads** are synchronous, as on sled. The backend owns a small Tokio runtime (one
//!   worker thread) where its connections live; a read hands its query to that runtime and
//!   waits on a plain channel. So reads work from any thread, a Tokio worker, the blocking
//!   pool or a plain thread, exactly as sled's do, where `block_in_place` would panic on a
//!   current-thread runtime and the `postgres` crate's own `block_on` panics inside any
//!   runtime. Reads never go beyond [`PgStore::head`], the last position this process
//!   acknowledged or saw committed.
//! - **Schema**: versioned migrations in `crates/store/migrations/`, applied at open
//!   ([`schema`]).

mod listen;
pub(crate) mod merkle;
mod read;
pub(crate) mod restore;
mod rows;
pub(crate) mod schema;
mod verify;
mod writer;

use parking_lot::{Mutex, RwLock};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::Stream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};
use uuid::Uuid;

use crate::config::StoreConfig;
use crate::error::{AppendError, StoreError, VerifyFailure};
use crate::prepare::prepare;
use crate::staging::{AppendRequest, Publisher};
use crate::storage::StorageStatus;
use crate::subscription::{self, LogSource};
use crate::types::StreamId;
use crate::types::{Appended, Envelope, ExpectedVersion, Hash, Head, NewEvent, RawEnvelope};

pub(crate) use read::PgIter;

/// The channel a commit notifies (payload: the new head position), for other processes.
pub(crate) const LOG_CHANNEL: &str = "kpi_ledger_log";

/// A PostgreSQL error in words: the server's SQLSTATE, message and detail when it sent one.
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{} ({})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(": ");
                text.push_str(detail);
            }
            text
        }
        None => {
            let mut text = error.to_string();
            if let Some(source) = std::error::Error::source(error) {
                text.push_str(": ");
                text.push_str(&source.to_string());
            }
            text
        }
    }
}

/// A statement the server refused is [`StoreError::Postgres`]; a connection that failed or
/// closed is [`StoreError::Unavailable`] (the same request may be sent again).
pub(crate) fn pg_error(error: tokio_postgres::Error) -> StoreError {
    if error.as_db_error().is_some() {
        StoreError::Postgres(describe(&error))
    } else {
        StoreError::Unavailable {
            reason: format!("PostgreSQL: {}", describe(&error)),
            retry_in_secs: None,
        }
    }
}

/// Opens a connection and drives it on the current runtime.
pub(crate) async fn connect(
    pg: &tokio_postgres::Config,
    role: &'static str,
) -> Result<Client, StoreError> {
    let (client, connection) = pg.connect(NoTls).await.map_err(pg_error)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(role, error = %describe(&error), "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// The parsed `store.postgres.url`.
pub(crate) fn pg_config(config: &StoreConfig) -> Result<tokio_postgres::Config, StoreError> {
    let url = config.postgres.url.as_deref().unwrap_or_default();
    let mut pg: tokio_postgres::Config =
        url.parse().map_err(|error| StoreError::InvalidConfig {
            field: "postgres.url",
            reason: format!(
                "is not a libpq connection URL ({error}): {}",
                config.postgres.redacted_url()
            ),
        })?;
    if pg.get_application_name().is_none() {
        pg.application_name("kpi-ledger");
    }
    Ok(pg)
}

/// The backend's own runtime; shut down in the background when the last reader lets go, so
/// that dropping a store inside an async context never blocks or panics.
pub(crate) struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    pub(crate) fn new() -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("kpi-store-pg")
            .enable_all()
            .build()
            .map_err(|source| StoreError::Io {
                path: "kpi-store-pg runtime".into(),
                source,
            })?;
        Ok(Runtime(Some(runtime)))
    }

    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("the runtime lives until dropped")
            .handle()
    }

    /// Runs `future` on the backend's runtime and waits for it on this thread. Never called
    /// from the runtime's own thread.
    pub(crate) fn block<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        self.handle().spawn(async move {
            let _ = sender.send(future.await);
        });
        receiver.recv().map_err(|_| StoreError::Closed)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Connections for reads, opened on first use and again after one closed, taken in turn.
struct Readers {
    pg: tokio_postgres::Config,
    slots: Vec<tokio::sync::Mutex<Option<Arc<Client>>>>,
    next: AtomicUsize,
}

impl Readers {
    /// A connection and its slot; `fresh` opens a new one whatever the slot holds.
    async fn client(&self, fresh: bool) -> Result<(Arc<Client>, usize), StoreError> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[index].lock().await;
        match slot.as_ref() {
            Some(client) if !fresh && !client.is_closed() => Ok((client.clone(), index)),
            _ => {
                let client = Arc::new(connect(&self.pg, "reader").await?);
                *slot = Some(client.clone());
                Ok((client, index))
            }
        }
    }

    /// Runs a read; one that failed because its connection did (a restarted server, a
    /// terminated backend, a failover) runs once more on a new connection: reads change
    /// nothing, so running one twice is harmless.
    async fn query(&self, sql: &str, params: &Params) -> Result<Vec<Row>, StoreError> {
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|param| param.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let (client, _) = self.client(false).await?;
        match client.query(sql, &refs).await {
            Err(error) if error.as_db_error().is_none() || client.is_closed() => {
                tracing::debug!(error = %describe(&error), "a read's connection failed; retrying");
                let (client, _) = self.client(true).await?;
                client.query(sql, &refs).await.map_err(pg_error)
            }
            answer => answer.map_err(pg_error),
        }
    }
}

/// Parameters of a read query, owned so the query can run on the backend's runtime.
pub(crate) type Params = Vec<Box<dyn ToSql + Send + Sync>>;

/// What readers need; subscriptions keep this alive without keeping the writer alive.
pub(crate) struct PgShared {
    readers: Arc<Readers>,
    head: Arc<RwLock<Head>>,
    config: StoreConfig,
    /// Always "available": a failed connection is reported per request instead.
    status: watch::Sender<StorageStatus>,
    /// Set by the writer when the database lacks what this process acknowledged.
    poisoned: Arc<Mutex<Option<String>>>,
    /// Last, so the runtime stops after everything that uses it.
    runtime: Runtime,
}

impl PgShared {
    pub(crate) fn head(&self) -> Head {
        *self.head.read()
    }

    /// Runs one read query on a reader connection.
    pub(crate) fn query(&self, sql: &'static str, params: Params) -> Result<Vec<Row>, StoreError> {
        let readers = self.readers.clone();
        self.runtime
            .block(async move { readers.query(sql, &params).await })?
    }
}

impl LogSource for PgShared {
    fn read_from(&self, from_position: u64, limit: usize) -> Result<Vec<Envelope>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        read::page(
            self,
            from_position.max(1),
            self.head().position + 1,
            limit,
            crate::read::decode_at,
        )
    }

    fn storage_changes(&self) -> watch::Receiver<StorageStatus> {
        self.status.subscribe()
    }
}

struct WriterHandle {
    requests: Mutex<Option<mpsc::UnboundedSender<AppendRequest>>>,
    published: Mutex<Option<broadcast::Sender<Arc<[Envelope]>>>>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        // The writer ends once it has committed what it received.
        lock(&self.requests).take();
        lock(&self.published).take();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> parking_lot::MutexGuard<'_, T> {
    mutex.lock()
}

/// The PostgreSQL backend of [`crate::EventStore`]. Cheap to clone.
#[derive(Clone)]
pub(crate) struct PgStore {
    shared: Arc<PgShared>,
    writer: Arc<WriterHandle>,
}

impl PgStore {
    /// Connects to `config.postgres.url`, brings the schema up to date and starts the writer.
    pub(crate) fn open(config: StoreConfig) -> Result<PgStore, StoreError> {
        config.check()?;
        let pg = pg_config(&config)?;
        let runtime = Runtime::new()?;
        let writer_pg = pg.clone();
        let (client, state) = runtime.block(async move {
            let mut client = writer::connect_writer(&writer_pg).await?;
            schema::migrate(&mut client).await?;
            let state = writer::load_state(&client).await?;
            Ok::<_, StoreError>((client, state))
        })??;
        let head = Arc::new(RwLock::new(state.head));
        let (published, _) = broadcast::channel(config.subscriber_buffer);
        let (requests, receiver) = mpsc::unbounded_channel();
        let (wake, wakes) = mpsc::unbounded_channel();
        runtime
            .handle()
            .spawn(listen::listen(pg.clone(), head.clone(), wake));
        let writer = writer::PgWriter::new(
            receiver,
            wakes,
            pg.clone(),
            client,
            config.clone(),
            state,
            Publisher {
                head: head.clone(),
                published: published.clone(),
            },
        );
        let poisoned = writer.refusal();
        let task = runtime.handle().spawn(writer.run());
        let readers = Readers {
            pg,
            slots: (0..config.postgres.read_connections)
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
        };
        tracing::info!(
            url = %config.postgres.redacted_url(),
            head = head.read().position,
            "event store opened on PostgreSQL"
        );
        Ok(PgStore {
            shared: Arc::new(PgShared {
                readers: Arc::new(readers),
                head,
                config,
                status: watch::Sender::new(StorageStatus::default()),
                poisoned,
                runtime,
            }),
            writer: Arc::new(WriterHandle {
                requests: Mutex::new(Some(requests)),
                published: Mutex::new(Some(published)),
                task: Mutex::new(Some(task)),
            }),
        })
    }

    pub(crate) async fn append_or_recall(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<Appended, AppendError> {
        let events = prepare(events, self.shared.config.max_event_bytes)?;
        let (reply, answer) = oneshot::channel();
        {
            let requests = lock(&self.writer.requests);
            let requests = requests.as_ref().ok_or(StoreError::Closed)?;
            requests
                .send(AppendRequest {
                    stream: stream.clone(),
                    expected,
                    events,
                    reply,
                })
                .map_err(|_| StoreError::Closed)?;
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub(crate) fn iter_from(&self, from_position: u64) -> PgIter<Envelope> {
        PgIter::new(&self.shared, from_position, self.head().position + 1)
    }

    pub(crate) fn iter_raw_from(&self, from_position: u64) -> PgIter<RawEnvelope> {
        PgIter::raw(&self.shared, from_position, self.head().position + 1)
    }

    pub(crate) fn read_stream(&self, stream: &StreamId) -> Result<Vec<Envelope>, StoreError> {
        let rows = self.shared.query(
            "SELECT position, prev_hash, hash, body FROM kpi_events \
             WHERE stream_id = $1 AND position <= $2 ORDER BY stream_version",
            vec![
                Box::new(stream.as_str().to_owned()),
                Box::new(self.head().position as i64),
            ],
        )?;
        rows.iter().map(read::envelope).collect()
    }

    pub(crate) fn read_by_type(
        &self,
        event_type: &str,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        let head = self.head().position;
        let from = from_position.max(1);
        if from > head || limit == 0 {
            return Ok(Vec::new());
        }
        let rows = self.shared.query(
            "SELECT position, prev_hash, hash, body FROM kpi_events \
             WHERE event_type = $1 AND position >= $2 AND position <= $3 \
             ORDER BY position LIMIT $4",
            vec![
                Box::new(event_type.to_owned()),
                Box::new(from as i64),
                Box::new(head as i64),
                Box::new(i64::try_from(limit).unwrap_or(i64::MAX)),
            ],
        )?;
        rows.iter().map(read::envelope).collect()
    }

    pub(crate) fn get(&self, event_id: Uuid) -> Result<Option<Envelope>, StoreError> {
        let rows = self.shared.query(
            "SELECT position, prev_hash, hash, body FROM kpi_events \
             WHERE event_id = $1 AND position <= $2",
            vec![Box::new(event_id), Box::new(self.head().position as i64)],
        )?;
        rows.first().map(read::envelope).transpose()
    }

    pub(crate) fn idempotency_key_position(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let rows = self.shared.query(
            "SELECT position FROM kpi_events WHERE idempotency_key = $1 AND position <= $2",
            vec![
                Box::new(key.to_owned()),
                Box::new(self.head().position as i64),
            ],
        )?;
        Ok(rows.first().map(|row| row.get::<_, i64>(0) as u64))
    }

    pub(crate) fn idempotency_keys_used(
        &self,
        keys: &[&str],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        if keys.is_empty() {
            return Ok(Default::default());
        }
        let keys: Vec<String> = keys.iter().map(|key| (*key).to_owned()).collect();
        let rows = self.shared.query(
            "SELECT idempotency_key FROM kpi_events \
             WHERE idempotency_key = ANY($1) AND position <= $2",
            vec![Box::new(keys), Box::new(self.head().position as i64)],
        )?;
        Ok(rows.iter().map(|row| row.get::<_, String>(0)).collect())
    }

    pub(crate) fn head(&self) -> Head {
        self.shared.head()
    }

    pub(crate) fn subscribe(
        &self,
        from_position: u64,
    ) -> impl Stream<Item = Result<Envelope, StoreError>> + Send + 'static {
        // Subscribed before anything is read: see `crate::subscription`.
        let live = lock(&self.writer.published)
            .as_ref()
            .map(broadcast::Sender::subscribe);
        subscription::catch_up(self.shared.clone(), live, from_position)
    }

    pub(crate) fn verify_walk(
        &self,
        head: Head,
        anchor: Option<(u64, Hash)>,
        proceed: &mut dyn FnMut(u64) -> bool,
    ) -> Option<Result<Head, VerifyFailure>> {
        verify::walk(&self.shared, head, anchor, proceed)
    }

    pub(crate) async fn close(self) {
        lock(&self.writer.requests).take();
        lock(&self.writer.published).take();
        let task = lock(&self.writer.task).take();
        if let Some(task) = task {
            if let Err(error) = task.await {
                tracing::error!(%error, "the PostgreSQL writer task failed");
            }
        }
        tracing::debug!("event store on PostgreSQL closed");
    }

    pub(crate) fn storage(&self) -> StorageStatus {
        self.shared.status.borrow().clone()
    }

    pub(crate) fn refusal(&self) -> Option<String> {
        self.shared.poisoned.lock().clone()
    }

    pub(crate) fn storage_changes(&self) -> watch::Receiver<StorageStatus> {
        self.shared.status.subscribe()
    }
}
