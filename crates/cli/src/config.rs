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
    /// The browser's sessions and the proxy in front (`[web]`).
    pub web: kpi_web::WebConfig,
    /// `[proof]`: the key tree heads are signed with.
    pub proof: crate::proof::ProofConfig,
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
            web: kpi_web::WebConfig::default(),
            proof: crate::proof::ProofConfig::default(),
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
    /// The `--config` file it was loaded from, if one was given, so a reload reads the same.
    pub file: Option<PathBuf>,
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
        // KPI_LEDGER_TOKEN is the bearer token of `--server`, not a configuration key.
        .merge(Env::prefixed("KPI_LEDGER_").ignore(&["token"]).split("__"))
        .extract()
        .context("invalid configuration")?;
    Ok(Loaded {
        config,
        base_dir,
        file: file.map(Path::to_path_buf),
    })
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
            // The bearer token of `--server`, not a configuration key: not refused as unknown.
            jail.set_env("KPI_LEDGER_TOKEN", "kpi_secret");
            let loaded = load(Some(Path::new("k.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(loaded.config.data_dir, PathBuf::from("from-env"));
            assert_eq!(loaded.config.log.format, LogFormat::Json);

            jail.create_file("bad.toml", "data_dri = \"typo\"\n")?;
            let err = load(Some(Path::new("bad.toml"))).unwrap_err();
            assert!(format!("{err:#}").contains("data_dri"), "{err:#}");
            Ok(())
        });
    }

    /// `[ledger.bounds]` changes the defaults, from the file (nested or dotted paths) and
    /// from the environment; an unknown kind or field stops start-up naming it.
    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn plausibility_bounds_are_configured_and_unknown_names_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "bounds.toml",
                "[ledger.bounds.seminar]\nparticipants = { unique = 5000 }\n\
                 [ledger.bounds.opening_figure]\n\"value.persons\" = 42\n",
            )?;
            jail.set_env("KPI_LEDGER_LEDGER__BOUNDS__CONSULTATION__PERSONS", "777");
            jail.set_env(
                "KPI_LEDGER_LEDGER__BOUNDS__SEMINAR__PARTICIPANTS__ATTENDANCES",
                "9000",
            );
            let bounds = load(Some(Path::new("bounds.toml")))
                .map_err(|e| format!("{e:#}"))?
                .config
                .ledger
                .bounds;
            assert_eq!(bounds.max("seminar", "participants.unique"), Some(5000));
            assert_eq!(
                bounds.max("seminar", "participants.attendances"),
                Some(9000)
            );
            assert_eq!(bounds.max("opening_figure", "value.persons"), Some(42));
            assert_eq!(bounds.max("consultation", "persons"), Some(777));
            assert_eq!(bounds.max("seminar", "sessions"), Some(1_000), "a default");

            jail.create_file("typo.toml", "[ledger.bounds.seminr]\nsessions = 3\n")?;
            let err = format!("{:#}", load(Some(Path::new("typo.toml"))).unwrap_err());
            assert!(err.contains("`seminr` is not an event kind"), "{err}");
            jail.create_file(
                "field.toml",
                "[ledger.bounds.seminar]\nparticipants = { uniq = 3 }\n",
            )?;
            let err = format!("{:#}", load(Some(Path::new("field.toml"))).unwrap_err());
            assert!(
                err.contains("`participants.uniq` is not a count field of `seminar`"),
                "{err}"
            );
            Ok(())
        });
    }

    /// The shipped configuration file loads as it is.
    #[test]
    fn the_default_config_file_loads() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
        let loaded = load(Some(&file)).unwrap();
        assert_eq!(
            loaded.config.ledger,
            kpi_service::LedgerConfig::default(),
            "[ledger] documents the defaults without changing them"
        );
        assert_eq!(
            loaded.config.store,
            kpi_store::StoreConfig::default(),
            "[store] documents the defaults without changing them"
        );
        assert_eq!(
            loaded.config.server,
            kpi_server::ServerConfig::default(),
            "[server] documents the defaults without changing them"
        );
        assert_eq!(
            loaded.config.web,
            kpi_web::WebConfig::default(),
            "[web] documents the defaults without changing them"
        );
    }

    /// The proxy setting and the sessions' times come from the environment too; an unknown
    /// key under `[web]` is refused, naming it.
    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn web_settings_come_from_the_environment_and_unknown_ones_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("w.toml", "[web]\nsession_idle_secs = 600\n")?;
            jail.set_env("KPI_LEDGER_WEB__TRUST_FORWARDED_PROTO", "true");
            let web = load(Some(Path::new("w.toml")))
                .map_err(|e| format!("{e:#}"))?
                .config
                .web;
            assert_eq!(web.session_idle_secs, 600);
            assert!(web.trust_forwarded_proto);
            jail.create_file("bad.toml", "[web]\nsession_idle_minutes = 10\n")?;
            let error = format!("{:#}", load(Some(Path::new("bad.toml"))).unwrap_err());
            assert!(error.contains("session_idle_minutes"), "{error}");
            Ok(())
        });
    }

    /// The PostgreSQL backend is chosen and pointed at its database from the environment,
    /// where a URL with a password belongs.
    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn the_store_backend_and_its_url_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("s.toml", "[store]\nbackend = \"sled\"\n")?;
            jail.set_env("KPI_LEDGER_STORE__BACKEND", "postgres");
            jail.set_env(
                "KPI_LEDGER_STORE__POSTGRES__URL",
                "postgresql://kpi:pw@db1,db2/kpi?target_session_attrs=read-write",
            );
            let store = load(Some(Path::new("s.toml")))
                .map_err(|e| format!("{e:#}"))?
                .config
                .store;
            assert_eq!(store.backend, kpi_store::Backend::Postgres);
            assert_eq!(
                store.postgres.url.as_deref(),
                Some("postgresql://kpi:pw@db1,db2/kpi?target_session_attrs=read-write")
            );
            assert_eq!(store.postgres.read_connections, 4);
            jail.set_env("KPI_LEDGER_STORE__POSTGRES__URI", "x");
            let refused = load(Some(Path::new("s.toml"))).unwrap_err();
            assert!(format!("{refused:#}").contains("uri"), "{refused:#}");
            Ok(())
        });
    }

    /// How the store retries after a storage failure is set from the environment too.
    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn storage_retries_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("s.toml", "[store]\nretry_initial_ms = 500\n")?;
            jail.set_env("KPI_LEDGER_STORE__RETRY_MAX_MS", "30000");
            let store = load(Some(Path::new("s.toml")))
                .map_err(|e| format!("{e:#}"))?
                .config
                .store;
            assert_eq!(store.retry_initial_ms, 500);
            assert_eq!(store.retry_max_ms, 30_000);
            Ok(())
        });
    }

    /// The bounds `config/default.toml` shows (commented out) are exactly the defaults: every
    /// kind and count field with its maximum. A count field added to the catalogue gets a
    /// default bound (a domain test makes sure) and must be shown here.
    #[test]
    fn the_default_config_file_shows_every_default_bound() {
        fn paths(prefix: &str, value: &toml::Value, into: &mut Vec<(String, u64)>) {
            match value {
                toml::Value::Table(table) => {
                    for (key, value) in table {
                        paths(&format!("{prefix}{key}."), value, into);
                    }
                }
                toml::Value::Integer(max) => into.push((
                    prefix.trim_end_matches('.').to_owned(),
                    u64::try_from(*max).unwrap(),
                )),
                other => panic!("{prefix}: {other}"),
            }
        }
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/default.toml");
        let text = std::fs::read_to_string(file).unwrap();
        let section = text.split("[ledger.bounds]\n").nth(1).unwrap();
        let mut shown = Vec::new();
        for line in section.lines().take_while(|line| line.starts_with('#')) {
            // `# kind = { ... }      # remark`
            let entry = line.trim_start_matches('#').trim();
            let entry = &entry[..=entry.rfind('}').unwrap()];
            let table: toml::Table = toml::from_str(entry).unwrap();
            paths("", &toml::Value::Table(table), &mut shown);
        }
        let mut defaults: Vec<(String, u64)> = kpi_domain::Bounds::default()
            .iter()
            .map(|(kind, field, max)| (format!("{kind}.{field}"), max))
            .collect();
        shown.sort();
        defaults.sort();
        assert_eq!(shown, defaults);
    }

    /// The connection limits and the origin list are set from the environment too.
    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn server_limits_and_origins_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("s.toml", "[server]\nintrospection = \"off\"\n")?;
            jail.set_env(
                "KPI_LEDGER_SERVER__ALLOWED_ORIGINS",
                "[\"https://dashboard.example.org\"]",
            );
            jail.set_env("KPI_LEDGER_SERVER__LIMITS__MAX_CONNECTIONS", "64");
            jail.set_env("KPI_LEDGER_SERVER__LIMITS__HEADER_READ_TIMEOUT_MS", "2000");
            let server = load(Some(Path::new("s.toml")))
                .map_err(|e| format!("{e:#}"))?
                .config
                .server;
            assert_eq!(server.introspection, kpi_server::Introspection::Off);
            assert_eq!(
                server.allowed_origins,
                [kpi_server::AllowedOrigin::parse("https://dashboard.example.org").unwrap()]
            );
            assert_eq!(server.limits.max_connections.get(), 64);
            assert_eq!(
                server.limits.header_read_timeout(),
                std::time::Duration::from_secs(2)
            );
            Ok(())
        });
    }

    /// The memory budget's knobs: a limit of zero is refused naming the key.
    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn concurrent_folds_are_configured_and_zero_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("m.toml", "[ledger]\nmax_concurrent_folds = 1\n")?;
            let loaded = load(Some(Path::new("m.toml"))).map_err(|e| format!("{e:#}"))?;
            assert_eq!(loaded.config.ledger.max_concurrent_folds.get(), 1);
            jail.set_env("KPI_LEDGER_LEDGER__MAX_CONCURRENT_FOLDS", "0");
            let err = format!("{:#}", load(Some(Path::new("m.toml"))).unwrap_err());
            assert!(err.to_lowercase().contains("max_concurrent_folds"), "{err}");
            assert!(err.contains("nonzero"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let err = load(Some(Path::new("/nonexistent/kpi.toml"))).unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }
}
