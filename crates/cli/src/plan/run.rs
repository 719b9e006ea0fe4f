//! Runs a `plan` subcommand: a view is read and rendered, a change becomes a domain command
//! with the flag behind each field and is recorded.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use kpi_domain::command::{
    AddKpi, AdoptPlan, Command, ExtendPlan, NewTarget, RetireKpi, ReviseKpiTarget, TransferPlan,
};
use kpi_domain::PlanDefinition;
use serde_json::Value;

use super::record::{record, Draft};
use super::render::{render_list, render_show, render_transfer_report};
use super::PlanCommand;
use crate::config::Loaded;

pub fn run(command: PlanCommand, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    let data_dir = |data: Option<PathBuf>| data.unwrap_or_else(|| loaded.config.data_dir.clone());
    let (write, draft) = match command {
        PlanCommand::List { data, format } => {
            let registry = read_registry(&data_dir(data), loaded)?;
            print(&render_list(registry.entries(), format)?)?;
            return Ok(ExitCode::SUCCESS);
        }
        PlanCommand::Show { id, data, format } => {
            let registry = read_registry(&data_dir(data), loaded)?;
            let entry = registry
                .entry(&id)
                .with_context(|| unknown_plan(&id, &registry.plans()))?;
            print(&render_show(entry, format)?)?;
            return Ok(ExitCode::SUCCESS);
        }
        PlanCommand::TransferReport { id, data, format } => {
            let dir = existing(&data_dir(data), loaded)?;
            let report = crate::runtime()?.block_on(async {
                let ledger = crate::ledger::open(&dir, loaded).await?;
                let report = ledger.transfer_report(&id);
                ledger.close().await;
                report.with_context(|| format!("no transfer report for plan `{id}`"))
            })?;
            print(&render_transfer_report(&report, format)?)?;
            return Ok(ExitCode::SUCCESS);
        }
        PlanCommand::Adopt {
            file,
            adopted_on,
            write,
        } => {
            let definition = read_text(&file)?;
            let draft = Draft {
                event: AdoptPlan {
                    definition,
                    adopted_on,
                }
                .parse(),
                flags: vec![
                    ("definition", format!("FILE {}", file.display())),
                    ("adopted_on", "--adopted-on".to_owned()),
                ],
            };
            (write, draft)
        }
        PlanCommand::Extend {
            id,
            to,
            decided_on,
            reason,
            write,
        } => {
            let draft = Draft {
                event: ExtendPlan {
                    plan_id: id,
                    last: to.into(),
                    decided_on,
                    reason,
                }
                .parse(),
                flags: decision_flags(vec![("last", "--to".to_owned())]),
            };
            (write, draft)
        }
        PlanCommand::ReviseTarget {
            id,
            kpi,
            series,
            value,
            kind,
            decided_on,
            reason,
            write,
        } => {
            let revise = ReviseKpiTarget {
                plan_id: id,
                kpi,
                series: series.map(Into::into),
                target: NewTarget {
                    value: value.into(),
                    kind: kind.into(),
                },
                decided_on,
                reason,
            };
            let draft = Draft {
                event: revise.parse(),
                flags: decision_flags(vec![
                    ("kpi", "--kpi/--series".to_owned()),
                    ("series", "--series".to_owned()),
                    ("target.value", "--value".to_owned()),
                    ("target.kind", "--kind".to_owned()),
                    ("target", "--value/--kind".to_owned()),
                ]),
            };
            (write, draft)
        }
        PlanCommand::AddKpi {
            id,
            file,
            decided_on,
            reason,
            write,
        } => {
            let definition = read_text(&file)?;
            let add = AddKpi {
                plan_id: id,
                definition,
                decided_on,
                reason,
            };
            let draft = Draft {
                event: add.parse(),
                flags: decision_flags(vec![("definition", format!("FILE {}", file.display()))]),
            };
            (write, draft)
        }
        PlanCommand::RetireKpi {
            id,
            kpi,
            series,
            last_year,
            decided_on,
            reason,
            write,
        } => {
            let retire = RetireKpi {
                plan_id: id,
                kpi,
                series: series.map(Into::into),
                last_year: last_year.into(),
                decided_on,
                reason,
            };
            let draft = Draft {
                event: retire.parse(),
                flags: decision_flags(vec![
                    ("kpi", "--kpi/--series".to_owned()),
                    ("series", "--series".to_owned()),
                    ("last_year", "--last-year".to_owned()),
                ]),
            };
            (write, draft)
        }
        PlanCommand::Transfer {
            id,
            to,
            effective_from,
            decided_on,
            mapping,
            write,
        } => {
            let entries = read_mapping(&mapping)?;
            let transfer = TransferPlan {
                plan_id: id,
                successor: to,
                effective_from: effective_from.into(),
                decided_on,
                mapping: entries.into(),
            };
            let draft = Draft {
                event: transfer.parse(),
                flags: decision_flags(vec![
                    ("successor", "--to".to_owned()),
                    ("effective_from", "--effective-from".to_owned()),
                    ("mapping", format!("--mapping {}", mapping.display())),
                ]),
            };
            (write, draft)
        }
    };
    record(draft, write, loaded)
}

/// The flags every change to an existing plan has, plus its own.
fn decision_flags(mut own: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    own.extend([
        ("plan_id", "ID".to_owned()),
        ("decided_on", "--decided-on".to_owned()),
        ("reason", "--reason".to_owned()),
    ]);
    own
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The `[[mapping]]` entries of a mapping file, as the transfer payload's `mapping`.
fn read_mapping(path: &Path) -> anyhow::Result<Value> {
    let text = read_text(path)?;
    let mut file: serde_json::Map<String, Value> = toml::from_str(&text)
        .with_context(|| format!("invalid --mapping {}: not a TOML file", path.display()))?;
    if let Some(unknown) = file.keys().find(|key| *key != "mapping") {
        anyhow::bail!(
            "invalid --mapping {}: unknown key `{unknown}`: the file holds [[mapping]] entries only",
            path.display()
        );
    }
    file.remove("mapping").with_context(|| {
        format!(
            "invalid --mapping {}: no [[mapping]] entries",
            path.display()
        )
    })
}

fn existing(dir: &Path, loaded: &Loaded) -> anyhow::Result<PathBuf> {
    crate::ensure_store_dir(dir, loaded)?;
    Ok(dir.to_path_buf())
}

fn read_registry(dir: &Path, loaded: &Loaded) -> anyhow::Result<kpi_domain::PlanRegistry> {
    let dir = existing(dir, loaded)?;
    crate::runtime()?.block_on(async {
        let ledger = crate::ledger::open(&dir, loaded).await?;
        let registry = ledger.registry();
        ledger.close().await;
        anyhow::Ok(registry)
    })
}

fn unknown_plan(id: &str, plans: &[PlanDefinition]) -> String {
    let known: Vec<&str> = plans.iter().map(|plan| plan.id.as_str()).collect();
    format!(
        "no plan `{id}` is in force (plans: {})",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    )
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
