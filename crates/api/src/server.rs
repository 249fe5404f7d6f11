//! The HTTP/1.1 server loop: accepts connections up to a cap, closes those that are too slow to
//! send a request's headers or that sit idle, and shuts down gracefully.
//!
//! Why not `axum::serve`: it has no header-read timeout, no idle timeout and no connection cap, so
//! a few hundred connections that send half a request and wait (slowloris) hold file descriptors
//! forever and starve real requests. Here every connection is watched:
//! - from its first byte (or its opening) until a request's headers are complete it has
//!   `header_read_timeout`;
//! - between requests it may stay idle (no bytes either way) for `idle_timeout`;
//! - a request's body must arrive within `body_read_timeout` of its headers (else the handler
//!   reading it answers 408);
//! - while a request is being handled nothing else times it out here.
//!
//! Beyond `max_connections`, a new connection is answered `503` (the JSON error shape, with
//! `Retry-After`) and closed; beyond a small overflow of such answers it is closed at once.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, header};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use crate::error::{ErrorCode, coded_response};

/// How connections are served.
#[derive(Debug, Clone, Copy)]
pub struct ServeSettings {
    /// Time a client has to send a request's complete headers, from its first byte (or from the
    /// connection's opening, for the first request).
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may sit idle between requests.
    pub idle_timeout: Duration,
    /// Time a client has to send a request's body, from the end of its headers.
    pub body_read_timeout: Duration,
    /// Connections served at once; further ones are answered 503 and closed.
    pub max_connections: usize,
}

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            header_read_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 512,
        }
    }
}

/// Connections over the cap that are still answered 503 (each holds a descriptor briefly); past
/// this they are closed without an answer.
const OVERFLOW_ANSWERS: usize = 32;
/// File descriptors kept for everything but client connections (database pool, calls to ERPs,
/// files), when the cap is lowered to fit the process's limit.
const RESERVED_FDS: usize = 128;

/// `configured`, lowered when the process's open-file limit could not hold that many connections
/// besides what the rest of the service needs.
pub fn fit_to_fd_limit(configured: usize) -> usize {
    match open_file_limit() {
        Some(limit) if configured + RESERVED_FDS > limit => {
            let fitted = limit.saturating_sub(RESERVED_FDS).max(16);
            tracing::warn!(
                configured,
                open_file_limit = limit,
                max_connections = fitted,
                "max_connections exceeds what the open-file limit allows; lowered (raise `ulimit -n` \
                 to serve more connections)"
            );
            fitted
        }
        _ => configured,
    }
}

/// The soft limit on open files, where the system tells it without a system call of our own.
fn open_file_limit() -> Option<usize> {
    soft_open_files(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

/// The soft "Max open files" of a `/proc/<pid>/limits` text (`None` when unlimited or absent).
fn soft_open_files(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets requests in
/// flight finish, closes idle connections, and returns when every connection is closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: ServeSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max = settings.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let overflow = Arc::new(Semaphore::new(OVERFLOW_ANSWERS));
    let (stop, stopping) = watch::channel(false);
    let refusals = Refusals::default();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    accept_failed(&err).await;
                    continue;
                }
            },
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let conn = serve_connection(stream, app.clone(), settings, stopping.clone());
                tokio::spawn(async move {
                    conn.await;
                    drop(slot);
                });
            }
            Err(_) => {
                refusals.note(max);
                if let Ok(answer) = overflow.clone().try_acquire_owned() {
                    tokio::spawn(refuse(stream, settings, answer));
                }
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it closes: taking them all waits for the last one.
    let _ = slots.acquire_many(max as u32).await;
    Ok(())
}

/// Accept errors are the listener's, not the server's: mostly a descriptor limit reached. Wait a
/// little so that a full table does not turn the loop into a busy spin.
async fn accept_failed(err: &io::Error) {
    if !matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        tracing::warn!(error = %err, "accepting a connection failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Throttles the warning about refused connections to one every ten seconds.
#[derive(Default)]
struct Refusals {
    last_warned_ms: AtomicU64,
    epoch: std::sync::OnceLock<Instant>,
}

impl Refusals {
    fn note(&self, max: usize) {
        let epoch = self.epoch.get_or_init(Instant::now);
        let now = epoch.elapsed().as_millis() as u64 + 10_000;
        let last = self.last_warned_ms.load(Ordering::Relaxed);
        if now - last >= 10_000
            && self
                .last_warned_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                max_connections = max,
                "connection limit reached; new connections are answered 503"
            );
        }
    }
}

/// Serves one connection until the client closes it, a timeout closes it, or shutdown ends it.
async fn serve_connection(
    stream: TcpStream,
    app: Router,
    settings: ServeSettings,
    mut stopping: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let handler = activity.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let in_flight = handler.begin();
        let body_deadline = settings.body_read_timeout;
        let req = req.map(|body| Body::new(DeadlineBody::new(body, body_deadline)));
        let response = app.clone().oneshot(req);
        async move {
            let response = response.await;
            drop(in_flight);
            response
        }
    });
    // Timeouts are ours (hyper's own header timeout would also cut idle keep-alive connections).
    let conn = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut shutting_down = *stopping.borrow();
    if shutting_down {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                return;
            }
            expired = activity.expired(settings) => {
                tracing::debug!(reason = expired, "closing a connection");
                return;
            }
            changed = stopping.changed(), if !shutting_down => {
                if changed.is_err() || *stopping.borrow() {
                    shutting_down = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Answers one request on a connection over the cap with 503, then closes it.
async fn refuse(stream: TcpStream, settings: ServeSettings, _answer: OwnedSemaphorePermit) {
    let service = hyper::service::service_fn(|_req: Request<Incoming>| async {
        Ok::<Response, std::convert::Infallible>(over_capacity())
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    let limit = settings.header_read_timeout.min(Duration::from_secs(5));
    let _ = tokio::time::timeout(limit, conn).await;
}

/// The 503 for a connection over the cap.
fn over_capacity() -> Response {
    let mut response = coded_response(
        ErrorCode::ServiceUnavailable,
        "The server is at its connection limit; retry shortly".into(),
        None,
    );
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body read too slowly: it did not arrive within `body_read_timeout`.
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// A request body that must arrive completely before a deadline.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, limit: Duration) -> Self {
        DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl http_body::Body for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending if this.deadline.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Some(Err(Box::new(BodyTimeout))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// What a connection is doing, for its timeouts.
struct Activity {
    state: Mutex<State>,
    changed: Notify,
}

struct State {
    /// Requests being handled.
    in_flight: usize,
    /// When the headers of the next request began to arrive (or the connection opened, for the
    /// first request); `None` while idle between requests.
    head_since: Option<Instant>,
    /// The last byte read or written, or the end of the last request.
    last_io: Instant,
}

/// Marks a request as handled until dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|s| {
            s.in_flight = s.in_flight.saturating_sub(1);
            s.last_io = Instant::now();
        });
        self.0.changed.notify_one();
    }
}

impl Activity {
    fn new() -> Self {
        let now = Instant::now();
        Activity {
            state: Mutex::new(State {
                in_flight: 0,
                head_since: Some(now),
                last_io: now,
            }),
            changed: Notify::new(),
        }
    }

    fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.update(|s| {
            s.in_flight += 1;
            s.head_since = None;
        });
        self.changed.notify_one();
        InFlight(self.clone())
    }

    fn read(&self) {
        let started_head = self.update(|s| {
            let now = Instant::now();
            s.last_io = now;
            let start = s.in_flight == 0 && s.head_since.is_none();
            if start {
                s.head_since = Some(now);
            }
            start
        });
        if started_head {
            // The watcher sleeps until the idle deadline: the header deadline is sooner.
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        self.update(|s| s.last_io = Instant::now());
    }

    /// When the connection is due to be closed, and why; `None` while a request is handled.
    fn deadline(&self, settings: ServeSettings) -> Option<(Instant, &'static str)> {
        self.update(|s| match (s.in_flight, s.head_since) {
            (0, Some(since)) => Some((since + settings.header_read_timeout, "header read timeout")),
            (0, None) => Some((s.last_io + settings.idle_timeout, "idle timeout")),
            _ => None,
        })
    }

    /// Completes when the connection has been too slow or too idle.
    async fn expired(&self, settings: ServeSettings) -> &'static str {
        loop {
            let changed = self.changed.notified();
            match self.deadline(settings) {
                Some((at, why)) if at <= Instant::now() => return why,
                Some((at, _)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at.into()) => {}
                        _ = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// A connection's socket, telling [`Activity`] about every byte read or written.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read();
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
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
