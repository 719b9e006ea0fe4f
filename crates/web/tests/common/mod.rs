//! What the workbench's HTTP tests share: a seeded ledger behind the dashboard and workbench
//! routes, a reader (`council`) and a recorder (`clerk`) token, and helpers that sign in and
//! read hidden fields from a page.
#![allow(dead_code)] // each test file uses its own subset

use std::sync::Arc;

use kpi_domain::PlanDefinition;
use kpi_server::{new_token, AuthHandle, Authenticator, IssuedToken};
use kpi_service::auth::Role;
use kpi_service::{EventFilter, ImportRecord, Ledger};
use poem::http::StatusCode;
use poem::test::{TestClient, TestResponse};
use poem::{EndpointExt, Route};

const PLAN: &str = include_str!("../../../../config/plans/telework-roadmap.toml");
const SEED: &str = include_str!("../../../../config/seed/fuji-telework-r6.toml");

pub struct Bench {
    pub ledger: Ledger,
    pub auth: AuthHandle,
    pub reader: IssuedToken,
    pub clerk: IssuedToken,
    pub client: TestClient<poem::endpoint::BoxEndpoint<'static, poem::Response>>,
    _dir: tempfile::TempDir,
}

pub async fn start(config: kpi_web::WebConfig) -> Bench {
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

pub fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

pub async fn body(response: TestResponse) -> String {
    response.0.into_body().into_string().await.unwrap()
}

/// The value of the first `name="NAME" value="..."` in a page.
pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

impl Bench {
    /// Signs in with `token`: the `Set-Cookie` header.
    pub async fn sign_in_cookie(&self, token: &str, headers: &[(&str, &str)]) -> String {
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
    pub async fn session(&self, token: &str) -> String {
        let cookie = self.sign_in_cookie(token, &[]).await;
        cookie.split(';').next().unwrap().to_owned()
    }

    pub async fn get(&self, path: &str, session: &str) -> TestResponse {
        self.client.get(path).header("cookie", session).send().await
    }

    pub async fn post(&self, path: &str, session: &str, pairs: &[(&str, &str)]) -> TestResponse {
        self.client
            .post(path)
            .header("cookie", session)
            .content_type("application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .await
    }

    pub fn seminars(&self) -> Vec<kpi_domain::RecordedEvent> {
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
