//! `/admin/archive`: only an admin bearer token gets the archive (not anonymous read, a reader
//! or recorder token, or the dashboard's session cookie); it is the file export's format,
//! trailer included, up to the head at the start of the request while appends continue.

use std::io::Cursor;
use std::sync::Arc;

use kpi_domain::PlanDefinition;
use kpi_server::Authenticator;
use kpi_service::auth::Role;
use kpi_service::{ImportRecord, Ledger};
use kpi_store::{ArchiveReader, ExpectedVersion, NewEvent, StreamId};
use poem::http::StatusCode;
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
    let web = Arc::new(kpi_web::Web {
        ledger,
        auth: kpi_server::AuthHandle::new(auth),
        signer: None,
    });
    Route::new()
        .nest("/admin", kpi_web::admin(web.clone()))
        .nest("/dashboard", kpi_web::dashboard(web))
        .map_to_response()
}

#[tokio::test]
async fn only_an_admin_token_gets_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = seeded_ledger(dir.path()).await;
    let reader = kpi_server::new_token(Role::Reader, "council").unwrap();
    let recorder = kpi_server::new_token(Role::Recorder, "clerk").unwrap();
    let admin = kpi_server::new_token(Role::Admin, "backup").unwrap();
    let entries = [
        reader.entry.clone(),
        recorder.entry.clone(),
        admin.entry.clone(),
    ];
    // Anonymous read on, as with `serve --demo`: reading is not enough.
    let auth = Authenticator::new(&entries, true).unwrap();
    let client = TestClient::new(app(ledger.clone(), auth));

    let anonymous = client.get("/admin/archive").send().await;
    anonymous.assert_status(StatusCode::UNAUTHORIZED);
    anonymous.assert_header("www-authenticate", "Bearer");
    let wrong = client
        .get("/admin/archive")
        .header("authorization", "Bearer kpi_guess")
        .send()
        .await;
    wrong.assert_status(StatusCode::UNAUTHORIZED);
    for (token, name) in [(&reader.token, "council"), (&recorder.token, "clerk")] {
        let forbidden = client
            .get("/admin/archive")
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await;
        forbidden.assert_status(StatusCode::FORBIDDEN);
        let reason = forbidden.0.into_body().into_string().await.unwrap();
        assert!(
            reason.contains("admin") && reason.contains(name),
            "{reason}"
        );
    }
    // The dashboard's session cookie is a reader's way in, never an admin's.
    let cookie = client
        .get("/admin/archive")
        .header(
            "cookie",
            format!("{}={}", kpi_web::SESSION_COOKIE, admin.token),
        )
        .send()
        .await;
    cookie.assert_status(StatusCode::UNAUTHORIZED);

    let allowed = client
        .get("/admin/archive")
        .header("authorization", format!("Bearer {}", admin.token))
        .send()
        .await;
    allowed.assert_status_is_ok();
    allowed.assert_content_type("application/x-ndjson");
    let archive = allowed.0.into_body().into_bytes().await.unwrap();
    let head = kpi_store::check_archive(ArchiveReader::new(Cursor::new(archive.to_vec()))).unwrap();
    assert_eq!(head, ledger.store().verify().unwrap());
    // The same bytes as the file export of the same log.
    let file: Vec<u8> = ledger
        .store()
        .export_archive()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .concat();
    assert_eq!(archive.to_vec(), file);
    ledger.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_ends_at_the_head_of_its_start_while_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = seeded_ledger(dir.path()).await;
    let store = ledger.store().clone();
    // A log of several hundred KiB, more than the pieces in flight (4 x 64 KiB), so the
    // reader is still at work while the client waits.
    let stream = StreamId::parse("bulk:archive-test").unwrap();
    for batch in 0..10 {
        let events = (0..100)
            .map(|i| {
                NewEvent::new(
                    "bulk_note",
                    "2024-05-01".parse().unwrap(),
                    "test",
                    serde_json::json!({ "n": batch * 100 + i, "text": "x".repeat(500) }),
                )
            })
            .collect();
        store
            .append(&stream, ExpectedVersion::Any, events)
            .await
            .unwrap();
    }
    let start = store.head();
    let admin = kpi_server::new_token(Role::Admin, "backup").unwrap();
    let auth = Authenticator::new(std::slice::from_ref(&admin.entry), false).unwrap();
    let client = TestClient::new(app(ledger.clone(), auth));

    let response = client
        .get("/admin/archive")
        .header("authorization", format!("Bearer {}", admin.token))
        .send()
        .await;
    response.assert_status_is_ok();
    // Nothing of the body read yet: appends go on meanwhile, bounded in time.
    for n in 0..50 {
        let appended = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            store.append(
                &stream,
                ExpectedVersion::Any,
                vec![NewEvent::new(
                    "bulk_note",
                    "2024-05-02".parse().unwrap(),
                    "test",
                    serde_json::json!({ "late": n }),
                )],
            ),
        )
        .await
        .expect("an append is not held up by an export in progress");
        appended.unwrap();
    }
    assert_eq!(store.head().position, start.position + 50);

    let archive = response.0.into_body().into_bytes().await.unwrap();
    let head = kpi_store::check_archive(ArchiveReader::new(Cursor::new(archive.to_vec()))).unwrap();
    assert_eq!(head, start, "the archive ends at the head when it started");
    ledger.close().await;
}
