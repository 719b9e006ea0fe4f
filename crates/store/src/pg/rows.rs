//! Events as rows: the one-statement insert of a commit group (or a restore batch).

use tokio_postgres::{GenericClient, Statement};
use uuid::Uuid;

use crate::codec;
use crate::types::Envelope;

/// Inserts the events of [`Rows`], column by column.
pub(crate) const INSERT: &str =
    "INSERT INTO kpi_events (position, event_id, stream_id, stream_version, \
     event_type, idempotency_key, prev_hash, hash, body) \
     SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], \
     $6::text[], $7::bytea[], $8::bytea[], $9::bytea[])";

/// Events as column arrays for the one-statement insert (`unnest`).
pub(crate) struct Rows<'a> {
    positions: Vec<i64>,
    event_ids: Vec<Uuid>,
    streams: Vec<&'a str>,
    versions: Vec<i64>,
    types: Vec<&'a str>,
    keys: Vec<Option<&'a str>>,
    prev_hashes: Vec<&'a [u8]>,
    hashes: Vec<&'a [u8]>,
    bodies: Vec<&'a [u8]>,
}

impl<'a> Rows<'a> {
    /// `records[i]` is the stored record of `envelopes[i]`.
    pub(crate) fn of(envelopes: &'a [Envelope], records: &'a [Vec<u8>]) -> Self {
        Rows {
            positions: envelopes.iter().map(|e| e.position as i64).collect(),
            event_ids: envelopes.iter().map(|e| e.event_id).collect(),
            streams: envelopes.iter().map(|e| e.stream_id.as_str()).collect(),
            versions: envelopes.iter().map(|e| e.stream_version as i64).collect(),
            types: envelopes.iter().map(|e| e.event_type.as_str()).collect(),
            keys: envelopes
                .iter()
                .map(|e| e.idempotency_key.as_deref())
                .collect(),
            prev_hashes: envelopes
                .iter()
                .map(|e| e.prev_hash.as_bytes().as_slice())
                .collect(),
            hashes: envelopes
                .iter()
                .map(|e| e.hash.as_bytes().as_slice())
                .collect(),
            bodies: records
                .iter()
                .map(|record| &record[codec::HASHES_LEN..])
                .collect(),
        }
    }

    pub(crate) async fn insert(
        &self,
        client: &impl GenericClient,
        statement: &Statement,
    ) -> Result<u64, tokio_postgres::Error> {
        client
            .execute(
                statement,
                &[
                    &self.positions,
                    &self.event_ids,
                    &self.streams,
                    &self.versions,
                    &self.types,
                    &self.keys,
                    &self.prev_hashes,
                    &self.hashes,
                    &self.bodies,
                ],
            )
            .await
    }
}
