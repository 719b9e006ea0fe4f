//! kpi-access: who is calling and what they may do. The HTTP shell (kpi-server)
//! authenticates (token -> [`Caller`]); the service, GraphQL and the web pages check it with
//! [`Caller::require`]. The rules of what each role may do live here, once, in a crate that
//! depends on neither side, so the shell need not depend on the ledger to name a role.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Roles are ordered: each one may do everything the one below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Queries and subscriptions.
    Reader,
    /// Also records, corrects and retracts events.
    Recorder,
    /// Also plan lifecycle and replay.
    Admin,
}

impl Role {
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Reader => "reader",
            Role::Recorder => "recorder",
            Role::Admin => "admin",
        })
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reader" => Ok(Role::Reader),
            "recorder" => Ok(Role::Recorder),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}`: expected reader, recorder or admin"
            )),
        }
    }
}

/// The authenticated (or anonymous) caller of one request. Its `name` becomes the actor of
/// every event it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous { may_read: bool },
    Token { name: String, role: Role },
}

impl Caller {
    pub fn role(&self) -> Option<Role> {
        match self {
            Caller::Anonymous { may_read: true } => Some(Role::Reader),
            Caller::Anonymous { may_read: false } => None,
            Caller::Token { role, .. } => Some(*role),
        }
    }

    /// The actor name recorded on events; anonymous callers never record.
    pub fn actor(&self) -> Option<&str> {
        match self {
            Caller::Token { name, .. } => Some(name),
            Caller::Anonymous { .. } => None,
        }
    }
}

/// Why a caller may not do what it asked. The GraphQL layer turns it into an error whose
/// `extensions.code` is [`AccessDenied::code`], so clients can tell "send a token" from
/// "this token is not enough".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessDenied {
    #[error("authentication required: send `Authorization: Bearer <token>` with a `{needed}` token or higher")]
    Unauthenticated { needed: Role },
    #[error("forbidden: this needs role `{needed}` but `{name}` has role `{actual}`")]
    Forbidden {
        needed: Role,
        actual: Role,
        name: String,
    },
}

impl AccessDenied {
    /// The GraphQL error extension code for this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            AccessDenied::Unauthenticated { .. } => "UNAUTHENTICATED",
            AccessDenied::Forbidden { .. } => "FORBIDDEN",
        }
    }
}

impl Caller {
    /// The one role check every resolver uses: the caller if its role reaches `needed`.
    /// Anonymous callers are told to authenticate (a token could help); token holders whose
    /// role is too low are forbidden (another token is needed).
    pub fn require(&self, needed: Role) -> Result<&Caller, AccessDenied> {
        match self {
            Caller::Token { role, .. } if role.allows(needed) => Ok(self),
            Caller::Token { role, name } => Err(AccessDenied::Forbidden {
                needed,
                actual: *role,
                name: name.clone(),
            }),
            Caller::Anonymous { .. } if self.role().is_some_and(|role| role.allows(needed)) => {
                Ok(self)
            }
            Caller::Anonymous { .. } => Err(AccessDenied::Unauthenticated { needed }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::Admin.allows(Role::Recorder));
        assert!(Role::Recorder.allows(Role::Reader));
        assert!(!Role::Reader.allows(Role::Recorder));
        assert_eq!("admin".parse::<Role>().unwrap(), Role::Admin);
        assert!("root".parse::<Role>().unwrap_err().contains("root"));
        assert_eq!(Caller::Anonymous { may_read: false }.role(), None);
        assert_eq!(
            Caller::Anonymous { may_read: true }.role(),
            Some(Role::Reader)
        );
    }

    #[test]
    fn require_separates_unauthenticated_from_forbidden() {
        let anonymous_reader = Caller::Anonymous { may_read: true };
        let anonymous = Caller::Anonymous { may_read: false };
        let reader = Caller::Token {
            name: "viewer".into(),
            role: Role::Reader,
        };
        let admin = Caller::Token {
            name: "ops".into(),
            role: Role::Admin,
        };

        assert_eq!(
            anonymous_reader.require(Role::Reader),
            Ok(&anonymous_reader)
        );
        assert_eq!(
            anonymous.require(Role::Reader).unwrap_err().code(),
            "UNAUTHENTICATED"
        );
        assert_eq!(
            anonymous_reader.require(Role::Recorder).unwrap_err().code(),
            "UNAUTHENTICATED"
        );
        let forbidden = reader.require(Role::Recorder).unwrap_err();
        assert_eq!(forbidden.code(), "FORBIDDEN");
        assert!(forbidden.to_string().contains("viewer"), "{forbidden}");
        assert_eq!(admin.require(Role::Recorder), Ok(&admin));
    }
}
