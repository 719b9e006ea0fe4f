//! Running the real binary from the workspace root, where `config/default.toml` and the plan
//! and seed files resolve. Shared by the integration tests of this package.
#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_kpi-ledger");

/// Runs `kpi-ledger ARGS` from the workspace root, quiet logs; the caller judges the outcome.
pub fn kpi_ledger(args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Command::new(BIN)
        .args(args)
        .current_dir(root)
        .env("RUST_LOG", "warn")
        .output()
        .expect("kpi-ledger runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
