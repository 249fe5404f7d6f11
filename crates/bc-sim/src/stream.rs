//! Streaming of large pages: the serializer hands over ~1 MiB chunks while it writes, so the
//! transfer overlaps serialization and no page-sized buffer is allocated.

use std::cell::RefCell;

use axum::body::{Body, Bytes};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::error::ApiError;
use crate::routed::Out;

/// Chunk size handed to the HTTP layer.
pub const CHUNK: usize = 1 << 20;

enum Msg {
    Chunk(Bytes),
    Done(Result<Out, ApiError>),
}

thread_local! {
    static SINK: RefCell<Option<UnboundedSender<Msg>>> = const { RefCell::new(None) };
}

/// Whether the current thread streams (page writers then skip presizing).
pub fn active() -> bool {
    SINK.with(|s| s.borrow().is_some())
}

/// Run `f` with streaming disabled (nested requests of a `$batch`).
pub fn without_sink<R>(f: impl FnOnce() -> R) -> R {
    let saved = SINK.with(|s| s.borrow_mut().take());
    let r = f();
    SINK.with(|s| *s.borrow_mut() = saved);
    r
}

/// Hand over the buffer if it holds at least a chunk (called between entities).
pub fn maybe_flush(out: &mut Vec<u8>) {
    if out.len() < CHUNK {
        return;
    }
    SINK.with(|s| {
        if let Some(tx) = &*s.borrow() {
            let full = std::mem::replace(out, Vec::with_capacity(CHUNK + CHUNK / 2));
            let _ = tx.send(Msg::Chunk(Bytes::from(full)));
        }
    });
}

/// A routed answer: complete, or a 200 whose body is still being written.
pub enum Answer {
    /// Complete response.
    Full(Out),
    /// Streaming JSON body (status 200).
    Stream(Body),
}

/// Run `f` on a blocking thread with streaming enabled.
pub async fn run(
    f: impl FnOnce() -> Result<Out, ApiError> + Send + 'static,
) -> Result<Answer, ApiError> {
    let (tx, mut rx) = unbounded_channel::<Msg>();
    let tx2 = tx.clone();
    tokio::task::spawn_blocking(move || {
        SINK.with(|s| *s.borrow_mut() = Some(tx2.clone()));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
            Err(ApiError::new(
                500,
                "Internal_ServerError",
                "Sorry, we encountered an unexpected error.",
            ))
        });
        SINK.with(|s| *s.borrow_mut() = None);
        let _ = tx2.send(Msg::Done(r));
    });
    drop(tx);
    match rx.recv().await {
        Some(Msg::Done(r)) => r.map(Answer::Full),
        Some(Msg::Chunk(first)) => {
            let rest = futures::stream::unfold(rx, |mut rx| async move {
                match rx.recv().await {
                    Some(Msg::Chunk(b)) => Some((Ok(b), rx)),
                    Some(Msg::Done(Ok(out))) => Some((Ok(Bytes::from(out.body)), rx)),
                    Some(Msg::Done(Err(_))) => Some((
                        Err(std::io::Error::other("serialization failed mid-stream")),
                        rx,
                    )),
                    None => None,
                }
            });
            let s = futures::StreamExt::chain(
                futures::stream::once(async move { Ok::<Bytes, std::io::Error>(first) }),
                rest,
            );
            // Fused: a wrapping body (gzip) may poll once more after the end.
            Ok(Answer::Stream(Body::from_stream(futures::StreamExt::fuse(
                s,
            ))))
        }
        None => Err(ApiError::new(
            500,
            "Internal_ServerError",
            "Sorry, we encountered an unexpected error.",
        )),
    }
}
