//! The proof routes and the signed head on what is printed, with a signing key: the public
//! key and its fingerprint at the well-known path, a cell's bundle that checks offline, a
//! size past the head named as a bad request, the dashboard's printed table and the Excel
//! CSV naming the signed tree head; without a key, 503 saying which setting is missing.

use std::sync::Arc;

use kpi_domain::PlanDefinition;
use kpi_server::{AuthHandle, Authenticator};
use kpi_service::proofs::{verify_bundle, HeadSigner, ProofBundle};
use kpi_service::{ImportRecord, Ledger};
use poem::test::TestClient;
use poem::{EndpointExt, Route};

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const SEED: &str = include_str!("../../../config/seed/fuji-telework-r6.toml");
const KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

async fn client(
    dir: &std::path::Path,
    signer: Option<Arc<HeadSigner>>,
) -> TestClient<impl poem::Endpoint> {
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
    let web = Arc::new(
        kpi_web::Web::new(
            ledger,
            AuthHandle::new(Authenticator::new(&[], true).unwrap()),
            Default::default(),
        )
        .with_signer(signer),
    );
    TestClient::new(
        Route::new()
            .nest("/proof", kpi_web::proofs(web.clone()))
            .nest("/.well-known/kpi-ledger", kpi_web::well_known(web.clone()))
            .nest("/reports", kpi_web::reports(web.clone()))
            .nest("/dashboard", kpi_web::dashboard(web))
            .map_to_response(),
    )
}

async fn body(response: poem::test::TestResponse) -> String {
    response.0.into_body().into_string().await.unwrap()
}

#[tokio::test]
async fn with_a_key_the_routes_prove_and_the_printed_table_names_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Arc::new(HeadSigner::from_key_file_text(KEY).unwrap());
    let fingerprint = signer.fingerprint();
    let client = client(dir.path(), Some(signer.clone())).await;

    let published = client
        .get("/.well-known/kpi-ledger/public-key")
        .send()
        .await;
    published.assert_status_is_ok();
    let published = body(published).await;
    assert!(published.contains(&fingerprint), "{published}");
    let key = kpi_proof::parse_public_key(&published).unwrap();

    let response = client
        .get("/proof/cell?plan=telework-roadmap&kpi=2&year=R6")
        .send()
        .await;
    response.assert_status_is_ok();
    let bundle: ProofBundle = serde_json::from_str(&body(response).await).unwrap();
    let verified = verify_bundle(&bundle, &key).unwrap();
    assert_eq!(verified.tree_size, 335);

    let response = client.get("/proof/head?size=336").send().await;
    response.assert_status(poem::http::StatusCode::BAD_REQUEST);
    assert!(body(response).await.contains("tree size"));
    let response = client
        .get("/proof/cell?plan=telework-roadmap&kpi=99&year=R6")
        .send()
        .await;
    response.assert_status(poem::http::StatusCode::NOT_FOUND);

    let page = body(client.get("/dashboard/telework-roadmap").send().await).await;
    assert!(page.contains("id=\"tree-head\""), "{page}");
    assert!(
        page.contains(&fingerprint),
        "the printed table names the key"
    );
    let csv = body(client.get("/reports/telework-roadmap/kpi.csv").send().await).await;
    let last = csv.trim_end().lines().last().unwrap().to_owned();
    assert!(last.starts_with("木 335・ルート "), "{last}");
    assert!(last.ends_with(&fingerprint), "{last}");
}

#[tokio::test]
async fn without_a_key_signed_answers_are_503_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let client = client(dir.path(), None).await;
    for path in ["/proof/head", "/.well-known/kpi-ledger/public-key"] {
        let response = client.get(path).send().await;
        response.assert_status(poem::http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(body(response).await.contains("[proof] key_file"), "{path}");
    }
    let page = body(client.get("/dashboard/telework-roadmap").send().await).await;
    assert!(!page.contains("id=\"tree-head\""));
}
