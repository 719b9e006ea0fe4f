//! A damaged store is not served as healthy. Bytes are flipped in a closed store holding the
//! Fuji seed and a projection checkpoint, then `kpi-ledger serve` is started on it:
//!
//! - a byte flipped in an event that start-up folds (after the checkpoint): `serve` refuses
//!   to start, naming the position;
//! - bytes flipped in sled's file: sled refuses to open it, and so does `serve`;
//! - a byte flipped in an event before the checkpoint: `serve` starts (it folds only what
//!   follows the checkpoint), the walk of the whole chain right after start-up finds it, and
//!   from then on `/readyz` answers 503 with the reason, appends are refused with
//!   `LOG_DAMAGED`, the failure is logged at ERROR, and `/metrics` shows the last verified
//!   position and time.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{seeded, BIN};

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Calls `found` with each chunk of the store at `data` (the store, the chunk's key and its
/// stored value), in log order, until it answers; panics naming `needle` if none does.
fn find_chunk<T>(
    data: &str,
    needle: &[u8],
    mut found: impl FnMut(&kpi_store::EventStore, &[u8], &[u8]) -> Option<T>,
) -> T {
    let store = kpi_store::EventStore::open(Path::new(data), Default::default()).unwrap();
    let chunks = store
        .__sled()
        .range(kpi_store::raw::event_key(1)..=kpi_store::raw::event_key(u64::MAX))
        .map(Result::unwrap);
    for (key, stored) in chunks {
        if let Some(answer) = found(&store, &key, &stored) {
            return answer;
        }
    }
    panic!("no event holds {}", String::from_utf8_lossy(needle));
}

/// Flips one byte inside the first stored event whose record contains `needle`, keeping its
/// stored hash: the store still reads it, only the hash chain tells. Returns its position.
fn flip_a_byte_of_the_event_with(data: &str, needle: &[u8]) -> u64 {
    find_chunk(data, needle, |store, key, stored| {
        let first = u64::from_be_bytes(key[key.len() - 8..].try_into().unwrap());
        // The chunk's plain bytes (stored compressed): per event, record length (u32,
        // big-endian), then the record.
        let mut chunk = kpi_store::raw::chunk_records(stored);
        let (mut offset, mut position) = (0, first);
        while offset < chunk.len() {
            let length = u32::from_be_bytes(chunk[offset..offset + 4].try_into().unwrap());
            let record = &mut chunk[offset + 4..offset + 4 + length as usize];
            if let Some(at) = record.windows(needle.len()).position(|w| w == needle) {
                record[at + needle.len() - 1] ^= 0x01;
                let db = store.__sled();
                db.insert(key, kpi_store::raw::chunk_value(chunk)).unwrap();
                db.flush().unwrap();
                return Some(position);
            }
            offset += 4 + length as usize;
            position += 1;
        }
        None
    })
}

/// The stored (compressed) value of the chunk whose events hold `needle`.
fn stored_chunk_with(data: &str, needle: &[u8]) -> Vec<u8> {
    find_chunk(data, needle, |_, _, stored| {
        let plain = kpi_store::raw::chunk_records(stored);
        plain
            .windows(needle.len())
            .any(|w| w == needle)
            .then(|| stored.to_vec())
    })
}

/// `kpi-ledger serve` (not the demo: its seed import would retry the damaged event) on
/// 127.0.0.1:0, with anonymous read and a recorder token; its log lines are kept. Stopped
/// with SIGTERM when dropped.
struct Serving {
    child: Child,
    addr: String,
    lines: Arc<Mutex<Vec<String>>>,
    token: String,
}

impl Serving {
    fn start(data: &str) -> Result<Serving, String> {
        let (token, entry) = support::token("recorder", "clerk");
        let tokens = format!("[{entry}]");
        let mut child = Command::new(BIN)
            .args(["serve", "--data", data])
            .current_dir(root())
            .env("KPI_LEDGER_SERVER__BIND", "127.0.0.1:0")
            .env("KPI_LEDGER_SERVER__ANONYMOUS_READ", "true")
            .env("KPI_LEDGER_SERVER__TOKENS", tokens)
            .env("KPI_LEDGER_LOG__FORMAT", "json")
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("http://") {
                    let rest = &line[at + "http://".len()..];
                    let addr: String = rest.chars().take_while(|c| *c != '/').collect();
                    let _ = addr_tx.send(addr);
                }
                kept.lock().unwrap().push(line);
            }
        });
        // The address once it listens; nothing (the pipe closes) when it exits instead.
        match addr_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => Ok(Serving {
                child,
                addr,
                lines,
                token,
            }),
            Err(_) => {
                let status = wait_for_exit(&mut child, Duration::from_secs(30));
                let log = lines.lock().unwrap().join("\n");
                Err(format!("serve ended with {status:?}:\n{log}"))
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = client().get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    async fn graphql(&self, token: Option<&str>, query: &str) -> serde_json::Value {
        let mut request = client()
            .post(self.url("/graphql"))
            .json(&serde_json::json!({ "query": query }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        if wait_for_exit(&mut self.child, Duration::from_secs(20)).is_none() {
            let _ = self.child.kill();
        }
    }
}

fn wait_for_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < within {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The value of an unlabelled metric in a Prometheus text page.
fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn damage_in_what_start_up_folds_stops_serve_naming_the_position() {
    let (_dir, data) = seeded();
    // An event after the seed's checkpoint, recorded without moving the checkpoint.
    let extended = Command::new(BIN)
        .args([
            "plan",
            "extend",
            "telework-roadmap",
            "--to",
            "R8",
            "--decided-on",
            "2025-06-01",
            "--reason",
            "damage test",
            "--data",
            &data,
        ])
        .current_dir(root())
        .env("KPI_LEDGER_LEDGER__CHECKPOINTS", "false")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(extended.status.success(), "{extended:?}");
    let position = flip_a_byte_of_the_event_with(&data, b"damage test");

    let refused = Serving::start(&data).err().expect("serve refuses to start");
    assert!(
        refused.contains(&format!("fails verification at position {position}")),
        "{refused}"
    );
    assert!(refused.contains("\"level\":\"ERROR\""), "{refused}");
}

#[test]
fn bytes_flipped_in_the_sled_file_stop_serve() {
    let (_dir, data) = seeded();
    // Sixteen bytes from the middle of the compressed chunk that holds one event: the
    // payload's own text need not appear in the file as it is (zstd may refer back to an
    // earlier firm's id for part of it).
    let stored = stored_chunk_with(&data, b"r6-firm-027");
    let needle = &stored[stored.len() / 2..stored.len() / 2 + 16];
    let file = Path::new(&data).join(kpi_store::SLED_DIR).join("db");
    let mut bytes = std::fs::read(&file).unwrap();
    // Every copy sled wrote of that chunk (a page is rewritten as it fills).
    let copies: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, window)| *window == needle)
        .map(|(at, _)| at)
        .collect();
    assert!(!copies.is_empty());
    for at in copies {
        bytes[at + needle.len() - 1] ^= 0x01;
    }
    std::fs::write(&file, bytes).unwrap();

    // sled either refuses the file, or recovers it only up to the damage (it takes the damage
    // for a write torn by a crash) and drops the rest: the head written at the last close
    // tells, and the store is refused as truncated.
    let refused = Serving::start(&data).err().expect("serve refuses to start");
    assert!(
        refused.contains("corrupt")
            || refused.contains("held 335 events when the store was last closed"),
        "{refused}"
    );
    let verify = support::kpi_ledger(&["verify", "--data", &data]);
    assert!(!verify.status.success(), "{verify:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_before_the_checkpoint_makes_serve_unready_and_refuse_appends() {
    let (_dir, data) = seeded();
    assert!(Path::new(&data)
        .join("checkpoints/projection.ckpt")
        .is_file());
    let position = {
        let data = data.clone();
        tokio::task::spawn_blocking(move || {
            flip_a_byte_of_the_event_with(&data, b"\"firm_id\":\"r6-firm-027\"")
        })
        .await
        .unwrap()
    };
    let server = tokio::task::spawn_blocking(move || Serving::start(&data))
        .await
        .unwrap()
        .expect("serve starts: what follows its checkpoint is intact");

    // The walk after start-up finds the damage: /readyz turns 503 (bounded wait).
    let reason = format!("fails verification at position {position}");
    let mut readyz = server.get("/readyz").await;
    for _ in 0..200 {
        if readyz.0 == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        readyz = server.get("/readyz").await;
    }
    assert_eq!(readyz.0, 503, "{readyz:?}");
    assert!(readyz.1.contains(&reason), "{readyz:?}");
    assert!(
        readyz.1.contains("does not match the recomputed hash"),
        "{readyz:?}"
    );

    let head = server.graphql(None, "{ head { position } }").await["data"]["head"]["position"]
        .as_u64()
        .unwrap();
    let refused = server
        .graphql(
            Some(&server.token),
            r#"mutation { recordSeminar(input: {
                title: "after the damage", organiser: "DX・テレワーク推進センター",
                firstDate: "2024-05-01", sessions: 1,
                participants: { unique: 1, attendances: 1 }, status: HELD
            }) { position } }"#,
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "LOG_DAMAGED",
        "{refused}"
    );
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&reason),
        "{refused}"
    );
    let after = server.graphql(None, "{ head { position } }").await["data"]["head"]["position"]
        .as_u64()
        .unwrap();
    assert_eq!(after, head, "nothing was appended");

    let verification = server
        .graphql(None, "{ verification { ok failure { position } } }")
        .await;
    assert_eq!(
        verification["data"]["verification"],
        serde_json::json!({ "ok": false, "failure": { "position": position } })
    );

    let (_, metrics) = server.get("/metrics").await;
    // The service describes its own metrics to the recorder the binary installs.
    assert!(
        metrics.contains("# HELP kpi_verification_ok 1 when the last walk"),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "kpi_verification_ok"),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "kpi_verification_verified_position"),
        Some((position - 1) as f64),
        "{metrics}"
    );
    let verified_at = metric(&metrics, "kpi_verification_last_timestamp_seconds").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - 600.0..=now + 1.0).contains(&verified_at),
        "{verified_at}"
    );
    assert!(
        metrics.contains("kpi_verification_walks_total{outcome=\"failed\"}"),
        "{metrics}"
    );

    let log = server.log();
    assert!(
        log.lines().any(|line| line.contains("\"level\":\"ERROR\"")
            && line.contains("the log fails verification")),
        "{log}"
    );
}
