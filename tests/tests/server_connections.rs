//! Connection limits against a live server on loopback: a client trickling its request head
//! or body is cut off, idle kept-alive connections are closed while open websockets are not,
//! and connections beyond the cap wait while the server keeps answering within it.
//!
//! The timeouts are configured small; every wait in these tests is bounded and generous
//! against them, and no assertion depends on a timer firing early.

mod server_support;

use std::num::{NonZeroU64, NonZeroUsize};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use server_support::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Longest any single wait in these tests may take before it fails.
const BOUND: Duration = Duration::from_secs(15);

fn millis(ms: u64) -> NonZeroU64 {
    NonZeroU64::new(ms).unwrap()
}

/// A client that opens a new connection for every request, so the pool holds no slot.
fn unpooled_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(BOUND)
        .build()
        .unwrap()
}

/// Reads one HTTP/1.1 response with a `Content-Length` body; `None` if the server closed the
/// connection first.
async fn read_response(stream: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return Some(text);
            }
        }
        let read = tokio::time::timeout(BOUND, stream.read(&mut chunk))
            .await
            .expect("the server answers or closes within the bound");
        match read {
            Ok(0) | Err(_) => return None,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Waits until the server closes `stream` (EOF or reset), failing after the bound; returns
/// anything it sent first.
async fn closed_by_server(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match tokio::time::timeout(BOUND, stream.read(&mut chunk))
            .await
            .expect("the server closes the connection within the bound")
        {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn healthz(stream: &mut TcpStream) -> Option<String> {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .ok()?;
    read_response(stream).await
}

async fn metrics(server: &TestServer) -> String {
    unpooled_client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_trickling_its_request_head_is_cut_after_the_header_timeout() {
    let header = Duration::from_millis(500);
    let server = TestServer::start_with(|config| {
        config.limits.header_read_timeout_ms = millis(500);
    })
    .await;

    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    // A request head that would take 30 s to send at one byte per 100 ms.
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: test\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(300)
    );
    let mut sent = 0;
    let mut cut = false;
    for byte in head.as_bytes() {
        if slow.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        sent += 1;
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(100), slow.read(&mut buf)).await {
            Err(_) => continue, // nothing from the server yet: keep trickling
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut = true;
                break;
            }
            Ok(Ok(n)) => panic!(
                "the server answered a request head it never got: {}",
                String::from_utf8_lossy(&buf[..n])
            ),
        }
    }
    let elapsed = started.elapsed();
    assert!(
        cut,
        "the slow client sent its whole head ({sent} bytes) uncut"
    );
    assert!(sent < head.len());
    assert!(
        elapsed >= header,
        "cut after {elapsed:?}, before the {header:?} header timeout"
    );

    // Everyone else is still served.
    let mut other = TcpStream::connect(server.addr).await.unwrap();
    let answer = healthz(&mut other).await.expect("healthz answers");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let text = metrics(&server).await;
    assert!(
        text.contains("kpi_http_connection_timeouts_total{kind=\"header\"}"),
        "{text}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_connection_that_never_sends_a_request_is_closed_after_the_header_timeout() {
    let server = TestServer::start_with(|config| {
        config.limits.header_read_timeout_ms = millis(300);
    })
    .await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let received = closed_by_server(&mut silent).await;
    assert!(received.is_empty(), "{received:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    server.stop().await.unwrap();
}

/// The idle wait between requests is timed by the keep-alive timeout, not the header timeout;
/// past it the connection is closed.
#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let keep_alive = Duration::from_millis(3_000);
    let server = TestServer::start_with(|config| {
        config.limits.header_read_timeout_ms = millis(300);
        config.limits.keep_alive_timeout_ms = millis(3_000);
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let first = healthz(&mut stream)
        .await
        .expect("the first request is answered");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");

    // Idle for longer than the header timeout, well within the keep-alive timeout.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let second = healthz(&mut stream)
        .await
        .expect("an idle connection outlives the header timeout");
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");

    let idle_since = Instant::now();
    let received = closed_by_server(&mut stream).await;
    assert!(received.is_empty(), "{received:?}");
    let idle = idle_since.elapsed();
    assert!(
        idle >= keep_alive,
        "closed after {idle:?} idle, before the {keep_alive:?} keep-alive timeout"
    );
    let text = metrics(&server).await;
    assert!(
        text.contains("kpi_http_connection_timeouts_total{kind=\"idle\"}"),
        "{text}"
    );
    server.stop().await.unwrap();
}

/// Neither timeout runs while a request is being served: a slow answer is not cut off.
#[tokio::test]
async fn a_request_slower_than_both_timeouts_is_answered() {
    let server = TestServer::start_with(|config| {
        config.limits.header_read_timeout_ms = millis(200);
        config.limits.keep_alive_timeout_ms = millis(200);
    })
    .await;
    let answer = unpooled_client()
        .post(server.graphql_url())
        .header("Content-Type", "application/json")
        .body(json!({ "query": "{ slow(millis: 1000) }" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::OK);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["data"]["slow"], 1000, "{body}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_request_body_trickling_in_answers_408() {
    let server = TestServer::start_with(|config| {
        config.limits.body_read_timeout_ms = millis(500);
    })
    .await;
    let body = json!({ "query": "{ whoami }", "padding": "a".repeat(200) }).to_string();
    let (mut read_half, mut write_half) =
        tokio::io::split(TcpStream::connect(server.addr).await.unwrap());
    write_half
        .write_all(
            format!(
                "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // One byte per 100 ms: the whole body would take over 20 s.
    let trickle = async move {
        for byte in body.as_bytes() {
            if write_half.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let answer = async move {
        let mut received = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            match read_half.read(&mut chunk).await {
                Ok(0) | Err(_) => return received,
                Ok(n) => {
                    received.extend_from_slice(&chunk[..n]);
                    if String::from_utf8_lossy(&received).contains("\r\n\r\n") {
                        return received;
                    }
                }
            }
        }
    };
    let received = tokio::time::timeout(BOUND, async {
        tokio::select! {
            received = answer => received,
            () = trickle => panic!("the whole body was sent without an answer"),
        }
    })
    .await
    .expect("the server answers within the bound");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_and_the_server_keeps_answering_within_it() {
    let server = TestServer::start_with(|config| {
        config.limits.max_connections = NonZeroUsize::new(4).unwrap();
        config.limits.header_read_timeout_ms = millis(60_000);
    })
    .await;
    let http = unpooled_client();
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Within the cap: the fourth place serves probes and queries.
    let health = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    let query = http
        .post(server.graphql_url())
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {}", server.tokens.reader))
        .body(json!({ "query": "{ head }" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), reqwest::StatusCode::OK);

    // At the cap, a further request waits...
    idle.push(TcpStream::connect(server.addr).await.unwrap());
    let waiting = tokio::spawn({
        let http = http.clone();
        let url = server.url("/healthz");
        async move { http.get(url).send().await.map(|response| response.status()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a request beyond the cap was served while every place was taken"
    );
    // ...until a place is given back.
    drop(idle.pop());
    let status = tokio::time::timeout(BOUND, waiting)
        .await
        .expect("the waiting request is served within the bound")
        .unwrap()
        .unwrap();
    assert_eq!(status, reqwest::StatusCode::OK);
    let text = metrics(&server).await;
    assert!(text.contains("kpi_http_open_connections 4"), "{text}");
    drop(idle);
    server.stop().await.unwrap();
}

/// 1,100 idle connections against a 1,024-descriptor limit, in small: three times the cap of
/// silent connections; each is cut after the header timeout, and a real client gets through.
#[tokio::test]
async fn silent_connections_beyond_the_cap_are_cut_and_real_clients_get_through() {
    let server = TestServer::start_with(|config| {
        config.limits.max_connections = NonZeroUsize::new(4).unwrap();
        config.limits.header_read_timeout_ms = millis(500);
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..12 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let health = unpooled_client()
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("a real client is served once the silent ones are cut");
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    for stream in &mut silent {
        assert!(closed_by_server(stream).await.is_empty());
    }
    server.stop().await.unwrap();
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// The next protocol message; fails if the socket closes or nothing comes within the bound.
async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(BOUND, socket.next())
            .await
            .expect("the server answers within the bound")
            .expect("the socket stays open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
        assert!(!message.is_close(), "the socket was closed: {message:?}");
    }
}

#[tokio::test]
async fn an_open_websocket_is_not_cut_by_the_keep_alive_timeout() {
    let server = TestServer::start_with(|config| {
        config.limits.header_read_timeout_ms = millis(300);
        config.limits.keep_alive_timeout_ms = millis(300);
    })
    .await;
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
    socket
        .send(Message::text(
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", server.tokens.reader) } })
                .to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(next(&mut socket).await["type"], "connection_ack");

    // Silent for several keep-alive timeouts.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    socket
        .send(Message::text(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { ticks(count: 2) }" } })
                .to_string(),
        ))
        .await
        .unwrap();
    let first = next(&mut socket).await;
    assert_eq!(first["payload"]["data"]["ticks"], 1, "{first}");
    server.stop().await.unwrap();
}
