//! What differs between the on-disk formats: how a chunk value is stored and how an
//! idempotency index key is made. Every reader and writer of chunk values goes through
//! [`encode_chunk`] and [`decode_chunk`], and every user of the idempotency index through
//! [`idempotency_index_key`], so this is the one place that knows the formats apart.
//!
//! Whatever the format, a chunk *decodes* to the same plain bytes (per record: its length as
//! u32 BE, then `prev_hash ‖ hash ‖ body`), and the records are the canonical ones: the hash
//! chain, the Merkle tree and an archive export do not depend on the format.

use std::ops::Deref;

use sha2::{Digest as _, Sha256};
use sled::IVec;

use crate::codec;

/// The on-disk formats this build reads and writes. A store keeps the format it was made
/// with (its marker file and `m:format` say which) and writes in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Format 1: chunk values are the plain records; idempotency entries are keyed by the
    /// key's text.
    V1,
    /// Format 2: chunk values are one zstd frame of the plain records; idempotency entries
    /// are keyed by the first 16 bytes of the SHA-256 of the key's text.
    V2,
}

impl Format {
    /// The format new stores are made in.
    pub(crate) const CURRENT: Format = Format::V2;

    pub(crate) fn from_version(version: u32) -> Option<Format> {
        match version {
            1 => Some(Format::V1),
            2 => Some(Format::V2),
            _ => None,
        }
    }

    pub(crate) fn version(self) -> u32 {
        match self {
            Format::V1 => 1,
            Format::V2 => 2,
        }
    }
}

/// The zstd level of format 2 chunks. On 3,000 chunks of a 1M-event seminar import (60.4 MB
/// plain) level 1 gave 13.79 MB (4.38x) and levels 2, 3, 4, 5, 6 and 9 gave 13.84 to 14.19
/// MB: a chunk is too short for the larger windows to find more, and its two hashes and
/// random ids per event do not compress at all.
const ZSTD_LEVEL: i32 = 1;

/// A decoded chunk is never larger than this; a frame header claiming more is corrupt (a
/// chunk holds at most [`codec::CHUNK_MAX_BYTES`], or one event, which the configured
/// `max_event_bytes` bounds far below this).
const MAX_DECODED_CHUNK: u64 = 1 << 32;

/// The plain bytes of a chunk: the stored value itself (format 1) or its decompression.
pub(crate) enum ChunkBytes {
    Stored(IVec),
    Decoded(Vec<u8>),
}

impl Deref for ChunkBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            ChunkBytes::Stored(value) => value,
            ChunkBytes::Decoded(bytes) => bytes,
        }
    }
}

/// The value stored for a chunk whose plain bytes (records as [`push_chunk_record`] wrote
/// them) are `plain`.
pub(crate) fn encode_chunk(format: Format, plain: Vec<u8>) -> Vec<u8> {
    match format {
        Format::V1 => plain,
        // Compressing into memory fails only if zstd cannot allocate its context.
        Format::V2 => zstd::block::compress(&plain, ZSTD_LEVEL).expect("zstd compresses a chunk"),
    }
}

/// The plain bytes of a stored chunk value; an error (the store is corrupt) when the value
/// is not a chunk of `format`.
pub(crate) fn decode_chunk(format: Format, stored: IVec) -> Result<ChunkBytes, String> {
    match format {
        Format::V1 => Ok(ChunkBytes::Stored(stored)),
        Format::V2 => decompress(&stored).map(ChunkBytes::Decoded),
    }
}

fn decompress(stored: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let size = zstd::zstd_safe::get_frame_content_size(stored);
    if size == zstd::zstd_safe::CONTENTSIZE_ERROR {
        return Err("the chunk is not a zstd frame".to_owned());
    }
    if size == zstd::zstd_safe::CONTENTSIZE_UNKNOWN || size > MAX_DECODED_CHUNK {
        return Err(format!(
            "the chunk's zstd frame does not give a plausible size ({size})"
        ));
    }
    // The frame's size is only a claim until the frame decodes: allocate no more up front
    // than a chunk of ordinary events needs.
    let hint = size.min(2 * codec::CHUNK_MAX_BYTES as u64) as usize;
    let mut plain = Vec::with_capacity(hint);
    zstd::stream::read::Decoder::with_buffer(stored)
        .map_err(|error| format!("the chunk does not decompress: {error}"))?
        .take(size + 1)
        .read_to_end(&mut plain)
        .map_err(|error| format!("the chunk does not decompress: {error}"))?;
    if plain.len() as u64 != size {
        return Err(format!(
            "the chunk decompressed to {} bytes, its frame says {size}",
            plain.len()
        ));
    }
    Ok(plain)
}

/// Appends one record to a chunk's plain bytes: length (u32 BE) then the record.
pub(crate) fn push_chunk_record(chunk: &mut Vec<u8>, record: &[u8]) {
    let len = u32::try_from(record.len()).expect("records are far below 4 GiB");
    chunk.extend_from_slice(&len.to_be_bytes());
    chunk.extend_from_slice(record);
}

/// Splits the next record off the front of a chunk's plain bytes: the record and the bytes
/// it took.
pub(crate) fn next_chunk_record(chunk: &[u8]) -> Result<(&[u8], usize), String> {
    let len: [u8; 4] = chunk
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or("chunk ends inside a record length")?;
    let len = u32::from_be_bytes(len) as usize;
    let record = chunk.get(4..4 + len).ok_or("chunk ends inside a record")?;
    Ok((record, 4 + len))
}

/// The record of `position` inside the chunk (plain bytes) whose first position is `first`.
pub(crate) fn record_in_chunk(
    chunk: &[u8],
    first: u64,
    position: u64,
) -> Result<Option<&[u8]>, String> {
    let Some(mut skip) = position.checked_sub(first) else {
        return Ok(None);
    };
    let mut rest = chunk;
    while !rest.is_empty() {
        let (record, used) = next_chunk_record(rest)?;
        if skip == 0 {
            return Ok(Some(record));
        }
        skip -= 1;
        rest = &rest[used..];
    }
    Ok(None)
}

/// Bytes of the key's SHA-256 a format 2 idempotency entry is keyed by.
const KEY_HASH_LEN: usize = 16;

/// `i` + the idempotency key (format 1) or the first 16 bytes of its SHA-256 (format 2) ->
/// position (u64 BE) of the event that used it. A format 2 entry names a candidate only:
/// [`record_has_key`] confirms it against the event.
pub(crate) fn idempotency_index_key(format: Format, key: &str) -> Vec<u8> {
    match format {
        Format::V1 => {
            let mut out = Vec::with_capacity(key.len() + 1);
            out.push(codec::IDEMPOTENCY);
            out.extend_from_slice(key.as_bytes());
            out
        }
        Format::V2 => {
            let digest = Sha256::digest(key.as_bytes());
            let mut out = Vec::with_capacity(1 + KEY_HASH_LEN);
            out.push(codec::IDEMPOTENCY);
            out.extend_from_slice(&digest[..KEY_HASH_LEN]);
            out
        }
    }
}

/// Whether the stored record (`prev_hash ‖ hash ‖ body`) an idempotency entry points to is
/// an event that used `key`: in format 2 two keys may share an entry's hash, and the event,
/// not the entry, says which key it used.
pub(crate) fn record_has_key(record: &[u8], key: &str) -> Result<bool, String> {
    let raw = codec::split_record(record)?;
    let body = codec::decode_body(raw.body_bytes)?;
    Ok(body.idempotency_key.as_deref() == Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_chunk(records: &[&[u8]]) -> Vec<u8> {
        let mut chunk = Vec::new();
        for record in records {
            push_chunk_record(&mut chunk, record);
        }
        chunk
    }

    #[test]
    fn chunk_records_split_back_out() {
        let chunk = plain_chunk(&[b"first", b"", b"third record"]);
        assert_eq!(
            record_in_chunk(&chunk, 10, 10).unwrap(),
            Some(&b"first"[..])
        );
        assert_eq!(record_in_chunk(&chunk, 10, 11).unwrap(), Some(&b""[..]));
        assert_eq!(
            record_in_chunk(&chunk, 10, 12).unwrap(),
            Some(&b"third record"[..])
        );
        assert_eq!(record_in_chunk(&chunk, 10, 13).unwrap(), None);
        assert_eq!(record_in_chunk(&chunk, 10, 9).unwrap(), None);
        assert!(record_in_chunk(&chunk[..chunk.len() - 1], 10, 12).is_err());
    }

    #[test]
    fn a_chunk_decodes_to_its_plain_bytes_in_either_format() {
        let record = br#"{"attendees":25,"title":"seminar"}"#.repeat(40);
        let plain = plain_chunk(&[&record, &record, b""]);
        for format in [Format::V1, Format::V2] {
            let stored = encode_chunk(format, plain.clone());
            let decoded = decode_chunk(format, IVec::from(stored.clone())).unwrap();
            assert_eq!(&decoded[..], &plain[..], "{format:?}");
            if format == Format::V2 {
                assert!(stored.len() * 4 < plain.len(), "{} bytes", stored.len());
            } else {
                assert_eq!(stored, plain);
            }
        }
    }

    #[test]
    fn a_damaged_compressed_chunk_is_an_error_not_a_panic() {
        let plain = plain_chunk(&[&br#"{"attendees":25}"#.repeat(50)]);
        let stored = encode_chunk(Format::V2, plain.clone());
        // Every single flipped byte, a truncation, trailing bytes and plain bytes.
        for at in 0..stored.len() {
            let mut damaged = stored.clone();
            damaged[at] ^= 0x40;
            if let Ok(decoded) = decode_chunk(Format::V2, IVec::from(damaged)) {
                // zstd does not checksum by default: a flip inside a literal may decode,
                // to other bytes, which the records' hashes then reveal.
                assert_eq!(decoded.len(), plain.len());
            }
        }
        for damaged in [
            stored[..stored.len() - 1].to_vec(),
            [&stored[..], b"x"].concat(),
            plain.clone(),
            Vec::new(),
        ] {
            assert!(decode_chunk(Format::V2, IVec::from(damaged)).is_err());
        }
    }

    #[test]
    fn format_2_keys_are_a_fixed_length_hash_and_format_1_keys_the_text() {
        let key = "import:0123456789abcdef0123456789abcdef";
        let v1 = idempotency_index_key(Format::V1, key);
        assert_eq!(v1, [b"i", key.as_bytes()].concat());
        let v2 = idempotency_index_key(Format::V2, key);
        assert_eq!(v2.len(), 17);
        assert_eq!(v2[0], b'i');
        assert_eq!(&v2[1..], &Sha256::digest(key.as_bytes())[..16]);
        assert_ne!(v2, idempotency_index_key(Format::V2, "import:other"));
    }

    fn record_with_key(key: Option<&str>) -> Vec<u8> {
        let body = codec::Body {
            event_id: [7; 16],
            stream_id: "seminar:1".into(),
            stream_version: 1,
            event_type: "SeminarHeld".into(),
            schema_version: 1,
            occurred: codec::StoredOccurred::Date(738_000),
            recorded_at_secs: 1_715_000_000,
            recorded_at_nanos: 0,
            actor: "clerk".into(),
            provenance: None,
            idempotency_key: key.map(Into::into),
            payload: codec::RawBytes(b"{}".as_slice().into()),
        };
        let bytes = codec::encode_body(&body);
        let hash = codec::chain_hash(&crate::types::Hash::genesis(), 1, &bytes);
        codec::encode_record(&crate::types::Hash::genesis(), &hash, &bytes)
    }

    #[test]
    fn only_the_event_itself_confirms_the_key_an_entry_was_found_under() {
        let record = record_with_key(Some("import:a"));
        assert_eq!(record_has_key(&record, "import:a"), Ok(true));
        // Another key, as if it shared the entry's 16-byte hash.
        assert_eq!(record_has_key(&record, "import:b"), Ok(false));
        assert_eq!(record_has_key(&record, "import:"), Ok(false));
        assert_eq!(
            record_has_key(&record_with_key(None), "import:a"),
            Ok(false)
        );
        assert!(record_has_key(&record[..40], "import:a").is_err());
        assert!(record_has_key(&record[..record.len() - 1], "import:a").is_err());
    }

    #[test]
    fn versions_map_to_formats_and_back() {
        for format in [Format::V1, Format::V2] {
            assert_eq!(Format::from_version(format.version()), Some(format));
        }
        assert_eq!(Format::from_version(0), None);
        assert_eq!(Format::from_version(3), None);
        assert_eq!(Format::CURRENT.version(), crate::FORMAT_VERSION);
    }
}
