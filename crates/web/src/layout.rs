//! The workbench's page layout: one header with the navigation (dashboard, events, record,
//! import, sign-in or sign-out, the other language), the dashboard's stylesheet with the
//! workbench's (`workbench.css`), and the page's content in `<main>`. Every workbench page
//! is `layout::page(&here, lang, visitor, title, body)`, `here` from [`here`].

use maud::{html, Markup, PreEscaped, DOCTYPE};
use poem::http::StatusCode;
use poem::{Request, Response};

use crate::forms;
use crate::session::Visitor;
use crate::words::Lang;
use crate::workbench::words::WbWords;

/// The dashboard's stylesheet (its fonts named as the charts name them) and the workbench's.
pub fn stylesheet() -> &'static str {
    static STYLE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "{}\n{}",
            include_str!("dashboard.css").replace("FONT_FALLBACKS", kpi_charts::FONT_FALLBACKS),
            include_str!("workbench.css")
        )
    });
    &STYLE
}

/// `path` with `?lang=en` when the page is in English: links between pages keep the
/// language. `path` may hold a query already.
pub fn href(path: &str, lang: Lang) -> String {
    match lang.param() {
        None => path.to_owned(),
        Some(lang) if path.contains('?') => format!("{path}&lang={lang}"),
        Some(lang) => format!("{path}?lang={lang}"),
    }
}

/// `here` (a path and query of this server) in another language: its `lang` parameter
/// replaced.
pub fn in_language(here: &str, lang: Lang) -> String {
    let (path, query) = here.split_once('?').unwrap_or((here, ""));
    let kept: Vec<(String, String)> = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
        .filter(|(name, _)| name != "lang")
        .collect();
    let mut query = serde_urlencoded::to_string(&kept).unwrap_or_default();
    if let Some(lang) = lang.param() {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!("lang={lang}"));
    }
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// The path and query a request to routes mounted at `mount` asked for (poem strips the
/// mount from `req.uri()`), for the language switch and for a sign-in to come back to.
pub fn here(mount: &str, req: &Request) -> String {
    let rest = req
        .uri()
        .path_and_query()
        .map_or("/", |path_and_query| path_and_query.as_str());
    match rest {
        "/" => mount.to_owned(),
        rest if rest.starts_with("/?") => format!("{mount}{}", &rest[1..]),
        rest => format!("{mount}{rest}"),
    }
}

/// A whole page: the header and navigation, then `body` in `<main>`.
pub fn page(
    here: &str,
    lang: Lang,
    visitor: Option<&Visitor>,
    title: &str,
    body: Markup,
) -> Markup {
    let words = lang.words();
    let wb = WbWords::of(lang);
    let path = here.split_once('?').map_or(here, |(path, _)| path);
    let nav = [
        ("/dashboard", wb.nav_dashboard),
        ("/workbench/events", wb.nav_events),
        ("/workbench/record", wb.nav_record),
        ("/workbench/import", wb.nav_import),
    ];
    html! {
        (DOCTYPE)
        html lang=(words.html_lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — kpi-ledger" }
                style { (PreEscaped(stylesheet())) }
            }
            body.workbench {
                header.site.no-print {
                    nav aria-label=(wb.nav_label) {
                        ul {
                            @for (target, label) in nav {
                                li {
                                    @if path == target || path.starts_with(&format!("{target}/")) {
                                        a href=(href(target, lang)) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href(target, lang)) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    div.account {
                        @match visitor.filter(|visitor| visitor.signed_in()) {
                            Some(visitor) => {
                                span #signed-in { (wb.signed_in_as) ": " (visitor.name().unwrap_or("")) }
                                form.inline method="post" action="/workbench/sign-out" {
                                    (forms::csrf_field(visitor))
                                    @if let Some(lang) = lang.param() {
                                        input type="hidden" name="lang" value=(lang);
                                    }
                                    button type="submit" #sign-out { (wb.sign_out) }
                                }
                            }
                            None => {
                                a #sign-in href=(href(&format!("/workbench/sign-in?next={}", forms::url_encode(here)), lang)) { (wb.sign_in) }
                            }
                        }
                        " "
                        a.lang href=(in_language(here, words.other)) lang=(words.other.words().html_lang) {
                            (words.other_language)
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// An HTML response.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .body(markup.into_string())
}
