//! What every workbench form shares: the hidden CSRF field, the idempotency key made when
//! the form is rendered, and the domain's message beside the field it names.
//!
//! ```ignore
//! // rendering (GET): the key is made now, so a resend of this page's form is one write
//! form method="post" action=(...) {
//!     (forms::csrf_field(&visitor))
//!     (forms::idempotency_field(&key))      // key: forms::new_idempotency_key() or the posted one
//!     (forms::text_field("reason", label, value, errors.get("reason")))
//! }
//! // receiving (POST): session::authorise_post(&web, &req, &form.csrf, Role::Recorder)?,
//! // then RecordOptions { idempotency_key: Some(form.idempotency_key), .. }
//! ```

use std::collections::BTreeMap;

use kpi_domain::event::{FieldInfo, FieldType};
use maud::{html, Markup};
use rand::RngCore;

use crate::session::{Visitor, CSRF_FIELD};
use crate::words::Lang;
use crate::workbench::label;

/// The name of the hidden field holding a form's idempotency key.
pub const IDEMPOTENCY_FIELD: &str = "idempotency_key";

/// Messages by form field name (`reason`, `f.participants.unique`).
pub type FieldErrors = BTreeMap<String, String>;

/// The hidden field carrying the visitor's CSRF token.
pub fn csrf_field(visitor: &Visitor) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(visitor.csrf_token()); }
}

/// A fresh idempotency key for a form being rendered: `web:` and 128 random bits in hex.
pub fn new_idempotency_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("web:{hex}")
}

/// The hidden field carrying a form's idempotency key.
pub fn idempotency_field(key: &str) -> Markup {
    html! { input type="hidden" name=(IDEMPOTENCY_FIELD) value=(key); }
}

/// A message beside the field `id` it is about (referred to by `aria-describedby`).
pub fn error_of(id: &str, error: Option<&String>) -> Markup {
    html! {
        @if let Some(error) = error {
            span.field-error id=(format!("{id}-error")) role="alert" { (error) }
        }
    }
}

/// A labelled input; `kind` is the input type (`text`, `date`, `number`).
pub fn input_field(
    name: &str,
    kind: &str,
    label: &str,
    hint: Option<&str>,
    value: &str,
    required: bool,
    error: Option<&String>,
) -> Markup {
    let id = field_id(name);
    let described = match (hint.is_some(), error.is_some()) {
        (_, true) => Some(format!("{id}-error")),
        (true, false) => Some(format!("{id}-hint")),
        (false, false) => None,
    };
    html! {
        div.field.invalid[error.is_some()] {
            label for=(id) { (label) }
            @if let Some(hint) = hint { span.hint id=(format!("{id}-hint")) { (hint) } }
            input type=(kind) id=(id) name=(name) value=(value) required[required]
                aria-invalid=[error.map(|_| "true")] aria-describedby=[described];
            (error_of(&id, error))
        }
    }
}

/// The input of one catalogue field, named `name` (e.g. `f.participants.unique`): its label
/// and help in the page's language, a list for a field of few values, a text area for a
/// document, else a text box (dates typed western or in 和暦, read by the domain).
pub fn catalogue_field(
    field: &FieldInfo,
    name: &str,
    value: &str,
    error: Option<&String>,
    lang: Lang,
) -> Markup {
    let id = field_id(name);
    let help = match lang {
        Lang::Ja => field.help_ja,
        Lang::En => field.doc,
    };
    let described = if error.is_some() {
        format!("{id}-error {id}-hint")
    } else {
        format!("{id}-hint")
    };
    let numeric = field.ty.is_numeric() || field.ty == FieldType::FiscalYear;
    html! {
        div.field.invalid[error.is_some()] {
            label for=(id) {
                (label(field.label, lang))
                @if field.required { " " abbr.required title=(match lang { Lang::Ja => "必須", Lang::En => "required" }) { "*" } }
            }
            span.hint id=(format!("{id}-hint")) { (help) }
            @match field.ty.choices() {
                Some(choices) => {
                    select id=(id) name=(name) required[field.required]
                        aria-invalid=[error.map(|_| "true")] aria-describedby=(described) {
                        option value="" { "—" }
                        @for choice in choices {
                            option value=(choice.value) selected[value == choice.value] { (label(choice.label, lang)) }
                        }
                    }
                }
                None if matches!(field.ty, FieldType::Document | FieldType::Payload) => {
                    textarea id=(id) name=(name) rows="6" required[field.required]
                        aria-invalid=[error.map(|_| "true")] aria-describedby=(described) { (value) }
                }
                None => {
                    input type="text" id=(id) name=(name) value=(value) required[field.required]
                        inputmode=[numeric.then_some("numeric")]
                        aria-invalid=[error.map(|_| "true")] aria-describedby=(described);
                }
            }
            (error_of(&id, error))
        }
    }
}

/// A payload value as a form shows it: text as is, numbers and yes/no as written, absent as
/// nothing.
pub fn text_of(value: Option<&serde_json::Value>) -> String {
    match value {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// The value at a dotted path (`participants.unique`) of a payload.
pub fn at_path<'a>(payload: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.')
        .try_fold(payload, |value, key| value.get(key))
}

/// An element id for a form field name (`f.participants.unique` -> `f-participants-unique`).
pub fn field_id(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Percent-encodes `text` for a query value.
pub fn url_encode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|pair| pair.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fresh_and_ids_are_plain() {
        let key = new_idempotency_key();
        assert!(key.starts_with("web:") && key.len() == 4 + 32, "{key}");
        assert_ne!(key, new_idempotency_key());
        assert_eq!(field_id("f.participants.unique"), "f-participants-unique");
        assert_eq!(
            url_encode("/workbench/events?kind=seminar"),
            "%2Fworkbench%2Fevents%3Fkind%3Dseminar"
        );
    }
}
