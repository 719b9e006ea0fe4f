//! `kpi-ledger archive`: the whole log as JSON lines (one `Envelope` per line, as `log`
//! prints them), and back into a new store. The store checks the chain; this module only
//! reads and writes the file and names lines.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use kpi_store::{Envelope, EventStore, RestoreError};

use crate::config::Loaded;

#[derive(Subcommand, Debug)]
pub enum ArchiveCommand {
    /// Write every event, with its position and hashes, to FILE as JSON lines. FILE must not
    /// exist; it appears only once complete.
    Export {
        /// Store directory (default: `data_dir` from the configuration).
        #[arg(long)]
        data: Option<PathBuf>,
        file: PathBuf,
    },
    /// Restore an archive into a new store, refusing it (and writing nothing) if any hash,
    /// link or position does not check out.
    Import {
        file: PathBuf,
        /// The new store: a directory that does not exist yet or is empty.
        #[arg(long)]
        data: PathBuf,
    },
}

pub fn run(command: ArchiveCommand, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    match command {
        ArchiveCommand::Export { data, file } => {
            let dir = data.unwrap_or_else(|| loaded.config.data_dir.clone());
            let store = crate::open_existing_store(&dir, loaded)?;
            let head = export(&store, &file)?;
            println!(
                "exported {} events to {}: {head}",
                head.position,
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        ArchiveCommand::Import { file, data } => {
            File::open(&file).with_context(|| format!("cannot read archive {}", file.display()))?;
            // Read twice (judge, then write) so memory does not grow with the archive.
            let store = EventStore::restore_from(&data, loaded.config.store.clone(), || {
                archive_entries(&file)
            })
            .map_err(|error| match error {
                RestoreError::Broken { index, .. } => anyhow::anyhow!(
                    "{}: line {}: {error}; nothing written",
                    file.display(),
                    index + 1
                ),
                RestoreError::Unreadable { index, source } => anyhow::anyhow!(
                    "{}: line {}: {source}; nothing written",
                    file.display(),
                    index + 1
                ),
                other => {
                    anyhow::Error::new(other).context(format!("cannot restore {}", file.display()))
                }
            })?;
            // Proves the restored store end to end, indexes included, not just the archive.
            match store.verify() {
                Ok(digest) => {
                    println!(
                        "restored {} events into {}: ok: {digest}",
                        digest.position,
                        data.display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(failure) => {
                    println!("restored store FAILED verification: {failure}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

/// Writes to a temporary file beside `file` and renames it, so a crash or error never
/// leaves something that looks like a complete archive.
fn export(store: &EventStore, file: &Path) -> anyhow::Result<kpi_store::Head> {
    anyhow::ensure!(
        !file.exists(),
        "{} already exists: an archive is never overwritten",
        file.display()
    );
    let head = store.head();
    let name = file
        .file_name()
        .with_context(|| format!("{} is not a file name", file.display()))?;
    let tmp = file.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let written = (|| -> anyhow::Result<()> {
        let mut out = BufWriter::new(
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
        );
        // Up to the head read above, so the archive ends exactly at the printed digest
        // even if appends arrive meanwhile.
        for envelope in store.iter_from(1).take(head.position as usize) {
            serde_json::to_writer(&mut out, &envelope?)?;
            out.write_all(b"\n")?;
        }
        out.into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()
            .with_context(|| format!("cannot sync {}", tmp.display()))?;
        std::fs::rename(&tmp, file)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), file.display()))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    tracing::info!(file = %file.display(), %head, "archive exported");
    Ok(head)
}

/// The archive's entries in file order; a file that cannot be opened is one failed entry.
fn archive_entries(file: &Path) -> Box<dyn Iterator<Item = Result<Envelope, String>> + '_> {
    let reader = match File::open(file) {
        Ok(opened) => BufReader::new(opened),
        Err(error) => return Box::new(std::iter::once(Err(format!("cannot read: {error}")))),
    };
    Box::new(reader.lines().map(|line| {
        let line = line.map_err(|error| format!("cannot read: {error}"))?;
        serde_json::from_str(&line).map_err(|error| format!("not an archived event: {error}"))
    }))
}
