//! Shared by the server tests: a small schema with a query, a mutation and a subscription that
//! guard by role the way kpi-graphql does, and a server on an ephemeral loopback port.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::{Context, ErrorExtensions, Object, Schema, SimpleObject, Subscription};
use futures::Stream;
use kpi_server::{new_token, App, AuthHandle, Listening, ServerConfig};
use kpi_service::auth::{Caller, Role};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod ws;

/// How kpi-graphql resolvers check roles: the caller the server put into the request data
/// (none at all counts as anonymous without read access), refused with a typed code.
pub fn require<'a>(ctx: &'a Context<'_>, needed: Role) -> async_graphql::Result<&'a Caller> {
    static NOBODY: Caller = Caller::Anonymous { may_read: false };
    let caller = ctx.data_opt::<Caller>().unwrap_or(&NOBODY);
    caller.require(needed).map_err(|denied| {
        async_graphql::Error::new(denied.to_string())
            .extend_with(|_, ext| ext.set("code", denied.code()))
    })
}

/// Stands in for the store: the head position mutations advance.
#[derive(Default)]
pub struct Ledger {
    pub head: AtomicU64,
}

pub struct Query;

#[Object]
impl Query {
    /// Who the server says is calling; needs no role, so it shows what auth produced.
    async fn whoami(&self, ctx: &Context<'_>) -> String {
        match ctx.data_opt::<Caller>() {
            Some(Caller::Token { name, role }) => format!("{name}:{role}"),
            Some(Caller::Anonymous { may_read }) => format!("anonymous:{may_read}"),
            None => "no caller".into(),
        }
    }

    async fn head(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        require(ctx, Role::Reader)?;
        Ok(ctx
            .data_unchecked::<Arc<Ledger>>()
            .head
            .load(Ordering::SeqCst))
    }

    /// Sleeps, for timeout and graceful-shutdown tests.
    async fn slow(&self, millis: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        millis
    }

    async fn nested(&self) -> Nested {
        Nested { level: 1 }
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Nested {
    level: u32,
}

#[async_graphql::ComplexObject]
impl Nested {
    async fn child(&self) -> Nested {
        Nested {
            level: self.level + 1,
        }
    }
}

pub struct Mutation;

/// What an append acknowledges: where the event went and whose it is.
#[derive(SimpleObject)]
pub struct Recorded {
    position: u64,
    actor: String,
}

#[Object]
impl Mutation {
    /// Appends one "event"; needs the recorder role.
    async fn record(&self, ctx: &Context<'_>, title: String) -> async_graphql::Result<Recorded> {
        let started = Instant::now();
        let caller = require(ctx, Role::Recorder)?;
        if title.trim().is_empty() {
            return Err(async_graphql::Error::new("title: must not be blank"));
        }
        let actor = caller.actor().unwrap_or_default().to_owned();
        let position = ctx
            .data_unchecked::<Arc<Ledger>>()
            .head
            .fetch_add(1, Ordering::SeqCst)
            + 1;
        // As the ledger counts an append that wrote one event.
        kpi_service::metrics::count_appended(1);
        kpi_service::metrics::record_append_latency(started.elapsed());
        Ok(Recorded { position, actor })
    }
}

pub struct Subscription;

#[Subscription]
impl Subscription {
    async fn ticks(
        &self,
        ctx: &Context<'_>,
        count: u32,
    ) -> async_graphql::Result<impl Stream<Item = u32>> {
        require(ctx, Role::Reader)?;
        Ok(futures::stream::iter(1..=count))
    }

    /// Stays open and sends nothing: an open subscription for tests of what closes sockets.
    async fn silence(&self, ctx: &Context<'_>) -> async_graphql::Result<impl Stream<Item = u32>> {
        require(ctx, Role::Reader)?;
        Ok(futures::stream::pending())
    }
}

pub type TestSchema = Schema<Query, Mutation, Subscription>;

/// Bearer tokens of each role, configured into every test server.
pub struct Tokens {
    pub reader: String,
    pub recorder: String,
    pub admin: String,
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// The configuration it was started with.
    pub config: ServerConfig,
    /// Its token settings, which a test may reload as SIGHUP does in the binary.
    pub auth: AuthHandle,
    pub ledger: Arc<Ledger>,
    pub ready: Arc<AtomicBool>,
    pub tokens: Tokens,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server on 127.0.0.1:0 after `adjust` has changed the default config.
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut config = ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..ServerConfig::default()
        };
        let reader = new_token(Role::Reader, "viewer").unwrap();
        let recorder = new_token(Role::Recorder, "clerk").unwrap();
        let admin = new_token(Role::Admin, "ops").unwrap();
        config.tokens = vec![
            reader.entry.clone(),
            recorder.entry.clone(),
            admin.entry.clone(),
        ];
        adjust(&mut config);

        let ledger = Arc::new(Ledger::default());
        let schema = config
            .limits
            .apply(Schema::build(Query, Mutation, Subscription))
            .data(ledger.clone())
            .finish();
        let ready = Arc::new(AtomicBool::new(true));
        let app = {
            let ready = ready.clone();
            let ledger = ledger.clone();
            App::new(schema)
                .with_ready_check(move || std::future::ready(ready.load(Ordering::SeqCst)))
                .with_head_position(move || ledger.head.load(Ordering::SeqCst))
        };
        let listening = Listening::bind(config.clone()).await.unwrap();
        let addr = listening.local_addr();
        let auth = listening.auth();
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(listening.serve(app, async {
            let _ = signal.await;
        }));
        Self {
            addr,
            config,
            auth,
            ledger,
            ready,
            tokens: Tokens {
                reader: reader.token,
                recorder: recorder.token,
                admin: admin.token,
            },
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn graphql_url(&self) -> String {
        self.url("/graphql")
    }

    /// Starts graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Shuts down and returns what `serve` returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.begin_shutdown();
        let task = self.task.take().expect("stopped once");
        tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .expect("server stops within 15 s")
            .expect("server task does not panic")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// An HTTP client that cannot hang a test.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}
