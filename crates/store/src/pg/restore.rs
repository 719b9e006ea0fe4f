//! Restoring an archive into an empty PostgreSQL log: the archive judged whole first (by the
//! caller, `crate::restore`), then written a transaction of [`BATCH`] events at a time, each
//! checked again as it is written and locking the head row as a commit group does, so an
//! interrupted restore leaves a shorter valid log, and a restore racing appends fails
//! instead of interleaving with them.

use std::sync::Arc;

use super::rows::{Rows, INSERT};
use super::writer::{connect_writer, head_of};
use super::{pg_config, pg_error, PgStore, Runtime};
use crate::config::StoreConfig;
use crate::error::StoreError;
use crate::restore::{Chain, RestoreError};
use crate::types::{Envelope, Head};

/// Events per transaction.
const BATCH: usize = 1_024;

/// Writes `archive` (judged already) into the empty log of `config`'s database and opens it.
pub(crate) fn restore_from<F, I, E>(
    config: StoreConfig,
    archive: F,
) -> Result<PgStore, RestoreError>
where
    F: Fn() -> I,
    I: IntoIterator<Item = Result<Envelope, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Opening applies the schema; the log must be empty.
    let store = PgStore::open(config.clone())?;
    let found = store.head();
    drop(store);
    if found != Head::empty() {
        return Err(RestoreError::LogNotEmpty { head: found });
    }
    let runtime = Runtime::new()?;
    let pg = pg_config(&config)?;
    let client = Arc::new(runtime.block(async move { connect_writer(&pg).await })??);
    let mut chain = Chain::new();
    let mut envelopes = Vec::with_capacity(BATCH);
    let mut records = Vec::with_capacity(BATCH);
    let mut written = Head::empty();
    for (index, entry) in archive().into_iter().enumerate() {
        let envelope = entry.map_err(|source| RestoreError::Unreadable {
            index,
            source: source.into(),
        })?;
        records.push(chain.check(index, &envelope)?);
        envelopes.push(envelope);
        if envelopes.len() == BATCH {
            written = commit(&runtime, &client, written, &mut envelopes, &mut records)?;
        }
    }
    if !envelopes.is_empty() {
        commit(&runtime, &client, written, &mut envelopes, &mut records)?;
    }
    drop(client);
    drop(runtime);
    let store = PgStore::open(config)?;
    Ok(store)
}

/// One transaction: the head must still be `after`; the events follow it.
fn commit(
    runtime: &Runtime,
    client: &Arc<tokio_postgres::Client>,
    after: Head,
    envelopes: &mut Vec<Envelope>,
    records: &mut Vec<Vec<u8>>,
) -> Result<Head, StoreError> {
    let client = client.clone();
    let batch = (std::mem::take(envelopes), std::mem::take(records));
    runtime.block(async move {
        let (envelopes, records) = batch;
        let last = envelopes.last().expect("a batch is not empty");
        let head = Head {
            position: last.position,
            hash: last.hash,
        };
        client.batch_execute("BEGIN").await.map_err(pg_error)?;
        let written = async {
            let row = client
                .query_one("SELECT position, hash FROM kpi_log_head FOR UPDATE", &[])
                .await
                .map_err(pg_error)?;
            let locked = head_of(row.get(0), row.get(1))?;
            if locked != after {
                return Err(StoreError::Corrupt {
                    what: "restored log".to_owned(),
                    reason: format!(
                        "the log moved to {locked} during the restore (at {after}): \
                         something else appends to this database"
                    ),
                });
            }
            let insert = client.prepare(INSERT).await.map_err(pg_error)?;
            Rows::of(&envelopes, &records)
                .insert(&*client, &insert)
                .await
                .map_err(pg_error)?;
            client
                .execute(
                    "UPDATE kpi_log_head SET position = $1, hash = $2",
                    &[&(head.position as i64), &head.hash.as_bytes().as_slice()],
                )
                .await
                .map_err(pg_error)?;
            Ok(())
        }
        .await;
        match written {
            Ok(()) => client.batch_execute("COMMIT").await.map_err(pg_error)?,
            Err(error) => {
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(error);
            }
        }
        Ok(head)
    })?
}
