//! The PostgreSQL schema, versioned in the repository (`crates/store/migrations/`): each
//! migration runs once, in order, inside one transaction with its row in
//! `kpi_schema_version`, at open. An advisory lock makes gateways opening the same database
//! at once apply each migration exactly once; a database of a newer schema than this build
//! knows is refused without being touched.

use tokio_postgres::Client;

use super::pg_error;
use crate::error::StoreError;

/// Every migration: version, name, SQL. Append only; never edit one that shipped.
const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "0001_event_log",
        include_str!("../../migrations/0001_event_log.sql"),
    ),
    (
        2,
        "0002_merkle_tree",
        include_str!("../../migrations/0002_merkle_tree.sql"),
    ),
];

/// The schema version this build writes and reads.
pub(crate) const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Any 64-bit number the database's other users do not lock: "kpi-ledger schema".
const MIGRATION_LOCK: i64 = 0x6b70_692d_7363_6865;

/// Brings the database to [`SCHEMA_VERSION`]; returns the version it found.
pub(crate) async fn migrate(client: &mut Client) -> Result<u32, StoreError> {
    let tx = client.transaction().await.map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_error)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS kpi_schema_version (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(pg_error)?;
    let found: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM kpi_schema_version",
            &[],
        )
        .await
        .map_err(pg_error)?
        .get(0);
    let found = u32::try_from(found).unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::UnsupportedSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > found) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Postgres(format!("migration {name}: {}", describe(&e))))?;
        tx.execute(
            "INSERT INTO kpi_schema_version (version, name) VALUES ($1, $2)",
            &[&(*version as i32), name],
        )
        .await
        .map_err(pg_error)?;
        tracing::info!(version, name, "PostgreSQL schema migrated");
    }
    tx.commit().await.map_err(pg_error)?;
    Ok(found)
}

fn describe(error: &tokio_postgres::Error) -> String {
    super::describe(error)
}
