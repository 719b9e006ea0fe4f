//! What the workbench tests share: a ledger under the city's plan, the routes with three
//! tokens (reader, recorder, admin), signing in as one of them, and reading a page's hidden
//! fields.

#![allow(dead_code)]

use std::sync::Arc;

use kpi_domain::PlanDefinition;
use kpi_server::{AuthHandle, Authenticator, IssuedToken};
use kpi_service::auth::Role;
use kpi_service::{ImportRecord, Ledger};
use poem::test::TestClient;
use poem::{EndpointExt, Route};

pub const PLAN: &str = include_str!("../../../../config/plans/telework-roadmap.toml");
pub const SEED: &str = include_str!("../../../../config/seed/fuji-telework-r6.toml");

pub type Client = TestClient<poem::endpoint::BoxEndpoint<'static, poem::Response>>;

pub struct Bench {
    pub ledger: Ledger,
    pub web: Arc<kpi_web::Web>,
    pub client: Client,
    pub reader: IssuedToken,
    pub recorder: IssuedToken,
    pub admin: IssuedToken,
}

/// An empty ledger under the telework plan, or the seeded one.
pub async fn bench(dir: &std::path::Path, seeded: bool) -> Bench {
    bench_with(dir, seeded, Default::default()).await
}

pub async fn bench_with(dir: &std::path::Path, seeded: bool, config: kpi_web::WebConfig) -> Bench {
    let plan = PlanDefinition::from_toml(PLAN).unwrap();
    let ledger = Ledger::open(dir, Default::default(), vec![plan])
        .await
        .unwrap();
    if seeded {
        let records = kpi_domain::seed::parse(SEED)
            .unwrap()
            .into_iter()
            .map(ImportRecord::from)
            .collect();
        ledger.import("seed", records).await.unwrap();
    }
    let reader = kpi_server::new_token(Role::Reader, "council").unwrap();
    let recorder = kpi_server::new_token(Role::Recorder, "clerk").unwrap();
    let admin = kpi_server::new_token(Role::Admin, "chief").unwrap();
    let entries = [
        reader.entry.clone(),
        recorder.entry.clone(),
        admin.entry.clone(),
    ];
    let auth = AuthHandle::new(Authenticator::new(&entries, false).unwrap());
    let web = Arc::new(kpi_web::Web::new(ledger.clone(), auth, config));
    let client = TestClient::new(
        Route::new()
            .nest("/dashboard", kpi_web::dashboard(web.clone()))
            .nest("/workbench", kpi_web::workbench(web.clone()))
            .map_to_response()
            .boxed(),
    );
    Bench {
        ledger,
        web,
        client,
        reader,
        recorder,
        admin,
    }
}

/// Signs in with `token`; the `name=value` cookie pair of the session.
pub async fn sign_in(client: &Client, token: &IssuedToken) -> String {
    let response = client
        .post("/workbench/sign-in")
        .content_type("application/x-www-form-urlencoded")
        .body(format!("token={}", token.token))
        .send()
        .await;
    response.assert_status(poem::http::StatusCode::SEE_OTHER);
    let cookie = response.0.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// GETs `path` with the session; status and body.
pub async fn get(client: &Client, cookie: &str, path: &str) -> (u16, String) {
    let response = client.get(path).header("cookie", cookie).send().await;
    let status = response.0.status().as_u16();
    (status, response.0.into_body().into_string().await.unwrap())
}

/// The value of the hidden (or any) input named `name` in a page.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].replace("&amp;", "&"))
}

/// Posts a url-encoded form with the session; status, `Location` and body.
pub async fn post_form(
    client: &Client,
    cookie: &str,
    path: &str,
    pairs: &[(String, String)],
) -> (u16, Option<String>, String) {
    let response = client
        .post(path)
        .header("cookie", cookie)
        .content_type("application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(pairs).unwrap())
        .send()
        .await;
    let status = response.0.status().as_u16();
    let location = response
        .0
        .headers()
        .get("location")
        .map(|value| value.to_str().unwrap().to_owned());
    (
        status,
        location,
        response.0.into_body().into_string().await.unwrap(),
    )
}
