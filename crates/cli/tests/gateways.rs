//! Several gateways, one log: two `kpi-ledger serve` processes (the built binary) on one
//! PostgreSQL database. Every event recorded through gateway A is read back by A at once
//! (its own write), and reaches gateway B's `kpiTable` and B's `eventRecorded` subscription
//! within [`BOUND`]: B's store hears the commit's NOTIFY, reads the event by position and
//! hands it to its projection and subscribers. The test prints the propagation delay
//! (median, p99, max over the events); docs/benchmarks.md keeps the figures. The cluster is
//! the store tests' own: skipped without PostgreSQL 15 unless `KPI_POSTGRES_REQUIRED=1`.
//!
//! `KPI_GATEWAY_EVENTS` sets how many events are measured, sent one after another (default
//! 100); `KPI_GATEWAY_LOAD` adds that many writers recording meanwhile through both gateways
//! (default 0), so the delay is measured under load, and B's subscription is checked to
//! deliver every event of both gateways in order, without a gap.

mod support;

#[path = "../../store/tests/common/cluster.rs"]
mod cluster;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::gateway::Gateway;
use support::ws::{next, subscribed};

/// How long B may take to show an event A acknowledged: a bound, not a measurement (the
/// measured delays are printed, and far below it).
const BOUND: Duration = Duration::from_secs(5);

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Records through `gateway` until `stop`, each event under its own key.
async fn load(gateway: Arc<Gateway>, token: String, writer: usize, stop: Arc<AtomicBool>) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        gateway
            .record(
                &token,
                &format!("load-{writer}-{n}"),
                &format!("負荷 {writer}-{n}"),
            )
            .await
            .unwrap_or_else(|error| panic!("load writer {writer}, event {n}: {error}"));
    }
}

/// Polls `gateway`'s table until it has folded `position`; when it had, after `since`.
async fn table_reaches(gateway: &Gateway, position: u64, since: Instant) -> Duration {
    loop {
        let table = gateway.table().await;
        if table["position"].as_u64() >= Some(position) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < BOUND,
            "position {position} not in the other gateway's kpiTable within {BOUND:?}: {}",
            table["position"]
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// `median p99 max` of `delays`, in milliseconds.
fn summary(delays: &mut [Duration]) -> String {
    delays.sort();
    let at = |q: f64| delays[((delays.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    format!(
        "median {}, p99 {}, max {}",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_recorded_through_one_gateway_reaches_the_others_table_and_subscribers() {
    let Some(cluster) = cluster::Cluster::shared() else {
        return;
    };
    let url = cluster.database();
    let dir = tempfile::tempdir().unwrap();
    let (token, entry) = support::token("recorder", "gateway-clerk");
    let tokens = format!("[{entry}]");
    // A seeds the demo data; B finds it there (the seed's keys make its import a no-op).
    let a = Arc::new(Gateway::start(&dir.path().join("a"), &url, &tokens));
    let b = Arc::new(Gateway::start(&dir.path().join("b"), &url, &tokens));
    let seeded = a.table().await;
    assert_eq!(b.table().await, seeded, "one log, one table");

    // From B's head on, so no event is missed whenever the subscription starts.
    let from = seeded["position"].as_u64().unwrap() + 1;
    let mut socket = subscribed(
        &b.server,
        &token,
        &format!("subscription {{ eventRecorded(fromPosition: {from}) {{ id position }} }}"),
    )
    .await;

    let (count, writers) = (
        setting("KPI_GATEWAY_EVENTS", 100),
        setting("KPI_GATEWAY_LOAD", 0),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let loads: Vec<_> = (0..writers)
        .map(|writer| {
            let gateway = if writer % 2 == 0 { &a } else { &b };
            tokio::spawn(load(gateway.clone(), token.clone(), writer, stop.clone()))
        })
        .collect();
    // The position B's subscription must deliver next: every event, in order.
    let mut expected = from;
    let (mut via_subscription, mut via_table) = (Vec::new(), Vec::new());
    for n in 0..count {
        let key = format!("gateway-a-{n}");
        let recorded = a
            .record(&token, &key, &format!("ゲートウェイAのセミナー {n}"))
            .await
            .unwrap_or_else(|error| panic!("event {n} through A: {error}"));
        let acked = Instant::now();
        let (own, table_delay, subscription_delay) = tokio::join!(
            a.table(),
            table_reaches(&b, recorded.position, acked),
            async {
                // B's subscription up to this event (the load's events before it too).
                while expected <= recorded.position {
                    let message = tokio::time::timeout(BOUND, next(&mut socket))
                        .await
                        .unwrap_or_else(|_| {
                            panic!("position {expected} not on B's subscription in {BOUND:?}")
                        })
                        .expect("B's subscription stays open");
                    assert_eq!(message["type"], "next", "{message}");
                    let event = &message["payload"]["data"]["eventRecorded"];
                    assert_eq!(
                        event["position"].as_u64(),
                        Some(expected),
                        "in order, no gap"
                    );
                    if expected == recorded.position {
                        assert_eq!(event["id"].as_str(), Some(recorded.id.as_str()));
                    }
                    expected += 1;
                }
                acked.elapsed()
            },
        );
        // The writer reads its own write: no waiting.
        assert!(
            own["position"].as_u64() >= Some(recorded.position),
            "A's table after its own write: {}",
            own["position"]
        );
        via_subscription.push(subscription_delay);
        via_table.push(table_delay);
    }
    stop.store(true, Ordering::Relaxed);
    for writer in loads {
        writer
            .await
            .expect("a load writer failed (its panic says why)");
    }

    let head = a.table().await["position"].as_u64().unwrap();
    table_reaches(&b, head, Instant::now()).await;
    let (on_a, on_b) = (a.table().await, b.table().await);
    assert_eq!(on_a, on_b, "both gateways serve the same table");
    assert_ne!(on_a["rows"], seeded["rows"], "the events moved figures");
    eprintln!(
        "propagation from A's acknowledgement to B over {count} events, one at a time, with \
         {writers} other writers on both gateways (log head {head}): eventRecorded {}; \
         kpiTable {}",
        summary(&mut via_subscription),
        summary(&mut via_table)
    );
}
