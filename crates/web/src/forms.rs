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

use maud::{html, Markup};
use rand::RngCore;

use crate::session::{Visitor, CSRF_FIELD};

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
