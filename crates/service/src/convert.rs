//! The one translation between the store's opaque envelopes and the domain's events.

use kpi_domain::{LedgerEvent, RecordedEvent};
use kpi_store::{Envelope, NewEvent, Occurred};

use crate::error::LedgerError;

/// The envelope the store is asked to append for a validated domain event, recorded by
/// `actor`; idempotency key and provenance are the caller's to add.
pub fn new_event(event: &LedgerEvent, actor: &str) -> NewEvent {
    NewEvent::new(
        event.event_type(),
        Occurred::Date(event.occurred_on()),
        actor,
        event.to_payload(),
    )
    .with_schema_version(event.schema_version())
}

/// Reads an envelope as a domain event. The payload was validated when it was recorded, so a
/// failure here means the log holds something this build does not understand.
pub fn recorded_event(envelope: &Envelope) -> Result<RecordedEvent, LedgerError> {
    let event = LedgerEvent::parse(&envelope.event_type, &envelope.payload).map_err(|error| {
        LedgerError::Unreadable {
            position: envelope.position,
            reason: error.to_string(),
        }
    })?;
    Ok(RecordedEvent {
        id: envelope.event_id,
        position: envelope.position,
        recorded_at: envelope.recorded_at,
        actor: envelope.actor.clone(),
        provenance: envelope.provenance.clone(),
        event,
    })
}

/// [`recorded_event`] straight from the stored payload bytes, without building a JSON tree:
/// the replay path.
pub fn recorded_event_raw(envelope: kpi_store::RawEnvelope) -> Result<RecordedEvent, LedgerError> {
    let event =
        LedgerEvent::parse_slice(&envelope.event_type, &envelope.payload).map_err(|error| {
            LedgerError::Unreadable {
                position: envelope.position,
                reason: error.to_string(),
            }
        })?;
    Ok(RecordedEvent {
        id: envelope.event_id,
        position: envelope.position,
        recorded_at: envelope.recorded_at,
        actor: envelope.actor,
        provenance: envelope.provenance,
        event,
    })
}
