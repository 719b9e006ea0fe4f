//! On-disk layout: key prefixes of the single sled tree, the record encoding, and the
//! canonical bytes the hash chain is computed over. See the crate docs for the contract.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::chunk::{self, Format};
use crate::types::{Envelope, Hash, Occurred, RawEnvelope, StreamId};

/// Key of the format version (u32 big-endian) inside the sled tree.
pub(crate) const META_FORMAT_KEY: &[u8] = b"m:format";
/// Key of the last committed position (u64 BE) and its hash (32 bytes).
pub(crate) const META_HEAD_KEY: &[u8] = b"m:head";

const EVENT: u8 = b'e';
const STREAM_INDEX: u8 = b's';
pub(crate) const IDEMPOTENCY: u8 = b'i';
const TYPE_INDEX: u8 = b't';
const EVENT_ID: u8 = b'u';
/// Ends a variable-length name inside a key; below every byte a stream id or event type may
/// hold, so the entries of `a` never interleave with those of `a/b`.
const SEPARATOR: u8 = 0;

/// Most events one chunk (one `e` value) holds. Chunks make a group commit write a few sled
/// keys instead of several per event, which is most of what an append costs.
pub(crate) const CHUNK_MAX_EVENTS: usize = 64;
/// Chunks stop growing at this size (an event larger than this gets a chunk of its own).
pub(crate) const CHUNK_MAX_BYTES: usize = 256 * 1024;

/// `e` + first position (u64 BE) -> chunk. Big-endian so key order is position order.
pub fn event_key(position: u64) -> [u8; 9] {
    let mut key = [EVENT; 9];
    key[1..].copy_from_slice(&position.to_be_bytes());
    key
}

/// The first key after all chunk keys.
pub(crate) const EVENTS_END: [u8; 1] = [EVENT + 1];

pub(crate) fn position_of_event_key(key: &[u8]) -> Option<u64> {
    match key {
        [EVENT, rest @ ..] => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

/// `s` + stream + 0 + first stream version (u64 BE) -> first position (u64 BE) ‖ count
/// (u64 BE): a run of consecutive versions of one stream at consecutive positions in one chunk.
pub(crate) fn stream_index_key(stream: &str, first_version: u64) -> Vec<u8> {
    let mut key = stream_index_prefix(stream);
    key.extend_from_slice(&first_version.to_be_bytes());
    key
}

pub(crate) fn stream_index_prefix(stream: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(stream.len() + 10);
    key.push(STREAM_INDEX);
    key.extend_from_slice(stream.as_bytes());
    key.push(SEPARATOR);
    key
}

/// A stream index entry: the run's first stream version, first position and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StreamRun {
    pub first_version: u64,
    pub first_position: u64,
    pub count: u64,
}

impl StreamRun {
    pub(crate) fn last_version(&self) -> u64 {
        self.first_version + self.count - 1
    }

    fn encode_value(&self) -> Vec<u8> {
        let mut value = Vec::with_capacity(16);
        value.extend_from_slice(&self.first_position.to_be_bytes());
        value.extend_from_slice(&self.count.to_be_bytes());
        value
    }

    /// Decodes an entry found under `prefix` (as made by [`stream_index_prefix`]).
    pub(crate) fn decode(prefix_len: usize, key: &[u8], value: &[u8]) -> Option<Self> {
        let run = Self {
            first_version: decode_u64(key.get(prefix_len..)?)?,
            first_position: decode_u64(value.get(..8)?)?,
            count: decode_u64(value.get(8..)?)?,
        };
        (run.count > 0 && run.first_version > 0).then_some(run)
    }
}

/// `t` + event type + 0 + chunk's first position (u64 BE) -> the positions (u64 BE each) of
/// that chunk's events of that type.
pub(crate) fn type_index_key(event_type: &str, chunk_first: u64) -> Vec<u8> {
    let mut key = type_index_prefix(event_type);
    key.extend_from_slice(&chunk_first.to_be_bytes());
    key
}

pub(crate) fn type_index_prefix(event_type: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(event_type.len() + 10);
    key.push(TYPE_INDEX);
    key.extend_from_slice(event_type.as_bytes());
    key.push(SEPARATOR);
    key
}

/// `u` + the chunk's first event id (16 bytes) -> the chunk's first position (u64 BE).
/// Event ids increase with position, so the chunk holding an id is the last entry at or
/// below it.
pub(crate) fn event_id_key(event_id: Uuid) -> [u8; 17] {
    let mut key = [EVENT_ID; 17];
    key[1..].copy_from_slice(event_id.as_bytes());
    key
}

/// The smallest event-id key, the lower bound of a floor lookup.
pub(crate) fn event_id_key_min() -> [u8; 17] {
    event_id_key(Uuid::nil())
}

/// The event id in front of a record's body (postcard writes `[u8; 16]` as 16 raw bytes).
pub(crate) fn event_id_of_record(record: &[u8]) -> Option<[u8; 16]> {
    record.get(HASHES_LEN..HASHES_LEN + 16)?.try_into().ok()
}

/// What the indexes need to know of one event.
pub(crate) struct IndexedEvent<'a> {
    pub position: u64,
    pub event_id: [u8; 16],
    pub stream: &'a str,
    pub stream_version: u64,
    pub event_type: &'a str,
    pub idempotency_key: Option<&'a str>,
}

/// One index entry a chunk implies, with the position it is reported under when wrong.
pub(crate) struct IndexEntry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub position: u64,
    pub index: &'static str,
}

/// Every index entry implied by one chunk's events (in position order). Both the writer and
/// `verify` use this, so what is checked is exactly what was written.
pub(crate) fn chunk_index_entries(format: Format, events: &[IndexedEvent<'_>]) -> Vec<IndexEntry> {
    let Some(first) = events.first() else {
        return Vec::new();
    };
    let mut entries = vec![IndexEntry {
        key: event_id_key(Uuid::from_bytes(first.event_id)).to_vec(),
        value: encode_u64(first.position).to_vec(),
        position: first.position,
        index: "event id",
    }];
    let mut types: Vec<(&str, u64, Vec<u8>)> = Vec::new();
    for event in events {
        match types.iter_mut().find(|(t, _, _)| *t == event.event_type) {
            Some((_, _, positions)) => positions.extend_from_slice(&event.position.to_be_bytes()),
            None => types.push((
                event.event_type,
                event.position,
                event.position.to_be_bytes().to_vec(),
            )),
        }
    }
    for (event_type, position, positions) in types {
        entries.push(IndexEntry {
            key: type_index_key(event_type, first.position),
            value: positions,
            position,
            index: "event type",
        });
    }
    let mut run_start = 0;
    for end in 1..=events.len() {
        let continues = events.get(end).is_some_and(|next| {
            let previous = &events[end - 1];
            next.stream == previous.stream && next.stream_version == previous.stream_version + 1
        });
        if continues {
            continue;
        }
        let head = &events[run_start];
        let run = StreamRun {
            first_version: head.stream_version,
            first_position: head.position,
            count: (end - run_start) as u64,
        };
        entries.push(IndexEntry {
            key: stream_index_key(head.stream, head.stream_version),
            value: run.encode_value(),
            position: head.position,
            index: "stream",
        });
        run_start = end;
    }
    for event in events {
        if let Some(key) = event.idempotency_key {
            entries.push(IndexEntry {
                key: chunk::idempotency_index_key(format, key),
                value: encode_u64(event.position).to_vec(),
                position: event.position,
                index: "idempotency",
            });
        }
    }
    entries
}

/// The next event id: UUID v7 from the clock, but always above `last`, so that ids increase
/// with position even if the clock steps back. The 74 random bits after the timestamp act
/// as a counter when needed (RFC 9562, section 6.2, method 2).
pub(crate) fn next_event_id(last: Option<Uuid>) -> Uuid {
    let candidate = Uuid::now_v7();
    match last {
        Some(last) if candidate <= last => increment_v7(last),
        _ => candidate,
    }
}

fn increment_v7(id: Uuid) -> Uuid {
    const RAND_B_BITS: u32 = 62;
    let value = id.as_u128();
    let timestamp = value >> 80;
    let rand_a = (value >> 64) & 0xfff;
    let rand_b = value & ((1u128 << RAND_B_BITS) - 1);
    let counter = ((rand_a << RAND_B_BITS) | rand_b) + 1;
    let (timestamp, counter) = if counter >> 74 == 0 {
        (timestamp, counter)
    } else {
        (timestamp + 1, 0)
    };
    let rand_a = (counter >> RAND_B_BITS) & 0xfff;
    let rand_b = counter & ((1u128 << RAND_B_BITS) - 1);
    Uuid::from_u128((timestamp << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)
}

pub(crate) fn encode_u64(value: u64) -> [u8; 8] {
    value.to_be_bytes()
}

pub(crate) fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

pub(crate) fn encode_head(position: u64, hash: &Hash) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..8].copy_from_slice(&position.to_be_bytes());
    out[8..].copy_from_slice(hash.as_bytes());
    out
}

pub(crate) fn decode_head(bytes: &[u8]) -> Option<(u64, Hash)> {
    if bytes.len() != 40 {
        return None;
    }
    let position = decode_u64(&bytes[..8])?;
    let hash: [u8; 32] = bytes[8..].try_into().ok()?;
    Some((position, Hash::from_bytes(hash)))
}

/// `occurred` as stored: days and seconds instead of text, so decoding parses no dates.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StoredOccurred {
    /// Days since 0001-01-01 (chrono's `num_days_from_ce`).
    Date(i32),
    /// Seconds since the Unix epoch and nanoseconds.
    Instant(i64, u32),
}

impl StoredOccurred {
    pub(crate) fn from_occurred(occurred: Occurred) -> Self {
        use chrono::Datelike as _;
        match occurred {
            Occurred::Date(date) => Self::Date(date.num_days_from_ce()),
            Occurred::Instant(instant) => {
                Self::Instant(instant.timestamp(), instant.timestamp_subsec_nanos())
            }
        }
    }

    fn to_occurred(self) -> Option<Occurred> {
        match self {
            Self::Date(days) => NaiveDate::from_num_days_from_ce_opt(days).map(Occurred::Date),
            Self::Instant(secs, nanos) => {
                DateTime::<Utc>::from_timestamp(secs, nanos).map(Occurred::Instant)
            }
        }
    }
}

/// Payload JSON text, written as postcard bytes (length + raw) rather than a byte sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawBytes<'a>(pub Cow<'a, [u8]>);

impl Serialize for RawBytes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawBytes<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawBytes<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Self::Value, E> {
                Ok(RawBytes(Cow::Borrowed(v)))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(RawBytes(Cow::Owned(v.to_vec())))
            }
        }
        deserializer.deserialize_bytes(Visitor)
    }
}

/// Everything of an envelope except its position (the key) and the two hashes.
/// Field order is part of the on-disk format and of the canonical bytes: never reorder.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct Body<'a> {
    pub event_id: [u8; 16],
    #[serde(borrow)]
    pub stream_id: Cow<'a, str>,
    pub stream_version: u64,
    #[serde(borrow)]
    pub event_type: Cow<'a, str>,
    pub schema_version: u32,
    pub occurred: StoredOccurred,
    pub recorded_at_secs: i64,
    pub recorded_at_nanos: u32,
    #[serde(borrow)]
    pub actor: Cow<'a, str>,
    #[serde(borrow)]
    pub provenance: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub idempotency_key: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub payload: RawBytes<'a>,
}

/// Length of the two hashes in front of the body in a record.
pub(crate) const HASHES_LEN: usize = 64;

/// `hash = SHA-256(prev_hash || position u64 BE || body)`.
pub(crate) fn chain_hash(prev_hash: &Hash, position: u64, body: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(position.to_be_bytes());
    hasher.update(body);
    Hash::from_bytes(hasher.finalize().into())
}

/// A record: `prev_hash (32) || hash (32) || body`.
pub(crate) fn encode_record(prev_hash: &Hash, hash: &Hash, body: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(HASHES_LEN + body.len());
    record.extend_from_slice(prev_hash.as_bytes());
    record.extend_from_slice(hash.as_bytes());
    record.extend_from_slice(body);
    record
}

pub(crate) fn encode_body(body: &Body<'_>) -> Vec<u8> {
    // Serializing plain strings, integers and bytes into a Vec cannot fail.
    postcard::to_allocvec(body).expect("postcard encodes a Body into memory")
}

/// A record split into its parts, borrowing from the stored bytes.
pub(crate) struct RawRecord<'a> {
    pub prev_hash: Hash,
    pub hash: Hash,
    pub body_bytes: &'a [u8],
}

pub(crate) fn split_record(record: &[u8]) -> Result<RawRecord<'_>, String> {
    if record.len() < HASHES_LEN {
        return Err(format!(
            "record is {} bytes, shorter than its two hashes",
            record.len()
        ));
    }
    let prev_hash: [u8; 32] = record[..32].try_into().expect("32 bytes");
    let hash: [u8; 32] = record[32..HASHES_LEN].try_into().expect("32 bytes");
    Ok(RawRecord {
        prev_hash: Hash::from_bytes(prev_hash),
        hash: Hash::from_bytes(hash),
        body_bytes: &record[HASHES_LEN..],
    })
}

pub(crate) fn decode_body(bytes: &[u8]) -> Result<Body<'_>, String> {
    let (body, rest) = postcard::take_from_bytes::<Body<'_>>(bytes).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} unexpected bytes after the body", rest.len()));
    }
    Ok(body)
}

/// Decodes a stored record into an envelope (the payload JSON is parsed here).
pub(crate) fn decode_envelope(position: u64, record: &[u8]) -> Result<Envelope, String> {
    let raw = split_record(record)?;
    let body = decode_body(raw.body_bytes)?;
    body_into_envelope(position, raw.prev_hash, raw.hash, body)
}

pub(crate) fn body_into_envelope(
    position: u64,
    prev_hash: Hash,
    hash: Hash,
    body: Body<'_>,
) -> Result<Envelope, String> {
    body_into_raw(position, prev_hash, hash, body)?
        .into_envelope()
        .map_err(|e| format!("payload is not JSON: {e}"))
}

pub(crate) fn body_into_raw(
    position: u64,
    prev_hash: Hash,
    hash: Hash,
    body: Body<'_>,
) -> Result<RawEnvelope, String> {
    let stream_id = StreamId::parse(body.stream_id.into_owned()).map_err(|e| e.to_string())?;
    let occurred = body
        .occurred
        .to_occurred()
        .ok_or_else(|| format!("occurred {:?} is out of range", body.occurred))?;
    let recorded_at =
        DateTime::<Utc>::from_timestamp(body.recorded_at_secs, body.recorded_at_nanos)
            .ok_or_else(|| "recorded_at is out of range".to_owned())?;
    Ok(RawEnvelope {
        event_id: Uuid::from_bytes(body.event_id),
        position,
        stream_id,
        stream_version: body.stream_version,
        event_type: body.event_type.into_owned(),
        schema_version: body.schema_version,
        occurred,
        recorded_at,
        actor: body.actor.into_owned(),
        provenance: body.provenance.map(Cow::into_owned),
        idempotency_key: body.idempotency_key.map(Cow::into_owned),
        payload: body.payload.0.into_owned(),
        prev_hash,
        hash,
    })
}

/// Decodes a stored record, leaving the payload as its JSON text.
pub(crate) fn decode_raw_envelope(position: u64, record: &[u8]) -> Result<RawEnvelope, String> {
    let raw = split_record(record)?;
    let body = decode_body(raw.body_bytes)?;
    body_into_raw(position, raw.prev_hash, raw.hash, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_body(payload: &[u8]) -> Body<'_> {
        Body {
            event_id: *Uuid::now_v7().as_bytes(),
            stream_id: Cow::Borrowed("seminar:1"),
            stream_version: 3,
            event_type: Cow::Borrowed("SeminarHeld"),
            schema_version: 2,
            occurred: StoredOccurred::Date(738_000),
            recorded_at_secs: 1_715_000_000,
            recorded_at_nanos: 123,
            actor: Cow::Borrowed("clerk"),
            provenance: Some(Cow::Borrowed("FY2024 report")),
            idempotency_key: None,
            payload: RawBytes(Cow::Borrowed(payload)),
        }
    }

    #[test]
    fn a_record_decodes_to_what_was_encoded() {
        let payload = br#"{"attendees":25}"#;
        let body = sample_body(payload);
        let bytes = encode_body(&body);
        let hash = chain_hash(&Hash::genesis(), 1, &bytes);
        let record = encode_record(&Hash::genesis(), &hash, &bytes);
        let envelope = decode_envelope(1, &record).unwrap();
        assert_eq!(envelope.position, 1);
        assert_eq!(envelope.stream_id.as_str(), "seminar:1");
        assert_eq!(envelope.stream_version, 3);
        assert_eq!(envelope.schema_version, 2);
        assert_eq!(envelope.provenance.as_deref(), Some("FY2024 report"));
        assert_eq!(envelope.payload, serde_json::json!({"attendees": 25}));
        assert_eq!(envelope.prev_hash, Hash::genesis());
        assert_eq!(envelope.hash, hash);
        assert_eq!(envelope.event_id.as_bytes(), &body.event_id);
    }

    #[test]
    fn the_hash_covers_position_and_every_body_byte() {
        let bytes = encode_body(&sample_body(b"{}"));
        let hash = chain_hash(&Hash::genesis(), 1, &bytes);
        assert_ne!(hash, chain_hash(&Hash::genesis(), 2, &bytes));
        assert_ne!(hash, chain_hash(&hash, 1, &bytes));
        for index in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[index] ^= 1;
            assert_ne!(
                hash,
                chain_hash(&Hash::genesis(), 1, &changed),
                "byte {index}"
            );
        }
    }

    #[test]
    fn truncated_or_padded_records_are_rejected() {
        let bytes = encode_body(&sample_body(b"{}"));
        let record = encode_record(&Hash::genesis(), &Hash::genesis(), &bytes);
        assert!(decode_envelope(1, &record[..record.len() - 1]).is_err());
        assert!(decode_envelope(1, &record[..10]).is_err());
        let mut padded = record.clone();
        padded.push(0);
        assert!(decode_envelope(1, &padded).is_err());
    }

    #[test]
    fn event_ids_increase_even_when_the_clock_does_not() {
        let late = Uuid::from_u128((((1u128 << 48) - 1) << 80) | (0x7 << 76) | (0b10 << 62));
        let after = next_event_id(Some(late));
        assert!(after > late);
        assert_eq!(after.get_version_num(), 7);
        assert_eq!(after.get_variant(), uuid::Variant::RFC4122);
        let mut id = next_event_id(None);
        for _ in 0..1000 {
            let next = next_event_id(Some(id));
            assert!(next > id);
            assert_eq!(next.get_version_num(), 7);
            id = next;
        }
        // Counter overflow carries into the timestamp.
        let full = Uuid::from_u128(
            (5u128 << 80) | (0x7 << 76) | (0xfff << 64) | (0b10 << 62) | ((1 << 62) - 1),
        );
        let carried = increment_v7(full);
        assert_eq!(carried.as_u128() >> 80, 6);
        assert_eq!(carried.get_version_num(), 7);
        assert!(carried > full);
    }

    #[test]
    fn a_chunk_implies_one_entry_per_run_type_and_key() {
        let event = |position, stream, stream_version, event_type, key| IndexedEvent {
            position,
            event_id: [position as u8; 16],
            stream,
            stream_version,
            event_type,
            idempotency_key: key,
        };
        let events = [
            event(7, "a", 1, "T", Some("k7")),
            event(8, "a", 2, "U", None),
            event(9, "b", 4, "T", None),
            event(10, "a", 3, "T", Some("k10")),
        ];
        let entries = chunk_index_entries(Format::CURRENT, &events);
        let names: Vec<_> = entries.iter().map(|e| (e.index, e.position)).collect();
        assert_eq!(
            names,
            [
                ("event id", 7),
                ("event type", 7),
                ("event type", 8),
                ("stream", 7),
                ("stream", 9),
                ("stream", 10),
                ("idempotency", 7),
                ("idempotency", 10),
            ]
        );
        let t = &entries[1];
        assert_eq!(t.key, type_index_key("T", 7));
        assert_eq!(
            t.value,
            [7u64.to_be_bytes(), 9u64.to_be_bytes(), 10u64.to_be_bytes()].concat()
        );
        let run = StreamRun::decode(
            stream_index_prefix("a").len(),
            &entries[3].key,
            &entries[3].value,
        )
        .unwrap();
        assert_eq!(
            run,
            StreamRun {
                first_version: 1,
                first_position: 7,
                count: 2
            }
        );
    }

    #[test]
    fn stored_occurred_round_trips() {
        for text in ["0001-01-01", "2024-02-29", "2024-05-12T01:30:00.5Z"] {
            let occurred: Occurred = text.parse().unwrap();
            let stored = StoredOccurred::from_occurred(occurred);
            assert_eq!(stored.to_occurred(), Some(occurred));
        }
    }
}
