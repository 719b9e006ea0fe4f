//! Who may read, and as of when.

use chrono::{DateTime, Utc};
use kpi_domain::calendar::parse_as_of;
use kpi_service::auth::{Caller, Role};
use poem::http::{header, StatusCode};
use poem::{Request, Response};

use crate::Web;

/// The cookie holding a reader token for a browser, set by the dashboard's token form.
pub const SESSION_COOKIE: &str = "kpi_ledger_token";

/// The caller of a request: the bearer token if one is sent, else the session cookie, else
/// anonymous; refused unless it may read.
pub fn reader(web: &Web, req: &Request) -> poem::Result<Caller> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let caller = match (header, session_token(req)) {
        (Some(header), _) => web.auth.from_header(Some(header)),
        (None, Some(token)) => web.auth.from_token(&token),
        (None, None) => Ok(web.auth.anonymous()),
    };
    let caller =
        caller.map_err(|failure| denied(StatusCode::UNAUTHORIZED, &failure.to_string()))?;
    match caller.require(Role::Reader) {
        Ok(_) => Ok(caller),
        Err(denial) => Err(denied(StatusCode::UNAUTHORIZED, &denial.to_string())),
    }
}

fn session_token(req: &Request) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, token)| token.to_owned())
        .filter(|token| !token.is_empty())
}

fn denied(status: StatusCode, reason: &str) -> poem::Error {
    refusal(
        Response::builder()
            .status(status)
            .header(header::WWW_AUTHENTICATE, "Bearer")
            .content_type("text/plain; charset=utf-8")
            .body(format!("{reason}: a reader token is needed\n")),
    )
}

/// A refusal carries its whole response (status, headers, the reason in the body).
pub fn refusal(response: Response) -> poem::Error {
    poem::Error::from_response(response)
}

/// A 400 naming the parameter and the reason.
pub fn bad_request(field: &str, reason: &str) -> poem::Error {
    refusal(
        Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .content_type("text/plain; charset=utf-8")
            .body(format!("{field}: {reason}\n")),
    )
}

pub fn not_found(what: &str) -> poem::Error {
    refusal(
        Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("text/plain; charset=utf-8")
            .body(format!("{what}\n")),
    )
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct AsOfQuery {
    #[serde(rename = "asOf")]
    pub as_of: Option<String>,
    pub form: Option<String>,
}

impl AsOfQuery {
    pub fn instant(&self) -> poem::Result<Option<DateTime<Utc>>> {
        match self.as_of.as_deref().filter(|text| !text.is_empty()) {
            None => Ok(None),
            Some(text) => parse_as_of(text)
                .map(Some)
                .map_err(|reason| bad_request("asOf", &reason)),
        }
    }

    /// `?asOf=...` to carry into links, or nothing.
    pub fn suffix(&self) -> String {
        match self.as_of.as_deref().filter(|text| !text.is_empty()) {
            None => String::new(),
            Some(text) => format!(
                "?asOf={}",
                text.replace('%', "%25")
                    .replace('+', "%2B")
                    .replace(':', "%3A")
            ),
        }
    }
}

/// The table of a plan as of the query, or the response that says why not.
pub async fn table(web: &Web, plan: &str, query: &AsOfQuery) -> poem::Result<kpi_domain::KpiTable> {
    let as_of = query.instant()?;
    web.ledger
        .table(plan, as_of)
        .await
        .map_err(|error| match error {
            kpi_service::LedgerError::UnknownPlan(plan) => not_found(&format!("no plan `{plan}`")),
            other => {
                tracing::error!(error = %other, "cannot build the KPI table");
                refusal(
                    Response::builder()
                        .status(StatusCode::INTERNAL_SERVER_ERROR)
                        .body("cannot build the KPI table\n"),
                )
            }
        })
}
