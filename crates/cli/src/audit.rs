//! `kpi-ledger audit recompute`: the live projection checked against the reference fold.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use kpi_domain::reference::{self, Limits};

use crate::config::Loaded;

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Recompute every table, finding and transfer report with the reference fold (the plain
    /// definition of each figure, kpi_domain::reference) and print where the live projection
    /// differs. Exit 0 when they agree, 1 when they do not.
    Recompute(RecomputeArgs),
}

#[derive(Args, Debug)]
pub struct RecomputeArgs {
    /// Store directory (default: `data_dir` from the configuration).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Transaction time: only what had been recorded by then (RFC 3339, or a date: the end
    /// of that day in Japan).
    #[arg(long, value_parser = kpi_domain::calendar::parse_as_of)]
    as_of: Option<DateTime<Utc>>,
    /// Valid time: only activities that happened by this date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = kpi_domain::calendar::parse_through)]
    through: Option<NaiveDate>,
}

pub fn run(command: AuditCommand, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    let AuditCommand::Recompute(args) = command;
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| loaded.config.data_dir.clone());
    crate::ensure_store_dir(&dir, loaded)?;
    let configured = crate::ledger::read_plans(loaded)?;
    let found = crate::runtime()?.block_on(async {
        // The ledger as `serve` opens it: from its checkpoint, if it has one, plus the tail.
        let ledger = crate::ledger::open(&dir, loaded).await?;
        let head = ledger.head().position;
        let mut log = Vec::with_capacity(usize::try_from(head).unwrap_or(0));
        for envelope in ledger.store().iter_from(1).take(head as usize) {
            log.push(kpi_service::recorded_event(&envelope?)?);
        }
        let limits = Limits {
            as_of: args.as_of,
            through: args.through,
        };
        let recomputed = reference::recompute(configured, &log, limits);
        let view = kpi_service::View::new(args.as_of, args.through);
        let found = ledger
            .inspect(view, |projection| {
                reference::differences(projection, &recomputed)
            })
            .await?;
        let cells: usize = recomputed
            .tables
            .iter()
            .flat_map(|table| &table.rows)
            .map(|row| row.cells.len())
            .sum();
        ledger.close().await;
        anyhow::Ok((
            found,
            recomputed.tables.len(),
            cells,
            recomputed.findings.len(),
            head,
        ))
    })?;
    let (found, plans, cells, findings, head) = found;
    if found.is_empty() {
        println!(
            "the live projection agrees with the reference fold: {plans} plan{}, {cells} cells, \
             {findings} findings, log position {head}",
            if plans == 1 { "" } else { "s" }
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for difference in &found {
            println!("{difference}");
        }
        eprintln!(
            "{} differences between the live projection and the reference fold (log position \
             {head})",
            found.len()
        );
        Ok(ExitCode::FAILURE)
    }
}
