//! The dashboard in a real browser: `kpi-ledger serve --demo` on loopback, Debian's headless
//! Chromium loads the page, the test checks KPI 2's figures, follows a drill-down link, and
//! keeps a screenshot in target/test-output/dashboard.png. The downloads are checked over
//! plain HTTP on the way.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::DemoServer;

const PLAN: &str = "telework-roadmap";

fn chromium() -> PathBuf {
    ["chromium", "chromium-browser"]
        .iter()
        .map(|name| Path::new("/usr/bin").join(name))
        .find(|path| path.exists())
        .expect("Debian's chromium is installed (.ci/run installs it: apt-get install chromium)")
}

/// Runs headless Chromium with `mode` (e.g. `--dump-dom`) on `url`, bounded in time.
fn browse(profile: &Path, mode: &[&str], url: &str) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--lang=ja",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(mode)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
        out
    });
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium {mode:?} {url} failed: {status}");
            break;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium {mode:?} {url} took longer than 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

/// The markup of the table row with this id, up to its end.
fn row<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no row {id} in the dashboard:\n{dom}"));
    let end = dom[start..].find("</tr>").unwrap();
    &dom[start..start + end]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_in_headless_chromium_shows_kpi_2_and_drills_down() {
    let dir = tempfile::tempdir().unwrap();
    let server = DemoServer::start(&dir.path().join("data"));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    // Downloads, each taking asOf.
    let csv = client
        .get(server.url(&format!("/reports/{PLAN}/kpi.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("kpi.csv"));
    let csv = csv.bytes().await.unwrap();
    assert_eq!(&csv[..3], b"\xEF\xBB\xBF");
    assert!(String::from_utf8_lossy(&csv).contains(",1565,156.5\r\n"));
    let before = client
        .get(server.url(&format!(
            "/reports/{PLAN}/kpi.csv?form=machine&asOf=2020-01-01"
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        before.contains("\n2,,Seminar and consultation participants,persons,1000,,,,,,,\n"),
        "nothing was recorded by 2020: {before}"
    );
    let xlsx = client
        .get(server.url(&format!("/reports/{PLAN}/kpi.xlsx")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&xlsx[..2], b"PK");
    let markdown = client
        .get(server.url(&format!("/reports/{PLAN}/kpi.md")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(markdown.contains("| 1,565人 | 156.5% |"));
    let svg = client
        .get(server.url(&format!("/reports/{PLAN}/charts/kpi-2.svg")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        svg.headers()["content-type"],
        "image/svg+xml; charset=utf-8"
    );
    assert!(svg.text().await.unwrap().contains("R6 (FY2024)"));
    let bad = client
        .get(server.url(&format!("/reports/{PLAN}/kpi.csv?asOf=yesterday")))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().starts_with("asOf: "));
    let missing = client
        .get(server.url("/reports/no-such-plan/kpi.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // The dashboard, in the browser.
    let profile = dir.path().join("chromium-profile");
    let dom = browse(&profile, &["--dump-dom"], &server.url("/dashboard"));
    let kpi2 = row(&dom, "kpi-2");
    assert!(kpi2.contains("1,565"), "{kpi2}");
    assert!(kpi2.contains("156.5%"), "{kpi2}");
    assert!(dom.contains("id=\"digest\""), "the ledger digest is shown");
    assert!(dom.contains("overview.svg"), "the charts are on the page");

    let link_start = kpi2
        .find(&format!("href=\"/dashboard/{PLAN}/cells/2/main/R6"))
        .expect("KPI 2's R6 cell links to its events")
        + "href=\"".len();
    let link = &kpi2[link_start..link_start + kpi2[link_start..].find('"').unwrap()];
    let cell = browse(&profile, &["--dump-dom"], &server.url(link));
    assert!(cell.contains("568人"), "{cell}");
    assert!(cell.contains("この数値に寄与した記録: "), "{cell}");
    assert!(cell.contains("<td>セミナー</td>"), "{cell}");
    assert!(
        cell.contains("href=\"/workbench/events/"),
        "each contributing event links to its page: {cell}"
    );

    let output = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-output");
    std::fs::create_dir_all(&output).unwrap();
    let screenshot = output.join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    browse(
        &profile,
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1280,1600",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
        ],
        &server.url("/dashboard"),
    );
    let png = std::fs::read(&screenshot).expect("chromium wrote the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}
