//! An event's canonical bytes outside the store: rebuilt from an envelope for a proof
//! bundle, and checked against a chain hash by a verifier that has only the bundle.

use std::borrow::Cow;

use crate::codec::{self, Body, RawBytes, StoredOccurred};
use crate::types::{Hash, RawEnvelope};

/// The canonical bytes (`body`) of an event, as the chain hashes them: the same bytes the
/// store keeps, since the encoding is deterministic and the payload is its stored JSON text.
pub fn canonical_body(event: &RawEnvelope) -> Vec<u8> {
    codec::encode_body(&Body {
        event_id: *event.event_id.as_bytes(),
        stream_id: Cow::Borrowed(event.stream_id.as_str()),
        stream_version: event.stream_version,
        event_type: Cow::Borrowed(&event.event_type),
        schema_version: event.schema_version,
        occurred: StoredOccurred::from_occurred(event.occurred),
        recorded_at_secs: event.recorded_at.timestamp(),
        recorded_at_nanos: event.recorded_at.timestamp_subsec_nanos(),
        actor: Cow::Borrowed(&event.actor),
        provenance: event.provenance.as_deref().map(Cow::Borrowed),
        idempotency_key: event.idempotency_key.as_deref().map(Cow::Borrowed),
        payload: RawBytes(Cow::Borrowed(&event.payload)),
    })
}

/// `SHA-256(prev_hash ‖ position (u64 BE) ‖ body)`: the chain hash of an event.
pub fn chain_hash(prev_hash: &Hash, position: u64, body: &[u8]) -> Hash {
    codec::chain_hash(prev_hash, position, body)
}

/// Decodes canonical bytes claimed to be the event at `position` with these hashes, after
/// checking that they hash to `hash`; the envelope keeps its payload as JSON text.
pub fn decode_canonical(
    position: u64,
    prev_hash: Hash,
    hash: Hash,
    body: &[u8],
) -> Result<RawEnvelope, String> {
    let computed = codec::chain_hash(&prev_hash, position, body);
    if computed != hash {
        return Err(format!(
            "its bytes hash to {}, not to its chain hash {}",
            computed.to_hex(),
            hash.to_hex()
        ));
    }
    let decoded = codec::decode_body(body)?;
    codec::body_into_raw(position, prev_hash, hash, decoded)
}
