//! The checks an append's events pass before they reach the writer (and a restored
//! archive's envelopes too): labels, texts, sizes, keys unique in the batch. Nothing here
//! touches the store, so a rejection writes nothing.

use std::collections::HashSet;

use crate::error::AppendError;
use crate::staging::PreparedEvent;
use crate::types::NewEvent;

/// Longest event type, actor and idempotency key, in bytes: they are index keys or
/// short labels, and a bound keeps keys small.
pub const MAX_LABEL_BYTES: usize = 200;

/// Checks each event's envelope fields and serializes its payload once; nothing here
/// touches the store, so a rejection writes nothing.
pub(crate) fn prepare(
    events: Vec<NewEvent>,
    max_event_bytes: usize,
) -> Result<Vec<PreparedEvent>, AppendError> {
    if events.is_empty() {
        return Err(AppendError::EmptyBatch);
    }
    let mut keys = HashSet::new();
    let mut prepared = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        let invalid = |field: &str, reason: String| AppendError::InvalidEvent {
            field: format!("events[{index}].{field}"),
            reason,
        };
        check_label(&event.event_type).map_err(|r| invalid("event_type", r))?;
        check_label(&event.actor).map_err(|r| invalid("actor", r))?;
        if event.schema_version == 0 {
            return Err(invalid("schema_version", "must be at least 1".to_owned()));
        }
        if let Some(provenance) = &event.provenance {
            check_text(provenance).map_err(|r| invalid("provenance", r))?;
        }
        if let Some(key) = &event.idempotency_key {
            check_label(key).map_err(|r| invalid("idempotency_key", r))?;
            if !keys.insert(key.clone()) {
                return Err(invalid(
                    "idempotency_key",
                    format!("{key:?} appears twice in the batch"),
                ));
            }
        }
        let payload_json = serde_json::to_vec(&event.payload)
            .map_err(|e| invalid("payload", format!("cannot be serialized: {e}")))?;
        let size = payload_json.len()
            + event.event_type.len()
            + event.actor.len()
            + event.provenance.as_ref().map_or(0, String::len)
            + event.idempotency_key.as_ref().map_or(0, String::len);
        if size > max_event_bytes {
            return Err(AppendError::EventTooLarge {
                index,
                size,
                limit: max_event_bytes,
            });
        }
        prepared.push(PreparedEvent {
            event,
            payload_json,
        });
    }
    Ok(prepared)
}

pub(crate) fn check_label(value: &str) -> Result<(), String> {
    if value.len() > MAX_LABEL_BYTES {
        return Err(format!(
            "is {} bytes long, the limit is {MAX_LABEL_BYTES}",
            value.len()
        ));
    }
    check_text(value)
}

pub(crate) fn check_text(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty or blank".to_owned());
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!("must not contain the control character {c:?}"));
    }
    Ok(())
}
