//! The proof queries over the Fuji seed: a cell's bundle from GraphQL checks offline with
//! the operator's public key, inclusion and consistency proofs check against signed heads,
//! a size past the head names the argument, and a server without a key says so.

mod support;

use std::sync::Arc;

use kpi_proof::{from_hex, verify_consistency, verify_inclusion, SignedTreeHead};
use kpi_service::proofs::{verify_bundle, HeadSigner, ProofBundle};
use serde_json::{json, Value};
use support::{reader, run, seeded};

const KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn hashes(value: &Value) -> Vec<[u8; 32]> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|h| from_hex(h.as_str().unwrap()).unwrap())
        .collect()
}

fn head(value: &Value) -> SignedTreeHead {
    serde_json::from_value(value.clone()).unwrap()
}

#[tokio::test]
async fn proofs_from_graphql_check_offline() {
    let fixture = seeded().await;
    let signer = Arc::new(HeadSigner::from_key_file_text(KEY).unwrap());
    let key = signer.public_key();
    let schema = kpi_graphql::schema_builder(fixture.ledger.clone())
        .data(kpi_graphql::ProofSigner(signer))
        .finish();
    let size = fixture.ledger.head().position;

    let answer = run(
        &schema,
        Some(reader()),
        r#"{ cellProofBundle(plan: "telework-roadmap", kpi: "2", fiscalYear: "R6") }"#,
        json!({}),
    )
    .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let bundle: ProofBundle =
        serde_json::from_value(answer["data"]["cellProofBundle"].clone()).unwrap();
    let verified = verify_bundle(&bundle, &key).unwrap();
    assert_eq!(verified.tree_size, size);
    assert!(verified.events > 1);

    let answer = run(
        &schema,
        Some(reader()),
        "query($p: Int!) { inclusionProof(position: $p) consistencyProof(old: 10) }",
        json!({ "p": 7 }),
    )
    .await;
    assert!(answer.get("errors").is_none(), "{answer}");
    let inclusion = &answer["data"]["inclusionProof"];
    let signed = head(&inclusion["head"]);
    kpi_proof::verify_head(&signed, &key).unwrap();
    verify_inclusion(
        &from_hex(inclusion["hash"].as_str().unwrap()).unwrap(),
        6,
        size,
        &hashes(&inclusion["inclusion_proof"]),
        &from_hex(&signed.root_hash).unwrap(),
    )
    .unwrap();
    let consistency = &answer["data"]["consistencyProof"];
    let old_root = fixture.ledger.store().tree_root(10).unwrap();
    verify_consistency(
        10,
        &old_root,
        size,
        &from_hex(&head(&consistency["head"]).root_hash).unwrap(),
        &hashes(&consistency["consistency_proof"]),
    )
    .unwrap();

    let answer = run(
        &schema,
        Some(reader()),
        "query($s: Int!) { signedTreeHead(size: $s) }",
        json!({ "s": size + 1 }),
    )
    .await;
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("tree size"), "{answer}");

    // Without a key: the proofs that sign say what is missing.
    let answer = run(
        &fixture.schema,
        Some(reader()),
        "{ signedTreeHead }",
        json!({}),
    )
    .await;
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("[proof] key_file"), "{answer}");
    // And anonymous callers are refused.
    let answer = run(&schema, None, "{ signedTreeHead }", json!({})).await;
    assert!(answer.get("errors").is_some(), "{answer}");
}
