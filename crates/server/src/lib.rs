//! The HTTP shell: GraphQL over HTTP and websocket, bearer-token auth, limits, health and
//! Prometheus metrics, on poem. The token settings can be replaced while serving
//! ([`AuthHandle`]): requests read them as they arrive, websockets are re-judged.
//!
//! The server is generic over any async-graphql [`Executor`] (a `Schema<Q, M, S>` is one), so
//! it knows nothing of the ledger's schema; the binary wires the real schema in.

mod auth;
mod cache;
mod config;
mod conn;
mod graphiql;
mod http;
mod introspection;
mod metrics;
mod origin;
mod reload;
pub mod tokens_file;
mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_graphql::Executor;
use poem::http::StatusCode;
use poem::{get, Endpoint, EndpointExt, Request, Response, Route};
use tracing::Instrument;

pub use crate::auth::{
    new_token, AuthFailure, Authenticator, IssuedToken, TokenConfigError, NO_TOKEN_HINT,
};
pub use crate::cache::DataVersion;
pub use crate::config::{
    AllowedOrigin, Introspection, Limits, RequestLog, ServerConfig, TokenEntry, TokenHash,
    TokenName,
};
pub use crate::metrics::{names as metric_names, Metrics};
pub use crate::reload::{AuthHandle, TokenChanges};

type Probe<T> = Arc<dyn Fn() -> T + Send + Sync>;
/// A probe that may wait (readiness: whether the projection reaches the head).
type AsyncProbe<T> = Arc<dyn Fn() -> futures::future::BoxFuture<'static, T> + Send + Sync>;

/// What the readiness probe answers: `/readyz` is 200, or 503 with the reason (if any) in its
/// body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady(String),
}

impl From<bool> for Readiness {
    fn from(ready: bool) -> Self {
        if ready {
            Readiness::Ready
        } else {
            Readiness::NotReady(String::new())
        }
    }
}

impl From<Result<(), String>> for Readiness {
    fn from(ready: Result<(), String>) -> Self {
        ready.map_or_else(Readiness::NotReady, |()| Readiness::Ready)
    }
}

/// What the server serves: the GraphQL executor, the probes only the caller can answer, and
/// any further routes the binary mounts (downloads, dashboard), which keep their own auth.
pub struct App<E> {
    executor: E,
    ready: AsyncProbe<Readiness>,
    head_position: Option<Probe<u64>>,
    data_version: Option<Probe<DataVersion>>,
    extra: Vec<(String, poem::endpoint::BoxEndpoint<'static, Response>)>,
}

impl<E: Executor> App<E> {
    /// An app that is always ready and reports no head position.
    pub fn new(executor: E) -> Self {
        Self {
            executor,
            ready: Arc::new(|| Box::pin(async { Readiness::Ready })),
            head_position: None,
            data_version: None,
            extra: Vec::new(),
        }
    }

    /// Mounts `routes` under `prefix` (e.g. `/reports`). The server knows nothing of what they
    /// serve; they get the same request span and metrics as every other route.
    pub fn with_routes(
        mut self,
        prefix: &str,
        routes: impl Endpoint<Output = Response> + 'static,
    ) -> Self {
        self.extra.push((prefix.to_owned(), routes.boxed()));
        self
    }

    /// `/readyz` answers 200 only when `ready` resolves to ready (true, `Ok`: store open and
    /// intact, projections caught up), else 503 with the reason. The check may wait, e.g.
    /// for an event being folded right now.
    pub fn with_ready_check<F, Fut, R>(mut self, ready: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: Into<Readiness>,
    {
        self.ready = Arc::new(move || {
            let ready = ready();
            Box::pin(async move { ready.await.into() })
        });
        self
    }

    /// Caches the answers of query operations over HTTP (never mutations or subscriptions,
    /// never answers with errors), keyed by the request, the caller's role and
    /// `data_version`, read before each request runs. `data_version` must change whenever
    /// anything a query can read changes, after the change is visible and before it is
    /// acknowledged (see [`DataVersion`]); a schema field marked `cache_control(no_cache)` or
    /// `private` keeps its answers out.
    pub fn with_query_cache(
        mut self,
        data_version: impl Fn() -> DataVersion + Send + Sync + 'static,
    ) -> Self {
        self.data_version = Some(Arc::new(data_version));
        self
    }

    /// Sampled at every `/metrics` scrape into `kpi_store_head_position`.
    pub fn with_head_position(
        mut self,
        head_position: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Self {
        self.head_position = Some(Arc::new(head_position));
        self
    }
}

/// The routes, for serving or for in-process tests. Fails if the token list is ambiguous or
/// the tokens file cannot be read.
pub fn routes<E: Executor>(
    config: &ServerConfig,
    app: App<E>,
) -> Result<impl Endpoint<Output = Response>, TokenConfigError> {
    let auth = AuthHandle::new(Authenticator::from_config(config)?);
    Ok(routes_until(config, app, auth, &Stopping::default()))
}

/// What the routes need to know of a shutdown: when it starts, and which websocket sessions
/// are still saying goodbye.
#[derive(Clone, Default)]
struct Stopping {
    signal: tokio_util::sync::CancellationToken,
    sockets: tokio_util::task::TaskTracker,
}

/// Where the start-up log says each page and endpoint is, e.g. "GraphiQL at
/// http://127.0.0.1:8080/, GraphQL at .../graphql (subscriptions .../graphql/ws), /dashboard
/// at ...": a newcomer's first question after `serve` is where to point the browser.
fn served_at<E: Executor>(config: &ServerConfig, app: &App<E>, addr: SocketAddr) -> String {
    let base = format!("http://{addr}");
    let mut parts = Vec::new();
    if config.introspection != Introspection::Off {
        parts.push(format!("GraphiQL at {base}/"));
    }
    parts.push(format!(
        "GraphQL at {base}/graphql (subscriptions at ws://{addr}/graphql/ws)"
    ));
    for (prefix, _) in &app.extra {
        parts.push(format!("{prefix} at {base}{prefix}"));
    }
    parts.push(format!("health at {base}/healthz and {base}/readyz"));
    parts.join(", ")
}

/// The routes, reading the token settings in force from `auth` on every request.
fn routes_until<E: Executor>(
    config: &ServerConfig,
    app: App<E>,
    auth: AuthHandle,
    stopping: &Stopping,
) -> impl Endpoint<Output = Response> {
    let metrics = Metrics::global();
    let request_log = config.request_log;
    let ready = app.ready.clone();
    let head_position = app.head_position.clone();
    let metrics_auth = auth.clone();

    let graphql = http::GraphqlHttp {
        executor: app.executor.clone(),
        auth: auth.clone(),
        limits: config.limits,
        introspection: config.introspection,
        documents: cache::DocumentCache::new(),
        answers: app
            .data_version
            .filter(|_| config.answer_cache_bytes > 0)
            .map(|version| cache::ResponseCache::new(version, config.answer_cache_bytes)),
    };
    let graphql = Arc::new(graphql);
    let mut route = Route::new();
    for (prefix, endpoint) in app.extra {
        route = route.nest(prefix, endpoint);
    }
    // GraphiQL's page holds no data; the schema it asks for follows `server.introspection`.
    // Its assets are embedded in the binary (no CDN) and go with it.
    if config.introspection != Introspection::Off {
        route = route.at("/", get(graphiql::serve_page)).at(
            format!("{}:hash/:name", graphiql::ASSET_PREFIX),
            get(graphiql::serve_asset),
        );
    }
    let route = route
        .at(
            "/graphql",
            get(ArcEndpoint(graphql.clone())).post(ArcEndpoint(graphql)),
        )
        .at(
            "/graphql/ws",
            get(ws::Subscriptions {
                executor: introspection::Guarded {
                    inner: app.executor,
                    rule: config.introspection,
                },
                auth,
                max_message_bytes: config.limits.max_body_bytes.get(),
                stopping: stopping.signal.clone(),
                sockets: stopping.sockets.clone(),
            }),
        )
        .at("/healthz", get(poem::endpoint::make_sync(|_| "ok")))
        .at(
            "/readyz",
            get(poem::endpoint::make(move |_| {
                let ready = ready();
                async move {
                    match ready.await {
                        Readiness::Ready => (StatusCode::OK, "ready".to_owned()),
                        Readiness::NotReady(reason) if reason.is_empty() => {
                            (StatusCode::SERVICE_UNAVAILABLE, "not ready".to_owned())
                        }
                        Readiness::NotReady(reason) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("not ready: {reason}\n"),
                        ),
                    }
                }
            })),
        )
        .at(
            "/metrics",
            get(poem::endpoint::make_sync(move |req| {
                let authorization = req
                    .headers()
                    .get(poem::http::header::AUTHORIZATION)
                    .and_then(|value| value.to_str().ok());
                if metrics_auth
                    .current()
                    .metrics_token()
                    .is_some_and(|expected| !auth::bearer_matches(authorization, expected))
                {
                    return Response::builder()
                        .status(StatusCode::UNAUTHORIZED)
                        .header(
                            poem::http::header::WWW_AUTHENTICATE,
                            "Bearer realm=\"kpi-ledger metrics\"",
                        )
                        .body("/metrics needs the token of server.metrics_token_sha256\n");
                }
                if let Some(head_position) = &head_position {
                    metrics.set_head_position(head_position());
                }
                Response::builder()
                    .content_type("text/plain; version=0.0.4; charset=utf-8")
                    .body(metrics.render())
            })),
        );
    origin::OriginPolicy {
        inner: route,
        allowed: config.allowed_origins.iter().cloned().collect(),
    }
    .around(move |ep, req| observe(ep, req, request_log))
}

/// Shares one GraphQL handler between the GET and POST routes.
struct ArcEndpoint<T>(Arc<T>);

impl<T: Endpoint> Endpoint for ArcEndpoint<T> {
    type Output = T::Output;

    async fn call(&self, req: Request) -> poem::Result<Self::Output> {
        self.0.call(req).await
    }
}

/// One span per request, closed with its status and duration; request count and latency
/// metrics per endpoint.
async fn observe<E: Endpoint<Output = Response>>(
    ep: Arc<E>,
    req: Request,
    log: RequestLog,
) -> poem::Result<Response> {
    let endpoint = endpoint_label(req.uri().path());
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        operation = tracing::field::Empty,
        status = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
    );
    let started = Instant::now();
    let result = ep.call(req).instrument(span.clone()).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(err) => err.status(),
    };
    let elapsed = started.elapsed();
    span.record("status", status.as_u16());
    span.record("duration_ms", elapsed.as_secs_f64() * 1e3);
    match log.verdict(status.as_u16(), elapsed) {
        Some(true) => span.in_scope(|| tracing::warn!("request finished")),
        Some(false) => span.in_scope(|| tracing::info!("request finished")),
        None => span.in_scope(|| tracing::debug!("request finished")),
    }
    ::metrics::counter!(
        metric_names::HTTP_REQUESTS,
        "endpoint" => endpoint,
        "status" => status.as_str().to_owned()
    )
    .increment(1);
    ::metrics::histogram!(metric_names::HTTP_REQUEST_SECONDS, "endpoint" => endpoint)
        .record(elapsed.as_secs_f64());
    result
}

// A fixed label set keeps the metric cardinality bounded whatever paths clients probe.
fn endpoint_label(path: &str) -> &'static str {
    match path {
        "/" => "graphiql",
        path if path.starts_with(graphiql::ASSET_PREFIX) => "graphiql",
        "/graphql" => "graphql",
        "/graphql/ws" => "graphql_ws",
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        path if path.starts_with("/reports/") => "reports",
        path if path == "/dashboard" || path.starts_with("/dashboard/") => "dashboard",
        _ => "other",
    }
}

/// A bound listening socket, not yet serving: lets the caller learn the port (when binding
/// port 0) before requests arrive.
pub struct Listening {
    listener: tokio::net::TcpListener,
    config: ServerConfig,
    auth: AuthHandle,
}

impl Listening {
    /// Reads the token settings (the tokens file too) and binds `config.bind`. A bad token
    /// list is refused before the port is opened.
    pub async fn bind(config: ServerConfig) -> anyhow::Result<Self> {
        let auth = Authenticator::from_config(&config)?;
        if auth.admits_no_one() {
            tracing::warn!("{NO_TOKEN_HINT}");
        }
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on server.bind = {}", config.bind))?;
        Ok(Self {
            listener,
            config,
            auth: AuthHandle::new(auth),
        })
    }

    /// The token settings the server will serve with; [`AuthHandle::reload`] changes them
    /// while it serves.
    pub fn auth(&self) -> AuthHandle {
        self.auth.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.config.bind)
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish
    /// (up to `shutdown_grace_ms`) and returns, so the caller can flush and close the store.
    pub async fn serve<E: Executor>(
        self,
        app: App<E>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        let where_ = served_at(&self.config, &app, addr);
        let grace = self.config.shutdown_grace();
        let stopping = Stopping::default();
        let endpoint = routes_until(&self.config, app, self.auth.clone(), &stopping);
        let signal = stopping.signal.clone();
        let shutdown = async move {
            shutdown.await;
            signal.cancel();
        };
        let metrics = Metrics::global();
        let upkeep = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                metrics.run_upkeep();
            }
        });
        tracing::info!(%addr, "serving {where_}");
        conn::serve(self.listener, endpoint, self.config.limits, shutdown, grace).await;
        // Websocket sessions outlive the HTTP connections the loop waited for; they close with
        // 1001 as soon as the shutdown starts, and are given the same grace to do so.
        stopping.sockets.close();
        if tokio::time::timeout(grace, stopping.sockets.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                ?grace,
                "websocket sessions still open at the end of the grace period"
            );
        }
        upkeep.abort();
        tracing::info!("server stopped");
        Ok(())
    }
}

/// Binds `config.bind` and serves `app` until `shutdown` resolves.
pub async fn serve<E: Executor>(
    config: ServerConfig,
    app: App<E>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    Listening::bind(config).await?.serve(app, shutdown).await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (`docker stop`), whichever comes first.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
