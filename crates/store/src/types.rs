//! The envelope-level vocabulary of the store: stream ids, expected versions, events in and out.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

/// Longest accepted stream id, in bytes. Stream ids are index keys; a bound keeps keys small.
pub const MAX_STREAM_ID_BYTES: usize = 200;

/// The name of a stream (one aggregate's history), e.g. `seminar:2024-05-12/kofu`.
///
/// Only non-empty ids of at most [`MAX_STREAM_ID_BYTES`] bytes made of `A-Z a-z 0-9 . _ : / -`
/// exist; the restricted alphabet keeps ids printable, shell-safe and free of the index key
/// separator byte.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(String);

/// Why a text is not a [`StreamId`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid stream_id {value:?}: {reason}")]
pub struct StreamIdError {
    pub value: String,
    pub reason: String,
}

fn is_stream_id_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b':' | b'/' | b'-')
}

impl StreamId {
    pub fn parse(value: impl Into<String>) -> Result<Self, StreamIdError> {
        let value = value.into();
        let reason = if value.is_empty() {
            Some("must not be empty".to_owned())
        } else if value.len() > MAX_STREAM_ID_BYTES {
            Some(format!(
                "is {} bytes long, the limit is {MAX_STREAM_ID_BYTES}",
                value.len()
            ))
        } else {
            value
                .chars()
                .find(|c| !(c.is_ascii() && is_stream_id_byte(*c as u8)))
                .map(|c| format!("contains {c:?}; only A-Z a-z 0-9 . _ : / - are allowed"))
        };
        match reason {
            Some(reason) => Err(StreamIdError { value, reason }),
            None => Ok(Self(value)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for StreamId {
    type Err = StreamIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for StreamId {
    type Error = StreamIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl TryFrom<&str> for StreamId {
    type Error = StreamIdError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<StreamId> for String {
    fn from(id: StreamId) -> Self {
        id.0
    }
}

impl AsRef<str> for StreamId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The optimistic-concurrency condition of an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// Append whatever the stream's version.
    Any,
    /// The stream must have no events yet.
    NoStream,
    /// The stream's last event must have this stream version (`Exact(0)` equals `NoStream`).
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream whose current version is `current` (0 = no events) satisfies this.
    pub fn accepts(self, current: u64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => current == 0,
            Self::Exact(version) => current == version,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any version"),
            Self::NoStream => f.write_str("no stream"),
            Self::Exact(version) => write!(f, "version {version}"),
        }
    }
}

/// When the recorded activity happened: a calendar date for most kinds, an instant when known.
///
/// Serialized as an ISO 8601 string: `2024-05-12` or `2024-05-12T01:30:00Z` (RFC 3339, UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Occurred {
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

impl fmt::Display for Occurred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Date(date) => write!(f, "{}", date.format("%Y-%m-%d")),
            Self::Instant(instant) => {
                f.write_str(&instant.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            }
        }
    }
}

/// Why a text is not an [`Occurred`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid occurred {value:?}: expected a date YYYY-MM-DD or an RFC 3339 instant")]
pub struct OccurredError {
    pub value: String,
}

impl FromStr for Occurred {
    type Err = OccurredError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(Self::Date(date));
        }
        DateTime::parse_from_rfc3339(s)
            .map(|instant| Self::Instant(instant.with_timezone(&Utc)))
            .map_err(|_| OccurredError {
                value: s.to_owned(),
            })
    }
}

impl Serialize for Occurred {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Occurred {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An event as submitted to [`crate::EventStore::append`]; the store assigns the rest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub event_type: String,
    pub schema_version: u32,
    pub occurred: Occurred,
    pub actor: String,
    pub provenance: Option<String>,
    /// Makes a retried append harmless: see [`crate::EventStore::append`].
    pub idempotency_key: Option<String>,
    pub payload: serde_json::Value,
}

impl NewEvent {
    /// An event of schema version 1 without provenance or idempotency key.
    pub fn new(
        event_type: impl Into<String>,
        occurred: Occurred,
        actor: impl Into<String>,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            event_type: event_type.into(),
            schema_version: 1,
            occurred,
            actor: actor.into(),
            provenance: None,
            idempotency_key: None,
            payload,
        }
    }

    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    pub fn with_provenance(mut self, provenance: impl Into<String>) -> Self {
        self.provenance = Some(provenance.into());
        self
    }

    pub fn with_schema_version(mut self, schema_version: u32) -> Self {
        self.schema_version = schema_version;
        self
    }
}

/// A stored event with everything the store assigned to it. The payload is parsed JSON
/// unless read raw (see [`RawEnvelope`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope<P = serde_json::Value> {
    /// UUID v7, assigned by the store.
    pub event_id: Uuid,
    /// Global position, gapless from 1.
    pub position: u64,
    pub stream_id: StreamId,
    /// Position within the stream, gapless from 1.
    pub stream_version: u64,
    pub event_type: String,
    pub schema_version: u32,
    pub occurred: Occurred,
    /// When the store accepted the event; non-decreasing in position order.
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    pub provenance: Option<String>,
    pub idempotency_key: Option<String>,
    pub payload: P,
    pub prev_hash: Hash,
    pub hash: Hash,
}

/// What an append returned: its envelopes, and whether they were written by this append or
/// are the originals of an idempotent retry (nothing written).
#[derive(Clone, Debug, PartialEq)]
pub struct Appended {
    pub envelopes: Vec<Envelope>,
    /// True when every event's idempotency key had been used already and nothing was written.
    pub replayed: bool,
}

impl Appended {
    pub(crate) fn written(envelopes: Vec<Envelope>) -> Self {
        Appended {
            envelopes,
            replayed: false,
        }
    }

    pub(crate) fn replayed(envelopes: Vec<Envelope>) -> Self {
        Appended {
            envelopes,
            replayed: true,
        }
    }
}

/// An [`Envelope`] whose payload is still the JSON text stored at append (as
/// `serde_json::to_vec` wrote it, object keys sorted), for readers that deserialize payloads
/// straight into their own types: replaying through [`crate::EventStore::iter_raw_from`]
/// skips building a `serde_json::Value` per event.
pub type RawEnvelope = Envelope<Vec<u8>>;

impl<P> Envelope<P> {
    /// The same envelope with its payload converted by `convert`.
    pub fn try_map_payload<Q, E>(
        self,
        convert: impl FnOnce(P) -> Result<Q, E>,
    ) -> Result<Envelope<Q>, E> {
        Ok(Envelope {
            event_id: self.event_id,
            position: self.position,
            stream_id: self.stream_id,
            stream_version: self.stream_version,
            event_type: self.event_type,
            schema_version: self.schema_version,
            occurred: self.occurred,
            recorded_at: self.recorded_at,
            actor: self.actor,
            provenance: self.provenance,
            idempotency_key: self.idempotency_key,
            payload: convert(self.payload)?,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

impl RawEnvelope {
    /// The envelope with its payload parsed.
    pub fn into_envelope(self) -> Result<Envelope, serde_json::Error> {
        self.try_map_payload(|json| serde_json::from_slice(&json))
    }
}

/// A SHA-256 value of the hash chain. Shown and serialized as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash([u8; 32]);

/// The text hashed to obtain the chain's first `prev_hash`.
pub const GENESIS_SEED: &str = "kpi-ledger genesis v1";

impl Hash {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The `prev_hash` of position 1: SHA-256 of [`GENESIS_SEED`].
    pub fn genesis() -> Self {
        Self(Sha256::digest(GENESIS_SEED.as_bytes()).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

/// Why a text is not a [`Hash`](struct@Hash).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid hash {value:?}: expected 64 hex digits")]
pub struct HashParseError {
    pub value: String,
}

impl FromStr for Hash {
    type Err = HashParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| HashParseError {
            value: s.to_owned(),
        })?;
        Ok(Self(bytes))
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The last acknowledged position and its hash; position 0 and the genesis hash when empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub position: u64,
    pub hash: Hash,
}

/// What [`crate::EventStore::verify`] proved: the whole chain up to this head is intact.
pub type Digest = Head;

impl Head {
    pub fn empty() -> Self {
        Self {
            position: 0,
            hash: Hash::genesis(),
        }
    }
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "position {} hash {}", self.position, self.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_id_accepts_the_documented_alphabet() {
        let id: StreamId = "seminar:FY2024/kofu_1.a-b".parse().unwrap();
        assert_eq!(id.as_str(), "seminar:FY2024/kofu_1.a-b");
        assert!(StreamId::parse("x".repeat(MAX_STREAM_ID_BYTES)).is_ok());
    }

    #[test]
    fn stream_id_rejects_bad_text_naming_the_reason() {
        let empty = StreamId::parse("").unwrap_err();
        assert!(empty.to_string().contains("must not be empty"), "{empty}");
        let long = StreamId::parse("x".repeat(MAX_STREAM_ID_BYTES + 1)).unwrap_err();
        assert!(long.to_string().contains("201 bytes"), "{long}");
        for bad in ["a b", "a\0b", "富士", "a#b", "a\nb"] {
            let err = StreamId::parse(bad).unwrap_err();
            assert!(err.to_string().contains("stream_id"), "{err}");
            assert!(err.to_string().contains("only A-Z"), "{err}");
        }
        assert!(serde_json::from_str::<StreamId>("\"a b\"").is_err());
    }

    #[test]
    fn occurred_round_trips_through_its_iso_text() {
        for text in [
            "2024-05-12",
            "2024-05-12T01:30:00Z",
            "2024-05-12T01:30:00.123456789Z",
        ] {
            let occurred: Occurred = text.parse().unwrap();
            assert_eq!(occurred.to_string(), text);
            let json = serde_json::to_string(&occurred).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Occurred>(&json).unwrap(), occurred);
        }
        let offset: Occurred = "2024-05-12T10:30:00+09:00".parse().unwrap();
        assert_eq!(offset.to_string(), "2024-05-12T01:30:00Z");
        assert!("2024-13-01".parse::<Occurred>().is_err());
        assert!("yesterday".parse::<Occurred>().is_err());
    }

    #[test]
    fn hash_text_round_trips_and_genesis_is_fixed() {
        let genesis = Hash::genesis();
        assert_eq!(
            genesis,
            Hash::from_bytes(Sha256::digest(b"kpi-ledger genesis v1").into())
        );
        assert_eq!(genesis.to_string().parse::<Hash>().unwrap(), genesis);
        assert!("abc".parse::<Hash>().is_err());
    }

    #[test]
    fn expected_version_accepts_only_matching_versions() {
        assert!(ExpectedVersion::Any.accepts(0));
        assert!(ExpectedVersion::Any.accepts(7));
        assert!(ExpectedVersion::NoStream.accepts(0));
        assert!(!ExpectedVersion::NoStream.accepts(1));
        assert!(ExpectedVersion::Exact(3).accepts(3));
        assert!(!ExpectedVersion::Exact(3).accepts(4));
    }
}
