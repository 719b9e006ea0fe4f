//! The largest Fuji cell's proof bundle: its size as JSON and how long
//! `kpi_service::proofs::verify_bundle` takes to check it offline (signature, every event's
//! bytes and inclusion proof, the figure recomputed by the domain's fold). Every cell of the
//! roadmap table is bundled; the one with the most events is measured.
//!
//! Run: `cargo bench -p kpi-service --bench proof_bundle`

use std::time::{Duration, Instant};

use kpi_domain::{seed, PlanDefinition};
use kpi_service::proofs::{verify_bundle, CellRef, HeadSigner, ProofBundle};
use kpi_service::{ImportRecord, Ledger, TableQuery};

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const SEED: &str = include_str!("../../../config/seed/fuji-telework-r6.toml");
const KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let signer = HeadSigner::from_key_file_text(KEY).unwrap();
    let (largest, cells) = runtime.block_on(async {
        let plans = vec![PlanDefinition::from_toml(PLAN).unwrap()];
        let ledger = Ledger::open(dir.path(), Default::default(), plans)
            .await
            .unwrap();
        let records: Vec<ImportRecord> = seed::parse(SEED)
            .unwrap()
            .into_iter()
            .map(ImportRecord::from)
            .collect();
        ledger.import("seed", records).await.unwrap();
        let table = ledger
            .table(&TableQuery::new("telework-roadmap"))
            .await
            .unwrap()
            .table;
        let mut bundles: Vec<ProofBundle> = Vec::new();
        for row in &table.rows {
            for cell in row.cells.iter().filter(|c| !c.event_ids.is_empty()) {
                let cell_ref = CellRef {
                    plan: table.plan_id.clone(),
                    kpi: row.kpi.clone(),
                    series: row.series,
                    fiscal_year: cell.fiscal_year,
                };
                bundles.push(ledger.cell_bundle(&signer, cell_ref).await.unwrap());
            }
        }
        ledger.close().await;
        let cells = bundles.len();
        let largest = bundles.into_iter().max_by_key(|b| b.events.len()).unwrap();
        (largest, cells)
    });
    let json = serde_json::to_vec(&largest).unwrap();
    let key = signer.public_key();
    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let parsed: ProofBundle = serde_json::from_slice(&json).unwrap();
            let started = Instant::now();
            verify_bundle(&parsed, &key).unwrap();
            started.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "largest Fuji cell of {cells}: {} {:?} {}: {} events, bundle {} bytes of JSON; verify p50 {:?}, p99 {:?} (200 runs)",
        largest.cell.kpi,
        largest.cell.series,
        largest.cell.fiscal_year.label(),
        largest.events.len(),
        json.len(),
        times[times.len() / 2],
        times[times.len() * 99 / 100],
    );
}
