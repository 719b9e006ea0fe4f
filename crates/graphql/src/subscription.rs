//! Subscriptions (over websocket): the log as it grows, and a plan's table as it changes.
//! Both need the `reader` role.

use async_graphql::{Context, Subscription, ID};
use futures::{Stream, StreamExt};
use kpi_service::auth::Role;
use kpi_service::Ledger;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;

use crate::error::{internal, require};
use crate::loader::ledger;
use crate::query::table_at;
use crate::types::{Event, KpiTable};

#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every event from `fromPosition` on: first those already stored, then each new one as
    /// it is committed, in position order with no gap and no duplicate. Without
    /// `fromPosition`, only events recorded after the subscription started.
    async fn event_recorded(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "First log position to send; 1 replays the whole log.")]
        from_position: Option<u64>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Event>>> {
        require(ctx, Role::Reader)?;
        let ledger = ledger(ctx);
        // The store subscribes to live commits before reading what is stored, so an event
        // committed between reading the head and subscribing is still delivered.
        let from = from_position.unwrap_or_else(|| ledger.head().position + 1);
        Ok(ledger
            .store()
            .subscribe(from.max(1))
            .map(|envelope| envelope.map(Event::from).map_err(internal)))
    }

    /// A plan's KPI table each time newly recorded events change it.
    async fn kpi_table_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The plan's id.")] plan: ID,
    ) -> async_graphql::Result<impl Stream<Item = KpiTable>> {
        require(ctx, Role::Reader)?;
        let ledger = ledger(ctx).clone();
        // Listening before reading the current table: a change in between is not missed.
        let changes = ledger.table_changes();
        let (current, _) = table_at(&ledger, &plan, None, None, true).await?;
        let state = TableWatch {
            ledger,
            plan: plan.0,
            changes,
            last: current,
        };
        Ok(futures::stream::unfold(state, TableWatch::next_change))
    }
}

struct TableWatch {
    ledger: Ledger,
    plan: String,
    changes: Receiver<kpi_service::TableChanged>,
    last: kpi_domain::KpiTable,
}

impl TableWatch {
    /// Waits for a notification, skips those already queued behind it (one table answers
    /// them all), and yields the table if it differs from the one sent last.
    async fn next_change(mut self) -> Option<(KpiTable, TableWatch)> {
        loop {
            match self.changes.recv().await {
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
            loop {
                match self.changes.try_recv() {
                    Ok(_) | Err(TryRecvError::Lagged(_)) => continue,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return None,
                }
            }
            let question = kpi_service::TableQuery::new(self.plan.as_str());
            let (table, position) = match self.ledger.table(&question).await {
                Ok(answer) => (Some(answer.table), answer.position),
                Err(kpi_service::LedgerError::UnknownPlan(_)) => (None, 0),
                Err(error) => {
                    tracing::error!(plan = %self.plan, %error, "the table cannot be read");
                    return None;
                }
            };
            let Some(table) = table else {
                // Plans are fixed for the life of a ledger, so this cannot follow a table
                // that existed; end rather than loop on it.
                tracing::error!(plan = %self.plan, "the plan is no longer projected");
                return None;
            };
            if table != self.last {
                let answer = KpiTable::new(table.clone(), position, None, None);
                self.last = table;
                return Some((answer, self));
            }
        }
    }
}
