//! Who may read the downloads and the dashboard: anyone when anonymous read is on; otherwise
//! only a reader token, as a bearer header or as the cookie the dashboard's token form sets.

use std::sync::Arc;

use kpi_domain::PlanDefinition;
use kpi_server::{AuthHandle, Authenticator};
use kpi_service::auth::Role;
use kpi_service::{ImportRecord, Ledger};
use poem::test::TestClient;
use poem::{EndpointExt, Route};

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const SEED: &str = include_str!("../../../config/seed/fuji-telework-r6.toml");

async fn seeded_ledger(dir: &std::path::Path) -> Ledger {
    let plan = PlanDefinition::from_toml(PLAN).unwrap();
    let ledger = Ledger::open(dir, Default::default(), vec![plan])
        .await
        .unwrap();
    let records = kpi_domain::seed::parse(SEED)
        .unwrap()
        .into_iter()
        .map(ImportRecord::from)
        .collect();
    ledger.import("seed", records).await.unwrap();
    ledger
}

fn app(ledger: Ledger, auth: Authenticator) -> impl poem::Endpoint<Output = poem::Response> {
    app_with(ledger, AuthHandle::new(auth))
}

/// The routes with token settings the test may replace, as a reload does.
fn app_with(ledger: Ledger, auth: AuthHandle) -> impl poem::Endpoint<Output = poem::Response> {
    let web = Arc::new(kpi_web::Web {
        ledger,
        auth,
        signer: None,
    });
    Route::new()
        .nest("/reports", kpi_web::reports(web.clone()))
        .nest("/dashboard", kpi_web::dashboard(web))
        .map_to_response()
}

#[tokio::test]
async fn without_anonymous_read_a_reader_token_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = seeded_ledger(dir.path()).await;
    let reader = kpi_server::new_token(Role::Reader, "council").unwrap();
    let auth =
        AuthHandle::new(Authenticator::new(std::slice::from_ref(&reader.entry), false).unwrap());
    let client = TestClient::new(app_with(ledger.clone(), auth.clone()));

    let refused = client.get("/reports/telework-roadmap/kpi.csv").send().await;
    refused.assert_status(poem::http::StatusCode::UNAUTHORIZED);
    refused.assert_header("www-authenticate", "Bearer");

    let form = client.get("/dashboard/telework-roadmap").send().await;
    form.assert_status(poem::http::StatusCode::UNAUTHORIZED);
    let page = form.0.into_body().into_string().await.unwrap();
    assert!(page.contains("action=\"/dashboard/session\""), "{page}");

    let wrong = client
        .get("/reports/telework-roadmap/kpi.md")
        .header("authorization", "Bearer not-a-token")
        .send()
        .await;
    wrong.assert_status(poem::http::StatusCode::UNAUTHORIZED);

    let allowed = client
        .get("/reports/telework-roadmap/kpi.md")
        .header("authorization", format!("Bearer {}", reader.token))
        .send()
        .await;
    allowed.assert_status_is_ok();
    let markdown = allowed.0.into_body().into_string().await.unwrap();
    assert!(markdown.contains("| 1,565人 | 156.5% |"));

    let bad_session = client
        .post("/dashboard/session")
        .content_type("application/x-www-form-urlencoded")
        .body("token=guess")
        .send()
        .await;
    bad_session.assert_status(poem::http::StatusCode::UNAUTHORIZED);

    let session = client
        .post("/dashboard/session")
        .content_type("application/x-www-form-urlencoded")
        .body(format!("token={}", reader.token))
        .send()
        .await;
    session.assert_status(poem::http::StatusCode::SEE_OTHER);
    let cookie = session.0.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let dashboard = client
        .get("/dashboard/telework-roadmap")
        .header("cookie", pair.clone())
        .send()
        .await;
    dashboard.assert_status_is_ok();
    let html = dashboard.0.into_body().into_string().await.unwrap();
    assert!(html.contains("156.5%"));

    // A reload that revokes the token ends the browser's session on its next request.
    let changes = auth.replace(Authenticator::new(&[], false).unwrap());
    assert_eq!(changes.to_string(), "revoked council");
    for request in [
        client
            .get("/dashboard/telework-roadmap")
            .header("cookie", pair),
        client
            .get("/reports/telework-roadmap/kpi.md")
            .header("authorization", format!("Bearer {}", reader.token)),
    ] {
        request
            .send()
            .await
            .assert_status(poem::http::StatusCode::UNAUTHORIZED);
    }
    ledger.close().await;
}

#[tokio::test]
async fn with_anonymous_read_anyone_reads_and_bad_queries_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = seeded_ledger(dir.path()).await;
    let client = TestClient::new(app(ledger.clone(), Authenticator::new(&[], true).unwrap()));

    client
        .get("/dashboard")
        .send()
        .await
        .assert_status(poem::http::StatusCode::SEE_OTHER);
    let overview = client
        .get("/reports/telework-roadmap/charts/overview.svg")
        .send()
        .await;
    overview.assert_status_is_ok();
    overview.assert_content_type("image/svg+xml; charset=utf-8");

    let bad = client
        .get("/reports/telework-roadmap/kpi.csv")
        .query("form", &"pdf")
        .send()
        .await;
    bad.assert_status(poem::http::StatusCode::BAD_REQUEST);
    bad.assert_text("form: `pdf` is not a CSV form; expected excel or machine\n")
        .await;
    client
        .get("/reports/telework-roadmap/charts/kpi-99.svg")
        .send()
        .await
        .assert_status(poem::http::StatusCode::NOT_FOUND);
    client
        .get("/dashboard/telework-roadmap/cells/2/c/R6")
        .send()
        .await
        .assert_status(poem::http::StatusCode::BAD_REQUEST);
    let early = client
        .get("/dashboard/telework-roadmap/cells/2/main/R6")
        .query("asOf", &"2020-01-01")
        .send()
        .await;
    early.assert_status_is_ok();
    let html = early.0.into_body().into_string().await.unwrap();
    assert!(html.contains("この数値に寄与した記録: 0件"), "{html}");
    ledger.close().await;
}

#[tokio::test]
async fn the_drill_down_marks_entries_recorded_after_the_transfer_as_late() {
    const FIFTH: &str = include_str!("../../../config/plans/fifth-information-plan.toml");
    const MAPPING: &str = include_str!("../../../config/plans/telework-roadmap-to-fifth.toml");
    let dir = tempfile::tempdir().unwrap();
    let ledger = seeded_ledger(dir.path()).await;
    let record = |event_type: &'static str, payload: serde_json::Value| {
        let ledger = ledger.clone();
        async move {
            ledger
                .record_payload("planner", event_type, &payload, Default::default())
                .await
                .unwrap_or_else(|error| panic!("{event_type}: {error}"))
        }
    };
    record(
        "plan_adopted",
        serde_json::json!({"definition": FIFTH, "adopted_on": "2027-03-01"}),
    )
    .await;
    record(
        "plan_extended",
        serde_json::json!({"plan_id": "telework-roadmap", "last": "R8",
                           "decided_on": "2025-06-01", "reason": "one more year"}),
    )
    .await;
    let mapping: serde_json::Value = toml::from_str(MAPPING).unwrap();
    record(
        "plan_transferred",
        serde_json::json!({"plan_id": "telework-roadmap", "successor": "fifth-information-plan",
                           "effective_from": "R9", "decided_on": "2027-03-31",
                           "mapping": mapping["mapping"]}),
    )
    .await;
    let late = record(
        "seminar",
        serde_json::json!({"title": "後日登録のセミナー", "organiser": "DX・テレワーク推進センター",
                           "first_date": "2024-10-01", "sessions": 1,
                           "participants": {"unique": 7, "attendances": 7}, "status": "held"}),
    )
    .await;
    let client = TestClient::new(app(ledger.clone(), Authenticator::new(&[], true).unwrap()));
    let page = client
        .get("/dashboard/telework-roadmap/cells/2/main/R6")
        .send()
        .await;
    page.assert_status_is_ok();
    let html = page.0.into_body().into_string().await.unwrap();
    // 568 published + 7 = 575, and only the one late seminar carries the mark.
    assert!(html.contains("cell-value\">575人<"), "{html}");
    assert_eq!(html.matches("class=\"late-mark\"").count(), 1, "{html}");
    let marked_row = html
        .split("<tr")
        .skip(1)
        .find(|row| row.contains("class=\"late-mark\""))
        .unwrap();
    assert!(
        marked_row.contains(&format!(">{} ", late.position)),
        "{marked_row}"
    );
    ledger.close().await;
}

async fn body(response: poem::test::TestResponse) -> String {
    response.assert_status_is_ok();
    response.0.into_body().into_string().await.unwrap()
}

/// KPI 2's main row of a dashboard page: No., name, target, R3..R7, 累計, 達成度.
fn kpi2_row(html: &str) -> Vec<String> {
    let row = html
        .split("<tr id=\"kpi-2\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no KPI 2 row in {html}"))
        .split("</tr>")
        .next()
        .unwrap();
    row.split("<td")
        .skip(1)
        .map(|cell| {
            // The text of the cell, inside a drill-down link or not.
            let text = cell
                .split_once('>')
                .unwrap()
                .1
                .split("</td>")
                .next()
                .unwrap();
            match text.split_once('>') {
                Some((_, linked)) => linked.split('<').next().unwrap().to_owned(),
                None => text.to_owned(),
            }
        })
        .collect()
}

/// `through` (valid time) and `asOf` (transaction time) on the dashboard and the downloads:
/// the seed (recorded at import) through the end of R5 has no R6 figures and R3-R5 as
/// published, through the end of R6 the published R6 figures, and a seminar of R7 (2025-06-10)
/// recorded later counts only when neither axis leaves it out. Every page says which axes
/// its figures are for.
#[tokio::test]
async fn the_dashboard_and_the_downloads_count_activities_through_a_date() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = seeded_ledger(dir.path()).await;
    let seed_head = ledger.head().position;
    let seed_recorded = ledger.store().read_from(seed_head, 1).unwrap()[0]
        .recorded_at
        .to_rfc3339();
    ledger
        .record_payload(
            "clerk",
            "seminar",
            &serde_json::json!({"title": "R7のセミナー", "organiser": "DX・テレワーク推進センター",
                                "first_date": "2025-06-10", "sessions": 1,
                                "participants": {"unique": 7, "attendances": 7}, "status": "held"}),
            Default::default(),
        )
        .await
        .unwrap();
    let client = TestClient::new(app(ledger.clone(), Authenticator::new(&[], true).unwrap()));
    let page = |query: &'static [(&'static str, &'static str)]| {
        let mut request = client.get("/dashboard/telework-roadmap");
        for (name, value) in query {
            request = request.query(*name, value);
        }
        async move { body(request.send().await).await }
    };

    let now = page(&[]).await;
    assert_eq!(
        kpi2_row(&now)[3..9],
        ["260人", "340人", "397人", "568人", "7人", "1,572人"]
    );
    assert!(now.contains("現在までの全記録、全期間の活動"), "{now}");
    assert!(!now.contains("as of now"), "Japanese only by default");

    let end_of_r5 = page(&[("through", "2024-03-31")]).await;
    assert_eq!(
        kpi2_row(&end_of_r5)[3..10],
        ["260人", "340人", "397人", "—", "—", "997人", "99.7%"]
    );
    assert!(end_of_r5.contains("2024-03-31までの活動"), "{end_of_r5}");
    assert!(
        end_of_r5.contains("name=\"through\" value=\"2024-03-31\""),
        "the form shows the date chosen"
    );
    // Drill-downs and downloads keep the date; the links offer the end of each fiscal year.
    assert!(
        end_of_r5.contains("/cells/2/main/R5?through=2024-03-31\""),
        "{end_of_r5}"
    );
    assert!(end_of_r5.contains("/reports/telework-roadmap/kpi.csv?through=2024-03-31\""));
    let r6_link = "/dashboard/telework-roadmap?through=2025-03-31\"";
    assert!(end_of_r5.contains(r6_link), "{end_of_r5}");
    assert!(end_of_r5.contains("R6年度末 (2025-03-31)"));

    // In English, the links between pages keep the language; downloads do not need it.
    let english = page(&[("through", "2024-03-31"), ("lang", "en")]).await;
    assert!(english.contains("<html lang=\"en\">"), "{english}");
    assert!(english
        .contains("as of now (everything recorded), through 2024-03-31 (activities up to then)"));
    assert!(
        english.contains("/cells/2/main/R5?through=2024-03-31&amp;lang=en\""),
        "{english}"
    );
    assert!(english.contains("/dashboard/telework-roadmap?through=2025-03-31&amp;lang=en\""));
    assert!(
        english.contains("name=\"lang\" value=\"en\""),
        "the form keeps it"
    );
    assert!(english.contains("/reports/telework-roadmap/kpi.csv?through=2024-03-31\""));
    assert!(
        english.contains(">Seminar and consultation participants<"),
        "{english}"
    );
    assert_eq!(
        kpi2_row(&english)[3..10],
        ["260人", "340人", "397人", "—", "—", "997人", "99.7%"]
    );
    let back = "/dashboard/telework-roadmap?through=2024-03-31\" lang=\"ja\">日本語</a>";
    assert!(english.contains(back), "{english}");

    let end_of_r6 = page(&[("through", "2025-03-31")]).await;
    assert_eq!(
        kpi2_row(&end_of_r6)[3..9],
        ["260人", "340人", "397人", "568人", "—", "1,565人"]
    );

    let seminar_unknown = client
        .get("/dashboard/telework-roadmap")
        .query("asOf", &seed_recorded)
        .query("through", &"2025-03-31")
        .send()
        .await;
    let seminar_unknown = body(seminar_unknown).await;
    assert_eq!(kpi2_row(&seminar_unknown)[6..8], ["568人", "—"]);
    assert!(seminar_unknown.contains("時点の記録、2025-03-31までの活動"));
    // The fiscal-year links keep the as-of instant.
    assert!(seminar_unknown.contains("through=2024-03-31"));
    let as_of_and_r5 =
        serde_urlencoded::to_string([("asOf", seed_recorded.as_str()), ("through", "2024-03-31")])
            .unwrap()
            .replace('&', "&amp;");
    assert!(
        seminar_unknown.contains(&format!("/dashboard/telework-roadmap?{as_of_and_r5}\"")),
        "{seminar_unknown}"
    );

    let cell = client
        .get("/dashboard/telework-roadmap/cells/2/main/R7")
        .query("through", &"2025-03-31")
        .send()
        .await;
    let cell = body(cell).await;
    assert!(cell.contains("この数値に寄与した記録: 0件"), "{cell}");
    assert!(cell.contains("2025-03-31までの活動"), "{cell}");

    let csv = |query: &'static str| {
        let request = client
            .get("/reports/telework-roadmap/kpi.csv")
            .query("form", &"machine")
            .query("through", &query);
        async move { body(request.send().await).await }
    };
    let kpi2 = |csv: &str| {
        csv.lines()
            .find(|line| line.starts_with("2,,"))
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        kpi2(&csv("2024-03-31").await),
        "2,,Seminar and consultation participants,persons,1000,260,340,397,,,997,99.7"
    );
    assert_eq!(
        kpi2(&csv("2025-03-31").await),
        "2,,Seminar and consultation participants,persons,1000,260,340,397,568,,1565,156.5"
    );
    let markdown = client
        .get("/reports/telework-roadmap/kpi.md")
        .query("through", &"2025-03-31")
        .send()
        .await;
    let markdown = body(markdown).await;
    assert!(
        markdown.contains(
            "\n現在までの全記録、2025-03-31までの活動 / as of now (everything recorded), \
             through 2025-03-31 (activities up to then)\n"
        ),
        "{markdown}"
    );

    let bad = client
        .get("/dashboard/telework-roadmap")
        .query("lang", &"fr")
        .send()
        .await;
    bad.assert_status(poem::http::StatusCode::BAD_REQUEST);
    bad.assert_text("lang: `fr` is not a language of the dashboard; expected ja or en\n")
        .await;
    for (url, field) in [
        ("/dashboard/telework-roadmap", "through"),
        ("/reports/telework-roadmap/kpi.md", "through"),
        ("/reports/telework-roadmap/charts/overview.svg", "through"),
    ] {
        let bad = client.get(url).query(field, &"2025-02-30").send().await;
        bad.assert_status(poem::http::StatusCode::BAD_REQUEST);
        bad.assert_text(
            "through: `2025-02-30` is not a date; write it as YYYY-MM-DD, e.g. 2025-03-31 for \
             the end of R6\n",
        )
        .await;
    }
    ledger.close().await;
}
