//! The one error type of the event boundary: which field, and why.

use std::fmt;

/// Bad input, naming the field (a dotted path such as `participants.unique`) and the reason.
/// Nothing is recorded when this is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    /// The reason in English: what APIs, the CLI and logs say.
    pub reason: String,
    /// The same reason in Japanese, where a clerk's form can meet it (the workbench shows it
    /// beside the field); `None` where only an API or a plan file can.
    pub reason_ja: Option<String>,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
            reason_ja: None,
        }
    }

    /// This error with its reason in Japanese too.
    pub fn ja(mut self, reason: impl Into<String>) -> Self {
        self.reason_ja = Some(reason.into());
        self
    }

    /// The reason to show a reader of Japanese (`japanese`) or English: the Japanese one
    /// when there is one, else the English.
    pub fn reason_for(&self, japanese: bool) -> &str {
        match &self.reason_ja {
            Some(reason) if japanese => reason,
            _ => &self.reason,
        }
    }

    /// The same error seen from an enclosing object: `replacement` + `title` →
    /// `replacement.title`.
    pub fn nested_in(self, parent: &str) -> Self {
        let field = if self.field.is_empty() || self.field == "." || self.field == "payload" {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.field)
        };
        Self { field, ..self }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.reason)
    }
}

impl std::error::Error for ValidationError {}

/// Turns a serde error with its path into a field-naming error. Serde reports a missing
/// field at its parent's path with the name inside the message, so that case is rewritten
/// to name the field itself.
pub(crate) fn from_serde_path(
    error: serde_path_to_error::Error<serde_json::Error>,
) -> ValidationError {
    let path = error.path().to_string();
    let message = error.inner().to_string();
    let message = strip_position(&message);
    if path.starts_with('[') {
        return ValidationError::new("payload", "must be a JSON object with named fields");
    }
    let parent = if path == "." { String::new() } else { path };
    if let Some(name) = backticked_after(message, "missing field ") {
        let field = join(&parent, name);
        return ValidationError::new(field, "is required").ja("入力してください（必須の項目です）");
    }
    if let Some(name) = backticked_after(message, "unknown field ") {
        let field = if parent.ends_with(name) {
            parent.clone()
        } else {
            join(&parent, name)
        };
        let expected = message
            .split_once(", expected ")
            .map(|(_, rest)| format!("; expected {rest}"))
            .unwrap_or_default();
        return ValidationError::new(field, format!("is not a field of this event{expected}"));
    }
    let field = if parent.is_empty() {
        "payload".to_owned()
    } else {
        parent
    };
    let error = ValidationError::new(field, message.to_owned());
    match crate::values::japanese_of_refusal(message) {
        Some(japanese) => error.ja(japanese),
        None => error,
    }
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

fn backticked_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split_once('`').map(|(name, _)| name)
}

/// serde_json appends " at line 1 column 42", which means nothing to someone filling a form.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(index) if message[index..].contains(" column ") => &message[..index],
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_field_and_the_reason() {
        let error = ValidationError::new("sessions", "must be at least 1");
        assert_eq!(error.to_string(), "field `sessions`: must be at least 1");
        assert_eq!(
            error.nested_in("replacement").to_string(),
            "field `replacement.sessions`: must be at least 1"
        );
    }
}
