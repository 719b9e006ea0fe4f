//! A stored event, and the lists it is answered in (whose amendments are read in one batch).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Context, Object, ID};
use chrono::{DateTime, Utc};
use kpi_service::auth::Role;
use kpi_service::Envelope;
use uuid::Uuid;

use super::EventType;
use crate::error::{internal, require};
use crate::loader::{ledger, load_envelopes, load_events};
use crate::scalars::FiscalYearValue;

/// A stored event: the envelope the store assigned and the payload as recorded.
#[derive(Debug, Clone)]
pub struct Event {
    pub(crate) envelope: Arc<Envelope>,
    /// The list the event was answered in, if any.
    list: Option<Arc<EventList>>,
}

/// The events of one list (a page of the log, a cell's drill-down...). A field every event
/// of a list selects is read for all of them at once when the first asks, so a page reads
/// the store once for it, not once per event; the loader's 1 ms batching window alone would
/// split a long page into several reads.
#[derive(Debug)]
pub(crate) struct EventList {
    ids: Vec<Uuid>,
    amendments: tokio::sync::OnceCell<ListAmendments>,
}

/// The amendments of a list's events, from one look at the projection and one batched read.
#[derive(Debug)]
struct ListAmendments {
    by_target: HashMap<Uuid, Vec<Uuid>>,
    envelopes: HashMap<Uuid, Arc<Envelope>>,
}

impl From<Envelope> for Event {
    fn from(envelope: Envelope) -> Self {
        Self::from(Arc::new(envelope))
    }
}

impl From<Arc<Envelope>> for Event {
    fn from(envelope: Arc<Envelope>) -> Self {
        Self {
            envelope,
            list: None,
        }
    }
}

impl Event {
    /// The events of one list, in the order given, sharing the list.
    pub(crate) fn list(envelopes: Vec<Arc<Envelope>>) -> Vec<Event> {
        let list = Arc::new(EventList {
            ids: envelopes.iter().map(|envelope| envelope.event_id).collect(),
            amendments: tokio::sync::OnceCell::new(),
        });
        envelopes
            .into_iter()
            .map(|envelope| Event {
                envelope,
                list: Some(list.clone()),
            })
            .collect()
    }

    fn domain(&self) -> async_graphql::Result<kpi_domain::RecordedEvent> {
        kpi_service::recorded_event(&self.envelope).map_err(internal)
    }
}

#[Object]
impl Event {
    /// UUID assigned by the store.
    async fn id(&self) -> ID {
        ID(self.envelope.event_id.to_string())
    }

    /// Place in the log, gapless from 1.
    async fn position(&self) -> u64 {
        self.envelope.position
    }

    /// SHA-256 of the previous hash and this event's canonical bytes (hex).
    async fn hash(&self) -> String {
        self.envelope.hash.to_hex()
    }

    /// The previous event's hash (the genesis value for position 1).
    async fn prev_hash(&self) -> String {
        self.envelope.prev_hash.to_hex()
    }

    async fn stream_id(&self) -> &str {
        self.envelope.stream_id.as_str()
    }

    /// Place in its stream, gapless from 1.
    async fn stream_version(&self) -> u64 {
        self.envelope.stream_version
    }

    /// The kind of event.
    #[graphql(name = "type")]
    async fn event_type(&self) -> async_graphql::Result<EventType> {
        kpi_domain::EventKind::from_name(&self.envelope.event_type)
            .map(Into::into)
            .ok_or_else(|| {
                internal(format!(
                    "event {} has the unknown type `{}`",
                    self.envelope.event_id, self.envelope.event_type
                ))
            })
    }

    async fn schema_version(&self) -> u32 {
        self.envelope.schema_version
    }

    /// When the activity happened: a date (`2024-04-30`) or an instant (RFC 3339).
    async fn occurred(&self) -> String {
        self.envelope.occurred.to_string()
    }

    /// When the store accepted the event.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.envelope.recorded_at
    }

    /// The name of the token that recorded the event.
    async fn actor(&self) -> &str {
        &self.envelope.actor
    }

    /// Where the figure was taken from, if given.
    async fn provenance(&self) -> Option<&str> {
        self.envelope.provenance.as_deref()
    }

    async fn idempotency_key(&self) -> Option<&str> {
        self.envelope.idempotency_key.as_deref()
    }

    /// The payload as recorded, with the domain's snake_case field names.
    async fn payload(&self) -> &serde_json::Value {
        &self.envelope.payload
    }

    /// The fiscal year whose column the event counts in.
    async fn fiscal_year(&self) -> async_graphql::Result<FiscalYearValue> {
        Ok(self.domain()?.event.fiscal_year().into())
    }

    /// The text a person would search for (title, programme, provider...).
    async fn title(&self) -> async_graphql::Result<Option<String>> {
        Ok(self.domain()?.event.title().map(str::to_owned))
    }

    /// The corrections and retractions recorded against this event, in log order.
    async fn amendments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Event>> {
        require(ctx, Role::Reader)?;
        // The ids come from the projection's index, in memory; only the amendments themselves
        // are read from the store, through the loader.
        let target = self.envelope.event_id;
        let Some(list) = &self.list else {
            return load_events(ctx, &ledger(ctx).amendment_ids_of(target)).await;
        };
        let amendments = list
            .amendments
            .get_or_try_init(|| async {
                let by_target = ledger(ctx).amendment_ids_by_target(&list.ids);
                let ids: Vec<Uuid> = by_target.values().flatten().copied().collect();
                let envelopes = load_envelopes(ctx, &ids).await?;
                Ok::<_, async_graphql::Error>(ListAmendments {
                    by_target,
                    envelopes,
                })
            })
            .await?;
        let ids = amendments
            .by_target
            .get(&target)
            .map_or(&[][..], Vec::as_slice);
        Ok(Event::list(
            ids.iter()
                .filter_map(|id| amendments.envelopes.get(id).cloned())
                .collect(),
        ))
    }

    /// For a correction or retraction: the event it changes.
    async fn target(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Event>> {
        let Some(target) = self.domain()?.event.amendment_target() else {
            return Ok(None);
        };
        Ok(load_events(ctx, &[target]).await?.into_iter().next())
    }
}
