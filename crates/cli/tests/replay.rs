//! `kpi-ledger replay` through the real binary: two replays are byte-identical, the digest is
//! the SHA-256 of the printed JSON, a replay equals the live table, a plan outside the
//! configuration replays from --plan-file, and bad input is refused naming what is wrong.

mod support;

use std::process::Output;
use support::{kpi_ledger, row, seeded, succeed, text, transferred};

use sha2::{Digest, Sha256};

/// The digest line's hex, checked against the printed JSON.
fn digest_of(output: &Output) -> String {
    let stderr = text(&output.stderr);
    let line = stderr
        .lines()
        .find_map(|line| line.strip_prefix("projection digest: sha256:"))
        .unwrap_or_else(|| panic!("no digest in {stderr}"));
    let digest = line.split_whitespace().next().unwrap().to_owned();
    let computed: String = Sha256::digest(&output.stdout)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(digest, computed, "the digest is the SHA-256 of the JSON");
    digest
}

#[test]
fn two_replays_are_byte_identical_and_equal_the_live_table() {
    let (_dir, data) = seeded();
    let args = ["replay", "--plan", "telework-roadmap", "--data", &data];
    let first = succeed(&args);
    let second = succeed(&args);
    assert_eq!(first.stdout, second.stdout);
    assert_eq!(digest_of(&first), digest_of(&second));
    let stderr = text(&first.stderr);
    let events = text(&succeed(&["log", "--data", &data]).stdout)
        .lines()
        .count();
    assert!(
        stderr.contains(&format!(
            "(plan telework-roadmap, log position {events} hash "
        )),
        "{stderr}"
    );

    let live = succeed(&["table", "--data", &data, "--format", "json"]);
    assert_eq!(text(&first.stdout), text(&live.stdout));

    // The report's figures, not just some JSON: KPI 2's cumulative is 1565.
    let table: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let kpi2 = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["kpi"] == "2" && row["series"] == "main")
        .unwrap();
    assert_eq!(kpi2["cumulative"], "1565");
}

#[test]
fn a_plan_outside_the_configuration_replays_from_its_file() {
    let (_dir, data) = seeded();
    let fifth = succeed(&[
        "replay",
        "--plan-file",
        "config/plans/fifth-information-plan.toml",
        "--data",
        &data,
    ]);
    let roadmap = succeed(&["replay", "--data", &data]);
    assert_ne!(digest_of(&fifth), digest_of(&roadmap));
    let table: serde_json::Value = serde_json::from_slice(&fifth.stdout).unwrap();
    assert_eq!(table["plan_id"], "fifth-information-plan");
    assert_eq!(table["fiscal_years"].as_array().unwrap().len(), 5);
    // The seed's events (R3-R6) are all before the successor's period: no figure anywhere.
    for row in table["rows"].as_array().unwrap() {
        for cell in row["cells"].as_array().unwrap() {
            assert!(cell["value"].is_null(), "{row}");
        }
    }
}

#[test]
fn bad_input_is_refused_naming_what_is_wrong() {
    let (dir, data) = seeded();
    let unknown = kpi_ledger(&["replay", "--plan", "no-such-plan", "--data", &data]);
    assert!(!unknown.status.success());
    let stderr = text(&unknown.stderr);
    assert!(
        stderr.contains("--plan: unknown plan `no-such-plan`"),
        "{stderr}"
    );
    assert!(stderr.contains("telework-roadmap"), "{stderr}");

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "id = \"x\"\nname = { ja = \"x\", en = \"x\" }\nperiod = { first = \"R9\", last = \"R3\" }\n").unwrap();
    let refused = kpi_ledger(&[
        "replay",
        "--plan-file",
        broken.to_str().unwrap(),
        "--data",
        &data,
    ]);
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("invalid plan file"), "{stderr}");
    assert!(stderr.contains("period.last"), "{stderr}");

    let missing = dir.path().join("no-store");
    let output = kpi_ledger(&["replay", "--data", missing.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("no store at"),
        "{}",
        text(&output.stderr)
    );
    assert!(!missing.exists(), "replay never creates a store");
}

/// A successor's table comes from the same fold of every plan in force, whichever command
/// computes it: its baselines come from the predecessor's history.
#[test]
fn a_successor_replays_with_its_transfer_baselines() {
    let (_dir, data) = transferred();
    let args = [
        "replay",
        "--plan",
        "fifth-information-plan",
        "--data",
        &data,
    ];
    let replayed = succeed(&args);
    let table: serde_json::Value = serde_json::from_slice(&replayed.stdout).unwrap();
    for (kpi, series, baseline) in [
        ("DX1", "main", "1741"),
        ("DX3", "main", "131"),
        ("DX3", "b", "251"),
        ("DX5", "main", "11"),
    ] {
        let row = row(&table, kpi, series);
        assert_eq!(row["baseline"], baseline, "{kpi} {series}");
        assert_eq!(
            row["cumulative"], baseline,
            "{kpi} {series}: no event after R8 yet"
        );
    }
    let live = succeed(&[
        "table",
        "--plan",
        "fifth-information-plan",
        "--data",
        &data,
        "--format",
        "json",
    ]);
    assert_eq!(text(&replayed.stdout), text(&live.stdout));
}

/// `audit recompute` checks the live projection against the reference fold.
#[test]
fn audit_recompute_agrees_on_the_seed_and_after_a_transfer() {
    let (_dir, data) = transferred();
    let output = succeed(&["audit", "recompute", "--data", &data]);
    let said = text(&output.stdout);
    assert!(
        said.starts_with("the live projection agrees with the reference fold: 2 plans,"),
        "{said}"
    );
    let output = succeed(&[
        "audit",
        "recompute",
        "--data",
        &data,
        "--through",
        "2024-03-31",
    ]);
    assert!(
        text(&output.stdout).contains("agrees"),
        "{}",
        text(&output.stdout)
    );
    let refused = kpi_ledger(&["audit", "recompute", "--data", &data, "--through", "R6"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("--through"),
        "{}",
        text(&refused.stderr)
    );
}

/// A late R8 seminar recorded after the transfer moves the roadmap's own table (marked late)
/// but not the successor's baseline, which stays as decided; the transfer report shows the
/// adjustment with its event.
#[test]
fn a_late_entry_after_the_transfer_is_an_adjustment_not_a_new_baseline() {
    let (dir, data) = transferred();
    let file = dir.path().join("late.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"type":"seminar","payload":{"title":"DX推進セミナー","organiser":"DX・テレワーク推進センター","first_date":"2026-06-10","sessions":1,"participants":{"unique":7,"attendances":7},"status":"held"}}"#,
            "\n"
        ),
    )
    .unwrap();
    succeed(&["import", file.to_str().unwrap(), "--data", &data]);
    let late_id = text(&succeed(&["log", "--data", &data]).stdout)
        .lines()
        .last()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["event_id"].clone())
        .unwrap();

    let report: serde_json::Value = serde_json::from_slice(
        &succeed(&[
            "plan",
            "transfer-report",
            "telework-roadmap",
            "--data",
            &data,
            "--format",
            "json",
        ])
        .stdout,
    )
    .unwrap();
    let dx1 = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["successor_kpi"]["kpi"] == "DX1")
        .unwrap();
    assert_eq!(dx1["baseline"], "1741", "the baseline as decided");
    assert_eq!(dx1["current_baseline"], "1748");
    assert_eq!(dx1["adjustment"], "7");
    assert_eq!(dx1["adjustment_event_ids"], serde_json::json!([late_id]));
    let text_report = text(
        &succeed(&[
            "plan",
            "transfer-report",
            "telework-roadmap",
            "--data",
            &data,
        ])
        .stdout,
    );
    assert!(
        text_report.contains("baseline 1741 (as decided at the transfer)")
            && text_report.contains("adjustment +7 since the transfer (history now 1748"),
        "{text_report}"
    );

    let fifth: serde_json::Value = serde_json::from_slice(
        &succeed(&[
            "replay",
            "--plan",
            "fifth-information-plan",
            "--data",
            &data,
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(row(&fifth, "DX1", "main")["baseline"], "1741");
    let roadmap: serde_json::Value =
        serde_json::from_slice(&succeed(&["table", "--data", &data, "--format", "json"]).stdout)
            .unwrap();
    let r8 = &row(&roadmap, "2", "main")["cells"][5];
    assert_eq!(
        r8["value"], "7",
        "the roadmap's own R8 counts the late entry"
    );
    assert_eq!(r8["late_event_ids"], serde_json::json!([late_id]));
    succeed(&["audit", "recompute", "--data", &data]);
}
