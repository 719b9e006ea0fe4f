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
    open_with(dir, loaded, loaded.config.ledger.clone()).await
}

async fn open_with(
    dir: &Path,
    loaded: &Loaded,
    ledger_config: kpi_service::LedgerConfig,
) -> anyhow::Result<Ledger> {
    let plans = read_plans(loaded)?;
    Ledger::open_with_config(dir, loaded.config.store.clone(), ledger_config, plans)
        .await
        .with_context(|| format!("cannot open the ledger at {}", dir.display()))
}

/// [`open`] for a bulk import: no checkpoint in the background while it runs (each is built
/// from a copy of the projection beside the live one, which made most of an import's peak
/// memory), only the one at close, so the next start-up still begins at the head.
pub async fn open_for_import(dir: &Path, loaded: &Loaded) -> anyhow::Result<Ledger> {
    let ledger_config = kpi_service::LedgerConfig {
        checkpoint_every_events: 0,
        ..loaded.config.ledger.clone()
    };
    open_with(dir, loaded, ledger_config).await
}

pub fn default_plan(ledger: &Ledger) -> anyhow::Result<String> {
    ledger
        .plans()
        .first()
        .map(|plan| plan.id.to_string())
        .context("no plan is configured (`plans` in the configuration)")
}
