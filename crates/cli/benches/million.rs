//! Issue 18's table in one run: the same N seminar events (1,000,000 by default) loaded into
//! kpi-ledger with `kpi-ledger import` (the release binary, as a user runs it) and into
//! PostgreSQL 15 with `COPY` into a table with four unique indexes (position, event id,
//! stream and version, idempotency key, as the store keeps them), in alternating rounds;
//! then the ledger's server started on the loaded store, idle, without a checkpoint and at one.
//!
//! ```sh
//! cargo bench -p kpi-ledger --bench million
//! KPI_BENCH_EVENTS=200000 KPI_BENCH_ROUNDS=3 cargo bench -p kpi-ledger --bench million
//! ```
//!
//! Printed per round and as medians with the spread (min-max) of the rounds:
//! - bulk load: events/s and peak RSS of `kpi-ledger import` (VmHWM, read every 20 ms
//!   while it runs), events/s of `COPY` (through `psql`'s `\copy`, one transaction,
//!   `synchronous_commit = on`), and their ratio;
//! - disk after the load: the ledger's data directory (allocated blocks, as `du`) and
//!   PostgreSQL's `pg_total_relation_size` of the table, each against the payload JSON;
//! - server RSS: `kpi-ledger serve` on the loaded store, 15 s after it answers `/readyz`
//!   (past the allocator's 10 s purge delay), first without a checkpoint, then, after a
//!   clean stop wrote one, at the checkpoint; and its peak during start-up.
//!
//! The other rows of issue 18 have benches of their own: appends while a checkpoint is taken
//! (`cargo bench -p kpi-service --bench checkpoint_stall`) and replay against the bare read
//! rate (`cargo bench -p kpi-service --bench replay`). Without PostgreSQL 15 the `COPY`
//! rows are skipped, saying so.

#[path = "../../store/tests/common/cluster.rs"]
mod cluster;

use std::io::{BufWriter, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const BINARY: &str = env!("CARGO_BIN_EXE_kpi-ledger");
const MIB: f64 = 1024.0 * 1024.0;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The same rows for both systems: JSON lines for `kpi-ledger import`, tab-separated rows
/// for `COPY`. Returns the bytes of payload JSON.
fn write_inputs(events: u64, jsonl: &Path, tsv: &Path) -> u64 {
    let mut lines = BufWriter::new(std::fs::File::create(jsonl).unwrap());
    let mut rows = BufWriter::new(std::fs::File::create(tsv).unwrap());
    let mut payload_bytes = 0;
    for n in 0..events {
        // R3 to R6 (2021-04-01 to 2025-03-31), every day in turn; distinct text in each.
        let day = chrono::NaiveDate::from_ymd_opt(2021, 4, 1).unwrap()
            + chrono::Duration::days((n % 1461) as i64);
        let unique = 5 + n % 40;
        let payload = serde_json::json!({
            "title": format!("テレワーク導入セミナー 第{n}回"),
            "organiser": "富士市産業支援課",
            "first_date": day.format("%Y-%m-%d").to_string(),
            "sessions": 1 + n % 3,
            "participants": {"unique": unique, "attendances": unique * (1 + n % 3)},
            "status": "held",
        });
        let payload = serde_json::to_string(&payload).unwrap();
        payload_bytes += payload.len() as u64;
        writeln!(
            lines,
            r#"{{"type":"seminar","payload":{payload},"provenance":"bench line {}"}}"#,
            n + 1
        )
        .unwrap();
        let hash = Sha256::digest(payload.as_bytes());
        let id = &hash[..16];
        let id = format!(
            "{}-{}-{}-{}-{}",
            hex(&id[..4]),
            hex(&id[4..6]),
            hex(&id[6..8]),
            hex(&id[8..10]),
            hex(&id[10..])
        );
        // COPY's text format: a backslash in the data would need escaping; the payloads
        // have none.
        writeln!(
            rows,
            "{position}\t{id}\tseminar-{position}\t1\timport:{key}\tseminar\t{payload}\t\\\\x{hash}",
            position = n + 1,
            key = hex(&hash),
            hash = hex(&hash),
        )
        .unwrap();
    }
    lines.flush().unwrap();
    rows.flush().unwrap();
    payload_bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Bytes allocated to the files under `dir`, as `du` counts them.
fn disk_use(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            disk_use(&entry.path())
        } else {
            meta.blocks() * 512
        };
    }
    total
}

/// `VmHWM` or `VmRSS` of process `pid` in bytes.
fn memory_of(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn ledger(args: &[&str], data: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(workspace())
        .args(args)
        .env("KPI_LEDGER_DATA_DIR", data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    command
}

/// Runs `command` to its end: wall time and the peak RSS seen.
fn run_measured(mut command: Command) -> (Duration, u64) {
    let started = Instant::now();
    let mut child = command.spawn().expect("the command starts");
    let mut peak = 0;
    loop {
        if let Some(hwm) = memory_of(child.id(), "VmHWM") {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{command:?} failed: {status}");
            return (started.elapsed(), peak);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `GET path` on 127.0.0.1:`port`: the status code, or `None` when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Idle {
    /// Seconds from the start to `/readyz` answering 200.
    ready: Duration,
    peak: u64,
    idle: u64,
}

/// Serves `data`, waits for it to be ready and `settle` more, reads its memory, stops it
/// with SIGTERM (a clean stop writes the checkpoint).
fn serve_idle(data: &Path, settle: Duration) -> Idle {
    let port = free_port();
    let mut command = ledger(&["serve"], data);
    command
        .env("KPI_LEDGER_SERVER__BIND", format!("127.0.0.1:{port}"))
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child: Child = command.spawn().expect("serve starts");
    let deadline = started + Duration::from_secs(600);
    while http_status(port, "/readyz") != Some(200) {
        assert!(
            Instant::now() < deadline,
            "the server was not ready in 600 s"
        );
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ready = started.elapsed();
    std::thread::sleep(settle);
    let idle = memory_of(child.id(), "VmRSS").unwrap_or(0);
    let peak = memory_of(child.id(), "VmHWM").unwrap_or(0);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "serve stopped with {status}");
    Idle { ready, peak, idle }
}

/// `COPY` of the rows into a fresh table with the four unique indexes: wall time and the
/// table's total size.
fn postgres_copy(cluster: &cluster::Cluster, tsv: &Path) -> (Duration, u64) {
    let url = cluster.database();
    cluster.psql(
        &url,
        "CREATE TABLE events (
            position bigint PRIMARY KEY,
            event_id uuid NOT NULL UNIQUE,
            stream text NOT NULL,
            stream_version integer NOT NULL,
            idempotency_key text NOT NULL UNIQUE,
            event_type text NOT NULL,
            payload jsonb NOT NULL,
            hash bytea NOT NULL,
            UNIQUE (stream, stream_version))",
    );
    let started = Instant::now();
    let output = Command::new(Path::new(cluster::PG_BIN).join("psql"))
        .args(["-v", "ON_ERROR_STOP=1", "-qAt", "-d", &url, "-c"])
        .arg(format!("\\copy events FROM '{}'", tsv.display()))
        .output()
        .expect("psql runs");
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "COPY: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let size: u64 = cluster
        .psql(&url, "SELECT pg_total_relation_size('events')")
        .parse()
        .unwrap();
    (elapsed, size)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

fn summary(name: &str, unit: &str, values: &[f64]) {
    if values.is_empty() {
        return;
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    println!(
        "{name:<58} median {:>12.2} {unit}  (spread {min:.2}-{max:.2}, {} rounds)",
        median(values),
        values.len()
    );
}

fn main() {
    let events = env_number("KPI_BENCH_EVENTS", 1_000_000);
    let rounds = env_number("KPI_BENCH_ROUNDS", 2) as usize;
    let settle = Duration::from_secs(env_number("KPI_BENCH_SETTLE_SECS", 15));
    let work = tempfile::tempdir().unwrap();
    let jsonl = work.path().join("seminars.jsonl");
    let tsv = work.path().join("seminars.tsv");
    let payload = write_inputs(events, &jsonl, &tsv) as f64;
    println!(
        "million: {events} seminar events, payload JSON {:.1} MiB; {rounds} rounds, alternating",
        payload / MIB
    );
    let cluster = if cluster::Cluster::available() {
        Some(cluster::Cluster::start().expect("PostgreSQL starts"))
    } else {
        println!(
            "PostgreSQL 15 not found under {}: COPY rows skipped",
            cluster::PG_BIN
        );
        None
    };
    let mut rows: std::collections::BTreeMap<&str, (&str, Vec<f64>)> = Default::default();
    let mut put = |name: &'static str, unit: &'static str, value: f64| {
        rows.entry(name).or_insert((unit, Vec::new())).1.push(value);
    };
    for round in 0..rounds {
        let data = work.path().join(format!("ledger-{round}"));
        let mut ledger_first = round % 2 == 0;
        for _ in 0..2 {
            if ledger_first {
                let mut import = ledger(&["import"], &data);
                import.arg(&jsonl).stderr(Stdio::null());
                let (took, peak) = run_measured(import);
                let rate = events as f64 / took.as_secs_f64();
                let disk = disk_use(&data) as f64;
                println!(
                    "round {round}: kpi-ledger import {rate:.0} ev/s ({:.1} s), peak RSS {:.0} MiB, \
                     disk {:.0} MiB = {:.2}x the payload",
                    took.as_secs_f64(),
                    peak as f64 / MIB,
                    disk / MIB,
                    disk / payload
                );
                put("bulk load, kpi-ledger import", "ev/s", rate);
                put(
                    "bulk load, kpi-ledger import, peak RSS",
                    "MiB",
                    peak as f64 / MIB,
                );
                put("disk after the load, kpi-ledger", "MiB", disk / MIB);
                put(
                    "disk after the load, kpi-ledger / payload",
                    "x",
                    disk / payload,
                );
            } else if let Some(cluster) = &cluster {
                let (took, size) = postgres_copy(cluster, &tsv);
                let rate = events as f64 / took.as_secs_f64();
                println!(
                    "round {round}: PostgreSQL COPY {rate:.0} ev/s ({:.1} s), table and indexes \
                     {:.0} MiB = {:.2}x the payload",
                    took.as_secs_f64(),
                    size as f64 / MIB,
                    size as f64 / payload
                );
                put("bulk load, PostgreSQL COPY", "ev/s", rate);
                put("disk after the load, PostgreSQL", "MiB", size as f64 / MIB);
                put(
                    "disk after the load, PostgreSQL / payload",
                    "x",
                    size as f64 / payload,
                );
            }
            ledger_first = !ledger_first;
        }
        // `import` closed its ledger with a checkpoint: without one means without it.
        let checkpoints = data.join("checkpoints");
        if checkpoints.exists() {
            std::fs::remove_dir_all(&checkpoints).unwrap();
        }
        let cold = serve_idle(&data, settle);
        let warm = serve_idle(&data, settle);
        println!(
            "round {round}: serve without a checkpoint: ready in {:.2} s, peak {:.0} MiB, idle \
             {:.0} MiB; at the checkpoint: ready in {:.2} s, peak {:.0} MiB, idle {:.0} MiB",
            cold.ready.as_secs_f64(),
            cold.peak as f64 / MIB,
            cold.idle as f64 / MIB,
            warm.ready.as_secs_f64(),
            warm.peak as f64 / MIB,
            warm.idle as f64 / MIB,
        );
        put(
            "serve idle RSS, start-up without a checkpoint",
            "MiB",
            cold.idle as f64 / MIB,
        );
        put(
            "serve peak RSS, start-up without a checkpoint",
            "MiB",
            cold.peak as f64 / MIB,
        );
        put(
            "serve idle RSS, start-up at a checkpoint",
            "MiB",
            warm.idle as f64 / MIB,
        );
        put(
            "serve peak RSS, start-up at a checkpoint",
            "MiB",
            warm.peak as f64 / MIB,
        );
        put(
            "serve start-up at a checkpoint, to ready",
            "s",
            warm.ready.as_secs_f64(),
        );
        std::fs::remove_dir_all(&data).unwrap();
    }
    println!("\nmedians over {rounds} rounds ({events} events):");
    for (name, (unit, values)) in &rows {
        summary(name, unit, values);
    }
    if let (Some((_, ours)), Some((_, copy))) = (
        rows.get("bulk load, kpi-ledger import"),
        rows.get("bulk load, PostgreSQL COPY"),
    ) {
        println!(
            "bulk load, kpi-ledger import / PostgreSQL COPY: {:.2}x (goal >= 1.5x)",
            median(ours) / median(copy)
        );
    }
}
