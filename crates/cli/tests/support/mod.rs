//! Running the real binary from the workspace root, where `config/default.toml` and the plan
//! and seed files resolve. Shared by the integration tests of this package.
#![allow(dead_code)] // each test file uses its own subset

pub mod browser;
pub mod gateway;
pub mod ws;

use std::path::Path;
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_kpi-ledger");

/// Runs `kpi-ledger ARGS` from the workspace root, quiet logs; the caller judges the outcome.
pub fn kpi_ledger(args: &[&str]) -> Output {
    kpi_ledger_with_env(args, &[])
}

/// [`kpi_ledger`] with `KPI_LEDGER_*` configuration overrides.
pub fn kpi_ledger_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Command::new(BIN)
        .args(args)
        .current_dir(root)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .expect("kpi-ledger runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `kpi-ledger ARGS`, which must succeed; a failure shows what it printed.
pub fn succeed(args: &[&str]) -> Output {
    succeed_with_env(args, &[])
}

/// [`succeed`] with `KPI_LEDGER_*` configuration overrides.
pub fn succeed_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = kpi_ledger_with_env(args, env);
    assert!(
        output.status.success(),
        "{args:?}: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

/// A fresh store holding the Fuji seed (the published table, R3-R6): the temporary
/// directory (keep it alive) and the `--data` path inside it.
pub fn seeded() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger").to_str().unwrap().to_owned();
    succeed(&[
        "import",
        "config/seed/fuji-telework-r6.toml",
        "--data",
        &data,
    ]);
    (dir, data)
}

pub const FIFTH: &str = "config/plans/fifth-information-plan.toml";
pub const MAPPING: &str = "config/plans/telework-roadmap-to-fifth.toml";

/// `plan extend telework-roadmap --to R8`, recorded by `actor`.
pub fn extend(data: &str, actor: &str) -> Output {
    succeed(&[
        "plan",
        "extend",
        "telework-roadmap",
        "--to",
        "R8",
        "--decided-on",
        "2025-06-01",
        "--reason",
        "R6 report: the roadmap runs one more year",
        "--data",
        data,
        "--actor",
        actor,
    ])
}

/// `plan adopt` of the illustrative Fifth Information Plan.
pub fn adopt_fifth(data: &str) {
    succeed(&[
        "plan",
        "adopt",
        FIFTH,
        "--adopted-on",
        "2027-03-01",
        "--data",
        data,
    ]);
}

/// The arguments of the README's transfer of the roadmap into the Fifth Information Plan.
pub fn transfer_args<'a>(data: &'a str, mapping: &'a str) -> Vec<&'a str> {
    vec![
        "plan",
        "transfer",
        "telework-roadmap",
        "--to",
        "fifth-information-plan",
        "--effective-from",
        "R9",
        "--decided-on",
        "2027-03-31",
        "--mapping",
        mapping,
        "--data",
        data,
    ]
}

/// The seed store after the README's transfer: the fifth plan adopted, the roadmap extended to
/// R8 and transferred into it from R9.
pub fn transferred() -> (tempfile::TempDir, String) {
    let (dir, data) = seeded();
    adopt_fifth(&data);
    extend(&data, "clerk");
    succeed(&transfer_args(&data, MAPPING));
    (dir, data)
}

/// A fresh bearer token of `role` from `kpi-ledger token new`: the secret, and the
/// `{name, role, sha256}` entry of `server.tokens` that admits it.
pub fn token(role: &str, name: &str) -> (String, String) {
    let issued = text(&succeed(&["token", "new", "--role", role, "--name", name]).stdout);
    let secret = issued
        .lines()
        .find(|line| line.starts_with("kpi_"))
        .expect("a token line")
        .to_owned();
    let sha256 = issued
        .lines()
        .find_map(|line| line.strip_prefix("sha256 = "))
        .expect("the config line with the hash")
        .trim_matches('"')
        .to_owned();
    (
        secret,
        format!(r#"{{name="{name}",role="{role}",sha256="{sha256}"}}"#),
    )
}

/// The row `kpi` / `series` ("main" or "b") of a table printed as JSON.
pub fn row<'a>(table: &'a serde_json::Value, kpi: &str, series: &str) -> &'a serde_json::Value {
    table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["kpi"] == kpi && row["series"] == series)
        .unwrap_or_else(|| panic!("no row {kpi} {series} in {table}"))
}

/// `kpi-ledger serve --demo` on 127.0.0.1 (a free port), stopped with SIGTERM when dropped.
/// Its log (JSON lines on standard error) is kept for the test to read.
pub struct DemoServer {
    child: std::process::Child,
    addr: String,
    logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl DemoServer {
    pub fn start(data: &Path) -> DemoServer {
        Self::start_with_env(data, &[])
    }

    /// [`DemoServer::start`] with further `KPI_LEDGER_*` configuration overrides.
    pub fn start_with_env(data: &Path, env: &[(&str, &str)]) -> DemoServer {
        Self::spawn(&["serve", "--demo", "--data", data.to_str().unwrap()], env)
    }

    /// `kpi-ledger serve` without `--demo`: no seed, no anonymous read, only the tokens
    /// configured (here, by `env`).
    pub fn start_serving(data: &Path, env: &[(&str, &str)]) -> DemoServer {
        Self::spawn(&["serve", "--data", data.to_str().unwrap()], env)
    }

    fn spawn(args: &[&str], env: &[(&str, &str)]) -> DemoServer {
        use std::io::{BufRead, BufReader};
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut child = Command::new(BIN)
            .args(args)
            .current_dir(&root)
            .env("KPI_LEDGER_SERVER__BIND", "127.0.0.1:0")
            .env("KPI_LEDGER_LOG__FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The server logs its address once it listens (port 0 picks a free one).
        let stderr = child.stderr.take().unwrap();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Kept before the address is announced, so a test that reads the logs once
                // `start` returns sees the line that announced it.
                kept.lock().unwrap().push(line.clone());
                if let Some(at) = line.find("http://") {
                    let rest = &line[at + "http://".len()..];
                    let addr: String = rest.chars().take_while(|c| *c != '/').collect();
                    let _ = addr_tx.send(addr);
                }
            }
        });
        let addr = addr_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the server announces its address");
        DemoServer { child, addr, logs }
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Sends SIGHUP and waits (at most 10 s) for the server to log the outcome of the reload;
    /// that log line.
    pub fn reload(&self) -> String {
        let seen = self.logs().len();
        assert!(self.signal("HUP"), "the server takes SIGHUP");
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(10) {
            let outcome = self.logs().into_iter().skip(seen).find(|line| {
                line.contains("token settings reloaded") || line.contains("not reloaded")
            });
            if let Some(line) = outcome {
                return line;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!(
            "no reload logged within 10 s of SIGHUP: {:?}",
            &self.logs()[seen..]
        );
    }

    /// Sends the signal `name` (`HUP`, `TERM`); whether it was delivered.
    fn signal(&self, name: &str) -> bool {
        Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// POSTs an anonymous GraphQL query (the demo allows anonymous read); the JSON answer.
    pub async fn query(&self, query: &str) -> serde_json::Value {
        reqwest::Client::new()
            .post(self.url("/graphql"))
            .json(&serde_json::json!({ "query": query }))
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Sends SIGTERM and waits (at most 20 s) for the exit status; `None` if it did not stop.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let _ = self.signal("TERM");
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(20) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        None
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        if self.terminate().is_none() {
            let _ = self.child.kill();
        }
    }
}
