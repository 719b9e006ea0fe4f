//! Reading the files the library crates are given as text, and opening the ledger with them.

use std::path::Path;

use anyhow::Context;
use kpi_domain::PlanDefinition;
use kpi_service::{ImportRecord, Ledger};

use crate::config::Loaded;

/// Reads every configured plan definition.
pub fn read_plans(loaded: &Loaded) -> anyhow::Result<Vec<PlanDefinition>> {
    loaded
        .config
        .plans
        .iter()
        .map(|path| {
            let path = loaded.resolve(path);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read plan {}", path.display()))?;
            PlanDefinition::from_toml(&text)
                .with_context(|| format!("invalid plan {}", path.display()))
        })
        .collect()
}

/// Reads and expands a seed file; an invalid file yields no records at all.
pub fn read_seed(path: &Path) -> anyhow::Result<Vec<ImportRecord>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read seed file {}", path.display()))?;
    let records = kpi_domain::seed::parse(&text)
        .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
    Ok(records.into_iter().map(ImportRecord::from).collect())
}

pub async fn open(dir: &Path, loaded: &Loaded) -> anyhow::Result<Ledger> {
    let plans = read_plans(loaded)?;
    let config = &loaded.config;
    Ledger::open_with_config(dir, config.store.clone(), config.ledger.clone(), plans)
        .await
        .with_context(|| format!("cannot open the ledger at {}", dir.display()))
}

pub fn default_plan(ledger: &Ledger) -> anyhow::Result<String> {
    ledger
        .plans()
        .first()
        .map(|plan| plan.id.to_string())
        .context("no plan is configured (`plans` in the configuration)")
}
