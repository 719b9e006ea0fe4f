//! The disk layout of a run of events: how their stored records are cut into chunks, and
//! the chunk values and index entries (event ids, event types, streams, idempotency keys)
//! written for them into a sled batch. The group commit and the restore both write through
//! here, so the log has one writer of its layout; `verify` checks it through
//! [`codec::chunk_index_entries`].

use crate::chunk::{self, Format};
use crate::codec::{self, IndexedEvent};
use crate::types::{Envelope, Head};

/// The rule that cuts a run of records into chunks: at most [`codec::CHUNK_MAX_EVENTS`]
/// events and [`codec::CHUNK_MAX_BYTES`] bytes a chunk, except that a single record larger
/// than that still gets a chunk of its own.
#[derive(Default)]
pub(crate) struct Chunker {
    events: usize,
    bytes: usize,
}

impl Chunker {
    /// Counts in the next record (`record_len` bytes); true when it opens a new chunk (the
    /// first record always does).
    pub(crate) fn opens_chunk(&mut self, record_len: usize) -> bool {
        let size = 4 + record_len;
        let full = self.events == codec::CHUNK_MAX_EVENTS
            || (self.events > 0 && self.bytes + size > codec::CHUNK_MAX_BYTES);
        if self.events == 0 || full {
            self.events = 1;
            self.bytes = size;
            true
        } else {
            self.events += 1;
            self.bytes += size;
            false
        }
    }
}

/// Adds `envelopes` (consecutive positions; `records[i]` is the stored record of
/// `envelopes[i]`) to `batch` in `format`, cut into chunks by [`Chunker`] from the first one.
pub(crate) fn add_events(
    batch: &mut sled::Batch,
    format: Format,
    envelopes: &[Envelope],
    records: &[Vec<u8>],
) {
    debug_assert_eq!(envelopes.len(), records.len());
    let mut chunker = Chunker::default();
    let mut start = 0;
    for (index, record) in records.iter().enumerate() {
        if chunker.opens_chunk(record.len()) && index > start {
            add_chunk(
                batch,
                format,
                &envelopes[start..index],
                &records[start..index],
            );
            start = index;
        }
    }
    if start < records.len() {
        add_chunk(batch, format, &envelopes[start..], &records[start..]);
    }
}

/// Adds one chunk (non-empty, as [`Chunker`] cut it) to `batch`: its value under the first
/// event's key (encoded as `format` stores chunks) and every index entry it implies.
pub(crate) fn add_chunk(
    batch: &mut sled::Batch,
    format: Format,
    envelopes: &[Envelope],
    records: &[Vec<u8>],
) {
    debug_assert_eq!(envelopes.len(), records.len());
    let bytes = records.iter().map(|record| 4 + record.len()).sum();
    let mut value = Vec::with_capacity(bytes);
    for record in records {
        chunk::push_chunk_record(&mut value, record);
    }
    batch.insert(
        &codec::event_key(envelopes[0].position)[..],
        chunk::encode_chunk(format, value),
    );
    let indexed: Vec<IndexedEvent<'_>> = envelopes
        .iter()
        .map(|envelope| IndexedEvent {
            position: envelope.position,
            event_id: *envelope.event_id.as_bytes(),
            stream: envelope.stream_id.as_str(),
            stream_version: envelope.stream_version,
            event_type: &envelope.event_type,
            idempotency_key: envelope.idempotency_key.as_deref(),
        })
        .collect();
    for entry in codec::chunk_index_entries(format, &indexed) {
        batch.insert(entry.key, entry.value);
    }
}

/// Moves the log's head in `batch` to `head`.
pub(crate) fn set_head(batch: &mut sled::Batch, head: Head) {
    batch.insert(
        codec::META_HEAD_KEY,
        &codec::encode_head(head.position, &head.hash)[..],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunk sizes (in events) the chunker cuts records of these lengths into.
    fn cut(lengths: &[usize]) -> Vec<usize> {
        let mut chunker = Chunker::default();
        let mut sizes: Vec<usize> = Vec::new();
        for &len in lengths {
            if chunker.opens_chunk(len) {
                sizes.push(0);
            }
            *sizes.last_mut().expect("the first record opens a chunk") += 1;
        }
        sizes
    }

    #[test]
    fn a_chunk_holds_at_most_the_event_limit() {
        let small = vec![10; codec::CHUNK_MAX_EVENTS * 2 + 1];
        assert_eq!(
            cut(&small),
            vec![codec::CHUNK_MAX_EVENTS, codec::CHUNK_MAX_EVENTS, 1]
        );
    }

    #[test]
    fn a_chunk_holds_at_most_the_byte_limit_but_an_oversized_record_gets_its_own() {
        let half = codec::CHUNK_MAX_BYTES / 2 - 4;
        // Two halves fill a chunk exactly (4 length bytes each); a third opens the next.
        assert_eq!(cut(&[half, half, half]), vec![2, 1]);
        let huge = codec::CHUNK_MAX_BYTES * 2;
        assert_eq!(cut(&[10, huge, 10]), vec![1, 1, 1]);
    }
}
