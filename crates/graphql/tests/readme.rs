//! Every GraphQL example of README.md and crates/graphql/README.md runs without error against a
//! ledger holding the Fuji seed, in document order (so the correction and retraction act on
//! the seminar the example before records), as an admin.

mod support;

use std::time::Duration;

use async_graphql::{Request, Variables};
use futures::StreamExt;
use kpi_service::auth::{Caller, Role};
use serde_json::{json, Value};

const README: &str = include_str!("../README.md");
const ROOT_README: &str = include_str!("../../../README.md");

fn examples() -> Vec<&'static str> {
    [ROOT_README, README]
        .into_iter()
        .flat_map(|text| text.split("```graphql\n").skip(1))
        .map(|block| block.split("```").next().unwrap())
        .collect()
}

fn admin() -> Caller {
    Caller::Token {
        name: "ops".into(),
        role: Role::Admin,
    }
}

#[tokio::test]
async fn every_readme_example_runs() {
    let fixture = support::seeded().await;
    let examples = examples();
    assert!(examples.len() >= 10, "found {} examples", examples.len());
    let mut recorded_seminar: Option<Value> = None;
    for example in examples {
        let variables = match &recorded_seminar {
            Some(id) if example.contains("$target") => json!({ "target": id }),
            _ => json!({}),
        };
        if example.trim_start().starts_with("subscription") {
            let request = Request::new(example)
                .variables(Variables::from_json(variables))
                .data(admin());
            let mut stream = fixture.schema.execute_stream(request);
            // A table changes only when something is recorded after the subscription started.
            let first = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
            let response = match first {
                Ok(response) => response.expect("the stream yields"),
                Err(_) => {
                    let seminar = json!({
                        "title": "README", "organiser": "DX・テレワーク推進センター",
                        "first_date": "2025-03-01", "sessions": 1,
                        "participants": { "unique": 5, "attendances": 5 }, "status": "held"
                    });
                    fixture
                        .ledger
                        .record_payload("ops", "seminar", &seminar, Default::default())
                        .await
                        .unwrap();
                    tokio::time::timeout(Duration::from_secs(5), stream.next())
                        .await
                        .expect("a table arrives after a record")
                        .expect("the stream yields")
                }
            };
            assert!(
                response.errors.is_empty(),
                "{example}: {:?}",
                response.errors
            );
            continue;
        }
        let answer = support::run(&fixture.schema, Some(admin()), example, variables).await;
        assert!(answer.get("errors").is_none(), "{example}: {answer}");
        let data = answer["data"].as_object().unwrap();
        assert!(
            data.values().all(|value| !value.is_null()),
            "{example}: {answer}"
        );
        if let Some(seminar) = data.get("recordSeminar") {
            recorded_seminar = Some(seminar["id"].clone());
        }
    }
    assert!(recorded_seminar.is_some(), "the README records a seminar");
}
