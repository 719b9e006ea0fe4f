//! `kpi-ledger import`: reads a seed TOML, a CSV of one event kind or a JSON-lines file, and
//! appends its events only once the whole file has been judged: each row as an event
//! (`kpi_import`, the domain), then against the ledger (plausibility bounds, dates, the plans
//! in force, survey waves). A CSV or JSON-lines file takes the service's bulk path
//! (`Ledger::judge_bulk`, `Ledger::import_bulk`), the same as the workbench's upload; this
//! module picks the file's kind, prints and draws the progress bar.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use kpi_service::{
    BulkError, BulkFormat, BulkOptions, BulkProgress, BulkStage, ImportRecord, Judgement, Ledger,
};

use crate::config::Loaded;

/// How many events go to the ledger between two progress-bar steps: large enough for group
/// commit to batch them, small enough for the bar to move.
const CHUNK: usize = 512;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// A seed file (.toml), a CSV of one event kind (.csv) or JSON lines (.jsonl, .ndjson).
    pub file: PathBuf,
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Recorded as the actor of every imported event.
    #[arg(long, default_value = "import")]
    pub actor: String,
    /// The event kind of a CSV file (default: from its name, e.g. seminar.csv).
    #[arg(long)]
    pub kind: Option<String>,
    /// Validate and show what would be appended; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Append the valid rows even when some rows are invalid (they are still reported).
    #[arg(long)]
    pub skip_invalid: bool,
    /// The file's activities lie outside every plan in force on purpose (e.g. years before
    /// the first plan) and are meant to count in no KPI: record them anyway. Without it such
    /// rows are refused, naming the plans' periods. Rows inside a plan are recorded as usual.
    #[arg(long)]
    pub outside_plans: bool,
}

/// A file judged row by row.
struct Judged {
    pub records: Vec<ImportRecord>,
    /// Line of each record (0 for a seed file's), for the dry-run listing.
    pub lines: Vec<u64>,
    /// Each refused row: its line (0 for a seed record) and why, without the file name.
    pub errors: Vec<(u64, String)>,
}

/// `kpi-ledger import`: judge the whole file, then append it (or only list it).
pub fn run(args: ImportArgs, dir: &Path, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    if extension(&args.file) == "toml" {
        return run_seed(args, dir, loaded);
    }
    let format = bulk_format(&args.file, args.kind.as_deref())?;
    let options = BulkOptions {
        outside_plans: args.outside_plans,
        skip_invalid: args.skip_invalid,
    };
    let source = args.file.file_name().map_or_else(
        || args.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let open = {
        let path = args.file.clone();
        move || std::fs::File::open(&path)
    };
    let shown = args.file.display().to_string();
    crate::runtime()?.block_on(async {
        // Judged against the store at `dir`, or against an empty one when there is none yet,
        // so that a refused file creates nothing.
        let scratch = if dir.exists() {
            None
        } else {
            Some(tempfile::tempdir().context("cannot create a scratch directory")?)
        };
        let judge_dir = scratch.as_ref().map_or(dir, |scratch| scratch.path());
        let ledger = crate::ledger::open_for_import(judge_dir, loaded).await?;
        let ledger = if args.dry_run || scratch.is_some() {
            let judgement = judge_file(&ledger, format, &open, &source, options, args.dry_run)
                .await
                .with_context(|| format!("{shown}: cannot be read"));
            ledger.close().await;
            let judgement = judgement?;
            for bad in &judgement.bad {
                eprintln!("{shown}: {bad}");
            }
            let invalid = judgement.bad.len();
            if args.dry_run {
                eprintln!(
                    "dry run of {shown}: {} valid, {invalid} invalid; nothing written",
                    judgement.valid
                );
                return Ok(if invalid == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            if invalid > 0 && !args.skip_invalid {
                eprintln!(
                    "{shown}: {invalid} invalid rows: nothing written (fix them, or give --skip-invalid)"
                );
                return Ok(ExitCode::FAILURE);
            }
            crate::ledger::open_for_import(dir, loaded).await?
        } else {
            ledger
        };
        let bar = Bar::start();
        let imported = ledger
            .import_bulk(format, open, &source, &args.actor, options, bar.progress.clone())
            .await;
        bar.finish().await;
        ledger.close().await;
        match imported {
            Ok((judgement, report)) => {
                for bad in &judgement.bad {
                    eprintln!("{shown}: {bad}");
                }
                println!(
                    "imported {shown}: {} appended, {} already recorded, {} invalid skipped",
                    report.appended,
                    report.already_recorded,
                    judgement.bad.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(BulkError::Refused(judgement)) => {
                for bad in &judgement.bad {
                    eprintln!("{shown}: {bad}");
                }
                eprintln!(
                    "{shown}: {} invalid rows: nothing written (fix them, or give --skip-invalid)",
                    judgement.bad.len()
                );
                Ok(ExitCode::FAILURE)
            }
            Err(other) => Err(anyhow::Error::new(other).context(format!("{shown}: import stopped"))),
        }
    })
}

/// The file's judgement, each good row printed as a JSON line when `list` (a dry run).
async fn judge_file(
    ledger: &Ledger,
    format: BulkFormat,
    open: &(impl Fn() -> std::io::Result<std::fs::File> + Clone + Send + 'static),
    source: &str,
    options: BulkOptions,
    list: bool,
) -> anyhow::Result<Judgement> {
    let (ledger, open, source) = (ledger.clone(), open.clone(), source.to_owned());
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let progress = Arc::new(BulkProgress::default());
        let judgement = ledger.judge_bulk(
            format,
            open()?,
            &source,
            options,
            &progress,
            |line, record| {
                if list {
                    let shown = serde_json::json!({
                        "line": line,
                        "type": record.event.event_type(),
                        "idempotency_key": record.idempotency_key,
                        "provenance": record.provenance,
                        "payload": record.event.to_payload(),
                    });
                    let _ = serde_json::to_writer(&mut out, &shown);
                    let _ = out.write_all(b"\n");
                }
            },
        )?;
        out.flush()?;
        Ok(judgement)
    })
    .await
    .context("the judging thread stopped")?
}

/// The kind of a bulk file: JSON lines, or a CSV of the kind given or named by the file.
fn bulk_format(path: &Path, kind: Option<&str>) -> anyhow::Result<BulkFormat> {
    BulkFormat::of_file(&path.display().to_string(), kind).map_err(anyhow::Error::msg)
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The progress bar of an import (drawn only on a terminal), fed from the import's progress.
struct Bar {
    progress: Arc<BulkProgress>,
    drawing: tokio::task::JoinHandle<()>,
}

impl Bar {
    fn start() -> Bar {
        let progress = Arc::new(BulkProgress::default());
        let bar = indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} {elapsed}")
                .expect("a valid progress template"),
        );
        let watched = progress.clone();
        let drawing = tokio::spawn(async move {
            loop {
                match watched.stage() {
                    BulkStage::Judging => {
                        bar.set_message("judged");
                        bar.set_position(watched.judged.load(Ordering::Relaxed));
                    }
                    BulkStage::Appending => {
                        bar.set_message("appended");
                        bar.set_length(watched.valid.load(Ordering::Relaxed));
                        bar.set_position(watched.appended.load(Ordering::Relaxed));
                    }
                    BulkStage::Done => break,
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            bar.finish_and_clear();
        });
        Bar { progress, drawing }
    }

    async fn finish(self) {
        self.drawing.abort();
        let _ = self.drawing.await;
    }
}

/// `kpi-ledger import` of a seed file (.toml): its records judged whole, then appended.
fn run_seed(args: ImportArgs, dir: &Path, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    let mut judged = read(&args.file, args.outside_plans)?;
    crate::runtime()?.block_on(async {
        let scratch = if dir.exists() {
            None
        } else {
            Some(tempfile::tempdir().context("cannot create a scratch directory")?)
        };
        let judge_dir = scratch.as_ref().map_or(dir, |scratch| scratch.path());
        let ledger = crate::ledger::open(judge_dir, loaded).await?;
        judge(&ledger, &mut judged);
        judged.errors.sort_by_key(|(line, _)| *line);
        for (_, error) in &judged.errors {
            eprintln!("{}: {error}", args.file.display());
        }
        let invalid = judged.errors.len();
        if args.dry_run {
            ledger.close().await;
            print_dry_run(&judged)?;
            eprintln!(
                "dry run of {}: {} valid, {invalid} invalid; nothing written",
                args.file.display(),
                judged.records.len()
            );
            return Ok(if invalid == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        if invalid > 0 && !args.skip_invalid {
            ledger.close().await;
            eprintln!(
                "{}: {invalid} invalid rows: nothing written (fix them, or give --skip-invalid)",
                args.file.display()
            );
            return Ok(ExitCode::FAILURE);
        }
        let ledger = match scratch {
            Some(_) => {
                ledger.close().await;
                crate::ledger::open(dir, loaded).await?
            }
            None => ledger,
        };
        let report = append(&ledger, &args.actor, judged.records).await;
        ledger.close().await;
        let report = report?;
        println!(
            "imported {}: {} appended, {} already recorded, {invalid} invalid skipped",
            args.file.display(),
            report.appended,
            report.already_recorded
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// Moves every record the ledger would refuse from `judged.records` to `judged.errors`.
fn judge(ledger: &Ledger, judged: &mut Judged) {
    let refused = ledger.judge_import(&judged.records);
    if refused.is_empty() {
        return;
    }
    let records = std::mem::take(&mut judged.records);
    let lines = std::mem::take(&mut judged.lines);
    let mut refused = refused.into_iter().peekable();
    for (index, (record, line)) in records.into_iter().zip(lines).enumerate() {
        match refused.next_if(|(at, _)| *at == index) {
            Some((_, error)) => {
                let place = if line > 0 {
                    format!("line {line}")
                } else {
                    format!("record `{}`", record.idempotency_key)
                };
                let reason = match &error {
                    kpi_service::RecordError::Invalid(invalid) => invalid.reason.clone(),
                    other => other.to_string(),
                };
                let message = match error.field() {
                    Some(field) => format!("{place}: {field}: {reason}"),
                    None => format!("{place}: {reason}"),
                };
                judged.errors.push((line, message));
            }
            None => {
                judged.records.push(record);
                judged.lines.push(line);
            }
        }
    }
}

fn read(path: &Path, outside_plans: bool) -> anyhow::Result<Judged> {
    let records = crate::ledger::read_seed(path)?;
    let lines = vec![0; records.len()];
    let mut judged = Judged {
        records,
        lines,
        errors: Vec::new(),
    };
    for record in &mut judged.records {
        record.outside_plans = outside_plans;
    }
    Ok(judged)
}

/// Prints each event that would be appended as a JSON line.
fn print_dry_run(judged: &Judged) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (record, line) in judged.records.iter().zip(&judged.lines) {
        let shown = serde_json::json!({
            "line": line,
            "type": record.event.event_type(),
            "idempotency_key": record.idempotency_key,
            "provenance": record.provenance,
            "payload": record.event.to_payload(),
        });
        serde_json::to_writer(&mut out, &shown)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Appends in chunks behind a progress bar (drawn only on a terminal).
async fn append(
    ledger: &Ledger,
    actor: &str,
    records: Vec<ImportRecord>,
) -> anyhow::Result<kpi_service::ImportReport> {
    let bar = indicatif::ProgressBar::new(records.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events {elapsed}")
            .expect("a valid progress template"),
    );
    let mut total = kpi_service::ImportReport::default();
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        let chunk: Vec<ImportRecord> = records.by_ref().take(CHUNK).collect();
        let count = chunk.len() as u64;
        let report = ledger.import(actor, chunk).await?;
        total.appended += report.appended;
        total.already_recorded += report.already_recorded;
        bar.inc(count);
    }
    bar.finish_and_clear();
    Ok(total)
}
