//! `kpi-ledger`: the thin binary. It loads configuration, sets up logging and wires the crates
//! together; every rule lives in the library crates.

mod archive;
mod audit;
mod config;
mod import;
mod ledger;
mod logging;
mod monitor;
mod plan;
mod proof;
mod reload;
mod remote;
mod replay;
mod serve;
mod token;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

// mimalloc, tuned by kpi-alloc (why: crates/alloc/src/lib.rs and docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: kpi_alloc::Allocator = kpi_alloc::Allocator;

#[derive(Parser, Debug)]
#[command(
    name = "kpi-ledger",
    version,
    about = "Audited, append-only ledger of plan KPI events"
)]
struct Cli {
    /// Configuration file (default: config/default.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Walk the whole log, recompute every hash and print the digest (exit 1 on failure).
    /// With --server, the running server walks its own log.
    Verify {
        /// Store directory (default: `data_dir` from the configuration).
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        remote: remote::ServerArgs,
    },
    /// Print events as JSON lines.
    Log {
        #[arg(long)]
        data: Option<PathBuf>,
        /// First global position to print.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// How many events at most.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Append the events of a seed file (TOML), a CSV of one event kind or a JSON-lines file.
    /// The whole file is validated first and every bad row reported; nothing is written
    /// unless all rows pass (or --skip-invalid). Importing the same file twice changes nothing.
    Import(import::ImportArgs),
    /// Print a plan's KPI table.
    Table {
        #[arg(long)]
        data: Option<PathBuf>,
        /// Plan id (default: the first configured plan).
        #[arg(long)]
        plan: Option<String>,
        /// Transaction time: only what had been recorded by then. RFC 3339
        /// (2025-04-01T09:00:00+09:00) or a date, meaning the end of that day in Japan.
        #[arg(long, value_parser = kpi_domain::calendar::parse_as_of)]
        as_of: Option<chrono::DateTime<chrono::Utc>>,
        /// Valid time: only activities that happened on or before this date (YYYY-MM-DD, in
        /// Japan); the table at the end of R6 is --through 2025-03-31. Combines with --as-of.
        #[arg(long, value_name = "DATE", value_parser = kpi_domain::calendar::parse_through)]
        through: Option<chrono::NaiveDate>,
        /// text, json, csv (machine form), excel-csv (council layout, UTF-8 with BOM),
        /// markdown or xlsx.
        #[arg(long, default_value = "text")]
        format: kpi_report::Format,
        /// Write to this file instead of standard output (needed for xlsx on a terminal).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Serve GraphQL (and GraphiQL at `/`) on the configured address.
    Serve {
        #[arg(long)]
        data: Option<PathBuf>,
        /// Import the Fuji seed data first (idempotently) and allow anonymous read.
        #[arg(long)]
        demo: bool,
    },
    /// Rebuild one plan's KPI table from the whole log by a fresh fold of every plan in force
    /// (the fold `serve` and `table` use); print it as JSON, and its SHA-256 digest on standard
    /// error. Deterministic.
    Replay(replay::ReplayArgs),
    /// Check the ledger: `audit recompute` compares the live projection with the reference
    /// fold and prints every difference.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// A plan's lifecycle as events (adopt, extend, revise-target, add-kpi, retire-kpi,
    /// transfer) and its views (list, show, transfer-report).
    Plan {
        #[command(subcommand)]
        command: plan::PlanCommand,
    },
    /// Move a ledger: export the whole log as JSON lines, or restore one into a new store.
    Archive {
        #[command(subcommand)]
        command: archive::ArchiveCommand,
    },
    /// The operator's Ed25519 signing key for tree heads: `key new --out FILE`.
    Key {
        #[command(subcommand)]
        command: proof::KeyCommand,
    },
    /// Proofs a reader can check offline: `proof verify BUNDLE --public-key KEY` checks a
    /// cell's proof bundle; `proof bundle` writes one from a store directory.
    Proof {
        #[command(subcommand)]
        command: proof::ProofCommand,
    },
    /// Watch a server for rewritten history: check that its signed head extends the last one
    /// seen (kept in --state); a fork exits with status 2.
    Monitor(monitor::MonitorArgs),
    /// Bearer tokens for the server: new (a config block), add / revoke (the tokens file),
    /// list.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
}

fn main() -> ExitCode {
    kpi_alloc::configure();
    let cli = Cli::parse();
    if matches!(cli.command, Command::Import(_)) {
        kpi_alloc::purge_at_once();
    }
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let loaded = config::load(cli.config.as_deref())?;
    logging::init(&loaded.config.log);
    let data_dir = |data: Option<PathBuf>| data.unwrap_or_else(|| loaded.config.data_dir.clone());
    match cli.command {
        Command::Verify {
            remote:
                remote::ServerArgs {
                    server: Some(url),
                    token,
                },
            ..
        } => {
            let server = remote::Server::new(&url, token)?;
            match runtime()?.block_on(server.verification())? {
                remote::Verification::Ok(digest) => {
                    println!("ok: {digest}");
                    Ok(ExitCode::SUCCESS)
                }
                remote::Verification::Failed(failure) => {
                    println!("FAILED: {failure}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Verify { data, .. } => {
            let store = open_existing_store(&data_dir(data), &loaded)?;
            match store.verify() {
                Ok(digest) => {
                    println!("ok: {digest}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(failure) => {
                    println!("FAILED: {failure}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Log { data, from, limit } => {
            let store = open_existing_store(&data_dir(data), &loaded)?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for envelope in store.iter_from(from).take(limit.unwrap_or(usize::MAX)) {
                serde_json::to_writer(&mut out, &envelope?)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(args) => {
            let dir = data_dir(args.data.clone());
            import::run(args, &dir, &loaded)
        }
        Command::Table {
            data,
            plan,
            as_of,
            through,
            format,
            output,
        } => {
            let dir = data_dir(data);
            ensure_store_dir(&dir, &loaded)?;
            let (table, head, tree) = runtime()?.block_on(async {
                let ledger = ledger::open(&dir, &loaded).await?;
                let plan = match plan {
                    Some(plan) => plan,
                    None => ledger::default_plan(&ledger)?,
                };
                let question = kpi_service::TableQuery::new(plan)
                    .in_view(kpi_service::View::new(as_of, through));
                let table = ledger.table(&question).await.map(|answer| answer.table);
                let head = ledger.head();
                // With a signing key, the export names the signed tree head it was made at.
                let tree = match proof::signer(&loaded)? {
                    Some(signer) => Some(proof::tree_label(
                        &ledger.signed_head(&signer, Some(head.position))?,
                    )),
                    None => None,
                };
                ledger.close().await;
                anyhow::Ok((table?, head, tree))
            })?;
            let axes = kpi_report::Axes { as_of, through };
            let head = kpi_report::LogHead {
                position: head.position,
                digest: head.hash.to_string(),
                tree,
            };
            let rendered = kpi_report::render_at(&table, format, &axes, Some(&head))?;
            match output {
                Some(path) => std::fs::write(&path, rendered)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => {
                    use std::io::IsTerminal;
                    anyhow::ensure!(
                        format.is_text() || !std::io::stdout().is_terminal(),
                        "xlsx is binary: give --output FILE or redirect standard output"
                    );
                    let mut out = std::io::stdout().lock();
                    out.write_all(&rendered)?;
                    out.flush()?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { data, demo } => {
            let dir = data_dir(data);
            runtime()?.block_on(serve::run(&loaded, &dir, demo))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { command } => plan::run(command, &loaded),
        Command::Archive { command } => archive::run(command, &loaded),
        Command::Replay(args) => replay::run(args, &loaded),
        Command::Audit { command } => audit::run(command, &loaded),
        Command::Token { command } => token::run(command, &loaded),
        Command::Key { command } => proof::key(command),
        Command::Proof { command } => proof::run(command, &loaded),
        Command::Monitor(args) => monitor::run(args),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Refuses a sled store's directory that does not exist, before a command that only reads
/// opens it (and would create an empty store). On PostgreSQL the log is in the database and
/// the directory holds only a server's files (checkpoints), so it need not exist.
fn ensure_store_dir(dir: &std::path::Path, loaded: &config::Loaded) -> anyhow::Result<()> {
    anyhow::ensure!(
        dir.is_dir() || loaded.config.store.backend == kpi_store::Backend::Postgres,
        "no store at {}: the directory does not exist",
        dir.display()
    );
    Ok(())
}

/// Opens an existing store; commands that only read never create one by accident.
fn open_existing_store(
    dir: &std::path::Path,
    loaded: &config::Loaded,
) -> anyhow::Result<kpi_store::EventStore> {
    ensure_store_dir(dir, loaded)?;
    kpi_store::EventStore::open(dir, loaded.config.store.clone())
        .with_context(|| format!("cannot open store at {}", dir.display()))
}
