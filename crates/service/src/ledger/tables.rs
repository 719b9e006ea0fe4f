//! Reading the figures: the one way to ask for a table ([`TableQuery`]), the one way to look
//! at a whole projection ([`Ledger::inspect`]), the plans in force, transfer reports and
//! audit findings. The lock of the live projection stays in this crate: callers get answers,
//! never a guard they could hold across an `.await`.

use parking_lot::RwLockReadGuard;

use chrono::{DateTime, NaiveDate, Utc};
use kpi_domain::{
    AuditFinding, KpiTable, PlanDefinition, PlanRegistry, Projection, TransferReport,
};
use tokio::sync::broadcast;

use super::{fold, FoldLimits, Ledger, TableChanged};
use crate::error::LedgerError;

/// Which state of the ledger a question is about: the live projection (the default), or the
/// log as recorded up to `as_of` (transaction time), counting only the activities that
/// happened on or before `through` (valid time); the two may be combined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct View {
    pub as_of: Option<DateTime<Utc>>,
    pub through: Option<NaiveDate>,
}

impl View {
    /// The live projection: everything recorded, every activity.
    pub const LIVE: View = View {
        as_of: None,
        through: None,
    };

    pub fn new(as_of: Option<DateTime<Utc>>, through: Option<NaiveDate>) -> View {
        View { as_of, through }
    }

    /// Whether this is the live projection (answered without a fold).
    pub fn is_live(&self) -> bool {
        *self == View::LIVE
    }
}

/// How much of each cell a table carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Detail {
    /// Figures and every cell's contributing events (the drill-down).
    #[default]
    DrillDown,
    /// Figures only: building every cell's event list costs O(events), and most readers do
    /// not look at it.
    Figures,
}

/// A question for one plan's KPI table: which plan, in which [`View`], with what [`Detail`].
/// Every front-end (GraphQL, the dashboard and downloads, the CLI, subscriptions) asks
/// [`Ledger::table`] with one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableQuery {
    pub plan: String,
    pub view: View,
    pub detail: Detail,
}

impl TableQuery {
    /// The live table of `plan` with its drill-down.
    pub fn new(plan: impl Into<String>) -> TableQuery {
        TableQuery {
            plan: plan.into(),
            view: View::LIVE,
            detail: Detail::DrillDown,
        }
    }

    pub fn in_view(mut self, view: View) -> TableQuery {
        self.view = view;
        self
    }

    pub fn with_detail(mut self, detail: Detail) -> TableQuery {
        self.detail = detail;
        self
    }
}

/// A table and the log position it reflects (the live projection's, or the last event the
/// fold counted).
#[derive(Debug, Clone, PartialEq)]
pub struct TableAnswer {
    pub table: KpiTable,
    pub position: u64,
}

impl Ledger {
    /// The live projection under its read lock, for this crate only (keep it short; never
    /// across an `.await`).
    pub(crate) fn live(&self) -> RwLockReadGuard<'_, Projection> {
        self.inner.projection.read()
    }

    /// Answers a [`TableQuery`]: from the live projection, or, for another view, from a fresh
    /// fold of the log (at most [`LedgerConfig::max_concurrent_folds`] at once). An unknown
    /// plan is [`LedgerError::UnknownPlan`].
    pub async fn table(&self, query: &TableQuery) -> Result<TableAnswer, LedgerError> {
        let answer = self
            .inspect(query.view, |projection| {
                let table = match query.detail {
                    Detail::DrillDown => projection.table(&query.plan),
                    Detail::Figures => projection.table_values(&query.plan),
                };
                table.map(|table| TableAnswer {
                    table,
                    position: projection.last_position(),
                })
            })
            .await?;
        answer.ok_or_else(|| LedgerError::UnknownPlan(query.plan.clone()))
    }

    /// Runs `read` on the whole projection of `view`: the live one under its read lock (so
    /// `read` must be short), or a fresh fold by [`fold_log`]'s path under the plans in force
    /// at `as_of`. For checks over every table at once (`audit recompute`, tests); a table is
    /// asked for with [`Ledger::table`].
    pub async fn inspect<R>(
        &self,
        view: View,
        read: impl FnOnce(&Projection) -> R,
    ) -> Result<R, LedgerError> {
        if view.is_live() {
            return Ok(read(&self.live()));
        }
        let projection = self.fold_view(view).await?;
        Ok(read(&projection))
    }

    /// A fresh fold of the log for `view`, in one of the fold slots.
    async fn fold_view(&self, view: View) -> Result<Projection, LedgerError> {
        let store = self.inner.store.clone();
        let plans = match view.as_of {
            Some(at) => self.registry_as_of(at).plans(),
            None => self.registry().plans(),
        };
        let limits = FoldLimits {
            as_of: view.as_of,
            through: view.through,
            ..FoldLimits::default()
        };
        self.inner
            .folds
            .run(move || fold(&store, plans, limits))
            .await
    }

    /// The log position the live projection has folded up to.
    pub fn projected_position(&self) -> u64 {
        *self.inner.projected.borrow()
    }

    /// The plans the live projection is built under, in order.
    pub fn plans(&self) -> Vec<PlanDefinition> {
        self.live().plans().to_vec()
    }

    pub fn audit_findings(&self) -> Vec<AuditFinding> {
        self.live().audit_findings()
    }

    /// Notified whenever newly projected events may have changed a table.
    pub fn table_changes(&self) -> broadcast::Receiver<TableChanged> {
        self.inner.table_changed.subscribe()
    }

    /// The plans in force and how each came to be (its definition history).
    pub fn registry(&self) -> PlanRegistry {
        self.inner.registry.read().clone()
    }

    /// The plans in force as of `at`: the configured ones changed by the lifecycle events
    /// recorded up to then.
    pub fn registry_as_of(&self, at: DateTime<Utc>) -> PlanRegistry {
        let lifecycle = self.inner.lifecycle.read();
        PlanRegistry::from_log(
            self.inner.configured.clone(),
            lifecycle.iter().filter(|event| event.recorded_at <= at),
        )
    }

    /// How a transferred plan's history feeds its successor.
    pub fn transfer_report(&self, plan_id: &str) -> Result<TransferReport, LedgerError> {
        let projection = self.live();
        match projection.transfer_report(plan_id) {
            Some(report) => Ok(report),
            None if projection
                .plans()
                .iter()
                .any(|plan| plan.id.as_str() == plan_id) =>
            {
                Err(LedgerError::NotTransferred(plan_id.to_owned()))
            }
            None => Err(LedgerError::UnknownPlan(plan_id.to_owned())),
        }
    }
}
