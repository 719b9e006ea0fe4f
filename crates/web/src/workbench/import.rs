//! `/workbench/import`: bulk import while the server serves, through the service's one bulk
//! path (`Ledger::judge_bulk`, `Ledger::import_bulk`, the same as `kpi-ledger import`).
//!
//! - `GET /workbench/import`: the upload form (a file, its kind or "from the name", dry run or
//!   import);
//! - `POST /workbench/import` (multipart): the session's CSRF field must come before the file,
//!   which is written to one temporary file as it arrives (never held in memory), at most
//!   `web.max_upload_bytes` (413 beyond); then a background job judges it (dry run) or
//!   imports it, and the browser is sent (303) to
//! - `GET /workbench/import/jobs/{id}`: its progress, refreshing itself every second
//!   (`<meta http-equiv=refresh>`, no script) while it runs; then every bad row (line, field,
//!   reason) or what was appended. After a clean dry run,
//! - `POST /workbench/import/jobs/{id}/commit` imports the same uploaded file.
//!
//! A job is its uploader's (the session's token name) and a recorder's; finished jobs and
//! their files are dropped after an hour, or when [`MAX_JOBS`] are kept.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::{Duration, Instant};

use kpi_domain::event::LedgerEvent;
use kpi_service::auth::Role;
use kpi_service::{
    BulkError, BulkFormat, BulkOptions, BulkProgress, BulkStage, ImportReport, Judgement,
};
use maud::{html, Markup};
use poem::http::{header, StatusCode};
use poem::web::{Data, Form, Multipart, Path, Query};
use poem::{handler, Request, Response};
use tokio::io::AsyncWriteExt;

use super::record::{forbidden_page, label, LangQuery};
use super::record_words::RecWords;
use crate::forms;
use crate::layout;
use crate::session::{self, CSRF_FIELD};
use crate::words::Lang;
use crate::workbench::{lang_of, visitor_or_sign_in};
use crate::Web;

/// Jobs kept at most (running or finished); a new upload drops the oldest finished one.
pub const MAX_JOBS: usize = 16;
/// A finished job (and its file) is dropped this long after it ended.
const KEEP_FINISHED: Duration = Duration::from_secs(3600);

/// The import jobs of the server.
#[derive(Default)]
pub struct Imports {
    jobs: Mutex<HashMap<String, Arc<Job>>>,
}

/// One run over an uploaded file: a dry run or an import.
pub struct Job {
    owner: String,
    /// The uploaded file, deleted when the last job using it is dropped.
    file: Arc<tempfile::TempPath>,
    size: u64,
    name: String,
    format: BulkFormat,
    commit: bool,
    progress: Arc<BulkProgress>,
    outcome: Mutex<Option<(Instant, Outcome)>>,
}

enum Outcome {
    Judged(Judgement),
    Refused(Judgement),
    Imported(Judgement, ImportReport),
    Failed(String),
}

impl Imports {
    fn insert(&self, job: Arc<Job>) -> Result<String, ()> {
        let mut jobs = self.jobs.lock();
        let now = Instant::now();
        jobs.retain(|_, job| {
            job.finished_at()
                .is_none_or(|ended| now.duration_since(ended) < KEEP_FINISHED)
        });
        while jobs.len() >= MAX_JOBS {
            let oldest = jobs
                .iter()
                .filter_map(|(id, job)| job.finished_at().map(|ended| (ended, id.clone())))
                .min();
            match oldest {
                Some((_, id)) => jobs.remove(&id),
                None => return Err(()),
            };
        }
        let id = forms::new_idempotency_key()
            .trim_start_matches("web:")
            .to_owned();
        jobs.insert(id.clone(), job);
        Ok(id)
    }

    fn get(&self, id: &str) -> Option<Arc<Job>> {
        let jobs = self.jobs.lock();
        jobs.get(id).cloned()
    }
}

impl Job {
    fn finished_at(&self) -> Option<Instant> {
        self.outcome.lock().as_ref().map(|(ended, _)| *ended)
    }

    fn finish(&self, outcome: Outcome) {
        *self.outcome.lock() = Some((Instant::now(), outcome));
    }
}

/// Starts `job` in the background and answers with the redirect to its page.
fn start(web: &Arc<Web>, job: Job, lang: Lang) -> poem::Result<Response> {
    let job = Arc::new(job);
    let id = web.imports.insert(job.clone()).map_err(|()| {
        crate::access::refusal(
            Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header(header::RETRY_AFTER, "60")
                .content_type("text/plain; charset=utf-8")
                .body(format!(
                    "{MAX_JOBS} imports are running: try again when one ends\n"
                )),
        )
    })?;
    let ledger = web.ledger.clone();
    tokio::spawn(async move {
        let path = job.file.to_path_buf();
        let open = move || std::fs::File::open(&path);
        let options = BulkOptions::default();
        let outcome = if job.commit {
            match ledger
                .import_bulk(
                    job.format,
                    open,
                    &job.name,
                    &job.owner,
                    options,
                    job.progress.clone(),
                )
                .await
            {
                Ok((judgement, report)) => Outcome::Imported(judgement, report),
                Err(BulkError::Refused(judgement)) => Outcome::Refused(judgement),
                Err(error) => Outcome::Failed(error.to_string()),
            }
        } else {
            let (format, name, progress) = (job.format, job.name.clone(), job.progress.clone());
            let judged = tokio::task::spawn_blocking(move || {
                ledger.judge_bulk(format, open()?, &name, options, &progress, |_, _| {})
            })
            .await;
            match judged {
                Ok(Ok(judgement)) => Outcome::Judged(judgement),
                Ok(Err(error)) => Outcome::Failed(error.to_string()),
                Err(_) => Outcome::Failed("the check stopped".to_owned()),
            }
        };
        if let Outcome::Failed(error) = &outcome {
            tracing::warn!(file = %job.name, %error, "workbench import failed");
        }
        job.finish(outcome);
    });
    Ok(Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(
            header::LOCATION,
            layout::href(&format!("/workbench/import/jobs/{id}"), lang),
        )
        .finish())
}

#[handler]
pub async fn show(
    req: &Request,
    web: Data<&Arc<Web>>,
    Query(query): Query<LangQuery>,
) -> poem::Result<Response> {
    let lang = lang_of(query.lang.as_deref())?;
    let here = layout::here(super::MOUNT, req);
    let visitor = visitor_or_sign_in(&web, req, lang)?;
    if !visitor.may(Role::Recorder) {
        return Ok(forbidden_page(&here, lang, &visitor, Role::Recorder));
    }
    Ok(layout::respond(
        StatusCode::OK,
        upload_page(
            &here,
            lang,
            &visitor,
            web.sessions.config().max_upload_bytes,
            None,
        ),
    ))
}

fn upload_page(
    here: &str,
    lang: Lang,
    visitor: &session::Visitor,
    limit: u64,
    error: Option<&String>,
) -> Markup {
    let words = RecWords::of(lang);
    let csv_kinds = LedgerEvent::catalogue()
        .iter()
        .filter(|info| info.kind.family() == kpi_domain::event::Family::Activity);
    let body = html! {
        h1 { (words.import_title) }
        p { (words.import_intro) }
        @if let Some(error) = error { p.notice.error #upload-error role="alert" { (error) } }
        form.stacked #import-form method="post" action="/workbench/import" enctype="multipart/form-data" {
            (forms::csrf_field(visitor))
            @if let Some(lang) = lang.param() { input type="hidden" name="lang" value=(lang); }
            div.field {
                label for="kind" { (words.kind_of_csv) }
                select #kind name="kind" {
                    option value="" { (words.kind_from_name) }
                    @for info in csv_kinds {
                        option value=(info.name) { (label(info.label, lang)) " (" (info.name) ")" }
                    }
                }
            }
            div.field {
                label for="file" { (words.file) }
                span.hint #file-hint { (words.file_help) }
                input #file type="file" name="file" accept=".csv,.jsonl,.ndjson,text/csv" required aria-describedby="file-hint";
            }
            button type="submit" name="mode" value="dry" #dry-run { (words.dry_run) } " "
            button.secondary type="submit" name="mode" value="commit" #commit { (words.commit) }
        }
        p.help #upload-limit { "max " (limit / (1024 * 1024)) " MiB" }
    };
    layout::page(here, lang, Some(visitor), words.import_title, body)
}

/// A plain-text refusal of an upload.
fn refused(status: StatusCode, reason: &str) -> poem::Error {
    crate::access::refusal(
        Response::builder()
            .status(status)
            .content_type("text/plain; charset=utf-8")
            .body(format!("{reason}\n")),
    )
}

#[handler]
pub async fn upload(
    req: &Request,
    web: Data<&Arc<Web>>,
    mut multipart: Multipart,
) -> poem::Result<Response> {
    let limit = web.sessions.config().max_upload_bytes;
    let too_large = || {
        refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("file: larger than the {limit}-byte limit (web.max_upload_bytes)"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit + 64 * 1024) {
        return Err(too_large());
    }
    let bad = |field: &str, reason: String| {
        refused(StatusCode::BAD_REQUEST, &format!("{field}: {reason}"))
    };
    let mut owner = None;
    let mut lang = Lang::Ja;
    let mut kind = String::new();
    let mut mode = String::new();
    let mut file: Option<(tempfile::TempPath, u64, String)> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|error| bad("form", error.to_string()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            CSRF_FIELD => {
                let csrf = field
                    .text()
                    .await
                    .map_err(|error| bad(CSRF_FIELD, error.to_string()))?;
                let caller = session::authorise_post(&web, req, &csrf, Role::Recorder)?;
                owner = Some(caller.actor().unwrap_or("workbench").to_owned());
            }
            "lang" => {
                let text = field
                    .text()
                    .await
                    .map_err(|error| bad("lang", error.to_string()))?;
                lang = lang_of(Some(&text))?;
            }
            "kind" => {
                kind = field
                    .text()
                    .await
                    .map_err(|error| bad("kind", error.to_string()))?
            }
            "mode" => {
                mode = field
                    .text()
                    .await
                    .map_err(|error| bad("mode", error.to_string()))?
            }
            "file" => {
                if owner.is_none() {
                    return Err(refused(
                        StatusCode::FORBIDDEN,
                        "csrf: the form's token must come before the file (reload the page)",
                    ));
                }
                let file_name = field.file_name().unwrap_or("upload").to_owned();
                let spooled = tempfile::NamedTempFile::new()
                    .map_err(|error| bad("file", format!("cannot be stored: {error}")))?
                    .into_temp_path();
                let mut out = tokio::fs::File::create(&spooled)
                    .await
                    .map_err(|error| bad("file", format!("cannot be stored: {error}")))?;
                let mut reader = tokio::io::AsyncReadExt::take(field.into_async_read(), limit + 1);
                let size = tokio::io::copy(&mut reader, &mut out)
                    .await
                    .map_err(|error| bad("file", format!("cannot be read: {error}")))?;
                out.flush()
                    .await
                    .map_err(|error| bad("file", error.to_string()))?;
                if size > limit {
                    return Err(too_large());
                }
                file = Some((spooled, size, file_name));
            }
            _ => {}
        }
    }
    let Some(owner) = owner else {
        return Err(session::authorise_post(&web, req, "", Role::Recorder)
            .err()
            .unwrap_or_else(|| refused(StatusCode::FORBIDDEN, "csrf: missing")));
    };
    let Some((path, size, name)) = file.filter(|(_, size, _)| *size > 0) else {
        let visitor = session::visitor(&web, req)?;
        let error = format!("{}: {}", RecWords::of(lang).file, "empty, or not chosen");
        return Ok(layout::respond(
            StatusCode::UNPROCESSABLE_ENTITY,
            upload_page("/workbench/import", lang, &visitor, limit, Some(&error)),
        ));
    };
    let format = match BulkFormat::of_file(&name, Some(&kind)) {
        Ok(format) => format,
        Err(reason) => {
            let visitor = session::visitor(&web, req)?;
            return Ok(layout::respond(
                StatusCode::UNPROCESSABLE_ENTITY,
                upload_page("/workbench/import", lang, &visitor, limit, Some(&reason)),
            ));
        }
    };
    let job = Job {
        owner,
        file: Arc::new(path),
        size,
        name,
        format,
        commit: mode == "commit",
        progress: Arc::new(BulkProgress::default()),
        outcome: Mutex::new(None),
    };
    start(&web, job, lang)
}

/// The job `id` if it is the visitor's.
fn job_of(web: &Web, id: &str, owner: Option<&str>) -> poem::Result<Arc<Job>> {
    web.imports
        .get(id)
        .filter(|job| Some(job.owner.as_str()) == owner)
        .ok_or_else(|| crate::access::not_found(RecWords::of(Lang::Ja).no_such_job))
}

#[handler]
pub async fn job_page(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path(id): Path<String>,
    Query(query): Query<LangQuery>,
) -> poem::Result<Response> {
    let lang = lang_of(query.lang.as_deref())?;
    let here = layout::here(super::MOUNT, req);
    let visitor = visitor_or_sign_in(&web, req, lang)?;
    if !visitor.may(Role::Recorder) {
        return Ok(forbidden_page(&here, lang, &visitor, Role::Recorder));
    }
    let job = job_of(&web, &id, visitor.name())?;
    let words = RecWords::of(lang);
    let outcome = job.outcome.lock();
    let running = outcome.is_none();
    let body = html! {
        h1 { (words.job_title) ": " (job.name) }
        @match outcome.as_ref().map(|(_, outcome)| outcome) {
            None => (progress(&job, lang)),
            Some(Outcome::Judged(judgement)) => {
                p.notice #result role="status" { (words.dry_run_done) }
                (counts(judgement, None, lang))
                (bad_rows(judgement, job.format, lang))
                @if judgement.bad.is_empty() {
                    form method="post" action=(format!("/workbench/import/jobs/{id}/commit")) {
                        (forms::csrf_field(&visitor))
                        @if let Some(lang) = lang.param() { input type="hidden" name="lang" value=(lang); }
                        button type="submit" #commit-now { (words.commit_now) }
                    }
                }
            }
            Some(Outcome::Refused(judgement)) => {
                p.notice.error #result role="alert" { (words.nothing_written) }
                (counts(judgement, None, lang))
                (bad_rows(judgement, job.format, lang))
            }
            Some(Outcome::Imported(judgement, report)) => {
                p.notice #result role="status" { (words.committed) }
                (counts(judgement, Some(report), lang))
                (bad_rows(judgement, job.format, lang))
            }
            Some(Outcome::Failed(error)) => {
                p.notice.error #result role="alert" { (words.stopped) }
                p { code { (error) } }
            }
        }
        @if !running {
            p { a #import-another href=(layout::href("/workbench/import", lang)) { (words.upload_again) } }
        }
    };
    let page = layout::page(&here, lang, Some(&visitor), words.job_title, body);
    let mut response = layout::respond(StatusCode::OK, page);
    if running {
        // No script: the browser reloads the page (the `Refresh` header, as
        // `<meta http-equiv=refresh>` would) every second until the job ends.
        response
            .headers_mut()
            .insert("refresh", poem::http::HeaderValue::from_static("1"));
    }
    Ok(response)
}

fn progress(job: &Job, lang: Lang) -> Markup {
    let words = RecWords::of(lang);
    let progress = &job.progress;
    let (stage, done, of) = match progress.stage() {
        BulkStage::Judging => (
            words.judging,
            progress.bytes_read.load(Ordering::Relaxed),
            job.size,
        ),
        BulkStage::Appending | BulkStage::Done => (
            words.appending,
            progress.appended.load(Ordering::Relaxed),
            progress.valid.load(Ordering::Relaxed).max(1),
        ),
    };
    html! {
        p #stage role="status" { (stage) " … " (words.refreshes) }
        label for="job-progress" { (stage) }
        " "
        progress #job-progress max=(of) value=(done.min(of)) { (done) " / " (of) }
        p {
            (words.rows_judged) ": " span #judged { (progress.judged.load(Ordering::Relaxed)) }
            " · " (words.rows_appended) ": " span #appended { (progress.appended.load(Ordering::Relaxed)) }
        }
    }
}

fn counts(judgement: &Judgement, report: Option<&ImportReport>, lang: Lang) -> Markup {
    let words = RecWords::of(lang);
    html! {
        dl.facts #counts {
            dt { (words.valid_rows) } dd #valid { (judgement.valid) }
            dt { (words.bad_rows) } dd #bad { (judgement.bad.len()) }
            @if let Some(report) = report {
                dt { (words.appended) } dd #appended-count { (report.appended) }
                dt { (words.already_recorded) } dd #already { (report.already_recorded) }
            }
        }
    }
}

/// Every bad row; a CSV's field also by its name on the form.
fn bad_rows(judgement: &Judgement, format: BulkFormat, lang: Lang) -> Markup {
    let words = RecWords::of(lang);
    let named = |field: &str| match format {
        BulkFormat::Csv(kind) => LedgerEvent::kind_info(kind)
            .field(field)
            .map(|info| label(info.label, lang)),
        BulkFormat::JsonLines => None,
    };
    html! {
        @if !judgement.bad.is_empty() {
            div.table-wrap {
                table #bad-rows {
                    thead { tr {
                        th scope="col" { (words.col_line) } th scope="col" { (words.col_field) }
                        th scope="col" { (words.col_reason) }
                    } }
                    tbody {
                        @for bad in &judgement.bad {
                            tr {
                                td.n { (bad.line) }
                                td {
                                    @if let Some(name) = bad.field.as_deref().and_then(named) { (name) " " }
                                    code { (bad.field.as_deref().unwrap_or("")) }
                                }
                                td { (bad.reason_for(lang == Lang::Ja)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(serde::Deserialize)]
pub struct CommitForm {
    csrf: String,
    lang: Option<String>,
}

/// Imports the file of a clean dry run.
#[handler]
pub async fn commit(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path(id): Path<String>,
    Form(form): Form<CommitForm>,
) -> poem::Result<Response> {
    let lang = lang_of(form.lang.as_deref())?;
    let caller = session::authorise_post(&web, req, &form.csrf, Role::Recorder)?;
    let dry = job_of(&web, &id, caller.actor())?;
    let job = Job {
        owner: dry.owner.clone(),
        file: dry.file.clone(),
        size: dry.size,
        name: dry.name.clone(),
        format: dry.format,
        commit: true,
        progress: Arc::new(BulkProgress::default()),
        outcome: Mutex::new(None),
    };
    start(&web, job, lang)
}
