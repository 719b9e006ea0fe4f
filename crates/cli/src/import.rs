//! `kpi-ledger import`: reads a seed TOML, a CSV of one event kind or a JSON-lines file, and
//! appends its events only once the whole file has been judged. Mapping rows to events is
//! `kpi_import`'s; this module reads files, prints and drives the ledger.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kpi_service::{ImportRecord, Ledger};

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
}

/// A file judged row by row.
pub struct Judged {
    pub records: Vec<ImportRecord>,
    /// Line of each record, for the dry-run listing.
    pub lines: Vec<u64>,
    pub errors: Vec<kpi_import::RowError>,
}

pub fn read(path: &Path, kind: Option<&str>) -> anyhow::Result<Judged> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if extension == "toml" {
        let records = crate::ledger::read_seed(path)?;
        let lines = vec![0; records.len()];
        return Ok(Judged {
            records,
            lines,
            errors: Vec::new(),
        });
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let source = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let parsed = match extension.as_str() {
        "csv" => {
            let kind = match kind {
                Some(kind) => kind.to_owned(),
                None => path
                    .file_stem()
                    .and_then(|stem| stem.to_str())
                    .and_then(kpi_import::kind_from_file_stem)
                    .with_context(|| {
                        format!(
                            "{}: cannot tell the event kind from the file name; give --kind",
                            path.display()
                        )
                    })?
                    .to_owned(),
            };
            kpi_import::parse_csv(&kind, &text, &source)
                .with_context(|| format!("{}: invalid header", path.display()))?
        }
        "jsonl" | "ndjson" => kpi_import::parse_json_lines(&text, &source),
        other => anyhow::bail!(
            "{}: unknown file type `.{other}`: expected .toml, .csv, .jsonl or .ndjson",
            path.display()
        ),
    };
    let lines = parsed.rows.iter().map(|row| row.line).collect();
    let records = parsed
        .rows
        .into_iter()
        .map(|row| ImportRecord {
            idempotency_key: row.idempotency_key,
            provenance: Some(row.provenance),
            event: row.event,
        })
        .collect();
    Ok(Judged {
        records,
        lines,
        errors: parsed.errors,
    })
}

/// Prints each event that would be appended as a JSON line.
pub fn print_dry_run(judged: &Judged) -> anyhow::Result<()> {
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
pub async fn append(
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
