//! Workbench sessions over HTTP: sign-in gives a session cookie that holds no token and is
//! HttpOnly, SameSite=Strict and Secure only over TLS (or a trusted proxy); sign-out needs the
//! session's CSRF token and a same-origin request; a reload that revokes the token, or idle
//! time, ends the session.

mod common;

use common::{body, form, hidden, start};
use kpi_server::Authenticator;
use poem::http::StatusCode;

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
    let after = body(after).await;
    assert!(after.contains("action=\"/workbench/sign-in\""), "{after}");
    assert!(after.contains("もう一度ログインしてください"), "{after}");
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
    let ended = bench.get("/workbench/events", &clerk).await;
    ended.assert_status(StatusCode::UNAUTHORIZED);
    assert!(body(ended).await.contains("トークンが失効しました"));
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

/// With no idle time allowed, the next request finds the session expired: the cookie
/// alone does not keep a session alive.
#[tokio::test]
async fn an_idle_session_expires() {
    let bench = start(kpi_web::WebConfig {
        session_idle_secs: 0,
        ..Default::default()
    })
    .await;
    let session = bench.session(&bench.clerk.token).await;
    let expired = bench.get("/workbench/events", &session).await;
    expired.assert_status(StatusCode::UNAUTHORIZED);
    assert!(body(expired).await.contains("もう一度ログインしてください"));
    bench.ledger.close().await;
}
