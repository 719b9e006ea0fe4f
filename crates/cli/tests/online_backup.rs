//! README's restore drill against a running server, end to end through the real binary:
//! `archive export --server` while clients keep recording, `archive import` into a new
//! directory, `verify` there and `verify --server` agree on the digest, and the restored store
//! serves the same table. Only an admin token gets the archive. Against a stand-in server
//! that misbehaves: an export cut off part-way or ending without its trailer leaves no file,
//! and `verify --server` of a failing log exits 1.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use support::{kpi_ledger, succeed, text, token, DemoServer, BIN};

/// `kpi-ledger ARGS` with `KPI_LEDGER_TOKEN` set, as a backup job would run it.
fn with_token_env(args: &[&str], token: &str) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Command::new(BIN)
        .args(args)
        .current_dir(root)
        .env("RUST_LOG", "warn")
        .env("KPI_LEDGER_TOKEN", token)
        .output()
        .expect("kpi-ledger runs")
}

/// The digest `verify` prints after `ok: `.
fn digest(output: &Output) -> String {
    let out = text(&output.stdout);
    assert!(output.status.success(), "{out}{}", text(&output.stderr));
    out.trim()
        .strip_prefix("ok: ")
        .unwrap_or_else(|| panic!("verify printed {out}"))
        .to_owned()
}

/// The trailer's head of an archive file, as `verify` prints a digest.
fn trailer_head(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let trailer: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let head = &trailer["trailer"]["head"];
    format!(
        "position {} hash {}",
        head["position"],
        head["hash"].as_str().unwrap()
    )
}

fn event_lines(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.pop(); // the trailer
    lines
}

/// Records `count` seminars over GraphQL (each within 10 s); the positions acknowledged.
async fn record_seminars(url: String, token: String, count: usize) -> Vec<u64> {
    let http = reqwest::Client::new();
    let mutation =
        "mutation($input: SeminarInput!) { recordSeminar(input: $input) { id position } }";
    let mut positions = Vec::new();
    for n in 0..count {
        let input = serde_json::json!({
            "title": format!("backup drill seminar {n}"),
            "organiser": "DX・テレワーク推進センター",
            "firstDate": "2024-04-30",
            "sessions": 1,
            "participants": { "unique": 10, "attendances": 10 },
            "capacity": 40,
            "status": "HELD"
        });
        let body: serde_json::Value = http
            .post(&url)
            .bearer_auth(&token)
            .json(&serde_json::json!({ "query": mutation, "variables": { "input": input } }))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        positions.push(body["data"]["recordSeminar"]["position"].as_u64().unwrap());
    }
    positions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restore_drill_runs_against_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (admin, admin_entry) = token("admin", "backup");
    let (reader, reader_entry) = token("reader", "council");
    let tokens = format!("[{admin_entry},{reader_entry}]");
    let server = DemoServer::start_with_env(&data, &[("KPI_LEDGER_SERVER__TOKENS", &tokens)]);
    let url = server.url("");
    let archive = dir.path().join("ledger.jsonl");
    let archive_arg = archive.to_str().unwrap();
    let partial = dir.path().join(".ledger.jsonl.partial");

    // The server holds its data directory: the store commands cannot open it.
    let locked = kpi_ledger(&[
        "archive",
        "export",
        "--data",
        data.to_str().unwrap(),
        archive_arg,
    ]);
    assert!(!locked.status.success());
    assert!(
        text(&locked.stderr).contains("in use"),
        "{}",
        text(&locked.stderr)
    );

    // Only an admin token gets the archive (anonymous read is on in the demo), and a refused
    // export leaves no file behind.
    let anonymous = kpi_ledger(&["archive", "export", "--server", &url, archive_arg]);
    assert!(!anonymous.status.success());
    let refusal = text(&anonymous.stderr);
    assert!(
        refusal.contains("401") && refusal.contains("KPI_LEDGER_TOKEN"),
        "{refusal}"
    );
    let as_reader = kpi_ledger(&[
        "archive",
        "export",
        "--server",
        &url,
        "--token",
        &reader,
        archive_arg,
    ]);
    assert!(!as_reader.status.success());
    let refusal = text(&as_reader.stderr);
    assert!(
        refusal.contains("403") && refusal.contains("admin"),
        "{refusal}"
    );
    assert!(!archive.exists() && !partial.exists());

    // Clients keep recording while the archive is taken.
    let seeded = server.query("{ head { position } }").await["data"]["head"]["position"]
        .as_u64()
        .unwrap();
    let recording = tokio::spawn(record_seminars(server.url("/graphql"), admin.clone(), 150));
    let started = std::time::Instant::now();
    while server.query("{ head { position } }").await["data"]["head"]["position"]
        .as_u64()
        .unwrap()
        < seeded + 20
    {
        assert!(started.elapsed() < Duration::from_secs(30), "no appends");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let export_args = ["archive", "export", "--server", &url, archive_arg];
    let exported = {
        let (args, admin) = (export_args.map(str::to_owned), admin.clone());
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            with_token_env(&args, &admin)
        })
        .await
        .unwrap()
    };
    let printed = text(&exported.stdout);
    assert!(
        exported.status.success(),
        "{printed}{}",
        text(&exported.stderr)
    );
    let positions = recording.await.unwrap();
    assert_eq!(positions.len(), 150, "every append was acknowledged");
    assert!(!partial.exists());
    let archived = trailer_head(&archive);
    assert!(printed.contains(&archived), "{printed}");
    let archived_position: u64 = archived.split(' ').nth(1).unwrap().parse().unwrap();
    let last = *positions.last().unwrap();
    assert!(
        (seeded + 20..=last).contains(&archived_position),
        "the archive ends at the head when it started ({archived}); the log ran {seeded}..{last}"
    );

    // Import into a new directory: the digest of the archive's head.
    let restored = dir.path().join("restored");
    let restored_arg = restored.to_str().unwrap();
    let imported =
        text(&succeed(&["archive", "import", archive_arg, "--data", restored_arg]).stdout);
    assert!(imported.contains(&format!("ok: {archived}")), "{imported}");
    assert_eq!(
        digest(&kpi_ledger(&["verify", "--data", restored_arg])),
        archived
    );
    // The archive is the server's log up to that head: a later one continues it.
    let later = dir.path().join("later.jsonl");
    let later_arg = later.to_str().unwrap();
    let exported = with_token_env(&["archive", "export", "--server", &url, later_arg], &admin);
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let (first, second) = (event_lines(&archive), event_lines(&later));
    assert_eq!(second.len() as u64, last);
    assert_eq!(first[..], second[..first.len()]);

    // The drill: the server's own verification, the restored store's and the archive's
    // trailer all name the same digest, and the restored store serves the same table.
    let served = digest(&kpi_ledger(&[
        "verify", "--server", &url, "--token", &reader,
    ]));
    assert_eq!(served, trailer_head(&later));
    let drill = dir.path().join("drill");
    let drill_arg = drill.to_str().unwrap();
    succeed(&["archive", "import", later_arg, "--data", drill_arg]);
    assert_eq!(
        digest(&kpi_ledger(&["verify", "--data", drill_arg])),
        served
    );
    let table =
        "{ kpiTable(plan: \"telework-roadmap\") { rows { kpi series cumulative achievement } } }";
    let original = server.query(table).await;
    drop(server);
    let replacement = DemoServer::start(&drill);
    assert_eq!(
        digest(&kpi_ledger(&["verify", "--server", &replacement.url("")])),
        served,
        "serving the restored store (the demo seed already in it) appends nothing"
    );
    assert_eq!(replacement.query(table).await, original);
    assert!(
        original["data"]["kpiTable"]["rows"].as_array().is_some(),
        "{original}"
    );
}

/// A stand-in for a server that misbehaves: answers each of `answers` (raw HTTP response
/// bytes) to one connection in turn, then closes it; the request is read up to its end first.
fn fake_server(answers: Vec<Vec<u8>>) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let serving = std::thread::spawn(move || {
        for answer in answers {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = BufReader::new(stream.try_clone().unwrap());
            let mut body_len = 0;
            loop {
                let mut line = String::new();
                request.read_line(&mut line).unwrap();
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        body_len = value.trim().parse().unwrap();
                    }
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            request.read_exact(&mut vec![0; body_len]).unwrap();
            stream.write_all(&answer).unwrap();
            stream.flush().unwrap();
        }
    });
    (url, serving)
}

/// `HTTP/1.1 200` with `body`; `length` is the `Content-Length` it claims.
fn answer(length: usize, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {length}\r\n\
         connection: close\r\n\r\n"
    )
    .into_bytes();
    answer.extend_from_slice(body);
    answer
}

#[test]
fn an_export_cut_off_or_without_its_trailer_leaves_nothing() {
    let (dir, data) = support::seeded();
    let whole = dir.path().join("whole.jsonl");
    succeed(&[
        "archive",
        "export",
        "--data",
        &data,
        whole.to_str().unwrap(),
    ]);
    let whole = std::fs::read(&whole).unwrap();
    let lines = String::from_utf8(whole.clone()).unwrap();
    let trailer_len = lines.lines().last().unwrap().len() + 1;
    let events = &whole[..whole.len() - trailer_len];

    let (url, serving) = fake_server(vec![
        // The connection drops after half of what the server said it would send.
        answer(
            whole.len(),
            "application/x-ndjson",
            &whole[..whole.len() / 2],
        ),
        // The body ends cleanly, but before the trailer (as a server would cut at a line).
        answer(events.len(), "application/x-ndjson", events),
    ]);
    let file = dir.path().join("backup.jsonl");
    let partial = dir.path().join(".backup.jsonl.partial");
    let export = || {
        kpi_ledger(&[
            "archive",
            "export",
            "--server",
            &url,
            "--token",
            "kpi_admin",
            file.to_str().unwrap(),
        ])
    };
    for why in [
        "the archive was cut off",
        "the archive ends early: no trailer after",
    ] {
        let output = export();
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
        assert!(
            !file.exists() && !partial.exists(),
            "a failed export leaves nothing: {stderr}"
        );
    }
    serving.join().unwrap();
}

#[test]
fn verify_against_a_server_whose_log_fails_exits_1_naming_the_position() {
    let body = serde_json::json!({ "data": { "verification": {
        "ok": false,
        "digest": null,
        "failure": { "position": 2128, "reason": "Read corrupted data" }
    } } })
    .to_string();
    let (url, serving) = fake_server(vec![answer(
        body.len(),
        "application/json",
        body.as_bytes(),
    )]);
    let output = kpi_ledger(&["verify", "--server", &url]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout).trim(),
        "FAILED: verification failed at position 2128: Read corrupted data"
    );
    serving.join().unwrap();
}
