//! Verification walks: every event of a stretch of the log read back, its hash recomputed,
//! its links, positions, stream versions, times, ids and index entries checked.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::chunk::{self, Format};
use crate::codec::{self, Body, IndexedEvent};
use crate::error::{VerifyFailure, VerifyReason};
use crate::read;
use crate::types::{Hash, Head};

/// Walks the log of `db` up to `head`: from position 1 and the genesis hash, or from the
/// chunk holding `anchor`'s position, whose event must have `anchor`'s hash. `None` when
/// `proceed` stopped it. `inconsistency` (found when the store opened) fails a walk that
/// finds nothing earlier.
pub(crate) fn walk(
    db: &sled::Db,
    format: Format,
    head: Head,
    anchor: Option<(u64, Hash)>,
    inconsistency: Option<&VerifyFailure>,
    proceed: &mut dyn FnMut(u64) -> bool,
) -> Option<Result<Head, VerifyFailure>> {
    let unreadable = |position, error: &dyn std::fmt::Display| VerifyFailure {
        position,
        reason: VerifyReason::Unreadable(error.to_string()),
    };
    let first = match anchor {
        None => 1,
        Some((position, _)) if position > head.position => {
            return Some(Err(VerifyFailure {
                position,
                reason: VerifyReason::Missing,
            }))
        }
        Some((position, _)) => match read::chunk_at_or_before(db, position) {
            Ok(Some((first, _))) => first,
            Ok(None) => {
                return Some(Err(VerifyFailure {
                    position,
                    reason: VerifyReason::Missing,
                }))
            }
            Err(error) => return Some(Err(unreadable(position, &error))),
        },
    };
    let mut walk = VerifyWalk {
        db,
        format,
        check: ChainCheck::new(first, anchor),
    };
    let chunks =
        db.range(codec::event_key(first)..codec::event_key(head.position.saturating_add(1)));
    for entry in chunks {
        if !proceed(walk.check.expected_position) {
            return None;
        }
        let (key, chunk) = match entry {
            Ok(entry) => entry,
            Err(error) => return Some(Err(unreadable(walk.check.expected_position, &error))),
        };
        if let Err(failure) = walk.chunk(&key, chunk) {
            return Some(Err(failure));
        }
    }
    Some(walk.check.end(head, inconsistency))
}

/// The state of a verification walk between chunks.
struct VerifyWalk<'a> {
    db: &'a sled::Db,
    format: Format,
    check: ChainCheck,
}

/// The checks of a verification walk that concern the events themselves, whatever holds
/// them: hashes recomputed, links, gapless positions, stream versions, `recorded_at` and
/// event ids. Every backend's `verify` walks its events through this.
pub(crate) struct ChainCheck {
    pub(crate) expected_position: u64,
    /// The hash the next event must link to; `None` at the start of a walk from an anchor,
    /// whose chunk's first link is taken as stored (the anchor's own hash is then checked).
    prev_hash: Option<Hash>,
    /// The position and hash of an event the caller vouches for.
    anchor: Option<(u64, Hash)>,
    /// Whether the walk started at position 1, so every stream's versions are known.
    whole: bool,
    last_event_id: Option<[u8; 16]>,
    previous_recorded: Option<DateTime<Utc>>,
    stream_versions: HashMap<String, u64>,
}

impl ChainCheck {
    /// A walk whose first event is at `first`: position 1 and the genesis hash, or at or
    /// before `anchor`'s position.
    pub(crate) fn new(first: u64, anchor: Option<(u64, Hash)>) -> Self {
        ChainCheck {
            expected_position: first,
            prev_hash: anchor.is_none().then(Hash::genesis),
            anchor,
            whole: anchor.is_none(),
            last_event_id: None,
            previous_recorded: None,
            stream_versions: HashMap::new(),
        }
    }

    /// What the walk must have reached: the head, with its hash, and nothing beyond.
    pub(crate) fn end(
        &self,
        head: Head,
        inconsistency: Option<&VerifyFailure>,
    ) -> Result<Head, VerifyFailure> {
        end_of_walk(self, head, inconsistency)
    }
}

fn end_of_walk(
    walk: &ChainCheck,
    head: Head,
    inconsistency: Option<&VerifyFailure>,
) -> Result<Head, VerifyFailure> {
    let fail = |position, reason| Err(VerifyFailure { position, reason });
    if walk.expected_position <= head.position {
        return fail(walk.expected_position, VerifyReason::Missing);
    }
    if walk.expected_position > head.position + 1 {
        return fail(head.position + 1, VerifyReason::BeyondHead);
    }
    if let Some(inconsistency) = inconsistency {
        return Err(inconsistency.clone());
    }
    let reached = walk.prev_hash.unwrap_or_else(Hash::genesis);
    if reached != head.hash {
        return fail(
            head.position,
            VerifyReason::HeadMismatch {
                expected: format!("hash {}", reached.to_hex()),
                found: format!("hash {}", head.hash.to_hex()),
            },
        );
    }
    Ok(head)
}

impl VerifyWalk<'_> {
    fn chunk(&mut self, key: &[u8], stored: sled::IVec) -> Result<(), VerifyFailure> {
        let fail = |position, reason| Err(VerifyFailure { position, reason });
        let Some(first) = codec::position_of_event_key(key) else {
            return fail(
                self.check.expected_position,
                VerifyReason::Undecodable(format!("chunk key {key:?} is not a position")),
            );
        };
        if first != self.check.expected_position {
            return fail(self.check.expected_position, VerifyReason::Missing);
        }
        let chunk = match chunk::decode_chunk(self.format, stored) {
            Ok(chunk) => chunk,
            Err(reason) => return fail(first, VerifyReason::Undecodable(reason)),
        };
        // Bodies borrow from `chunk`; the index entries are checked once the chunk is read.
        let mut bodies = Vec::new();
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let position = self.check.expected_position;
            let (record, used) = match chunk::next_chunk_record(rest) {
                Ok(step) => step,
                Err(reason) => return fail(position, VerifyReason::Undecodable(reason)),
            };
            rest = &rest[used..];
            bodies.push((position, self.check.event(position, record)?));
            self.check.expected_position += 1;
        }
        if bodies.is_empty() {
            return fail(first, VerifyReason::Undecodable("empty chunk".to_owned()));
        }
        let indexed: Vec<IndexedEvent<'_>> = bodies
            .iter()
            .map(|(position, body)| IndexedEvent {
                position: *position,
                event_id: body.event_id,
                stream: &body.stream_id,
                stream_version: body.stream_version,
                event_type: &body.event_type,
                idempotency_key: body.idempotency_key.as_deref(),
            })
            .collect();
        for entry in codec::chunk_index_entries(self.format, &indexed) {
            let stored = self.db.get(&entry.key).map_err(|e| VerifyFailure {
                position: entry.position,
                reason: VerifyReason::Unreadable(e.to_string()),
            })?;
            if stored.as_deref() != Some(entry.value.as_slice()) {
                return fail(
                    entry.position,
                    VerifyReason::IndexMismatch { index: entry.index },
                );
            }
        }
        Ok(())
    }
}

impl ChainCheck {
    /// Checks one record against the chain and the envelope rules; returns its body.
    pub(crate) fn event<'r>(
        &mut self,
        position: u64,
        record: &'r [u8],
    ) -> Result<Body<'r>, VerifyFailure> {
        let fail = |reason| Err(VerifyFailure { position, reason });
        let raw = match codec::split_record(record) {
            Ok(raw) => raw,
            Err(reason) => return fail(VerifyReason::Undecodable(reason)),
        };
        let prev_hash = self.prev_hash.unwrap_or(raw.prev_hash);
        if raw.prev_hash != prev_hash {
            return fail(VerifyReason::PrevHashMismatch {
                expected: prev_hash.to_hex(),
                found: raw.prev_hash.to_hex(),
            });
        }
        let computed = codec::chain_hash(&raw.prev_hash, position, raw.body_bytes);
        if computed != raw.hash {
            return fail(VerifyReason::HashMismatch {
                stored: raw.hash.to_hex(),
                computed: computed.to_hex(),
            });
        }
        if let Some((_, expected)) = self.anchor.filter(|(at, _)| *at == position) {
            if raw.hash != expected {
                return fail(VerifyReason::UnexpectedHash {
                    expected: expected.to_hex(),
                    found: raw.hash.to_hex(),
                });
            }
        }
        let body = match codec::decode_body(raw.body_bytes) {
            Ok(body) => body,
            Err(reason) => return fail(VerifyReason::Undecodable(reason)),
        };
        // A walk from an anchor knows a stream's versions from its first event in the walk.
        let previous_version = match self.stream_versions.get(body.stream_id.as_ref()) {
            Some(version) => Some(*version),
            None => self.whole.then_some(0),
        };
        if let Some(previous_version) =
            previous_version.filter(|previous| body.stream_version != previous + 1)
        {
            return fail(VerifyReason::StreamVersionGap {
                stream: body.stream_id.to_string(),
                previous: previous_version,
                found: body.stream_version,
            });
        }
        let Some(recorded_at) =
            DateTime::<Utc>::from_timestamp(body.recorded_at_secs, body.recorded_at_nanos)
        else {
            return fail(VerifyReason::Undecodable(
                "recorded_at is out of range".to_owned(),
            ));
        };
        if let Some(previous) = self.previous_recorded {
            if recorded_at < previous {
                return fail(VerifyReason::RecordedAtDecreased {
                    previous: previous.to_rfc3339(),
                    found: recorded_at.to_rfc3339(),
                });
            }
        }
        if self.last_event_id.is_some_and(|last| body.event_id <= last) {
            return fail(VerifyReason::EventIdNotIncreasing);
        }
        self.stream_versions
            .insert(body.stream_id.to_string(), body.stream_version);
        self.previous_recorded = Some(recorded_at);
        self.last_event_id = Some(body.event_id);
        self.prev_hash = Some(raw.hash);
        Ok(body)
    }
}
