//! `kpi-ledger replay` through the real binary: two replays are byte-identical, the digest is
//! the SHA-256 of the printed JSON, a replay equals the live table, a plan outside the
//! configuration replays from --plan-file, and bad input is refused naming what is wrong.

mod support;

use std::process::Output;
use support::{kpi_ledger, seeded, succeed, text};

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
