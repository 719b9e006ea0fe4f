//! `kpi-ledger monitor --server URL --state FILE`: fetches the server's signed head, checks
//! its signature with the key pinned at the first run, and checks the consistency proof from
//! the last head it saw. A log that was rewritten (even by its operator, even re-chained) no
//! longer extends the old tree: that is reported as a fork, exit status 2, and the state is
//! kept as it was so every later run reports it too.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use kpi_proof::SignedTreeHead;
use serde::{Deserialize, Serialize};

use crate::remote::Server;

#[derive(clap::Args, Debug)]
pub struct MonitorArgs {
    /// The server to watch (http://HOST:PORT).
    #[arg(long, value_name = "URL")]
    server: String,
    /// Where the last head seen and the pinned public key are kept (JSON); created at the
    /// first run.
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// Bearer token (a reader token unless the server allows anonymous read).
    #[arg(long, env = "KPI_LEDGER_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// What the monitor remembers between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    /// The public key (hex) pinned at the first run.
    public_key: String,
    head: SignedTreeHead,
}

/// What one run concluded.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    First,
    Consistent { from: u64 },
    Fork(String),
}

#[derive(Deserialize)]
struct Consistency {
    consistency_proof: Vec<String>,
}

pub fn run(args: MonitorArgs) -> anyhow::Result<ExitCode> {
    let server = Server::new(&args.server, args.token)?;
    let previous = read_state(&args.state)?;
    crate::runtime()?.block_on(async {
        let key_text = server
            .fetch_text("/.well-known/kpi-ledger/public-key")
            .await?;
        let key = kpi_proof::parse_public_key(&key_text).context("the server's public key")?;
        let key_hex = kpi_proof::public_key_hex(&key);
        let head: SignedTreeHead = serde_json::from_str(&server.fetch_text("/proof/head").await?)
            .context("the server's signed head")?;
        let verdict = match &previous {
            Some(state) if state.public_key != key_hex => Verdict::Fork(format!(
                "the server now signs with another key ({} instead of the pinned {})",
                key_hex, state.public_key
            )),
            _ => match kpi_proof::verify_head(&head, &key) {
                Err(error) => Verdict::Fork(format!("the server's head does not check: {error}")),
                Ok(_) => match &previous {
                    None => Verdict::First,
                    Some(state) => judge(&server, &state.head, &head).await?,
                },
            },
        };
        match verdict {
            Verdict::Fork(reason) => {
                println!(
                    "FORK: {reason}; last head seen: size {} root {} (kept in {})",
                    previous.as_ref().map_or(0, |s| s.head.tree_size),
                    previous.as_ref().map_or("-", |s| s.head.root_hash.as_str()),
                    args.state.display()
                );
                Ok(ExitCode::from(2))
            }
            verdict => {
                write_state(
                    &args.state,
                    &State {
                        public_key: key_hex,
                        head: head.clone(),
                    },
                )?;
                match verdict {
                    Verdict::Consistent { from } => println!(
                        "ok: head {} (root {}) extends the last head seen ({from})",
                        head.tree_size, head.root_hash
                    ),
                    _ => println!(
                        "ok: first head {} (root {}); key {} pinned",
                        head.tree_size, head.root_hash, head.key_fingerprint
                    ),
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// Whether `new` extends `old`, by the server's consistency proof.
async fn judge(
    server: &Server,
    old: &SignedTreeHead,
    new: &SignedTreeHead,
) -> anyhow::Result<Verdict> {
    let root = |head: &SignedTreeHead| kpi_proof::from_hex(&head.root_hash);
    let (Some(old_root), Some(new_root)) = (root(old), root(new)) else {
        return Ok(Verdict::Fork("a root hash is not 64 hex digits".to_owned()));
    };
    if new.tree_size < old.tree_size {
        return Ok(Verdict::Fork(format!(
            "the log shrank from {} to {} events",
            old.tree_size, new.tree_size
        )));
    }
    if old.tree_size == 0 {
        return Ok(Verdict::Consistent { from: 0 });
    }
    let proof = if new.tree_size == old.tree_size {
        Vec::new()
    } else {
        let answer: Consistency = serde_json::from_str(
            &server
                .fetch_text(&format!(
                    "/proof/consistency?old={}&new={}",
                    old.tree_size, new.tree_size
                ))
                .await?,
        )
        .context("the server's consistency proof")?;
        match answer
            .consistency_proof
            .iter()
            .map(|h| kpi_proof::from_hex(h))
            .collect::<Option<Vec<_>>>()
        {
            Some(proof) => proof,
            None => {
                return Ok(Verdict::Fork(
                    "the consistency proof is malformed".to_owned(),
                ))
            }
        }
    };
    Ok(
        match kpi_proof::verify_consistency(
            old.tree_size,
            &old_root,
            new.tree_size,
            &new_root,
            &proof,
        ) {
            Ok(()) => Verdict::Consistent {
                from: old.tree_size,
            },
            Err(error) => Verdict::Fork(format!(
                "the log of {} events (root {}) does not extend the one seen before: {error}",
                new.tree_size, new.root_hash
            )),
        },
    )
}

fn read_state(path: &Path) -> anyhow::Result<Option<State>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
            format!("--state {}: not a monitor state file", path.display())
        })?)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Replaces the state file whole (a temporary file renamed over it).
fn write_state(path: &Path, state: &State) -> anyhow::Result<()> {
    let temporary = PathBuf::from(format!("{}.tmp", path.display()));
    std::fs::write(&temporary, serde_json::to_vec_pretty(state)?)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}
