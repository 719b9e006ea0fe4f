//! The load client: a raw HTTP/1.1 client over one keep-alive connection per simulated
//! client ([`RawConnection`], requests built before the clock starts), and the [`Target`] it
//! drives, with reqwest for the checks and scrapes around measured runs.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::cpu::ClientCpu;

/// The most clients any workload runs: one connection each.
const MAX_CLIENTS: usize = 64;

/// A load client of one served ledger. Measured runs go over [`RawConnection`]s, one per
/// simulated client; reqwest serves the checks and the `/metrics` scrapes around them.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) http: reqwest::Client,
    addr: SocketAddr,
    pub(crate) url: Arc<str>,
    authorization: Arc<str>,
    connections: Arc<Vec<tokio::sync::Mutex<Option<RawConnection>>>>,
}

impl Target {
    pub(crate) fn new(addr: SocketAddr, token: &str) -> Self {
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
    pub(crate) fn request(&self, body: &[u8]) -> Vec<u8> {
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
    pub(crate) fn health_check(&self) -> Vec<u8> {
        format!("GET /healthz HTTP/1.1\r\nhost: {}\r\n\r\n", self.addr).into_bytes()
    }

    /// Sends a pre-built request over client `client`'s own connection (opened on first use)
    /// and checks the answer as [`Target::post`] does.
    pub(crate) async fn send(&self, client: usize, request: &[u8]) {
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

    pub(crate) async fn graphql(&self, query: &str, variables: Value) -> Value {
        let body = serde_json::to_vec(&json!({ "query": query, "variables": variables }))
            .expect("serialise a request");
        serde_json::from_slice(self.post(body).await.as_ref()).expect("the answer is JSON")
    }

    /// Opens `clients` connections, so a measured run does not pay for connecting.
    pub(crate) async fn warm(&self, clients: usize) {
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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
