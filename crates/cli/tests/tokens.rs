//! Tokens of a running server, end to end with the binary and the commands README's
//! operations section gives for the container: a server started with no token says how to
//! make the first one; `token add` and SIGHUP admit it; a recorder token added the same way
//! records and subscribes; `token revoke` and SIGHUP refuse it on the next request and close
//! its open websocket; a broken tokens file on SIGHUP keeps the tokens in force.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::ws::{next, subscribed};
use support::{succeed_with_env, text, DemoServer};

const RECORD: &str =
    "mutation($input: SeminarInput!) { recordSeminar(input: $input) { position } }";

/// POSTs `query` (with `variables`) as the holder of `token`: the status and the answer.
async fn graphql(
    server: &DemoServer,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(server.url("/graphql"))
        .json(&json!({ "query": query, "variables": variables }))
        .timeout(Duration::from_secs(10));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn seminar(title: &str) -> Value {
    json!({ "input": {
        "title": title,
        "organiser": "DX・テレワーク推進センター",
        "firstDate": "2024-04-30",
        "sessions": 1,
        "participants": { "unique": 10, "attendances": 10 },
        "capacity": 40,
        "status": "HELD"
    }})
}

fn sha256_hex(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_admin_and_tokens_added_and_revoked_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // As in the container: the tokens file is outside the store's directory.
    let file = dir.path().join("auth/tokens.toml");
    let env = [("KPI_LEDGER_SERVER__TOKENS_FILE", file.to_str().unwrap())];
    let add = |role: &str, name: &str| {
        let output = succeed_with_env(&["token", "add", "--role", role, "--name", name], &env);
        let token = text(&output.stdout).trim().to_owned();
        assert!(
            token.starts_with("kpi_") && !token.contains('\n'),
            "{token}"
        );
        assert!(text(&output.stderr).contains("SIGHUP"));
        token
    };

    // 1. No token yet: the server says how to make the first one and refuses every read.
    let server = DemoServer::start_serving(&data, &env);
    let hint = server
        .logs()
        .into_iter()
        .find(|line| line.contains("no bearer token is configured"))
        .expect("the start-up log says how to get a first token");
    assert!(hint.contains("\"WARN\""), "{hint}");
    assert!(
        hint.contains("kpi-ledger token add --role admin --name admin"),
        "{hint}"
    );
    let (_, refused) = graphql(&server, None, "{ head { position } }", Value::Null).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );

    // 2. The first admin: `token add` prints only the token; SIGHUP admits it.
    let admin = add("admin", "admin");
    let reloaded = server.reload();
    assert!(reloaded.contains("added admin (admin)"), "{reloaded}");
    let archive = reqwest::Client::new()
        .get(server.url("/admin/archive"))
        .bearer_auth(&admin)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(archive.status().as_u16(), 200);

    // 3. A recorder token added while serving records, and its websocket sees the event.
    let clerk = add("recorder", "clerk");
    assert!(server.reload().contains("added clerk (recorder)"));
    let mut socket = subscribed(
        &server,
        &clerk,
        "subscription { eventRecorded { position } }",
    )
    .await;
    let (status, recorded) = graphql(&server, Some(&clerk), RECORD, seminar("reload 1")).await;
    assert_eq!(status, 200, "{recorded}");
    let position = &recorded["data"]["recordSeminar"]["position"];
    let event = next(&mut socket).await.unwrap();
    assert_eq!(
        &event["payload"]["data"]["eventRecorded"]["position"], position,
        "{event}"
    );

    // 4. Revoked: its open websocket is closed and its next request refused.
    succeed_with_env(&["token", "revoke", "--name", "clerk"], &env);
    assert!(server.reload().contains("revoked clerk"));
    assert_eq!(
        next(&mut socket).await,
        Err((4403, "the token `clerk` was revoked".to_owned()))
    );
    let (status, refused) = graphql(&server, Some(&clerk), RECORD, seminar("reload 2")).await;
    assert_eq!(status, 401, "{refused}");
    let listed = text(&succeed_with_env(&["token", "list"], &env).stdout);
    assert!(listed.starts_with("admin\tadmin\t"), "{listed}");
    assert!(!listed.contains("clerk"), "{listed}");

    // 5. A tokens file broken by hand: the reload is refused at ERROR, naming the file and the
    // field, and the tokens in force are kept.
    let kept = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, kept.replace("role = \"admin\"", "role = \"root\"")).unwrap();
    let refused = server.reload();
    assert!(refused.contains("\"ERROR\""), "{refused}");
    assert!(
        refused.contains("server.tokens_file") && refused.contains("root"),
        "{refused}"
    );
    let (status, answer) =
        graphql(&server, Some(&admin), "{ head { position } }", Value::Null).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(&answer["data"]["head"]["position"], position);

    // Neither a token nor its hash is ever logged.
    let logs = server.logs().join("\n");
    for token in [&admin, &clerk] {
        assert!(!logs.contains(token.as_str()));
        assert!(!logs.contains(&sha256_hex(token)));
    }
    let mut server = server;
    let status = server.terminate().expect("serve stops on SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(Path::new(&data).is_dir());
}

/// A tokens file that cannot be read stops `serve` before it opens (or creates) the store,
/// naming the file and the field.
#[test]
fn a_broken_tokens_file_stops_start_up_before_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("tokens.toml");
    std::fs::write(&file, "[[tokens]]\nname = \"admin\"\nrole = \"admin\"\n").unwrap();
    let output = support::kpi_ledger_with_env(
        &["serve", "--data", data.to_str().unwrap()],
        &[
            ("KPI_LEDGER_SERVER__TOKENS_FILE", file.to_str().unwrap()),
            ("KPI_LEDGER_SERVER__BIND", "127.0.0.1:0"),
        ],
    );
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("server.tokens_file") && stderr.contains("missing field `sha256`"),
        "{stderr}"
    );
    assert!(!data.exists(), "no store is created");
}
