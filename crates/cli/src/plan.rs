//! `kpi-ledger plan ...`: a plan's lifecycle as events (adopt, extend, revise a target, add or
//! retire a KPI, transfer to a successor) and the views of it (list, show, transfer report).
//!
//! Each write turns its flags into a domain command (`kpi_domain::command`) and lets the
//! domain parse it and the service check it against the plans in force, so every rule lives
//! there; this module only translates the field the domain names back into the flag the user
//! typed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use kpi_domain::command::{
    AddKpi, AdoptPlan, Command, ExtendPlan, NewTarget, RetireKpi, ReviseKpiTarget, TransferPlan,
};
use kpi_domain::{
    BaselineOrigin, HistoryRule, LedgerEvent, PlanDefinition, PlanEntry, TargetKind,
    TransferReport, ValidationError,
};
use kpi_service::{RecordError, RecordOptions};
use serde_json::{json, Value};

use crate::config::Loaded;

#[derive(Debug, clap::Subcommand)]
pub enum PlanCommand {
    /// List the plans in force: id, name, period, where the definition came from, successor.
    List {
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = ViewFormat::Text)]
        format: ViewFormat,
    },
    /// Adopt a plan: record its whole definition (a plan TOML file) as an event.
    Adopt {
        /// A plan definition, e.g. config/plans/fifth-information-plan.toml.
        file: PathBuf,
        /// The date the plan was adopted (YYYY-MM-DD).
        #[arg(long)]
        adopted_on: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Extend a plan's period to a later last fiscal year.
    Extend {
        /// Plan id.
        id: String,
        /// The new last fiscal year, e.g. R8.
        #[arg(long)]
        to: String,
        /// The date of the decision (YYYY-MM-DD).
        #[arg(long)]
        decided_on: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Replace a KPI's target.
    ReviseTarget {
        /// Plan id.
        id: String,
        /// KPI id, e.g. 2.
        #[arg(long)]
        kpi: String,
        /// `b` for the bracketed row (4b, 5b, 9b); the main row when omitted.
        #[arg(long)]
        series: Option<String>,
        /// The new target, an exact decimal, e.g. 2000 or 50.0.
        #[arg(long)]
        value: String,
        /// cumulative, annual, annual_minimum or rate.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        decided_on: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Add a KPI to a plan in force.
    AddKpi {
        /// Plan id.
        id: String,
        /// The body of one [[kpis]] table (id, pillar, name, unit, aggregation, sources...).
        file: PathBuf,
        #[arg(long)]
        decided_on: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Retire a KPI: it counts up to --last-year and shows no figure after it.
    RetireKpi {
        /// Plan id.
        id: String,
        #[arg(long)]
        kpi: String,
        /// `b` for the bracketed row; the main row when omitted.
        #[arg(long)]
        series: Option<String>,
        /// The last fiscal year the KPI counts, e.g. R7.
        #[arg(long)]
        last_year: String,
        #[arg(long)]
        decided_on: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Hand a plan over to its successor, with the KPI mapping that gives the successor's
    /// baselines. The successor must be in force (adopt it first).
    Transfer {
        /// Plan id of the predecessor.
        id: String,
        /// Plan id of the successor.
        #[arg(long)]
        to: String,
        /// The successor's first fiscal year, the one right after the predecessor's last.
        #[arg(long)]
        effective_from: String,
        #[arg(long)]
        decided_on: String,
        /// A TOML file of [[mapping]] entries, e.g. config/plans/telework-roadmap-to-fifth.toml.
        #[arg(long)]
        mapping: PathBuf,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// A plan's definition history (who changed what, when) and the definition in force.
    Show {
        /// Plan id.
        id: String,
        #[arg(long)]
        data: Option<PathBuf>,
        /// json gives every step with the whole definition it left in force.
        #[arg(long, value_enum, default_value_t = ViewFormat::Text)]
        format: ViewFormat,
    },
    /// For each KPI of a transferred plan's successor: its baseline, the mapping used and the
    /// predecessor figures it came from.
    TransferReport {
        /// Plan id of the transferred (predecessor) plan.
        id: String,
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = ViewFormat::Text)]
        format: ViewFormat,
    },
}

#[derive(Debug, clap::Args)]
pub struct WriteArgs {
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Recorded as the actor of the event, shown in the plan's history.
    #[arg(long, default_value = "admin")]
    pub actor: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ViewFormat {
    Text,
    Json,
}

/// A lifecycle event ready to record (or refused by the domain), with the flag behind each
/// payload field.
struct Draft {
    event: Result<LedgerEvent, ValidationError>,
    /// Payload field (or the head of a field path) and the flag or argument that set it.
    flags: Vec<(&'static str, String)>,
}

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
            let dir = existing(&data_dir(data))?;
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

/// Parses, records and prints one lifecycle event. Refused input is reported with the flag
/// it came from; the service writes nothing then.
fn record(mut draft: Draft, write: WriteArgs, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    draft.flags.push(("actor", "--actor".to_owned()));
    let event = draft.event.map_err(|error| refused(&error, &draft.flags))?;
    let plan_id = event
        .plan_id()
        .expect("plan commands record lifecycle events, which name a plan")
        .to_string();
    let dir = write.data.unwrap_or_else(|| loaded.config.data_dir.clone());
    let (envelope, step) = crate::runtime()?.block_on(async {
        let ledger = crate::ledger::open(&dir, loaded).await?;
        let recorded = ledger
            .record(&write.actor, event, RecordOptions::default())
            .await;
        // The step this event added to the plan's history, to confirm what changed.
        let step = recorded.as_ref().ok().and_then(|envelope| {
            ledger.registry().entry(&plan_id).and_then(|entry| {
                entry
                    .history
                    .iter()
                    .find(|step| step.event_id == Some(envelope.event_id))
                    .map(|step| step.change.describe())
            })
        });
        ledger.close().await;
        anyhow::Ok((recorded, step))
    })?;
    let envelope = envelope.map_err(|error| match &error {
        RecordError::Invalid(invalid) => refused(invalid, &draft.flags),
        _ => anyhow::Error::new(error).context("nothing recorded"),
    })?;
    println!(
        "recorded {} at position {} (event {})",
        envelope.event_type, envelope.position, envelope.event_id
    );
    match step {
        Some(step) => println!("{plan_id}: {step}"),
        // Recorded but not applied (a concurrent change got there first): say so.
        None => println!("{plan_id}: no change to the plans in force; see `plan show {plan_id}`"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The domain's error, told with the flag the user typed.
fn refused(error: &ValidationError, flags: &[(&'static str, String)]) -> anyhow::Error {
    let field = error.field.as_str();
    let flag = flags
        .iter()
        .filter(|(name, _)| {
            field == *name
                || field
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        })
        .max_by_key(|(name, _)| name.len())
        .map(|(_, flag)| flag.clone());
    let place = match (flag, mapping_entry(field)) {
        (Some(flag), Some(entry)) => format!("{flag}, [[mapping]] entry {entry}"),
        (Some(flag), None) => flag,
        (None, _) => "input".to_owned(),
    };
    anyhow::anyhow!(
        "invalid {place} (field `{field}`): {}; nothing recorded",
        error.reason
    )
}

/// The 1-based entry of a `mapping[i]...` field, as a reader of the file counts them.
fn mapping_entry(field: &str) -> Option<usize> {
    let index = field.strip_prefix("mapping[")?.split(']').next()?;
    index.parse::<usize>().ok().map(|index| index + 1)
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

fn existing(dir: &Path) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(
        dir.is_dir(),
        "no store at {}: the directory does not exist",
        dir.display()
    );
    Ok(dir.to_path_buf())
}

fn read_registry(dir: &Path, loaded: &Loaded) -> anyhow::Result<kpi_domain::PlanRegistry> {
    let dir = existing(dir)?;
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

fn period(plan: &PlanDefinition) -> String {
    format!("{}-{}", plan.period.first.label(), plan.period.last.label())
}

/// Where a plan in force came from: the configuration, or an adoption recorded in the log
/// (which replaces a configured definition of the same id).
fn source(entry: &PlanEntry) -> &'static str {
    if entry.is_adopted() {
        "adopted"
    } else {
        "configured"
    }
}

fn render_list(entries: &[PlanEntry], format: ViewFormat) -> anyhow::Result<String> {
    if format == ViewFormat::Json {
        let plans: Vec<Value> = entries
            .iter()
            .map(|entry| {
                let plan = &entry.definition;
                json!({
                    "id": plan.id,
                    "name": plan.name,
                    "period": plan.period,
                    "source": source(entry),
                    "transferred_to": plan.transfer.as_ref().map(|t| &t.successor),
                    "effective_from": plan.transfer.as_ref().map(|t| t.effective_from),
                })
            })
            .collect();
        return Ok(serde_json::to_string_pretty(&plans)? + "\n");
    }
    let mut out = String::new();
    for entry in entries {
        let plan = &entry.definition;
        let transfer = plan.transfer.as_ref().map_or_else(String::new, |transfer| {
            format!(
                "  transferred to {} from {}",
                transfer.successor,
                transfer.effective_from.label()
            )
        });
        out.push_str(&format!(
            "{}  {}  {}  {}{transfer}\n",
            plan.id,
            plan.name.en,
            period(plan),
            source(entry)
        ));
    }
    Ok(out)
}

fn render_show(entry: &PlanEntry, format: ViewFormat) -> anyhow::Result<String> {
    if format == ViewFormat::Json {
        // Each step as the registry has it, plus the sentence the text view shows.
        let mut value = serde_json::to_value(entry)?;
        if let Some(steps) = value["history"].as_array_mut() {
            for (step, change) in steps.iter_mut().zip(&entry.history) {
                step["description"] = json!(change.change.describe());
            }
        }
        return Ok(serde_json::to_string_pretty(&value)? + "\n");
    }
    let plan = &entry.definition;
    let mut out = format!("{} {} / {}\n", plan.id, plan.name.ja, plan.name.en);
    out.push_str("\nDefinition history:\n");
    for (number, step) in entry.history.iter().enumerate() {
        let at = match (step.position, step.recorded_at) {
            (Some(position), Some(at)) => {
                format!(
                    "position {position}, recorded {}",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )
            }
            _ => "configuration".to_owned(),
        };
        let by = step
            .actor
            .as_deref()
            .map_or_else(String::new, |actor| format!(" by {actor}"));
        let decided = step
            .decided_on
            .map_or_else(String::new, |date| format!(", decided on {date}"));
        out.push_str(&format!(
            "  {}. {at}{by}{decided}: {}\n",
            number + 1,
            step.change.describe()
        ));
    }
    out.push_str(&format!("\nIn force: period {}\n", period(plan)));
    for kpi in &plan.kpis {
        let id = kpi.reference().to_string();
        let target = kpi.target.map_or_else(
            || "no target".to_owned(),
            |target| {
                // The words of `Change::describe`, so the history and the definition agree.
                let kind = match target.kind {
                    TargetKind::Cumulative => "cumulative",
                    TargetKind::Annual => "annual",
                    TargetKind::AnnualMinimum => "annual minimum",
                    TargetKind::Rate => "rate",
                };
                format!("target {} ({kind})", target.value)
            },
        );
        let retired = kpi.last_year.map_or_else(String::new, |last| {
            format!(", retired after {}", last.label())
        });
        out.push_str(&format!(
            "  KPI {id:<5} {} [{}] {target}{retired}\n",
            kpi.name.en, kpi.unit
        ));
    }
    if let Some(transfer) = &plan.transfer {
        out.push_str(&format!(
            "Transferred to {} from {} ({} mapping entries; `plan transfer-report {}`)\n",
            transfer.successor,
            transfer.effective_from.label(),
            transfer.mapping.len(),
            plan.id
        ));
    }
    Ok(out)
}

fn render_transfer_report(report: &TransferReport, format: ViewFormat) -> anyhow::Result<String> {
    if format == ViewFormat::Json {
        return Ok(serde_json::to_string_pretty(report)? + "\n");
    }
    let years = match (
        report.predecessor_years.first(),
        report.predecessor_years.last(),
    ) {
        (Some(first), Some(last)) => format!("{}-{}", first.label(), last.label()),
        _ => String::new(),
    };
    let mut out = format!(
        "{} ({}, {years}) -> {} ({}) from {}\n",
        report.predecessor,
        report.predecessor_name.en,
        report.successor,
        report.successor_name.en,
        report.effective_from.label()
    );
    for entry in &report.entries {
        let kpi = entry.successor_kpi.to_string();
        out.push_str(&format!("\n{kpi} {} [{}]\n", entry.name.en, entry.unit));
        let rule = match entry.history {
            None => {
                out.push_str("  new KPI: no predecessor, no baseline\n");
                continue;
            }
            Some(HistoryRule::Counts) => "history counts",
            Some(HistoryRule::Ignored) => "history ignored (reported only)",
        };
        let baseline = entry
            .baseline
            .map_or_else(|| "none".to_owned(), |figure| figure.to_string());
        let decided = if entry.baseline.is_some() {
            " (as decided at the transfer)"
        } else {
            ""
        };
        out.push_str(&format!("  {rule}; baseline {baseline}{decided}\n"));
        if let Some(adjustment) = entry.adjustment {
            let now = entry
                .current_baseline
                .map_or_else(|| "none".to_owned(), |figure| figure.to_string());
            let events: Vec<String> = entry
                .adjustment_event_ids
                .iter()
                .map(ToString::to_string)
                .collect();
            out.push_str(&format!(
                "  adjustment {adjustment:+} since the transfer (history now {now}; not counted): \
                 {}\n",
                events.join(", ")
            ));
        }
        for source in &entry.sources {
            let origin = match &source.origin {
                BaselineOrigin::Kpi { kpi, name } => {
                    format!("{} KPI {kpi} ({})", report.predecessor, name.en)
                }
                BaselineOrigin::Events { event, measure } => {
                    format!("{event} events ({measure})")
                }
            };
            let figure = |figure: Option<_>| {
                figure.map_or_else(|| "no figure".to_owned(), |figure| format!("{figure}"))
            };
            let now = if source.current == source.figure {
                String::new()
            } else {
                format!(" (now {})", figure(source.current))
            };
            out.push_str(&format!(
                "  from {origin}: {}{now}\n",
                figure(source.figure)
            ));
        }
    }
    Ok(out)
}
