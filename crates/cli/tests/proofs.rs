//! Proofs through the real binary: `key new` makes a key pair, `proof bundle` and `proof
//! verify` check a Fuji cell offline (a changed figure and another key fail with the
//! reason), the server publishes its public key and signed heads, and `monitor` accepts a
//! log that grows but reports a rewritten, re-chained one as a fork.

mod support;

use std::path::Path;

use support::{extend, kpi_ledger, succeed, succeed_with_env, text, DemoServer};

fn key_pair(dir: &Path, name: &str) -> (String, String) {
    let key = dir.join(name).to_str().unwrap().to_owned();
    let out = succeed(&["key", "new", "--out", &key]);
    assert!(text(&out.stdout).contains("fingerprint: "));
    (key.clone(), format!("{key}.pub"))
}

#[test]
fn a_cell_bundle_checks_offline_and_a_tampered_one_or_another_key_fails() {
    let (dir, data) = support::seeded();
    let (key, public) = key_pair(dir.path(), "ledger.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the secret key is private");
    }
    // A key is never replaced.
    let again = kpi_ledger(&["key", "new", "--out", &key]);
    assert!(!again.status.success());
    let (_, other_public) = key_pair(dir.path(), "other.key");

    let bundle = dir.path().join("cell.json");
    let bundle = bundle.to_str().unwrap();
    succeed_with_env(
        &[
            "proof", "bundle", "--data", &data, "--kpi", "2", "--year", "R6", "--output", bundle,
        ],
        &[("KPI_LEDGER_PROOF__KEY_FILE", &key)],
    );
    let out = succeed(&["proof", "verify", bundle, "--public-key", &public]);
    let said = text(&out.stdout);
    assert!(said.starts_with("ok: telework-roadmap 2 R6: "), "{said}");
    assert!(said.contains("recomputed from"), "{said}");

    let wrong_key = kpi_ledger(&["proof", "verify", bundle, "--public-key", &other_public]);
    assert_eq!(wrong_key.status.code(), Some(1));
    assert!(
        text(&wrong_key.stdout).contains("not by the given public key"),
        "{}",
        text(&wrong_key.stdout)
    );

    let mut tampered: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle).unwrap()).unwrap();
    let stated = tampered["value"].as_str().unwrap().to_owned();
    tampered["value"] = serde_json::json!(format!("1{stated}"));
    std::fs::write(bundle, serde_json::to_vec(&tampered).unwrap()).unwrap();
    let out = kpi_ledger(&["proof", "verify", bundle, "--public-key", &public]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stdout);
    assert!(
        said.starts_with("FAILED: the bundle's events give"),
        "{said}"
    );
}

#[test]
fn monitor_accepts_a_growing_log_and_reports_a_rewritten_rechained_one_as_a_fork() {
    let (dir, data) = support::seeded();
    let (key, public) = key_pair(dir.path(), "ledger.key");
    let env = [
        ("KPI_LEDGER_PROOF__KEY_FILE", key.as_str()),
        ("KPI_LEDGER_SERVER__ANONYMOUS_READ", "true"),
    ];
    let state = dir.path().join("monitor.json");
    let state = state.to_str().unwrap();
    let monitor = |server: &DemoServer| {
        kpi_ledger(&["monitor", "--server", &server.url(""), "--state", state])
    };

    let mut server = DemoServer::start_serving(Path::new(&data), &env);
    let url = server.url("/.well-known/kpi-ledger/public-key");
    let published = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() });
    assert_eq!(
        kpi_proof::parse_public_key(&published).unwrap(),
        kpi_proof::parse_public_key(&std::fs::read_to_string(&public).unwrap()).unwrap()
    );
    let first = monitor(&server);
    assert!(
        text(&first.stdout).starts_with("ok: first head"),
        "{}{}",
        text(&first.stdout),
        text(&first.stderr)
    );
    server.terminate();

    // The log grows: the next head extends the one seen.
    extend(&data, "clerk");
    let mut server = DemoServer::start_serving(Path::new(&data), &env);
    let grown = monitor(&server);
    assert!(
        grown.status.success(),
        "{}{}",
        text(&grown.stdout),
        text(&grown.stderr)
    );
    assert!(text(&grown.stdout).contains("extends the last head seen"));
    server.terminate();

    // The operator rewrites history: the same seed with one figure changed, replayed into a
    // new store and extended again. Its chain is whole (verify passes), its tree is not the
    // one the monitor saw.
    let seed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/seed/fuji-telework-r6.toml"),
    )
    .unwrap();
    let rewritten_seed = dir.path().join("rewritten.toml");
    std::fs::write(
        &rewritten_seed,
        seed.replacen("R4 = \"340\"", "R4 = \"540\"", 1),
    )
    .unwrap();
    let rewritten = dir.path().join("rewritten").to_str().unwrap().to_owned();
    succeed(&[
        "import",
        rewritten_seed.to_str().unwrap(),
        "--data",
        &rewritten,
    ]);
    extend(&rewritten, "clerk");
    succeed(&["verify", "--data", &rewritten]);
    let mut server = DemoServer::start_serving(Path::new(&rewritten), &env);
    let fork = monitor(&server);
    assert_eq!(
        fork.status.code(),
        Some(2),
        "{}{}",
        text(&fork.stdout),
        text(&fork.stderr)
    );
    assert!(
        text(&fork.stdout).starts_with("FORK: "),
        "{}",
        text(&fork.stdout)
    );
    // The state still holds the honest head: the fork is reported again.
    assert_eq!(monitor(&server).status.code(), Some(2));
    server.terminate();
}
