//! What the log says of itself: its head, the walk of its hash chain, and the audit's
//! findings.

use async_graphql::{ComplexObject, Context, SimpleObject, ID};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{ids, Event, FindingKind, Series};
use crate::loader::load_events;
use crate::scalars::FiscalYearValue;

/// The last acknowledged position of the log and its hash.
#[derive(SimpleObject, Debug, Clone)]
pub struct Head {
    pub position: u64,
    pub hash: String,
}

impl From<kpi_service::Head> for Head {
    fn from(head: kpi_service::Head) -> Self {
        Self {
            position: head.position,
            hash: head.hash.to_hex(),
        }
    }
}

/// The result of walking the whole hash chain.
#[derive(SimpleObject, Debug, Clone)]
pub struct Verification {
    /// Whether every event up to the head is intact.
    pub ok: bool,
    /// The head the walk proved; null when it failed.
    pub digest: Option<Head>,
    /// The first position found wrong and why; null when ok.
    pub failure: Option<VerificationFailure>,
    /// When the walk that gave this answer finished: a repeat at the same head is answered
    /// by the walk already made.
    pub verified_at: DateTime<Utc>,
}

impl From<&kpi_service::Verification> for Verification {
    fn from(verification: &kpi_service::Verification) -> Self {
        let (digest, failure) = match &verification.result {
            Ok(head) => (Some(Head::from(*head)), None),
            Err(failure) => (
                None,
                Some(VerificationFailure {
                    position: failure.position,
                    reason: failure.reason.to_string(),
                }),
            ),
        };
        Verification {
            ok: failure.is_none(),
            digest,
            failure,
            verified_at: verification.finished_at,
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct VerificationFailure {
    pub position: u64,
    pub reason: String,
}

/// Something the log shows that a reader of the published table should know.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct AuditFinding {
    pub kind: FindingKind,
    pub fiscal_year: Option<FiscalYearValue>,
    pub plan_id: Option<ID>,
    pub kpi: Option<ID>,
    pub series: Option<Series>,
    pub event_ids: Vec<ID>,
    pub message: String,
    #[graphql(skip)]
    pub(crate) events: Vec<Uuid>,
}

impl From<&kpi_domain::AuditFinding> for AuditFinding {
    fn from(finding: &kpi_domain::AuditFinding) -> Self {
        Self {
            kind: finding.kind.into(),
            fiscal_year: finding.fiscal_year.map(Into::into),
            plan_id: finding.plan_id.clone().map(ID),
            kpi: finding.kpi.clone().map(ID),
            series: finding.series.map(Into::into),
            event_ids: ids(&finding.event_ids),
            message: finding.message.clone(),
            events: finding.event_ids.clone(),
        }
    }
}

#[ComplexObject]
impl AuditFinding {
    /// The events the finding is about.
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Event>> {
        load_events(ctx, &self.events).await
    }
}
