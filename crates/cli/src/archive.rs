//! `kpi-ledger archive`: the whole log as JSON lines (one `Envelope` per line, as `log`
//! prints them, then a trailer line; the format is `kpi_store::archive`'s), written from a
//! store directory or streamed from a running server, and back into a new store. The store
//! checks the chain and the reader the trailer; this module reads and writes files and names
//! lines.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use kpi_store::{ArchiveReadError, ArchiveReader, Envelope, EventStore, Head, RestoreError};

use crate::config::Loaded;
use crate::remote::{Server, ServerArgs};

#[derive(Subcommand, Debug)]
pub enum ArchiveCommand {
    /// Write every event, with its position and hashes, to FILE as JSON lines, then a trailer
    /// line (event count, head, SHA-256). FILE must not exist; it appears only once complete.
    /// With --server, stream it from the running server (admin token) and check it whole
    /// before keeping it.
    Export {
        /// Store directory (default: `data_dir` from the configuration).
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        remote: ServerArgs,
        file: PathBuf,
    },
    /// Restore an archive into a new store, refusing it (and writing nothing) if any hash,
    /// link or position does not check out, or if its trailer is missing or does not match.
    Import {
        file: PathBuf,
        /// The new store: a directory that does not exist yet or is empty.
        #[arg(long)]
        data: PathBuf,
        /// Take an archive without a trailer (written before archives had one) as whole. A
        /// cut archive cannot be told from a shorter log then: use it only for such archives.
        #[arg(long)]
        no_trailer: bool,
    },
}

pub fn run(command: ArchiveCommand, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    match command {
        ArchiveCommand::Export {
            data: _,
            remote:
                ServerArgs {
                    server: Some(url),
                    token,
                },
            file,
        } => {
            let server = Server::new(&url, token)?;
            let runtime = crate::runtime()?;
            let head = write_new(
                &file,
                |out| runtime.block_on(server.download_archive(out)).map(drop),
                |partial| {
                    check_whole(partial, false).with_context(|| {
                        format!("the archive streamed from {url} is not whole; nothing kept")
                    })
                },
            )?;
            let url = server.url();
            tracing::info!(file = %file.display(), server = %url, %head, "archive exported");
            println!(
                "exported {} events from {url} to {}: {head}",
                head.position,
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        ArchiveCommand::Export { data, file, .. } => {
            let dir = data.unwrap_or_else(|| loaded.config.data_dir.clone());
            let store = crate::open_existing_store(&dir, loaded)?;
            // Up to the head when the export starts, so the archive ends exactly at the
            // printed digest even if appends arrive meanwhile.
            let pieces = store.export_archive();
            let head = pieces.head();
            write_new(
                &file,
                |out| {
                    for piece in pieces {
                        out.write_all(&piece?)?;
                    }
                    Ok(())
                },
                |_| Ok(()),
            )?;
            tracing::info!(file = %file.display(), %head, "archive exported");
            println!(
                "exported {} events to {}: {head}",
                head.position,
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        ArchiveCommand::Import {
            file,
            data,
            no_trailer,
        } => {
            File::open(&file).with_context(|| format!("cannot read archive {}", file.display()))?;
            if no_trailer {
                tracing::warn!(
                    file = %file.display(),
                    "--no-trailer: an archive without a trailer is taken as whole; a cut one \
                     cannot be told from a shorter log"
                );
            }
            // Read twice (judge, then write) so memory does not grow with the archive.
            let store = EventStore::restore_from(&data, loaded.config.store.clone(), || {
                archive_entries(&file, no_trailer)
            })
            .map_err(|error| refused(&file, error))?;
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

/// Writes `.FILE.partial` beside `file` with `write`, syncs it, runs `check` on it and only
/// then renames it to `file`, so a crash, an error or a refused check never leaves something
/// that looks like a complete archive.
fn write_new<T>(
    file: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
    check: impl FnOnce(&Path) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    anyhow::ensure!(
        !file.exists(),
        "{} already exists: an archive is never overwritten",
        file.display()
    );
    let name = file
        .file_name()
        .with_context(|| format!("{} is not a file name", file.display()))?;
    let tmp = file.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let written = (|| -> anyhow::Result<T> {
        let mut out = BufWriter::new(
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
        );
        write(&mut out)?;
        out.into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()
            .with_context(|| format!("cannot sync {}", tmp.display()))?;
        let checked = check(&tmp)?;
        std::fs::rename(&tmp, file)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), file.display()))?;
        Ok(checked)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Judges the archive at `file` as `import` does, writing nothing: the head it ends at.
fn check_whole(file: &Path, no_trailer: bool) -> anyhow::Result<Head> {
    kpi_store::check_archive(archive_entries(file, no_trailer))
        .map_err(|error| refused(file, error))
}

/// A refused archive, naming the file and the line at fault.
fn refused(file: &Path, error: RestoreError) -> anyhow::Error {
    match error {
        RestoreError::Broken { index, .. } => anyhow::anyhow!(
            "{}: line {}: {error}; nothing written",
            file.display(),
            index + 1
        ),
        // The reader's errors name their line themselves (or none: a missing trailer).
        RestoreError::Unreadable { source, .. } => {
            anyhow::anyhow!("{}: {source}; nothing written", file.display())
        }
        other => anyhow::Error::new(other).context(format!("cannot restore {}", file.display())),
    }
}

/// The archive's events in file order, then the verdict on its trailer; a file that cannot be
/// opened is one failed entry.
fn archive_entries(
    file: &Path,
    no_trailer: bool,
) -> Box<dyn Iterator<Item = Result<Envelope, ArchiveReadError>>> {
    match File::open(file) {
        Ok(opened) => {
            let reader = ArchiveReader::new(BufReader::new(opened));
            Box::new(if no_trailer {
                reader.trailer_optional()
            } else {
                reader
            })
        }
        Err(error) => Box::new(std::iter::once(Err(ArchiveReadError {
            line: None,
            fault: kpi_store::ReadFault::Io(error),
        }))),
    }
}
