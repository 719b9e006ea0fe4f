//! `kpi-ledger token`: bearer tokens for the server. `new` prints a token and the
//! `[[server.tokens]]` block to paste into the configuration; `add` and `revoke` edit the
//! tokens file (`server.tokens_file`), which a read-only configuration (the container's) does
//! not stop; `list` shows what is configured. A running server loads changes on SIGHUP.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use kpi_service::auth::Role;

use crate::config::Loaded;

/// How to make a running server load a changed token list.
const RELOAD_HINT: &str = "a running server loads it on SIGHUP: `kill -HUP PID`, or \
    `docker compose kill -s SIGHUP kpi-ledger` for the container";

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Print a fresh token and the config block (holding only its SHA-256) that admits it.
    New {
        /// reader, recorder or admin.
        #[arg(long)]
        role: Role,
        /// Recorded as the actor of every event recorded with this token.
        #[arg(long)]
        name: String,
    },
    /// Make a fresh token and add its SHA-256 to the tokens file (`server.tokens_file`). The
    /// token alone is printed on standard output, once; it is stored nowhere.
    Add {
        /// reader, recorder or admin.
        #[arg(long)]
        role: Role,
        /// Recorded as the actor of every event recorded with this token.
        #[arg(long)]
        name: String,
    },
    /// Remove a token from the tokens file (`server.tokens_file`). Once the server has
    /// reloaded, it is refused, and websockets it opened are closed.
    Revoke {
        #[arg(long)]
        name: String,
    },
    /// The tokens configured (`server.tokens` and the tokens file): name, role and where;
    /// never a hash.
    List,
}

pub fn run(command: TokenCommand, loaded: &Loaded) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::New { role, name } => {
            let issued = kpi_server::new_token(role, &name).map_err(anyhow::Error::msg)?;
            println!(
                "token (give it to {name}; it is shown only once):\n{}\n",
                issued.token
            );
            println!("add to the configuration file:\n{}", issued.config_entry);
        }
        TokenCommand::Add { role, name } => {
            let file = tokens_file(loaded)?;
            let issued = kpi_server::new_token(role, &name).map_err(anyhow::Error::msg)?;
            kpi_server::tokens_file::add(&file, issued.entry, &loaded.config.server.tokens)?;
            println!("{}", issued.token);
            eprintln!(
                "the token above is for {name} ({role}) and is shown only once; its SHA-256 is \
                 now in {}: {RELOAD_HINT}",
                file.display()
            );
        }
        TokenCommand::Revoke { name } => {
            let file = tokens_file(loaded)?;
            if loaded
                .config
                .server
                .tokens
                .iter()
                .any(|t| t.name.as_str() == name)
            {
                anyhow::bail!(
                    "`{name}` is configured in server.tokens (the configuration file or \
                     KPI_LEDGER_SERVER__TOKENS), not in the tokens file: delete it there, then \
                     send the server SIGHUP"
                );
            }
            let revoked = kpi_server::tokens_file::revoke(&file, &name)?;
            eprintln!(
                "revoked {} ({}) in {}: {RELOAD_HINT}",
                revoked.name,
                revoked.role,
                file.display()
            );
        }
        TokenCommand::List => {
            let server = &loaded.config.server;
            let from_file = match &server.tokens_file {
                Some(path) => kpi_server::tokens_file::read(path)?,
                None => Vec::new(),
            };
            let sources = server
                .tokens
                .iter()
                .map(|entry| (entry, "server.tokens".to_owned()))
                .chain(from_file.iter().map(|entry| {
                    let path = server
                        .tokens_file
                        .as_ref()
                        .expect("entries come from a file");
                    (entry, path.display().to_string())
                }));
            for (entry, source) in sources {
                println!("{}\t{}\t{source}", entry.name, entry.role);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The configured tokens file, which `add` and `revoke` edit.
fn tokens_file(loaded: &Loaded) -> anyhow::Result<PathBuf> {
    loaded.config.server.tokens_file.clone().context(
        "server.tokens_file is not set: set it in the configuration or with \
         KPI_LEDGER_SERVER__TOKENS_FILE=PATH (the container sets it), or use `kpi-ledger token \
         new` and paste its block into the configuration",
    )
}
