//! The two parse paths, one per-kind dispatch: a JSON tree (commands) and stored bytes
//! (replay) are read by the same code, so they accept and refuse the same payloads.

use serde::de::DeserializeOwned;

use super::{EventKind, LedgerEvent};
use crate::error::{from_serde_path, ValidationError};

fn parse_as<T: DeserializeOwned>(payload: &serde_json::Value) -> Result<T, ValidationError> {
    // Path tracking only runs to explain a failure; replay parses valid payloads.
    match T::deserialize(payload) {
        Ok(value) => Ok(value),
        Err(_) => serde_path_to_error::deserialize(payload).map_err(from_serde_path),
    }
}

fn parse_slice_as<T: DeserializeOwned>(payload: &[u8]) -> Result<T, ValidationError> {
    // The plain deserialiser is the fast path for replay; the path-tracking one only runs to
    // explain a failure.
    match serde_json::from_slice(payload) {
        Ok(value) => Ok(value),
        Err(_) => {
            let mut deserializer = serde_json::Deserializer::from_slice(payload);
            match serde_path_to_error::deserialize(&mut deserializer) {
                Ok(value) => Ok(value),
                Err(error) => Err(from_serde_path(error)),
            }
        }
    }
}

/// Where a payload is read from: a JSON tree (commands) or stored bytes (replay).
pub(super) trait Source {
    fn read<T: DeserializeOwned>(&self) -> Result<T, ValidationError>;
}

impl Source for serde_json::Value {
    fn read<T: DeserializeOwned>(&self) -> Result<T, ValidationError> {
        parse_as(self)
    }
}

impl Source for [u8] {
    fn read<T: DeserializeOwned>(&self) -> Result<T, ValidationError> {
        parse_slice_as(self)
    }
}

impl LedgerEvent {
    /// Parses and validates a payload. Every rule of the catalogue is checked here.
    pub fn parse(
        event_type: &str,
        payload: &serde_json::Value,
    ) -> Result<LedgerEvent, ValidationError> {
        Self::parse_from(event_type, payload)
    }

    /// [`LedgerEvent::parse`] straight from the stored bytes, without building a JSON tree:
    /// the path replay takes.
    pub fn parse_slice(event_type: &str, payload: &[u8]) -> Result<LedgerEvent, ValidationError> {
        Self::parse_from(event_type, payload)
    }

    fn parse_from<S: Source + ?Sized>(
        event_type: &str,
        payload: &S,
    ) -> Result<LedgerEvent, ValidationError> {
        let event = Self::read_as(Self::kind_named(event_type)?, payload)?;
        event.check()?;
        Ok(event)
    }

    fn kind_named(event_type: &str) -> Result<EventKind, ValidationError> {
        EventKind::from_name(event_type).ok_or_else(|| {
            let known: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.name()).collect();
            ValidationError::new(
                "event_type",
                format!(
                    "`{event_type}` is not an event type; expected one of {}",
                    known.join(", ")
                ),
            )
        })
    }
}
