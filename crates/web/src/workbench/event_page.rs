//! `/workbench/events/{id}`: one event in plain words — its kind and fields as the domain's
//! catalogue names them, the activity date in 和暦 and western, the recorded time in Japan
//! to the second, who recorded it, the provenance, its place in the log and its hash, its
//! corrections and retractions (linked), the raw payload behind a `<details>` toggle — and,
//! for a signed-in recorder, the forms that correct or retract it (`amend` receives them).
//! A reader sees no form.

use std::collections::HashMap;
use std::sync::Arc;

use kpi_domain::event::Family;
use kpi_domain::{LedgerEvent, RecordedEvent};
use kpi_service::auth::Role;
use kpi_service::Envelope;
use maud::{html, Markup};
use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{handler, Request, Response};
use uuid::Uuid;

use super::words::WbWords;
use super::{
    date_words, jst_time, kind_name, label, lang_of, unreadable, visitor_or_sign_in, MOUNT,
};
use crate::access::not_found;
use crate::forms::{self, FieldErrors};
use crate::layout;
use crate::session::Visitor;
use crate::words::Lang;
use crate::Web;

/// What a refused form brings back to the page: the values as typed, the message of each
/// field, a message about no one field, and the form's idempotency key (unused, as nothing
/// was written).
#[derive(Debug, Default)]
pub(super) struct Attempt {
    pub values: HashMap<String, String>,
    pub errors: FieldErrors,
    pub general: Option<String>,
    pub key: String,
}

/// The state of the page's two forms.
#[derive(Debug, Default)]
pub(super) struct Forms {
    pub correct: Option<Attempt>,
    pub retract: Option<Attempt>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    lang: Option<String>,
    /// The amendment just recorded, to say so.
    saved: Option<String>,
}

/// An event id from the path, or 404.
pub(super) fn event_id(text: &str) -> poem::Result<Uuid> {
    text.parse()
        .map_err(|_| not_found(&format!("no event `{text}`: not an event id")))
}

/// The event and its envelope, or 404.
pub(super) fn load(web: &Web, id: Uuid) -> poem::Result<(Envelope, RecordedEvent)> {
    web.ledger
        .event(id)
        .map_err(unreadable)?
        .ok_or_else(|| not_found(&format!("no event {id}")))
}

#[handler]
pub async fn show(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> poem::Result<Response> {
    let lang = lang_of(query.lang.as_deref())?;
    let visitor = visitor_or_sign_in(&web, req, lang)?;
    let id = event_id(&id)?;
    let page = render(
        &web,
        req,
        &visitor,
        lang,
        id,
        Forms::default(),
        query.saved.as_deref(),
    )?;
    Ok(layout::respond(StatusCode::OK, page))
}

/// The page of event `id` with its forms in `forms`' state.
pub(super) fn render(
    web: &Web,
    req: &Request,
    visitor: &Visitor,
    lang: Lang,
    id: Uuid,
    forms: Forms,
    saved: Option<&str>,
) -> poem::Result<Markup> {
    let wb = WbWords::of(lang);
    let (envelope, recorded) = load(web, id)?;
    let amendments = web
        .ledger
        .amendment_ids_of(id)
        .into_iter()
        .map(|amendment| load(web, amendment))
        .collect::<poem::Result<Vec<_>>>()?;
    let retracted = amendments
        .iter()
        .any(|(_, amendment)| matches!(amendment.event, LedgerEvent::Retraction(_)));
    // The figures use the latest correction's replacement; a new correction starts from it.
    let current = amendments
        .iter()
        .rev()
        .find_map(|(_, amendment)| match &amendment.event {
            LedgerEvent::Correction(correction) => Some(correction.replacement.to_payload()),
            _ => None,
        });
    let kind = recorded.event.kind();
    let info = LedgerEvent::kind_info(kind);
    let title = match recorded.event.title() {
        Some(title) => format!("{}: {title}", kind_name(kind, lang)),
        None => kind_name(kind, lang).to_owned(),
    };
    let link = |id: Uuid| layout::href(&format!("/workbench/events/{id}"), lang);
    let may_amend = visitor.may(Role::Recorder) && kind.family() == Family::Activity && !retracted;
    let body = html! {
        p.no-print { a href=(layout::href("/workbench/events", lang)) { "← " (wb.events_title) } }
        h1 #event-title { (title) }
        @if let Some(saved) = saved.and_then(|saved| saved.parse::<Uuid>().ok()) {
            p.notice #saved role="status" { (wb.saved) " " a href=(link(saved)) { (saved) } }
        }
        @if retracted { p.notice.error #retracted { (wb.retracted) } }
        @else if current.is_some() { p.notice #corrected { (wb.corrected) } }
        dl.facts #facts {
            dt { (wb.kind) } dd #fact-kind { (kind_name(kind, lang)) " " code { (kind.name()) } }
            dt { (wb.activity_date) } dd #fact-activity { (date_words(recorded.event.occurred_on(), lang)) }
            dt { (wb.fiscal_year) } dd { (lang.words().year(recorded.event.fiscal_year())) }
            dt { (wb.recorded_at) } dd #fact-recorded { (jst_time(envelope.recorded_at)) }
            dt { (wb.recorded_by) } dd #fact-actor { (envelope.actor) }
            dt { (wb.provenance) } dd #fact-provenance { (envelope.provenance.as_deref().unwrap_or(wb.none)) }
            dt { (wb.position) } dd #fact-position { (envelope.position) }
            dt { (wb.hash) } dd { code #fact-hash { (envelope.hash) } }
            dt { (wb.event_id) } dd { code { (envelope.event_id) } }
            @if let Some(target) = recorded.event.amendment_target() {
                dt { (wb.amends) } dd { a #fact-target href=(link(target)) { (target) } }
            }
        }
        h2 { (wb.fields) }
        div.table-wrap {
            table #fields {
                thead { tr { th scope="col" { (wb.field) } th scope="col" { (wb.value) } } }
                tbody {
                    @for field in info.fields {
                        @let value = forms::at_path(&envelope.payload, field.name);
                        tr {
                            th scope="row" { (label(field.label, lang)) " " code.finding-code { (field.name) } }
                            td { (shown(field, value, lang)) }
                        }
                    }
                }
            }
        }
        details #raw {
            summary { (wb.raw_payload) }
            pre { code { (serde_json::to_string_pretty(&envelope.payload).unwrap_or_default()) } }
        }
        h2 { (wb.amendments) }
        @if amendments.is_empty() {
            p #no-amendments { (wb.no_amendments) }
        } @else {
            ul #amendments {
                @for (amendment_envelope, amendment) in &amendments {
                    li {
                        a href=(link(amendment.id)) { (kind_name(amendment.event.kind(), lang)) }
                        " — " (wb.decided_on) " " (date_words(amendment.event.occurred_on(), lang))
                        @if let Some(reason) = reason_of(&amendment.event) { " — " (wb.reason) ": " (reason) }
                        " — " (jst_time(amendment_envelope.recorded_at)) " " (amendment_envelope.actor)
                    }
                }
            }
        }
        @if may_amend {
            (super::amend::correct_form(visitor, lang, id, info, current.as_ref().unwrap_or(&envelope.payload), forms.correct))
            (super::amend::retract_form(visitor, lang, id, forms.retract))
        } @else if !visitor.may(Role::Recorder) {
            p.help #reader-only { (wb.reader_only) }
        }
    };
    let here = layout::here(MOUNT, req);
    Ok(layout::page(&here, lang, Some(visitor), &title, body))
}

/// A field's value in words: a choice by its label, a yes/no, text as is, `—` when absent.
fn shown(field: &kpi_domain::FieldInfo, value: Option<&serde_json::Value>, lang: Lang) -> String {
    let text = forms::text_of(value);
    if text.is_empty() {
        return "—".to_owned();
    }
    field
        .ty
        .choices()
        .and_then(|choices| choices.iter().find(|choice| choice.value == text))
        .map_or(text, |choice| label(choice.label, lang).to_owned())
}

/// The reason an amendment gives.
fn reason_of(event: &LedgerEvent) -> Option<&str> {
    match event {
        LedgerEvent::Correction(correction) => Some(correction.reason.as_str()),
        LedgerEvent::Retraction(retraction) => Some(retraction.reason.as_str()),
        _ => None,
    }
}
