//! Who may read the downloads and the dashboard: anyone when anonymous read is on; otherwise
//! only a reader token, as a bearer header or as the cookie the dashboard's token form sets.

use std::sync::Arc;

use kpi_domain::PlanDefinition;
use kpi_server::Authenticator;
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
    let web = Arc::new(kpi_web::Web { ledger, auth });
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
    let auth = Authenticator::new(std::slice::from_ref(&reader.entry), false).unwrap();
    let client = TestClient::new(app(ledger.clone(), auth));

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
        .header("cookie", pair)
        .send()
        .await;
    dashboard.assert_status_is_ok();
    let html = dashboard.0.into_body().into_string().await.unwrap();
    assert!(html.contains("156.5%"));
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
    assert!(html.contains("0 contributing events"), "{html}");
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
