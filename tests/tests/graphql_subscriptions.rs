//! Subscriptions of the real schema over websocket (graphql-transport-ws): the log from a
//! position (stored events, then live ones, no gap or duplicate), the log from now, a plan's
//! table as it changes, and the role check.

mod graphql_support;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use graphql_support::kinds::ALL;
use graphql_support::{cell, record_mutation, LedgerServer, Who};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects and completes `connection_init` with the caller's token.
async fn connect(server: &LedgerServer, who: Who) -> Socket {
    let mut request = server
        .url("/graphql/ws")
        .replace("http://", "ws://")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let payload = match server.token(who) {
        Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
        None => json!({}),
    };
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    let ack = receive(&mut socket, Duration::from_secs(5)).await.unwrap();
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

/// The next protocol message, or `None` if none arrives within `wait`.
async fn receive(socket: &mut Socket, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()?;
        match message.expect("the socket stays open").unwrap() {
            Message::Text(text) => return Some(serde_json::from_str(&text).unwrap()),
            Message::Close(frame) => panic!("the server closed the socket: {frame:?}"),
            _ => continue,
        }
    }
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str, variables: Value) {
    send(
        socket,
        json!({ "id": id, "type": "subscribe",
                "payload": { "query": query, "variables": variables } }),
    )
    .await;
}

/// The data of the next `next` message of subscription `id`, within `wait`.
async fn next_data(socket: &mut Socket, id: &str, wait: Duration) -> Option<Value> {
    let message = receive(socket, wait).await?;
    assert_eq!(message["id"], id, "{message}");
    assert_eq!(message["type"], "next", "{message}");
    assert!(message["payload"].get("errors").is_none(), "{message}");
    Some(message["payload"]["data"].clone())
}

async fn record(server: &LedgerServer, kind: usize, n: u32) -> Value {
    let kind = &ALL[kind];
    server
        .data(
            Who::Recorder,
            &record_mutation(kind.mutation, kind.input_type),
            json!({ "input": (kind.input)(n) }),
        )
        .await[kind.mutation]
        .clone()
}

const EVENT_RECORDED: &str = "subscription Log($from: Int) { eventRecorded(fromPosition: $from) { \
    id position type actor payload } }";

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn from_a_position_stored_events_come_first_then_live_ones() {
    let server = LedgerServer::start().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(record(&server, 0, n).await["id"].clone());
    }
    let mut socket = connect(&server, Who::Reader).await;
    subscribe(&mut socket, "log", EVENT_RECORDED, json!({ "from": 2 })).await;

    for position in 2..=3 {
        let event = next_data(&mut socket, "log", WAIT).await.unwrap()["eventRecorded"].clone();
        assert_eq!(event["position"], position);
        assert_eq!(event["id"], ids[position as usize - 1]);
        assert_eq!(event["actor"], "clerk");
    }
    for n in 3..6 {
        let recorded = record(&server, 13, n).await;
        let event = next_data(&mut socket, "log", WAIT).await.unwrap()["eventRecorded"].clone();
        assert_eq!(event["position"], recorded["position"], "live, in order");
        assert_eq!(event["id"], recorded["id"]);
        assert_eq!(event["type"], "EXHIBITION");
        assert_eq!(event["payload"], (ALL[13].payload)(n));
    }
    // Nothing more: no duplicate of the hand-over.
    assert_eq!(receive(&mut socket, Duration::from_millis(300)).await, None);
    send(&mut socket, json!({ "id": "log", "type": "complete" })).await;
    server.stop().await;
}

#[tokio::test]
async fn without_a_position_only_events_after_the_start_arrive() {
    let server = LedgerServer::start().await;
    for n in 0..2 {
        record(&server, 0, n).await;
    }
    let mut socket = connect(&server, Who::Reader).await;
    subscribe(&mut socket, "live", EVENT_RECORDED, Value::Null).await;

    // The protocol has no acknowledgement of a subscription, so record until the first live
    // event arrives; whatever arrives must be new, and then every later event in order.
    let mut first = None;
    for n in 10..30 {
        let recorded = record(&server, 9, n).await;
        if let Some(data) = next_data(&mut socket, "live", Duration::from_millis(250)).await {
            first = Some((recorded, data["eventRecorded"].clone()));
            break;
        }
    }
    let (recorded, event) = first.expect("a live event arrives within 20 records");
    let first_position = event["position"].as_u64().unwrap();
    assert!(
        first_position > 2,
        "events before the subscription are not sent: {event}"
    );
    // Events recorded while the subscription was starting may arrive too, in order.
    let mut expected = first_position + 1;
    let last = recorded["position"].as_u64().unwrap();
    while expected <= last {
        let data = next_data(&mut socket, "live", WAIT).await.unwrap();
        assert_eq!(data["eventRecorded"]["position"], expected);
        expected += 1;
    }
    let later = record(&server, 9, 99).await;
    let data = next_data(&mut socket, "live", WAIT).await.unwrap();
    assert_eq!(data["eventRecorded"]["id"], later["id"]);
    server.stop().await;
}

const TABLE_CHANGED: &str = "subscription Table($plan: ID!) { kpiTableChanged(plan: $plan) { \
    planId position rows { kpi series cells { label value eventIds } } } }";

#[tokio::test]
async fn the_table_subscription_sends_each_changed_table() {
    let server = LedgerServer::start().await;
    let mut socket = connect(&server, Who::Reader).await;
    subscribe(
        &mut socket,
        "table",
        TABLE_CHANGED,
        json!({ "plan": "telework-roadmap" }),
    )
    .await;

    // As above: record seminars (KPI 2) until a table arrives.
    let mut seminars = Vec::new();
    let mut table = None;
    for n in 0..20 {
        seminars.push(record(&server, 0, n).await);
        if let Some(data) = next_data(&mut socket, "table", Duration::from_millis(250)).await {
            table = Some(data["kpiTableChanged"].clone());
            break;
        }
    }
    let mut table = table.expect("a changed table arrives within 20 records");
    // Catch up with tables for seminars recorded while the subscription was starting.
    let last = seminars.last().unwrap().clone();
    while table["position"] != last["position"] {
        table = next_data(&mut socket, "table", WAIT).await.unwrap()["kpiTableChanged"].clone();
    }
    assert_eq!(table["planId"], "telework-roadmap");
    let r6 = cell(&table, "2", "MAIN", "R6");
    assert_eq!(r6["value"], (30 * seminars.len()).to_string());
    assert!(r6["eventIds"].as_array().unwrap().contains(&last["id"]));

    // An exhibition feeds no KPI of the plan: no table. The next seminar's table follows.
    record(&server, 13, 0).await;
    let seminar = record(&server, 0, 50).await;
    let next = next_data(&mut socket, "table", WAIT).await.unwrap()["kpiTableChanged"].clone();
    assert_eq!(next["position"], seminar["position"], "{next}");
    assert_eq!(
        cell(&next, "2", "MAIN", "R6")["value"],
        (30 * (seminars.len() + 1)).to_string()
    );
    assert_eq!(receive(&mut socket, Duration::from_millis(300)).await, None);
    server.stop().await;
}

#[tokio::test]
async fn subscriptions_need_a_reader_and_a_known_plan() {
    let server = LedgerServer::start().await;
    let mut socket = connect(&server, Who::Nobody).await;
    subscribe(&mut socket, "1", EVENT_RECORDED, json!({ "from": 1 })).await;
    let refused = receive(&mut socket, WAIT).await.unwrap();
    let error = if refused["type"] == "error" {
        refused["payload"][0].clone()
    } else {
        refused["payload"]["errors"][0].clone()
    };
    assert_eq!(error["extensions"]["code"], "UNAUTHENTICATED", "{refused}");

    let mut socket = connect(&server, Who::Reader).await;
    subscribe(
        &mut socket,
        "2",
        TABLE_CHANGED,
        json!({ "plan": "no-such-plan" }),
    )
    .await;
    let refused = receive(&mut socket, WAIT).await.unwrap();
    let error = if refused["type"] == "error" {
        refused["payload"][0].clone()
    } else {
        refused["payload"]["errors"][0].clone()
    };
    assert_eq!(error["extensions"]["code"], "NOT_FOUND", "{refused}");
    assert_eq!(error["extensions"]["field"], "plan", "{refused}");
    server.stop().await;
}
