//! Durable appends per second: kpi-store on sled, kpi-store on PostgreSQL (its PostgreSQL
//! backend) and plain PostgreSQL 15 inserts on loopback, same workload.
//!
//! Run: `cargo bench -p kpi-store --bench append`
//!
//! Workloads: 1, 8, 32 and 64 concurrent appenders doing single-event appends, and 1 and 8
//! appenders doing batches of 100 events; every event is a seminar-shaped record (~300 bytes
//! of JSON). Each appender owns a stream and appends with an exact expected version. An
//! append counts once it returned, i.e. once it is durable: for kpi-store after the group
//! commit's flush, for PostgreSQL after COMMIT with `synchronous_commit = on`.
//!
//! Each workload runs three rounds (`KPI_BENCH_ROUNDS`), alternating the systems so all see
//! the same background load; the median round of each is printed.
//!
//! PostgreSQL: the bench starts a cluster with `initdb` and `pg_ctl` from
//! `/usr/lib/postgresql/15/bin` in a temporary directory on a port of its own (as the
//! `postgres` user via `runuser` when run as root, since they refuse root; the same helper as
//! the store's tests, `tests/common/cluster.rs`), and stops it at the end. The plain inserts
//! use one connection per appender; the kpi-store PostgreSQL backend gets a fresh database per
//! round and commits groups through its one writer connection. Without those binaries the
//! bench says so and measures kpi-store on sled alone (`apt-get install -y postgresql-15`).

use std::time::{Duration, Instant};

use kpi_store::{Backend, EventStore, ExpectedVersion, NewEvent, Occurred, StoreConfig, StreamId};
use serde_json::json;

/// A workload stops early when it runs this long, so one bench run stays within minutes.
const TIME_CAP: Duration = Duration::from_secs(20);

#[derive(Clone, Copy)]
struct Workload {
    appenders: usize,
    batch: usize,
    /// Appends each appender makes.
    appends_each: usize,
}

impl Workload {
    fn label(&self) -> String {
        let unit = if self.batch == 1 {
            "single-event appends".to_owned()
        } else {
            format!("batches of {}", self.batch)
        };
        format!("{} appender(s), {unit}", self.appenders)
    }
}

const WORKLOADS: [Workload; 6] = [
    Workload {
        appenders: 1,
        batch: 1,
        appends_each: 2_000,
    },
    Workload {
        appenders: 8,
        batch: 1,
        appends_each: 1_000,
    },
    Workload {
        appenders: 32,
        batch: 1,
        appends_each: 1_000,
    },
    Workload {
        appenders: 64,
        batch: 1,
        appends_each: 500,
    },
    Workload {
        appenders: 1,
        batch: 100,
        appends_each: 200,
    },
    Workload {
        appenders: 8,
        batch: 100,
        appends_each: 50,
    },
];

/// Rounds per workload and system (`KPI_BENCH_ROUNDS`, default 3); the median is reported.
fn rounds() -> usize {
    std::env::var("KPI_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3)
}

fn median(mut rounds: Vec<Measured>) -> Measured {
    rounds.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    rounds.swap_remove(rounds.len() / 2)
}

/// One measured run: durable events per second and per-append latency.
struct Measured {
    events: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    fn from_latencies(events: usize, elapsed: Duration, mut latencies: Vec<Duration>) -> Self {
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        Self {
            events,
            elapsed,
            p50: at(0.50),
            p99: at(0.99),
        }
    }
}

fn seminar(appender: usize, n: usize, index: usize) -> (NewEvent, String) {
    let key = format!("bench:{appender}:{n}:{index}");
    let event = NewEvent::new(
        "SeminarHeld",
        "2024-06-14".parse::<Occurred>().unwrap(),
        "clerk:industry-policy",
        json!({
            "title": "テレワーク導入セミナー（企業向け）",
            "venue": "富士市産業支援センター f-Biz",
            "fiscal_year": 2024,
            "held_on": "2024-06-14",
            "format": "hybrid",
            "attendees": 20 + (n % 40),
            "companies": 5 + (n % 12),
            "organizer": "Fuji City, Industry Policy Division",
            "kpi": "telework-seminar-attendees",
        }),
    )
    .with_idempotency_key(key.clone())
    .with_provenance("benchmark");
    (event, key)
}

/// kpi-store on sled (`on` is `None`), or on a fresh database of the PostgreSQL cluster.
async fn bench_store(workload: Workload, on: Option<&Postgres>) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let config = match on {
        None => StoreConfig::default(),
        Some(postgres) => StoreConfig {
            backend: Backend::Postgres,
            postgres: kpi_store::PostgresConfig {
                url: Some(postgres.database()),
                ..kpi_store::PostgresConfig::unset()
            },
            ..StoreConfig::default()
        },
    };
    let store = EventStore::open(dir.path(), config).unwrap();
    let deadline = Instant::now() + TIME_CAP;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for appender in 0..workload.appenders {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let stream: StreamId = format!("seminar:bench-{appender}").parse().unwrap();
            let mut latencies = Vec::with_capacity(workload.appends_each);
            let mut events = 0;
            for n in 0..workload.appends_each {
                if Instant::now() > deadline {
                    break;
                }
                let batch = (0..workload.batch)
                    .map(|index| seminar(appender, n, index).0)
                    .collect();
                let expected = ExpectedVersion::Exact((n * workload.batch) as u64);
                let sent = Instant::now();
                let written = store.append(&stream, expected, batch).await.unwrap();
                latencies.push(sent.elapsed());
                events += written.len();
            }
            (events, latencies)
        }));
    }
    let mut events = 0;
    let mut latencies = Vec::new();
    for task in tasks {
        let (n, l) = task.await.unwrap();
        events += n;
        latencies.extend(l);
    }
    let elapsed = started.elapsed();
    assert_eq!(store.head().position, events as u64);
    store.verify().expect("the benchmarked log verifies");
    store.close().await;
    Measured::from_latencies(events, elapsed, latencies)
}

#[path = "../tests/common/cluster.rs"]
mod cluster;

use cluster::Cluster as Postgres;

async fn connect(postgres: &Postgres) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&postgres.url("postgres"), tokio_postgres::NoTls)
            .await
            .expect("connect to the bench PostgreSQL");
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("postgres connection: {error}");
        }
    });
    client
}

const PG_SCHEMA: &str = "
    DROP TABLE IF EXISTS events;
    CREATE TABLE events (
        position        bigserial PRIMARY KEY,
        event_id        uuid NOT NULL UNIQUE,
        stream_id       text NOT NULL,
        stream_version  bigint NOT NULL,
        event_type      text NOT NULL,
        schema_version  integer NOT NULL,
        occurred        text NOT NULL,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        actor           text NOT NULL,
        provenance      text,
        idempotency_key text UNIQUE,
        payload         jsonb NOT NULL,
        UNIQUE (stream_id, stream_version)
    );";

/// One INSERT of `rows` events, so a batch is one statement in one transaction.
fn pg_insert(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, \
         occurred, actor, provenance, idempotency_key, payload) VALUES ",
    );
    for row in 0..rows {
        let p = row * 10;
        if row > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6,
            p + 7,
            p + 8,
            p + 9,
            p + 10
        ));
    }
    sql
}

async fn bench_postgres(postgres: &Postgres, workload: Workload) -> Measured {
    connect(postgres)
        .await
        .batch_execute(PG_SCHEMA)
        .await
        .unwrap();
    let mut clients = Vec::new();
    for _ in 0..workload.appenders {
        clients.push(connect(postgres).await);
    }
    let deadline = Instant::now() + TIME_CAP;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (appender, client) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let statement = client.prepare(&pg_insert(workload.batch)).await.unwrap();
            let stream = format!("seminar:bench-{appender}");
            let mut latencies = Vec::with_capacity(workload.appends_each);
            let mut events = 0;
            for n in 0..workload.appends_each {
                if Instant::now() > deadline {
                    break;
                }
                let rows: Vec<_> = (0..workload.batch)
                    .map(|index| {
                        let (event, key) = seminar(appender, n, index);
                        (
                            uuid::Uuid::now_v7(),
                            (n * workload.batch + index + 1) as i64,
                            event,
                            key,
                        )
                    })
                    .collect();
                let occurred: Vec<String> = rows.iter().map(|r| r.2.occurred.to_string()).collect();
                let schema_versions: Vec<i32> =
                    rows.iter().map(|r| r.2.schema_version as i32).collect();
                let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = Vec::new();
                for (row, (id, version, event, key)) in rows.iter().enumerate() {
                    params.push(id);
                    params.push(&stream);
                    params.push(version);
                    params.push(&event.event_type);
                    params.push(&schema_versions[row]);
                    params.push(&occurred[row]);
                    params.push(&event.actor);
                    params.push(&event.provenance);
                    params.push(key);
                    params.push(&event.payload);
                }
                let sent = Instant::now();
                // Autocommit: the INSERT is its own transaction, answered after the WAL flush.
                let inserted = client.execute(&statement, &params).await.unwrap();
                latencies.push(sent.elapsed());
                events += inserted as usize;
            }
            (events, latencies)
        }));
    }
    let mut events = 0;
    let mut latencies = Vec::new();
    for task in tasks {
        let (n, l) = task.await.unwrap();
        events += n;
        latencies.extend(l);
    }
    let elapsed = started.elapsed();
    Measured::from_latencies(events, elapsed, latencies)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // For profiling kpi-store alone: KPI_BENCH_STORE_ONLY=1.
        let store_only = std::env::var_os("KPI_BENCH_STORE_ONLY").is_some();
        let postgres = if store_only {
            println!("KPI_BENCH_STORE_ONLY is set: measuring kpi-store only");
            None
        } else if Postgres::available() {
            match Postgres::start() {
                Ok(postgres) => Some(postgres),
                Err(error) => {
                    println!("PostgreSQL could not be started, measuring kpi-store only: {error}");
                    None
                }
            }
        } else {
            println!(
                "PostgreSQL 15 binaries not found under {} \
                 (apt-get install -y postgresql-15); measuring kpi-store on sled only",
                cluster::PG_BIN
            );
            None
        };
        println!(
            "machine: {} cores; durable appends, seminar-shaped events\n",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        println!(
            "| workload | kpi-store on sled events/s | p50 / p99 append | kpi-store on PostgreSQL events/s | p50 / p99 append | plain PostgreSQL 15 INSERT events/s | p50 / p99 append |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        // For profiling one workload: KPI_BENCH_WORKLOADS=32x1,8x100 (appenders x batch).
        let only = std::env::var("KPI_BENCH_WORKLOADS").ok();
        let selected = |w: &Workload| {
            let name = if w.appenders == 0 {
                "replay".to_owned()
            } else {
                format!("{}x{}", w.appenders, w.batch)
            };
            only.as_deref()
                .is_none_or(|only| only.split(',').any(|item| item.trim() == name))
        };
        let shown = |measured: Option<&Measured>| match measured {
            Some(m) => (
                format!("{:.0}", m.rate()),
                format!("{:.2?} / {:.2?}", m.p50, m.p99),
            ),
            None => ("n/a".into(), "n/a".into()),
        };
        for workload in WORKLOADS.into_iter().filter(selected) {
            // Alternating rounds expose every system to the same background load; the
            // median round of each is reported.
            let mut on_sled = Vec::new();
            let mut on_postgres = Vec::new();
            let mut plain = Vec::new();
            for _ in 0..rounds() {
                on_sled.push(bench_store(workload, None).await);
                if let Some(postgres) = &postgres {
                    on_postgres.push(bench_store(workload, Some(postgres)).await);
                    plain.push(bench_postgres(postgres, workload).await);
                }
            }
            let on_sled = median(on_sled);
            let on_postgres = (!on_postgres.is_empty()).then(|| median(on_postgres));
            let plain = (!plain.is_empty()).then(|| median(plain));
            let (sled_rate, sled_latency) = shown(Some(&on_sled));
            let (store_pg_rate, store_pg_latency) = shown(on_postgres.as_ref());
            let (pg_rate, pg_latency) = shown(plain.as_ref());
            println!(
                "| {} | {sled_rate} | {sled_latency} | {store_pg_rate} | {store_pg_latency} | {pg_rate} | {pg_latency} |",
                workload.label(),
            );
            let capped = [Some(&on_sled), on_postgres.as_ref(), plain.as_ref()]
                .into_iter()
                .flatten()
                .any(|m| m.elapsed >= TIME_CAP);
            if capped {
                println!("  (a system stopped at the {TIME_CAP:?} cap)");
            }
        }
        drop(postgres);
        if selected(&REPLAY_WORKLOAD) {
            bench_replay().await;
        }
    });
}

/// Selects the replay measurement in `KPI_BENCH_WORKLOADS` (as `replay`).
const REPLAY_WORKLOAD: Workload = Workload {
    appenders: 0,
    batch: 0,
    appends_each: 0,
};

/// Sequential read throughput: `iter_from(1)` and `iter_raw_from(1)` over a store of seminar
/// events, the paths a projection rebuild takes. `KPI_BENCH_REPLAY_EVENTS` sets the count (200,000 by default).
async fn bench_replay() {
    let events: usize = std::env::var("KPI_BENCH_REPLAY_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), StoreConfig::default()).unwrap();
    let stream: StreamId = "seminar:replay".parse().unwrap();
    let mut written = 0;
    while written < events {
        let batch: Vec<NewEvent> = (0..(events - written).min(1_000))
            .map(|index| seminar(0, written, index).0)
            .collect();
        written += store
            .append(&stream, ExpectedVersion::Any, batch)
            .await
            .unwrap()
            .len();
    }
    let reader = store.clone();
    let ((read, elapsed), (raw_read, raw_elapsed)) = tokio::task::spawn_blocking(move || {
        let timed = |count: &mut dyn FnMut() -> usize| {
            let started = Instant::now();
            let read = count();
            (read, started.elapsed())
        };
        let parsed = timed(&mut || {
            reader.iter_from(1).fold(0, |n, e| {
                std::hint::black_box(e.unwrap());
                n + 1
            })
        });
        let raw = timed(&mut || {
            reader.iter_raw_from(1).fold(0, |n, e| {
                std::hint::black_box(e.unwrap());
                n + 1
            })
        });
        (parsed, raw)
    })
    .await
    .unwrap();
    assert_eq!((read, raw_read), (events, events));
    println!(
        "\nreplay of {read} stored events: iter_from(1) (payload parsed into a Value) \
         {elapsed:.2?}, {:.0} events/s; iter_raw_from(1) (payload left as JSON text) \
         {raw_elapsed:.2?}, {:.0} events/s",
        read as f64 / elapsed.as_secs_f64(),
        raw_read as f64 / raw_elapsed.as_secs_f64()
    );
    store.close().await;
}
