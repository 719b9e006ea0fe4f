//! Signing in (a token exchanged for a session) and out. The token is read once, from the
//! form, and never kept: the session remembers its SHA-256 and name (`crate::session`).

use std::sync::Arc;
use std::time::Instant;

use maud::{html, Markup};
use poem::http::{header, StatusCode};
use poem::web::{Data, Form, Query};
use poem::{handler, Request, Response};

use super::lang_of;
use super::words::WbWords;
use crate::forms::{self, FieldErrors};
use crate::layout;
use crate::session::{self, check_same_origin, session_id};
use crate::words::Lang;
use crate::Web;

#[derive(Debug, Default, serde::Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    lang: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: String,
    lang: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
    lang: Option<String>,
}

/// Where to go after signing in: a path of this server (never another host), else the
/// event browser.
fn safe_next(next: Option<&str>, lang: Lang) -> String {
    match next.map(str::trim) {
        Some(next)
            if next.starts_with('/')
                && !next.starts_with("//")
                && !next.contains('\\')
                && !next.starts_with("/workbench/sign-") =>
        {
            next.to_owned()
        }
        _ => layout::href("/workbench/events", lang),
    }
}

/// The sign-in page: `message` says why the visitor is here (an ended session, a page that
/// needs a token), `error` is the token field's.
pub fn sign_in_page(
    here: &str,
    lang: Lang,
    next: &str,
    message: Option<&str>,
    error: Option<&String>,
) -> Markup {
    let wb = WbWords::of(lang);
    layout::page(
        here,
        lang,
        None,
        wb.sign_in,
        html! {
            h1 { (wb.sign_in) }
            @if let Some(message) = message { p.notice.error role="alert" { (message) } }
            p.help { (wb.sign_in_help) }
            form.stacked #sign-in-form method="post" action="/workbench/sign-in" {
                input type="hidden" name="next" value=(next);
                @if let Some(lang) = lang.param() { input type="hidden" name="lang" value=(lang); }
                (forms::input_field("token", "password", wb.token_label, Some(wb.token_help), "", true, error))
                button type="submit" { (wb.sign_in) }
            }
        },
    )
}

/// The visitor of a workbench page, or, when they may not read, the sign-in page (401) that
/// brings them back here.
pub fn visitor_or_sign_in(web: &Web, req: &Request, lang: Lang) -> poem::Result<session::Visitor> {
    session::visitor(web, req).map_err(|refusal| {
        if refusal.status() != StatusCode::UNAUTHORIZED {
            return refusal;
        }
        let here = layout::here(super::MOUNT, req);
        crate::access::refusal(layout::respond(
            StatusCode::UNAUTHORIZED,
            sign_in_page(&here, lang, &here, Some(lang.words().token_needed), None),
        ))
    })
}

#[handler]
pub async fn show(req: &Request, Query(query): Query<SignInQuery>) -> poem::Result<Response> {
    let lang = lang_of(query.lang.as_deref())?;
    Ok(layout::respond(
        StatusCode::OK,
        sign_in_page(
            &layout::here("/workbench/sign-in", req),
            lang,
            query.next.as_deref().unwrap_or(""),
            None,
            None,
        ),
    ))
}

#[handler]
pub async fn submit(
    req: &Request,
    web: Data<&Arc<Web>>,
    Form(form): Form<SignInForm>,
) -> poem::Result<Response> {
    let lang = lang_of(form.lang.as_deref())?;
    check_same_origin(req).map_err(|reason| {
        crate::access::refusal(
            Response::builder()
                .status(StatusCode::FORBIDDEN)
                .content_type("text/plain; charset=utf-8")
                .body(format!("{reason}\n")),
        )
    })?;
    let admission = match web.auth.current().admit_token(form.token.trim()) {
        Ok(admission) => admission,
        Err(_) => {
            let mut errors = FieldErrors::new();
            errors.insert("token".into(), WbWords::of(lang).wrong_token.into());
            tracing::info!("a sign-in with an unknown token was refused");
            return Ok(layout::respond(
                StatusCode::UNAUTHORIZED,
                sign_in_page(
                    &layout::here("/workbench/sign-in", req),
                    lang,
                    &form.next,
                    None,
                    errors.get("token"),
                ),
            ));
        }
    };
    // A new id every sign-in: a session id planted before it is worth nothing after.
    if let Some(old) = session_id(req) {
        web.sessions.end(&old);
    }
    let name = admission.caller.actor().unwrap_or_default().to_owned();
    let (id, _csrf) = web.sessions.start(admission, Instant::now());
    tracing::info!(token = %name, "signed in to the workbench");
    Ok(Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, safe_next(Some(&form.next), lang))
        .header(header::SET_COOKIE, web.sessions.cookie(req, &id))
        .header("cache-control", "no-store")
        .finish())
}

/// Ends the session (its CSRF token must come with the form) and removes the cookie.
#[handler]
pub async fn sign_out(
    req: &Request,
    web: Data<&Arc<Web>>,
    Form(form): Form<SignOutForm>,
) -> poem::Result<Response> {
    let lang = lang_of(form.lang.as_deref())?;
    match session::authorise_post(&web, req, &form.csrf, kpi_service::auth::Role::Reader) {
        Ok(_) => {
            if let Some(id) = session_id(req) {
                web.sessions.end(&id);
            }
        }
        // Already ended: only the cookie is left to remove.
        Err(error) if error.status() == StatusCode::UNAUTHORIZED => {}
        Err(error) => return Err(error),
    }
    Ok(Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, layout::href("/workbench/sign-in", lang))
        .header(header::SET_COOKIE, web.sessions.removal(req))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_goes_back_only_to_this_server() {
        assert_eq!(
            safe_next(Some("/dashboard?lang=en"), Lang::Ja),
            "/dashboard?lang=en"
        );
        for away in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "",
            "/workbench/sign-out",
        ] {
            assert_eq!(
                safe_next(Some(away), Lang::Ja),
                "/workbench/events",
                "{away}"
            );
        }
        assert_eq!(safe_next(None, Lang::En), "/workbench/events?lang=en");
    }
}
