//! Who may read, and on which axes of time: as of when (recorded), through when (happened).

use chrono::{DateTime, NaiveDate, Utc};
use kpi_domain::calendar::{parse_as_of, parse_through};
use kpi_report::Axes;
use kpi_service::auth::{AccessDenied, Caller, Role};
use poem::http::{header, StatusCode};
use poem::{Request, Response};

use crate::words::Lang;
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
    let auth = web.auth.current();
    let caller = match (header, session_token(req)) {
        (Some(header), _) => auth.from_header(Some(header)),
        (None, Some(token)) => auth.from_token(&token),
        (None, None) => Ok(auth.anonymous()),
    };
    let caller =
        caller.map_err(|failure| denied(StatusCode::UNAUTHORIZED, &failure.to_string()))?;
    match caller.require(Role::Reader) {
        Ok(_) => Ok(caller),
        Err(denial) => Err(denied(StatusCode::UNAUTHORIZED, &denial.to_string())),
    }
}

/// The caller of an admin request: a bearer token of the admin role, never the session
/// cookie or anonymous read, so a browser that holds a session cannot be made to ask for it.
pub fn admin(web: &Web, req: &Request) -> poem::Result<Caller> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let caller = match header {
        Some(header) => web.auth.current().from_header(Some(header)),
        None => Ok(Caller::Anonymous { may_read: false }),
    }
    .map_err(|failure| {
        denied_admin(
            StatusCode::UNAUTHORIZED,
            &format!("{failure}: an admin token is needed"),
        )
    })?;
    match caller.require(Role::Admin) {
        Ok(_) => Ok(caller),
        Err(denial @ AccessDenied::Unauthenticated { .. }) => {
            Err(denied_admin(StatusCode::UNAUTHORIZED, &denial.to_string()))
        }
        Err(denial) => Err(denied_admin(StatusCode::FORBIDDEN, &denial.to_string())),
    }
}

fn denied_admin(status: StatusCode, reason: &str) -> poem::Error {
    refusal(
        Response::builder()
            .status(status)
            .header(header::WWW_AUTHENTICATE, "Bearer")
            .content_type("text/plain; charset=utf-8")
            .body(format!("{reason}\n")),
    )
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

/// The query every route takes: `asOf` (transaction time: only what had been recorded by
/// then; RFC 3339, or a date meaning the end of that day in Japan), `through` (valid time:
/// only activities that happened on or before that date), the CSV `form`, and the
/// dashboard's `lang` (`ja`, the default, or `en`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TableQuery {
    #[serde(rename = "asOf")]
    pub as_of: Option<String>,
    pub through: Option<String>,
    pub form: Option<String>,
    pub lang: Option<String>,
}

impl TableQuery {
    fn given(text: &Option<String>) -> Option<&str> {
        text.as_deref()
            .map(str::trim)
            .filter(|text| !text.is_empty())
    }

    pub fn instant(&self) -> poem::Result<Option<DateTime<Utc>>> {
        Self::given(&self.as_of)
            .map(|text| parse_as_of(text).map_err(|reason| bad_request("asOf", &reason)))
            .transpose()
    }

    pub fn through_date(&self) -> poem::Result<Option<NaiveDate>> {
        Self::given(&self.through)
            .map(|text| parse_through(text).map_err(|reason| bad_request("through", &reason)))
            .transpose()
    }

    /// Both axes, or a 400 naming the parameter that is not a time or a date.
    pub fn axes(&self) -> poem::Result<Axes> {
        Ok(Axes {
            as_of: self.instant()?,
            through: self.through_date()?,
        })
    }

    /// The same query with another `through` (none: every activity).
    pub fn with_through(&self, through: Option<NaiveDate>) -> TableQuery {
        TableQuery {
            through: through.map(|date| date.to_string()),
            ..self.clone()
        }
    }

    /// The same query in another language.
    pub fn with_lang(&self, lang: Lang) -> TableQuery {
        TableQuery {
            lang: lang.param().map(str::to_owned),
            ..self.clone()
        }
    }

    /// The dashboard's language, or a 400 naming `lang`.
    pub fn lang(&self) -> poem::Result<Lang> {
        Lang::parse(self.lang.as_deref()).map_err(|reason| bad_request("lang", &reason))
    }

    /// `?asOf=...&through=...` to carry into links to downloads and charts (the parameters
    /// given), or nothing.
    pub fn suffix(&self) -> String {
        encode(&[
            ("asOf", Self::given(&self.as_of)),
            ("through", Self::given(&self.through)),
        ])
    }

    /// [`TableQuery::suffix`] for links between dashboard pages, which also keep `lang` when
    /// it is not the default.
    pub fn page_suffix(&self) -> String {
        let lang = self.lang().ok().and_then(Lang::param);
        encode(&[
            ("asOf", Self::given(&self.as_of)),
            ("through", Self::given(&self.through)),
            ("lang", lang),
        ])
    }
}

/// `?name=value&...` of the pairs that have a value, or nothing.
fn encode(pairs: &[(&str, Option<&str>)]) -> String {
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(name, value)| Some((*name, (*value)?)))
        .collect();
    if pairs.is_empty() {
        return String::new();
    }
    format!(
        "?{}",
        serde_urlencoded::to_string(pairs).expect("text pairs encode")
    )
}

/// The table of a plan on the query's axes, or the response that says why not.
pub async fn table(
    web: &Web,
    plan: &str,
    query: &TableQuery,
) -> poem::Result<kpi_domain::KpiTable> {
    let axes = query.axes()?;
    let question = kpi_service::TableQuery::new(plan)
        .in_view(kpi_service::View::new(axes.as_of, axes.through));
    web.ledger
        .table(&question)
        .await
        .map(|answer| answer.table)
        .map_err(|error| match error {
            kpi_service::LedgerError::UnknownPlan(plan) => not_found(&format!("no plan `{plan}`")),
            // A table as of a time or through a date reads the log; the store logs the
            // outage itself.
            unavailable if unavailable.is_storage_failure() => storage_unavailable(&unavailable),
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

/// 503 for a request that needs the log while the storage is unavailable; not logged (the
/// store logs the outage once).
pub fn storage_unavailable(error: &dyn std::fmt::Display) -> poem::Error {
    refusal(
        Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header(poem::http::header::RETRY_AFTER, "5")
            .content_type("text/plain; charset=utf-8")
            .body(format!("{error}\n")),
    )
}
