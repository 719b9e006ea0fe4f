//! Bulk files (a CSV of one event kind, JSON lines) judged whole, then appended all or
//! nothing: the one path of `kpi-ledger import` and of the workbench's upload.
//!
//! [`Ledger::judge_bulk`] reads the file once, row by row (`kpi_import`), and judges every row
//! as an event (the catalogue) and against the ledger ([`Ledger::judge_import`]: bounds,
//! dates, the plans in force, survey waves), writing nothing: every bad row with its line,
//! field and reason. [`Ledger::import_bulk`] judges the same way and, only when no row is bad
//! (or the caller skips bad rows on purpose), reads the file a second time and appends it in
//! chunks, each row under the idempotency key `kpi_import` derives from its content. Neither
//! pass keeps more than a chunk of rows: memory does not grow with the file.
//!
//! All or nothing: nothing is written unless the whole file was judged good. The store has no
//! transaction spanning a file, so a failure during the append (the storage fails, the
//! process ends) can leave the rows before it written; committing the same file again then
//! recalls those (same keys) and appends the rest, so no row is ever recorded twice.

use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use kpi_domain::event::EventKind;
use kpi_domain::LedgerEvent;
use kpi_import::{CsvRows, FileError, JsonLines, RowResult};

use crate::error::RecordError;
use crate::ledger::{ImportRecord, ImportReport, Ledger};

/// Rows judged or appended together: large enough for group commit to batch them, small
/// enough for progress to move.
pub const BULK_CHUNK: usize = 512;

/// What a bulk file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkFormat {
    /// A CSV of one event kind; its header names the kind's fields.
    Csv(EventKind),
    /// JSON lines, each `{"type": ..., "payload": {...}, "provenance": ...}`.
    JsonLines,
}

impl BulkFormat {
    /// The format of a file by its name, as `kpi-ledger import` and the workbench tell it:
    /// `.jsonl`/`.ndjson` are JSON lines; a `.csv` holds the kind given, else the kind its
    /// name starts with (`seminar.csv`, `seminar-2024.csv`). The error says what to do.
    pub fn of_file(name: &str, kind: Option<&str>) -> Result<BulkFormat, String> {
        let path = std::path::Path::new(name);
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let kind = kind.map(str::trim).filter(|kind| !kind.is_empty());
        match extension.as_str() {
            "jsonl" | "ndjson" => Ok(BulkFormat::JsonLines),
            "csv" => {
                let kind = match kind {
                    Some(kind) => kind,
                    None => path
                        .file_stem()
                        .and_then(|stem| stem.to_str())
                        .and_then(kpi_import::kind_from_file_stem)
                        .ok_or_else(|| {
                            format!(
                                "{name}: cannot tell the event kind from the file name; give --kind \
                                 (kpi-ledger import) or choose the kind (the workbench)"
                            )
                        })?,
                };
                kpi_import::kind_named(kind)
                    .map(BulkFormat::Csv)
                    .map_err(|error| error.to_string())
            }
            other => Err(format!(
                "{name}: unknown file type `.{other}`: expected .csv, .jsonl or .ndjson"
            )),
        }
    }
}

/// How to treat the rows of a file.
#[derive(Debug, Clone, Copy, Default)]
pub struct BulkOptions {
    /// See [`crate::RecordOptions::outside_plans`]: every row of the file.
    pub outside_plans: bool,
    /// Append the good rows although some are bad (the bad ones are still reported).
    pub skip_invalid: bool,
}

/// One row that cannot be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// Line of the file (1-based; a CSV header is line 1).
    pub line: u64,
    /// The field at fault, when one is.
    pub field: Option<String>,
    pub reason: String,
    /// The reason in Japanese, when the domain gives one.
    pub reason_ja: Option<String>,
}

impl BadRow {
    /// The reason for a reader of Japanese (`japanese`) or English.
    pub fn reason_for(&self, japanese: bool) -> &str {
        match &self.reason_ja {
            Some(reason) if japanese => reason,
            _ => &self.reason,
        }
    }
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}: {field}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// A whole file judged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Judgement {
    /// Rows that would be recorded (or are already, from an earlier import of them).
    pub valid: u64,
    /// Every bad row, by line.
    pub bad: Vec<BadRow>,
}

/// Why a bulk import wrote nothing, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    /// The file cannot be read row by row (its header, its kind).
    #[error(transparent)]
    File(#[from] FileError),
    #[error("cannot read the file: {0}")]
    Read(#[from] std::io::Error),
    /// Some rows are bad: nothing was written.
    #[error("{} bad rows: nothing written", .0.bad.len())]
    Refused(Judgement),
    /// The append of a row failed after the rows before it were written; committing the file
    /// again appends the rest and nothing twice.
    #[error("line {line}: {error}")]
    Append { line: u64, error: RecordError },
}

/// Where a running bulk import is, for a progress display: updated as it goes.
#[derive(Debug, Default)]
pub struct BulkProgress {
    stage: AtomicU8,
    /// Bytes of the file read by the current pass.
    pub bytes_read: AtomicU64,
    /// Rows judged so far (first pass).
    pub judged: AtomicU64,
    /// Rows judged good (after the first pass: the rows to append).
    pub valid: AtomicU64,
    /// Rows appended or found already recorded (second pass).
    pub appended: AtomicU64,
}

/// The pass a bulk import is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkStage {
    Judging,
    Appending,
    Done,
}

impl BulkProgress {
    pub fn stage(&self) -> BulkStage {
        match self.stage.load(Ordering::Relaxed) {
            0 => BulkStage::Judging,
            1 => BulkStage::Appending,
            _ => BulkStage::Done,
        }
    }

    fn set_stage(&self, stage: BulkStage) {
        self.stage.store(stage as u8, Ordering::Relaxed);
        self.bytes_read.store(0, Ordering::Relaxed);
    }
}

/// A reader that counts what it has read into the progress.
struct Counted<R> {
    inner: R,
    progress: Arc<BulkProgress>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.progress
            .bytes_read
            .fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The rows of a file, one at a time.
fn rows<R: Read + Send + 'static>(
    format: BulkFormat,
    reader: R,
    source: &str,
) -> Result<Box<dyn Iterator<Item = RowResult> + Send>, FileError> {
    Ok(match format {
        BulkFormat::Csv(kind) => Box::new(CsvRows::new(kind, reader, source)?),
        BulkFormat::JsonLines => Box::new(JsonLines::new(reader, source)),
    })
}

fn bad_row(line: u64, error: &RecordError) -> BadRow {
    let (reason, reason_ja) = match error {
        RecordError::Invalid(invalid) => (invalid.reason.clone(), invalid.reason_ja.clone()),
        other => (other.to_string(), None),
    };
    BadRow {
        line,
        field: error.field().map(str::to_owned),
        reason,
        reason_ja,
    }
}

/// Judges chunks of rows against the ledger as one import: a survey response may answer a
/// wave defined earlier in the file, in this chunk or an earlier one.
struct ChunkJudge<'l> {
    ledger: &'l Ledger,
    /// The good survey waves of earlier chunks, judged again in front of each chunk so that
    /// [`Ledger::judge_import`] sees them (a handful per file).
    waves: Vec<ImportRecord>,
    wave_ids: HashMap<String, ()>,
}

impl<'l> ChunkJudge<'l> {
    fn new(ledger: &'l Ledger) -> Self {
        ChunkJudge {
            ledger,
            waves: Vec::new(),
            wave_ids: HashMap::new(),
        }
    }

    /// The refused rows of the chunk (index into it, why), in order.
    fn judge(&mut self, chunk: &[(u64, ImportRecord)]) -> Vec<(usize, RecordError)> {
        let prefix = self.waves.len();
        let mut records = self.waves.clone();
        records.extend(chunk.iter().map(|(_, record)| record.clone()));
        let refused: Vec<(usize, RecordError)> = self
            .ledger
            .judge_import(&records)
            .into_iter()
            .filter(|(index, _)| *index >= prefix)
            .map(|(index, error)| (index - prefix, error))
            .collect();
        for (index, (_, record)) in chunk.iter().enumerate() {
            if let LedgerEvent::SurveyWave(wave) = &record.event {
                if !refused.iter().any(|(at, _)| *at == index)
                    && self
                        .wave_ids
                        .insert(wave.wave_id.as_str().to_owned(), ())
                        .is_none()
                {
                    self.waves.push(record.clone());
                }
            }
        }
        refused
    }
}

fn record_of(row: kpi_import::ImportRow, options: BulkOptions) -> (u64, ImportRecord) {
    (
        row.line,
        ImportRecord {
            idempotency_key: row.idempotency_key,
            provenance: Some(row.provenance),
            event: row.event,
            outside_plans: options.outside_plans,
        },
    )
}

impl Ledger {
    /// Judges every row of a bulk file without writing anything (see the module docs);
    /// `each_valid` sees each good row with its line (a dry run's listing). Blocking: it reads
    /// and parses the file, so call it on a blocking thread.
    pub fn judge_bulk<R: Read + Send + 'static>(
        &self,
        format: BulkFormat,
        reader: R,
        source: &str,
        options: BulkOptions,
        progress: &Arc<BulkProgress>,
        mut each_valid: impl FnMut(u64, &ImportRecord),
    ) -> Result<Judgement, BulkError> {
        progress.set_stage(BulkStage::Judging);
        let reader = Counted {
            inner: reader,
            progress: progress.clone(),
        };
        let mut judgement = Judgement::default();
        let mut judge = ChunkJudge::new(self);
        let mut chunk = Vec::with_capacity(BULK_CHUNK);
        let mut flush = |chunk: &mut Vec<(u64, ImportRecord)>, judgement: &mut Judgement| {
            let refused = judge.judge(chunk);
            let mut refused = refused.into_iter().peekable();
            for (index, (line, record)) in chunk.drain(..).enumerate() {
                match refused.next_if(|(at, _)| *at == index) {
                    Some((_, error)) => judgement.bad.push(bad_row(line, &error)),
                    None => {
                        judgement.valid += 1;
                        each_valid(line, &record);
                    }
                }
            }
            progress.valid.store(judgement.valid, Ordering::Relaxed);
        };
        for row in rows(format, reader, source)? {
            progress.judged.fetch_add(1, Ordering::Relaxed);
            match row {
                Ok(row) => {
                    chunk.push(record_of(row, options));
                    if chunk.len() == BULK_CHUNK {
                        flush(&mut chunk, &mut judgement);
                    }
                }
                Err(error) => judgement.bad.push(BadRow {
                    line: error.line,
                    field: Some(error.field),
                    reason: error.reason,
                    reason_ja: error.reason_ja,
                }),
            }
        }
        flush(&mut chunk, &mut judgement);
        judgement.bad.sort_by_key(|bad| bad.line);
        Ok(judgement)
    }

    /// Judges a bulk file and, when no row is bad (or `options.skip_invalid`), appends it as
    /// `actor`: all or nothing, idempotently (see the module docs). `open` opens the file
    /// (it is read twice). Returns what was judged and what the append did; a bad row
    /// without `skip_invalid` is [`BulkError::Refused`], nothing written.
    pub async fn import_bulk<R, F>(
        &self,
        format: BulkFormat,
        open: F,
        source: &str,
        actor: &str,
        options: BulkOptions,
        progress: Arc<BulkProgress>,
    ) -> Result<(Judgement, ImportReport), BulkError>
    where
        R: Read + Send + 'static,
        F: Fn() -> std::io::Result<R> + Send + Sync + 'static,
    {
        let open = Arc::new(open);
        let judgement = {
            let (ledger, open, source, progress) = (
                self.clone(),
                open.clone(),
                source.to_owned(),
                progress.clone(),
            );
            tokio::task::spawn_blocking(move || {
                ledger.judge_bulk(format, open()?, &source, options, &progress, |_, _| {})
            })
            .await
            .expect("the judging thread does not panic")?
        };
        if !judgement.bad.is_empty() && !options.skip_invalid {
            progress.set_stage(BulkStage::Done);
            return Err(BulkError::Refused(judgement));
        }
        progress.set_stage(BulkStage::Appending);
        // A blocking thread reads the file again, a chunk ahead of the appends.
        let (send, mut receive) = tokio::sync::mpsc::channel::<Vec<(u64, ImportRecord)>>(2);
        let reader = Counted {
            inner: open()?,
            progress: progress.clone(),
        };
        let rows = rows(format, reader, source)?;
        let reading = tokio::task::spawn_blocking(move || {
            let mut chunk = Vec::with_capacity(BULK_CHUNK);
            for row in rows.flatten() {
                chunk.push(record_of(row, options));
                if chunk.len() == BULK_CHUNK
                    && send
                        .blocking_send(std::mem::replace(
                            &mut chunk,
                            Vec::with_capacity(BULK_CHUNK),
                        ))
                        .is_err()
                {
                    return;
                }
            }
            if !chunk.is_empty() {
                let _ = send.blocking_send(chunk);
            }
        });
        let mut report = ImportReport::default();
        let mut judge = ChunkJudge::new(self);
        while let Some(chunk) = receive.recv().await {
            // Judged again: the ledger may have moved on since the first pass. A row refused
            // now was good then; it stops the import unless bad rows are skipped.
            let refused = judge.judge(&chunk);
            let mut refused = refused.into_iter().peekable();
            let mut lines = Vec::with_capacity(chunk.len());
            let mut records = Vec::with_capacity(chunk.len());
            for (index, (line, record)) in chunk.into_iter().enumerate() {
                match refused.next_if(|(at, _)| *at == index) {
                    Some(_) if options.skip_invalid => {}
                    Some((_, error)) => {
                        progress.set_stage(BulkStage::Done);
                        return Err(BulkError::Append { line, error });
                    }
                    None => {
                        lines.push(line);
                        records.push(record);
                    }
                }
            }
            let count = records.len() as u64;
            let first_line = lines.first().copied().unwrap_or_default();
            let done = self
                .import(actor, records)
                .await
                .map_err(|error| BulkError::Append {
                    line: first_line,
                    error,
                })?;
            report.appended += done.appended;
            report.already_recorded += done.already_recorded;
            progress.appended.fetch_add(count, Ordering::Relaxed);
        }
        reading.await.expect("the reading thread does not panic");
        progress.set_stage(BulkStage::Done);
        Ok((judgement, report))
    }
}
