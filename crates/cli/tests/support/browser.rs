//! Browser tests through Playwright: a spec in `tests/browser/specs/NAME.mjs` (Node, with
//! playwright-core from `tests/browser/node_modules`) drives Debian's Chromium against a live
//! server on loopback; every request to another host is blocked and fails the run. See
//! `tests/browser/README.md` for writing a spec.
//!
//! ```ignore
//! let Some(browser) = Browser::available() else { return };   // skipped, reason printed
//! let server = DemoServer::start(&dir.path().join("data"));
//! let run = browser.run("graphiql", &server.url(""), json!({ "kpi2": "1565" }));
//! run.assert_passed();
//! run.file("graphiql.png");                                     // kept as test output
//! ```
//!
//! Missing Chromium, Node or `npm ci` in `tests/browser` skips the test with the reason,
//! unless `KPI_BROWSER_REQUIRED=1` (CI), which fails it. Screenshots, PDFs and the run's
//! `report.json` (every request, the blocked ones, the steps) go to
//! `$KPI_BROWSER_OUTPUT/NAME/`, by default `<target dir>/browser-output/NAME/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The spec's own time limit (the harness stops it); the process is killed a little later.
const SPEC_TIMEOUT: Duration = Duration::from_secs(90);

/// The browser harness, ready to run specs.
pub struct Browser {
    harness: PathBuf,
    chromium: PathBuf,
    output: PathBuf,
}

/// What a spec run left: its outcome, what it printed, and its output folder.
pub struct Run {
    pub spec: String,
    pub passed: bool,
    pub stdout: String,
    pub stderr: String,
    pub output: PathBuf,
}

impl Browser {
    /// The harness, or `None` after printing why it cannot run here (no Chromium, no Node,
    /// no `npm ci` in tests/browser). With `KPI_BROWSER_REQUIRED=1` a missing piece fails the
    /// test instead.
    pub fn available() -> Option<Browser> {
        match Self::find() {
            Ok(browser) => Some(browser),
            Err(reason) => {
                let required = std::env::var("KPI_BROWSER_REQUIRED").is_ok_and(|v| v == "1");
                assert!(
                    !required,
                    "browser test cannot run and KPI_BROWSER_REQUIRED=1: {reason}"
                );
                eprintln!("SKIPPED: browser test: {reason}");
                None
            }
        }
    }

    fn find() -> Result<Browser, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let harness = root.join("tests/browser");
        let chromium = std::env::var_os("KPI_BROWSER_CHROMIUM")
            .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
        if !chromium.exists() {
            return Err(format!(
                "no Chromium at {} (Debian: apt-get install chromium; tests/run installs it)",
                chromium.display()
            ));
        }
        match Command::new("node").arg("--version").output() {
            Ok(output) if output.status.success() => {}
            _ => return Err("no `node` on PATH (Node 20 or newer)".to_owned()),
        }
        if !harness.join("node_modules/playwright-core").is_dir() {
            return Err(format!(
                "playwright-core is not installed: run `npm ci` in {} (tests/run does)",
                harness.display()
            ));
        }
        let output = std::env::var_os("KPI_BROWSER_OUTPUT").map_or_else(
            || Path::new(env!("CARGO_TARGET_TMPDIR")).join("../browser-output"),
            PathBuf::from,
        );
        Ok(Browser {
            harness,
            chromium,
            output,
        })
    }

    /// Runs `tests/browser/specs/{spec}.mjs` against the server at `base_url`, handing it
    /// `params` (as `t.params`); bounded in time. The caller judges the outcome.
    pub fn run(&self, spec: &str, base_url: &str, params: serde_json::Value) -> Run {
        let mut child = Command::new("node")
            .arg("run.mjs")
            .arg(format!("specs/{spec}.mjs"))
            .current_dir(&self.harness)
            .env("KPI_BROWSER_BASE_URL", base_url)
            .env("KPI_BROWSER_OUTPUT", &self.output)
            .env("KPI_BROWSER_PARAMS", params.to_string())
            .env("KPI_BROWSER_CHROMIUM", &self.chromium)
            .env(
                "KPI_BROWSER_TIMEOUT_MS",
                SPEC_TIMEOUT.as_millis().to_string(),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");
        let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = String::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_string(&mut text);
                }
                text
            })
        };
        let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for node") {
                break Some(status);
            }
            if started.elapsed() > SPEC_TIMEOUT + Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let run = Run {
            spec: spec.to_owned(),
            passed: status.is_some_and(|status| status.success()),
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
            output: self.output.join(spec),
        };
        assert!(
            status.is_some(),
            "browser spec {spec} was killed after {:?}:\n{}{}",
            started.elapsed(),
            run.stdout,
            run.stderr
        );
        eprintln!("{}{}", run.stdout, run.stderr);
        run
    }
}

impl Run {
    /// Fails the test with what the spec printed unless it passed.
    pub fn assert_passed(&self) -> &Self {
        assert!(
            self.passed,
            "browser spec {} failed (output in {}):\n{}{}",
            self.spec,
            self.output.display(),
            self.stdout,
            self.stderr
        );
        self
    }

    /// A file the spec wrote (a screenshot, a PDF), which must exist and not be empty.
    pub fn file(&self, name: &str) -> PathBuf {
        let path = self.output.join(name);
        let size = std::fs::metadata(&path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
            .len();
        assert!(size > 0, "{} is empty", path.display());
        path
    }

    /// The run's report.json: `requests`, `blocked`, `problems`, `steps`, `files`.
    pub fn report(&self) -> serde_json::Value {
        let path = self.output.join("report.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        serde_json::from_str(&text).expect("report.json is JSON")
    }
}
