//! kpi-graphql: the GraphQL schema of kpi-ledger. It translates between GraphQL and
//! [`kpi_service::Ledger`] and holds no business rule: inputs become the domain's payload JSON
//! and are validated by `LedgerEvent::parse` (errors name the field), roles are checked with
//! `Caller::require`, and every figure comes from the service's projection.
//!
//! The HTTP shell (kpi-server) serves the schema and puts the request's
//! [`kpi_service::auth::Caller`] into the request data; this crate knows nothing of HTTP.
//!
//! ```no_run
//! # async fn serve(ledger: kpi_service::Ledger) {
//! let schema = kpi_graphql::schema_builder(ledger)
//!     .limit_depth(16)
//!     .limit_complexity(2_000)
//!     .finish();
//! # let _ = schema;
//! # }
//! ```
//!
//! Errors carry `extensions.code`: `UNAUTHENTICATED` / `FORBIDDEN` (role), `BAD_USER_INPUT`
//! (with `extensions.field`, the argument path such as `input.firstDate`), `CONFLICT`
//! (duplicate, idempotency clash, a rebuild overtaken by a later one), `NOT_FOUND`,
//! `LOG_DAMAGED` (a write refused because the log fails verification), `STORAGE_UNAVAILABLE`
//! (the storage failed, e.g. a full disk: a write not acknowledged or refused, or a read of
//! the log refused, until the store has reopened its database; send it again later, a write
//! with the same `idempotencyKey`), `INTERNAL_SERVER_ERROR`.

mod error;
mod loader;
mod mutation;
mod plans;
mod proofs;
mod query;
mod scalars;
mod subscription;
mod types;

use async_graphql::{Schema, SchemaBuilder};
use kpi_service::Ledger;

pub use loader::EventLoads;
pub use mutation::MutationRoot;
pub use proofs::ProofSigner;
pub use query::QueryRoot;
pub use subscription::SubscriptionRoot;

/// The ledger's GraphQL schema.
pub type LedgerSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// A schema builder over `ledger`, for the caller to add limits (depth, complexity) before
/// `finish()`.
pub fn schema_builder(ledger: Ledger) -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    schema_builder_counting(ledger, EventLoads::default())
}

/// [`schema_builder`], counting the event loader's store reads into `loads` (tests and
/// benchmarks use it to show a drill-down reads in batches, not once per cell).
pub fn schema_builder_counting(
    ledger: Ledger,
    loads: EventLoads,
) -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    let loader = loader::event_data_loader(ledger.clone(), loads);
    bare_builder().data(ledger).data(loader)
}

/// The schema over `ledger` without limits.
pub fn build_schema(ledger: Ledger) -> LedgerSchema {
    schema_builder(ledger).finish()
}

/// The schema in SDL, as checked in at the repository root as `schema.graphql`.
pub fn sdl() -> String {
    bare_builder().finish().sdl()
}

fn bare_builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
}
