//! SIGHUP: `serve` re-reads its configuration (the same file and the environment, as at
//! start-up) and puts the token settings in force without a restart. Only the token settings
//! are reloaded; any other setting that changed is named in the log as needing a restart.

use anyhow::Context;
use kpi_server::{AuthHandle, TokenChanges};

use crate::config::{self, Loaded};

/// The settings a reload puts in force; everything else needs a restart.
pub const TOKEN_SETTINGS: [&str; 4] = [
    "tokens",
    "tokens_file",
    "anonymous_read",
    "metrics_token_sha256",
];

/// What a reload did.
#[derive(Debug)]
pub struct Reloaded {
    pub changes: TokenChanges,
    /// Settings (dotted keys) whose new values wait for a restart.
    pub restart_needed: Vec<String>,
}

/// Reloads the token settings of the server started with `started`.
pub struct Reloader {
    pub started: Loaded,
    pub demo: bool,
    pub auth: AuthHandle,
}

impl Reloader {
    /// Re-reads the configuration and, if it is valid throughout (the tokens file too), puts
    /// its token settings in force. On any error the settings in force are kept.
    pub fn reload(&self) -> anyhow::Result<Reloaded> {
        let loaded = config::load(self.started.file.as_deref())?;
        let server = crate::serve::server_config(&loaded, self.demo);
        let changes = self
            .auth
            .reload(&server)
            .context("invalid token settings")?;
        Ok(Reloaded {
            changes,
            restart_needed: restart_needed(&self.started.config, &loaded.config),
        })
    }

    /// Reloads on every SIGHUP `hangup` delivers, logging what changed (by token name, never
    /// a hash) or, at ERROR, why nothing did.
    #[cfg(unix)]
    pub async fn on_sighup(self, mut hangup: tokio::signal::unix::Signal) {
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP received: reloading the token settings");
            match self.reload() {
                Ok(reloaded) => {
                    tracing::info!("token settings reloaded: {}", reloaded.changes);
                    if !reloaded.restart_needed.is_empty() {
                        tracing::warn!(
                            "changed settings take effect only after a restart: {}",
                            reloaded.restart_needed.join(", ")
                        );
                    }
                    if self.auth.current().admits_no_one() {
                        tracing::warn!("{}", kpi_server::NO_TOKEN_HINT);
                    }
                }
                Err(err) => tracing::error!(
                    "configuration not reloaded, the token settings in force are kept: {err:#}"
                ),
            }
        }
    }
}

/// The settings, other than the token settings, that differ between `before` and `after`,
/// as dotted keys (`server.bind`, `log.filter`).
pub fn restart_needed(before: &config::AppConfig, after: &config::AppConfig) -> Vec<String> {
    let comparable = |config: &config::AppConfig| {
        let mut value = serde_json::to_value(config).expect("the configuration serialises");
        if let Some(server) = value.get_mut("server").and_then(|s| s.as_object_mut()) {
            for key in TOKEN_SETTINGS {
                server.remove(key);
            }
        }
        value
    };
    let mut changed = Vec::new();
    differences(&comparable(before), &comparable(after), "", &mut changed);
    changed
}

fn differences(
    before: &serde_json::Value,
    after: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    match (before.as_object(), after.as_object()) {
        (Some(before), Some(after)) => {
            let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
            keys.sort();
            keys.dedup();
            let null = serde_json::Value::Null;
            for key in keys {
                let nested = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let (b, a) = (
                    before.get(key).unwrap_or(&null),
                    after.get(key).unwrap_or(&null),
                );
                differences(b, a, &nested, out);
            }
        }
        _ if before != after => out.push(path.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn token_entry(role: &str, name: &str) -> (String, String) {
        let issued = kpi_server::new_token(role.parse().unwrap(), name).unwrap();
        (issued.token, issued.config_entry)
    }

    /// A reload puts added tokens in force and says which other changes wait for a restart;
    /// an invalid configuration keeps the tokens in force.
    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn sighup_reload_takes_token_changes_and_keeps_the_old_set_on_errors() {
        figment::Jail::expect_with(|jail| {
            let (admin, admin_block) = token_entry("admin", "ops");
            let (clerk, clerk_block) = token_entry("recorder", "clerk");
            jail.create_file("k.toml", &admin_block)?;
            let started = config::load(Some(Path::new("k.toml"))).map_err(|e| e.to_string())?;
            let server = crate::serve::server_config(&started, false);
            let auth = AuthHandle::new(kpi_server::Authenticator::from_config(&server).unwrap());
            let reloader = Reloader {
                started,
                demo: false,
                auth: auth.clone(),
            };
            let bearer = |token: &str| format!("Bearer {token}");
            assert!(auth.current().from_header(Some(&bearer(&clerk))).is_err());

            jail.create_file(
                "k.toml",
                &format!("data_dir = \"elsewhere\"\n{admin_block}\n{clerk_block}\n[server]\nbind = \"127.0.0.1:9999\"\n"),
            )?;
            let reloaded = reloader.reload().map_err(|e| format!("{e:#}"))?;
            assert_eq!(reloaded.changes.to_string(), "added clerk (recorder)");
            assert_eq!(reloaded.restart_needed, ["data_dir", "server.bind"]);
            assert!(auth.current().from_header(Some(&bearer(&clerk))).is_ok());

            // A typo anywhere, a bad hash, a token named twice: nothing changes.
            for (broken, reason) in [
                (
                    format!("{admin_block}\n[server]\nanonymous_reads = true\n"),
                    "anonymous_reads",
                ),
                (
                    admin_block.replace("sha256 = \"", "sha256 = \"0"),
                    "sha256 must be 64 hex digits",
                ),
                (
                    format!("{admin_block}\n{}", token_entry("reader", "ops").1),
                    "`ops` is configured twice",
                ),
            ] {
                jail.create_file("k.toml", &broken)?;
                let err = format!("{:#}", reloader.reload().unwrap_err());
                assert!(err.contains(reason), "{err}");
                assert!(auth.current().from_header(Some(&bearer(&clerk))).is_ok());
                assert!(auth.current().from_header(Some(&bearer(&admin))).is_ok());
            }
            Ok(())
        });
    }

    #[test]
    fn restart_needed_names_changed_settings_but_not_token_settings() {
        let before = config::AppConfig::default();
        let mut after = before.clone();
        after.server.anonymous_read = true;
        after.server.tokens_file = Some("tokens.toml".into());
        assert!(restart_needed(&before, &after).is_empty());
        after.log.filter = "debug".into();
        after.server.limits.max_depth = std::num::NonZeroUsize::new(3).unwrap();
        assert_eq!(
            restart_needed(&before, &after),
            ["log.filter", "server.limits.max_depth"]
        );
    }
}
