//! `kpi-ledger serve`: open the ledger, optionally import the demo seed, serve until SIGINT or
//! SIGTERM, then close the store (which commits in-flight appends and flushes). SIGHUP reloads
//! the token settings (`reload`).

use std::path::Path;

use anyhow::Context;

use crate::config::Loaded;
use crate::{ledger, reload};

/// How long `/readyz` waits for the projection to reach the head before answering 503: far
/// longer than a fold in progress under load takes (milliseconds), and shorter than
/// Kubernetes' default probe timeout (1 s), so a stuck projection answers 503 rather than
/// timing the probe out.
const READY_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// The server's settings: the `[server]` section, with anonymous read on for `--demo`. Start-up
/// and every reload read them here.
pub fn server_config(loaded: &Loaded, demo: bool) -> kpi_server::ServerConfig {
    let mut server = loaded.config.server.clone();
    if demo {
        server.anonymous_read = true;
    }
    server
}

pub async fn run(loaded: &Loaded, dir: &Path, demo: bool) -> anyhow::Result<()> {
    // Listening from the start: SIGHUP's default action would end the process, and one that
    // arrives while the ledger opens is handled once the server serves.
    #[cfg(unix)]
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot listen for SIGHUP")?;
    let server = server_config(loaded, demo);
    // Bad token settings stop start-up before the ledger opens, which can take a while.
    kpi_server::Authenticator::from_config(&server)?;
    // A configured signing key that cannot be read stops start-up too.
    let signer = crate::proof::signer(loaded)?;
    if let Some(signer) = &signer {
        tracing::info!(fingerprint = %signer.fingerprint(), "tree heads are signed");
    }
    // Memory a heavy request freed goes back to the OS even when the server then goes quiet.
    kpi_alloc::start_purger()?;
    tracing::info!(
        purge_delay_ms = kpi_alloc::purge_delay_ms(),
        "freed memory goes back to the OS after the purge delay"
    );
    // Installed before anything is appended, so `/metrics` counts the demo seed's appends.
    kpi_server::Metrics::global();
    kpi_service::metrics::describe();
    let ledger = ledger::open(dir, loaded).await?;
    if demo {
        let seed = loaded.resolve(&loaded.config.seed);
        let report = ledger
            .import("demo-seed", ledger::read_seed(&seed)?)
            .await?;
        tracing::info!(
            seed = %seed.display(),
            appended = report.appended,
            already_recorded = report.already_recorded,
            "demo: Fuji seed imported; anonymous read is on"
        );
    }
    // Walks the whole hash chain now and every `ledger.verify_every_secs`: a damaged log
    // makes `/readyz` 503 and refuses appends.
    ledger.verify_in_background();
    let signer = signer.map(std::sync::Arc::new);
    let mut schema = kpi_graphql::schema_builder(ledger.clone());
    if let Some(signer) = &signer {
        schema = schema.data(kpi_graphql::ProofSigner(signer.clone()));
    }
    let schema = server.limits.apply(schema).finish();
    let ready = ledger.clone();
    let head = ledger.clone();
    let version = ledger.clone();
    // Binding reads the token settings (and refuses bad ones) before the port opens. On a
    // refusal the ledger is still closed properly, as after serving.
    let listening = match kpi_server::Listening::bind(server).await {
        Ok(listening) => listening,
        Err(err) => {
            ledger.close().await;
            return Err(err);
        }
    };
    let auth = listening.auth();
    #[cfg(unix)]
    let reloading = tokio::spawn(
        reload::Reloader {
            started: loaded.clone(),
            demo,
            auth: auth.clone(),
        }
        .on_sighup(hangup),
    );
    let web = std::sync::Arc::new(
        kpi_web::Web::new(ledger.clone(), auth, loaded.config.web.clone()).with_signer(signer),
    );
    let app = kpi_server::App::new(schema)
        .with_ready_check(move || {
            let ready = ready.clone();
            async move { ready.readiness(READY_WAIT).await }
        })
        .with_head_position(move || head.head().position)
        // What a query reads: the projection (view version) and the store (head).
        .with_query_cache(move || kpi_server::DataVersion {
            view: version.view_version(),
            log: version.head().position,
        })
        .with_routes("/reports", kpi_web::reports(web.clone()))
        .with_routes("/admin", kpi_web::admin(web.clone()))
        .with_routes("/proof", kpi_web::proofs(web.clone()))
        .with_routes("/.well-known/kpi-ledger", kpi_web::well_known(web.clone()))
        .with_routes("/dashboard", kpi_web::dashboard(web.clone()))
        .with_routes("/workbench", kpi_web::workbench(web));
    let served = listening.serve(app, kpi_server::shutdown_signal()).await;
    #[cfg(unix)]
    reloading.abort();
    ledger.close().await;
    tracing::info!("store closed");
    served
}
