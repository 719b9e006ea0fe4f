//! A real ledger in a temporary directory holding the Fuji seed under the roadmap plan, and
//! the schema over it.
#![allow(dead_code)] // each test binary uses a different part of this module

use async_graphql::{Request, Variables};
use kpi_domain::{seed, PlanDefinition};
use kpi_graphql::{EventLoads, LedgerSchema};
use kpi_service::auth::{Caller, Role};
use kpi_service::{ImportRecord, Ledger};
use serde_json::Value;

pub const PLAN: &str = include_str!("../../../../config/plans/telework-roadmap.toml");
const SEED: &str = include_str!("../../../../config/seed/fuji-telework-r6.toml");

pub struct Fixture {
    /// Keeps the store directory alive as long as the fixture.
    pub dir: tempfile::TempDir,
    pub ledger: Ledger,
    pub schema: LedgerSchema,
    pub loads: EventLoads,
}

pub async fn seeded() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanDefinition::from_toml(PLAN).unwrap();
    let ledger = Ledger::open(dir.path(), Default::default(), vec![plan])
        .await
        .unwrap();
    let records = seed::parse(SEED)
        .unwrap()
        .into_iter()
        .map(ImportRecord::from)
        .collect();
    ledger.import("seed", records).await.unwrap();
    let loads = EventLoads::default();
    let schema = kpi_graphql::schema_builder_counting(ledger.clone(), loads.clone()).finish();
    Fixture {
        dir,
        ledger,
        schema,
        loads,
    }
}

pub fn reader() -> Caller {
    Caller::Token {
        name: "viewer".into(),
        role: Role::Reader,
    }
}

pub async fn run(
    schema: &LedgerSchema,
    caller: Option<Caller>,
    query: &str,
    variables: Value,
) -> Value {
    let mut request = Request::new(query).variables(Variables::from_json(variables));
    if let Some(caller) = caller {
        request = request.data(caller);
    }
    let response = schema.execute(request).await;
    serde_json::to_value(&response).unwrap()
}
