//! `kpi-ledger plan ...`: a plan's lifecycle as events (adopt, extend, revise a target, add or
//! retire a KPI, transfer to a successor) and the views of it (list, show, transfer report).
//!
//! Each write turns its flags into a domain command (`kpi_domain::command`) and lets the
//! domain parse it and the service check it against the plans in force, so every rule lives
//! there; this module only translates the field the domain names back into the flag the user
//! typed.
//!
//! Where things are: this file holds the subcommands and their flags, `run.rs` runs them,
//! `record.rs` records a lifecycle event and tells a refusal by the flag behind it, and
//! `render.rs` renders the views (list, show, transfer report) as text or JSON.

mod record;
mod render;
mod run;

use std::path::PathBuf;

pub use run::run;

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
