//! Token settings that change while the server runs: every route reads the [`Authenticator`]
//! in force per request, and a reload (SIGHUP, in the binary) replaces it whole. Open
//! websockets watch for replacements and close when their token no longer admits them.

use std::fmt;
use std::sync::Arc;

use kpi_access::Role;
use tokio::sync::watch;

use crate::auth::{Authenticator, TokenConfigError};
use crate::config::{ServerConfig, TokenName};

/// The token settings in force, shared by every route and replaced whole by a reload. A
/// request reads them once, when it arrives; a websocket is re-judged after each replacement.
#[derive(Clone)]
pub struct AuthHandle(watch::Sender<Arc<Authenticator>>);

impl AuthHandle {
    pub fn new(auth: Authenticator) -> Self {
        Self(watch::Sender::new(Arc::new(auth)))
    }

    /// The settings in force now.
    pub fn current(&self) -> Arc<Authenticator> {
        self.0.borrow().clone()
    }

    /// Notified of every replacement.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<Authenticator>> {
        self.0.subscribe()
    }

    /// Puts `next` in force for every later request and every open websocket, and says what
    /// changed. Settings equal to those in force are not replaced.
    pub fn replace(&self, next: Authenticator) -> TokenChanges {
        let mut changes = TokenChanges::default();
        self.0.send_if_modified(|current| {
            changes = TokenChanges::between(current, &next);
            if changes.is_empty() {
                return false;
            }
            *current = Arc::new(next);
            true
        });
        changes
    }

    /// Rebuilds the token settings from `config` (reading its tokens file) and puts them in
    /// force; on any error the settings in force are kept.
    pub fn reload(&self, config: &ServerConfig) -> Result<TokenChanges, TokenConfigError> {
        Ok(self.replace(Authenticator::from_config(config)?))
    }
}

/// What a reload changed, by token name (never a hash).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TokenChanges {
    pub added: Vec<(TokenName, Role)>,
    pub revoked: Vec<TokenName>,
    /// Name, role before, role after.
    pub role_changed: Vec<(TokenName, Role, Role)>,
    /// The same name with another token (its old token is revoked).
    pub replaced_secret: Vec<TokenName>,
    /// The new value, when it changed.
    pub anonymous_read: Option<bool>,
    /// Whether the token of `/metrics` changed (set, replaced or removed).
    pub metrics_token: bool,
}

impl TokenChanges {
    pub fn between(before: &Authenticator, after: &Authenticator) -> Self {
        let mut changes = TokenChanges::default();
        for entry in after.entries() {
            match before.entries().iter().find(|old| old.name == entry.name) {
                None => changes.added.push((entry.name.clone(), entry.role)),
                Some(old) => {
                    if old.role != entry.role {
                        changes
                            .role_changed
                            .push((entry.name.clone(), old.role, entry.role));
                    }
                    if old.sha256 != entry.sha256 {
                        changes.replaced_secret.push(entry.name.clone());
                    }
                }
            }
        }
        changes.revoked = before
            .entries()
            .iter()
            .filter(|old| !after.entries().iter().any(|new| new.name == old.name))
            .map(|old| old.name.clone())
            .collect();
        if before.anonymous_read() != after.anonymous_read() {
            changes.anonymous_read = Some(after.anonymous_read());
        }
        changes.metrics_token = before.metrics_token() != after.metrics_token();
        changes
    }

    pub fn is_empty(&self) -> bool {
        *self == TokenChanges::default()
    }
}

/// One line for the log: `added clerk (recorder); revoked night; ...`, or `nothing changed`.
impl fmt::Display for TokenChanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        let list = |items: Vec<String>| items.join(", ");
        if !self.added.is_empty() {
            let added = self.added.iter();
            parts.push(format!(
                "added {}",
                list(
                    added
                        .map(|(name, role)| format!("{name} ({role})"))
                        .collect()
                )
            ));
        }
        if !self.revoked.is_empty() {
            let revoked = self.revoked.iter().map(ToString::to_string);
            parts.push(format!("revoked {}", list(revoked.collect())));
        }
        for (name, before, after) in &self.role_changed {
            parts.push(format!("{name}: role {before} -> {after}"));
        }
        if !self.replaced_secret.is_empty() {
            let names = self.replaced_secret.iter().map(ToString::to_string);
            parts.push(format!("new token for {}", list(names.collect())));
        }
        if let Some(on) = self.anonymous_read {
            parts.push(format!("anonymous_read {}", if on { "on" } else { "off" }));
        }
        if self.metrics_token {
            parts.push("metrics token changed".to_owned());
        }
        if parts.is_empty() {
            f.write_str("nothing changed")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::new_token;
    use crate::config::TokenHash;

    fn config(tokens: &[&crate::IssuedToken]) -> ServerConfig {
        ServerConfig {
            tokens: tokens.iter().map(|issued| issued.entry.clone()).collect(),
            ..ServerConfig::default()
        }
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    #[test]
    fn a_reload_adds_revokes_and_says_what_changed_by_name() {
        let admin = new_token(Role::Admin, "ops").unwrap();
        let night = new_token(Role::Reader, "night").unwrap();
        let clerk = new_token(Role::Recorder, "clerk").unwrap();
        let handle =
            AuthHandle::new(Authenticator::from_config(&config(&[&admin, &night])).unwrap());
        let mut watcher = handle.subscribe();

        let mut next = config(&[&admin, &clerk]);
        next.tokens[0].role = Role::Recorder;
        next.anonymous_read = true;
        next.metrics_token_sha256 = Some(TokenHash([1; 32]));
        let changes = handle.reload(&next).unwrap();
        assert_eq!(changes.added, [(clerk.entry.name.clone(), Role::Recorder)]);
        assert_eq!(changes.revoked, std::slice::from_ref(&night.entry.name));
        assert_eq!(
            changes.role_changed,
            [(admin.entry.name.clone(), Role::Admin, Role::Recorder)]
        );
        assert_eq!(changes.anonymous_read, Some(true));
        assert!(changes.metrics_token);
        let line = changes.to_string();
        assert_eq!(
            line,
            "added clerk (recorder); revoked night; ops: role admin -> recorder; \
             anonymous_read on; metrics token changed"
        );
        for issued in [&admin, &night, &clerk] {
            assert!(!line.contains(&issued.entry.sha256.to_hex()[..8]), "{line}");
        }
        assert!(watcher.has_changed().unwrap(), "open websockets are told");

        let auth = handle.current();
        assert!(auth.from_header(Some(&bearer(&clerk.token))).is_ok());
        assert!(auth.from_header(Some(&bearer(&night.token))).is_err());

        // The same settings again: nothing is replaced, no websocket is woken.
        watcher.mark_unchanged();
        let again = handle.reload(&next).unwrap();
        assert!(again.is_empty());
        assert_eq!(again.to_string(), "nothing changed");
        assert!(!watcher.has_changed().unwrap());
    }

    #[test]
    fn a_new_secret_under_the_same_name_revokes_the_old_one() {
        let first = new_token(Role::Recorder, "clerk").unwrap();
        let second = new_token(Role::Recorder, "clerk").unwrap();
        let handle = AuthHandle::new(Authenticator::from_config(&config(&[&first])).unwrap());
        let changes = handle.reload(&config(&[&second])).unwrap();
        assert_eq!(
            changes.replaced_secret,
            std::slice::from_ref(&second.entry.name)
        );
        assert_eq!(changes.to_string(), "new token for clerk");
        let auth = handle.current();
        assert!(auth.from_header(Some(&bearer(&first.token))).is_err());
        assert!(auth.from_header(Some(&bearer(&second.token))).is_ok());
    }

    #[test]
    fn an_invalid_reload_keeps_the_settings_in_force() {
        let clerk = new_token(Role::Recorder, "clerk").unwrap();
        let handle = AuthHandle::new(Authenticator::from_config(&config(&[&clerk])).unwrap());
        let watcher = handle.subscribe();

        let twice = config(&[&clerk, &new_token(Role::Admin, "clerk").unwrap()]);
        assert!(matches!(
            handle.reload(&twice),
            Err(TokenConfigError::DuplicateName(name)) if name == "clerk"
        ));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens.toml");
        std::fs::write(&file, "[[tokens]]\nname = \"x\"\n").unwrap();
        let broken = ServerConfig {
            tokens_file: Some(file),
            ..ServerConfig::default()
        };
        let err = handle.reload(&broken).unwrap_err().to_string();
        assert!(err.contains("tokens.toml") && err.contains("role"), "{err}");

        assert!(!watcher.has_changed().unwrap());
        assert!(handle
            .current()
            .from_header(Some(&bearer(&clerk.token)))
            .is_ok());
    }
}
