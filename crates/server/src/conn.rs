//! The connection loop: HTTP/1.1 on hyper, serving the poem routes, with the limits poem's
//! `Server` has no setting for (it configures no timer, so hyper never times a request head):
//!
//! - a **header-read timeout**: a request's head (request line and headers) must arrive in
//!   full within `header_read_timeout_ms` of the connection being accepted, or, on a kept-alive
//!   connection, of the first byte of the next request; a client trickling a byte a second is
//!   cut off;
//! - a **keep-alive timeout**: a connection idle between requests for `keep_alive_timeout_ms`
//!   is closed;
//! - a **body-read timeout**: a request body must arrive within `body_read_timeout_ms` of its
//!   head;
//! - a **connection cap**: at most `max_connections` are open at once (upgraded websockets
//!   included, which keep their slot until they close); further ones are not accepted and wait
//!   in the listening socket's backlog, using no descriptor of this process.
//!
//! hyper times only the whole wait for a head, from the moment the connection is ready for one.
//! Telling the idle wait from a slow head is done by the timer hyper is given ([`HeadTimer`]):
//! it watches the connection's reads and moves the deadline from "idle" to "header" when the
//! first byte of the next request arrives.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use hyper::rt::{Sleep, Timer};
use hyper_util::rt::TokioIo;
use poem::http::header;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Limits;
use crate::metrics::names;

/// How long to wait after a failed `accept` (e.g. out of descriptors) before trying again,
/// rather than spinning on the error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How often, at most, "all connections are in use" is logged while it lasts.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Serves `endpoint` on `listener` until `shutdown` resolves; then stops accepting, closes idle
/// connections, lets requests in flight finish for up to `grace`, and drops what is left.
pub(crate) async fn serve<E>(
    listener: TcpListener,
    endpoint: E,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) where
    E: Endpoint<Output = Response> + 'static,
{
    let endpoint = Arc::new(endpoint);
    let max_connections = limits.max_connections.get();
    let slots = Arc::new(Semaphore::new(max_connections));
    let connections = TaskTracker::new();
    // Cancelled at shutdown: each connection finishes the request it is serving, then closes.
    let stopping = CancellationToken::new();
    // Cancelled when the grace period is over: connections still open are dropped.
    let cut = CancellationToken::new();
    let mut warned_full: Option<Instant> = None;
    tokio::pin!(shutdown);

    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if warned_full.is_none_or(|at| at.elapsed() >= FULL_WARNING_EVERY) {
                    warned_full = Some(Instant::now());
                    tracing::warn!(
                        max_connections,
                        "all connections are in use (server.limits.max_connections); new ones wait"
                    );
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "cannot accept a connection");
                    tokio::select! {
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let local = stream.local_addr().unwrap_or(remote);
        connections.spawn(connection(
            stream,
            Addrs { local, remote },
            Slot::new(slot),
            endpoint.clone(),
            limits,
            stopping.clone(),
            cut.clone(),
        ));
    }

    drop(listener);
    stopping.cancel();
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            ?grace,
            open = connections.len(),
            "connections still busy at the end of the grace period are dropped"
        );
        cut.cancel();
        connections.wait().await;
    }
}

struct Addrs {
    local: SocketAddr,
    remote: SocketAddr,
}

async fn connection<E>(
    stream: TcpStream,
    addrs: Addrs,
    slot: Slot,
    endpoint: Arc<E>,
    limits: Limits,
    stopping: CancellationToken,
    cut: CancellationToken,
) where
    E: Endpoint<Output = Response> + 'static,
{
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = Tracked {
        stream,
        activity: activity.clone(),
        _slot: slot,
    };
    let Addrs { local, remote } = addrs;
    let body_read = limits.body_read_timeout();
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let endpoint = endpoint.clone();
        async move {
            let mut req = poem::Request::from((
                req,
                LocalAddr(local.into()),
                RemoteAddr(remote.into()),
                Scheme::HTTP,
            ));
            if has_body(&req) {
                let body = req.take_body();
                req.set_body(poem::Body::from_bytes_stream(within(
                    body.into_bytes_stream(),
                    body_read,
                )));
            }
            Ok::<_, Infallible>(hyper::Response::from(endpoint.get_response(req).await))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(HeadTimer {
            activity: activity.clone(),
            header: limits.header_read_timeout(),
            idle: limits.keep_alive_timeout(),
        })
        .header_read_timeout(limits.header_read_timeout())
        .keep_alive(true);
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopping.cancelled() => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                result = conn.as_mut() => result,
                () = cut.cancelled() => return,
            }
        }
    };
    match (result, activity.timed_out()) {
        (Err(_), Some(kind)) => {
            ::metrics::counter!(names::HTTP_CONNECTION_TIMEOUTS, "kind" => kind.label())
                .increment(1);
            tracing::debug!(%remote, timeout = kind.label(), "connection closed: {}", kind.reason());
        }
        (Err(err), None) => tracing::debug!(%remote, %err, "connection ended with an error"),
        (Ok(()), _) => {}
    }
}

/// Whether the request announces a body (its length, or chunked transfer).
fn has_body(req: &poem::Request) -> bool {
    req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}

/// The body's chunks, ending in a `TimedOut` error if they are not all there within `limit`.
fn within(
    chunks: impl Stream<Item = io::Result<bytes::Bytes>> + Send + 'static,
    limit: Duration,
) -> impl Stream<Item = io::Result<bytes::Bytes>> + Send + 'static {
    let deadline = tokio::time::Instant::now() + limit;
    futures::stream::unfold(Some(chunks.boxed()), move |chunks| async move {
        let mut chunks = chunks?;
        match tokio::time::timeout_at(deadline, chunks.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(chunks))),
            Ok(None) => None,
            Err(_) => Some((
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the request body did not arrive within {} ms",
                        limit.as_millis()
                    ),
                )),
                None,
            )),
        }
    })
}

/// One place under `max_connections`, given back (and the open-connections gauge lowered)
/// when the connection's socket is dropped, after a websocket upgrade too.
struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit) -> Self {
        ::metrics::gauge!(names::HTTP_OPEN_CONNECTIONS).increment(1.0);
        Self { _permit: permit }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        ::metrics::gauge!(names::HTTP_OPEN_CONNECTIONS).decrement(1.0);
    }
}

/// Which deadline closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timeout {
    Header = 1,
    Idle = 2,
}

impl Timeout {
    fn label(self) -> &'static str {
        match self {
            Timeout::Header => "header",
            Timeout::Idle => "idle",
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Timeout::Header => "the request head did not arrive in time (header_read_timeout_ms)",
            Timeout::Idle => "idle between requests (keep_alive_timeout_ms)",
        }
    }
}

/// What the head timer needs to know of a connection's reads.
struct Activity {
    epoch: Instant,
    /// When (nanoseconds after `epoch`, plus one) the first byte arrived since the head timer
    /// was last armed; 0 while none has.
    first_byte: AtomicU64,
    /// How many times the head timer has been armed: 1 while the first request is awaited.
    heads: AtomicU64,
    /// The [`Timeout`] that fired, 0 while none has.
    timed_out: AtomicU8,
}

impl Activity {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            first_byte: AtomicU64::new(0),
            heads: AtomicU64::new(0),
            timed_out: AtomicU8::new(0),
        }
    }

    /// A new head is awaited; true if it is the connection's first.
    fn arm(&self) -> bool {
        self.first_byte.store(0, Ordering::Release);
        self.heads.fetch_add(1, Ordering::AcqRel) == 0
    }

    fn saw_bytes(&self) {
        if self.first_byte.load(Ordering::Acquire) == 0 {
            let nanos = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
            let _ =
                self.first_byte
                    .compare_exchange(0, nanos + 1, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    fn first_byte_at(&self) -> Option<Instant> {
        match self.first_byte.load(Ordering::Acquire) {
            0 => None,
            nanos => Some(self.epoch + Duration::from_nanos(nanos - 1)),
        }
    }

    fn timed_out(&self) -> Option<Timeout> {
        match self.timed_out.load(Ordering::Acquire) {
            1 => Some(Timeout::Header),
            2 => Some(Timeout::Idle),
            _ => None,
        }
    }
}

/// The socket, telling [`Activity`] when bytes arrive, and holding the connection's slot.
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
    _slot: Slot,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.saw_bytes();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The timer given to hyper's HTTP/1 server, which asks it for one thing only: a deadline for
/// the next request head, armed whenever the connection starts waiting for one. The deadline
/// hyper proposes (now + `header_read_timeout`) is replaced by [`HeadSleep`]'s.
#[derive(Clone)]
struct HeadTimer {
    activity: Arc<Activity>,
    header: Duration,
    idle: Duration,
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(PlainSleep(Box::pin(tokio::time::sleep(duration))))
    }

    fn sleep_until(&self, _deadline: Instant) -> Pin<Box<dyn Sleep>> {
        let first_request = self.activity.arm();
        let armed = Instant::now();
        Box::pin(HeadSleep {
            activity: self.activity.clone(),
            armed,
            first_request,
            header: self.header,
            idle: self.idle,
            sleep: Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
                armed + self.header.min(self.idle),
            ))),
        })
    }
}

/// The deadline for one request head:
/// - the connection's first request: `header` after it was accepted;
/// - a later request: `header` after its first byte, and until that byte, `idle` after the
///   previous response.
struct HeadSleep {
    activity: Arc<Activity>,
    armed: Instant,
    first_request: bool,
    header: Duration,
    idle: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for HeadSleep {
    type Output = ();

    // hyper polls this whenever a read leaves the head incomplete, so a first byte arriving
    // moves the deadline at once.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let (deadline, kind) = match this.activity.first_byte_at() {
            Some(at) => (at + this.header, Timeout::Header),
            None if this.first_request => (this.armed + this.header, Timeout::Header),
            None => (this.armed + this.idle, Timeout::Idle),
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        if this.sleep.deadline() != deadline {
            this.sleep.as_mut().reset(deadline);
        }
        ready!(this.sleep.as_mut().poll(cx));
        this.activity.timed_out.store(kind as u8, Ordering::Release);
        Poll::Ready(())
    }
}

impl Sleep for HeadSleep {}

struct PlainSleep(Pin<Box<tokio::time::Sleep>>);

impl Future for PlainSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().0.as_mut().poll(cx)
    }
}

impl Sleep for PlainSleep {}
