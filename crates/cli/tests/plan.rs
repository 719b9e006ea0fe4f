//! `kpi-ledger plan ...` through the real binary: the lifecycle steps change the table and
//! are listed in `plan show` with who recorded them; the transfer into the illustrative Fifth
//! Information Plan gives baselines computed by hand from the published table; bad input to
//! every write subcommand names the flag and field and leaves the log as it was.

mod support;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::{adopt_fifth, extend, kpi_ledger, row, seeded, succeed, text, transfer_args};

use support::{FIFTH, MAPPING};

/// Runs a command that must be refused, and returns its error message.
fn refused(args: &[&str]) -> String {
    let output = kpi_ledger(args);
    assert!(
        !output.status.success(),
        "{args:?} succeeded: {}",
        text(&output.stdout)
    );
    text(&output.stderr)
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", text(&output.stdout)))
}

/// The hash-chain digest of the whole log: unchanged means nothing was written.
fn digest(data: &str) -> String {
    text(&succeed(&["verify", "--data", data]).stdout)
}

fn head_position(data: &str) -> u64 {
    text(&succeed(&["log", "--data", data]).stdout)
        .lines()
        .count() as u64
}

fn csv_header(data: &str) -> String {
    let csv = succeed(&["table", "--data", data, "--format", "csv"]);
    text(&csv.stdout).lines().next().unwrap().to_owned()
}

#[test]
fn lifecycle_steps_change_the_table_and_show_lists_them_in_order() {
    let (dir, data) = seeded();
    let seed_events = head_position(&data);
    let header = csv_header(&data);
    assert!(header.contains("R7") && !header.contains("R8"), "{header}");

    let extended = text(&extend(&data, "clerk").stdout);
    let extension_position = seed_events + 1;
    assert!(
        extended.contains(&format!(
            "recorded plan_extended at position {extension_position} (event "
        )),
        "{extended}"
    );
    assert!(
        extended.contains("telework-roadmap: period extended from R7 to R8"),
        "{extended}"
    );
    let header = csv_header(&data);
    assert!(header.contains("R7") && header.contains("R8"), "{header}");

    let decision = ["--decided-on", "2025-07-01", "--data", &data];
    let revised = succeed(
        &[
            &[
                "plan",
                "revise-target",
                "telework-roadmap",
                "--kpi",
                "2",
                "--value",
                "2000",
                "--kind",
                "cumulative",
                "--reason",
                "raised for the extension",
                "--actor",
                "clerk",
            ][..],
            &decision,
        ]
        .concat(),
    );
    assert!(
        text(&revised.stdout)
            .contains("KPI 2 target revised from 1000 (cumulative) to 2000 (cumulative)"),
        "{}",
        text(&revised.stdout)
    );
    succeed(
        &[
            &[
                "plan",
                "retire-kpi",
                "telework-roadmap",
                "--kpi",
                "11",
                "--last-year",
                "R5",
                "--reason",
                "partnerships move to the city's DX office",
                "--actor",
                "chief",
            ][..],
            &decision,
        ]
        .concat(),
    );
    let kpi_file = dir.path().join("kpi-13.toml");
    std::fs::write(
        &kpi_file,
        r#"id = "13"
pillar = "3"
name = { ja = "モニターツアー参加企業", en = "Firms on monitor tours" }
unit = "firms"
target = { value = "30", kind = "cumulative" }
aggregation = "sum"
cumulative = true
achievement = { show = true }
sources = [{ event = "monitor_tour", field = "firms" }]
"#,
    )
    .unwrap();
    succeed(
        &[
            &[
                "plan",
                "add-kpi",
                "telework-roadmap",
                kpi_file.to_str().unwrap(),
                "--actor",
                "clerk",
            ][..],
            &decision,
        ]
        .concat(),
    );

    let table = json(&succeed(&["table", "--data", &data, "--format", "json"]));
    // KPI 2: the published cumulative 1565 against the revised 2000: 78.25 % -> 78.3.
    let kpi2 = row(&table, "2", "main");
    assert_eq!(kpi2["cumulative"], "1565");
    assert_eq!(kpi2["achievement"], "78.3");
    // KPI 11 counts R3-R5 only: 3 + 3 + 2 = 8 of 10 -> 80.0 %.
    let kpi11 = row(&table, "11", "main");
    assert_eq!(kpi11["cumulative"], "8");
    assert_eq!(kpi11["achievement"], "80.0");
    assert_eq!(row(&table, "13", "main")["unit"], "firms");

    let show = text(&succeed(&["plan", "show", "telework-roadmap", "--data", &data]).stdout);
    let steps = [
        "1. configuration: definition read from the configuration".to_owned(),
        format!("2. position {extension_position}, recorded "),
        "by clerk, decided on 2025-06-01: period extended from R7 to R8".to_owned(),
        format!("3. position {}, recorded ", extension_position + 1),
        "by clerk, decided on 2025-07-01: KPI 2 target revised from 1000 (cumulative) to 2000 \
         (cumulative)"
            .to_owned(),
        "4. position ".to_owned(),
        "by chief, decided on 2025-07-01: KPI 11 retired after R5".to_owned(),
        "5. position ".to_owned(),
        "by clerk, decided on 2025-07-01: KPI 13 added".to_owned(),
        "In force: period R3-R8".to_owned(),
        "KPI 2     Seminar and consultation participants [persons] target 2000 (cumulative)\n"
            .to_owned(),
        "KPI 11    Partnerships and agreements [organisations] target 10 (cumulative), retired \
         after R5\n"
            .to_owned(),
        "KPI 12    Publications [times] target 12 (annual minimum)\n".to_owned(),
        "KPI 13    Firms on monitor tours [firms] target 30 (cumulative)".to_owned(),
    ];
    let mut from = 0;
    for step in &steps {
        let at = show[from..]
            .find(step.as_str())
            .unwrap_or_else(|| panic!("`{step}` not found in order in\n{show}"));
        from += at + step.len();
    }

    let history = json(&succeed(&[
        "plan",
        "show",
        "telework-roadmap",
        "--data",
        &data,
        "--format",
        "json",
    ]));
    let steps = history["history"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    assert_eq!(steps[0]["change"]["change"], "configured");
    assert_eq!(steps[0]["actor"], Value::Null);
    assert_eq!(steps[1]["position"], extension_position);
    assert_eq!(steps[1]["actor"], "clerk");
    assert_eq!(steps[3]["description"], "KPI 11 retired after R5");
    // Every step keeps the definition it left in force: R7 (FY2025) before the extension,
    // R8 (FY2026) after.
    assert_eq!(steps[0]["definition"]["period"]["last"], 2025);
    assert_eq!(steps[1]["definition"]["period"]["last"], 2026);
    let kpis = |definition: &Value| definition["kpis"].as_array().unwrap().len();
    // The roadmap's 15 rows (1-12 with 4b, 5b, 9b), then KPI 13 added.
    assert_eq!(kpis(&steps[0]["definition"]), 15);
    assert_eq!(kpis(&history["definition"]), 16);
}

#[test]
fn the_transfer_to_the_fifth_plan_gives_hand_computed_baselines() {
    let (_dir, data) = seeded();
    adopt_fifth(&data);
    extend(&data, "clerk");
    let transferred = text(&succeed(&transfer_args(&data, MAPPING)).stdout);
    assert!(
        transferred.contains("telework-roadmap: transferred to fifth-information-plan from R9"),
        "{transferred}"
    );

    let report = json(&succeed(&[
        "plan",
        "transfer-report",
        "telework-roadmap",
        "--data",
        &data,
        "--format",
        "json",
    ]));
    assert_eq!(report["successor"], "fifth-information-plan");
    assert_eq!(report["effective_from"], 2027, "R9 is FY2027");
    let entry = |kpi: &str, series: &str| -> Value {
        report["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| {
                entry["successor_kpi"]["kpi"] == kpi && entry["successor_kpi"]["series"] == series
            })
            .unwrap_or_else(|| panic!("no entry {kpi} {series}"))
            .clone()
    };
    let figures = |entry: &Value| -> Vec<Value> {
        entry["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|source| source["figure"].clone())
            .collect()
    };
    // DX1: roadmap KPI 2 over R3-R8 is the published cumulative 1565 (no event after R6);
    // skill-training events are the six R6 courses, 176 participants (KPI 4's R6 figure; its
    // R4-R5 figures are opening totals, not events). 1565 + 176 = 1741.
    let dx1 = entry("DX1", "main");
    assert_eq!(dx1["history"], "counts");
    assert_eq!(figures(&dx1), ["1565", "176"]);
    assert_eq!(dx1["baseline"], "1741");
    // DX2: the telework rate is ignored; the roadmap's latest rate (R6) 35.8 is shown only.
    let dx2 = entry("DX2", "main");
    assert_eq!(dx2["history"], "ignored");
    assert_eq!(figures(&dx2), ["35.8"]);
    assert_eq!(dx2["baseline"], Value::Null);
    // DX3 / DX3b: the published cumulatives of KPI 9 / 9b, 131 households and 251 persons.
    assert_eq!(entry("DX3", "main")["baseline"], "131");
    assert_eq!(entry("DX3", "b")["baseline"], "251");
    // DX4: related population 357, ignored. DX5: partnerships 11, counted.
    assert_eq!(figures(&entry("DX4", "main")), ["357"]);
    assert_eq!(entry("DX4", "main")["baseline"], Value::Null);
    assert_eq!(entry("DX5", "main")["baseline"], "11");
    // DX6 is new: no mapping entry, no history.
    assert_eq!(entry("DX6", "main")["history"], Value::Null);
    assert_eq!(entry("DX6", "main")["sources"], serde_json::json!([]));

    let report_text = text(
        &succeed(&[
            "plan",
            "transfer-report",
            "telework-roadmap",
            "--data",
            &data,
        ])
        .stdout,
    );
    for line in [
        "telework-roadmap (Fuji City Telework Promotion Roadmap, R3-R8) -> fifth-information-plan",
        "  history counts; baseline 1741 (as decided at the transfer)\n  from telework-roadmap KPI 2 (",
        "): 1565\n  from skill_training events (sum of participants): 176\n",
        "  history ignored (reported only); baseline none\n",
        "DX6 Firms on monitor tours [firms]\n  new KPI: no predecessor, no baseline",
    ] {
        assert!(report_text.contains(line), "`{line}` in\n{report_text}");
    }

    // The successor's table starts from those baselines: DX1 1741 of 2500 = 69.64 % -> 69.6.
    let fifth = json(&succeed(&[
        "table",
        "--data",
        &data,
        "--plan",
        "fifth-information-plan",
        "--format",
        "json",
    ]));
    assert_eq!(row(&fifth, "DX1", "main")["baseline"], "1741");
    assert_eq!(row(&fifth, "DX1", "main")["achievement"], "69.6");

    let list = text(&succeed(&["plan", "list", "--data", &data]).stdout);
    assert!(
        list.contains("telework-roadmap  Fuji City Telework Promotion Roadmap  R3-R8  configured  transferred to fifth-information-plan from R9"),
        "{list}"
    );
    assert!(
        list.contains("fifth-information-plan  Fifth Fuji City Information Plan (illustrative)  R9-R13  adopted\n"),
        "{list}"
    );
    let show = text(&succeed(&["plan", "show", "telework-roadmap", "--data", &data]).stdout);
    assert!(
        show.contains("Transferred to fifth-information-plan from R9 (6 mapping entries"),
        "{show}"
    );
}

/// Every write subcommand refuses bad input with the flag and field at fault, and writes
/// nothing: the log's digest is the same after all the refusals.
#[test]
fn bad_input_names_the_field_and_writes_nothing() {
    let (dir, data) = seeded();
    adopt_fifth(&data);
    let before = digest(&data);
    let file = |name: &str, content: &str| -> String {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let expect = |args: &[&str], needles: &[&str]| {
        let message = refused(&[args, &["--data", &data]].concat());
        for needle in needles {
            assert!(
                message.contains(needle),
                "{args:?}: `{needle}` in {message}"
            );
        }
        assert!(message.contains("nothing recorded"), "{args:?}: {message}");
    };
    let decided = ["--decided-on", "2025-06-01", "--reason", "r"];

    let broken = file("broken.toml", "id = \"x\"\nperiod = {");
    expect(
        &["plan", "adopt", &broken, "--adopted-on", "2027-03-01"],
        &["invalid FILE", "(field `definition`)"],
    );
    expect(
        &["plan", "adopt", FIFTH, "--adopted-on", "2027-03-01"],
        &["(field `definition`)", "already adopted"],
    );
    expect(
        &["plan", "adopt", FIFTH, "--adopted-on", "2027-13-01"],
        &["invalid --adopted-on (field `adopted_on`)"],
    );

    let extend_args = |plan: &'static str, to: &'static str| {
        [&["plan", "extend", plan, "--to", to][..], &decided].concat()
    };
    expect(
        &extend_args("no-such-plan", "R8"),
        &["invalid ID (field `plan_id`)", "no plan `no-such-plan`"],
    );
    expect(
        &extend_args("telework-roadmap", "R6"),
        &[
            "invalid --to (field `last`)",
            "after the plan's current last year R7",
        ],
    );

    let revise = |kpi: &'static str, value: &'static str, kind: &'static str| {
        [
            &[
                "plan",
                "revise-target",
                "telework-roadmap",
                "--kpi",
                kpi,
                "--value",
                value,
                "--kind",
                kind,
            ][..],
            &decided,
        ]
        .concat()
    };
    expect(
        &revise("99", "5", "cumulative"),
        &["invalid --kpi/--series (field `kpi`)", "no KPI 99"],
    );
    expect(
        &revise("1", "50", "cumulative"),
        &["invalid --kind (field `target.kind`)"],
    );
    expect(
        &revise("2", "0", "cumulative"),
        &["invalid --value (field `target.value`)"],
    );

    fn add(path: &str) -> Vec<&str> {
        let decided = ["--decided-on", "2025-06-01"];
        [&["plan", "add-kpi", "telework-roadmap", path][..], &decided].concat()
    }
    expect(
        &add(&file("kpi-broken.toml", "id = \"13\"\npillar =")),
        &["invalid FILE", "(field `definition`)"],
    );
    let no_pillar = file(
        "kpi-pillar.toml",
        "id = \"13\"\npillar = \"9\"\nname = { ja = \"x\", en = \"x\" }\nunit = \"persons\"\n\
         aggregation = \"sum\"\nsources = [{ event = \"seminar\", field = \"sessions\" }]",
    );
    expect(&add(&no_pillar), &["(field `definition`)", "no pillar `9`"]);

    expect(
        &[
            &[
                "plan",
                "retire-kpi",
                "telework-roadmap",
                "--kpi",
                "11",
                "--last-year",
                "R9",
            ][..],
            &decided,
        ]
        .concat(),
        &["invalid --last-year (field `last_year`)", "R3 to R7"],
    );
    expect(
        &[
            &[
                "plan",
                "retire-kpi",
                "telework-roadmap",
                "--kpi",
                "11",
                "--series",
                "b",
                "--last-year",
                "R5",
            ][..],
            &decided,
        ]
        .concat(),
        &["invalid --kpi/--series (field `kpi`)", "no KPI 11b"],
    );

    // The roadmap ends in R7: a transfer from R9 would leave R8 between the plans.
    let message = refused(&transfer_args(&data, MAPPING));
    assert!(
        message.contains("invalid --effective-from (field `effective_from`)")
            && message.contains("extend the plan first"),
        "{message}"
    );
    let not_toml = file("mapping-broken.toml", "[[mapping]\nsuccessor_kpi = ");
    let message = refused(&transfer_args(&data, &not_toml));
    assert!(
        message.contains(&format!("invalid --mapping {not_toml}: not a TOML file")),
        "{message}"
    );
    assert_eq!(digest(&data), before, "a refused write changed the log");

    // Extended, the transfer now fits in time; its mapping must still fit the plans.
    extend(&data, "clerk");
    let extended = digest(&data);
    assert_ne!(extended, before);
    // Entry 3 (DX3, households) fed by KPI 9b, which counts persons.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mapping = std::fs::read_to_string(root.join(MAPPING)).unwrap();
    let wrong_unit = mapping.replacen(
        "successor_kpi = \"DX3\"\nfrom_kpis = [{ kpi = \"9\" }]",
        "successor_kpi = \"DX3\"\nfrom_kpis = [{ kpi = \"9\", series = \"b\" }]",
        1,
    );
    assert_ne!(
        wrong_unit, mapping,
        "the mapping file still has the DX3 entry"
    );
    let wrong_unit = file("mapping-unit.toml", &wrong_unit);
    let message = refused(&transfer_args(&data, &wrong_unit));
    assert!(
        message.contains(&format!(
            "invalid --mapping {wrong_unit}, [[mapping]] entry 3 (field `mapping[2].from_kpis[0]`)"
        )) && message.contains("KPI 9b counts persons but DX3 counts households"),
        "{message}"
    );
    let mut unknown_successor = transfer_args(&data, MAPPING);
    unknown_successor[4] = "sixth-plan";
    let message = refused(&unknown_successor);
    assert!(
        message.contains("invalid --to (field `successor`)") && message.contains("adopt it first"),
        "{message}"
    );
    assert_eq!(
        digest(&data),
        extended,
        "a refused transfer changed the log"
    );
}
