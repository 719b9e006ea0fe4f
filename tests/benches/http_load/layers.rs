//! The append path layer by layer: `EventStore::append` on a fresh store (the baseline), the
//! ledger, the ledger over plain HTTP, the schema in process and `recordSeminar` over HTTP,
//! measured alike in paired rounds so the loss against the store can be placed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kpi_server::ServerConfig;
use kpi_service::auth::Role;
use kpi_store::{EventStore, ExpectedVersion, StoreConfig};
use serde_json::json;

use crate::cpu::{CpuUsed, ACCOUNT_CLIENT_CPU};
use crate::fixtures::{
    caller, seminar_envelope, seminar_input, seminar_payload, RECORD_SEMINAR, TABLE_QUERY,
};
use crate::measure::{drive, ms, or_dash, us, Load, Measured};
use crate::servers::{Runtimes, Served};

/// The append ratio's load, for both paths: long enough that the store's run is not over in
/// a few group commits.
const STORE_BASELINE: Load = Load::closed(32, 400);

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

/// One layer of the append path, measured on its own at the ratio's client count.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layer {
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

    pub(crate) fn measure_with(self, runtimes: &Runtimes, served: &Served, load: Load) -> Measured {
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
pub(crate) fn append_ratio(runtimes: &Runtimes, served: &Served) {
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
