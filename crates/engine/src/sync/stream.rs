//! The window phase, streamed: one task reads pages from the ERP (record by record as the bytes
//! arrive, following next links) while the other maps and writes them, through a bounded channel.
//! The slower of network and database sets the pace, and memory does not depend on the page size.
//!
//! Writes are not tied to pages. Records are staged as they are mapped — compared with the stored
//! ones, the new and changed ones packed — and what is staged is written in one transaction once it
//! holds `write_chunk` records or `write_chunk_bytes` packed, or at a page's end once
//! `write_interval` has passed since the last write ([`crate::SyncSettings`]): on a fast ERP one
//! write covers several pages (the random-GUID primary key's pages are rewritten once per write,
//! not once per page), on a slow one every page is written as it ends. A write is made while the
//! next records are mapped; the one after it waits for it. Each write saves the resume state of the
//! last page whose records it completes, so a sync cut off anywhere — a failed read, a crash, a
//! lost lease — reads again from the page after it; records already written come back with the
//! same hash: they are marked seen, not given a second place in the change feed.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use ledgerlink_connectors::{ErrorKind, PageEnd, PageEvent, PageRequest, ReadScope};
use ledgerlink_store::{FirstLoad, PageOutcome, RecordIn, SkippedRecord, Staged, StoreError};
use tokio::sync::mpsc;

use crate::error::EngineError;
use crate::sync::attempt::Attempt;
use crate::sync::pages::{Phase, Run};

/// Batches of records (of ~64 each) the reader may be ahead of the writer: ~500 records, a stage's
/// worth (16 held ~5.7 MB of invoices' JSON; issue #12).
const EVENTS_AHEAD: usize = 8;

/// What the reader needs, copied out of the run (which the writer holds mutably).
struct Reader<'a> {
    run: &'a crate::engine::Engine,
    session: &'a ledgerlink_connectors::Session,
    connector: std::sync::Arc<dyn ledgerlink_connectors::Connector>,
    principal: String,
}

/// How the reader ended.
enum ReadEnd {
    /// Every page was read (or the writer stopped taking them); `select_dropped` when BC refused the
    /// field selection and every field was read instead.
    Read { select_dropped: bool },
    /// A page could not be read.
    Failed(Attempt),
}

impl Reader<'_> {
    /// Reads pages from `request`'s onwards, each ending with [`PageEvent::End`].
    async fn read(&self, mut request: PageRequest, tx: mpsc::Sender<PageEvent>) -> ReadEnd {
        let mut select_dropped = false;
        loop {
            let end = match self.page_with_retries(&mut request, &tx).await {
                Ok(end) => end,
                Err(Some(attempt)) => return ReadEnd::Failed(attempt),
                Err(None) => return ReadEnd::Read { select_dropped },
            };
            select_dropped |= request.fields.is_none();
            let next = end.next.clone();
            if tx.send(PageEvent::End(end)).await.is_err() {
                return ReadEnd::Read { select_dropped };
            }
            match next {
                Some(next) => request.cursor = Some(next),
                None => return ReadEnd::Read { select_dropped },
            }
        }
    }

    /// One page within the budget, retried as [`crate::Engine::fetch_with_retries`] does (each retry
    /// announced, so the writer forgets what it got of the page). `Err(None)`: the writer stopped.
    async fn page_with_retries(
        &self,
        request: &mut PageRequest,
        tx: &mpsc::Sender<PageEvent>,
    ) -> Result<PageEnd, Option<Attempt>> {
        let mut tries = 0;
        loop {
            tries += 1;
            let read = self.connector.stream_page(self.session, request, tx);
            let err = match self.run.within_budget(&self.principal, read).await {
                Ok(end) => return Ok(end),
                Err(_) if tx.is_closed() => return Err(None),
                Err(e) => e,
            };
            // An older Business Central may lack a property we select and refuse the whole request
            // (400): read every property instead (later pages follow BC's next link).
            if err.kind() == ErrorKind::Rejected
                && request.fields.is_some()
                && request.cursor.is_none()
            {
                tracing::warn!(error = %err, "Business Central refused the field selection; reading all fields");
                request.fields = None;
                continue;
            }
            let retryable = matches!(err.kind(), ErrorKind::Transient | ErrorKind::RateLimited);
            let wait = err
                .retry_after()
                .unwrap_or(std::time::Duration::from_millis(100 * 2u64.pow(tries)));
            if !retryable
                || tries >= crate::sync::attempt::PAGE_TRIES
                || wait > std::time::Duration::from_secs(10)
            {
                return Err(Some(Attempt::Failed(err)));
            }
            tracing::debug!(error = %err, tries, "page read failed; reading it again");
            let error = crate::sync::attempt::err_text(&err);
            if tx.send(PageEvent::Retrying { error }).await.is_err() {
                return Err(None);
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// Records mapped before they are staged at most (fewer once `write_chunk_bytes` of JSON). Their
/// JSON, unified and as received, waits whole until then: ~4 MB of invoices with five lines.
/// 1,000 held twice that, and with the write in flight and the next one staging, a sync of
/// 20,000-record pages peaked at 102–107 MiB on 1,000,000 invoices (issue #12).
const STAGE_RECORDS: usize = 500;

/// A page being read: its records not yet staged, and what the page held so far.
#[derive(Default)]
struct PageInProgress {
    chunk: Vec<RecordIn>,
    /// The chunk's records' JSON text, in bytes.
    chunk_bytes: usize,
    chunk_skips: Vec<SkippedRecord>,
    /// Records staged of the page.
    records: u64,
    /// Skips staged of the page.
    skips: Vec<SkippedRecord>,
}

/// A write in flight: what it did, and its staging buffer back (emptied, for reuse).
type Flush<'a> =
    Pin<Box<dyn Future<Output = (Result<PageOutcome, StoreError>, Staged)> + Send + 'a>>;

/// The window's writes: the records staged for the next one, and the one in flight.
struct Writes<'a> {
    staged: Staged,
    /// A page ended since the last write was made.
    page_ended: bool,
    /// When the last write was made (engine clock).
    last: chrono::DateTime<chrono::Utc>,
    /// The write in flight, and whether it saves a page's end.
    in_flight: Option<(Flush<'a>, bool)>,
    /// The emptied buffer of the last write.
    spare: Option<Staged>,
    /// The hashes of the records the write in flight stores, by remote id (staging compares with
    /// them: the database does not have them yet).
    unsettled: std::collections::HashMap<String, String>,
    /// Set when the window began with no record of the model stored: what it has not staged yet
    /// is new, and is not looked up.
    first_load: Option<FirstLoad>,
}

impl<'a> Run<'a> {
    /// Phase 2: every page of the window, read and written at the same time.
    pub(super) async fn window_pages(&mut self) -> Result<Option<Attempt>, EngineError> {
        let reader = Reader {
            run: self.engine,
            session: self.session,
            connector: self.engine.connector_for(&self.conn.provider_name)?.clone(),
            principal: self.principal.clone(),
        };
        let request = self.request(ReadScope::Window, self.state.cursor.clone());
        let (tx, rx) = mpsc::channel(EVENTS_AHEAD);
        let read = {
            let read_pages = reader.read(request, tx);
            let write_pages = self.write_pages(rx);
            tokio::pin!(read_pages, write_pages);
            tokio::select! {
                written = &mut write_pages => match written {
                    // The writer stopped the attempt (cancelled, lease lost, a store failure):
                    // the reader is dropped at once, with its budget slot, not left waiting on BC.
                    Ok(Some(end)) => return Ok(Some(end)),
                    Err(e) => return Err(e),
                    Ok(None) => read_pages.await,
                },
                read = &mut read_pages => {
                    if let Some(end) = write_pages.await? {
                        return Ok(Some(end));
                    }
                    read
                }
            }
        };
        match read {
            ReadEnd::Failed(attempt) => Ok(Some(attempt)),
            ReadEnd::Read { select_dropped } => {
                if select_dropped {
                    self.select = None;
                }
                Ok(None)
            }
        }
    }

    /// Maps and writes what the reader sends until it stops; `Some(end)` ends the attempt.
    ///
    /// Records are mapped as they arrive and staged (compared with the stored ones; the new and
    /// changed ones packed) every [`STAGE_RECORDS`] or `write_chunk_bytes` of JSON. What is staged
    /// is written — while the next records are mapped — once it holds `write_chunk` records or
    /// `write_chunk_bytes` packed, at a page's end once `write_interval` has passed since the last
    /// write, when a page is read again, and at the end. Each write saves the state of the last
    /// page whose records it completes.
    async fn write_pages(
        &mut self,
        mut rx: mpsc::Receiver<PageEvent>,
    ) -> Result<Option<Attempt>, EngineError> {
        let mut page = PageInProgress::default();
        // Only a full pass can be a model's first (an incremental sync's model has been synced):
        // the others save the question's round trip.
        let (engine, job) = (self.engine, self.job);
        let first_load = if job.sync.is_initial_sync {
            engine
                .store_retrying(self.lease_end(), || engine.store().first_load(job))
                .await?
        } else {
            None
        };
        let mut w = Writes {
            staged: Staged::default(),
            page_ended: false,
            last: self.engine.now(),
            in_flight: None,
            spare: None,
            unsettled: Default::default(),
            first_load,
        };
        loop {
            let event = tokio::select! {
                biased;
                done = async { (&mut w.in_flight.as_mut().expect("a write in flight").0).await },
                    if w.in_flight.is_some() =>
                {
                    let saves_page_end = w.in_flight.take().is_some_and(|(_, end)| end);
                    if let Some(end) = self.written(&mut w, done, saves_page_end)? {
                        return Ok(Some(end));
                    }
                    continue;
                }
                event = rx.recv() => event,
            };
            let Some(event) = event else { break };
            match event {
                PageEvent::Records(raws) => {
                    for raw in raws {
                        let settings = self.engine.sync_settings();
                        if (page.chunk.len() >= settings.write_chunk.min(STAGE_RECORDS)
                            || page.chunk_bytes >= settings.write_chunk_bytes)
                            && let Some(end) = self.stage(&mut page, &mut w).await?
                        {
                            return Ok(Some(end));
                        }
                        let before = page.chunk.len();
                        self.map_raw(raw, &mut page.chunk, &mut page.chunk_skips);
                        page.chunk_bytes += page.chunk[before..]
                            .iter()
                            .map(|r| r.data.len() + r.raw.len())
                            .sum::<usize>();
                        if let Some(end) = self.poll_write(&mut w).await? {
                            return Ok(Some(end));
                        }
                    }
                }
                PageEvent::Retrying { error } => {
                    self.state.retried_errors += 1;
                    self.state.last_error = Some(error);
                    // What was staged of the page is written now, with the state from before it:
                    // the page is read again from its start, and those records come back unchanged.
                    page = PageInProgress::default();
                    if let Some(end) = self.write_staged(&mut w).await? {
                        return Ok(Some(end));
                    }
                }
                PageEvent::End(end) => {
                    if let Some(end) = self
                        .end_page(std::mem::take(&mut page), end, &mut w)
                        .await?
                    {
                        return Ok(Some(end));
                    }
                }
            }
        }
        // The reader stopped (every page read, or one failed): what is staged is written, and the
        // window ends once it is.
        if let Some(end) = self.write_staged(&mut w).await? {
            return Ok(Some(end));
        }
        self.settle(&mut w).await
    }

    /// Stages the page's chunk; writes what is staged once it is large enough.
    async fn stage(
        &mut self,
        page: &mut PageInProgress,
        w: &mut Writes<'a>,
    ) -> Result<Option<Attempt>, EngineError> {
        if !page.chunk.is_empty() {
            let mut finished = None;
            // Compared with what is stored, and with what the write in flight stores (it goes on
            // meanwhile).
            let (engine, job, chunk, unsettled, first_load) = (
                self.engine,
                self.job,
                &page.chunk,
                &w.unsettled,
                w.first_load.as_ref(),
            );
            let staged = {
                let stage = engine.store_retrying(self.lease_end(), || {
                    engine
                        .store()
                        .stage_records(job, chunk, unsettled, first_load)
                });
                tokio::pin!(stage);
                loop {
                    tokio::select! {
                        biased;
                        staged = &mut stage => break staged?,
                        done = async { (&mut w.in_flight.as_mut().expect("a write in flight").0).await },
                            if w.in_flight.is_some() => {
                            let page_end = w.in_flight.take().is_some_and(|(_, end)| end);
                            finished = Some((done, page_end));
                        }
                    }
                }
            };
            if let Some((done, page_end)) = finished
                && let Some(end) = self.written(w, done, page_end)?
            {
                return Ok(Some(end));
            }
            w.staged.append(staged);
        }
        page.records += page.chunk.len() as u64;
        page.chunk.clear();
        page.chunk_bytes = 0;
        w.staged.skip(&page.chunk_skips);
        page.skips.append(&mut page.chunk_skips);
        let settings = self.engine.sync_settings();
        if w.staged.len() >= settings.write_chunk || w.staged.bytes() >= settings.write_chunk_bytes
        {
            return self.write_staged(w).await;
        }
        Ok(None)
    }

    /// The page's end: its last records staged, the state after it counted; what is staged is
    /// written when the last write is `write_interval` (or a third of the lease) old, or the
    /// process is stopping.
    async fn end_page(
        &mut self,
        mut page: PageInProgress,
        end: PageEnd,
        w: &mut Writes<'a>,
    ) -> Result<Option<Attempt>, EngineError> {
        if let Some(end) = self.stage(&mut page, w).await? {
            return Ok(Some(end));
        }
        if self.state.cursor.is_none() && end.total.is_some() {
            self.state.total = end.total;
        }
        self.state.cursor = end.next;
        if self.state.cursor.is_none() {
            self.state.phase = Some(if self.recheck {
                Phase::Volatile
            } else {
                Phase::Done
            });
        }
        self.count_page(page.records, &page.skips);
        w.page_ended = true;
        // Each write renews the lease: one is made at least every third of it.
        let settings = self.engine.sync_settings();
        let interval = settings.write_interval.min(settings.lease / 3);
        if self.engine.now() - w.last >= interval || self.engine.is_stopping() {
            return self.write_staged(w).await;
        }
        Ok(None)
    }

    /// Starts writing what is staged, with the state of the last page counted (after the write in
    /// flight, if any, has ended).
    async fn write_staged(&mut self, w: &mut Writes<'a>) -> Result<Option<Attempt>, EngineError> {
        if let Some(end) = self.settle(w).await? {
            return Ok(Some(end));
        }
        if w.staged.is_empty() && !w.page_ended {
            return Ok(None);
        }
        let staged = std::mem::replace(&mut w.staged, w.spare.take().unwrap_or_default());
        w.unsettled = staged.hashes();
        let state = self.committed.clone();
        let (engine, job, worker) = (self.engine, self.job, self.worker);
        let lease_end = self.lease_end();
        let write: Flush<'a> = Box::pin(async move {
            let saved = engine
                .store_retrying(lease_end, || {
                    engine.store().save_staged(
                        job,
                        worker,
                        &staged,
                        &[],
                        &state,
                        engine.now(),
                        engine.now() + engine.sync_settings().lease,
                    )
                })
                .await;
            (saved, staged)
        });
        w.in_flight = Some((write, std::mem::take(&mut w.page_ended)));
        w.last = self.engine.now();
        Ok(None)
    }

    /// Waits for the write in flight, if any.
    async fn settle(&mut self, w: &mut Writes<'a>) -> Result<Option<Attempt>, EngineError> {
        match w.in_flight.take() {
            Some((write, page_end)) => {
                let done = write.await;
                self.written(w, done, page_end)
            }
            None => Ok(None),
        }
    }

    /// Lets the write in flight, if any, go on (its statements are sent as it is polled).
    async fn poll_write(&mut self, w: &mut Writes<'a>) -> Result<Option<Attempt>, EngineError> {
        let Some((write, _)) = w.in_flight.as_mut() else {
            return Ok(None);
        };
        let polled = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
        match polled {
            Poll::Pending => Ok(None),
            Poll::Ready(done) => {
                let page_end = w.in_flight.take().is_some_and(|(_, end)| end);
                self.written(w, done, page_end)
            }
        }
    }

    /// What a write's outcome means for the attempt; its buffer is kept for the next one.
    fn written(
        &mut self,
        w: &mut Writes<'a>,
        (saved, mut buffer): (Result<PageOutcome, StoreError>, Staged),
        page_end: bool,
    ) -> Result<Option<Attempt>, EngineError> {
        buffer.clear();
        w.spare = Some(buffer);
        w.unsettled.clear();
        self.after_write(saved, page_end)
    }
}
