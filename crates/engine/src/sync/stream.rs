//! The window phase, streamed: one task reads pages from the ERP (record by record as the bytes
//! arrive, following next links) while the other maps and writes them, through a bounded channel.
//! The slower of network and database sets the pace, and memory does not depend on the page size.
//!
//! A page is written in chunks of `write_chunk` records, or fewer once they hold `write_chunk_bytes`
//! of JSON ([`crate::SyncSettings`]), each in its own transaction. Only the
//! page's last chunk saves the new resume state (the next link, the counts); the chunks before it
//! save the state as it was before the page. So a page cut off anywhere — a failed read, a crash,
//! a lost lease — is read again from its start, and its records already written come back with the
//! same hash: they are marked seen, not given a second place in the change feed.

use ledgerlink_connectors::{ErrorKind, PageEnd, PageEvent, PageRequest, ReadScope};
use ledgerlink_store::{RecordIn, SkippedRecord};
use tokio::sync::mpsc;

use crate::error::EngineError;
use crate::sync::attempt::Attempt;
use crate::sync::pages::{Phase, Run};

/// Batches of records (of ~64 each) the reader may be ahead of the writer.
const EVENTS_AHEAD: usize = 16;

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

/// A page being written: its chunk not yet written, and what the page held so far.
#[derive(Default)]
struct PageInProgress {
    chunk: Vec<RecordIn>,
    /// The chunk's records' JSON text, in bytes.
    chunk_bytes: usize,
    chunk_skips: Vec<SkippedRecord>,
    records: u64,
    skips: Vec<SkippedRecord>,
}

impl Run<'_> {
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
    async fn write_pages(
        &mut self,
        mut rx: mpsc::Receiver<PageEvent>,
    ) -> Result<Option<Attempt>, EngineError> {
        let mut page = PageInProgress::default();
        while let Some(event) = rx.recv().await {
            match event {
                PageEvent::Records(raws) => {
                    for raw in raws {
                        let settings = self.engine.sync_settings();
                        if (page.chunk.len() >= settings.write_chunk
                            || page.chunk_bytes >= settings.write_chunk_bytes)
                            && let Some(end) = self.write_chunk(&mut page).await?
                        {
                            return Ok(Some(end));
                        }
                        let before = page.chunk.len();
                        self.map_raw(raw, &mut page.chunk, &mut page.chunk_skips);
                        page.chunk_bytes += page.chunk[before..]
                            .iter()
                            .map(|r| r.data.len() + r.raw.len())
                            .sum::<usize>();
                    }
                }
                PageEvent::Retrying { error } => {
                    self.state.retried_errors += 1;
                    self.state.last_error = Some(error);
                    page = PageInProgress::default();
                }
                PageEvent::End(end) => {
                    if let Some(end) = self.end_page(std::mem::take(&mut page), end).await? {
                        return Ok(Some(end));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Writes the chunk so far with the resume state from before the page.
    async fn write_chunk(
        &mut self,
        page: &mut PageInProgress,
    ) -> Result<Option<Attempt>, EngineError> {
        let state = self.committed.clone();
        let end = self
            .write(&page.chunk, &page.chunk_skips, &[], &state, false)
            .await?;
        page.records += page.chunk.len() as u64;
        page.chunk.clear();
        page.chunk_bytes = 0;
        page.skips.append(&mut page.chunk_skips);
        Ok(end)
    }

    /// The page's last chunk, with the state after the page.
    async fn end_page(
        &mut self,
        mut page: PageInProgress,
        end: PageEnd,
    ) -> Result<Option<Attempt>, EngineError> {
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
        let records = page.records + page.chunk.len() as u64;
        let mut skips = std::mem::take(&mut page.skips);
        skips.extend(page.chunk_skips.iter().cloned());
        self.save_counted(&page.chunk, records, &page.chunk_skips, &skips, &[])
            .await
    }
}
