//! `verification` over HTTP costs a reader no more than one walk of the log: concurrent
//! requests at one head share one walk, a repeat at that head is answered by it, and aliases
//! beyond the complexity limit are refused before any walk starts.

mod graphql_support;

use graphql_support::{LedgerServer, Who};
use serde_json::{json, Value};

const VERIFICATION: &str = "{ verification { ok digest { position hash } verifiedAt } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_walk_and_a_repeat_at_the_same_head_is_free() {
    let server = std::sync::Arc::new(LedgerServer::start().await);
    server.import_seed().await;
    let walks = server.ledger.verification_walks();

    let requests: Vec<_> = (0..30)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move { server.data(Who::Reader, VERIFICATION, Value::Null).await })
        })
        .collect();
    let mut answers = Vec::new();
    for request in requests {
        answers.push(request.await.unwrap()["verification"].clone());
    }
    assert_eq!(server.ledger.verification_walks(), walks + 1);
    let head = server.head();
    for answer in &answers {
        assert_eq!(answer, &answers[0]);
    }
    assert_eq!(answers[0]["ok"], true);
    assert_eq!(answers[0]["digest"]["position"], head);

    // The same head again: the same walk's answer.
    let again = server.data(Who::Reader, VERIFICATION, Value::Null).await;
    assert_eq!(again["verification"], answers[0]);
    assert_eq!(server.ledger.verification_walks(), walks + 1);

    let metrics = server.metrics().await;
    assert!(
        metrics.contains("kpi_verification_walks_total{outcome=\"ok\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("kpi_verification_ok 1"), "{metrics}");
    std::sync::Arc::into_inner(server)
        .expect("the requests are done")
        .stop()
        .await;
}

#[tokio::test]
async fn aliases_of_verification_beyond_the_complexity_limit_are_refused_before_any_walk() {
    let server = LedgerServer::start().await;
    server.import_seed().await;
    let walks = server.ledger.verification_walks();

    let aliases = |count: usize| {
        let fields: Vec<String> = (0..count)
            .map(|n| format!("v{n}: verification {{ ok }}"))
            .collect();
        format!("{{ {} }}", fields.join(" "))
    };
    let (_, refused) = server.post(Who::Reader, &aliases(50), Value::Null).await;
    let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("too complex"), "{refused}");
    assert_eq!(refused.get("data").unwrap_or(&Value::Null), &Value::Null);
    assert_eq!(server.ledger.verification_walks(), walks, "no walk started");

    // Four already exceed the default limit of 2,000; three fit, and share one walk.
    let (_, four) = server.post(Who::Reader, &aliases(4), Value::Null).await;
    assert!(four["errors"][0]["message"]
        .as_str()
        .is_some_and(|message| message.contains("too complex")));
    let three = server.data(Who::Reader, &aliases(3), Value::Null).await;
    assert_eq!(
        three,
        json!({ "v0": { "ok": true }, "v1": { "ok": true }, "v2": { "ok": true } })
    );
    assert_eq!(server.ledger.verification_walks(), walks + 1);
    server.stop().await;
}
