//! The `[server]` section of the configuration. Every field has a default so an empty section
//! serves on loopback with conservative limits; unknown keys are refused so a typo in a limit
//! is not silently ignored.

use std::fmt;
use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use async_graphql::{ObjectType, SchemaBuilder, SubscriptionType};
use kpi_access::Role;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// Configuration of the HTTP shell, read by the CLI from the `[server]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Port 0 picks a free port (tests).
    pub bind: SocketAddr,
    /// Whether callers without a token may run queries and subscriptions.
    pub anonymous_read: bool,
    /// Who may introspect the schema (`__schema`, `__type`) and whether GraphiQL is served.
    pub introspection: Introspection,
    /// Browser origins (`https://host[:port]`) allowed to call the server cross-origin:
    /// CORS and websocket upgrades. Same-origin requests and requests without an `Origin`
    /// (scripts, probes) are always allowed; any other origin is refused with 403.
    pub allowed_origins: Vec<AllowedOrigin>,
    /// When set, `/metrics` answers only `Authorization: Bearer <token>` whose SHA-256 this is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_token_sha256: Option<TokenHash>,
    pub limits: Limits,
    /// Bytes of query answers kept by the answer cache (answers, query texts and variables
    /// counted; at most 1,024 answers, none over an eighth of this); 0 turns it off. Applies
    /// to an app built `with_query_cache`. Default 32 MiB.
    pub answer_cache_bytes: usize,
    /// How long shutdown waits for open connections (websockets included) before closing them.
    pub shutdown_grace_ms: NonZeroU64,
    /// Bearer tokens; only their SHA-256 hashes are ever configured.
    pub tokens: Vec<TokenEntry>,
    /// A file of further `[[tokens]]` entries (hashes only) outside the configuration, written
    /// by `kpi-ledger token add|revoke`, so tokens can change where the configuration is
    /// read-only. Relative to the working directory; a missing file holds no token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_file: Option<PathBuf>,
    /// Which requests get a log line: see [`RequestLog`].
    pub request_log: RequestLog,
}

/// Which requests are logged. A line per request costs disk under load (measured: 601 MB in
/// 4.5 minutes), so by default only the requests an operator must see are logged: answers
/// with a server error (5xx, at WARN) and requests slower than `slow_ms` (at WARN). Every
/// request is still counted and timed in `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestLog {
    /// Also log every other request (one INFO line each). Default off.
    pub every_request: bool,
    /// A request taking at least this long is logged whatever `every_request` says.
    /// Default 1000.
    pub slow_ms: NonZeroU64,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog {
            every_request: false,
            slow_ms: NonZeroU64::new(1_000).expect("non-zero literal"),
        }
    }
}

impl RequestLog {
    /// Whether a request that answered `status` after `elapsed` gets a line, and at which
    /// level: `Some(true)` at WARN (a server error or a slow request), `Some(false)` at INFO.
    pub fn verdict(&self, status: u16, elapsed: Duration) -> Option<bool> {
        if status >= 500 || elapsed >= Duration::from_millis(self.slow_ms.get()) {
            Some(true)
        } else if self.every_request {
            Some(false)
        } else {
            None
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            anonymous_read: false,
            introspection: Introspection::default(),
            allowed_origins: Vec::new(),
            metrics_token_sha256: None,
            limits: Limits::default(),
            answer_cache_bytes: 32 * 1024 * 1024,
            shutdown_grace_ms: NonZeroU64::new(10_000).expect("non-zero literal"),
            tokens: Vec::new(),
            tokens_file: None,
            request_log: RequestLog::default(),
        }
    }
}

impl ServerConfig {
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms.get())
    }
}

/// Per-request limits. Depth and complexity are enforced by the schema (async-graphql checks
/// them during validation), so they are applied where the schema is built, with
/// [`Limits::apply`]; body size and timeout are enforced by the HTTP handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Deepest selection nesting accepted.
    pub max_depth: NonZeroUsize,
    /// Highest query complexity accepted (each field costs 1 unless the schema says otherwise).
    /// GraphiQL's introspection query costs between 200 and 400, so keep this above 400.
    pub max_complexity: NonZeroUsize,
    /// Largest request body, in bytes; larger bodies answer 413. Also caps websocket messages.
    pub max_body_bytes: NonZeroUsize,
    /// Longest a GraphQL query may run; longer ones are dropped and answer 504. Mutations
    /// are not cut off: an append the store has taken cannot be taken back.
    pub request_timeout_ms: NonZeroU64,
    /// Longest a client may take to send a request's head (request line and headers), from
    /// the moment the connection is accepted or the first byte of a later request arrives;
    /// past it the connection is closed.
    pub header_read_timeout_ms: NonZeroU64,
    /// Longest a request's body may take to arrive in full after its head; past it the
    /// request answers 408 (GraphQL) or fails, and the connection is closed.
    pub body_read_timeout_ms: NonZeroU64,
    /// Longest a kept-alive connection may wait, idle, for its next request before it is
    /// closed. Websockets are not affected: they keep their own ping.
    pub keep_alive_timeout_ms: NonZeroU64,
    /// Most connections open at once, websockets included; further ones wait in the
    /// listening socket's backlog until one closes.
    pub max_connections: NonZeroUsize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: NonZeroUsize::new(16).expect("non-zero literal"),
            max_complexity: NonZeroUsize::new(2_000).expect("non-zero literal"),
            max_body_bytes: NonZeroUsize::new(256 * 1024).expect("non-zero literal"),
            request_timeout_ms: NonZeroU64::new(10_000).expect("non-zero literal"),
            header_read_timeout_ms: NonZeroU64::new(10_000).expect("non-zero literal"),
            body_read_timeout_ms: NonZeroU64::new(30_000).expect("non-zero literal"),
            keep_alive_timeout_ms: NonZeroU64::new(60_000).expect("non-zero literal"),
            max_connections: NonZeroUsize::new(512).expect("non-zero literal"),
        }
    }
}

impl Limits {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.get())
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms.get())
    }

    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms.get())
    }

    pub fn keep_alive_timeout(&self) -> Duration {
        Duration::from_millis(self.keep_alive_timeout_ms.get())
    }

    /// Applies the depth and complexity limits to a schema under construction.
    pub fn apply<Q, M, S>(&self, builder: SchemaBuilder<Q, M, S>) -> SchemaBuilder<Q, M, S>
    where
        Q: ObjectType + 'static,
        M: ObjectType + 'static,
        S: SubscriptionType + 'static,
    {
        builder
            .limit_depth(self.max_depth.get())
            .limit_complexity(self.max_complexity.get())
    }
}

/// Who may introspect the schema: `server.introspection`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Introspection {
    /// Whoever may read: any token, or anyone when `anonymous_read` is on. GraphiQL's page is
    /// served to all (it holds no data), but its schema needs a token in its headers.
    #[default]
    ReadRule,
    /// Anyone, token or not.
    Public,
    /// No one; GraphiQL is not served.
    Off,
}

/// A browser origin allowed to call the server cross-origin, `scheme://host[:port]`, kept in
/// the form browsers send it (lower case, no default port, no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllowedOrigin(String);

impl AllowedOrigin {
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::normalise(text).map(Self).ok_or_else(|| {
            format!(
                "allowed origin `{text}` must be `http://host[:port]` or `https://host[:port]` \
                 (no path, no wildcard)"
            )
        })
    }

    /// The origin as a browser would send it, or `None` if `text` is not an HTTP(S) origin.
    pub(crate) fn normalise(text: &str) -> Option<String> {
        let text = text.trim().trim_end_matches('/');
        let uri: poem::http::Uri = text.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let authority = uri.authority()?;
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        if authority.as_str().contains('@')
            || authority.host().is_empty()
            || authority.host().contains('*')
            || uri
                .path_and_query()
                .is_some_and(|path| path.as_str() != "/")
        {
            return None;
        }
        let host = authority.host().to_ascii_lowercase();
        Some(match authority.port_u16() {
            Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
            _ => format!("{scheme}://{host}"),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for AllowedOrigin {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AllowedOrigin {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(de::Error::custom)
    }
}

/// One configured bearer token: who it is, what it may do, and the SHA-256 of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub name: TokenName,
    pub role: Role,
    pub sha256: TokenHash,
}

/// The name a token records events under: non-empty, at most 64 characters, no whitespace
/// or control characters, so it reads unambiguously in logs and event history.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenName(String);

impl TokenName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(name: &str) -> Result<Self, String> {
        if name.is_empty() {
            return Err("token name must not be empty".into());
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "token name `{name}` is longer than {} characters",
                Self::MAX_CHARS
            ));
        }
        if let Some(bad) = name.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "token name `{}` contains {bad:?}: use letters, digits, `-`, `_`, `.` or `@`",
                name.escape_debug()
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for TokenName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TokenName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(de::Error::custom)
    }
}

/// SHA-256 digest of a bearer token, written in config as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub(crate) [u8; 32]);

impl TokenHash {
    pub fn parse_hex(text: &str) -> Result<Self, String> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|err| {
            format!("sha256 must be 64 hex digits (the SHA-256 of the token), got `{text}`: {err}")
        })?;
        Ok(Self(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

// The digest is not secret, but printing it whole in debug logs invites copy-paste confusion
// with tokens; the prefix is enough to tell entries apart.
impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

impl Serialize for TokenHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse_hex(&raw).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ServerConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn empty_section_gives_loopback_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config, ServerConfig::default());
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert!(!config.anonymous_read);
        assert!(config.tokens.is_empty());
    }

    #[test]
    fn full_section_parses() {
        let hash = "a".repeat(64);
        let config = parse(&format!(
            r#"
            bind = "0.0.0.0:9000"
            anonymous_read = true
            [limits]
            max_depth = 7
            request_timeout_ms = 250
            [[tokens]]
            name = "clerk@fuji"
            role = "recorder"
            sha256 = "{hash}"
            "#
        ))
        .unwrap();
        assert_eq!(config.bind.port(), 9000);
        assert_eq!(config.limits.max_depth.get(), 7);
        assert_eq!(
            config.limits.max_complexity,
            Limits::default().max_complexity
        );
        assert_eq!(config.limits.request_timeout(), Duration::from_millis(250));
        assert_eq!(config.tokens[0].name.as_str(), "clerk@fuji");
        assert_eq!(config.tokens[0].role, Role::Recorder);
        assert_eq!(config.tokens[0].sha256.to_hex(), hash);
    }

    #[test]
    fn bad_values_name_the_field() {
        let zero = parse("[limits]\nmax_body_bytes = 0")
            .unwrap_err()
            .to_string();
        assert!(zero.contains("max_body_bytes"), "{zero}");

        let typo = parse("anonymous_reads = true").unwrap_err().to_string();
        assert!(typo.contains("anonymous_reads"), "{typo}");

        let short = parse("[[tokens]]\nname = \"a\"\nrole = \"reader\"\nsha256 = \"abc\"")
            .unwrap_err()
            .to_string();
        assert!(short.contains("sha256 must be 64 hex digits"), "{short}");

        let role = parse(&format!(
            "[[tokens]]\nname = \"a\"\nrole = \"root\"\nsha256 = \"{}\"",
            "0".repeat(64)
        ))
        .unwrap_err()
        .to_string();
        assert!(role.contains("root"), "{role}");

        let name = parse(&format!(
            "[[tokens]]\nname = \"two words\"\nrole = \"reader\"\nsha256 = \"{}\"",
            "0".repeat(64)
        ))
        .unwrap_err()
        .to_string();
        assert!(name.contains("two words"), "{name}");
    }

    #[test]
    fn connection_limits_and_open_surfaces_parse() {
        let defaults = ServerConfig::default();
        assert_eq!(defaults.introspection, Introspection::ReadRule);
        assert!(defaults.allowed_origins.is_empty());
        assert_eq!(defaults.metrics_token_sha256, None);
        assert_eq!(
            defaults.limits.header_read_timeout(),
            Duration::from_secs(10)
        );
        assert_eq!(
            defaults.limits.keep_alive_timeout(),
            Duration::from_secs(60)
        );
        assert_eq!(defaults.limits.max_connections.get(), 512);

        let hash = "b".repeat(64);
        let config = parse(&format!(
            r#"
            introspection = "off"
            allowed_origins = ["https://Dashboard.example.org/", "http://localhost:3000"]
            metrics_token_sha256 = "{hash}"
            [limits]
            header_read_timeout_ms = 2000
            body_read_timeout_ms = 3000
            keep_alive_timeout_ms = 5000
            max_connections = 64
            "#
        ))
        .unwrap();
        assert_eq!(config.introspection, Introspection::Off);
        let origins: Vec<&str> = config
            .allowed_origins
            .iter()
            .map(AllowedOrigin::as_str)
            .collect();
        assert_eq!(
            origins,
            ["https://dashboard.example.org", "http://localhost:3000"]
        );
        assert_eq!(config.metrics_token_sha256.unwrap().to_hex(), hash);
        assert_eq!(config.limits.header_read_timeout(), Duration::from_secs(2));
        assert_eq!(config.limits.body_read_timeout(), Duration::from_secs(3));
        assert_eq!(config.limits.keep_alive_timeout(), Duration::from_secs(5));
        assert_eq!(config.limits.max_connections.get(), 64);

        let wildcard = parse(r#"allowed_origins = ["*"]"#).unwrap_err().to_string();
        assert!(wildcard.contains("allowed origin `*`"), "{wildcard}");
        let rule = parse(r#"introspection = "anonymous""#)
            .unwrap_err()
            .to_string();
        assert!(rule.contains("read_rule"), "{rule}");
        let zero = parse("[limits]\nmax_connections = 0")
            .unwrap_err()
            .to_string();
        assert!(zero.contains("max_connections"), "{zero}");
    }

    #[test]
    fn config_round_trips_through_toml() {
        let mut config = ServerConfig::default();
        config.tokens.push(TokenEntry {
            name: TokenName::parse("ops").unwrap(),
            role: Role::Admin,
            sha256: TokenHash([7; 32]),
        });
        config.allowed_origins = vec![AllowedOrigin::parse("https://example.org").unwrap()];
        config.metrics_token_sha256 = Some(TokenHash([9; 32]));
        let text = toml::to_string(&config).unwrap();
        assert_eq!(parse(&text).unwrap(), config);
    }
}
