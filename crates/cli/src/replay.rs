//! `kpi-ledger replay`: one plan's KPI table rebuilt from the whole log by a fresh fold, with
//! its digest. The output depends on nothing but the log and the plan definition, so two
//! replays of the same log are byte-identical, and a replay equals the live table.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use kpi_domain::{PlanDefinition, PlanRegistry, Projection, RecordedEvent};
use sha2::{Digest, Sha256};

use crate::config::Loaded;

/// Events folded between two progress-bar steps: the bar costs nothing next to the fold.
const PROGRESS_STEP: u64 = 4096;

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
    // The plan as the log's lifecycle events left it (extended, revised, transferred).
    let lifecycle: Vec<_> = kpi_service::read_lifecycle(&store)?
        .into_iter()
        .filter(|event| event.position <= head.position)
        .collect();
    let plan = choose_plan(&args, loaded, &lifecycle)?;
    let plan_id = plan.id.to_string();
    tracing::info!(plan = %plan_id, head = head.position, "replay started");

    let bar = indicatif::ProgressBar::new(head.position).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events {elapsed}")
            .expect("a valid progress template"),
    );
    let mut projection = Projection::new(vec![plan]);
    // Only up to the head read above, so the table and the printed head agree even while
    // another process appends.
    for envelope in store.iter_from(1).take(head.position as usize) {
        let envelope = envelope?;
        let recorded = kpi_service::recorded_event(&envelope)?;
        projection.apply(&recorded);
        if envelope.position % PROGRESS_STEP == 0 {
            bar.set_position(envelope.position);
        }
    }
    bar.finish_and_clear();

    let table = projection
        .table(&plan_id)
        .expect("the projection holds the plan it was built with");
    let json = kpi_report::json(&table);
    let digest = hex_digest(json.as_bytes());
    let mut out = std::io::stdout().lock();
    out.write_all(json.as_bytes())?;
    out.flush()?;
    eprintln!("projection digest: sha256:{digest} (plan {plan_id}, log {head})");
    tracing::info!(plan = %plan_id, %digest, "replay finished");
    Ok(ExitCode::SUCCESS)
}

fn choose_plan(
    args: &ReplayArgs,
    loaded: &Loaded,
    lifecycle: &[RecordedEvent],
) -> anyhow::Result<PlanDefinition> {
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
    let plans = PlanRegistry::from_log(plans, lifecycle).plans();
    let known: Vec<String> = plans.iter().map(|plan| plan.id.to_string()).collect();
    plans
        .into_iter()
        .find(|plan| plan.id.as_str() == wanted)
        .with_context(|| {
            format!(
                "--plan: unknown plan `{wanted}` (known: {}); give --plan-file for another",
                known.join(", ")
            )
        })
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
