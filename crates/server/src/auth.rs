//! Bearer-token authentication: turns an `Authorization` header (or a websocket
//! `connection_init` payload) into a [`Caller`]. What each role may do is decided elsewhere
//! (`kpi_access`); this module only establishes who is calling.

use std::collections::HashSet;

use kpi_access::{Caller, Role};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{TokenEntry, TokenHash, TokenName};

/// Why a presented credential was refused. Absence of a credential is not a failure: it makes
/// the caller anonymous.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("the Authorization header must be `Bearer <token>`")]
    MalformedHeader,
    #[error("unknown or revoked bearer token")]
    UnknownToken,
}

/// A configuration that cannot authenticate anyone unambiguously.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenConfigError {
    #[error("server.tokens: the name `{0}` is configured twice; each token needs its own name")]
    DuplicateName(String),
    #[error("server.tokens: `{0}` and `{1}` have the same sha256, so the token could not tell who is calling")]
    DuplicateHash(String, String),
}

/// The configured tokens, checked once at start-up.
#[derive(Debug, Clone)]
pub struct Authenticator {
    tokens: Vec<TokenEntry>,
    anonymous_read: bool,
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
        })
    }

    pub fn anonymous(&self) -> Caller {
        Caller::Anonymous {
            may_read: self.anonymous_read,
        }
    }

    /// The caller named by an `Authorization` header value; no header means anonymous.
    pub fn from_header(&self, header: Option<&str>) -> Result<Caller, AuthFailure> {
        let Some(value) = header else {
            return Ok(self.anonymous());
        };
        let token = bearer_token(value).ok_or(AuthFailure::MalformedHeader)?;
        self.from_token(token)
    }

    /// The caller holding `token`.
    pub fn from_token(&self, token: &str) -> Result<Caller, AuthFailure> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Every entry is compared, in constant time, so response timing does not reveal how
        // much of a hash matched or where in the list a token sits.
        let mut found = None;
        for entry in &self.tokens {
            if bool::from(entry.sha256.0.ct_eq(&presented)) {
                found = Some(entry);
            }
        }
        found
            .map(|entry| Caller::Token {
                name: entry.name.to_string(),
                role: entry.role,
            })
            .ok_or(AuthFailure::UnknownToken)
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
}
