//! Bearer-token authentication: turns an `Authorization` header (or a websocket
//! `connection_init` payload) into a [`Caller`]. What each role may do is decided elsewhere
//! (`kpi_access`); this module only establishes who is calling.

use std::collections::HashSet;
use std::path::PathBuf;

use kpi_access::{Caller, Role};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{ServerConfig, TokenEntry, TokenHash, TokenName};
use crate::tokens_file;

/// Why a presented credential was refused. Absence of a credential is not a failure: it makes
/// the caller anonymous.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("the Authorization header must be `Bearer <token>`")]
    MalformedHeader,
    #[error("unknown or revoked bearer token")]
    UnknownToken,
}

/// A configuration that cannot authenticate anyone unambiguously, or a tokens file that
/// cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenConfigError {
    #[error(
        "server.tokens: the token name `{0}` is configured twice (server.tokens and \
         server.tokens_file together); each token needs its own name"
    )]
    DuplicateName(String),
    #[error("server.tokens: `{0}` and `{1}` have the same sha256, so the token could not tell who is calling")]
    DuplicateHash(String, String),
    #[error("server.tokens_file {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
}

/// What the server says, at start-up and after a reload, when it would refuse every caller.
pub const NO_TOKEN_HINT: &str = "no bearer token is configured and anonymous_read is off, so \
    every GraphQL read and write is refused as unauthenticated. Make the first admin token with \
    `kpi-ledger token add --role admin --name admin` (it writes server.tokens_file; in the \
    container: `docker compose exec kpi-ledger kpi-ledger token add --role admin --name admin`) \
    or `kpi-ledger token new --role admin --name admin` (paste its block into the configuration), \
    then send the server SIGHUP (`docker compose kill -s SIGHUP kpi-ledger`)";

/// The token settings in force: the tokens (from the configuration and the tokens file),
/// whether anonymous callers may read, and the token of `/metrics`. Immutable: a reload
/// builds a new one ([`crate::AuthHandle`]).
#[derive(Debug, Clone)]
pub struct Authenticator {
    tokens: Vec<TokenEntry>,
    anonymous_read: bool,
    metrics_token: Option<TokenHash>,
}

/// Whom a long-lived connection (a websocket) or a browser session (kpi-web) was admitted as:
/// the caller, and for a token the SHA-256 it presented (never the token), so that after a
/// reload the server can tell whether the same token would still be admitted, and as what
/// ([`Authenticator::revocation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub caller: Caller,
    sha256: Option<TokenHash>,
}

impl Authenticator {
    pub fn new(tokens: &[TokenEntry], anonymous_read: bool) -> Result<Self, TokenConfigError> {
        let mut names = HashSet::new();
        for (index, entry) in tokens.iter().enumerate() {
            if !names.insert(entry.name.as_str()) {
                return Err(TokenConfigError::DuplicateName(entry.name.to_string()));
            }
            if let Some(earlier) = tokens[..index].iter().find(|e| e.sha256 == entry.sha256) {
                return Err(TokenConfigError::DuplicateHash(
                    earlier.name.to_string(),
                    entry.name.to_string(),
                ));
            }
        }
        Ok(Self {
            tokens: tokens.to_vec(),
            anonymous_read,
            metrics_token: None,
        })
    }

    /// The token settings of `config`: `tokens` and the entries of `tokens_file` together,
    /// `anonymous_read` and `metrics_token_sha256`. Reads the tokens file.
    pub fn from_config(config: &ServerConfig) -> Result<Self, TokenConfigError> {
        let mut tokens = config.tokens.clone();
        if let Some(path) = &config.tokens_file {
            tokens.extend(tokens_file::read(path)?);
        }
        Ok(Self::new(&tokens, config.anonymous_read)?
            .with_metrics_token(config.metrics_token_sha256))
    }

    /// `/metrics` then answers only the bearer token whose SHA-256 is `sha256`.
    pub fn with_metrics_token(mut self, sha256: Option<TokenHash>) -> Self {
        self.metrics_token = sha256;
        self
    }

    pub fn entries(&self) -> &[TokenEntry] {
        &self.tokens
    }

    pub fn anonymous_read(&self) -> bool {
        self.anonymous_read
    }

    pub fn metrics_token(&self) -> Option<&TokenHash> {
        self.metrics_token.as_ref()
    }

    /// Whether every caller would be refused: no token, and no anonymous read.
    pub fn admits_no_one(&self) -> bool {
        self.tokens.is_empty() && !self.anonymous_read
    }

    pub fn anonymous(&self) -> Caller {
        Caller::Anonymous {
            may_read: self.anonymous_read,
        }
    }

    /// The caller named by an `Authorization` header value; no header means anonymous.
    pub fn from_header(&self, header: Option<&str>) -> Result<Caller, AuthFailure> {
        self.admit_header(header).map(|admission| admission.caller)
    }

    /// The caller holding `token`.
    pub fn from_token(&self, token: &str) -> Result<Caller, AuthFailure> {
        self.admit_token(token).map(|admission| admission.caller)
    }

    pub(crate) fn admit_header(&self, header: Option<&str>) -> Result<Admission, AuthFailure> {
        let Some(value) = header else {
            return Ok(Admission {
                caller: self.anonymous(),
                sha256: None,
            });
        };
        let token = bearer_token(value).ok_or(AuthFailure::MalformedHeader)?;
        self.admit_token(token)
    }

    /// The admission of the caller holding `token`: the caller and the token's SHA-256.
    pub fn admit_token(&self, token: &str) -> Result<Admission, AuthFailure> {
        let presented = TokenHash(Sha256::digest(token.as_bytes()).into());
        // Every entry is compared, in constant time, so response timing does not reveal how
        // much of a hash matched or where in the list a token sits.
        let mut found = None;
        for entry in &self.tokens {
            if bool::from(entry.sha256.0.ct_eq(&presented.0)) {
                found = Some(entry);
            }
        }
        found
            .map(|entry| Admission {
                caller: Caller::Token {
                    name: entry.name.to_string(),
                    role: entry.role,
                },
                sha256: Some(presented),
            })
            .ok_or(AuthFailure::UnknownToken)
    }

    /// Why a connection admitted as `admission` (under earlier settings) may no longer stay
    /// open under these: its token is gone, now names someone else or has a lower role, or
    /// anonymous read was switched off. `None` while it would be admitted as it was (or with
    /// a higher role: the connection keeps the one it has).
    pub fn revocation(&self, admission: &Admission) -> Option<String> {
        match (&admission.caller, &admission.sha256) {
            (Caller::Anonymous { may_read: true }, _) if !self.anonymous_read => {
                Some("anonymous read was switched off".to_owned())
            }
            (Caller::Anonymous { .. }, _) => None,
            (Caller::Token { name, role }, Some(sha256)) => {
                match self.tokens.iter().find(|entry| entry.sha256 == *sha256) {
                    None => Some(format!("the token `{name}` was revoked")),
                    Some(entry) if entry.name.as_str() != name => {
                        Some(format!("the token `{name}` was revoked"))
                    }
                    Some(entry) if entry.role < *role => Some(format!(
                        "the token `{name}` now has the role {}",
                        entry.role
                    )),
                    Some(_) => None,
                }
            }
            (Caller::Token { name, .. }, None) => {
                Some(format!("the token `{name}` cannot be checked again"))
            }
        }
    }
}

/// Whether an `Authorization` header carries the bearer token whose SHA-256 is `expected`
/// (compared in constant time).
pub(crate) fn bearer_matches(header: Option<&str>, expected: &TokenHash) -> bool {
    header.and_then(bearer_token).is_some_and(|token| {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        bool::from(expected.0.ct_eq(&presented))
    })
}

/// The token of a `Bearer <token>` value; the scheme is case-insensitive (RFC 7235).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A freshly generated token and the configuration entry that admits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The secret to hand to the client; it is not stored anywhere.
    pub token: String,
    /// A TOML `[[server.tokens]]` block to append to the config file; holds only the hash.
    pub config_entry: String,
    pub entry: TokenEntry,
}

/// Generates a random bearer token for `kpi-ledger token new --role R --name N`.
pub fn new_token(role: Role, name: &str) -> Result<IssuedToken, String> {
    let name = TokenName::parse(name)?;
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = format!("kpi_{}", hex::encode(secret));
    let sha256 = TokenHash(Sha256::digest(token.as_bytes()).into());
    let entry = TokenEntry { name, role, sha256 };
    // Serialising through `toml` quotes the name correctly whatever it contains.
    let body =
        toml::to_string(&entry).map_err(|err| format!("cannot write config entry: {err}"))?;
    Ok(IssuedToken {
        token,
        config_entry: format!("[[server.tokens]]\n{body}"),
        entry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator(anonymous_read: bool) -> (Authenticator, String) {
        let issued = new_token(Role::Recorder, "clerk").unwrap();
        let auth = Authenticator::new(std::slice::from_ref(&issued.entry), anonymous_read).unwrap();
        (auth, issued.token)
    }

    #[test]
    fn issued_token_authenticates_and_config_holds_only_its_hash() {
        let issued = new_token(Role::Admin, "ops@fuji").unwrap();
        assert!(!issued.config_entry.contains(&issued.token));
        assert_eq!(issued.token.len(), "kpi_".len() + 64);

        #[derive(serde::Deserialize)]
        struct File {
            server: Section,
        }
        #[derive(serde::Deserialize)]
        struct Section {
            tokens: Vec<TokenEntry>,
        }
        let parsed: File = toml::from_str(&issued.config_entry).unwrap();
        let auth = Authenticator::new(&parsed.server.tokens, false).unwrap();
        assert_eq!(
            auth.from_header(Some(&format!("Bearer {}", issued.token))),
            Ok(Caller::Token {
                name: "ops@fuji".into(),
                role: Role::Admin
            })
        );
        assert_ne!(
            new_token(Role::Admin, "ops@fuji").unwrap().token,
            issued.token
        );
    }

    #[test]
    fn new_token_refuses_bad_names() {
        assert!(new_token(Role::Reader, "").unwrap_err().contains("empty"));
        assert!(new_token(Role::Reader, "a b").unwrap_err().contains("a b"));
    }

    #[test]
    fn headers_map_to_callers() {
        let (auth, token) = authenticator(false);
        assert_eq!(
            auth.from_header(None),
            Ok(Caller::Anonymous { may_read: false })
        );
        assert_eq!(
            authenticator(true).0.from_header(None),
            Ok(Caller::Anonymous { may_read: true })
        );
        assert_eq!(
            auth.from_header(Some(&format!("bearer  {token} "))),
            Ok(Caller::Token {
                name: "clerk".into(),
                role: Role::Recorder
            })
        );
        assert_eq!(
            auth.from_header(Some("Bearer kpi_wrong")),
            Err(AuthFailure::UnknownToken)
        );
        assert_eq!(
            auth.from_header(Some(&format!("Basic {token}"))),
            Err(AuthFailure::MalformedHeader)
        );
        assert_eq!(
            auth.from_header(Some("Bearer")),
            Err(AuthFailure::MalformedHeader)
        );
    }

    #[test]
    fn ambiguous_token_lists_are_refused() {
        let a = new_token(Role::Reader, "a").unwrap().entry;
        let mut same_name = new_token(Role::Admin, "a").unwrap().entry;
        assert!(matches!(
            Authenticator::new(&[a.clone(), same_name.clone()], false),
            Err(TokenConfigError::DuplicateName(name)) if name == "a"
        ));
        same_name.name = TokenName::parse("b").unwrap();
        same_name.sha256 = a.sha256;
        assert!(matches!(
            Authenticator::new(&[a, same_name], false),
            Err(TokenConfigError::DuplicateHash(..))
        ));
    }

    /// A connection is re-judged against new settings by the token it presented, not by the
    /// name it got: a new secret under the same name, a lower role or anonymous read switched
    /// off close it; a higher role or an unrelated change does not.
    #[test]
    fn revocation_follows_the_presented_token() {
        let clerk = new_token(Role::Recorder, "clerk").unwrap();
        let other = new_token(Role::Reader, "other").unwrap();
        let before = Authenticator::new(&[clerk.entry.clone(), other.entry.clone()], true).unwrap();
        let header = format!("Bearer {}", clerk.token);
        let admitted = before.admit_header(Some(&header)).unwrap();
        let anonymous = before.admit_header(None).unwrap();
        assert_eq!(before.revocation(&admitted), None);

        let without_other = Authenticator::new(std::slice::from_ref(&clerk.entry), true).unwrap();
        assert_eq!(without_other.revocation(&admitted), None);
        assert_eq!(without_other.revocation(&anonymous), None);

        let mut raised = clerk.entry.clone();
        raised.role = Role::Admin;
        let raised = Authenticator::new(&[raised], false).unwrap();
        assert_eq!(raised.revocation(&admitted), None);
        assert_eq!(
            raised.revocation(&anonymous).as_deref(),
            Some("anonymous read was switched off")
        );

        let mut lowered = clerk.entry.clone();
        lowered.role = Role::Reader;
        assert_eq!(
            Authenticator::new(&[lowered], true)
                .unwrap()
                .revocation(&admitted)
                .as_deref(),
            Some("the token `clerk` now has the role reader")
        );

        let renewed = new_token(Role::Recorder, "clerk").unwrap();
        let renewed = Authenticator::new(&[renewed.entry], true).unwrap();
        assert_eq!(
            renewed.revocation(&admitted).as_deref(),
            Some("the token `clerk` was revoked")
        );
        let mut renamed = clerk.entry.clone();
        renamed.name = TokenName::parse("clerk2").unwrap();
        assert_eq!(
            Authenticator::new(&[renamed], true)
                .unwrap()
                .revocation(&admitted)
                .as_deref(),
            Some("the token `clerk` was revoked")
        );
    }

    #[test]
    fn from_config_joins_the_tokens_file_and_refuses_a_name_in_both() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens.toml");
        let configured = new_token(Role::Reader, "viewer").unwrap();
        let filed = new_token(Role::Admin, "admin").unwrap();
        crate::tokens_file::add(&file, filed.entry.clone(), &[]).unwrap();
        let mut config = crate::ServerConfig {
            tokens: vec![configured.entry.clone()],
            tokens_file: Some(file.clone()),
            ..crate::ServerConfig::default()
        };
        let auth = Authenticator::from_config(&config).unwrap();
        assert_eq!(
            auth.from_token(&filed.token),
            Ok(Caller::Token {
                name: "admin".into(),
                role: Role::Admin
            })
        );
        assert!(auth.from_token(&configured.token).is_ok());
        assert!(!auth.admits_no_one());

        config.tokens.push(TokenEntry {
            name: TokenName::parse("admin").unwrap(),
            ..new_token(Role::Reader, "x").unwrap().entry
        });
        let err = Authenticator::from_config(&config).unwrap_err().to_string();
        assert!(err.contains("`admin` is configured twice"), "{err}");

        config.tokens.clear();
        config.tokens_file = Some(dir.path().join("absent.toml"));
        assert!(Authenticator::from_config(&config).unwrap().admits_no_one());
    }
}
