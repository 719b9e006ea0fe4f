//! End-to-end tests in Debian's Chromium driven by Playwright (tests/browser): the real
//! `kpi-ledger serve --demo` on loopback, every request to any other host blocked (a run that
//! tries one fails), screenshots kept in `<target dir>/browser-output/`. Skipped, saying why,
//! without Chromium, Node or `npm ci` in tests/browser, unless `KPI_BROWSER_REQUIRED=1`.

mod support;

use serde_json::json;
use support::browser::Browser;
use support::DemoServer;

/// The harness's guard works: a page that tries to reach other hosts (fetch, image,
/// websocket, a literal IP) has each request blocked, and the run fails naming every one.
#[test]
fn a_request_to_another_host_is_blocked_and_fails_the_run() {
    let Some(browser) = Browser::available() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = DemoServer::start(&dir.path().join("data"));
    let run = browser.run("harness-blocks-outside", &server.url(""), json!({}));
    assert!(!run.passed, "the run must fail:\n{}", run.stdout);
    for url in [
        "https://example.org/from-fetch",
        "http://93.184.215.14/from-image.png",
        "wss://example.org/from-websocket",
    ] {
        assert!(run.stderr.contains(url), "{url} named:\n{}", run.stderr);
    }
    let report = run.report();
    assert_eq!(report["blocked"].as_array().unwrap().len(), 3, "{report}");
    assert!(run.stdout.contains(r#""fetch":"failed"#), "{}", run.stdout);
}

/// GraphiQL with no internet: everything it loads comes from the binary; a query typed into
/// its editor runs and shows KPI 2 of the demo data.
#[test]
fn graphiql_loads_offline_and_runs_a_typed_query() {
    let Some(browser) = Browser::available() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = DemoServer::start(&dir.path().join("data"));
    let run = browser.run(
        "graphiql",
        &server.url(""),
        json!({ "kpi2Cumulative": "1565", "kpi2Achievement": "156.5" }),
    );
    run.assert_passed();
    run.file("graphiql.png");
    let report = run.report();
    let requests: Vec<&str> = report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|request| request.as_str().unwrap())
        .collect();
    assert!(
        requests
            .iter()
            .any(|r| r.contains("/graphiql/") && r.ends_with("/graphiql.min.js")),
        "GraphiQL's code came from the server: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("POST ") && r.ends_with("/graphql")),
        "the query went to the server: {requests:?}"
    );
}

/// The dashboard on a 420 px screen: Japanese, no sideways scroll of the page (the KPI table
/// scrolls in its own box), every chart within the width.
#[test]
fn the_dashboard_fits_a_420_px_screen() {
    let Some(browser) = Browser::available() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = DemoServer::start(&dir.path().join("data"));
    let run = browser.run(
        "dashboard-narrow",
        &server.url(""),
        json!({ "kpi2Cumulative": "1,565人" }),
    );
    run.assert_passed();
    run.file("dashboard-420.png");
}

/// The dashboard printed: only the title, the axes, the table and the ledger head; the table
/// within A4 landscape's printable width; Chromium's PDF one A4 landscape page.
#[test]
fn the_dashboard_prints_as_one_a4_landscape_page() {
    let Some(browser) = Browser::available() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = DemoServer::start(&dir.path().join("data"));
    let run = browser.run("dashboard-print", &server.url(""), json!({}));
    run.assert_passed();
    run.file("dashboard.png");
    run.file("dashboard-print.png");
    let pdf = std::fs::read(run.file("dashboard-a4.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "a PDF file");
}

/// The clerk's workbench end to end: sign in by keyboard, the event browser filtered, a
/// seminar in plain words, a refused and then a saved correction, a retraction, sign-out; a
/// reader sees no form; every input labelled, every text at 4.5:1 contrast or more.
#[test]
fn a_clerk_corrects_and_retracts_in_the_workbench_and_a_reader_sees_no_form() {
    let Some(browser) = Browser::available() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (clerk, clerk_entry) = support::token("recorder", "clerk");
    let (reader, reader_entry) = support::token("reader", "council");
    let tokens = format!("[{clerk_entry},{reader_entry}]");
    let server = DemoServer::start_with_env(
        &dir.path().join("data"),
        &[("KPI_LEDGER_SERVER__TOKENS", &tokens)],
    );
    let run = browser.run(
        "workbench",
        &server.url(""),
        json!({ "clerkToken": clerk, "readerToken": reader }),
    );
    run.assert_passed();
    for page in [
        "sign-in",
        "events",
        "events-seminars-r6",
        "event",
        "correct-refused",
        "corrected",
        "retracted",
        "signed-out",
        "reader-event",
    ] {
        run.file(&format!("{page}.png"));
    }
}

/// The clerk records and imports: a seminar through its form with a 和暦 date moves KPI 2 (on
/// the saved page and the dashboard); a CSV with one bad row names it and writes nothing;
/// fixed, it is checked and imported. Inputs labelled, keyboard, contrast checked.
#[test]
fn a_clerk_records_a_seminar_and_imports_a_csv_in_the_workbench() {
    let Some(browser) = Browser::available() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (clerk, clerk_entry) = support::token("recorder", "clerk");
    let tokens = format!("[{clerk_entry}]");
    let server = DemoServer::start_with_env(
        &dir.path().join("data"),
        &[("KPI_LEDGER_SERVER__TOKENS", &tokens)],
    );
    let run = browser.run(
        "workbench-record-import",
        &server.url(""),
        json!({ "clerkToken": clerk }),
    );
    run.assert_passed();
    for page in [
        "record-kinds",
        "record-seminar",
        "record-saved",
        "record-dashboard",
        "import-bad-row",
        "import-done",
    ] {
        run.file(&format!("{page}.png"));
    }
}
