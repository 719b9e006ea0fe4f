//! What is served: the ledger as `kpi-ledger serve` serves it (with and without the answer
//! cache) and behind a bench-only plain-HTTP route without GraphQL, each on its own loopback
//! port, and the runtimes the server and the load client run on.

use std::net::SocketAddr;

use kpi_server::{new_token, App, DataVersion, Listening, ServerConfig};
use kpi_service::auth::Role;
use kpi_service::Ledger;
use serde_json::{json, Value};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use crate::client::Target;

/// Name of the load client runtime's threads, when it has its own.
const CLIENT_THREADS: &str = "load-client";

/// A ledger served on an ephemeral loopback port, with a recorder token.
pub(crate) struct Served {
    pub(crate) ledger: Ledger,
    /// The server as the binary runs it, with the answer cache.
    pub(crate) target: Target,
    /// The same ledger served without the answer cache: what every query costs when its
    /// answer is not cached (the first after each write).
    pub(crate) uncached: Target,
    /// The same ledger behind a bench-only route without GraphQL ([`serve_plain`]).
    pub(crate) plain: Target,
    stops: Vec<oneshot::Sender<()>>,
    servings: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Served {
    pub(crate) async fn start(ledger: Ledger) -> Self {
        let issued = new_token(Role::Recorder, "bench").expect("issue a bench token");
        let (target, stop, serving) = Self::serve(&ledger, &issued, true).await;
        let (uncached, stop_uncached, serving_uncached) =
            Self::serve(&ledger, &issued, false).await;
        let (plain, stop_plain, serving_plain) = serve_plain(&ledger, &issued).await;
        Self {
            ledger,
            target,
            uncached,
            plain,
            stops: vec![stop, stop_uncached, stop_plain],
            servings: vec![serving, serving_uncached, serving_plain],
        }
    }

    async fn serve(
        ledger: &Ledger,
        issued: &kpi_server::IssuedToken,
        cached: bool,
    ) -> (
        Target,
        oneshot::Sender<()>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ) {
        let mut config = ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            tokens: vec![issued.entry.clone()],
            ..ServerConfig::default()
        };
        // Clients keep their connections from phase to phase, and some phases leave most of
        // them idle for longer than the default keep-alive timeout.
        config.limits.keep_alive_timeout_ms = std::num::NonZeroU64::new(3_600_000).unwrap();
        let schema = config
            .limits
            .apply(kpi_graphql::schema_builder(ledger.clone()))
            .finish();
        let head = ledger.clone();
        let mut app = App::new(schema).with_head_position(move || head.head().position);
        if cached {
            // As `kpi-ledger serve` wires it.
            let version = ledger.clone();
            app = app.with_query_cache(move || DataVersion {
                view: version.view_version(),
                log: version.head().position,
            });
        }
        let listening = Listening::bind(config).await.expect("bind a loopback port");
        let addr = listening.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(listening.serve(app, async {
            let _ = stopped.await;
        }));
        (Target::new(addr, &issued.token), stop, serving)
    }

    pub(crate) async fn shut_down(self) {
        for stop in self.stops {
            let _ = stop.send(());
        }
        for serving in self.servings {
            serving
                .await
                .expect("the server task panicked")
                .expect("the server stopped cleanly");
        }
        self.ledger.close().await;
    }
}

/// Serves `ledger` on a loopback port with one bench-only route, `POST /graphql`, whose JSON
/// body is a seminar's payload, recorded with `Ledger::record_payload` and answered with the
/// envelope's id, position and hash (plus `GET /healthz`). No GraphQL, no auth, no limits, no
/// metrics: the HTTP append as cheap as poem and the ledger make it, so the ratio's loss can
/// be split between HTTP and GraphQL.
async fn serve_plain(
    ledger: &Ledger,
    issued: &kpi_server::IssuedToken,
) -> (
    Target,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    use poem::listener::{Acceptor, Listener, TcpListener};
    use poem::web::{Data, Json};
    use poem::{get, handler, post, EndpointExt, Route, Server};

    #[handler]
    async fn record(
        Data(ledger): Data<&Ledger>,
        Json(payload): Json<Value>,
    ) -> poem::Result<Json<Value>> {
        let envelope = ledger
            .record_payload("bench", "seminar", &payload, Default::default())
            .await
            .map_err(poem::error::BadRequest)?;
        Ok(Json(json!({ "data": { "recordSeminar": {
            "id": envelope.event_id,
            "position": envelope.position,
            "hash": envelope.hash,
        } } })))
    }

    #[handler]
    fn alive() -> &'static str {
        "ok"
    }

    let app = Route::new()
        .at("/graphql", post(record))
        .at("/healthz", get(alive))
        .data(ledger.clone());
    let acceptor = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .into_acceptor()
        .await
        .expect("bind a loopback port");
    let addr = acceptor.local_addr()[0]
        .as_socket_addr()
        .copied()
        .expect("a TCP address");
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                app,
                async {
                    let _ = stopped.await;
                },
                None,
            )
            .await
            .map_err(anyhow::Error::from)
    });
    (Target::new(addr, &issued.token), stop, serving)
}

/// The server's runtime, and the load client's if it has one of its own.
pub(crate) struct Runtimes {
    pub(crate) server: Runtime,
    /// `KPI_BENCH_CLIENT_RUNTIME=separate`: the load client on a runtime (and thread) of its
    /// own. By default its tasks run on the server's runtime: a third busy thread on two cores
    /// gets server workers preempted for milliseconds at a time, with requests queued on them,
    /// which a client on another machine would not cause (docs/benchmarks.md has both).
    pub(crate) separate_client: Option<Runtime>,
}

impl Runtimes {
    pub(crate) fn new() -> Self {
        let build = |name: &str, threads: usize| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name(name)
                .enable_all()
                .build()
                .expect("build a runtime")
        };
        let separate = std::env::var("KPI_BENCH_CLIENT_RUNTIME").is_ok_and(|v| v == "separate");
        Self {
            // As `kpi-ledger serve` runs on this machine: one worker per core.
            server: build(
                "server",
                std::env::var("KPI_BENCH_SERVER_THREADS")
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(2),
            ),
            separate_client: separate.then(|| build(CLIENT_THREADS, 1)),
        }
    }

    /// Where the load client's tasks run.
    pub(crate) fn client(&self) -> &Runtime {
        self.separate_client.as_ref().unwrap_or(&self.server)
    }
}
