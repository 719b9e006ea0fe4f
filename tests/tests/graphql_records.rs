//! Recording over real HTTP: every typed mutation round-trips to a stored event and into the
//! KPI table, bad input names the field and writes nothing, retries are idempotent, and the
//! role matrix holds for every mutation.

mod graphql_support;

use graphql_support::kinds::{Kind, ALL};
use graphql_support::{
    cell, record_mutation, LedgerServer, Who, CORRECT_EVENT, PLAN_ID, RETRACT_EVENT, TABLE,
};
use serde_json::{json, Value};

const EVENT_BY_ID: &str = "query Event($id: ID!) { event(id: $id) { id position hash type \
    actor provenance idempotencyKey payload fiscalYear streamId } }";

async fn record(server: &LedgerServer, who: Who, kind: &Kind, n: u32) -> Value {
    let data = server
        .data(
            who,
            &record_mutation(kind.mutation, kind.input_type),
            json!({ "input": (kind.input)(n), "provenance": "GraphQL e2e" }),
        )
        .await;
    data[kind.mutation].clone()
}

fn is_hex_hash(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|hash| hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The examples cover every activity kind of the domain's list, in its order: a kind added to
/// the list but not to `graphql_support/kinds.rs` fails here.
#[test]
fn there_is_an_example_for_every_activity_kind() {
    let examples: Vec<&str> = ALL.iter().map(|kind| kind.event_type).collect();
    let activities: Vec<String> = kpi_domain::EventKind::ALL
        .into_iter()
        .filter(|kind| kind.family() == kpi_domain::event::Family::Activity)
        .map(|kind| kind.name().to_uppercase())
        .collect();
    assert_eq!(examples, activities);
}

#[tokio::test]
async fn every_mutation_round_trips_to_a_stored_event_and_the_table() {
    let server = LedgerServer::start().await;
    let mut recorded = Vec::new();
    for kind in ALL {
        let head_before = server.head();
        let event = record(&server, Who::Recorder, kind, 0).await;
        assert_eq!(event["type"], kind.event_type, "{}", kind.mutation);
        assert_eq!(event["payload"], (kind.payload)(0), "{}", kind.mutation);
        assert_eq!(event["position"], head_before + 1, "{}", kind.mutation);
        assert_eq!(event["actor"], "clerk");
        assert_eq!(event["provenance"], "GraphQL e2e");
        assert!(is_hex_hash(&event["hash"]), "{event}");
        assert!(is_hex_hash(&event["prevHash"]), "{event}");
        assert!(event["streamVersion"].as_u64().unwrap() >= 1, "{event}");
        assert!(event["recordedAt"].as_str().is_some(), "{event}");
        assert_eq!(server.head(), head_before + 1, "{}", kind.mutation);

        let stored = server
            .data(Who::Reader, EVENT_BY_ID, json!({ "id": event["id"] }))
            .await["event"]
            .clone();
        for field in [
            "id", "position", "hash", "type", "payload", "actor", "streamId",
        ] {
            assert_eq!(stored[field], event[field], "{}: {field}", kind.mutation);
        }
        let expected_year = (kind.payload)(0)["fiscal_year"].as_u64().unwrap_or(2024);
        assert_eq!(stored["fiscalYear"], expected_year, "{}", kind.mutation);
        recorded.push((kind, event));
    }

    // Every event the plan counts shows up behind the cell it feeds.
    let table = server
        .data(Who::Reader, TABLE, json!({ "plan": PLAN_ID }))
        .await["kpiTable"]
        .clone();
    assert_eq!(table["position"], server.head());
    for (kind, event) in &recorded {
        if let Some((kpi, series, label)) = kind.feeds {
            let cell = cell(&table, kpi, series, label);
            assert!(
                cell["eventIds"].as_array().unwrap().contains(&event["id"]),
                "{}: KPI {kpi} {label} does not list {}: {cell}",
                kind.mutation,
                event["id"]
            );
        }
    }
    // Figures, not just ids: KPI 2 in R6 sums the seminar's unique participants and the
    // consultations' persons; R3 holds the opening figure.
    assert_eq!(cell(&table, "2", "MAIN", "R6")["value"], "42");
    assert_eq!(cell(&table, "2", "MAIN", "R3")["value"], "260");
    assert_eq!(cell(&table, "8", "MAIN", "R6")["value"], "1");
    server.stop().await;
}

#[tokio::test]
async fn corrections_and_retractions_round_trip_and_change_the_table() {
    let server = LedgerServer::start().await;
    let seminar = &ALL[0];
    let original = record(&server, Who::Recorder, seminar, 0).await;
    let r6 = |table: &Value| cell(table, "2", "MAIN", "R6").clone();

    let mut replacement = (seminar.input)(0);
    replacement["participants"] = json!({ "unique": 20, "attendances": 40 });
    let correction = server
        .data(
            Who::Recorder,
            CORRECT_EVENT,
            json!({
                "target": original["id"],
                "replacement": { "seminar": replacement },
                "reason": "参加者数の集計誤り",
                "decidedOn": "2025-05-01",
            }),
        )
        .await["correctEvent"]
        .clone();
    assert_eq!(correction["type"], "CORRECTION");
    let mut expected_replacement = (seminar.payload)(0);
    expected_replacement["participants"] = json!({ "unique": 20, "attendances": 40 });
    assert_eq!(
        correction["payload"],
        json!({
            "target": original["id"],
            "target_type": "seminar",
            "replacement": expected_replacement,
            "reason": "参加者数の集計誤り",
            "decided_on": "2025-05-01",
        })
    );
    let table = server
        .data(Who::Reader, TABLE, json!({ "plan": PLAN_ID }))
        .await["kpiTable"]
        .clone();
    assert_eq!(r6(&table)["value"], "20");
    assert_eq!(r6(&table)["amendedByIds"], json!([correction["id"]]));

    let retraction = server
        .data(
            Who::Recorder,
            RETRACT_EVENT,
            json!({ "target": original["id"], "reason": "二重登録", "decidedOn": "2025-05-02" }),
        )
        .await["retractEvent"]
        .clone();
    assert_eq!(retraction["type"], "RETRACTION");
    assert_eq!(
        retraction["payload"],
        json!({ "target": original["id"], "reason": "二重登録", "decided_on": "2025-05-02" })
    );
    let table = server
        .data(Who::Reader, TABLE, json!({ "plan": PLAN_ID }))
        .await["kpiTable"]
        .clone();
    assert_eq!(
        r6(&table)["value"],
        Value::Null,
        "a retracted figure is no figure"
    );

    // The original keeps both amendments, in log order, each pointing back at it.
    let history = server
        .data(
            Who::Reader,
            "query($id: ID!) { event(id: $id) { payload amendments { id type target { id } } } }",
            json!({ "id": original["id"] }),
        )
        .await["event"]
        .clone();
    assert_eq!(
        history["payload"],
        (seminar.payload)(0),
        "nothing is edited"
    );
    let amendments = history["amendments"].as_array().unwrap();
    assert_eq!(amendments.len(), 2, "{history}");
    assert_eq!(amendments[0]["id"], correction["id"]);
    assert_eq!(amendments[1]["id"], retraction["id"]);
    assert!(amendments
        .iter()
        .all(|amendment| amendment["target"]["id"] == original["id"]));
    server.stop().await;
}

#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() {
    let server = LedgerServer::start().await;
    for kind in ALL {
        let (input, field) = (kind.bad)(0);
        let head_before = server.head();
        let error = server
            .error(
                Who::Recorder,
                &record_mutation(kind.mutation, kind.input_type),
                json!({ "input": input }),
            )
            .await;
        assert_eq!(
            error.code, "BAD_USER_INPUT",
            "{}: {:?}",
            kind.mutation, error
        );
        assert_eq!(
            error.field.as_deref(),
            Some(field),
            "{}: {:?}",
            kind.mutation,
            error
        );
        assert!(
            error.message.contains(&format!("`{field}`")),
            "{}: the message names the field: {}",
            kind.mutation,
            error.message
        );
        assert_eq!(error.body["data"], Value::Null, "{}", kind.mutation);
        assert_eq!(
            server.head(),
            head_before,
            "{} wrote something",
            kind.mutation
        );
    }

    // The same for corrections and retractions, whose arguments are not an `input`.
    let target = record(&server, Who::Recorder, &ALL[0], 0).await["id"].clone();
    let head_before = server.head();
    let mut bad_date = (ALL[0].input)(0);
    bad_date["firstDate"] = json!("30/04/2024");
    let cases = [
        (
            CORRECT_EVENT,
            json!({ "target": target, "replacement": { "seminar": bad_date },
                    "reason": "誤記", "decidedOn": "2025-05-01" }),
            "replacement.seminar.firstDate",
        ),
        (
            CORRECT_EVENT,
            json!({ "target": target, "replacement": { "exhibition": (ALL[13].input)(0) },
                    "reason": "誤記", "decidedOn": "2025-05-01" }),
            "replacement",
        ),
        (
            CORRECT_EVENT,
            json!({ "target": target, "replacement": { "seminar": (ALL[0].input)(0) },
                    "reason": " ", "decidedOn": "2025-05-01" }),
            "reason",
        ),
        (
            RETRACT_EVENT,
            json!({ "target": "0190d1c4-0000-7000-8000-000000000000", "reason": "誤記",
                    "decidedOn": "2025-05-01" }),
            "target",
        ),
        (
            RETRACT_EVENT,
            json!({ "target": "not-a-uuid", "reason": "誤記", "decidedOn": "2025-05-01" }),
            "target",
        ),
        (
            RETRACT_EVENT,
            json!({ "target": target, "reason": "誤記", "decidedOn": "2025-02-30" }),
            "decidedOn",
        ),
    ];
    for (mutation, variables, field) in cases {
        let error = server
            .error(Who::Recorder, mutation, variables.clone())
            .await;
        assert_eq!(error.code, "BAD_USER_INPUT", "{variables}: {error:?}");
        assert_eq!(
            error.field.as_deref(),
            Some(field),
            "{variables}: {error:?}"
        );
        assert!(error.message.contains(&format!("`{field}`")), "{error:?}");
        assert_eq!(server.head(), head_before, "{variables} wrote something");
    }
    server.stop().await;
}

#[tokio::test]
async fn once_only_events_refuse_a_second_record_naming_the_field() {
    let server = LedgerServer::start().await;
    for (kind, field) in [
        (&ALL[3], "input.waveId"),
        (&ALL[4], "input.firmId"),
        (&ALL[15], "input.measure"),
    ] {
        record(&server, Who::Recorder, kind, 0).await;
        let head_before = server.head();
        let error = server
            .error(
                Who::Admin,
                &record_mutation(kind.mutation, kind.input_type),
                json!({ "input": (kind.input)(0) }),
            )
            .await;
        assert_eq!(error.field.as_deref(), Some(field), "{error:?}");
        assert_eq!(error.code, "BAD_USER_INPUT", "{error:?}");
        assert_eq!(server.head(), head_before);
    }
    server.stop().await;
}

#[tokio::test]
async fn an_idempotent_retry_returns_the_same_event() {
    let server = LedgerServer::start().await;
    let seminar = &ALL[0];
    let mutation = record_mutation(seminar.mutation, seminar.input_type);
    let variables = json!({ "input": (seminar.input)(0), "key": "seminar-2024-04-30" });

    let first = server
        .data(Who::Recorder, &mutation, variables.clone())
        .await[seminar.mutation]
        .clone();
    let retry = server.data(Who::Recorder, &mutation, variables).await[seminar.mutation].clone();
    assert_eq!(retry, first, "the retry answers with the original envelope");
    assert_eq!(first["idempotencyKey"], "seminar-2024-04-30");
    assert_eq!(server.head(), 1, "one event written");

    // The same key for another event is refused, naming the key.
    let mut other = (seminar.input)(0);
    other["participants"]["unique"] = json!(31);
    let error = server
        .error(
            Who::Recorder,
            &mutation,
            json!({ "input": other, "key": "seminar-2024-04-30" }),
        )
        .await;
    assert_eq!(error.code, "CONFLICT", "{error:?}");
    assert_eq!(error.field.as_deref(), Some("idempotencyKey"), "{error:?}");
    assert_eq!(server.head(), 1);
    server.stop().await;
}

/// The key covers the whole request: the same input from another source is a CONFLICT too.
#[tokio::test]
async fn the_same_key_with_another_provenance_is_a_conflict() {
    let server = LedgerServer::start().await;
    let seminar = &ALL[0];
    let mutation = record_mutation(seminar.mutation, seminar.input_type);
    let sourced = |provenance: &str| {
        json!({ "input": (seminar.input)(0), "key": "seminar-2024-04-30",
                "provenance": provenance })
    };
    let first = server
        .data(Who::Recorder, &mutation, sourced("R6 report, table 2"))
        .await[seminar.mutation]
        .clone();
    let retry = server
        .data(Who::Recorder, &mutation, sourced("R6 report, table 2"))
        .await[seminar.mutation]
        .clone();
    assert_eq!(retry, first);
    let error = server
        .error(Who::Recorder, &mutation, sourced("R5 report, table 2"))
        .await;
    assert_eq!(error.code, "CONFLICT", "{error:?}");
    assert_eq!(error.field.as_deref(), Some("idempotencyKey"), "{error:?}");
    assert!(error.message.contains("provenance"), "{error:?}");
    assert_eq!(server.head(), 1);
    server.stop().await;
}

/// Refused at the boundary, naming the argument, with nothing written: amending a retracted
/// event, a response in another year than its wave, an implausible count, a held activity in
/// the future, an activity outside every plan (unless `outsidePlans`).
#[tokio::test]
async fn what_no_table_may_count_is_refused_naming_the_argument() {
    let server = LedgerServer::start().await;
    let head = |server: &LedgerServer| server.head();
    let seminar_mutation = record_mutation("recordSeminar", "SeminarInput");
    let seminar = |first_date: &str, unique: u32, status: &str| {
        json!({ "title": "DX人材育成セミナー", "organiser": "DX・テレワーク推進センター",
                "firstDate": first_date, "sessions": 1,
                "participants": { "unique": unique, "attendances": unique }, "status": status })
    };
    let refused = |expected_field: &'static str, message: &'static str| {
        move |error: graphql_support::GraphqlError| {
            assert_eq!(error.code, "BAD_USER_INPUT", "{error:?}");
            assert_eq!(error.field.as_deref(), Some(expected_field), "{error:?}");
            assert!(error.message.contains(message), "{error:?}");
        }
    };

    // Item 5: a retracted event is neither retracted again nor corrected.
    let target = server
        .data(
            Who::Recorder,
            &seminar_mutation,
            json!({ "input": seminar("2024-10-10", 10, "HELD") }),
        )
        .await["recordSeminar"]["id"]
        .clone();
    let retraction = server
        .data(
            Who::Recorder,
            RETRACT_EVENT,
            json!({ "target": target, "reason": "二重登録", "decidedOn": "2024-11-02" }),
        )
        .await["retractEvent"]["id"]
        .clone();
    let before = head(&server);
    let again = server
        .error(
            Who::Recorder,
            RETRACT_EVENT,
            json!({ "target": target, "reason": "二重登録", "decidedOn": "2024-11-03" }),
        )
        .await;
    refused(
        "target",
        "a retracted event cannot be corrected or retracted again",
    )(again.clone());
    assert!(
        again.message.contains(&format!(
            "was retracted by {} on 2024-11-02",
            retraction.as_str().unwrap()
        )),
        "{again:?}"
    );
    let correction = server
        .error(
            Who::Recorder,
            CORRECT_EVENT,
            json!({ "target": target, "replacement": { "seminar": seminar("2024-10-10", 12, "HELD") },
                    "reason": "12人", "decidedOn": "2024-11-03" }),
        )
        .await;
    refused("target", "was retracted by")(correction);
    assert_eq!(head(&server), before);

    // Item 4: a response in another year than its recorded wave.
    server
        .data(
            Who::Recorder,
            &record_mutation("recordSurveyWave", "SurveyWaveInput"),
            json!({ "input": { "waveId": "fuji-2023-12", "title": "テレワーク実態調査",
                               "fiscalYear": "R5", "firmsAsked": 500 } }),
        )
        .await;
    let before = head(&server);
    let error = server
        .error(
            Who::Recorder,
            &record_mutation("recordSurveyResponse", "SurveyResponseInput"),
            json!({ "input": { "waveId": "fuji-2023-12", "firmId": "firm-001", "fiscalYear": "R6",
                               "practisesTelework": true, "jobOpenings": 1 } }),
        )
        .await;
    refused(
        "input.fiscalYear",
        "R6 differs from R5, the fiscal year of survey wave `fuji-2023-12`",
    )(error);

    // Item 6: implausible counts.
    let error = server
        .error(
            Who::Recorder,
            &seminar_mutation,
            json!({ "input": seminar("2024-10-10", 1_000_000_000, "HELD") }),
        )
        .await;
    refused(
        "input.participants.unique",
        "1000000000 is above the plausible maximum 100000 for a seminar",
    )(error);
    let error = server
        .error(
            Who::Recorder,
            &record_mutation("recordConsultation", "ConsultationInput"),
            json!({ "input": { "provider": "DX相談", "persons": 2_000_000_000,
                               "period": { "from": "2024-04-01", "to": "2025-03-31" } } }),
        )
        .await;
    refused("input.persons", "maximum 100000 for a consultation")(error);

    // Item 7: a held seminar in 2035, seminars before every plan, a partnership in R30.
    let error = server
        .error(
            Who::Recorder,
            &seminar_mutation,
            json!({ "input": seminar("2035-05-10", 10, "HELD") }),
        )
        .await;
    refused("input.firstDate", "2035-05-10 is after today")(error);
    let error = server
        .error(
            Who::Recorder,
            &seminar_mutation,
            json!({ "input": seminar("2019-06-01", 10, "HELD") }),
        )
        .await;
    refused(
        "input.firstDate",
        "R1 is outside every plan in force: telework-roadmap R3-R7",
    )(error);
    let error = server
        .error(
            Who::Recorder,
            &record_mutation("recordPartnership", "PartnershipInput"),
            json!({ "input": { "organisation": "静岡県立大学", "fiscalYear": "R30" } }),
        )
        .await;
    refused("input.fiscalYear", "R30 begins on 2048-04-01")(error);
    let error = server
        .error(
            Who::Recorder,
            CORRECT_EVENT,
            json!({ "target": server.data(
                        Who::Recorder,
                        &seminar_mutation,
                        json!({ "input": seminar("2024-10-11", 5, "HELD") }),
                    ).await["recordSeminar"]["id"],
                    "replacement": { "seminar": seminar("2019-06-01", 5, "HELD") },
                    "reason": "年度", "decidedOn": "2024-11-03" }),
        )
        .await;
    refused("replacement.seminar.firstDate", "R1 is outside every plan")(error);
    assert_eq!(
        head(&server),
        before + 1,
        "only the seminar to correct was written"
    );

    // Said explicitly, an activity outside every plan is recorded.
    let outside = server
        .data(
            Who::Recorder,
            "mutation($input: SeminarInput!) { recordSeminar(input: $input, outsidePlans: true) \
               { id payload } }",
            json!({ "input": seminar("2019-06-01", 10, "HELD") }),
        )
        .await;
    assert_eq!(
        outside["recordSeminar"]["payload"]["first_date"],
        "2019-06-01"
    );
    server.stop().await;
}

/// The variables of a mutation for a caller numbered `n` (keeps once-only events unique).
type VariablesFor = Box<dyn Fn(u32) -> Value>;

/// No token, reader, recorder and admin, for every mutation: UNAUTHENTICATED, FORBIDDEN, ok,
/// ok; a refused call writes nothing and an accepted one records the token's name.
#[tokio::test]
async fn the_auth_matrix_holds_for_every_mutation() {
    let server = LedgerServer::start().await;
    let target = record(&server, Who::Recorder, &ALL[2], 9).await["id"].clone();
    // Each caller retracts an event of its own: a retracted event is not retracted again.
    let mut retract_targets = Vec::new();
    for n in 0..5 {
        retract_targets.push(record(&server, Who::Recorder, &ALL[2], 10 + n).await["id"].clone());
    }

    let mut mutations: Vec<(String, String, VariablesFor)> = ALL
        .iter()
        .map(|kind| {
            let input = kind.input;
            (
                kind.mutation.to_owned(),
                record_mutation(kind.mutation, kind.input_type),
                Box::new(move |n| json!({ "input": input(n) })) as VariablesFor,
            )
        })
        .collect();
    let correct_target = target.clone();
    mutations.push((
        "correctEvent".into(),
        CORRECT_EVENT.into(),
        Box::new(move |n| {
            json!({ "target": correct_target, "replacement": { "skillTraining": (ALL[2].input)(n) },
                    "reason": "訂正", "decidedOn": "2025-05-01" })
        }),
    ));
    mutations.push((
        "retractEvent".into(),
        RETRACT_EVENT.into(),
        Box::new(move |n| {
            json!({ "target": retract_targets[n as usize], "reason": "取消",
                    "decidedOn": "2025-05-01" })
        }),
    ));
    assert_eq!(mutations.len(), ALL.len() + 2);

    for (name, query, variables) in &mutations {
        for (who, n, expected, actor) in [
            (Who::Nobody, 3, Err("UNAUTHENTICATED"), None),
            (Who::Reader, 4, Err("FORBIDDEN"), None),
            (Who::Recorder, 1, Ok(()), Some("clerk")),
            (Who::Admin, 2, Ok(()), Some("ops")),
        ] {
            let head_before = server.head();
            let (status, body) = server.post(who, query, variables(n)).await;
            assert_eq!(status, reqwest::StatusCode::OK, "{name} as {who:?}: {body}");
            match expected {
                Err(code) => {
                    assert_eq!(
                        body["errors"][0]["extensions"]["code"], code,
                        "{name} as {who:?}: {body}"
                    );
                    assert_eq!(body["data"], Value::Null, "{name} as {who:?}: {body}");
                    assert_eq!(server.head(), head_before, "{name} as {who:?} wrote");
                }
                Ok(()) => {
                    assert!(body.get("errors").is_none(), "{name} as {who:?}: {body}");
                    assert_eq!(body["data"][name]["actor"], actor.unwrap());
                    assert_eq!(body["data"][name]["position"], head_before + 1);
                    assert_eq!(server.head(), head_before + 1);
                }
            }
        }
    }
    server.stop().await;
}

/// A mutation is answered with what happened to it, however long it takes: the request time
/// limit cuts off queries only, since an append the store has taken cannot be taken back.
/// (With a 1 ms limit that cut off mutations, some of these answered 504 "cancelled" while
/// their events were recorded.)
#[tokio::test]
async fn a_mutation_past_the_request_time_limit_is_answered_with_its_event() {
    let server = LedgerServer::start_with(|config| {
        config.limits.request_timeout_ms = std::num::NonZeroU64::new(1).unwrap();
    })
    .await;
    let seminar = &ALL[0];
    let mutation = record_mutation(seminar.mutation, seminar.input_type);
    for n in 0..5 {
        let (status, body) = server
            .post(
                Who::Recorder,
                &mutation,
                json!({ "input": (seminar.input)(n) }),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(
            body["data"][seminar.mutation]["position"],
            u64::from(n) + 1,
            "{body}"
        );
    }
    assert_eq!(server.head(), 5);
    server.stop().await;
}
