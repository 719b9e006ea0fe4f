//! `kpi-ledger`: the thin binary. It loads configuration, sets up logging and wires the crates
//! together; every rule lives in the library crates.

mod config;
mod logging;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

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
    Verify {
        /// Store directory (default: `data_dir` from the configuration).
        #[arg(long)]
        data: Option<PathBuf>,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
        Command::Verify { data } => {
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
    }
}

/// Opens an existing store; commands that only read never create one by accident.
fn open_existing_store(
    dir: &std::path::Path,
    loaded: &config::Loaded,
) -> anyhow::Result<kpi_store::EventStore> {
    anyhow::ensure!(
        dir.is_dir(),
        "no store at {}: the directory does not exist",
        dir.display()
    );
    kpi_store::EventStore::open(dir, loaded.config.store.clone())
        .with_context(|| format!("cannot open store at {}", dir.display()))
}
