//! Which browser origins may call the server (`server.allowed_origins`): CORS, and the
//! websocket upgrade, which browsers make cross-origin without asking (cross-site websocket
//! hijacking).
//!
//! - no `Origin` header (scripts, curl, probes): served;
//! - the server's own origin (the `Origin`'s host and port are the request's `Host`): served;
//! - a listed origin: served with `Access-Control-Allow-Origin`; its preflight answers 204;
//! - any other origin (`null` included): 403, with no CORS header, preflights too.
//!
//! Hand-written rather than poem's `Cors`: that one treats an empty list as "every origin", and
//! cannot tell the server's own origin, which browsers send on same-origin POSTs and websocket
//! upgrades, from a foreign one.

use std::sync::Arc;

use poem::http::header::{self, HeaderMap, HeaderValue};
use poem::http::uri::Authority;
use poem::http::{Method, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::config::AllowedOrigin;

/// Paths served whatever the origin: the probes.
const OPEN_PATHS: [&str; 2] = ["/healthz", "/readyz"];

const ALLOW_METHODS: &str = "GET, POST";
const ALLOW_HEADERS: &str = "authorization, content-type, accept";
const MAX_AGE_SECONDS: &str = "600";

pub(crate) struct OriginPolicy<E> {
    pub inner: E,
    pub allowed: Arc<[AllowedOrigin]>,
}

/// What the policy makes of a request's `Origin`.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// No `Origin`, or the server's own.
    Own,
    /// A listed origin: answer with CORS headers.
    Listed(HeaderValue),
    Foreign,
}

impl<E> OriginPolicy<E> {
    fn judge(&self, headers: &HeaderMap) -> Verdict {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Verdict::Own;
        };
        let Some(normal) = origin.to_str().ok().and_then(AllowedOrigin::normalise) else {
            return Verdict::Foreign;
        };
        if same_origin(&normal, headers.get(header::HOST)) {
            Verdict::Own
        } else if self
            .allowed
            .iter()
            .any(|allowed| allowed.as_str() == normal)
        {
            Verdict::Listed(origin.clone())
        } else {
            Verdict::Foreign
        }
    }
}

/// Whether `origin` (normalised) names the host and port the request was sent to. The scheme
/// is not compared: behind a TLS-terminating proxy the server cannot know its own.
fn same_origin(origin: &str, host: Option<&HeaderValue>) -> bool {
    let Some(host) = host.and_then(|host| host.to_str().ok()?.parse::<Authority>().ok()) else {
        return false;
    };
    let Ok(origin) = origin.parse::<poem::http::Uri>() else {
        return false;
    };
    let default_port = match origin.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    origin
        .host()
        .is_some_and(|origin_host| origin_host.eq_ignore_ascii_case(host.host()))
        && origin.port_u16().unwrap_or(default_port) == host.port_u16().unwrap_or(default_port)
}

impl<E: Endpoint> Endpoint for OriginPolicy<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if OPEN_PATHS.contains(&req.uri().path()) {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        }
        match self.judge(req.headers()) {
            Verdict::Own => self.inner.call(req).await.map(IntoResponse::into_response),
            Verdict::Listed(origin) => {
                let preflight = req.method() == Method::OPTIONS
                    && req
                        .headers()
                        .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
                let mut response = if preflight {
                    Response::builder()
                        .status(StatusCode::NO_CONTENT)
                        .header(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS)
                        .header(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS)
                        .header(header::ACCESS_CONTROL_MAX_AGE, MAX_AGE_SECONDS)
                        .finish()
                } else {
                    self.inner.get_response(req).await.into_response()
                };
                let headers = response.headers_mut();
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                headers.append(header::VARY, HeaderValue::from_static("Origin"));
                Ok(response)
            }
            Verdict::Foreign => {
                let origin = req
                    .headers()
                    .get(header::ORIGIN)
                    .map(|origin| String::from_utf8_lossy(origin.as_bytes()).into_owned())
                    .unwrap_or_default();
                tracing::debug!(%origin, "cross-origin request refused");
                Ok(Response::builder()
                    .status(StatusCode::FORBIDDEN)
                    .content_type("text/plain; charset=utf-8")
                    .body(format!(
                        "requests from origin `{}` are not allowed: list it in \
                         server.allowed_origins to let browsers on it call this server\n",
                        origin.escape_debug()
                    )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> OriginPolicy<()> {
        OriginPolicy {
            inner: (),
            allowed: allowed
                .iter()
                .map(|origin| AllowedOrigin::parse(origin).unwrap())
                .collect(),
        }
    }

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn own_listed_and_foreign_origins() {
        let policy = policy(&["https://dashboard.example.org"]);
        let judge = |origin: Option<&str>, host: &str| policy.judge(&headers(origin, host));
        assert_eq!(judge(None, "127.0.0.1:8080"), Verdict::Own);
        assert_eq!(
            judge(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"),
            Verdict::Own
        );
        assert_eq!(
            judge(Some("https://Ledger.Example.org"), "ledger.example.org"),
            Verdict::Own
        );
        assert_eq!(
            judge(Some("https://ledger.example.org"), "ledger.example.org:443"),
            Verdict::Own
        );
        assert_eq!(judge(Some("http://[::1]:8080"), "[::1]:8080"), Verdict::Own);
        assert!(matches!(
            judge(Some("https://dashboard.example.org"), "ledger.example.org"),
            Verdict::Listed(_)
        ));
        for foreign in [
            "http://127.0.0.1:8081",
            "https://evil.example",
            "http://dashboard.example.org",
            "null",
        ] {
            assert_eq!(
                judge(Some(foreign), "127.0.0.1:8080"),
                Verdict::Foreign,
                "{foreign}"
            );
        }
    }

    #[test]
    fn allowed_origins_are_kept_as_browsers_send_them() {
        assert_eq!(
            AllowedOrigin::parse("HTTPS://Dashboard.Example.org:443/")
                .unwrap()
                .as_str(),
            "https://dashboard.example.org"
        );
        assert_eq!(
            AllowedOrigin::parse("http://localhost:3000")
                .unwrap()
                .as_str(),
            "http://localhost:3000"
        );
        for bad in [
            "*",
            "dashboard.example.org",
            "ftp://example.org",
            "https://example.org/path",
            "https://*.example.org",
            "https://user@example.org",
            "null",
        ] {
            assert!(AllowedOrigin::parse(bad).is_err(), "{bad}");
        }
    }
}
