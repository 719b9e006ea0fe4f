//! The HTTP workloads: `recordSeminar` and `kpiTable` at 1, 32 and 64 clients against a
//! served ledger (with and without the answer cache), the table query's cost in process
//! without HTTP, the one-workload runs for a profiler, and the table rows they print.

use std::sync::Arc;
use std::time::Duration;

use kpi_service::auth::Role;
use kpi_service::{Detail, TableQuery};
use serde_json::{json, Value};

use crate::client::Target;
use crate::fixtures::{caller, record_seminar, seminar_input, PLAN, RECORD_SEMINAR, TABLE_QUERY};
use crate::layers::Layer;
use crate::measure::{drive, ms, or_dash, us, Load, Measured};
use crate::metrics::at_most;
use crate::servers::{Runtimes, Served};

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
pub(crate) const QUERY_LOADS: [Load; 4] = [
    Load::closed(1, 2_000),
    Load::closed(32, 1_000),
    Load::closed(64, 500),
    Load::paced(64, 50, Duration::from_millis(100)),
];

impl Target {
    /// `load`'s appends, each posting the JSON body that `body(client, n)` gives.
    pub(crate) async fn appends(
        &self,
        load: Load,
        body: impl Fn(usize, usize) -> Value,
    ) -> Measured {
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
    pub(crate) async fn mutations(&self, load: Load) -> Measured {
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
    pub(crate) async fn health_checks(&self, load: Load) -> Measured {
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
}

/// Measures and prints every HTTP workload against one served ledger.
pub(crate) fn http_workloads(
    runtimes: &Runtimes,
    served: &Served,
    label: &str,
    query_loads: &[Load],
) {
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
pub(crate) fn in_process_costs(runtimes: &Runtimes, served: &Served) {
    let load = Load::closed(1, 100);
    let ledger = served.ledger.clone();
    let table = runtimes.server.block_on(drive(load, move |_, _| {
        let ledger = ledger.clone();
        async move {
            let table = ledger
                .table(&TableQuery::new(PLAN))
                .await
                .expect("the plan exists");
            std::hint::black_box(table);
        }
    }));
    let ledger = served.ledger.clone();
    let values = runtimes.server.block_on(drive(load, move |_, _| {
        let ledger = ledger.clone();
        async move {
            let question = TableQuery::new(PLAN).with_detail(Detail::Figures);
            let table = ledger.table(&question).await;
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

/// `KPI_BENCH_PROFILE=append|table`: one longer 32-client run of one workload on the seed
/// store and nothing else, so a profiler attached to the bench sees that workload alone;
/// `=schema|ledger|store`: the same for one in-process layer of the append path; `=plain`
/// the append over HTTP without GraphQL.
/// `KPI_BENCH_PROFILE_EACH=N` sets the requests per client (300 by default).
pub(crate) fn profile_only(runtimes: &Runtimes, served: &Served, workload: &str) {
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
