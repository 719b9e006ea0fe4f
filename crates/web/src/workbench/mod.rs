//! `/workbench`: the clerk's pages, in Japanese (English with `?lang=en`), each in the shared
//! layout (`crate::layout`):
//!
//! - `GET /workbench/sign-in`, `POST /workbench/sign-in` (a token for a session),
//!   `POST /workbench/sign-out` (`sign_in`);
//! - `GET /workbench/events`: the event browser, filtered and paged (`events`);
//! - `GET /workbench/events/{id}`: one event in plain words, with its amendments, and for a
//!   recorder the correct and retract forms, posted to `POST /workbench/events/{id}/correct`
//!   and `.../retract` (`event_page`, `amend`).

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
}

/// The page's language from `?lang=` (or a form's `lang` field), or a 400 naming `lang`.
pub(crate) fn lang_of(text: Option<&str>) -> poem::Result<Lang> {
    Lang::parse(text).map_err(|reason| bad_request("lang", &reason))
}
