//! Rows back into envelopes, and lazy iteration over a position range a page at a time.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio_postgres::Row;

use super::PgShared;
use crate::codec;
use crate::error::StoreError;
use crate::read::{decode_at, decode_raw_at};
use crate::types::{Envelope, RawEnvelope};

/// Rows one iterator query fetches.
const PAGE: i64 = 512;

/// The stored record (`prev_hash ‖ hash ‖ body`) of a row whose first four columns are
/// `position, prev_hash, hash, body`, with its position.
pub(crate) fn record(row: &Row) -> Result<(u64, Vec<u8>), StoreError> {
    let position: i64 = row.try_get(0).map_err(super::pg_error)?;
    let prev_hash: &[u8] = row.try_get(1).map_err(super::pg_error)?;
    let hash: &[u8] = row.try_get(2).map_err(super::pg_error)?;
    let body: &[u8] = row.try_get(3).map_err(super::pg_error)?;
    let corrupt = |what: &str| StoreError::Corrupt {
        what: format!("event at position {position}"),
        reason: format!("its {what} is not 32 bytes"),
    };
    let prev_hash: [u8; 32] = prev_hash.try_into().map_err(|_| corrupt("prev_hash"))?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| corrupt("hash"))?;
    let record = codec::encode_record(
        &crate::types::Hash::from_bytes(prev_hash),
        &crate::types::Hash::from_bytes(hash),
        body,
    );
    Ok((position as u64, record))
}

pub(crate) fn envelope(row: &Row) -> Result<Envelope, StoreError> {
    let (position, record) = record(row)?;
    decode_at(position, &record)
}

/// Events of positions `from..end`, fetched [`PAGE`] rows at a time.
pub(crate) struct PgIter<T> {
    shared: Arc<PgShared>,
    decode: fn(u64, &[u8]) -> Result<T, StoreError>,
    next: u64,
    end: u64,
    /// Fetched records, decoded one at a time as they are taken.
    page: VecDeque<(u64, Vec<u8>)>,
    done: bool,
}

impl PgIter<Envelope> {
    pub(crate) fn new(shared: &Arc<PgShared>, from: u64, end: u64) -> Self {
        Self::with_decoder(shared, from, end, decode_at)
    }
}

impl PgIter<RawEnvelope> {
    pub(crate) fn raw(shared: &Arc<PgShared>, from: u64, end: u64) -> Self {
        Self::with_decoder(shared, from, end, decode_raw_at)
    }
}

impl<T> PgIter<T> {
    fn with_decoder(
        shared: &Arc<PgShared>,
        from: u64,
        end: u64,
        decode: fn(u64, &[u8]) -> Result<T, StoreError>,
    ) -> Self {
        PgIter {
            shared: shared.clone(),
            decode,
            next: from.max(1),
            end,
            page: VecDeque::new(),
            done: false,
        }
    }

    fn fetch(&mut self) -> Result<(), StoreError> {
        let page = records(&self.shared, self.next, self.end, PAGE)?;
        self.next += page.len() as u64;
        self.page.extend(page);
        Ok(())
    }
}

/// Up to `limit` events of positions `from..end` (`from` at least 1), gapless: a position
/// below `end` that is not there is an error.
pub(crate) fn page<T>(
    shared: &PgShared,
    from: u64,
    end: u64,
    limit: i64,
    decode: fn(u64, &[u8]) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    records(shared, from, end, limit)?
        .iter()
        .map(|(position, record)| decode(*position, record))
        .collect()
}

/// The stored records of [`page`], not decoded.
fn records(
    shared: &PgShared,
    from: u64,
    end: u64,
    limit: i64,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    if from >= end || limit <= 0 {
        return Ok(Vec::new());
    }
    let rows = shared.query(
        "SELECT position, prev_hash, hash, body FROM kpi_events \
         WHERE position >= $1 AND position < $2 ORDER BY position LIMIT $3",
        vec![Box::new(from as i64), Box::new(end as i64), Box::new(limit)],
    )?;
    let mut next = from;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        let (position, record) = record(row)?;
        if position != next {
            return Err(missing(next));
        }
        events.push((position, record));
        next += 1;
    }
    if (rows.len() as i64) < limit && next < end {
        return Err(missing(next));
    }
    Ok(events)
}

fn missing(position: u64) -> StoreError {
    StoreError::Corrupt {
        what: format!("position {position}"),
        reason: "missing from the log although the head is beyond it".to_owned(),
    }
}

impl<T> Iterator for PgIter<T> {
    type Item = Result<T, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some((position, record)) = self.page.pop_front() {
            return Some((self.decode)(position, &record));
        }
        if self.done || self.next >= self.end {
            return None;
        }
        if let Err(error) = self.fetch() {
            self.done = true;
            return Some(Err(error));
        }
        let (position, record) = self.page.pop_front()?;
        Some((self.decode)(position, &record))
    }
}
