//! `kpi-ledger key new`, `kpi-ledger proof verify|bundle|head` and `kpi-ledger monitor`:
//! the operator's signing key, offline checks of a cell's proof bundle, and a watcher that
//! reports a rewritten log as a fork.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use kpi_service::proofs::{verify_bundle, CellRef, HeadSigner, ProofBundle};
use serde::{Deserialize, Serialize};

use crate::config::Loaded;

/// `[proof]`: the Ed25519 key tree heads are signed with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProofConfig {
    /// The secret key file (`kpi-ledger key new --out FILE`), relative to the config file's
    /// directory; `KPI_LEDGER_PROOF__KEY_FILE` overrides it. None: heads are not signed and
    /// `/proof` answers 503 for them.
    pub key_file: Option<PathBuf>,
}

/// The signer of `[proof] key_file`, if one is configured.
pub fn signer(loaded: &Loaded) -> anyhow::Result<Option<HeadSigner>> {
    let Some(file) = &loaded.config.proof.key_file else {
        return Ok(None);
    };
    let path = loaded.resolve(file);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("proof.key_file: cannot read {}", path.display()))?;
    let signer = HeadSigner::from_key_file_text(&text)
        .with_context(|| format!("proof.key_file: {}", path.display()))?;
    Ok(Some(signer))
}

/// A signed head as the exports name it.
pub fn tree_label(head: &kpi_proof::SignedTreeHead) -> kpi_report::TreeLabel {
    kpi_report::TreeLabel {
        size: head.tree_size,
        root: head.root_hash.clone(),
        fingerprint: head.key_fingerprint.clone(),
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum KeyCommand {
    /// Make a new Ed25519 signing key: the secret key in FILE (mode 0600, never
    /// overwritten), the public key in FILE.pub and on standard output with its fingerprint.
    New {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum ProofCommand {
    /// Check a cell's proof bundle offline: the head's signature, every event's bytes and
    /// inclusion proof, and the figure recomputed from the bundle's events by the ledger's
    /// own rules. Exit 1 with the reason when anything fails.
    Verify {
        bundle: PathBuf,
        /// The operator's public key file (from `key new`, or
        /// /.well-known/kpi-ledger/public-key).
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
    },
    /// Write a cell's proof bundle from a store directory (signed with `[proof] key_file`).
    Bundle {
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long)]
        plan: Option<String>,
        #[arg(long)]
        kpi: String,
        /// main or b.
        #[arg(long, default_value = "main")]
        series: String,
        /// Fiscal year: 2024, R6 or FY2024.
        #[arg(long)]
        year: kpi_domain::FiscalYear,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

pub fn key(command: KeyCommand) -> anyhow::Result<ExitCode> {
    let KeyCommand::New { out } = command;
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let key = kpi_proof::SecretKey::from_bytes(&seed);
    let public = kpi_proof::public_key_hex(&key.verifying_key());
    let fingerprint = kpi_proof::fingerprint(&key.verifying_key());
    write_new(
        &out,
        &format!(
            "# kpi-ledger Ed25519 secret key (keep it secret); public key {public}\n{}\n",
            hex::encode(seed)
        ),
        0o600,
    )?;
    let public_file = PathBuf::from(format!("{}.pub", out.display()));
    write_new(
        &public_file,
        &format!("# kpi-ledger Ed25519 public key; fingerprint (SHA-256 of the raw key): {fingerprint}\n{public}\n"),
        0o644,
    )?;
    println!("secret key: {} (mode 0600)", out.display());
    println!("public key: {public} (also in {})", public_file.display());
    println!("fingerprint: {fingerprint}");
    Ok(ExitCode::SUCCESS)
}

/// Creates `path` with `mode`; refuses to replace an existing file.
fn write_new(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).with_context(|| {
        format!(
            "cannot create {} (an existing key is never replaced)",
            path.display()
        )
    })?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

fn read_public_key(path: &Path) -> anyhow::Result<kpi_proof::PublicKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--public-key: cannot read {}", path.display()))?;
    kpi_proof::parse_public_key(&text).with_context(|| format!("--public-key {}", path.display()))
}

pub fn run(command: ProofCommand, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    match command {
        ProofCommand::Verify { bundle, public_key } => {
            let key = read_public_key(&public_key)?;
            let text = std::fs::read(&bundle)
                .with_context(|| format!("cannot read {}", bundle.display()))?;
            let parsed: ProofBundle = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not a proof bundle", bundle.display()))?;
            match verify_bundle(&parsed, &key) {
                Ok(verified) => {
                    println!(
                        "ok: {} {}{} {}: {} recomputed from {} events, all in the tree of {} \
                         events with root {} signed by key {}",
                        verified.cell.plan,
                        verified.cell.kpi,
                        if verified.cell.series == kpi_domain::Series::B {
                            "b"
                        } else {
                            ""
                        },
                        verified.cell.fiscal_year.label(),
                        verified
                            .value
                            .map_or_else(|| "no figure".to_owned(), |v| v.to_string()),
                        verified.events,
                        verified.tree_size,
                        verified.root_hash,
                        parsed.head.key_fingerprint,
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    println!("FAILED: {error}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        ProofCommand::Bundle {
            data,
            plan,
            kpi,
            series,
            year,
            output,
        } => {
            let signer = signer(loaded)?
                .context("proof bundle needs a signing key: set [proof] key_file")?;
            let series = match series.as_str() {
                "main" => kpi_domain::Series::Main,
                "b" => kpi_domain::Series::B,
                other => anyhow::bail!("--series {other}: expected main or b"),
            };
            let dir = data.unwrap_or_else(|| loaded.config.data_dir.clone());
            crate::ensure_store_dir(&dir, loaded)?;
            let bundle = crate::runtime()?.block_on(async {
                let ledger = crate::ledger::open(&dir, loaded).await?;
                let plan = match plan {
                    Some(plan) => plan,
                    None => crate::ledger::default_plan(&ledger)?,
                };
                let bundle = ledger
                    .cell_bundle(
                        &signer,
                        CellRef {
                            plan,
                            kpi,
                            series,
                            fiscal_year: year,
                        },
                    )
                    .await;
                ledger.close().await;
                anyhow::Ok(bundle?)
            })?;
            let text = serde_json::to_vec_pretty(&bundle)?;
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => std::io::stdout().lock().write_all(&text)?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
