//! The plan lifecycle over real HTTP: the `admin` mutations (adopt, extend, revise a target,
//! add and retire a KPI, transfer, rebuild) under the role matrix, bad input that names the
//! argument and writes nothing, the R8 column an extension adds, the transfer report with
//! figures computed by hand, late entries in the drill-down, and a live rebuild racing
//! concurrent records.

mod graphql_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use graphql_support::{LedgerServer, Who, PLAN_ID};
use serde_json::{json, Value};

const FIFTH_ID: &str = "fifth-information-plan";

fn fifth_definition() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/plans/fifth-information-plan.toml"
    ))
    .unwrap()
}

const EVENT: &str = "id position actor type payload";

fn adopt_plan() -> String {
    format!(
        "mutation($definition: String!, $adoptedOn: Date!, $key: String) {{ \
         adoptPlan(definition: $definition, adoptedOn: $adoptedOn, idempotencyKey: $key) {{ {EVENT} }} }}"
    )
}

fn extend_plan() -> String {
    format!(
        "mutation($planId: ID!, $last: FiscalYear!, $decidedOn: Date!, $reason: String!) {{ \
         extendPlan(planId: $planId, last: $last, decidedOn: $decidedOn, reason: $reason) {{ {EVENT} }} }}"
    )
}

fn revise_kpi_target() -> String {
    format!(
        "mutation($planId: ID!, $kpi: ID!, $series: Series, $target: TargetInput!, \
         $decidedOn: Date!, $reason: String!) {{ reviseKpiTarget(planId: $planId, kpi: $kpi, \
         series: $series, target: $target, decidedOn: $decidedOn, reason: $reason) {{ {EVENT} }} }}"
    )
}

fn add_kpi() -> String {
    format!(
        "mutation($planId: ID!, $definition: String!, $decidedOn: Date!, $reason: String) {{ \
         addKpi(planId: $planId, definition: $definition, decidedOn: $decidedOn, reason: $reason) \
         {{ {EVENT} }} }}"
    )
}

fn retire_kpi() -> String {
    format!(
        "mutation($planId: ID!, $kpi: ID!, $lastYear: FiscalYear!, $decidedOn: Date!, \
         $reason: String!) {{ retireKpi(planId: $planId, kpi: $kpi, lastYear: $lastYear, \
         decidedOn: $decidedOn, reason: $reason) {{ {EVENT} }} }}"
    )
}

fn transfer_plan() -> String {
    format!(
        "mutation($planId: ID!, $successor: ID!, $effectiveFrom: FiscalYear!, $decidedOn: Date!, \
         $mapping: [KpiMappingInput!]!) {{ transferPlan(planId: $planId, successor: $successor, \
         effectiveFrom: $effectiveFrom, decidedOn: $decidedOn, mapping: $mapping) {{ {EVENT} }} }}"
    )
}

const REBUILD: &str =
    "mutation { rebuildProjection { planIds eventsFolded eventsCaughtUp position durationMs } }";

fn adoption() -> Value {
    json!({ "definition": fifth_definition(), "adoptedOn": "2027-03-01" })
}

fn extension() -> Value {
    json!({ "planId": PLAN_ID, "last": "R8", "decidedOn": "2025-06-01",
            "reason": "R6 report: the roadmap runs one more year" })
}

fn revision() -> Value {
    json!({ "planId": PLAN_ID, "kpi": "2", "target": { "value": "2000", "kind": "CUMULATIVE" },
            "decidedOn": "2025-06-01", "reason": "raised for the extension" })
}

/// KPI 13 under pillar 4: coworking users who came to work.
const NEW_KPI: &str = "id = \"13\"\npillar = \"4\"\nname = { ja = \"コワーキング就業利用\", en = \"Coworking work use\" }\nunit = \"persons\"\naggregation = \"sum\"\nsources = [{ event = \"coworking_tally\", field = \"work_use\" }]";

fn addition() -> Value {
    json!({ "planId": PLAN_ID, "definition": NEW_KPI, "decidedOn": "2025-06-01",
            "reason": "work use is reported from R7" })
}

fn retirement() -> Value {
    json!({ "planId": PLAN_ID, "kpi": "12", "lastYear": "R7", "decidedOn": "2025-06-01",
            "reason": "folded into KPI 13" })
}

/// config/plans/telework-roadmap-to-fifth.toml, written out as GraphQL input by hand.
fn illustrative_mapping() -> Value {
    json!([
        { "successorKpi": "DX1", "fromKpis": [{ "kpi": "2" }],
          "fromEvents": [{ "event": "skill_training", "field": "participants" }],
          "history": "COUNTS" },
        { "successorKpi": "DX2", "fromKpis": [{ "kpi": "1" }], "history": "IGNORED" },
        { "successorKpi": "DX3", "fromKpis": [{ "kpi": "9" }], "history": "COUNTS" },
        { "successorKpi": "DX3", "series": "B", "fromKpis": [{ "kpi": "9", "series": "B" }],
          "history": "COUNTS" },
        { "successorKpi": "DX4", "fromKpis": [{ "kpi": "10" }], "history": "IGNORED" },
        { "successorKpi": "DX5", "fromKpis": [{ "kpi": "11" }], "history": "COUNTS" },
    ])
}

fn transfer() -> Value {
    json!({ "planId": PLAN_ID, "successor": FIFTH_ID, "effectiveFrom": "R9",
            "decidedOn": "2027-03-31", "mapping": illustrative_mapping() })
}

fn with(mut value: Value, path: &[&str], replacement: Value) -> Value {
    let (last, parents) = path.split_last().unwrap();
    let mut target = &mut value;
    for key in parents {
        target = match key.parse::<usize>() {
            Ok(index) => &mut target[index],
            Err(_) => &mut target[*key],
        };
    }
    match last.parse::<usize>() {
        Ok(index) => target[index] = replacement,
        Err(_) => target[*last] = replacement,
    }
    value
}

fn seminar(date: &str, unique: u32) -> Value {
    json!({ "title": format!("DX推進セミナー {date} {unique}"),
            "organiser": "DX・テレワーク推進センター", "firstDate": date, "sessions": 1,
            "participants": { "unique": unique, "attendances": unique }, "status": "HELD" })
}

const RECORD_SEMINAR: &str =
    "mutation($input: SeminarInput!) { recordSeminar(input: $input) { id position } }";

async fn record_seminar(server: &LedgerServer, date: &str, unique: u32) -> Value {
    server
        .data(
            Who::Recorder,
            RECORD_SEMINAR,
            json!({ "input": seminar(date, unique) }),
        )
        .await["recordSeminar"]
        .clone()
}

/// A seminar the recorder states lies outside every plan in force (`outsidePlans`): how an
/// activity of a year no plan covers yet is recorded.
async fn record_seminar_outside_plans(server: &LedgerServer, date: &str, unique: u32) -> Value {
    server
        .data(
            Who::Recorder,
            "mutation($input: SeminarInput!) { recordSeminar(input: $input, outsidePlans: true) \
               { id position } }",
            json!({ "input": seminar(date, unique) }),
        )
        .await["recordSeminar"]
        .clone()
}

/// A seminar announced for `date`: a held one may not lie in the future.
async fn record_scheduled_seminar(server: &LedgerServer, date: &str, unique: u32) -> Value {
    let mut input = seminar(date, unique);
    input["status"] = json!("SCHEDULED");
    server
        .data(Who::Recorder, RECORD_SEMINAR, json!({ "input": input }))
        .await["recordSeminar"]
        .clone()
}

async fn admin(server: &LedgerServer, query: &str, variables: Value) -> Value {
    server.data(Who::Admin, query, variables).await
}

const TABLE: &str = "query($plan: ID!) { kpiTable(plan: $plan) { fiscalYears position rows { \
    kpi series baseline lastYear cumulative achievement cells { label value eventIds \
    lateEventIds lateEvents { id } contributions { late event { id } } } } } }";

async fn table(server: &LedgerServer, plan: &str) -> Value {
    server
        .data(Who::Reader, TABLE, json!({ "plan": plan }))
        .await["kpiTable"]
        .clone()
}

fn row<'a>(table: &'a Value, kpi: &str, series: &str) -> &'a Value {
    table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["kpi"] == kpi && row["series"] == series)
        .unwrap_or_else(|| panic!("no row {kpi} {series} in {table}"))
}

fn cell<'a>(row: &'a Value, label: &str) -> &'a Value {
    row["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|cell| cell["label"] == label)
        .unwrap_or_else(|| panic!("no cell {label} in {row}"))
}

fn labels(years: &Value) -> Vec<u64> {
    years
        .as_array()
        .unwrap()
        .iter()
        .map(|year| year.as_u64().unwrap())
        .collect()
}

/// Every lifecycle mutation and the rebuild, in an order in which each fits the plans the
/// earlier ones left in force.
fn lifecycle_mutations() -> Vec<(&'static str, String, Value)> {
    vec![
        ("adoptPlan", adopt_plan(), adoption()),
        ("extendPlan", extend_plan(), extension()),
        ("reviseKpiTarget", revise_kpi_target(), revision()),
        ("addKpi", add_kpi(), addition()),
        ("retireKpi", retire_kpi(), retirement()),
        ("transferPlan", transfer_plan(), transfer()),
    ]
}

/// No token, reader and recorder are refused and write nothing; admin records, as its
/// token's name.
#[tokio::test]
async fn the_auth_matrix_holds_for_every_lifecycle_mutation() {
    let server = LedgerServer::start().await;
    let mut calls = lifecycle_mutations();
    calls.push(("rebuildProjection", REBUILD.to_owned(), Value::Null));
    for (name, query, variables) in &calls {
        for (who, code) in [
            (Who::Nobody, "UNAUTHENTICATED"),
            (Who::Reader, "FORBIDDEN"),
            (Who::Recorder, "FORBIDDEN"),
        ] {
            let head_before = server.head();
            let plans_before = server
                .data(Who::Admin, "{ plans { id fiscalYears } }", Value::Null)
                .await;
            let (status, body) = server.post(who, query, variables.clone()).await;
            assert_eq!(status, reqwest::StatusCode::OK, "{name} as {who:?}: {body}");
            assert_eq!(
                body["errors"][0]["extensions"]["code"], code,
                "{name} as {who:?}: {body}"
            );
            assert_eq!(body["data"], Value::Null, "{name} as {who:?}: {body}");
            assert_eq!(server.head(), head_before, "{name} as {who:?} wrote");
            let plans_after = server
                .data(Who::Admin, "{ plans { id fiscalYears } }", Value::Null)
                .await;
            assert_eq!(
                plans_after, plans_before,
                "{name} as {who:?} changed a plan"
            );
        }
        let head_before = server.head();
        let data = admin(&server, query, variables.clone()).await;
        if *name == "rebuildProjection" {
            assert_eq!(data[*name]["position"], head_before);
            assert_eq!(server.head(), head_before, "a rebuild appends nothing");
        } else {
            assert_eq!(data[*name]["actor"], "ops", "{name}: {data}");
            assert_eq!(data[*name]["position"], head_before + 1, "{name}: {data}");
            assert_eq!(server.head(), head_before + 1, "{name}");
        }
    }

    // Each accepted change is in the plans' definition history, by the admin's name.
    let plans = server
        .data(
            Who::Reader,
            "{ plans { id source transferredTo transferredFrom definitionHistory { kind actor \
               position description } } }",
            Value::Null,
        )
        .await["plans"]
        .clone();
    let roadmap = &plans[0];
    assert_eq!(roadmap["id"], PLAN_ID);
    assert_eq!(roadmap["source"], "CONFIGURED");
    assert_eq!(roadmap["transferredTo"], FIFTH_ID);
    let kinds: Vec<&str> = roadmap["definitionHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "CONFIGURED",
            "PERIOD_EXTENDED",
            "TARGET_REVISED",
            "KPI_ADDED",
            "KPI_RETIRED",
            "TRANSFERRED"
        ]
    );
    assert_eq!(roadmap["definitionHistory"][0]["actor"], Value::Null);
    assert_eq!(roadmap["definitionHistory"][1]["actor"], "ops");
    assert_eq!(
        roadmap["definitionHistory"][3]["description"],
        "KPI 13 added"
    );
    let fifth = &plans[1];
    assert_eq!(fifth["id"], FIFTH_ID);
    assert_eq!(fifth["source"], "ADOPTED");
    assert_eq!(fifth["transferredFrom"], PLAN_ID);
    assert_eq!(fifth["definitionHistory"][0]["kind"], "ADOPTED");
    assert_eq!(fifth["definitionHistory"][0]["position"], 1);
    server.stop().await;
}

/// Bad input for each lifecycle mutation: BAD_USER_INPUT naming the argument, nothing written.
#[tokio::test]
async fn bad_lifecycle_input_names_the_argument_and_writes_nothing() {
    let server = LedgerServer::start().await;
    let fifth_first = with(
        adoption(),
        &["definition"],
        json!(fifth_definition().replace("first = \"R9\"", "first = \"R99\"")),
    );
    // Refused before the successor exists and before the roadmap reaches R8.
    let early: Vec<(&str, String, Value, &str)> = vec![
        (
            "adoptPlan",
            adopt_plan(),
            json!({ "definition": "id = \"x\"", "adoptedOn": "2027-03-01" }),
            "definition",
        ),
        ("adoptPlan", adopt_plan(), fifth_first, "definition"),
        (
            "adoptPlan",
            adopt_plan(),
            with(adoption(), &["adoptedOn"], json!("2027-02-30")),
            "adoptedOn",
        ),
        (
            "extendPlan",
            extend_plan(),
            with(extension(), &["planId"], json!("no-such-plan")),
            "planId",
        ),
        (
            "extendPlan",
            extend_plan(),
            with(extension(), &["last"], json!("R6")),
            "last",
        ),
        (
            "extendPlan",
            extend_plan(),
            with(extension(), &["reason"], json!("  ")),
            "reason",
        ),
        (
            "reviseKpiTarget",
            revise_kpi_target(),
            with(revision(), &["kpi"], json!("99")),
            "kpi",
        ),
        (
            "reviseKpiTarget",
            revise_kpi_target(),
            with(revision(), &["target", "value"], json!("0")),
            "target.value",
        ),
        (
            "reviseKpiTarget",
            revise_kpi_target(),
            with(revision(), &["kpi"], json!("1")),
            "target.kind",
        ),
        (
            "addKpi",
            add_kpi(),
            with(
                addition(),
                &["definition"],
                json!(NEW_KPI.replace("pillar = \"4\"", "pillar = \"9\"")),
            ),
            "definition",
        ),
        (
            "addKpi",
            add_kpi(),
            with(
                addition(),
                &["definition"],
                json!(NEW_KPI.replace("id = \"13\"", "id = \"2\"")),
            ),
            "definition",
        ),
        (
            "retireKpi",
            retire_kpi(),
            with(retirement(), &["lastYear"], json!("R9")),
            "lastYear",
        ),
        (
            "retireKpi",
            retire_kpi(),
            with(retirement(), &["decidedOn"], json!("2025-6-1")),
            "decidedOn",
        ),
        ("transferPlan", transfer_plan(), transfer(), "successor"),
    ];
    let refuse = |name: &'static str, query: String, variables: Value, field: &'static str| {
        let server = &server;
        async move {
            let head_before = server.head();
            let error = server.error(Who::Admin, &query, variables).await;
            assert_eq!(error.code, "BAD_USER_INPUT", "{name}: {:?}", error.body);
            assert_eq!(
                error.field.as_deref(),
                Some(field),
                "{name}: {}",
                error.message
            );
            assert!(
                error.message.contains(&format!("`{field}`")),
                "{name}: the message names the argument: {}",
                error.message
            );
            assert_eq!(server.head(), head_before, "{name} wrote");
        }
    };
    for (name, query, variables, field) in early {
        refuse(name, query, variables, field).await;
    }

    admin(&server, &adopt_plan(), adoption()).await;
    // The adopted plan cannot be adopted again; the roadmap still ends in R7.
    refuse("adoptPlan", adopt_plan(), adoption(), "definition").await;
    refuse("transferPlan", transfer_plan(), transfer(), "effectiveFrom").await;
    admin(&server, &extend_plan(), extension()).await;
    for (variables, field) in [
        (
            with(
                transfer(),
                &["mapping", "2", "fromKpis"],
                json!([{ "kpi": "9", "series": "B" }]),
            ),
            "mapping[2].fromKpis[0]",
        ),
        (
            with(transfer(), &["mapping", "0", "successorKpi"], json!("DX99")),
            "mapping[0].successorKpi",
        ),
        (
            with(transfer(), &["mapping", "1", "successorKpi"], json!("DX1")),
            "mapping[1].successorKpi",
        ),
        (
            with(
                transfer(),
                &["mapping", "0", "fromEvents"],
                json!([{ "event": "party", "count": true }]),
            ),
            "mapping[0].fromEvents[0].event",
        ),
        (
            with(transfer(), &["successor"], json!(PLAN_ID)),
            "successor",
        ),
        (
            with(transfer(), &["effectiveFrom"], json!("R10")),
            "effectiveFrom",
        ),
    ] {
        refuse("transferPlan", transfer_plan(), variables, field).await;
    }
    admin(&server, &transfer_plan(), transfer()).await;
    // A transferred plan is closed to further changes.
    refuse(
        "extendPlan",
        extend_plan(),
        with(extension(), &["last"], json!("R9")),
        "planId",
    )
    .await;

    // A plan that is not transferred has no transfer report; an unknown one is not found.
    let error = server
        .error(
            Who::Reader,
            "{ transferReport(plan: \"fifth-information-plan\") { successor } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        (error.code.as_str(), error.field.as_deref()),
        ("BAD_USER_INPUT", Some("plan"))
    );
    let error = server
        .error(
            Who::Reader,
            "{ transferReport(plan: \"nope\") { successor } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        (error.code.as_str(), error.field.as_deref()),
        ("NOT_FOUND", Some("plan"))
    );
    server.stop().await;
}

/// The extension moves the end of the period: kpiTable gains the R8 column, and an R8
/// seminar recorded before the extension counts from then on.
#[tokio::test]
async fn extend_plan_adds_the_r8_column() {
    let server = LedgerServer::start().await;
    record_seminar(&server, "2024-05-10", 20).await;
    // R8 is in no plan's period until the extension: recorded only on request.
    let refused = server
        .error(
            Who::Recorder,
            RECORD_SEMINAR,
            json!({ "input": seminar("2026-06-10", 50) }),
        )
        .await;
    assert_eq!(refused.code, "BAD_USER_INPUT", "{refused:?}");
    assert_eq!(refused.field.as_deref(), Some("input.firstDate"));
    assert!(
        refused
            .message
            .contains("R8 is outside every plan in force: telework-roadmap R3-R7"),
        "{refused:?}"
    );
    let r8_seminar = record_seminar_outside_plans(&server, "2026-06-10", 50).await;

    let before = table(&server, PLAN_ID).await;
    assert_eq!(
        labels(&before["fiscalYears"]),
        [2021, 2022, 2023, 2024, 2025]
    );
    assert_eq!(row(&before, "2", "MAIN")["cumulative"], "20");

    let extended = admin(&server, &extend_plan(), extension()).await["extendPlan"].clone();
    assert_eq!(extended["type"], "PLAN_EXTENDED");
    assert_eq!(
        extended["payload"],
        json!({ "plan_id": PLAN_ID, "last": 2026, "decided_on": "2025-06-01",
                "reason": "R6 report: the roadmap runs one more year" })
    );
    let after = table(&server, PLAN_ID).await;
    assert_eq!(
        labels(&after["fiscalYears"]),
        [2021, 2022, 2023, 2024, 2025, 2026]
    );
    assert_eq!(after["position"], server.head());
    let kpi2 = row(&after, "2", "MAIN");
    let r8 = cell(kpi2, "R8");
    assert_eq!(r8["value"], "50");
    assert_eq!(r8["eventIds"], json!([r8_seminar["id"]]));
    assert_eq!(
        r8["lateEventIds"],
        json!([]),
        "recorded before any transfer"
    );
    // 20 + 50 = 70.
    assert_eq!(kpi2["cumulative"], "70");
    // Every row gained the column.
    for row in after["rows"].as_array().unwrap() {
        assert_eq!(row["cells"].as_array().unwrap().len(), 6, "{row}");
    }

    let plan = server
        .data(
            Who::Reader,
            "{ plan(id: \"telework-roadmap\") { fiscalYears definitionHistory { kind fiscalYear \
               fiscalYears decidedOn actor eventId event { id type } } } }",
            Value::Null,
        )
        .await["plan"]
        .clone();
    assert_eq!(labels(&plan["fiscalYears"]).last(), Some(&2026));
    let steps = plan["definitionHistory"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(
        labels(&steps[0]["fiscalYears"]).last(),
        Some(&2025),
        "history keeps R7"
    );
    assert_eq!(steps[1]["kind"], "PERIOD_EXTENDED");
    assert_eq!(steps[1]["fiscalYear"], 2026);
    assert_eq!(steps[1]["decidedOn"], "2025-06-01");
    assert_eq!(steps[1]["actor"], "ops");
    assert_eq!(steps[1]["eventId"], extended["id"]);
    assert_eq!(steps[1]["event"]["type"], "PLAN_EXTENDED");
    server.stop().await;
}

const TRANSFER_REPORT: &str = "query($plan: ID!) { transferReport(plan: $plan) { predecessor \
    successor effectiveFrom predecessorYears entries { successorKpi series history baseline \
    currentBaseline adjustment adjustmentEventIds \
    sources { kind kpi { kpi series } event measure figure current } } } }";

fn entry<'a>(report: &'a Value, kpi: &str, series: &str) -> &'a Value {
    report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["successorKpi"] == kpi && entry["series"] == series)
        .unwrap_or_else(|| panic!("no entry {kpi} {series} in {report}"))
}

fn figures(entry: &Value) -> Vec<Value> {
    entry["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|source| source["figure"].clone())
        .collect()
}

/// The seed, the fifth plan adopted, the roadmap extended and transferred with the
/// illustrative mapping: the report's figures are computed by hand from the published table
/// (crates/domain/tests/lifecycle.rs derives the same ones). Then a seminar recorded after
/// the transfer for R6 counts there and is marked late.
#[tokio::test]
async fn the_transfer_report_and_late_entries() {
    let server = LedgerServer::start().await;
    server.import_seed().await;
    admin(&server, &adopt_plan(), adoption()).await;
    admin(&server, &extend_plan(), extension()).await;
    let transferred = admin(&server, &transfer_plan(), transfer()).await["transferPlan"].clone();
    assert_eq!(transferred["type"], "PLAN_TRANSFERRED");
    assert_eq!(
        transferred["payload"]["mapping"][0]["from_events"],
        json!([{ "event": "skill_training", "field": "participants" }])
    );

    let report = server
        .data(Who::Reader, TRANSFER_REPORT, json!({ "plan": PLAN_ID }))
        .await["transferReport"]
        .clone();
    assert_eq!(report["predecessor"], PLAN_ID);
    assert_eq!(report["successor"], FIFTH_ID);
    assert_eq!(report["effectiveFrom"], 2027);
    assert_eq!(
        labels(&report["predecessorYears"]),
        [2021, 2022, 2023, 2024, 2025, 2026]
    );
    // DX1: roadmap KPI 2's published cumulative 1565, plus the skill-training events over the
    // roadmap's period: the six R6 courses, 176. 1565 + 176 = 1741.
    let dx1 = entry(&report, "DX1", "MAIN");
    assert_eq!(dx1["history"], "COUNTS");
    assert_eq!(figures(dx1), [json!("1565"), json!("176")]);
    assert_eq!(dx1["sources"][0]["kind"], "KPI");
    assert_eq!(
        dx1["sources"][0]["kpi"],
        json!({ "kpi": "2", "series": "MAIN" })
    );
    assert_eq!(dx1["sources"][1]["kind"], "EVENTS");
    assert_eq!(dx1["sources"][1]["event"], "SKILL_TRAINING");
    assert_eq!(dx1["baseline"], "1741");
    // DX2: the telework rate is ignored; its latest figure, 35.8, is reported only.
    let dx2 = entry(&report, "DX2", "MAIN");
    assert_eq!(dx2["history"], "IGNORED");
    assert_eq!(figures(dx2), [json!("35.8")]);
    assert_eq!(dx2["baseline"], Value::Null);
    // DX3 / DX3b: migrant households 131 and persons 251 (KPI 9 / 9b cumulatives).
    assert_eq!(entry(&report, "DX3", "MAIN")["baseline"], "131");
    assert_eq!(entry(&report, "DX3", "B")["baseline"], "251");
    // DX4: related population 357, ignored. DX5: partnerships 11. DX6: new.
    assert_eq!(figures(entry(&report, "DX4", "MAIN")), [json!("357")]);
    assert_eq!(entry(&report, "DX4", "MAIN")["baseline"], Value::Null);
    assert_eq!(entry(&report, "DX5", "MAIN")["baseline"], "11");
    let dx6 = entry(&report, "DX6", "MAIN");
    assert_eq!(
        (&dx6["history"], &dx6["baseline"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(dx6["sources"], json!([]));

    // The successor's table counts the baselines: DX1 1741 of 2500 = 69.64 % -> 69.6.
    let fifth = table(&server, FIFTH_ID).await;
    let dx1_row = row(&fifth, "DX1", "MAIN");
    assert_eq!(dx1_row["baseline"], "1741");
    assert_eq!(dx1_row["cumulative"], "1741");
    assert_eq!(dx1_row["achievement"], "69.6");
    assert_eq!(row(&fifth, "DX4", "MAIN")["baseline"], Value::Null);

    // The plan view shows the transfer and its mapping.
    let plan = server
        .data(
            Who::Reader,
            "{ plan(id: \"telework-roadmap\") { transfer { successor effectiveFrom position \
               mapping { successorKpi { kpi series } fromKpis { kpi } fromEvents { event \
               measure field } history } } } }",
            Value::Null,
        )
        .await["plan"]["transfer"]
        .clone();
    assert_eq!(plan["successor"], FIFTH_ID);
    assert_eq!(plan["position"], transferred["position"]);
    assert_eq!(plan["mapping"].as_array().unwrap().len(), 6);
    assert_eq!(
        plan["mapping"][0]["fromEvents"],
        json!([{ "event": "SKILL_TRAINING", "measure": "FIELD", "field": "participants" }])
    );
    assert_eq!(
        plan["mapping"][3]["successorKpi"],
        json!({ "kpi": "DX3", "series": "B" })
    );

    let before = table(&server, PLAN_ID).await;
    let r6_before = cell(row(&before, "2", "MAIN"), "R6").clone();
    assert_eq!(r6_before["value"], "568", "the published R6 figure");
    assert_eq!(r6_before["lateEventIds"], json!([]));

    // Recorded after the transfer: a late R6 seminar and an R9 one (announced: R9 has not
    // begun, so a held one cannot be recorded yet).
    let late = record_seminar(&server, "2024-10-01", 7).await;
    let r9 = record_scheduled_seminar(&server, "2027-05-20", 30).await;

    let after = table(&server, PLAN_ID).await;
    assert_eq!(
        labels(&after["fiscalYears"]),
        [2021, 2022, 2023, 2024, 2025, 2026],
        "the roadmap stays frozen: no R9 column"
    );
    let r6 = cell(row(&after, "2", "MAIN"), "R6");
    // 568 + 7 = 575.
    assert_eq!(r6["value"], "575");
    assert_eq!(r6["lateEventIds"], json!([late["id"]]));
    assert_eq!(r6["lateEvents"], json!([{ "id": late["id"] }]));
    let contributions = r6["contributions"].as_array().unwrap();
    assert_eq!(
        contributions.len(),
        r6["eventIds"].as_array().unwrap().len()
    );
    for contribution in contributions {
        let is_late = contribution["event"]["id"] == late["id"];
        assert_eq!(contribution["late"], is_late, "{contribution}");
    }
    assert!(!after.to_string().contains(r9["id"].as_str().unwrap()));

    // The baseline stays as decided at the transfer: DX1 = 1565 from KPI 2 + 176 = 1741. The
    // late entry shows as an adjustment (history now 1572 + 176 = 1748), never counted; the
    // R9 seminar counts in R9: cumulative 1741 + 30 = 1771.
    let report = server
        .data(Who::Reader, TRANSFER_REPORT, json!({ "plan": PLAN_ID }))
        .await["transferReport"]
        .clone();
    let dx1 = entry(&report, "DX1", "MAIN");
    assert_eq!(figures(dx1), [json!("1565"), json!("176")]);
    assert_eq!(dx1["baseline"], "1741");
    assert_eq!(dx1["currentBaseline"], "1748");
    assert_eq!(dx1["adjustment"], "7");
    assert_eq!(dx1["adjustmentEventIds"], json!([late["id"]]));
    let fifth = table(&server, FIFTH_ID).await;
    let dx1_row = row(&fifth, "DX1", "MAIN");
    let r9_cell = cell(dx1_row, "R9");
    assert_eq!(r9_cell["value"], "30");
    assert_eq!(r9_cell["eventIds"], json!([r9["id"]]));
    assert_eq!(r9_cell["lateEventIds"], json!([]));
    assert_eq!(dx1_row["cumulative"], "1771");
    server.stop().await;
}

/// A rebuild while recorders write: every seminar is in the table afterwards, exactly once,
/// and the rebuilt projection keeps the definitions in force (the R8 column).
#[tokio::test]
async fn rebuild_projection_during_concurrent_records_misses_nothing() {
    const WRITERS: u32 = 4;
    const PER_WRITER: u32 = 15;
    let server = LedgerServer::start().await;
    server.import_seed().await;
    admin(&server, &extend_plan(), extension()).await;
    let published_r6 = "568";
    let r6_before = cell(row(&table(&server, PLAN_ID).await, "2", "MAIN"), "R6").clone();
    assert_eq!(r6_before["value"], published_r6);

    let writers_done = AtomicBool::new(false);
    let run = async {
        let writers = (0..WRITERS).map(|writer| {
            let server = &server;
            async move {
                let mut ids = Vec::new();
                for n in 0..PER_WRITER {
                    // Unique participants 1..=WRITERS*PER_WRITER, one per seminar.
                    let unique = writer * PER_WRITER + n + 1;
                    ids.push(record_seminar(server, "2024-11-01", unique).await["id"].clone());
                }
                ids
            }
        });
        let writing = async {
            let written = futures::future::join_all(writers).await;
            writers_done.store(true, Ordering::Relaxed);
            written
        };
        // Rebuilds back to back while the writers write (at least two, at most ten).
        let rebuilds = async {
            let mut reports = Vec::new();
            while reports.len() < 2 || (reports.len() < 10 && !writers_done.load(Ordering::Relaxed))
            {
                reports
                    .push(admin(&server, REBUILD, Value::Null).await["rebuildProjection"].clone());
            }
            reports
        };
        futures::join!(writing, rebuilds)
    };
    let (written, reports) = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("records and rebuilds finish within 120 s");
    for report in &reports {
        assert_eq!(report["planIds"], json!([PLAN_ID]), "{report}");
        assert!(report["eventsFolded"].as_u64().unwrap() > 0, "{report}");
        assert!(report["durationMs"].is_u64(), "{report}");
    }

    let after = table(&server, PLAN_ID).await;
    assert_eq!(after["position"], server.head());
    assert_eq!(
        labels(&after["fiscalYears"]).last(),
        Some(&2026),
        "still extended"
    );
    let r6 = cell(row(&after, "2", "MAIN"), "R6");
    let count = WRITERS * PER_WRITER;
    // 568 + (1 + 2 + ... + 60) = 568 + 60 * 61 / 2 = 568 + 1830 = 2398.
    let expected = 568 + count * (count + 1) / 2;
    assert_eq!(r6["value"], expected.to_string());
    let listed: Vec<&Value> = r6["eventIds"].as_array().unwrap().iter().collect();
    for id in written.iter().flatten() {
        assert_eq!(
            listed.iter().filter(|listed| **listed == id).count(),
            1,
            "seminar {id} listed once"
        );
    }
    server.stop().await;
}
