//! `kpi-ledger serve` with `store.backend = "postgres"`, through the real binary: the demo
//! seed and a recorded event land in PostgreSQL, a restart serves the same table from it,
//! `kpi-ledger verify` proves the same head the server reported, and `archive export` from
//! PostgreSQL imports into sled with the same digest; and the upgrade path, a ledger moved
//! from sled to PostgreSQL and back by archives with its digest. The cluster is the store tests' own
//! (`crates/store/tests/common/cluster.rs`): skipped without PostgreSQL 15 unless
//! `KPI_POSTGRES_REQUIRED=1`.

mod support;

#[path = "../../store/tests/common/cluster.rs"]
mod cluster;

use std::time::Duration;

use support::{succeed_with_env, text, DemoServer};

const TABLE: &str = "{ kpiTable(plan: \"telework-roadmap\") { rows { kpi series cumulative } } }";
const HEAD: &str = "{ head { position hash } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgres_records_restarts_with_the_same_table_and_verifies() {
    let Some(cluster) = cluster::Cluster::shared() else {
        return;
    };
    let url = cluster.database();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (token, entry) = support::token("recorder", "pg-clerk");
    let tokens = format!("[{entry}]");
    let on_postgres = [
        ("KPI_LEDGER_STORE__BACKEND", "postgres"),
        ("KPI_LEDGER_STORE__POSTGRES__URL", url.as_str()),
    ];
    let mut env = on_postgres.to_vec();
    env.push(("KPI_LEDGER_SERVER__TOKENS", tokens.as_str()));

    let mut server = DemoServer::start_with_env(&data, &env);
    let seeded = server.query(HEAD).await["data"]["head"]["position"]
        .as_u64()
        .expect("a head");
    assert!(seeded > 10, "the demo seed went into PostgreSQL");
    let mutation =
        "mutation($input: SeminarInput!) { recordSeminar(input: $input) { id position } }";
    let input = serde_json::json!({
        "title": "PostgreSQL で記録したセミナー",
        "organiser": "DX・テレワーク推進センター",
        "firstDate": "2024-05-20",
        "sessions": 1,
        "participants": { "unique": 17, "attendances": 17 },
        "capacity": 40,
        "status": "HELD"
    });
    let recorded: serde_json::Value = reqwest::Client::new()
        .post(server.url("/graphql"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "query": mutation, "variables": { "input": input } }))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(recorded.get("errors").is_none(), "{recorded}");
    assert_eq!(
        recorded["data"]["recordSeminar"]["position"].as_u64(),
        Some(seeded + 1)
    );
    let table = server.query(TABLE).await;
    assert!(table.get("errors").is_none(), "{table}");
    let head = server.query(HEAD).await["data"]["head"].clone();
    let status = server.terminate().expect("serve stops on SIGTERM");
    assert!(status.success(), "{status:?}");

    // The log is in the database: the rows are there, and a restart serves the same table.
    let rows = cluster.psql(&url, "SELECT count(*) FROM kpi_events");
    assert_eq!(rows, (seeded + 1).to_string());
    let server = DemoServer::start_with_env(&data, &env);
    assert_eq!(server.query(HEAD).await["data"]["head"], head);
    assert_eq!(server.query(TABLE).await, table);
    drop(server);

    // `verify` reads the same log and proves the head the server reported.
    let data_arg = data.to_str().unwrap();
    let verified = text(&succeed_with_env(&["verify", "--data", data_arg], &on_postgres).stdout);
    let expected = format!(
        "position {} hash {}",
        head["position"],
        head["hash"].as_str().unwrap()
    );
    assert!(verified.contains(&expected), "{verified} / {expected}");

    // The upgrade path back: an archive of the PostgreSQL log imports into sled, same digest.
    let archive = dir.path().join("ledger.jsonl");
    let archive = archive.to_str().unwrap();
    succeed_with_env(
        &["archive", "export", "--data", data_arg, archive],
        &on_postgres,
    );
    let on_sled = dir.path().join("on-sled");
    let imported = text(
        &succeed_with_env(
            &[
                "archive",
                "import",
                archive,
                "--data",
                on_sled.to_str().unwrap(),
            ],
            &[],
        )
        .stdout,
    );
    assert!(imported.contains(&expected), "{imported}");
}

/// `position N hash H` as `verify` prints it after `ok: `, for the store `env` configures.
fn digest(data: &str, env: &[(&str, &str)]) -> String {
    let out = text(&succeed_with_env(&["verify", "--data", data], env).stdout);
    out.trim()
        .strip_prefix("ok: ")
        .unwrap_or_else(|| panic!("verify printed {out}"))
        .to_owned()
}

/// The upgrade path, both ways: the Fuji seed on sled is exported, imported into an empty
/// PostgreSQL database, exported from there and imported into sled again. Every store has
/// the digest of the first, both archives are the same bytes, the table is the same, and a
/// second import into the (no longer empty) database is refused with nothing written.
#[test]
fn an_archive_moves_a_ledger_from_sled_to_postgres_and_back_with_its_digest() {
    let Some(cluster) = cluster::Cluster::shared() else {
        return;
    };
    let url = cluster.database();
    let on_postgres = [
        ("KPI_LEDGER_STORE__BACKEND", "postgres"),
        ("KPI_LEDGER_STORE__POSTGRES__URL", url.as_str()),
    ];
    let (dir, sled) = support::seeded();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let original = digest(&sled, &[]);
    let table = |data: &str, env: &[(&str, &str)]| {
        text(&succeed_with_env(&["table", "--data", data, "--format", "csv"], env).stdout)
    };
    let sled_table = table(&sled, &[]);

    let from_sled = path("from-sled.jsonl");
    succeed_with_env(&["archive", "export", "--data", &sled, &from_sled], &[]);
    // On PostgreSQL the data directory holds only a server's files; the log is the database.
    let pg_data = path("pg-data");
    let imported = text(
        &succeed_with_env(
            &["archive", "import", &from_sled, "--data", &pg_data],
            &on_postgres,
        )
        .stdout,
    );
    assert!(imported.contains(&original), "{imported} / {original}");
    assert_eq!(digest(&pg_data, &on_postgres), original);
    assert_eq!(table(&pg_data, &on_postgres), sled_table);

    let from_postgres = path("from-postgres.jsonl");
    succeed_with_env(
        &["archive", "export", "--data", &pg_data, &from_postgres],
        &on_postgres,
    );
    assert!(
        std::fs::read(&from_sled).unwrap() == std::fs::read(&from_postgres).unwrap(),
        "the archive from PostgreSQL is byte for byte the one from sled"
    );
    let back = path("back-on-sled");
    succeed_with_env(&["archive", "import", &from_postgres, "--data", &back], &[]);
    assert_eq!(digest(&back, &[]), original);

    // The database now holds a log: a restore over it is refused, and nothing is written.
    let rows = cluster.psql(&url, "SELECT count(*) FROM kpi_events");
    let again = support::kpi_ledger_with_env(
        &["archive", "import", &from_sled, "--data", &path("again")],
        &on_postgres,
    );
    assert!(
        !again.status.success(),
        "a second import into a full database"
    );
    let refusal = text(&again.stderr);
    assert!(
        refusal.contains("the PostgreSQL log is not empty") && refusal.contains(&original),
        "{refusal}"
    );
    assert_eq!(cluster.psql(&url, "SELECT count(*) FROM kpi_events"), rows);
}
