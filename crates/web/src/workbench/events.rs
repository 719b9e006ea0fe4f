//! `/workbench/events`: every event of the log, filtered by kind, fiscal year, activity date
//! range, recorder and text (the service's `EventFilter`), newest first (`?order=oldest`: in
//! log order), [`PAGE`] to a page. Paging is by keyset: `?before=N` lists the events before
//! log position N (`?after=N`, oldest first: after it), so a page costs the same wherever it
//! is and stays stable while events are appended; a page reads at most
//! [`BUDGET`] events of the log, so a filter that matches little answers promptly and offers
//! to search on from where it stopped. Each row links to the event's page. A reader may use
//! it.

use std::sync::Arc;

use kpi_domain::calendar::parse_through;
use kpi_domain::{EventKind, FiscalYear};
use kpi_service::EventFilter;
use maud::{html, Markup};
use poem::http::{header, StatusCode};
use poem::web::{Data, Query};
use poem::{handler, Request, Response};

use super::words::WbWords;
use super::{date_words, jst_time, kind_name, lang_of, unreadable, visitor_or_sign_in, MOUNT};
use crate::forms::{self, FieldErrors};
use crate::layout;
use crate::words::Lang;
use crate::Web;

/// Events on one page.
pub const PAGE: usize = 50;

/// Events of the log one page reads at most.
pub const BUDGET: usize = 20_000;

/// The browser's query: each filter as typed, and the keyset cursor.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct BrowseQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    recorder: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    order: String,
    after: Option<u64>,
    before: Option<u64>,
    lang: Option<String>,
}

impl BrowseQuery {
    /// The service's filter, or the message of each field that does not read.
    fn filter(&self) -> Result<EventFilter, FieldErrors> {
        let mut errors = FieldErrors::new();
        let given = |text: &str| {
            Some(text.trim())
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
        };
        let mut filter = EventFilter {
            actor: given(&self.recorder),
            text: given(&self.q),
            ..EventFilter::default()
        };
        if let Some(kind) = given(&self.kind) {
            match EventKind::from_name(&kind) {
                Some(kind) => filter.event_type = Some(kind.name().to_owned()),
                None => {
                    errors.insert("kind".into(), format!("`{kind}` is not a kind of event"));
                }
            }
        }
        if let Some(year) = given(&self.year) {
            match year.parse::<FiscalYear>() {
                Ok(year) => filter.fiscal_year = Some(year),
                Err(error) => {
                    errors.insert("year".into(), error.to_string());
                }
            }
        }
        for (name, text, slot) in [
            ("from", &self.from, &mut filter.occurred_from),
            ("to", &self.to, &mut filter.occurred_to),
        ] {
            if let Some(text) = given(text) {
                match parse_through(&text) {
                    Ok(date) => *slot = Some(date),
                    Err(reason) => {
                        errors.insert(name.into(), reason);
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(filter)
        } else {
            Err(errors)
        }
    }

    /// Whether the list runs in log order (`order=oldest`) rather than newest first.
    fn oldest_first(&self) -> bool {
        self.order.trim() == "oldest"
    }

    /// This query from another position (`None`: the first page), as a link: after it
    /// oldest first, before it newest first.
    fn at(&self, cursor: Option<u64>) -> String {
        let cursor = cursor.map(|position| position.to_string());
        let cursor = cursor.as_deref().unwrap_or("");
        let (after, before) = if self.oldest_first() {
            (cursor, "")
        } else {
            ("", cursor)
        };
        let pairs: Vec<(&str, &str)> = [
            ("kind", self.kind.as_str()),
            ("year", &self.year),
            ("from", &self.from),
            ("to", &self.to),
            ("recorder", &self.recorder),
            ("q", &self.q),
            ("order", &self.order),
            ("after", after),
            ("before", before),
            ("lang", self.lang.as_deref().unwrap_or("")),
        ]
        .into_iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .collect();
        match serde_urlencoded::to_string(pairs) {
            Ok(query) if !query.is_empty() => format!("/workbench/events?{query}"),
            _ => "/workbench/events".to_owned(),
        }
    }
}

/// `/workbench`: the event browser.
#[handler]
pub async fn first(Query(query): Query<BrowseQuery>) -> poem::Result<Response> {
    let lang = lang_of(query.lang.as_deref())?;
    Ok(Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, layout::href("/workbench/events", lang))
        .finish())
}

#[handler]
pub async fn browse(
    req: &Request,
    web: Data<&Arc<Web>>,
    Query(query): Query<BrowseQuery>,
) -> poem::Result<Response> {
    let lang = lang_of(query.lang.as_deref())?;
    let wb = WbWords::of(lang);
    let visitor = visitor_or_sign_in(&web, req, lang)?;
    let here = layout::here(MOUNT, req);
    let (status, results, errors) = match query.filter() {
        Ok(filter) => {
            let page = if query.oldest_first() {
                web.ledger
                    .events_within(&filter, query.after.unwrap_or(0), PAGE, BUDGET)
            } else {
                web.ledger
                    .events_newest_first(&filter, query.before, PAGE, BUDGET)
            }
            .map_err(unreadable)?;
            (StatusCode::OK, Some(page), FieldErrors::new())
        }
        Err(errors) => (StatusCode::BAD_REQUEST, None, errors),
    };
    let body = html! {
        h1 { (wb.events_title) }
        (filter_form(&query, &errors, lang))
        @if let Some(page) = &results {
            @if page.events.is_empty() {
                p #no-events { (wb.no_events) }
            } @else {
                div.table-wrap {
                    table #event-list {
                        thead { tr {
                            th scope="col" { (wb.col_position) } th scope="col" { (wb.col_kind) }
                            th scope="col" { (wb.col_activity) } th scope="col" { (wb.col_title) }
                            th scope="col" { (wb.col_recorded) } th scope="col" { (wb.col_recorder) }
                        } }
                        tbody {
                            @for (envelope, recorded) in &page.events {
                                @let href = layout::href(&format!("/workbench/events/{}", envelope.event_id), lang);
                                tr {
                                    td.n { a href=(href) { (envelope.position) } }
                                    td { (kind_name(recorded.event.kind(), lang)) }
                                    td { (date_words(recorded.event.occurred_on(), lang)) }
                                    td { a href=(href) { (recorded.event.title().unwrap_or(kind_name(recorded.event.kind(), lang))) } }
                                    td.n { (jst_time(envelope.recorded_at)) }
                                    td { (envelope.actor) }
                                }
                            }
                        }
                    }
                }
            }
            nav.pages aria-label=(wb.events_title) {
                @if query.after.is_some() || query.before.is_some() {
                    a #first-page href=(query.at(None)) { (wb.first_page) }
                    " "
                }
                @if page.has_next_page {
                    @if page.events.len() < PAGE {
                        span #searched { (wb.searched_to(page.resume_at, query.oldest_first())) } " "
                    }
                    a #next-page rel="next" href=(query.at(Some(page.resume_at))) { (wb.next_page) " →" }
                }
            }
        }
    };
    let title = wb.events_title;
    Ok(layout::respond(
        status,
        layout::page(&here, lang, Some(&visitor), title, body),
    ))
}

/// The filters, as given, each with its message beside it.
fn filter_form(query: &BrowseQuery, errors: &FieldErrors, lang: Lang) -> Markup {
    let wb = WbWords::of(lang);
    let kind_error = errors.get("kind");
    html! {
        form #filter method="get" action="/workbench/events" role="search" {
            div.field.invalid[kind_error.is_some()] {
                label for="kind" { (wb.kind) }
                select #kind name="kind" aria-invalid=[kind_error.map(|_| "true")]
                    aria-describedby=[kind_error.map(|_| "kind-error")] {
                    option value="" { (wb.any_kind) }
                    @for kind in EventKind::ALL {
                        option value=(kind.name()) selected[query.kind.trim() == kind.name()] {
                            (kind_name(kind, lang))
                        }
                    }
                }
                (forms::error_of("kind", kind_error))
            }
            (forms::input_field("year", "text", wb.fiscal_year, Some("R6 / 2024"), &query.year, false, errors.get("year")))
            (forms::input_field("from", "date", wb.activity_from, None, &query.from, false, errors.get("from")))
            (forms::input_field("to", "date", wb.activity_to, None, &query.to, false, errors.get("to")))
            (forms::input_field("recorder", "text", wb.recorder, None, &query.recorder, false, None))
            (forms::input_field("q", "text", wb.text, Some(wb.text_help), &query.q, false, None))
            div.field {
                label for="order" { (wb.order) }
                select #order name="order" {
                    option value="" { (wb.newest_first) }
                    option value="oldest" selected[query.oldest_first()] { (wb.oldest_first) }
                }
            }
            @if let Some(lang) = lang.param() { input type="hidden" name="lang" value=(lang); }
            div.field { button type="submit" { (wb.filter) } }
        }
    }
}
