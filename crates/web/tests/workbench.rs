//! The clerk's workbench over HTTP: sign-in gives a session cookie that holds no token and
//! is HttpOnly, SameSite=Strict and Secure only over TLS; every form needs the session's CSRF
//! token and a same-origin request; a reload that revokes the token ends the session; the
//! event browser filters and pages; a reader sees no forms; a correction or retraction is
//! written once however often it is sent, and a refused one writes nothing.

use std::sync::Arc;

use kpi_domain::PlanDefinition;
use kpi_server::{new_token, AuthHandle, Authenticator, IssuedToken};
use kpi_service::auth::Role;
use kpi_service::{EventFilter, ImportRecord, Ledger};
use poem::http::StatusCode;
use poem::test::{TestClient, TestResponse};
use poem::{EndpointExt, Route};

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const SEED: &str = include_str!("../../../config/seed/fuji-telework-r6.toml");

struct Bench {
    ledger: Ledger,
    auth: AuthHandle,
    reader: IssuedToken,
    clerk: IssuedToken,
    client: TestClient<poem::endpoint::BoxEndpoint<'static, poem::Response>>,
    _dir: tempfile::TempDir,
}

async fn start(config: kpi_web::WebConfig) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanDefinition::from_toml(PLAN).unwrap();
    let ledger = Ledger::open(dir.path(), Default::default(), vec![plan])
        .await
        .unwrap();
    let records = kpi_domain::seed::parse(SEED)
        .unwrap()
        .into_iter()
        .map(ImportRecord::from)
        .collect();
    ledger.import("seed", records).await.unwrap();
    let reader = new_token(Role::Reader, "council").unwrap();
    let clerk = new_token(Role::Recorder, "clerk").unwrap();
    let auth = AuthHandle::new(
        Authenticator::new(&[reader.entry.clone(), clerk.entry.clone()], false).unwrap(),
    );
    let web = Arc::new(kpi_web::Web::new(ledger.clone(), auth.clone(), config));
    let app = Route::new()
        .nest("/dashboard", kpi_web::dashboard(web.clone()))
        .nest("/workbench", kpi_web::workbench(web))
        .map_to_response()
        .boxed();
    Bench {
        ledger,
        auth,
        reader,
        clerk,
        client: TestClient::new(app),
        _dir: dir,
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

async fn body(response: TestResponse) -> String {
    response.0.into_body().into_string().await.unwrap()
}

/// The value of the first `name="NAME" value="..."` in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

impl Bench {
    /// Signs in with `token`: the `Set-Cookie` header.
    async fn sign_in_cookie(&self, token: &str, headers: &[(&str, &str)]) -> String {
        let mut request = self
            .client
            .post("/workbench/sign-in")
            .content_type("application/x-www-form-urlencoded")
            .body(form(&[("token", token), ("next", "/workbench/events")]));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await;
        response.assert_status(StatusCode::SEE_OTHER);
        response.assert_header("location", "/workbench/events");
        response.0.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// Signs in with `token`: the `name=value` pair to send back.
    async fn session(&self, token: &str) -> String {
        let cookie = self.sign_in_cookie(token, &[]).await;
        cookie.split(';').next().unwrap().to_owned()
    }

    async fn get(&self, path: &str, session: &str) -> TestResponse {
        self.client.get(path).header("cookie", session).send().await
    }

    async fn post(&self, path: &str, session: &str, pairs: &[(&str, &str)]) -> TestResponse {
        self.client
            .post(path)
            .header("cookie", session)
            .content_type("application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .await
    }

    fn seminars(&self) -> Vec<kpi_domain::RecordedEvent> {
        let filter = EventFilter {
            event_type: Some("seminar".into()),
            ..EventFilter::default()
        };
        let page = self.ledger.events(&filter, 0, 10).unwrap();
        page.events
            .into_iter()
            .map(|(_, recorded)| recorded)
            .collect()
    }
}

#[tokio::test]
async fn the_session_cookie_holds_no_token_and_is_secure_only_over_tls() {
    let bench = start(Default::default()).await;
    let cookie = bench.sign_in_cookie(&bench.clerk.token, &[]).await;
    let (pair, attributes) = cookie.split_once(';').unwrap();
    let id = pair.strip_prefix("kpi_ledger_session=").unwrap();
    assert_eq!(id.len(), 64, "256 random bits: {cookie}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!cookie.contains(&bench.clerk.token));
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(attribute), "{attribute}: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    // A client's own X-Forwarded-Proto is not believed unless the setting says a proxy sets it.
    let claimed = bench
        .sign_in_cookie(&bench.clerk.token, &[("x-forwarded-proto", "https")])
        .await;
    assert!(!claimed.contains("Secure"), "{claimed}");

    let proxied = start(kpi_web::WebConfig {
        trust_forwarded_proto: true,
        ..Default::default()
    })
    .await;
    let secure = proxied
        .sign_in_cookie(&proxied.clerk.token, &[("x-forwarded-proto", "https")])
        .await;
    assert!(secure.ends_with("; Secure"), "{secure}");
    let plain = proxied.sign_in_cookie(&proxied.clerk.token, &[]).await;
    assert!(!plain.contains("Secure"), "{plain}");

    // A wrong token: the message beside the field, no cookie.
    let wrong = bench
        .client
        .post("/workbench/sign-in")
        .content_type("application/x-www-form-urlencoded")
        .body(form(&[("token", "kpi_guess")]))
        .send()
        .await;
    wrong.assert_status(StatusCode::UNAUTHORIZED);
    assert!(wrong.0.headers().get("set-cookie").is_none());
    let page = body(wrong).await;
    assert!(page.contains("id=\"token-error\""), "{page}");
    assert!(page.contains("aria-invalid=\"true\""), "{page}");
    bench.ledger.close().await;
    proxied.ledger.close().await;
}

#[tokio::test]
async fn sign_out_needs_the_sessions_csrf_token_from_this_site() {
    let bench = start(Default::default()).await;
    let session = bench.session(&bench.reader.token).await;
    let page = bench.get("/workbench/events", &session).await;
    page.assert_status_is_ok();
    let page = body(page).await;
    assert!(page.contains("ログイン中: council"), "{page}");
    let csrf = hidden(&page, "csrf");
    assert_eq!(csrf.len(), 64);

    for (pairs, headers, status) in [
        (vec![], vec![], StatusCode::FORBIDDEN),
        (
            vec![("csrf", "0".repeat(64))],
            vec![],
            StatusCode::FORBIDDEN,
        ),
        (
            vec![("csrf", csrf.clone())],
            vec![
                ("origin", "http://evil.example"),
                ("host", "127.0.0.1:8080"),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            vec![("csrf", csrf.clone())],
            vec![("sec-fetch-site", "cross-site")],
            StatusCode::FORBIDDEN,
        ),
    ] {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let mut request = bench
            .client
            .post("/workbench/sign-out")
            .header("cookie", &session)
            .content_type("application/x-www-form-urlencoded")
            .body(form(&pairs));
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        request.send().await.assert_status(status);
        // Still signed in after each refusal.
        bench
            .get("/workbench/events", &session)
            .await
            .assert_status_is_ok();
    }

    let out = bench
        .client
        .post("/workbench/sign-out")
        .header("cookie", &session)
        .header("origin", "http://127.0.0.1:8080")
        .header("host", "127.0.0.1:8080")
        .header("sec-fetch-site", "same-origin")
        .content_type("application/x-www-form-urlencoded")
        .body(form(&[("csrf", &csrf)]))
        .send()
        .await;
    out.assert_status(StatusCode::SEE_OTHER);
    let removal = out.0.headers()["set-cookie"].to_str().unwrap();
    assert!(removal.contains("Max-Age=0"), "{removal}");
    let after = bench.get("/workbench/events", &session).await;
    after.assert_status(StatusCode::UNAUTHORIZED);
    assert!(body(after).await.contains("action=\"/workbench/sign-in\""));
    bench.ledger.close().await;
}

#[tokio::test]
async fn a_reload_that_revokes_the_token_ends_its_session() {
    let bench = start(Default::default()).await;
    let clerk = bench.session(&bench.clerk.token).await;
    let reader = bench.session(&bench.reader.token).await;
    bench
        .get("/workbench/events", &clerk)
        .await
        .assert_status_is_ok();
    let changes = bench
        .auth
        .replace(Authenticator::new(std::slice::from_ref(&bench.reader.entry), false).unwrap());
    assert_eq!(changes.to_string(), "revoked clerk");
    bench
        .get("/workbench/events", &clerk)
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    bench
        .get("/dashboard/telework-roadmap", &clerk)
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    bench
        .get("/workbench/events", &reader)
        .await
        .assert_status_is_ok();
    bench.ledger.close().await;
}

#[tokio::test]
async fn the_event_browser_filters_pages_and_names_a_bad_filter() {
    let bench = start(Default::default()).await;
    let session = bench.session(&bench.reader.token).await;
    let page = body(
        bench
            .get("/workbench/events?kind=seminar&year=R6", &session)
            .await,
    )
    .await;
    let rows = page
        .matches("<tr><td class=\"n\"><a href=\"/workbench/events/")
        .count();
    assert!(rows > 0, "{page}");
    assert_eq!(rows, page.matches("<td>セミナー</td>").count(), "{page}");
    assert!(page.contains("令和6年"), "activity dates in 和暦: {page}");

    // 187 survey responses: 50 to a page, then the next page after the last position.
    let first = body(
        bench
            .get("/workbench/events?kind=survey_response", &session)
            .await,
    )
    .await;
    assert_eq!(first.matches("<td>企業調査の回答</td>").count(), 50);
    let next = hidden_href(&first, "next-page");
    assert!(next.contains("after="), "{next}");
    let second = body(bench.get(&next.replace("&amp;", "&"), &session).await).await;
    assert_eq!(second.matches("<td>企業調査の回答</td>").count(), 50);
    assert!(second.contains("id=\"first-page\""));

    let refused = bench
        .get("/workbench/events?year=R6x&from=2024-13-01", &session)
        .await;
    refused.assert_status(StatusCode::BAD_REQUEST);
    let refused = body(refused).await;
    assert!(refused.contains("id=\"year-error\""), "{refused}");
    assert!(refused.contains("id=\"from-error\""), "{refused}");
    bench.ledger.close().await;
}

/// The `href` of the element with id `id`.
fn hidden_href(page: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in {page}"));
    let tag_start = page[..at].rfind('<').unwrap();
    let tag = &page[tag_start..page[at..].find('>').unwrap() + at];
    tag.split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_reader_sees_the_event_in_plain_words_and_no_form() {
    let bench = start(Default::default()).await;
    let session = bench.session(&bench.reader.token).await;
    let seminar = &bench.seminars()[0];
    let path = format!("/workbench/events/{}", seminar.id);
    let page = body(bench.get(&path, &session).await).await;
    assert!(page.contains("セミナー"), "{page}");
    assert!(page.contains("令和"), "{page}");
    assert!(
        page.contains(&format!("({})", seminar.event.occurred_on())),
        "{page}"
    );
    assert!(page.contains("<details id=\"raw\">"), "{page}");
    assert!(
        !page.contains("correct-form") && !page.contains("retract-form"),
        "{page}"
    );
    assert!(page.contains("id=\"reader-only\""), "{page}");
    // Forging the form does not help: the reader's session lacks the role.
    let csrf = hidden(&page, "csrf");
    let head = bench.ledger.head().position;
    bench
        .post(
            &format!("{path}/retract"),
            &session,
            &[
                ("csrf", &csrf),
                ("idempotency_key", "web:x"),
                ("retract.reason", "r"),
                ("retract.decided_on", "2025-04-10"),
            ],
        )
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert_eq!(bench.ledger.head().position, head);
    bench.ledger.close().await;
}

/// The correct form of `page` as the browser would send it, with `changes` made.
fn correct_form(
    page: &str,
    seminar: &serde_json::Value,
    changes: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut pairs = vec![
        ("csrf".to_owned(), hidden(page, "csrf")),
        (
            "idempotency_key".to_owned(),
            hidden(page, "idempotency_key"),
        ),
        ("correct.reason".to_owned(), "名簿の数え直し".to_owned()),
        ("correct.decided_on".to_owned(), "令和7年4月10日".to_owned()),
    ];
    for (name, value) in [
        ("title", seminar["title"].as_str().unwrap().to_owned()),
        (
            "organiser",
            seminar["organiser"].as_str().unwrap().to_owned(),
        ),
        (
            "first_date",
            seminar["first_date"].as_str().unwrap().to_owned(),
        ),
        ("sessions", seminar["sessions"].to_string()),
        (
            "participants.unique",
            seminar["participants"]["unique"].to_string(),
        ),
        (
            "participants.attendances",
            seminar["participants"]["attendances"].to_string(),
        ),
        ("status", seminar["status"].as_str().unwrap().to_owned()),
    ] {
        pairs.push((format!("f.{name}"), value));
    }
    for (name, value) in changes {
        match pairs.iter_mut().find(|(n, _)| n == name) {
            Some(pair) => pair.1 = (*value).to_owned(),
            None => pairs.push(((*name).to_owned(), (*value).to_owned())),
        }
    }
    pairs
}

#[tokio::test]
async fn a_correction_and_a_retraction_are_written_once_however_often_sent() {
    let bench = start(Default::default()).await;
    let session = bench.session(&bench.clerk.token).await;
    let seminars = bench.seminars();
    let (target, other) = (&seminars[0], &seminars[1]);
    let path = format!("/workbench/events/{}", target.id);
    let page = body(bench.get(&path, &session).await).await;
    assert!(page.contains("id=\"correct-form\"") && page.contains("id=\"retract-form\""));
    let payload = target.event.to_payload();
    let unique = payload["participants"]["unique"].as_u64().unwrap() + 1;
    let attendances = payload["participants"]["attendances"].as_u64().unwrap() + 1;
    let (unique, attendances) = (unique.to_string(), attendances.to_string());
    let pairs = correct_form(
        &page,
        &payload,
        &[
            ("f.participants.unique", &unique),
            ("f.participants.attendances", &attendances),
        ],
    );
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let head = bench.ledger.head().position;
    let first = bench
        .post(&format!("{path}/correct"), &session, &pairs)
        .await;
    first.assert_status(StatusCode::SEE_OTHER);
    let location = first.0.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{path}?saved=")),
        "{location}"
    );
    // The double click, the reload: the same key records nothing more.
    for _ in 0..2 {
        let again = bench
            .post(&format!("{path}/correct"), &session, &pairs)
            .await;
        again.assert_status(StatusCode::SEE_OTHER);
        again.assert_header("location", location.as_str());
    }
    assert_eq!(bench.ledger.head().position, head + 1);
    let amendments = bench.ledger.amendment_ids_of(target.id);
    assert_eq!(amendments.len(), 1);
    let (envelope, correction) = bench.ledger.event(amendments[0]).unwrap().unwrap();
    assert_eq!(
        envelope.actor, "clerk",
        "the session's token names the actor"
    );
    let kpi_domain::LedgerEvent::Correction(correction) = correction.event else {
        panic!("a correction")
    };
    assert_eq!(correction.decided_on.to_string(), "2025-04-10");
    assert_eq!(
        correction.replacement.to_payload()["participants"]["unique"].to_string(),
        unique
    );
    let shown = body(bench.get(&location, &session).await).await;
    assert!(
        shown.contains("id=\"saved\"") && shown.contains("id=\"corrected\""),
        "{shown}"
    );
    assert!(
        shown.contains("名簿の数え直し"),
        "the amendment is listed: {shown}"
    );

    let other_path = format!("/workbench/events/{}", other.id);
    let page = body(bench.get(&other_path, &session).await).await;
    let csrf = hidden(&page, "csrf");
    // The retract form's key is the second on the page (the correct form's comes first).
    let key_marker = "id=\"retract-form\"";
    let retract_key = hidden(&page[page.find(key_marker).unwrap()..], "idempotency_key");
    let retract = [
        ("csrf", csrf.as_str()),
        ("idempotency_key", retract_key.as_str()),
        ("retract.reason", "二重に記録"),
        ("retract.decided_on", "2025-04-10"),
    ];
    for _ in 0..2 {
        bench
            .post(&format!("{other_path}/retract"), &session, &retract)
            .await
            .assert_status(StatusCode::SEE_OTHER);
    }
    assert_eq!(bench.ledger.head().position, head + 2);
    let retracted = body(bench.get(&other_path, &session).await).await;
    assert!(retracted.contains("id=\"retracted\""), "{retracted}");
    assert!(
        !retracted.contains("retract-form"),
        "nothing more to amend: {retracted}"
    );
    bench.ledger.close().await;
}

#[tokio::test]
async fn a_refused_form_writes_nothing_and_says_why_beside_the_field() {
    let bench = start(Default::default()).await;
    let session = bench.session(&bench.clerk.token).await;
    let target = &bench.seminars()[0];
    let path = format!("/workbench/events/{}", target.id);
    let page = body(bench.get(&path, &session).await).await;
    let head = bench.ledger.head().position;
    let payload = target.event.to_payload();
    let attendances = payload["participants"]["attendances"].as_u64().unwrap();
    let too_many = (attendances + 1).to_string();
    for (changes, error_id) in [
        (
            vec![("f.participants.unique", too_many.as_str())],
            "f-participants-unique-error",
        ),
        (vec![("f.sessions", "two")], "f-sessions-error"),
        (vec![("correct.reason", "")], "correct-reason-error"),
        (
            vec![("correct.decided_on", "いつか")],
            "correct-decided-on-error",
        ),
    ] {
        let pairs = correct_form(&page, &payload, &changes);
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let refused = bench
            .post(&format!("{path}/correct"), &session, &pairs)
            .await;
        refused.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
        let shown = body(refused).await;
        assert!(
            shown.contains(&format!("id=\"{error_id}\"")),
            "{error_id}: {shown}"
        );
        // What was typed is kept, and so is the form's key (nothing was written with it).
        assert!(shown.contains(&hidden(&page, "idempotency_key")));
        assert_eq!(bench.ledger.head().position, head, "{error_id}");
    }
    // A form without the session's CSRF token, or from another site, is refused too.
    let mut forged = correct_form(&page, &payload, &[("csrf", "forged")]);
    let pairs: Vec<(&str, &str)> = forged
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    bench
        .post(&format!("{path}/correct"), &session, &pairs)
        .await
        .assert_status(StatusCode::FORBIDDEN);
    forged.retain(|(name, _)| name != "csrf");
    forged.push(("csrf".into(), hidden(&page, "csrf")));
    let pairs: Vec<(&str, &str)> = forged
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    bench
        .client
        .post(format!("{path}/correct"))
        .header("cookie", &session)
        .header("sec-fetch-site", "cross-site")
        .content_type("application/x-www-form-urlencoded")
        .body(form(&pairs))
        .send()
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert_eq!(bench.ledger.head().position, head);
    bench.ledger.close().await;
}
