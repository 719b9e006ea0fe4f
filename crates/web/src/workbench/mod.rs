//! `/workbench`: the clerk's pages, in Japanese (English with `?lang=en`), each in the shared
//! layout (`crate::layout`):
//!
//! - `GET /workbench/sign-in`, `POST /workbench/sign-in` (a token for a session),
//!   `POST /workbench/sign-out` (`sign_in`);
//! - `GET /workbench/events`: the event browser, filtered and paged (`events`);
//! - `GET /workbench/events/{id}`: one event in plain words, with its amendments, and for a
//!   recorder the correct and retract forms, posted to `POST /workbench/events/{id}/correct`
//!   and `.../retract` (`event_page`, `amend`);
//! - `GET /workbench/record`, `GET`/`POST /workbench/record/{kind}`,
//!   `GET /workbench/record/saved/{id}`: a form for every kind of event, generated from the
//!   domain's catalogue, and what a saved event moved (`record`, `moved`);
//! - `GET`/`POST /workbench/import`, `GET /workbench/import/jobs/{id}`,
//!   `POST /workbench/import/jobs/{id}/commit`: bulk import of CSV or JSON lines while
//!   serving, as a background job with a progress page (`import`).

mod amend;
mod event_page;
mod events;
pub mod import;
mod moved;
mod record;
mod record_words;
mod sign_in;
pub mod words;

use poem::{get, post, Route};

pub use sign_in::sign_in_page;
pub(crate) use sign_in::visitor_or_sign_in;

use crate::access::bad_request;
use crate::words::Lang;

pub fn routes() -> Route {
    Route::new()
        .at("/", get(events::first))
        .at("/sign-in", get(sign_in::show).post(sign_in::submit))
        .at("/sign-out", post(sign_in::sign_out))
        .at("/events", get(events::browse))
        .at("/events/:id", get(event_page::show))
        .at("/events/:id/correct", post(amend::correct))
        .at("/events/:id/retract", post(amend::retract))
        .at("/record", get(record::list))
        .at("/record/saved/:id", get(record::saved))
        .at("/record/:kind", get(record::show).post(record::submit))
        .at("/import", get(import::show).post(import::upload))
        .at("/import/jobs/:id", get(import::job_page))
        .at("/import/jobs/:id/commit", post(import::commit))
}

/// The page's language from `?lang=` (or a form's `lang` field), or a 400 naming `lang`.
pub(crate) fn lang_of(text: Option<&str>) -> poem::Result<Lang> {
    Lang::parse(text).map_err(|reason| bad_request("lang", &reason))
}

/// The routes' mount, which poem strips from `req.uri()`.
pub(crate) const MOUNT: &str = "/workbench";

/// A catalogue name in the page's language.
pub(crate) fn label(label: kpi_domain::event::Label, lang: Lang) -> &'static str {
    match lang {
        Lang::Ja => label.ja,
        Lang::En => label.en,
    }
}

/// The kind as the catalogue names it in the page's language: `セミナー` / `Seminar`.
pub(crate) fn kind_name(kind: kpi_domain::EventKind, lang: Lang) -> &'static str {
    label(kpi_domain::LedgerEvent::kind_info(kind).label, lang)
}

/// A date in 和暦 and western: `令和6年10月10日 (2024-10-10)`; in English the western first.
pub(crate) fn date_words(date: chrono::NaiveDate, lang: Lang) -> String {
    match (kpi_domain::calendar::format_wareki(date), lang) {
        (Some(wareki), Lang::Ja) => format!("{wareki} ({date})"),
        (Some(wareki), Lang::En) => format!("{date} ({wareki})"),
        (None, _) => date.to_string(),
    }
}

/// An instant in Japan, to the second: `2024-10-10 09:15:42`.
pub(crate) fn jst_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&kpi_domain::calendar::jst())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A page's answer when the ledger cannot be read: 503 while the storage is unavailable.
pub(crate) fn unreadable(error: kpi_service::LedgerError) -> poem::Error {
    if error.is_storage_failure() {
        return crate::access::storage_unavailable(&error);
    }
    tracing::error!(%error, "cannot read the log for a workbench page");
    crate::access::refusal(
        poem::Response::builder()
            .status(poem::http::StatusCode::INTERNAL_SERVER_ERROR)
            .body("cannot read the log\n"),
    )
}
