//! Cell proof bundles of the Fuji roadmap: every cell's bundle checks offline and its figure
//! is recomputed from the bundle's own events; a changed byte, figure, proof or head, a
//! missing event and another key each fail with a message naming what. The same bundles
//! are checked by the Python verifier (tests/proof/verify.py), a second implementation.

mod common;

use kpi_store::StoreConfig;
use std::path::{Path, PathBuf};

use kpi_domain::{seed, PlanDefinition, Series};
use kpi_service::proofs::{verify_bundle, BundleError, CellRef, HeadSigner, ProofBundle};
use kpi_service::{ImportRecord, Ledger, TableQuery};
use serde_json::json;

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const SEED: &str = include_str!("../../../config/seed/fuji-telework-r6.toml");
const KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const OTHER_KEY: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";

fn signer(seed: &str) -> HeadSigner {
    HeadSigner::from_key_file_text(seed).unwrap()
}

async fn fuji(dir: &Path, store: StoreConfig) -> Ledger {
    let plans = vec![PlanDefinition::from_toml(PLAN).unwrap()];
    let ledger = Ledger::open(dir, store, plans).await.unwrap();
    let records: Vec<ImportRecord> = seed::parse(SEED)
        .unwrap()
        .into_iter()
        .map(ImportRecord::from)
        .collect();
    ledger.import("seed", records).await.unwrap();
    // A correction and a retraction, so bundles carry amendments too.
    let seminars: Vec<_> = ledger
        .store()
        .iter_from(1)
        .map(Result::unwrap)
        .filter(|e| e.event_type == "seminar")
        .collect();
    let mut replacement = seminars[0].payload.clone();
    replacement["participants"]["unique"] = json!(7);
    replacement["participants"]["attendances"] = json!(7);
    ledger
        .record_payload(
            "clerk",
            "correction",
            &json!({"target": seminars[0].event_id.to_string(), "target_type": "seminar",
                    "reason": "miscounted", "decided_on": "2025-05-01", "replacement": replacement}),
            Default::default(),
        )
        .await
        .unwrap();
    ledger
        .record_payload(
            "clerk",
            "retraction",
            &json!({"target": seminars[1].event_id.to_string(), "reason": "entered twice",
                    "decided_on": "2025-05-01"}),
            Default::default(),
        )
        .await
        .unwrap();
    ledger
}

/// Every cell of the roadmap table that has events, with its bundle.
async fn bundles(ledger: &Ledger, signer: &HeadSigner) -> Vec<ProofBundle> {
    let table = ledger
        .table(&TableQuery::new("telework-roadmap"))
        .await
        .unwrap()
        .table;
    let mut out = Vec::new();
    for row in &table.rows {
        for cell in &row.cells {
            if cell.event_ids.is_empty() {
                continue;
            }
            let bundle = ledger
                .cell_bundle(
                    signer,
                    CellRef {
                        plan: table.plan_id.clone(),
                        kpi: row.kpi.clone(),
                        series: row.series,
                        fiscal_year: cell.fiscal_year,
                    },
                )
                .await
                .unwrap();
            assert_eq!(
                bundle.value,
                cell.value,
                "{} {}",
                row.kpi,
                cell.fiscal_year.label()
            );
            out.push(bundle);
        }
    }
    out
}

on_both_backends! {
#[tokio::test]
async fn every_fuji_cell_bundle_checks_offline_and_recomputes_its_figure(log) {
    let dir = &log.dir;
    let ledger = fuji(dir.path(), log.config()).await;
    let signer = signer(KEY);
    let bundles = bundles(&ledger, &signer).await;
    assert!(bundles.len() >= 5, "{} cells with events", bundles.len());
    assert!(bundles.iter().any(|b| b.events.len() > 1));
    let head = ledger.head().position;
    for bundle in &bundles {
        // Through JSON, as an auditor receives it.
        let text = serde_json::to_string(bundle).unwrap();
        let read: ProofBundle = serde_json::from_str(&text).unwrap();
        let verified = verify_bundle(&read, &signer.public_key())
            .unwrap_or_else(|e| panic!("{:?}: {e}", bundle.cell));
        assert_eq!(verified.value, bundle.value);
        assert_eq!(verified.tree_size, head);
    }
}
}

on_both_backends! {
#[tokio::test]
async fn a_tampered_bundle_or_another_key_fails_with_a_clear_message(log) {
    let dir = &log.dir;
    let ledger = fuji(dir.path(), log.config()).await;
    let signer = signer(KEY);
    let bundles = bundles(&ledger, &signer).await;
    let bundle = bundles
        .iter()
        .filter(|b| b.cell.series == Series::Main && b.value.is_some())
        .max_by_key(|b| b.events.len())
        .unwrap()
        .clone();
    let key = signer.public_key();
    verify_bundle(&bundle, &key).unwrap();

    // Another key.
    let error = verify_bundle(&bundle, &self::signer(OTHER_KEY).public_key()).unwrap_err();
    assert!(matches!(error, BundleError::Head(_)), "{error}");
    assert!(
        error.to_string().contains("not by the given public key"),
        "{error}"
    );

    // A changed figure.
    let mut changed = bundle.clone();
    changed.value = Some(changed.value.unwrap() + rust_decimal::Decimal::ONE);
    let error = verify_bundle(&changed, &key).unwrap_err();
    assert!(
        matches!(error, BundleError::FigureMismatch { .. }),
        "{error}"
    );

    // A changed byte of an event (its payload).
    let mut changed = bundle.clone();
    let body = &mut changed.events[0].body;
    let last = body.len() - 4;
    let flipped = if &body[last..last + 1] == "3" {
        "4"
    } else {
        "3"
    };
    body.replace_range(last..last + 1, flipped);
    let error = verify_bundle(&changed, &key).unwrap_err();
    assert!(matches!(error, BundleError::Bytes { .. }), "{error}");
    assert!(
        error.to_string().contains("not to its chain hash"),
        "{error}"
    );

    // An event re-chained with a made-up hash: its bytes check, its inclusion proof not.
    let mut changed = bundle.clone();
    let event = &mut changed.events[0];
    let mut body = hex::decode(&event.body).unwrap();
    let n = body.len() - 3;
    body[n] ^= 0x01;
    let prev: kpi_store::Hash = event.prev_hash.parse().unwrap();
    event.hash = kpi_store::chain_hash(&prev, event.position, &body).to_hex();
    event.body = hex::encode(&body);
    let error = verify_bundle(&changed, &key).unwrap_err();
    assert!(matches!(error, BundleError::NotIncluded { .. }), "{error}");

    // A changed proof hash.
    let mut changed = bundle.clone();
    let proof = &mut changed.events[0].inclusion_proof[0];
    let flipped = if proof.starts_with('0') { "1" } else { "0" };
    proof.replace_range(0..1, flipped);
    assert!(matches!(
        verify_bundle(&changed, &key).unwrap_err(),
        BundleError::NotIncluded { .. }
    ));

    // A head signed for another size.
    let mut changed = bundle.clone();
    changed.head.tree_size += 1;
    assert!(matches!(
        verify_bundle(&changed, &key).unwrap_err(),
        BundleError::Head(kpi_proof::HeadError::BadSignature { .. })
    ));

    // A contributing event left out: the figure no longer adds up.
    let mut changed = bundle.clone();
    changed.events.remove(0);
    assert!(matches!(
        verify_bundle(&changed, &key).unwrap_err(),
        BundleError::FigureMismatch { .. }
    ));
}
}

on_both_backends! {
/// The repository's Python verifier, run on the same bundles. Required in CI
/// (`KPI_PYTHON_PROOF_REQUIRED=1`: python3 with the `cryptography` package, installed by
/// tests/run); skipped with a note elsewhere when that package is missing.
#[tokio::test]
async fn the_python_verifier_agrees_on_the_same_bundles(log) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/proof/verify.py");
    let probe = std::process::Command::new("python3")
        .args(["-c", "import cryptography"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("KPI_PYTHON_PROOF_REQUIRED").as_deref() != Ok("1"),
            "python3 with the `cryptography` package is required (KPI_PYTHON_PROOF_REQUIRED=1)"
        );
        eprintln!("skipped: python3 with the `cryptography` package is not installed");
        return;
    }
    let dir = &log.dir;
    let ledger = fuji(&dir.path().join("store"), log.config()).await;
    let signer = signer(KEY);
    let public = dir.path().join("public-key");
    std::fs::write(&public, kpi_proof::public_key_hex(&signer.public_key())).unwrap();
    let other = dir.path().join("other-key");
    std::fs::write(
        &other,
        kpi_proof::public_key_hex(&self::signer(OTHER_KEY).public_key()),
    )
    .unwrap();
    let run = |bundle: &ProofBundle, key: &Path| {
        let file = dir.path().join("bundle.json");
        std::fs::write(&file, serde_json::to_vec_pretty(bundle).unwrap()).unwrap();
        let output = std::process::Command::new("python3")
            .arg(&script)
            .arg(&file)
            .arg("--public-key")
            .arg(key)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let bundles = bundles(&ledger, &signer).await;
    let mut sums = 0;
    for bundle in &bundles {
        let (ok, text) = run(bundle, &public);
        assert!(ok, "{:?}: {text}", bundle.cell);
        if text.contains("recomputed") {
            sums += 1;
        }
    }
    assert!(sums > 0, "the Python verifier recomputed no sum cell");

    let bundle = bundles.iter().max_by_key(|b| b.events.len()).unwrap();
    let (ok, text) = run(bundle, &other);
    assert!(!ok && text.contains("key"), "{text}");
    let mut changed = bundle.clone();
    changed.events[0].inclusion_proof[0].replace_range(0..2, "ff");
    let (ok, text) = run(&changed, &public);
    assert!(!ok && text.contains("inclusion"), "{text}");
    let mut changed = bundle.clone();
    changed.head.tree_size += 1;
    let (ok, text) = run(&changed, &public);
    assert!(!ok && text.contains("signature"), "{text}");
}
}
