//! `kpi-ledger replay`: one plan's KPI table rebuilt from the whole log by a fresh fold, with
//! its digest. The output depends on nothing but the log and the plan definition, so two
//! replays of the same log are byte-identical, and a replay equals the live table.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use kpi_domain::PlanDefinition;
use kpi_service::FoldLimits;
use sha2::{Digest, Sha256};

use crate::config::Loaded;

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Store directory (default: `data_dir` from the configuration).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Plan id (default: the plan of --plan-file, else the first configured plan).
    #[arg(long)]
    plan: Option<String>,
    /// A plan definition (TOML) to replay under, besides the configured plans.
    #[arg(long)]
    plan_file: Option<PathBuf>,
}

/// Prints the table as JSON (as `table --format json` does) on standard output, and its
/// digest with the log head it reflects on standard error.
pub fn run(args: ReplayArgs, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| loaded.config.data_dir.clone());
    let store = crate::open_existing_store(&dir, loaded)?;
    let head = store.head();
    let (plans, wanted) = choose_plans(&args, loaded)?;
    tracing::info!(plan = %wanted, head = head.position, "replay started");
    // The same fold as `serve` and `table`, over every plan in force (a successor's baselines
    // come from its predecessor's history), only up to the head read above, so the table and
    // the printed head agree even while another process appends.
    let limits = FoldLimits {
        position: Some(head.position),
        ..FoldLimits::default()
    };
    let (_, projection) = kpi_service::fold_log(&store, plans, limits)?;
    let Some(table) = projection.table(&wanted) else {
        let known: Vec<&str> = projection
            .plans()
            .iter()
            .map(|plan| plan.id.as_str())
            .collect();
        anyhow::bail!(
            "--plan: unknown plan `{wanted}` (known: {}); give --plan-file for another",
            known.join(", ")
        );
    };
    let json = kpi_report::json(&table);
    let digest = hex_digest(json.as_bytes());
    let mut out = std::io::stdout().lock();
    out.write_all(json.as_bytes())?;
    out.flush()?;
    eprintln!("projection digest: sha256:{digest} (plan {wanted}, log {head})");
    tracing::info!(plan = %wanted, %digest, "replay finished");
    Ok(ExitCode::SUCCESS)
}

/// The configured plans (a `--plan-file` replacing the configured plan of its id) and the id of
/// the plan to print.
fn choose_plans(
    args: &ReplayArgs,
    loaded: &Loaded,
) -> anyhow::Result<(Vec<PlanDefinition>, String)> {
    let mut plans = crate::ledger::read_plans(loaded)?;
    let mut from_file = None;
    if let Some(path) = &args.plan_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read plan file {}", path.display()))?;
        let plan = PlanDefinition::from_toml(&text)
            .with_context(|| format!("invalid plan file {}", path.display()))?;
        from_file = Some(plan.id.to_string());
        // The file wins over a configured plan of the same id: replaying a revised
        // definition is what the option is for.
        plans.retain(|known| known.id != plan.id);
        plans.insert(0, plan);
    }
    let wanted = match (&args.plan, from_file) {
        (Some(id), _) => id.clone(),
        (None, Some(id)) => id,
        (None, None) => plans
            .first()
            .map(|plan| plan.id.to_string())
            .context("no plan is configured (`plans` in the configuration) and no --plan-file")?,
    };
    Ok((plans, wanted))
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
