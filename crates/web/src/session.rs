//! Browser sessions of the workbench and the dashboard, and the guard of every form.
//!
//! A clerk signs in at `/workbench/sign-in` with a token; the server keeps a session (in
//! memory: a restart signs everyone out) and hands the browser only a random 256-bit session
//! id in the cookie [`SESSION_COOKIE`] (`HttpOnly; SameSite=Strict; Path=/`, and `Secure`
//! when the request came over TLS, or through a proxy saying `X-Forwarded-Proto: https` while
//! `web.trust_forwarded_proto` is on). The server stores the id's SHA-256, never the id, and
//! remembers the token that admitted the session by its SHA-256 and name, never the token.
//! Every request judges the session again against the token settings in force
//! (`web.auth.current()`, as a websocket is judged): a token revoked or given a lower role by
//! a reload (SIGHUP) ends its sessions on their next request. A session ends after
//! `web.session_idle_secs` without a request, `web.session_lifetime_secs` after sign-in, or
//! at sign-out (`POST /workbench/sign-out`).
//!
//! # For pages and forms (the API other workbench pages use)
//!
//! - A GET page: [`visitor`]`(&web, &req)` gives the [`Visitor`]: its [`Caller`], whether it
//!   [`may`](Visitor::may) do a role's work (show a form only then), and
//!   [`csrf_token`](Visitor::csrf_token) for the hidden field every form carries
//!   ([`crate::forms::csrf_field`] writes it, named [`CSRF_FIELD`]). Refused with 401 when
//!   the caller may not read: answer with [`crate::workbench::sign_in_page`] (or let the
//!   error through).
//! - A form POST: read the form (its `csrf` field included), then
//!   [`authorise_post`]`(&web, &req, &csrf, Role::Recorder)`: the session must be live, the
//!   request same-origin (`Sec-Fetch-Site`, `Origin`), the CSRF field the session's (compared
//!   in constant time) and the session's token of the role; it returns the [`Caller`], whose
//!   [`actor`](Caller::actor) is the actor to record. A bearer token is not accepted there:
//!   scripts use GraphQL. Every refusal is a [`poem::Error`] with a plain-text reason
//!   (403 for a forged or cross-site form, 401 for no session, 403 for too low a role).
//! - An idempotency key for a form: [`crate::forms::new_idempotency_key`] when the page is
//!   rendered, carried in a hidden field, handed to `RecordOptions::idempotency_key`.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use kpi_server::{Admission, AuthHandle};
use kpi_service::auth::{Caller, Role};
use poem::http::{header, StatusCode};
use poem::{Request, Response};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::access::refusal;
use crate::Web;

/// The cookie holding the session id.
pub const SESSION_COOKIE: &str = "kpi_ledger_session";

/// The name of the hidden form field holding the session's CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// The `[web]` settings (config/default.toml): sessions and the proxy in front.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// A session ends after this many seconds without a request.
    pub session_idle_secs: u64,
    /// A session ends this many seconds after sign-in, however busy.
    pub session_lifetime_secs: u64,
    /// At most this many sessions are kept; signing in beyond it ends the longest idle one.
    pub max_sessions: usize,
    /// Trust `X-Forwarded-Proto: https` (a TLS-terminating proxy in front) to mark the
    /// session cookie `Secure`. Off: only a request that came over TLS itself does.
    pub trust_forwarded_proto: bool,
    /// The largest file `/workbench/import` accepts, in bytes (413 beyond). The upload is
    /// written to one temporary file as it arrives, never held in memory.
    pub max_upload_bytes: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            session_idle_secs: 1800,
            session_lifetime_secs: 12 * 3600,
            max_sessions: 10_000,
            trust_forwarded_proto: false,
            max_upload_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A live session, keyed by the SHA-256 of its id.
struct Session {
    admission: Admission,
    csrf: String,
    started: Instant,
    seen: Instant,
}

/// The sessions kept in memory.
pub struct Sessions {
    config: WebConfig,
    live: Mutex<HashMap<[u8; 32], Session>>,
}

/// What a live session gives a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Live {
    pub caller: Caller,
    pub csrf: String,
}

/// Why a session id does not open a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    Unknown,
    Expired,
    Revoked(String),
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex_encode(&bytes)
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    pub fn new(config: WebConfig) -> Self {
        Sessions {
            config,
            live: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &WebConfig {
        &self.config
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.live.lock()
    }

    /// Starts a session for `admission`; its id (for the cookie) and its CSRF token.
    pub(crate) fn start(&self, admission: Admission, now: Instant) -> (String, String) {
        let id = random_hex();
        let csrf = random_hex();
        let mut live = self.lock();
        live.retain(|_, session| !self.expired(session, now));
        while live.len() >= self.config.max_sessions.max(1) {
            let Some(idlest) = live
                .iter()
                .min_by_key(|(_, session)| session.seen)
                .map(|(key, _)| *key)
            else {
                break;
            };
            live.remove(&idlest);
        }
        live.insert(
            key(&id),
            Session {
                admission,
                csrf: csrf.clone(),
                started: now,
                seen: now,
            },
        );
        (id, csrf)
    }

    fn expired(&self, session: &Session, now: Instant) -> bool {
        now.saturating_duration_since(session.seen)
            > Duration::from_secs(self.config.session_idle_secs)
            || now.saturating_duration_since(session.started)
                > Duration::from_secs(self.config.session_lifetime_secs)
    }

    /// The session of `id` judged at `now` under the token settings in force: live (and
    /// seen now), or ended (and forgotten).
    pub(crate) fn open(&self, id: &str, auth: &AuthHandle, now: Instant) -> Result<Live, Ended> {
        let key = key(id);
        let mut live = self.lock();
        let session = live.get_mut(&key).ok_or(Ended::Unknown)?;
        if self.expired(session, now) {
            live.remove(&key);
            return Err(Ended::Expired);
        }
        if let Some(reason) = auth.current().revocation(&session.admission) {
            tracing::info!(%reason, "a browser session ended");
            live.remove(&key);
            return Err(Ended::Revoked(reason));
        }
        session.seen = now;
        Ok(Live {
            caller: session.admission.caller.clone(),
            csrf: session.csrf.clone(),
        })
    }

    /// Forgets the session of `id` (sign-out).
    pub(crate) fn end(&self, id: &str) {
        self.lock().remove(&key(id));
    }

    /// How many sessions are kept (ended ones included until they are next looked at).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `Set-Cookie` for a new session: HttpOnly, SameSite=Strict, Path=/, Secure when the
    /// request came over TLS or a trusted proxy says it did.
    pub(crate) fn cookie(&self, req: &Request, id: &str) -> String {
        let secure = if self.is_https(req) { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}")
    }

    /// `Set-Cookie` that removes the session cookie.
    pub(crate) fn removal(&self, req: &Request) -> String {
        let secure = if self.is_https(req) { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
    }

    /// Whether the browser reached us over TLS: the request itself, or, when
    /// `trust_forwarded_proto` is on, the proxy's `X-Forwarded-Proto` (its first value).
    pub(crate) fn is_https(&self, req: &Request) -> bool {
        if req.scheme().as_str() == "https" {
            return true;
        }
        self.config.trust_forwarded_proto
            && req
                .headers()
                .get("x-forwarded-proto")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(',').next())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
    }
}

/// The session id the browser sent, if any.
pub(crate) fn session_id(req: &Request) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, id)| id.trim().to_owned())
        .filter(|id| !id.is_empty())
}

/// Who looks at a page: the caller, and the session's CSRF token when they came with one.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub caller: Caller,
    csrf: Option<String>,
}

impl Visitor {
    /// The token every form of this visitor's page carries in its [`CSRF_FIELD`]; empty
    /// without a session (a bearer or anonymous reader, who is shown no form).
    pub fn csrf_token(&self) -> &str {
        self.csrf.as_deref().unwrap_or("")
    }

    /// Whether the visitor came with a session (and may sign out).
    pub fn signed_in(&self) -> bool {
        self.csrf.is_some()
    }

    /// Whether the visitor may do `role`'s work through a form: a session whose token has
    /// the role. Show a form only then.
    pub fn may(&self, role: Role) -> bool {
        self.signed_in() && self.caller.require(role).is_ok()
    }

    /// The token's name, for "signed in as".
    pub fn name(&self) -> Option<&str> {
        self.caller.actor()
    }
}

/// The visitor of a page, who must be allowed to read: a bearer token if one is sent, else
/// the session, else anonymous (when anonymous read is on). 401 otherwise, with the reason
/// (an ended session says why it ended).
pub fn visitor(web: &Web, req: &Request) -> poem::Result<Visitor> {
    let auth = web.auth.current();
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let (caller, csrf) = if let Some(bearer) = bearer {
        let caller = auth
            .from_header(Some(bearer))
            .map_err(|failure| unauthorised(&failure.to_string()))?;
        (caller, None)
    } else {
        match session_id(req).map(|id| web.sessions.open(&id, &web.auth, Instant::now())) {
            Some(Ok(live)) => (live.caller, Some(live.csrf)),
            Some(Err(ended)) if !auth.anonymous_read() => {
                return Err(unauthorised(&ended_reason(&ended)))
            }
            Some(Err(_)) | None => (auth.anonymous(), None),
        }
    };
    caller
        .require(Role::Reader)
        .map_err(|denial| unauthorised(&denial.to_string()))?;
    Ok(Visitor { caller, csrf })
}

fn ended_reason(ended: &Ended) -> String {
    match ended {
        Ended::Unknown => "the session has ended (signed out, or the server restarted)".into(),
        Ended::Expired => "the session has expired".into(),
        Ended::Revoked(reason) => format!("the session has ended: {reason}"),
    }
}

fn unauthorised(reason: &str) -> poem::Error {
    refusal(
        Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, "Bearer")
            .content_type("text/plain; charset=utf-8")
            .body(format!("{reason}\n")),
    )
}

fn forbidden(reason: &str) -> poem::Error {
    refusal(
        Response::builder()
            .status(StatusCode::FORBIDDEN)
            .content_type("text/plain; charset=utf-8")
            .body(format!("{reason}\n")),
    )
}

/// Authorises a form POST: the request is same-origin ([`check_same_origin`]), comes with a
/// live session, carries that session's CSRF token in `csrf` (compared in constant time),
/// and the session's token has `role`. Returns the caller, whose name is the actor.
pub fn authorise_post(web: &Web, req: &Request, csrf: &str, role: Role) -> poem::Result<Caller> {
    check_same_origin(req).map_err(|reason| forbidden(&reason))?;
    let id = session_id(req).ok_or_else(|| unauthorised("sign in first: no session"))?;
    let live = web
        .sessions
        .open(&id, &web.auth, Instant::now())
        .map_err(|ended| unauthorised(&ended_reason(&ended)))?;
    if !bool::from(live.csrf.as_bytes().ct_eq(csrf.trim().as_bytes())) {
        return Err(forbidden(
            "csrf: the form is not this session's (reload the page and send it again)",
        ));
    }
    live.caller
        .require(role)
        .map_err(|denial| forbidden(&denial.to_string()))?;
    Ok(live.caller)
}

/// Refuses a request a page of another site made the browser send: `Sec-Fetch-Site` other
/// than `same-origin` (or `none`, typed by the user), or an `Origin` whose host and port are
/// not the request's `Host`. A request with neither header (an old browser) is left to the
/// CSRF token.
pub fn check_same_origin(req: &Request) -> Result<(), String> {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if !matches!(site, "same-origin" | "none") {
            return Err(format!(
                "Sec-Fetch-Site: `{site}`: a form of this server must be sent from its own pages"
            ));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let host = headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or("");
        if !origin_is_host(origin, host) {
            return Err(format!(
                "Origin: `{origin}` is not this server: a form of this server must be sent from its own pages"
            ));
        }
    }
    Ok(())
}

/// Whether `origin` (`scheme://host[:port]`) names `host` (`host[:port]`), default ports
/// filled in. The scheme is not compared: behind a TLS proxy the server cannot know its own.
fn origin_is_host(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return false,
    };
    let with_port = |authority: &str, default: &str| -> String {
        let authority = authority.to_ascii_lowercase();
        // An IPv6 literal `[::1]:8080` has colons inside its brackets.
        let has_port = match authority.rfind(']') {
            Some(end) => authority[end..].contains(':'),
            None => authority.contains(':'),
        };
        if has_port {
            authority
        } else {
            format!("{authority}:{default}")
        }
    };
    !host.is_empty()
        && !authority.contains('/')
        && with_port(authority, default) == with_port(host, default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kpi_server::{new_token, Authenticator};

    fn handle(tokens: &[&kpi_server::IssuedToken]) -> AuthHandle {
        let entries: Vec<_> = tokens.iter().map(|issued| issued.entry.clone()).collect();
        AuthHandle::new(Authenticator::new(&entries, false).unwrap())
    }

    #[test]
    fn a_session_expires_when_idle_and_at_its_lifetime() {
        let clerk = new_token(Role::Recorder, "clerk").unwrap();
        let auth = handle(&[&clerk]);
        let sessions = Sessions::new(WebConfig {
            session_idle_secs: 60,
            session_lifetime_secs: 300,
            ..WebConfig::default()
        });
        let t0 = Instant::now();
        let admission = auth.current().admit_token(&clerk.token).unwrap();
        let (id, csrf) = sessions.start(admission.clone(), t0);
        assert_eq!(id.len(), 64, "256 random bits in hex");
        assert_ne!(id, csrf);
        let at = |secs| t0 + Duration::from_secs(secs);
        let live = sessions.open(&id, &auth, at(59)).unwrap();
        assert_eq!(live.csrf, csrf);
        assert_eq!(live.caller.actor(), Some("clerk"));
        // Each request moves the idle clock; the lifetime does not move.
        for secs in [110, 160, 210, 260] {
            assert!(sessions.open(&id, &auth, at(secs)).is_ok(), "{secs}");
        }
        assert_eq!(sessions.open(&id, &auth, at(301)), Err(Ended::Expired));
        assert_eq!(sessions.open(&id, &auth, at(302)), Err(Ended::Unknown));

        let (idle, _) = sessions.start(admission, at(400));
        assert_eq!(sessions.open(&idle, &auth, at(461)), Err(Ended::Expired));
        assert!(sessions.is_empty());
    }

    #[test]
    fn a_reload_that_revokes_or_lowers_the_token_ends_its_sessions() {
        let clerk = new_token(Role::Recorder, "clerk").unwrap();
        let other = new_token(Role::Reader, "other").unwrap();
        let auth = handle(&[&clerk, &other]);
        let sessions = Sessions::new(WebConfig::default());
        let now = Instant::now();
        let admit = |token: &str| auth.current().admit_token(token).unwrap();
        let (clerk_id, _) = sessions.start(admit(&clerk.token), now);
        let (other_id, _) = sessions.start(admit(&other.token), now);

        auth.replace(Authenticator::new(std::slice::from_ref(&clerk.entry), false).unwrap());
        assert!(sessions.open(&clerk_id, &auth, now).is_ok());
        assert_eq!(
            sessions.open(&other_id, &auth, now),
            Err(Ended::Revoked("the token `other` was revoked".into()))
        );
        let mut lowered = clerk.entry.clone();
        lowered.role = Role::Reader;
        auth.replace(Authenticator::new(&[lowered], false).unwrap());
        assert_eq!(
            sessions.open(&clerk_id, &auth, now),
            Err(Ended::Revoked(
                "the token `clerk` now has the role reader".into()
            ))
        );
        assert!(sessions.is_empty());
    }

    #[test]
    fn the_idlest_session_makes_room_at_the_limit() {
        let clerk = new_token(Role::Recorder, "clerk").unwrap();
        let auth = handle(&[&clerk]);
        let sessions = Sessions::new(WebConfig {
            max_sessions: 2,
            ..WebConfig::default()
        });
        let t0 = Instant::now();
        let admission = auth.current().admit_token(&clerk.token).unwrap();
        let (first, _) = sessions.start(admission.clone(), t0);
        let (second, _) = sessions.start(admission.clone(), t0 + Duration::from_secs(1));
        sessions
            .open(&first, &auth, t0 + Duration::from_secs(2))
            .unwrap();
        let (third, _) = sessions.start(admission, t0 + Duration::from_secs(3));
        assert_eq!(sessions.len(), 2);
        let later = t0 + Duration::from_secs(4);
        assert!(sessions.open(&first, &auth, later).is_ok());
        assert_eq!(sessions.open(&second, &auth, later), Err(Ended::Unknown));
        assert!(sessions.open(&third, &auth, later).is_ok());
    }

    #[test]
    fn an_origin_must_name_the_host() {
        assert!(origin_is_host("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(origin_is_host(
            "https://kpi.city.example",
            "kpi.city.example"
        ));
        assert!(origin_is_host(
            "http://kpi.city.example:80",
            "kpi.city.example"
        ));
        assert!(origin_is_host("http://[::1]:8080", "[::1]:8080"));
        assert!(!origin_is_host("http://evil.example", "kpi.city.example"));
        assert!(!origin_is_host("http://127.0.0.1:9999", "127.0.0.1:8080"));
        assert!(!origin_is_host("null", "127.0.0.1:8080"));
        assert!(!origin_is_host("http://127.0.0.1:8080", ""));
    }
}
