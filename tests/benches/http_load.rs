//! GraphQL over HTTP under load: the real server (kpi-server + kpi-graphql + kpi-service on a
//! sled store) on a loopback port, driven by a Rust load client.
//!
//! Run: `cargo bench -p kpi-tests --bench http_load` (under a minute on 2 cores, after the
//! build). Results and their reading: docs/benchmarks.md, "GraphQL over HTTP".
//! `KPI_BENCH_EVENTS=N` changes the size of the large store (default 1,000,000; 0 skips it);
//! `KPI_BENCH_PROFILE=append` or `=table` runs only that workload (32 clients, seed store),
//! for a profiler; `=schema`, `=ledger` or `=store` one in-process layer of the append path,
//! `=plain` the append over HTTP without GraphQL;
//! `KPI_BENCH_PROFILE_EACH=N` sets its requests per client (300); `KPI_BENCH_SERVER_THREADS`
//! the server runtime's workers (2).
//!
//! Two stores are served in turn: the Fuji seed (~300 events, the real table) and a store of
//! N synthetic events (the seed's activities repeated, appended directly with
//! `EventStore::append` in batches of 1,000, as in the replay bench). Against each, 1, 32 and
//! 64 clients each send a bounded number of `recordSeminar` mutations, then of `kpiTable`
//! queries. A client is one task sending one request at a time over its own keep-alive
//! connection (a minimal HTTP/1.1 client with requests built before the clock starts), so at
//! N clients N requests are in flight. Latency is from sending the request to having read the
//! whole response body; every response must be 200 without `errors`, and after each mutation
//! run the head must have advanced by exactly the number of mutations sent.
//!
//! The ledger is served twice, on two ports: as `kpi-ledger serve` runs it (with the answer
//! cache keyed by the ledger's view version and head), and without the answer cache, so the
//! cost of a query whose answer is not cached (the first after every write) is measured too.
//!
//! The store baseline for the append ratio is `EventStore::append` in process, 32 tasks each
//! appending the same seminar event the ledger would append (same stream, same payload),
//! one event per append, to a fresh store. The layers of the append path are measured in five
//! rounds, each round once per layer, and the ratio is given round by round as well;
//! `GET /healthz` through the same client is the floor of an HTTP round trip. One layer is
//! the ledger behind a bench-only poem route without GraphQL (the payload as the JSON body),
//! which splits the loss between HTTP and GraphQL.
//!
//! The server runs on a runtime of 2 worker threads, as `kpi-ledger serve` does on 2 cores.
//! The load client's tasks run on the same runtime, so its CPU comes out of the same 2 cores
//! and is reported separately (the CPU of its polls); `KPI_BENCH_CLIENT_RUNTIME=separate`
//! gives it a runtime and thread of its own instead, which on 2 cores adds OS preemption of
//! server threads to the tail latencies. No tracing subscriber is installed: request logging
//! is off, as with `RUST_LOG=warn`. The process runs on mimalloc with its purger thread, as
//! the binary does.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use kpi_domain::{LedgerEvent, PlanDefinition};
use kpi_server::{new_token, App, DataVersion, Listening, ServerConfig};
use kpi_service::auth::Role;
use kpi_service::{ImportRecord, Ledger, LedgerConfig};
use kpi_store::{EventStore, ExpectedVersion, NewEvent, StoreConfig, StreamId};
use serde_json::{json, Value};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

// As the `kpi-ledger` binary does (crates/cli/src/main.rs): the server answers requests with
// many short-lived allocations, and the figures should be the binary's, not glibc's.
#[global_allocator]
static ALLOCATOR: kpi_alloc::Allocator = kpi_alloc::Allocator;

const PLAN: &str = "telework-roadmap";
/// Name of the load client runtime's threads, when it has its own.
const CLIENT_THREADS: &str = "load-client";
/// A workload stops early when it runs this long, so one bench run stays within minutes.
const TIME_CAP: Duration = Duration::from_secs(20);

/// The published table: every row's figures, as the city's KPI table shows them. The
/// drill-down lists (`eventIds`, `events`) are left out: on the large store they would be
/// megabytes per answer, which measures JSON size rather than the server.
const TABLE_QUERY: &str = r#"query Table($plan: ID!) {
  kpiTable(plan: $plan) {
    planId position fiscalYears
    rows {
      kpi series unit cumulative achievement
      name { ja en }
      target { value kind }
      cells { fiscalYear label value unit counted }
    }
  }
}"#;

const RECORD_SEMINAR: &str = r#"mutation Record($input: SeminarInput!) {
  recordSeminar(input: $input) { id position hash }
}"#;

#[derive(Clone, Copy)]
struct Load {
    clients: usize,
    /// Requests each client sends.
    each: usize,
    /// `None`: each client sends its next request as soon as the previous one is answered
    /// (closed loop, the server saturated). `Some(period)`: each client sends one request per
    /// period on a fixed schedule, and latency counts from the scheduled instant, so a
    /// server falling behind is charged for the wait (no coordinated omission).
    pace: Option<Duration>,
}

impl Load {
    const fn closed(clients: usize, each: usize) -> Self {
        Self {
            clients,
            each,
            pace: None,
        }
    }

    const fn paced(clients: usize, each: usize, period: Duration) -> Self {
        Self {
            clients,
            each,
            pace: Some(period),
        }
    }
}

const MUTATION_LOADS: [Load; 3] = [
    Load::closed(1, 400),
    Load::closed(32, 60),
    Load::closed(64, 30),
];

/// Every answer computed: what the first query after each write costs.
const UNCACHED_QUERY_LOADS: &[Load] = &[Load::closed(1, 500), Load::closed(64, 50)];

/// The last load: 64 clients each asking for the table ten times a second, a busy office
/// rather than a saturating load generator.
/// The closed loops run for about half a second each at 60,000 requests/s, so their p99 is
/// not decided by one scheduling hiccup of the shared machine.
const QUERY_LOADS: [Load; 4] = [
    Load::closed(1, 2_000),
    Load::closed(32, 1_000),
    Load::closed(64, 500),
    Load::paced(64, 50, Duration::from_millis(100)),
];

/// The append ratio's load, for both paths: long enough that the store's run is not over in
/// a few group commits.
const STORE_BASELINE: Load = Load::closed(32, 400);

/// One measured run: completed operations, their latencies, and the CPU they cost.
struct Measured {
    done: usize,
    elapsed: Duration,
    /// Sorted ascending.
    latencies: Vec<Duration>,
    cpu: CpuUsed,
    /// The server's view of the run, when it went over HTTP.
    server: Option<ServerTimings>,
}

impl Measured {
    fn collect(elapsed: Duration, per_client: Vec<Vec<Duration>>, cpu: CpuUsed) -> Self {
        let mut latencies: Vec<Duration> = per_client.into_iter().flatten().collect();
        latencies.sort_unstable();
        Self {
            done: latencies.len(),
            elapsed,
            latencies,
            cpu,
            server: None,
        }
    }

    fn mean(&self) -> Duration {
        self.latencies.iter().sum::<Duration>() / self.done.max(1) as u32
    }

    /// Process CPU per operation, and the load client's share of it.
    fn cpu_per_op(&self) -> (Duration, Duration) {
        let done = self.done.max(1) as u32;
        (self.cpu.process / done, self.cpu.load_client / done)
    }

    fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64()
    }

    /// Nearest-rank percentile.
    fn percentile(&self, q: f64) -> Duration {
        let rank = (q * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    fn capped_note(&self, planned: usize) -> String {
        if self.done < planned {
            format!(
                " (stopped at the {TIME_CAP:?} cap after {} of {planned})",
                self.done
            )
        } else {
            String::new()
        }
    }
}

/// CPU time used, by the whole process and by the load client. On 2 cores the process
/// cannot go faster than 2 s of CPU per second, so CPU per request bounds throughput.
#[derive(Clone, Copy, Default)]
struct CpuUsed {
    process: Duration,
    load_client: Duration,
}

impl CpuUsed {
    fn now() -> Self {
        Self {
            process: process_cpu(),
            load_client: Duration::from_nanos(CLIENT_CPU_NANOS.load(Ordering::Relaxed)),
        }
    }

    fn since(self, earlier: CpuUsed) -> CpuUsed {
        CpuUsed {
            process: self.process.saturating_sub(earlier.process),
            load_client: self.load_client.saturating_sub(earlier.load_client),
        }
    }
}

/// CPU the load client spent sending requests and reading and checking answers.
static CLIENT_CPU_NANOS: AtomicU64 = AtomicU64::new(0);

/// Off while the append ratio is measured: the two `clock_gettime` calls per poll are the
/// bench's own instrumentation (a few µs per request on this machine), not a cost of the
/// path under test, and the ratio table reports only the process's CPU.
static ACCOUNT_CLIENT_CPU: AtomicBool = AtomicBool::new(true);

/// Adds the CPU time of every poll of `F` (its syscalls included) to [`CLIENT_CPU_NANOS`]:
/// the client's share, even when its tasks share threads with the server's.
struct ClientCpu<F>(Pin<Box<F>>);

impl<F: Future> Future for ClientCpu<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        if !ACCOUNT_CLIENT_CPU.load(Ordering::Relaxed) {
            return self.0.as_mut().poll(cx);
        }
        let started = thread_cpu();
        let polled = self.0.as_mut().poll(cx);
        let spent = thread_cpu().saturating_sub(started);
        CLIENT_CPU_NANOS.fetch_add(spent.as_nanos() as u64, Ordering::Relaxed);
        polled
    }
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` only writes into `time`, which outlives the call.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    assert_eq!(result, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// User and system CPU of the whole process, exited threads included.
fn process_cpu() -> Duration {
    // SAFETY: `getrusage` only writes into the struct it is handed, which outlives the call,
    // and an all-zero `rusage` is a valid value of that plain C struct.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(
            libc::getrusage(libc::RUSAGE_SELF, &mut usage),
            0,
            "getrusage"
        );
        usage
    };
    let seconds = |time: libc::timeval| {
        Duration::from_secs(time.tv_sec as u64) + Duration::from_micros(time.tv_usec as u64)
    };
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn us(duration: Duration) -> String {
    format!("{:.0} µs", duration.as_secs_f64() * 1e6)
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn plans() -> Vec<PlanDefinition> {
    let text = std::fs::read_to_string(root().join("config/plans/telework-roadmap.toml"))
        .expect("read the plan definition");
    vec![PlanDefinition::from_toml(&text).expect("the plan definition parses")]
}

fn seed_records() -> Vec<kpi_domain::SeedRecord> {
    let text = std::fs::read_to_string(root().join("config/seed/fuji-telework-r6.toml"))
        .expect("read the Fuji seed");
    kpi_domain::seed::parse(&text).expect("the Fuji seed parses")
}

/// The seminar a mutation records, varied per client and request so no two are identical.
fn seminar_input(client: usize, n: usize) -> Value {
    let unique = 10 + (n % 40) as i64;
    json!({
        "title": format!("テレワーク導入セミナー（負荷試験 {client}-{n}）"),
        "organiser": "産業支援課",
        "firstDate": "2024-06-14",
        "sessions": 1,
        "participants": { "unique": unique, "attendances": unique },
        "capacity": 60,
        "status": "HELD",
    })
}

/// The body of client `client`'s `n`th `recordSeminar` request.
fn record_seminar(client: usize, n: usize) -> Value {
    json!({
        "query": RECORD_SEMINAR,
        "variables": { "input": seminar_input(client, n) },
    })
}

/// `seminar_input` as the domain's payload (snake_case names).
fn seminar_payload(client: usize, n: usize) -> Value {
    let input = seminar_input(client, n);
    json!({
        "title": input["title"],
        "organiser": input["organiser"],
        "first_date": input["firstDate"],
        "sessions": input["sessions"],
        "participants": input["participants"],
        "capacity": input["capacity"],
        "status": "held",
    })
}

/// The envelope the ledger appends for `seminar_input`: the domain's payload, stream and
/// occurrence date, so the store baseline writes exactly what the GraphQL path writes.
fn seminar_envelope(client: usize, n: usize) -> (StreamId, NewEvent) {
    let event = LedgerEvent::parse("seminar", &seminar_payload(client, n))
        .expect("the bench seminar is valid");
    let stream = StreamId::parse(event.stream_id()).expect("the domain's stream id is valid");
    (stream, kpi_service::new_event(&event, "bench"))
}

/// Runs `load.clients` tasks, each doing `load.each` operations one after another (or until
/// the time cap), and times every operation.
async fn drive<F, Fut>(load: Load, operation: F) -> Measured
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let deadline = Instant::now() + TIME_CAP;
    let cpu = CpuUsed::now();
    let started = Instant::now();
    let tasks: Vec<_> = (0..load.clients)
        .map(|client| {
            let operation = operation.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(load.each);
                // Paced clients start spread over one period, not all at once.
                let first = load
                    .pace
                    .map(|period| started + period * client as u32 / load.clients as u32);
                for n in 0..load.each {
                    if Instant::now() > deadline {
                        break;
                    }
                    let sent = match (first, load.pace) {
                        (Some(first), Some(period)) => {
                            let scheduled = first + period * n as u32;
                            if Instant::now() >= scheduled {
                                // Behind schedule: the server's slowness, charged to it.
                                scheduled
                            } else {
                                // Tokio's timer wakes on millisecond ticks; that lateness is
                                // the client's, so timing starts at the actual send.
                                tokio::time::sleep_until(scheduled.into()).await;
                                Instant::now()
                            }
                        }
                        _ => Instant::now(),
                    };
                    operation(client, n).await;
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut per_client = Vec::with_capacity(tasks.len());
    for task in tasks {
        per_client.push(task.await.expect("a load client panicked"));
    }
    let elapsed = started.elapsed();
    Measured::collect(elapsed, per_client, CpuUsed::now().since(cpu))
}

/// The most clients any workload runs: one connection each.
const MAX_CLIENTS: usize = 64;

/// A load client of one served ledger. Measured runs go over [`RawConnection`]s, one per
/// simulated client; reqwest serves the checks and the `/metrics` scrapes around them.
#[derive(Clone)]
struct Target {
    http: reqwest::Client,
    addr: SocketAddr,
    url: Arc<str>,
    authorization: Arc<str>,
    connections: Arc<Vec<tokio::sync::Mutex<Option<RawConnection>>>>,
}

impl Target {
    fn new(addr: SocketAddr, token: &str) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(128)
            .tcp_nodelay(true)
            .build()
            .expect("build the HTTP client");
        Self {
            http,
            addr,
            url: format!("http://{addr}/graphql").into(),
            authorization: format!("Bearer {token}").into(),
            connections: Arc::new(
                (0..MAX_CLIENTS)
                    .map(|_| tokio::sync::Mutex::new(None))
                    .collect(),
            ),
        }
    }

    /// A whole HTTP/1.1 request posting `body` to `/graphql`, built before the clock starts.
    fn request(&self, body: &[u8]) -> Vec<u8> {
        let mut request = format!(
            "POST /graphql HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
             accept: application/graphql-response+json\r\nauthorization: {}\r\n\
             content-length: {}\r\n\r\n",
            self.addr,
            self.authorization,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        request
    }

    /// A whole `GET /healthz` request.
    fn health_check(&self) -> Vec<u8> {
        format!("GET /healthz HTTP/1.1\r\nhost: {}\r\n\r\n", self.addr).into_bytes()
    }

    /// Sends a pre-built request over client `client`'s own connection (opened on first use)
    /// and checks the answer as [`Target::post`] does.
    async fn send(&self, client: usize, request: &[u8]) {
        ClientCpu(Box::pin(async {
            let mut slot = self.connections[client].lock().await;
            if slot.is_none() {
                *slot = Some(RawConnection::connect(self.addr).await);
            }
            let connection = slot.as_mut().expect("connected above");
            let (status, body) = connection.exchange(request).await;
            let text = std::str::from_utf8(body).expect("the answer is UTF-8");
            assert!(
                status == 200 && !text.contains("\"errors\""),
                "{status}: {text}"
            );
        }))
        .await
    }

    /// Posts a GraphQL request and returns the raw answer, failing on any non-200 status or
    /// GraphQL error so a broken run cannot pass for a fast one.
    async fn post(&self, body: Vec<u8>) -> impl AsRef<[u8]> {
        let response = self
            .http
            .post(&*self.url)
            .header("content-type", "application/json")
            .header("accept", "application/graphql-response+json")
            .header("authorization", &*self.authorization)
            .body(body)
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let answer = response.bytes().await.expect("read the answer");
        assert!(
            status.is_success() && !contains(&answer, b"\"errors\""),
            "{status}: {}",
            String::from_utf8_lossy(&answer)
        );
        answer
    }

    async fn graphql(&self, query: &str, variables: Value) -> Value {
        let body = serde_json::to_vec(&json!({ "query": query, "variables": variables }))
            .expect("serialise a request");
        serde_json::from_slice(self.post(body).await.as_ref()).expect("the answer is JSON")
    }

    /// Opens `clients` connections, so a measured run does not pay for connecting.
    async fn warm(&self, clients: usize) {
        let request = Arc::new(self.health_check());
        let tasks: Vec<_> = (0..clients)
            .map(|client| {
                let target = self.clone();
                let request = request.clone();
                tokio::spawn(async move {
                    for _ in 0..3 {
                        target.send(client, &request).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a warm-up client panicked");
        }
    }

    /// `load`'s appends, each posting the JSON body that `body(client, n)` gives.
    async fn appends(&self, load: Load, body: impl Fn(usize, usize) -> Value) -> Measured {
        self.warm(load.clients).await;
        // Every append differs; all are built before the clock starts.
        let requests: Arc<Vec<Vec<Vec<u8>>>> = Arc::new(
            (0..load.clients)
                .map(|client| {
                    (0..load.each)
                        .map(|n| {
                            self.request(
                                &serde_json::to_vec(&body(client, n)).expect("serialise an append"),
                            )
                        })
                        .collect()
                })
                .collect(),
        );
        let target = self.clone();
        drive(load, move |client, n| {
            let target = target.clone();
            let requests = requests.clone();
            async move {
                target.send(client, &requests[client][n]).await;
            }
        })
        .await
    }

    /// `load`'s `recordSeminar` mutations, with the server's own timings of them.
    async fn mutations(&self, load: Load) -> Measured {
        let before = self.server_timings().await;
        let mut measured = self.appends(load, record_seminar).await;
        measured.server = Some(self.server_timings().await.since(before));
        measured
    }

    async fn queries(&self, load: Load) -> Measured {
        self.warm(load.clients).await;
        let request: Arc<[u8]> = self
            .request(
                &serde_json::to_vec(&json!({
                    "query": TABLE_QUERY,
                    "variables": { "plan": PLAN },
                }))
                .expect("serialise the table query"),
            )
            .into();
        let before = self.server_timings().await;
        let target = self.clone();
        let mut measured = drive(load, move |client, _| {
            let target = target.clone();
            let request = request.clone();
            async move {
                target.send(client, &request).await;
            }
        })
        .await;
        measured.server = Some(self.server_timings().await.since(before));
        measured
    }

    /// `GET /healthz` (no GraphQL, no store): what one HTTP round trip costs on this
    /// machine with this client, the floor under every GraphQL request.
    async fn health_checks(&self, load: Load) -> Measured {
        self.warm(load.clients).await;
        let request: Arc<[u8]> = self.health_check().into();
        let target = self.clone();
        drive(load, move |client, _| {
            let target = target.clone();
            let request = request.clone();
            async move {
                target.send(client, &request).await;
            }
        })
        .await
    }

    /// The server's own timing histograms, from `/metrics`.
    async fn server_timings(&self) -> ServerTimings {
        let url = self.url.replace("/graphql", "/metrics");
        let text = self
            .http
            .get(url)
            .send()
            .await
            .expect("the server answers /metrics")
            .text()
            .await
            .expect("read /metrics");
        ServerTimings::parse(&text)
    }
}

/// One keep-alive HTTP/1.1 connection of the load client, speaking just enough HTTP to send
/// a pre-built request and read a `content-length`-framed answer. reqwest's per-request work
/// (header maps, the pool, body streams) cost 55-65 µs of CPU per request on the same two
/// cores the server runs on; this costs a few syscalls.
struct RawConnection {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

impl RawConnection {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect to the server");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        Self {
            stream,
            buffer: Vec::with_capacity(64 * 1024),
        }
    }

    /// Writes `request` and reads the whole answer: its status and body.
    async fn exchange(&mut self, request: &[u8]) -> (u16, &[u8]) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.stream
            .write_all(request)
            .await
            .expect("send the request");
        self.buffer.clear();
        let mut framing = None;
        loop {
            if framing.is_none() {
                framing = parse_head(&self.buffer);
            }
            if let Some((_, body_start, length)) = framing {
                if self.buffer.len() >= body_start + length {
                    break;
                }
            }
            if self.buffer.capacity() == self.buffer.len() {
                self.buffer.reserve(self.buffer.len());
            }
            let read = self
                .stream
                .read_buf(&mut self.buffer)
                .await
                .expect("read the answer");
            assert!(read > 0, "the server closed the connection mid-answer");
        }
        let (status, body_start, length) = framing.expect("the loop ends framed");
        assert_eq!(
            self.buffer.len(),
            body_start + length,
            "nothing follows an answer on a connection with one request in flight"
        );
        (status, &self.buffer[body_start..])
    }
}

/// The status, body offset and body length of an HTTP/1.1 response whose head is complete in
/// `buffer`; `None` while it is not.
fn parse_head(buffer: &[u8]) -> Option<(u16, usize, usize)> {
    let head_end = buffer.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buffer[..head_end]).expect("the response head is text");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let length = lines
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length").then(|| {
                value
                    .trim()
                    .parse::<usize>()
                    .expect("a numeric content-length")
            })
        })
        .expect("the server frames answers with content-length");
    Some((status, head_end + 4, length))
}

/// Totals of the server's duration histograms; the difference over a run gives the mean
/// time a request spent in the server, and an append in the store.
#[derive(Clone, Default)]
struct ServerTimings {
    graphql_seconds: f64,
    graphql_requests: f64,
    /// Cumulative histogram of GraphQL request durations: (upper bound in seconds, count).
    graphql_buckets: Vec<(f64, f64)>,
    append_seconds: f64,
    appends: f64,
    /// GraphQL requests answered from the server's answer cache, and looked up but not found.
    cache_hits: f64,
    cache_misses: f64,
}

impl ServerTimings {
    fn parse(metrics: &str) -> Self {
        let value = |name: &str| {
            metrics
                .lines()
                .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let graphql = "{endpoint=\"graphql\"}";
        let graphql_buckets = metrics
            .lines()
            .filter_map(|line| {
                let labels = line
                    .strip_prefix("kpi_http_request_duration_seconds_bucket{")?
                    .split_once('}')?;
                if !labels.0.contains("endpoint=\"graphql\"") {
                    return None;
                }
                let bound = labels.0.split("le=\"").nth(1)?.split('"').next()?;
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse().ok()?
                };
                Some((bound, labels.1.trim().parse().ok()?))
            })
            .collect();
        Self {
            graphql_seconds: value(&format!("kpi_http_request_duration_seconds_sum{graphql}")),
            graphql_requests: value(&format!("kpi_http_request_duration_seconds_count{graphql}")),
            graphql_buckets,
            append_seconds: value("kpi_append_duration_seconds_sum"),
            appends: value("kpi_append_duration_seconds_count"),
            cache_hits: value("kpi_graphql_cache_lookups_total{outcome=\"hit\"}"),
            cache_misses: value("kpi_graphql_cache_lookups_total{outcome=\"miss\"}"),
        }
    }

    fn since(&self, earlier: ServerTimings) -> ServerTimings {
        let earlier_count = |bound: f64| {
            earlier
                .graphql_buckets
                .iter()
                .find(|(le, _)| *le == bound)
                .map_or(0.0, |(_, count)| *count)
        };
        ServerTimings {
            graphql_seconds: self.graphql_seconds - earlier.graphql_seconds,
            graphql_requests: self.graphql_requests - earlier.graphql_requests,
            graphql_buckets: self
                .graphql_buckets
                .iter()
                .map(|&(le, count)| (le, count - earlier_count(le)))
                .collect(),
            append_seconds: self.append_seconds - earlier.append_seconds,
            appends: self.appends - earlier.appends,
            cache_hits: self.cache_hits - earlier.cache_hits,
            cache_misses: self.cache_misses - earlier.cache_misses,
        }
    }

    /// The histogram bucket bound under which 99% of the GraphQL requests completed in the
    /// server: an upper bound of the server-side p99 (the buckets are 2-2.5x apart).
    fn request_p99_bound(&self) -> Option<f64> {
        let total = self.graphql_requests;
        self.graphql_buckets
            .iter()
            .find(|(_, count)| total > 0.0 && *count >= 0.99 * total)
            .map(|(le, _)| *le)
    }

    /// Share of the cache lookups answered from the cache; `-` when nothing was looked up
    /// (mutations are not).
    fn cache_hit_share(&self) -> String {
        let lookups = self.cache_hits + self.cache_misses;
        if lookups > 0.0 {
            format!("{:.1}%", 100.0 * self.cache_hits / lookups)
        } else {
            "-".into()
        }
    }

    /// Mean time of a GraphQL request in the server (routing to response written).
    fn request_mean(&self) -> Option<Duration> {
        mean(self.graphql_seconds, self.graphql_requests)
    }

    /// Mean time of the store append inside a mutation (append call to on disk).
    fn append_mean(&self) -> Option<Duration> {
        mean(self.append_seconds, self.appends)
    }
}

fn mean(seconds: f64, count: f64) -> Option<Duration> {
    (count > 0.0).then(|| Duration::from_secs_f64(seconds / count))
}

fn at_most(bound: Option<f64>) -> String {
    match bound {
        Some(seconds) if seconds.is_finite() => format!("<= {} ms", seconds * 1e3),
        Some(_) => "> 10 s".into(),
        None => "-".into(),
    }
}

fn or_dash(duration: Option<Duration>) -> String {
    duration.map_or_else(|| "-".into(), ms)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A ledger served on an ephemeral loopback port, with a recorder token.
struct Served {
    ledger: Ledger,
    /// The server as the binary runs it, with the answer cache.
    target: Target,
    /// The same ledger served without the answer cache: what every query costs when its
    /// answer is not cached (the first after each write).
    uncached: Target,
    /// The same ledger behind a bench-only route without GraphQL ([`serve_plain`]).
    plain: Target,
    stops: Vec<oneshot::Sender<()>>,
    servings: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Served {
    async fn start(ledger: Ledger) -> Self {
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
            app = app.with_query_cache(move || {
                DataVersion(version.view_version(), version.head().position)
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

    async fn shut_down(self) {
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
struct Runtimes {
    server: Runtime,
    /// `KPI_BENCH_CLIENT_RUNTIME=separate`: the load client on a runtime (and thread) of its
    /// own. By default its tasks run on the server's runtime: a third busy thread on two cores
    /// gets server workers preempted for milliseconds at a time, with requests queued on them,
    /// which a client on another machine would not cause (docs/benchmarks.md has both).
    separate_client: Option<Runtime>,
}

impl Runtimes {
    fn new() -> Self {
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
    fn client(&self) -> &Runtime {
        self.separate_client.as_ref().unwrap_or(&self.server)
    }
}

/// Measures and prints every HTTP workload against one served ledger.
fn http_workloads(runtimes: &Runtimes, served: &Served, label: &str, query_loads: &[Load]) {
    let target = served.target.clone();
    // One request of each kind first: checks the answers and warms the schema's caches.
    let table = runtimes
        .client()
        .block_on(target.graphql(TABLE_QUERY, json!({ "plan": PLAN })));
    let table = &table["data"]["kpiTable"];
    assert_eq!(table["planId"], PLAN);
    assert_eq!(table["position"], served.ledger.head().position);
    let rows = table["rows"].as_array().expect("rows");
    assert!(rows.iter().any(|row| !row["cumulative"].is_null()));
    let recorded = runtimes.client().block_on(target.graphql(
        RECORD_SEMINAR,
        json!({ "input": seminar_input(usize::MAX, 0) }),
    ));
    assert_eq!(
        recorded["data"]["recordSeminar"]["position"],
        served.ledger.head().position
    );

    println!(
        "\n### {label}: {} events, {} KPI rows\n",
        served.ledger.head().position,
        rows.len()
    );
    println!(
        "| workload | clients | requests | per second | p50 | p99 | max | mean: seen by client \
         / in server / store append | p99 in server | CPU per request (of it load client) | \
         answered from cache |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for load in MUTATION_LOADS {
        let before = served.ledger.head().position;
        let measured = runtimes.client().block_on(target.mutations(load));
        assert_eq!(
            served.ledger.head().position - before,
            measured.done as u64,
            "every acknowledged mutation appended exactly one event"
        );
        print_row("recordSeminar", load, &measured);
    }
    for &load in query_loads {
        let measured = runtimes.client().block_on(target.queries(load));
        print_row("kpiTable", load, &measured);
    }
    for &load in UNCACHED_QUERY_LOADS {
        let measured = runtimes.client().block_on(served.uncached.queries(load));
        print_row("kpiTable, answer cache off", load, &measured);
    }
}

fn print_row(workload: &str, load: Load, measured: &Measured) {
    let (cpu, client_cpu) = measured.cpu_per_op();
    let server = measured.server.clone().unwrap_or_default();
    println!(
        "| {workload} | {} | {} | {:.0} | {} | {} | {} | {} / {} / {} | {} | {} ({}) | {} |{}",
        match load.pace {
            Some(period) => format!("{}, each 1 per {} ms", load.clients, period.as_millis()),
            None => load.clients.to_string(),
        },
        measured.done,
        measured.rate(),
        ms(measured.percentile(0.50)),
        ms(measured.percentile(0.99)),
        ms(*measured.latencies.last().expect("at least one request")),
        ms(measured.mean()),
        or_dash(server.request_mean()),
        or_dash(server.append_mean()),
        at_most(server.request_p99_bound()),
        us(cpu),
        us(client_cpu),
        server.cache_hit_share(),
        measured.capped_note(load.clients * load.each),
    );
}

/// Where a table query's time goes without HTTP: building the table from the projection,
/// then executing the GraphQL query in process (table, resolvers, JSON), one at a time.
fn in_process_costs(runtimes: &Runtimes, served: &Served) {
    let load = Load::closed(1, 100);
    let ledger = served.ledger.clone();
    let table = runtimes.server.block_on(drive(load, move |_, _| {
        let ledger = ledger.clone();
        async move {
            let table = ledger
                .table(PLAN, None, None)
                .await
                .expect("the plan exists");
            std::hint::black_box(table);
        }
    }));
    let ledger = served.ledger.clone();
    let values = runtimes.server.block_on(drive(load, move |_, _| {
        let ledger = ledger.clone();
        async move {
            let table = ledger.projection().table_values(PLAN);
            std::hint::black_box(table.expect("the plan exists"));
        }
    }));
    let schema = Arc::new(kpi_graphql::build_schema(served.ledger.clone()));
    let execute = runtimes.server.block_on(drive(load, move |_, _| {
        let schema = schema.clone();
        async move {
            let request = async_graphql::Request::new(TABLE_QUERY)
                .variables(async_graphql::Variables::from_json(json!({ "plan": PLAN })))
                .data(caller(Role::Reader));
            let response = schema.execute(request).await;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            std::hint::black_box(serde_json::to_vec(&response).expect("serialise"));
        }
    }));
    println!(
        "\nkpiTable in process, one at a time, {} rounds:\n",
        load.each
    );
    println!("| step | p50 | p99 | CPU per call |");
    println!("|---|---:|---:|---:|");
    for (step, measured) in [
        ("Ledger::table (figures and drill-down id lists)", &table),
        ("Projection::table_values (figures only)", &values),
        ("schema.execute + JSON (no HTTP)", &execute),
    ] {
        println!(
            "| {step} | {} | {} | {} |",
            ms(measured.percentile(0.50)),
            ms(measured.percentile(0.99)),
            us(measured.cpu_per_op().0),
        );
    }
}

/// CPU to parse one GraphQL document (async-graphql's parser), the part of every request
/// that does not depend on the ledger.
fn parse_cost(document: &str) -> Duration {
    const ROUNDS: u32 = 2_000;
    let cpu = CpuUsed::now();
    for _ in 0..ROUNDS {
        let parsed = async_graphql::parser::parse_query(document).expect("the document parses");
        std::hint::black_box(parsed);
    }
    CpuUsed::now().since(cpu).process / ROUNDS
}

fn caller(role: Role) -> kpi_service::auth::Caller {
    kpi_service::auth::Caller::Token {
        name: "bench".into(),
        role,
    }
}

/// One layer of the append path, measured on its own at the ratio's client count.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layer {
    /// `EventStore::append` on a fresh store: the baseline.
    Store,
    /// `Ledger::record_payload`: domain validation, append, wait for the projection.
    Ledger,
    /// The same append over HTTP without GraphQL: a bench-only poem route whose JSON body is
    /// the event's payload, handed to `Ledger::record_payload`. What any GraphQL layer starts
    /// from: HTTP, JSON and the ledger, and nothing else.
    PlainHttp,
    /// `Schema::execute` of `recordSeminar` in process: GraphQL parse, validate, resolve.
    Schema,
    /// The real thing: `recordSeminar` over HTTP through kpi-server.
    Http,
}

impl Layer {
    const ALL: [Layer; 5] = [
        Layer::Store,
        Layer::Ledger,
        Layer::PlainHttp,
        Layer::Schema,
        Layer::Http,
    ];

    /// Where the layer's runs are kept: its place in [`Layer::ALL`].
    fn index(self) -> usize {
        Layer::ALL
            .iter()
            .position(|layer| *layer == self)
            .expect("every layer is in ALL")
    }

    fn label(self) -> &'static str {
        match self {
            Layer::Store => "EventStore::append (in process, fresh store)",
            Layer::Ledger => "Ledger::record_payload (in process)",
            Layer::PlainHttp => "Ledger::record_payload over plain HTTP (no GraphQL)",
            Layer::Schema => "schema.execute(recordSeminar) (in process)",
            Layer::Http => "recordSeminar over HTTP",
        }
    }

    fn measure(self, runtimes: &Runtimes, served: &Served) -> Measured {
        self.measure_with(runtimes, served, STORE_BASELINE)
    }

    fn measure_with(self, runtimes: &Runtimes, served: &Served, load: Load) -> Measured {
        match self {
            Layer::Store => store_baseline(runtimes, load),
            Layer::Ledger => {
                let ledger = served.ledger.clone();
                runtimes.server.block_on(drive(load, move |client, n| {
                    let ledger = ledger.clone();
                    async move {
                        ledger
                            .record_payload(
                                "bench",
                                "seminar",
                                &seminar_payload(client, n),
                                Default::default(),
                            )
                            .await
                            .expect("record a seminar");
                    }
                }))
            }
            Layer::Schema => {
                let schema = Arc::new(
                    ServerConfig::default()
                        .limits
                        .apply(kpi_graphql::schema_builder(served.ledger.clone()))
                        .finish(),
                );
                runtimes.server.block_on(drive(load, move |client, n| {
                    let schema = schema.clone();
                    async move {
                        let request = async_graphql::Request::new(RECORD_SEMINAR)
                            .variables(async_graphql::Variables::from_json(
                                json!({ "input": seminar_input(client, n) }),
                            ))
                            .data(caller(Role::Recorder));
                        let response = schema.execute(request).await;
                        assert!(response.errors.is_empty(), "{:?}", response.errors);
                        std::hint::black_box(serde_json::to_vec(&response).expect("serialise"));
                    }
                }))
            }
            Layer::PlainHttp => runtimes
                .client()
                .block_on(served.plain.appends(load, seminar_payload)),
            Layer::Http => runtimes.client().block_on(served.target.mutations(load)),
        }
    }
}

/// The GraphQL append path against `EventStore::append` in process, at the same client
/// count, with the layers in between measured alike so the loss can be placed. The machine
/// is shared, so every layer is measured once per round, in rounds, and medians reported,
/// with the HTTP/store ratio of each round besides.
fn append_ratio(runtimes: &Runtimes, served: &Served) {
    const ROUNDS: usize = 5;
    println!(
        "\nappend path at {} clients, {} single-event appends each, {ROUNDS} rounds:\n",
        STORE_BASELINE.clients, STORE_BASELINE.each
    );
    let mut runs: Vec<Vec<Measured>> = Layer::ALL.iter().map(|_| Vec::new()).collect();
    ACCOUNT_CLIENT_CPU.store(false, Ordering::Relaxed);
    for _ in 0..ROUNDS {
        for (index, layer) in Layer::ALL.into_iter().enumerate() {
            runs[index].push(layer.measure(runtimes, served));
        }
    }
    ACCOUNT_CLIENT_CPU.store(true, Ordering::Relaxed);
    // In round order, before the sorting below.
    let round_rates: Vec<Vec<f64>> = runs
        .iter()
        .map(|measured| measured.iter().map(Measured::rate).collect())
        .collect();
    println!(
        "| layer | appends/s per round | median /s | p50 / p99 (median round) | CPU per append | \
         x store |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let median_rate = |measured: &mut Vec<Measured>| {
        measured.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        measured[ROUNDS / 2].rate()
    };
    let store_rate = median_rate(&mut runs[0]);
    for (layer, measured) in Layer::ALL.into_iter().zip(runs.iter_mut()) {
        let rates: Vec<String> = measured
            .iter()
            .map(|m| format!("{:.0}", m.rate()))
            .collect();
        let rate = median_rate(measured);
        let median = &measured[ROUNDS / 2];
        println!(
            "| {} | {} | {rate:.0} | {} / {} | {} | {:.2}x |",
            layer.label(),
            rates.join(", "),
            ms(median.percentile(0.50)),
            ms(median.percentile(0.99)),
            us(median.cpu_per_op().0),
            rate / store_rate,
        );
    }
    ACCOUNT_CLIENT_CPU.store(false, Ordering::Relaxed);
    let floor = runtimes
        .client()
        .block_on(served.target.health_checks(STORE_BASELINE));
    ACCOUNT_CLIENT_CPU.store(true, Ordering::Relaxed);
    println!(
        "\nthe HTTP floor, GET /healthz at the same client count: {:.0}/s, p50 {}, CPU per \
         request {} (load client, kernel and server together)",
        floor.rate(),
        ms(floor.percentile(0.50)),
        us(floor.cpu_per_op().0),
    );
    println!(
        "\nparsing the document alone: recordSeminar {}, kpiTable {} of CPU",
        us(parse_cost(RECORD_SEMINAR)),
        us(parse_cost(TABLE_QUERY)),
    );
    // Each round's HTTP rate over the same round's store rate: the machine's slow drifts
    // (the baseline moves by half between rounds) hit both sides of a pair alike.
    for layer in [Layer::Http, Layer::PlainHttp] {
        let index = layer.index();
        let mut paired: Vec<f64> = (0..ROUNDS)
            .map(|round| round_rates[index][round] / round_rates[0][round])
            .collect();
        let listed: Vec<String> = paired.iter().map(|r| format!("{r:.2}x")).collect();
        paired.sort_by(f64::total_cmp);
        println!(
            "\n{} / EventStore::append, round by round: {}; median {:.2}x",
            layer.label(),
            listed.join(", "),
            paired[ROUNDS / 2],
        );
    }
    if let Some(http) = runs[Layer::Http.index()].get(ROUNDS / 2) {
        let server = http.server.clone().unwrap_or_default();
        println!(
            "\nover HTTP (median round), mean latency: {} seen by the client, {} in the server, \
             {} in the store append",
            ms(http.mean()),
            or_dash(server.request_mean()),
            or_dash(server.append_mean()),
        );
    }
}

/// `EventStore::append` in process, on a fresh store: the ceiling the GraphQL path is
/// compared with.
fn store_baseline(runtimes: &Runtimes, load: Load) -> Measured {
    let dir = tempfile::tempdir().expect("a temporary directory");
    runtimes.server.block_on(async {
        let store = EventStore::open(dir.path(), StoreConfig::default()).expect("open a store");
        let appender = store.clone();
        let measured = drive(load, move |client, n| {
            let store = appender.clone();
            async move {
                let (stream, event) = seminar_envelope(client, n);
                store
                    .append(&stream, ExpectedVersion::Any, vec![event])
                    .await
                    .expect("append");
            }
        })
        .await;
        assert_eq!(store.head().position, measured.done as u64);
        store.close().await;
        measured
    })
}

/// Writes `events` seed-shaped events straight into a store, 1,000 per append.
async fn generate(dir: &Path, events: u64) {
    let templates: Vec<NewEvent> = seed_records()
        .into_iter()
        .map(|record| kpi_service::new_event(&record.event, "bench"))
        .collect();
    let store = EventStore::open(dir, StoreConfig::default()).expect("open the large store");
    let batch = 1_000u64;
    let mut written = 0u64;
    while written < events {
        let n = batch.min(events - written);
        let batch_events = (written..written + n)
            .map(|i| templates[(i % templates.len() as u64) as usize].clone())
            .collect();
        let stream = StreamId::parse(format!("bench/{}", written / batch)).expect("stream id");
        store
            .append(&stream, ExpectedVersion::Any, batch_events)
            .await
            .expect("append a batch");
        written += n;
    }
    store.close().await;
}

/// `KPI_BENCH_PROFILE=append|table`: one longer 32-client run of one workload on the seed
/// store and nothing else, so a profiler attached to the bench sees that workload alone;
/// `=schema|ledger|store`: the same for one in-process layer of the append path; `=plain`
/// the append over HTTP without GraphQL.
/// `KPI_BENCH_PROFILE_EACH=N` sets the requests per client (300 by default).
fn profile_only(runtimes: &Runtimes, served: &Served, workload: &str) {
    let each = std::env::var("KPI_BENCH_PROFILE_EACH")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let load = Load::closed(32, each);
    let measured = match workload {
        "append" => runtimes.client().block_on(served.target.mutations(load)),
        "table" => runtimes.client().block_on(served.target.queries(load)),
        "schema" => Layer::Schema.measure_with(runtimes, served, load),
        "ledger" => Layer::Ledger.measure_with(runtimes, served, load),
        "store" => Layer::Store.measure_with(runtimes, served, load),
        "plain" => Layer::PlainHttp.measure_with(runtimes, served, load),
        other => panic!(
            "KPI_BENCH_PROFILE must be `append`, `table`, `schema`, `ledger`, `store` or \
             `plain`, not `{other}`"
        ),
    };
    print_row(workload, load, &measured);
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    kpi_alloc::configure();
    kpi_alloc::start_purger().expect("start the allocator's purger");
    let large: u64 = std::env::var("KPI_BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let runtimes = Runtimes::new();
    println!(
        "machine: {} cores, load average {} at start; server (2 runtime threads) and load \
         client in one process, the client {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
        if runtimes.separate_client.is_some() {
            "on a runtime and thread of its own"
        } else {
            "on the server's runtime"
        },
    );

    // The Fuji seed: the real table.
    let seeded_dir = tempfile::tempdir().expect("a temporary directory");
    let served = runtimes.server.block_on(async {
        let ledger = Ledger::open(seeded_dir.path(), StoreConfig::default(), plans())
            .await
            .expect("open the seeded ledger");
        let records = seed_records().into_iter().map(ImportRecord::from).collect();
        ledger
            .import("bench-seed", records)
            .await
            .expect("import the Fuji seed");
        Served::start(ledger).await
    });
    if let Ok(workload) = std::env::var("KPI_BENCH_PROFILE") {
        profile_only(&runtimes, &served, &workload);
        runtimes.server.block_on(served.shut_down());
        return;
    }
    http_workloads(&runtimes, &served, "Fuji seed store", &QUERY_LOADS);
    in_process_costs(&runtimes, &served);
    append_ratio(&runtimes, &served);
    runtimes.server.block_on(served.shut_down());

    if large == 0 {
        println!("\nKPI_BENCH_EVENTS=0: large store skipped");
    } else {
        let large_dir = tempfile::tempdir().expect("a temporary directory");
        let started = Instant::now();
        runtimes.server.block_on(generate(large_dir.path(), large));
        println!(
            "\nwrote {large} events in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        // Opening a log without a checkpoint folds it all and then writes a checkpoint in
        // the background, which takes both cores and the disk for seconds. The workloads
        // measure a server restarted on the large store instead: the first open (replay,
        // with no background checkpoint) is closed, which writes the checkpoint, and the
        // ledger is opened again from it.
        let started = Instant::now();
        runtimes.server.block_on(async {
            let no_background_checkpoint = LedgerConfig {
                checkpoint_every_events: 0,
                ..LedgerConfig::default()
            };
            Ledger::open_with_config(
                large_dir.path(),
                StoreConfig::default(),
                no_background_checkpoint,
                plans(),
            )
            .await
            .expect("open the large ledger")
            .close()
            .await
        });
        println!(
            "opened the ledger (replay of the whole log) and closed it (checkpoint) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let served = runtimes.server.block_on(async {
            let ledger = Ledger::open(large_dir.path(), StoreConfig::default(), plans())
                .await
                .expect("open the large ledger again");
            Served::start(ledger).await
        });
        println!(
            "opened it again from the checkpoint in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        http_workloads(&runtimes, &served, "large store", &QUERY_LOADS);
        in_process_costs(&runtimes, &served);
        runtimes.server.block_on(served.shut_down());
    }
    println!("\nload average {} at the end", load_average());
}
