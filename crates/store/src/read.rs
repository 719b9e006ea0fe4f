//! Reading chunks back: one event by position, and lazy iteration over a position range.

use sled::IVec;

use crate::chunk::{self, ChunkBytes, Format};
use crate::codec;
use crate::error::StoreError;
use crate::storage::Lease;
use crate::types::{Envelope, RawEnvelope};

fn corrupt(what: impl Into<String>, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        what: what.into(),
        reason: reason.into(),
    }
}

/// The chunk whose first position is the greatest at or below `position`, with that first
/// position. The event itself may still be missing if the chunk ends before it.
pub(crate) fn chunk_at_or_before(
    db: &sled::Db,
    position: u64,
) -> Result<Option<(u64, IVec)>, StoreError> {
    let floor = db
        .range(&codec::event_key(0)[..]..=&codec::event_key(position)[..])
        .next_back()
        .transpose()?;
    floor
        .map(|(key, chunk)| {
            let first = codec::position_of_event_key(&key)
                .ok_or_else(|| corrupt(format!("chunk key {key:?}"), "not a position"))?;
            Ok((first, chunk))
        })
        .transpose()
}

/// The plain bytes of the chunk stored as `value` under the key of position `first`.
pub(crate) fn decode_chunk(
    format: Format,
    first: u64,
    value: IVec,
) -> Result<ChunkBytes, StoreError> {
    chunk::decode_chunk(format, value)
        .map_err(|reason| corrupt(format!("chunk at position {first}"), reason))
}

/// The record (`prev_hash ‖ hash ‖ body`) of `position`, if stored.
pub(crate) fn record_at(
    db: &sled::Db,
    format: Format,
    position: u64,
) -> Result<Option<Vec<u8>>, StoreError> {
    let Some((first, chunk)) = chunk_at_or_before(db, position)? else {
        return Ok(None);
    };
    let chunk = decode_chunk(format, first, chunk)?;
    let record = chunk::record_in_chunk(&chunk, first, position)
        .map_err(|reason| corrupt(format!("chunk at position {first}"), reason))?;
    Ok(record.map(<[u8]>::to_vec))
}

/// The position and record the idempotency index gives for `key`: in format 2 a candidate,
/// which [`chunk::record_has_key`] confirms.
pub(crate) fn keyed_record(
    db: &sled::Db,
    format: Format,
    key: &str,
) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    let Some(value) = db.get(chunk::idempotency_index_key(format, key))? else {
        return Ok(None);
    };
    let what = || format!("idempotency index entry for key {key:?}");
    let position =
        codec::decode_u64(&value).ok_or_else(|| corrupt(what(), "the position is not 8 bytes"))?;
    let record = record_at(db, format, position)?
        .ok_or_else(|| corrupt(what(), format!("position {position} does not exist")))?;
    Ok(Some((position, record)))
}

/// The position, at most `head`, of the event that used the idempotency key `key`.
pub(crate) fn key_position(
    db: &sled::Db,
    format: Format,
    head: u64,
    key: &str,
) -> Result<Option<u64>, StoreError> {
    let Some((position, record)) = keyed_record(db, format, key)? else {
        return Ok(None);
    };
    if position > head {
        return Ok(None);
    }
    // A format 2 entry is keyed by a hash of the key: only the event says it used `key`.
    let used = chunk::record_has_key(&record, key)
        .map_err(|reason| corrupt(format!("event at position {position}"), reason))?;
    Ok(used.then_some(position))
}

pub(crate) fn decode_at(position: u64, record: &[u8]) -> Result<Envelope, StoreError> {
    codec::decode_envelope(position, record)
        .map_err(|reason| corrupt(format!("event at position {position}"), reason))
}

pub(crate) fn decode_raw_at(position: u64, record: &[u8]) -> Result<RawEnvelope, StoreError> {
    codec::decode_raw_envelope(position, record)
        .map_err(|reason| corrupt(format!("event at position {position}"), reason))
}

/// The current version of `stream` (0 when it has no events), from its last index run.
pub(crate) fn stream_version(db: &sled::Db, stream: &str) -> Result<u64, StoreError> {
    let prefix = codec::stream_index_prefix(stream);
    let Some((key, value)) = db.scan_prefix(&prefix).next_back().transpose()? else {
        return Ok(0);
    };
    let run = codec::StreamRun::decode(prefix.len(), &key, &value)
        .ok_or_else(|| corrupt(format!("stream index entry {key:?}"), "malformed"))?;
    Ok(run.last_version())
}

/// Events of positions `from..end`, decoded one at a time from the chunks.
pub(crate) struct EventIter<T = Envelope> {
    decode: fn(u64, &[u8]) -> Result<T, StoreError>,
    format: Format,
    /// Checked before each chunk: when the storage fails, the iterator stops and lets go of
    /// the failed database. `None` for a database not handed to readers yet.
    lease: Option<Lease>,
    chunks: Option<sled::Iter>,
    /// The chunk being read, the position of its next record, and that record's offset.
    current: Option<(ChunkBytes, u64, usize)>,
    from: u64,
    end: u64,
    /// The position the next chunk must start at, once the first chunk was read.
    expected_chunk: Option<u64>,
    /// A failure to position the iterator, reported by the first `next`.
    pending: Option<StoreError>,
}

/// What an iterator reads: a database and the lease it holds it under (none for a database
/// not handed to readers yet), or why there is none to read.
pub(crate) type Source = Result<(sled::Db, Option<Lease>), StoreError>;

impl EventIter<Envelope> {
    /// Iterates positions `from..end` (`from` 0 means 1) of `source`; when there is no
    /// database to read, yields its error and ends.
    pub(crate) fn new(source: Source, format: Format, from: u64, end: u64) -> Self {
        Self::with_decoder(source, format, from, end, decode_at)
    }
}

impl EventIter<RawEnvelope> {
    /// Like [`EventIter::new`], leaving payloads as JSON text.
    pub(crate) fn raw(source: Source, format: Format, from: u64, end: u64) -> Self {
        Self::with_decoder(source, format, from, end, decode_raw_at)
    }
}

impl<T> EventIter<T> {
    fn with_decoder(
        source: Source,
        format: Format,
        from: u64,
        end: u64,
        decode: fn(u64, &[u8]) -> Result<T, StoreError>,
    ) -> Self {
        let positioned = source.and_then(|(db, lease)| {
            Ok(Self {
                lease,
                ..Self::positioned(&db, format, from, end, decode)?
            })
        });
        positioned.unwrap_or_else(|error| Self {
            pending: Some(error),
            ..Self::empty(format, decode)
        })
    }

    fn positioned(
        db: &sled::Db,
        format: Format,
        from: u64,
        end: u64,
        decode: fn(u64, &[u8]) -> Result<T, StoreError>,
    ) -> Result<Self, StoreError> {
        let from = from.max(1);
        let chunks = if from < end {
            let start = chunk_at_or_before(db, from)?.map_or(from, |(first, _)| first);
            Some(db.range(codec::event_key(start)..codec::event_key(end)))
        } else {
            None
        };
        Ok(Self {
            decode,
            format,
            lease: None,
            chunks,
            current: None,
            from,
            end,
            expected_chunk: None,
            pending: None,
        })
    }

    fn empty(format: Format, decode: fn(u64, &[u8]) -> Result<T, StoreError>) -> Self {
        Self {
            decode,
            format,
            lease: None,
            chunks: None,
            current: None,
            from: 1,
            end: 1,
            expected_chunk: None,
            pending: None,
        }
    }

    fn fail(&mut self, error: StoreError) -> Option<Result<T, StoreError>> {
        self.chunks = None;
        self.current = None;
        self.lease = None;
        Some(Err(error))
    }
}

impl<T> Iterator for EventIter<T> {
    type Item = Result<T, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(error) = self.pending.take() {
            return Some(Err(error));
        }
        loop {
            if let Some((chunk, position, offset)) = &mut self.current {
                if *position >= self.end {
                    self.chunks = None;
                    self.current = None;
                    return None;
                }
                if *offset < chunk.len() {
                    let step = chunk::next_chunk_record(&chunk[*offset..]);
                    let (record, used) = match step {
                        Ok(step) => step,
                        Err(reason) => {
                            let error =
                                corrupt(format!("chunk holding position {position}"), reason);
                            return self.fail(error);
                        }
                    };
                    let at = *position;
                    let decoded = (at >= self.from).then(|| (self.decode)(at, record));
                    *offset += used;
                    *position += 1;
                    match decoded {
                        Some(result) => return Some(result),
                        None => continue,
                    }
                }
                self.expected_chunk = Some(*position);
                self.current = None;
            }
            if let Some(Err(error)) = self.lease.as_ref().map(Lease::check) {
                return self.fail(error);
            }
            let (key, chunk) = match self.chunks.as_mut()?.next() {
                Some(Ok(entry)) => entry,
                Some(Err(error)) => {
                    let error = match &self.lease {
                        Some(lease) if lease.lost_to_storage_failure() => {
                            lease.check().expect_err("the lease was lost")
                        }
                        _ => error.into(),
                    };
                    return self.fail(error);
                }
                None => {
                    // The range ended: fine only if it reached `end`, which the head vouches for.
                    let reached = self.expected_chunk.unwrap_or(self.from);
                    if reached < self.end {
                        return self.fail(corrupt(
                            format!("position {reached}"),
                            "missing from the log although the head is beyond it",
                        ));
                    }
                    self.chunks = None;
                    return None;
                }
            };
            let Some(first) = codec::position_of_event_key(&key) else {
                return self.fail(corrupt(format!("chunk key {key:?}"), "not a position"));
            };
            let in_place = match self.expected_chunk {
                None => first <= self.from,
                Some(expected) => first == expected,
            };
            if !in_place {
                let missing = self.expected_chunk.unwrap_or(self.from);
                return self.fail(corrupt(
                    format!("position {missing}"),
                    "missing from the log (positions must be gapless)",
                ));
            }
            match decode_chunk(self.format, first, chunk) {
                Ok(chunk) => self.current = Some((chunk, first, 0)),
                Err(error) => return self.fail(error),
            }
        }
    }
}
