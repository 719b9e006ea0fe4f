//! Configuration: `config/default.toml` (or `--config FILE`), then `KPI_LEDGER_*` environment
//! variables on top. Nested keys use a double underscore: `KPI_LEDGER_STORE__CACHE_CAPACITY_BYTES`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub const DEFAULT_CONFIG_FILE: &str = "config/default.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    /// Where the sled store lives (relative to the working directory).
    pub data_dir: PathBuf,
    /// Plan definitions, relative to the directory of the config file.
    pub plans: Vec<PathBuf>,
    /// The Fuji seed file imported by `serve --demo`, relative to the config file's directory.
    pub seed: PathBuf,
    pub log: LogConfig,
    pub store: kpi_store::StoreConfig,
    pub ledger: kpi_service::LedgerConfig,
    pub server: kpi_server::ServerConfig,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            data_dir: PathBuf::from("data"),
            plans: vec![PathBuf::from("plans/telework-roadmap.toml")],
            seed: PathBuf::from("seed/fuji-telework-r6.toml"),
            log: LogConfig::default(),
            store: kpi_store::StoreConfig::default(),
            ledger: kpi_service::LedgerConfig::default(),
            server: kpi_server::ServerConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive; `RUST_LOG` wins when set.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Pretty,
            filter: "info".into(),
        }
    }
}

/// A loaded configuration and the directory its relative paths are resolved against.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: AppConfig,
    pub base_dir: PathBuf,
}

impl Loaded {
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }
}

/// Loads `file` if given (it must exist), else `config/default.toml` if present, else the
/// built-in defaults; environment variables override either.
pub fn load(file: Option<&Path>) -> anyhow::Result<Loaded> {
    let mut figment = Figment::from(Serialized::defaults(AppConfig::default()));
    let base_dir = match file {
        Some(file) => {
            anyhow::ensure!(
                file.is_file(),
                "config file {} does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file(file));
            parent_dir(file)
        }
        None => {
            let default = Path::new(DEFAULT_CONFIG_FILE);
            if default.is_file() {
                figment = figment.merge(Toml::file(default));
            }
            parent_dir(default)
        }
    };
    let config: AppConfig = figment
        .merge(Env::prefixed("KPI_LEDGER_").split("__"))
        .extract()
        .context("invalid configuration")?;
    Ok(Loaded { config, base_dir })
}

fn parent_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn env_overrides_file_and_unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "k.toml",
                "data_dir = \"from-file\"\n[log]\nformat = \"json\"\n",
            )?;
            jail.set_env("KPI_LEDGER_DATA_DIR", "from-env");
            let loaded = load(Some(Path::new("k.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(loaded.config.data_dir, PathBuf::from("from-env"));
            assert_eq!(loaded.config.log.format, LogFormat::Json);

            jail.create_file("bad.toml", "data_dri = \"typo\"\n")?;
            let err = load(Some(Path::new("bad.toml"))).unwrap_err();
            assert!(format!("{err:#}").contains("data_dri"), "{err:#}");
            Ok(())
        });
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let err = load(Some(Path::new("/nonexistent/kpi.toml"))).unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }
}
