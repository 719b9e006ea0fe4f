//! `/workbench/record`: a form for every kind of event, generated from the domain's list of
//! kinds and its catalogue (each field's Japanese and English name, help, type and whether
//! it is required), so this file names no kind and no field.
//!
//! - `GET /workbench/record`: the kinds, by family, with their Japanese (or English) names;
//! - `GET /workbench/record/{kind}`: the form, with an idempotency key made now (hidden), so a
//!   double click, a reload or the back button never records twice;
//! - `POST /workbench/record/{kind}`: the typed text read by the domain
//!   (`LedgerEvent::from_fields`: dates western or 和暦, numbers with separators) and
//!   recorded; a refusal is shown beside the field it names, the form kept as typed, nothing
//!   written; success redirects (303) to
//! - `GET /workbench/record/saved/{id}`: the event, a link to its page, and the KPI cells it
//!   counts in with their figures before and after it was recorded (`moved`).
//!
//! A reader (or anyone without a recorder session) is shown no form: 403 with a sign-in
//! prompt. Plan lifecycle kinds need an admin session.

use std::collections::HashMap;
use std::sync::Arc;

use kpi_domain::event::{EventKind, Family, FieldInfo, FieldType, Label, LedgerEvent};
use kpi_service::auth::Role;
use kpi_service::RecordOptions;
use maud::{html, Markup};
use poem::http::{header, StatusCode};
use poem::web::{Data, Form, Path, Query};
use poem::{handler, Request, Response};

use super::moved;
use super::record_words::RecWords;
use crate::forms::{self, error_of, field_id, FieldErrors, IDEMPOTENCY_FIELD};
use crate::layout;
use crate::session::{self, Visitor, CSRF_FIELD};
use crate::words::Lang;
use crate::workbench::words::WbWords;
use crate::workbench::{lang_of, visitor_or_sign_in};
use crate::Web;

/// The form field holding a catalogue field's typed text: `f.` and its dotted path.
const TYPED: &str = "f.";
/// The date picker beside a date field, used when its text is left empty.
const PICKED: &str = "p.";
/// The optional provenance of the record (where the figure comes from).
const PROVENANCE: &str = "provenance";

#[derive(Debug, Default, serde::Deserialize)]
pub struct LangQuery {
    pub lang: Option<String>,
}

/// The role a form of `kind` needs: plan lifecycle is an admin's, as over GraphQL; recording
/// and amending events a recorder's.
pub fn role_for(kind: EventKind) -> Role {
    match kind.family() {
        Family::Lifecycle => Role::Admin,
        Family::Activity | Family::Amendment => Role::Recorder,
    }
}

pub fn label(label: Label, lang: Lang) -> &'static str {
    match lang {
        Lang::Ja => label.ja,
        Lang::En => label.en,
    }
}

fn help(field: &FieldInfo, lang: Lang) -> &'static str {
    match lang {
        Lang::Ja => field.help_ja,
        Lang::En => field.doc,
    }
}

/// The page said instead of a form to someone without the role: 403, no form.
pub fn forbidden_page(here: &str, lang: Lang, visitor: &Visitor, role: Role) -> Response {
    let words = RecWords::of(lang);
    let message = if role == Role::Admin {
        words.needs_admin
    } else {
        words.needs_recorder
    };
    layout::respond(
        StatusCode::FORBIDDEN,
        layout::page(
            here,
            lang,
            Some(visitor),
            words.record_title,
            html! {
                h1 { (words.record_title) }
                p.notice.error #no-form role="alert" { (message) }
                p { a href=(layout::href(&format!("/workbench/sign-in?next={}", forms::url_encode(here)), lang)) { (WbWords::of(lang).sign_in) } }
            },
        ),
    )
}

#[handler]
pub async fn list(
    req: &Request,
    web: Data<&Arc<Web>>,
    Query(query): Query<LangQuery>,
) -> poem::Result<Response> {
    let lang = lang_of(query.lang.as_deref())?;
    let here = layout::here(super::MOUNT, req);
    let visitor = visitor_or_sign_in(&web, req, lang)?;
    let words = RecWords::of(lang);
    let families = [
        (Family::Activity, words.activities),
        (Family::Amendment, words.amendments),
        (Family::Lifecycle, words.lifecycle),
    ];
    let body = html! {
        h1 { (words.record_title) }
        @if !visitor.may(Role::Recorder) {
            p.notice.error #no-form role="alert" { (words.needs_recorder) }
        }
        p { (words.record_intro) }
        @for (family, title) in families {
            section {
                h2 { (title) }
                ul.kinds {
                    @for info in LedgerEvent::catalogue().iter().filter(|info| info.kind.family() == family) {
                        li {
                            a href=(layout::href(&format!("/workbench/record/{}", info.name), lang)) { (label(info.label, lang)) }
                            " — "
                            span.help { (match lang { Lang::Ja => info.summary_ja, Lang::En => info.summary }) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        layout::page(&here, lang, Some(&visitor), words.record_title, body),
    ))
}

fn kind_named(name: &str) -> poem::Result<EventKind> {
    EventKind::from_name(name)
        .ok_or_else(|| crate::access::not_found(&format!("no event kind `{name}`")))
}

#[handler]
pub async fn show(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path(kind): Path<String>,
    Query(query): Query<LangQuery>,
) -> poem::Result<Response> {
    let lang = lang_of(query.lang.as_deref())?;
    let kind = kind_named(&kind)?;
    let here = layout::here(super::MOUNT, req);
    let visitor = visitor_or_sign_in(&web, req, lang)?;
    if !visitor.may(role_for(kind)) {
        return Ok(forbidden_page(&here, lang, &visitor, role_for(kind)));
    }
    let form = Filled {
        values: HashMap::new(),
        key: forms::new_idempotency_key(),
        errors: FieldErrors::new(),
        notice: None,
    };
    Ok(layout::respond(
        StatusCode::OK,
        form_page(&here, lang, &visitor, kind, &form),
    ))
}

/// A form as rendered: the values typed (by form field name), its idempotency key, the
/// messages beside fields and one above the form.
struct Filled {
    values: HashMap<String, String>,
    key: String,
    errors: FieldErrors,
    notice: Option<String>,
}

fn form_page(here: &str, lang: Lang, visitor: &Visitor, kind: EventKind, form: &Filled) -> Markup {
    let words = RecWords::of(lang);
    let info = LedgerEvent::kind_info(kind);
    let title = label(info.label, lang);
    let value = |name: &str| form.values.get(name).map(String::as_str).unwrap_or("");
    let body = html! {
        p.no-print { a href=(layout::href("/workbench/record", lang)) { "← " (words.record_title) } }
        h1 { (title) }
        p.help { (match lang { Lang::Ja => info.summary_ja, Lang::En => info.summary }) }
        @if let Some(notice) = &form.notice {
            p.notice.error #form-error role="alert" { (notice) }
        }
        form.stacked #record-form method="post" action=(format!("/workbench/record/{}", info.name)) novalidate {
            (forms::csrf_field(visitor))
            (forms::idempotency_field(&form.key))
            @if let Some(lang) = lang.param() { input type="hidden" name="lang" value=(lang); }
            @for field in info.fields {
                (field_input(field, lang, &form.values, form.errors.get(field.name)))
            }
            (forms::input_field(PROVENANCE, "text", WbWords::of(lang).provenance, None, value(PROVENANCE), false, None))
            button type="submit" #save { (words.save) }
        }
    };
    layout::page(here, lang, Some(visitor), title, body)
}

/// One catalogue field as a labelled input: a choice as a select, a date as text (western or
/// 和暦) with a date picker beside it, a number as text (so `1,200` and full-width digits may
/// be typed), JSON or a TOML definition as a text area.
fn field_input(
    field: &FieldInfo,
    lang: Lang,
    values: &HashMap<String, String>,
    error: Option<&String>,
) -> Markup {
    let words = RecWords::of(lang);
    let name = format!("{TYPED}{}", field.name);
    let id = field_id(&name);
    let value = values.get(&name).map(String::as_str).unwrap_or("");
    let hint_id = format!("{id}-hint");
    let described = match error {
        Some(_) => format!("{id}-error {hint_id}"),
        None => hint_id.clone(),
    };
    let invalid = error.map(|_| "true");
    html! {
        div.field.invalid[error.is_some()] {
            label for=(id) {
                (label(field.label, lang)) " "
                span.need { "(" (if field.required { words.required } else { words.optional }) ")" }
            }
            span.hint id=(hint_id) {
                (help(field, lang))
                @if field.ty == FieldType::Date { " " (words.date_hint) }
            }
            @if let Some(choices) = field.ty.choices() {
                select id=(id) name=(name) required[field.required] aria-invalid=[invalid] aria-describedby=(described) {
                    option value="" selected[value.is_empty()] { "— " (words.choose) " —" }
                    @for choice in choices {
                        option value=(choice.value) selected[value == choice.value] { (label(choice.label, lang)) }
                    }
                }
            } @else if matches!(field.ty, FieldType::Payload | FieldType::Document) {
                textarea id=(id) name=(name) rows="6" required[field.required] aria-invalid=[invalid] aria-describedby=(described) { (value) }
            } @else if field.ty == FieldType::Date {
                @let picked = format!("{PICKED}{}", field.name);
                input type="text" id=(id) name=(name) value=(value) required[field.required]
                    placeholder="2024-10-10 / 令和6年10月10日" autocomplete="off"
                    aria-invalid=[invalid] aria-describedby=(described);
                span.picker {
                    label for=(field_id(&picked)) { (words.date_picker) }
                    " "
                    input type="date" id=(field_id(&picked)) name=(picked)
                        value=(values.get(&picked).map(String::as_str).unwrap_or(""));
                }
            } @else if field.ty.is_numeric() {
                input type="text" inputmode="numeric" id=(id) name=(name) value=(value) required[field.required]
                    aria-invalid=[invalid] aria-describedby=(described);
            } @else {
                input type="text" id=(id) name=(name) value=(value) required[field.required]
                    aria-invalid=[invalid] aria-describedby=(described);
            }
            (error_of(&id, error))
        }
    }
}

/// The typed text of each catalogue field: the text box, else the date picker.
fn typed_fields(kind: EventKind, values: &HashMap<String, String>) -> Vec<(&'static str, String)> {
    LedgerEvent::kind_info(kind)
        .fields
        .iter()
        .map(|field| {
            let typed = values
                .get(&format!("{TYPED}{}", field.name))
                .map(|text| text.trim())
                .filter(|text| !text.is_empty());
            let picked = values.get(&format!("{PICKED}{}", field.name));
            let text = typed.or(picked.map(String::as_str)).unwrap_or("");
            (field.name, text.to_owned())
        })
        .collect()
}

/// The catalogue field an error names (`replacement.title` is about `replacement`), if any.
fn field_of(kind: EventKind, named: &str) -> Option<&'static str> {
    LedgerEvent::kind_info(kind)
        .fields
        .iter()
        .map(|field| field.name)
        .filter(|name| {
            named == *name
                || named
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        })
        .max_by_key(|name| name.len())
}

#[handler]
pub async fn submit(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path(kind): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> poem::Result<Response> {
    let kind = kind_named(&kind)?;
    let values: HashMap<String, String> = pairs.into_iter().collect();
    let lang = lang_of(values.get("lang").map(String::as_str))?;
    let csrf = values.get(CSRF_FIELD).map(String::as_str).unwrap_or("");
    let caller = session::authorise_post(&web, req, csrf, role_for(kind))?;
    let actor = caller.actor().unwrap_or("workbench").to_owned();
    let key = values
        .get(IDEMPOTENCY_FIELD)
        .map(|key| key.trim().to_owned())
        .filter(|key| !key.is_empty())
        .ok_or_else(|| {
            crate::access::bad_request(
                IDEMPOTENCY_FIELD,
                "missing: reload the form and send it again",
            )
        })?;
    let visitor = session::visitor(&web, req)?;
    let here = layout::here(super::MOUNT, req);
    let words = RecWords::of(lang);
    let refuse = |status: StatusCode, errors: FieldErrors, notice: &str| {
        let form = Filled {
            values: values.clone(),
            key: key.clone(),
            errors,
            notice: Some(notice.to_owned()),
        };
        Ok(layout::respond(
            status,
            form_page(&here, lang, &visitor, kind, &form),
        ))
    };
    let typed = typed_fields(kind, &values);
    let event = match LedgerEvent::from_fields(
        kind,
        typed.iter().map(|(name, text)| (*name, text.as_str())),
    ) {
        Ok(event) => event,
        Err(error) => {
            let mut errors = FieldErrors::new();
            let notice = match field_of(kind, &error.field) {
                Some(field) => {
                    errors.insert(
                        field.to_owned(),
                        field_message(&error.field, field, error.reason_for(lang == Lang::Ja)),
                    );
                    words.not_saved.to_owned()
                }
                None => format!("{} {}", words.not_saved, error),
            };
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, errors, &notice);
        }
    };
    let provenance = values
        .get(PROVENANCE)
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    let options = RecordOptions {
        idempotency_key: Some(key.clone()),
        provenance,
        outside_plans: false,
    };
    match web.ledger.record(&actor, event, options).await {
        Ok(envelope) => Ok(Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(
                header::LOCATION,
                layout::href(
                    &format!("/workbench/record/saved/{}", envelope.event_id),
                    lang,
                ),
            )
            .finish()),
        Err(error) => {
            let mut errors = FieldErrors::new();
            let field = error
                .field()
                .and_then(|named| field_of(kind, named).map(|field| (named, field)));
            let (status, notice) = match field {
                Some((named, field)) => {
                    let reason = error
                        .field_reason()
                        .map_or_else(|| error.to_string(), str::to_owned);
                    errors.insert(field.to_owned(), field_message(named, field, &reason));
                    (StatusCode::UNPROCESSABLE_ENTITY, words.not_saved.to_owned())
                }
                None if error.field() == Some("idempotencyKey") => {
                    (StatusCode::CONFLICT, words.form_used_otherwise.to_owned())
                }
                None if error.is_storage_failure() => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("{} {error}", words.not_saved),
                ),
                None => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{} {error}", words.not_saved),
                ),
            };
            refuse(status, errors, &notice)
        }
    }
}

/// The message beside `field`: the reason, prefixed by the inner path when the error is
/// about a part of it (`replacement.title: is required`).
fn field_message(named: &str, field: &str, reason: &str) -> String {
    if named == field {
        reason.to_owned()
    } else {
        format!("{named}: {reason}")
    }
}

#[handler]
pub async fn saved(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path(id): Path<String>,
    Query(query): Query<LangQuery>,
) -> poem::Result<Response> {
    let lang = lang_of(query.lang.as_deref())?;
    let here = layout::here(super::MOUNT, req);
    let visitor = visitor_or_sign_in(&web, req, lang)?;
    let id: uuid::Uuid = id
        .parse()
        .map_err(|_| crate::access::not_found("no such event"))?;
    let envelope = match web.ledger.event(id) {
        Ok(Some((envelope, _))) => envelope,
        Ok(None) => return Err(crate::access::not_found("no such event")),
        Err(error) if error.is_storage_failure() => {
            return Err(crate::access::storage_unavailable(&error))
        }
        Err(error) => {
            tracing::error!(%error, %id, "cannot read a recorded event");
            return Err(crate::access::not_found("cannot read the event"));
        }
    };
    let words = RecWords::of(lang);
    let kind = EventKind::from_name(&envelope.event_type);
    let kind_label = kind.map_or(envelope.event_type.as_str(), |kind| {
        label(LedgerEvent::kind_info(kind).label, lang)
    });
    let cells = moved::cells(&web, &envelope, lang).await?;
    let body = html! {
        h1 { (words.saved_title) }
        p.notice #saved role="status" { (words.saved_intro) }
        dl.facts {
            dt { (WbWords::of(lang).col_kind) } dd { (kind_label) }
            dt { (WbWords::of(lang).position) } dd #saved-position { (envelope.position) }
            dt { (WbWords::of(lang).event_id) } dd { code #saved-id { (envelope.event_id) } }
        }
        p { a #open-event href=(layout::href(&format!("/workbench/events/{}", envelope.event_id), lang)) { (words.open_event) } }
        h2 { (words.moved_cells) }
        (moved::table(&cells, lang))
        @if let Some(kind) = kind {
            p { a href=(layout::href(&format!("/workbench/record/{}", kind.name()), lang)) { (words.record_another) } }
        }
    };
    Ok(layout::respond(
        StatusCode::OK,
        layout::page(&here, lang, Some(&visitor), words.saved_title, body),
    ))
}
