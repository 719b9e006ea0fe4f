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

pub mod import;
mod moved;
mod record;
mod record_words;
mod sign_in;
pub mod words;

use poem::{get, post, Route};

pub use sign_in::sign_in_page;

use crate::access::bad_request;
use crate::words::Lang;

pub fn routes() -> Route {
    Route::new()
        .at("/sign-in", get(sign_in::show).post(sign_in::submit))
        .at("/sign-out", post(sign_in::sign_out))
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
