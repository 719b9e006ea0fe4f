//! Correcting and retracting an event from its page. The forms carry the session's CSRF
//! token and an idempotency key made when the page was rendered, so a double submit, a
//! reload or the back button records once. What the clerk typed becomes the domain's
//! commands (`CorrectEvent`, `RetractEvent`; the replacement from typed fields by
//! `LedgerEvent::payload_from_fields`); a refusal is shown beside the field it names, with
//! everything typed kept, and nothing is written.

use std::collections::HashMap;
use std::sync::Arc;

use kpi_domain::calendar::{jst_date, parse_date_input};
use kpi_domain::command::{Command, CorrectEvent, RetractEvent};
use kpi_domain::event::Family;
use kpi_domain::{EventKindInfo, LedgerEvent, ValidationError};
use kpi_service::auth::Role;
use kpi_service::{RecordError, RecordOptions};
use maud::{html, Markup};
use poem::http::{header, StatusCode};
use poem::web::{Data, Form, Path};
use poem::{handler, Request, Response};
use uuid::Uuid;

use super::event_page::{event_id, load, render, Attempt, Forms};
use super::lang_of;
use super::words::WbWords;
use crate::access::bad_request;
use crate::forms::{self, IDEMPOTENCY_FIELD};
use crate::layout;
use crate::session::{authorise_post, Visitor, CSRF_FIELD};
use crate::words::Lang;
use crate::Web;

/// The prefix of the replacement's fields on the correct form: `f.participants.unique`.
const FIELD_PREFIX: &str = "f.";

/// The correct form: every field of the kind, filled with the values in force (or those just
/// typed), reason, decision date and provenance.
pub(super) fn correct_form(
    visitor: &Visitor,
    lang: Lang,
    id: Uuid,
    info: &EventKindInfo,
    current: &serde_json::Value,
    attempt: Option<Attempt>,
) -> Markup {
    let wb = WbWords::of(lang);
    let attempt = attempt.unwrap_or_default();
    let key = fresh_key(&attempt);
    let value = |name: &str, default: String| attempt.values.get(name).cloned().unwrap_or(default);
    html! {
        section.amend #correct {
            h2 { (wb.correct_title) }
            p.help { (wb.correct_help) }
            (general(&attempt, wb))
            form.stacked #correct-form method="post" action=(format!("/workbench/events/{id}/correct")) {
                (forms::csrf_field(visitor))
                (forms::idempotency_field(&key))
                @if let Some(lang) = lang.param() { input type="hidden" name="lang" value=(lang); }
                @for field in info.fields {
                    @let name = format!("{FIELD_PREFIX}{}", field.name);
                    @let shown = value(&name, forms::text_of(forms::at_path(current, field.name)));
                    (forms::catalogue_field(field, &name, &shown, attempt.errors.get(&name), lang))
                }
                (decision_fields("correct", &attempt, wb))
                button type="submit" { (wb.save_correction) }
            }
        }
    }
}

/// The retract form: reason and decision date.
pub(super) fn retract_form(
    visitor: &Visitor,
    lang: Lang,
    id: Uuid,
    attempt: Option<Attempt>,
) -> Markup {
    let wb = WbWords::of(lang);
    let attempt = attempt.unwrap_or_default();
    let key = fresh_key(&attempt);
    html! {
        section.amend #retract {
            h2 { (wb.retract_title) }
            p.help { (wb.retract_help) }
            (general(&attempt, wb))
            form.stacked #retract-form method="post" action=(format!("/workbench/events/{id}/retract")) {
                (forms::csrf_field(visitor))
                (forms::idempotency_field(&key))
                @if let Some(lang) = lang.param() { input type="hidden" name="lang" value=(lang); }
                (decision_fields("retract", &attempt, wb))
                button.danger type="submit" { (wb.save_retraction) }
            }
        }
    }
}

/// The key of a form being shown again after a refusal (nothing was written with it), else
/// a new one.
fn fresh_key(attempt: &Attempt) -> String {
    if attempt.key.is_empty() {
        forms::new_idempotency_key()
    } else {
        attempt.key.clone()
    }
}

fn general(attempt: &Attempt, wb: &WbWords) -> Markup {
    html! {
        @if !attempt.errors.is_empty() || attempt.general.is_some() {
            div.notice.error role="alert" {
                p { (wb.not_saved) }
                @if let Some(general) = &attempt.general { p.general-error { (general) } }
            }
        }
    }
}

/// Reason, decision date (today in Japan unless typed) and, on the correct form, provenance;
/// ids prefixed with the form's name so both forms share a page.
fn decision_fields(form: &str, attempt: &Attempt, wb: &WbWords) -> Markup {
    let value = |name: &str| attempt.values.get(name).cloned();
    let today = jst_date(chrono::Utc::now()).to_string();
    let named = |name: &str| format!("{form}.{name}");
    html! {
        (forms::input_field(&named("reason"), "text", wb.reason, None,
            &value(&named("reason")).unwrap_or_default(), true, attempt.errors.get(&named("reason"))))
        (forms::input_field(&named("decided_on"), "text", wb.decided_on, Some("2025-04-10 / 令和7年4月10日"),
            &value(&named("decided_on")).unwrap_or(today), true, attempt.errors.get(&named("decided_on"))))
        @if form == "correct" {
            (forms::input_field(&named("provenance"), "text", wb.provenance, None,
                &value(&named("provenance")).unwrap_or_default(), false, None))
        }
    }
}

/// A posted form, field by field.
struct Posted(HashMap<String, String>);

impl Posted {
    fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    fn lang(&self) -> poem::Result<Lang> {
        lang_of(self.0.get("lang").map(String::as_str))
    }

    fn key(&self) -> poem::Result<String> {
        let key = self.get(IDEMPOTENCY_FIELD).trim();
        if key.is_empty() || key.len() > 100 {
            return Err(bad_request(
                IDEMPOTENCY_FIELD,
                "missing: send the form as the page gave it",
            ));
        }
        Ok(key.to_owned())
    }

    /// A decision date as typed (western or 和暦), written as the command takes it; text
    /// that does not read is handed on for the domain to name.
    fn decided_on(&self, form: &str) -> String {
        let typed = self.get(&format!("{form}.decided_on")).trim();
        parse_date_input(typed).map_or_else(|_| typed.to_owned(), |date| date.to_string())
    }
}

/// The attempt to show again: everything typed, and where the refusal points.
fn refused(
    posted: Posted,
    key: String,
    form: &str,
    field: Option<&str>,
    reason: String,
) -> Attempt {
    let mut attempt = Attempt {
        key,
        ..Attempt::default()
    };
    // The replacement's fields are `replacement.X` to the command and `f.X` on the form.
    let name = field.map(|field| match field.strip_prefix("replacement.") {
        Some(inner) => format!("{FIELD_PREFIX}{inner}"),
        None if matches!(field, "reason" | "decided_on" | "provenance") => {
            format!("{form}.{field}")
        }
        None => format!("{FIELD_PREFIX}{field}"),
    });
    match name.filter(|name| posted.0.contains_key(name)) {
        Some(name) => {
            attempt.errors.insert(name, reason);
        }
        None => {
            attempt.general = Some(match field {
                Some(field) => format!("{field}: {reason}"),
                None => reason,
            })
        }
    }
    attempt.values = posted.0;
    attempt
}

fn validation(
    posted: Posted,
    key: String,
    form: &str,
    error: ValidationError,
    lang: Lang,
) -> Attempt {
    let reason = error.reason_for(lang == Lang::Ja).to_owned();
    refused(posted, key, form, Some(&error.field), reason)
}

fn record_error(
    posted: Posted,
    key: String,
    form: &str,
    error: RecordError,
) -> poem::Result<Attempt> {
    if error.is_storage_failure() {
        return Err(crate::access::storage_unavailable(&error));
    }
    let field = error.field().map(str::to_owned);
    let reason = error
        .field_reason()
        .map_or_else(|| error.to_string(), str::to_owned);
    Ok(refused(posted, key, form, field.as_deref(), reason))
}

/// Back to the event's page, saying what was recorded.
fn saved(id: Uuid, amendment: Uuid, lang: Lang) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(
            header::LOCATION,
            layout::href(&format!("/workbench/events/{id}?saved={amendment}"), lang),
        )
        .finish()
}

/// The page again with the refused form, 422, nothing written.
fn again(web: &Web, req: &Request, lang: Lang, id: Uuid, forms: Forms) -> poem::Result<Response> {
    let visitor = crate::session::visitor(web, req)?;
    let page = render(web, req, &visitor, lang, id, forms, None)?;
    Ok(layout::respond(StatusCode::UNPROCESSABLE_ENTITY, page))
}

#[handler]
pub async fn correct(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> poem::Result<Response> {
    let posted = Posted(fields.into_iter().collect());
    let lang = posted.lang()?;
    let caller = authorise_post(&web, req, posted.get(CSRF_FIELD), Role::Recorder)?;
    let id = event_id(&id)?;
    let key = posted.key()?;
    let (_, target) = load(&web, id)?;
    let kind = target.event.kind();
    if kind.family() != Family::Activity {
        return Err(bad_request("target", "only an activity is corrected"));
    }
    let typed: Vec<(&str, &str)> = posted
        .0
        .iter()
        .filter_map(|(name, text)| Some((name.strip_prefix(FIELD_PREFIX)?, text.as_str())))
        .collect();
    let attempt = match LedgerEvent::payload_from_fields(kind, typed) {
        Err(error) => Some(validation(posted, key, "correct", error, lang)),
        Ok(replacement) => {
            let command = CorrectEvent {
                target: id.to_string(),
                replacement_kind: kind,
                replacement,
                reason: posted.get("correct.reason").trim().to_owned(),
                decided_on: posted.decided_on("correct"),
            };
            let provenance = Some(posted.get("correct.provenance").trim())
                .filter(|text| !text.is_empty())
                .map(str::to_owned);
            match command.parse() {
                Err(error) => Some(validation(posted, key, "correct", error, lang)),
                Ok(event) => {
                    let options = RecordOptions {
                        idempotency_key: Some(key.clone()),
                        provenance,
                        outside_plans: false,
                    };
                    let actor = caller.actor().unwrap_or_default();
                    match web.ledger.record(actor, event, options).await {
                        Ok(envelope) => return Ok(saved(id, envelope.event_id, lang)),
                        Err(error) => Some(record_error(posted, key, "correct", error)?),
                    }
                }
            }
        }
    };
    let forms = Forms {
        correct: attempt,
        retract: None,
    };
    again(&web, req, lang, id, forms)
}

#[handler]
pub async fn retract(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> poem::Result<Response> {
    let posted = Posted(fields.into_iter().collect());
    let lang = posted.lang()?;
    let caller = authorise_post(&web, req, posted.get(CSRF_FIELD), Role::Recorder)?;
    let id = event_id(&id)?;
    let key = posted.key()?;
    load(&web, id)?;
    let command = RetractEvent {
        target: id.to_string(),
        reason: posted.get("retract.reason").trim().to_owned(),
        decided_on: posted.decided_on("retract"),
    };
    let attempt = match command.parse() {
        Err(error) => validation(posted, key, "retract", error, lang),
        Ok(event) => {
            let options = RecordOptions {
                idempotency_key: Some(key.clone()),
                ..RecordOptions::default()
            };
            let actor = caller.actor().unwrap_or_default();
            match web.ledger.record(actor, event, options).await {
                Ok(envelope) => return Ok(saved(id, envelope.event_id, lang)),
                Err(error) => record_error(posted, key, "retract", error)?,
            }
        }
    };
    let forms = Forms {
        correct: None,
        retract: Some(attempt),
    };
    again(&web, req, lang, id, forms)
}

/// Field names of a form as the tests and the page use them.
#[cfg(test)]
mod tests {
    use super::*;

    fn posted(pairs: &[(&str, &str)]) -> Posted {
        Posted(
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn a_refusal_lands_beside_the_field_it_names() {
        let form = posted(&[("f.participants.unique", "50"), ("correct.reason", "")]);
        let attempt = refused(
            form,
            "k".into(),
            "correct",
            Some("replacement.participants.unique"),
            "too many".into(),
        );
        assert_eq!(
            attempt
                .errors
                .get("f.participants.unique")
                .map(String::as_str),
            Some("too many")
        );
        let form = posted(&[("correct.reason", "")]);
        let attempt = refused(
            form,
            "k".into(),
            "correct",
            Some("reason"),
            "is required".into(),
        );
        assert_eq!(
            attempt.errors.get("correct.reason").map(String::as_str),
            Some("is required")
        );
        let form = posted(&[("retract.reason", "x")]);
        let attempt = refused(
            form,
            "k".into(),
            "retract",
            Some("target"),
            "already retracted".into(),
        );
        assert!(attempt.errors.is_empty());
        assert_eq!(
            attempt.general.as_deref(),
            Some("target: already retracted")
        );
        assert_eq!(attempt.key, "k", "the same key, as nothing was written");
    }

    #[test]
    fn decision_dates_are_read_western_or_in_wareki() {
        let form = posted(&[("retract.decided_on", "令和7年4月10日")]);
        assert_eq!(form.decided_on("retract"), "2025-04-10");
        let form = posted(&[("retract.decided_on", "someday")]);
        assert_eq!(
            form.decided_on("retract"),
            "someday",
            "left for the domain to name"
        );
    }
}
