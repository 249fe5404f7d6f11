//! One attempt of a sync, page by page, in three phases:
//!
//! 1. **skipped** — re-read (by id) the records earlier syncs of the model could not map;
//! 2. **window** — the records modified in the sync's window (every record for a full pass);
//! 3. **volatile** — for incremental syncs of models whose ERP changes some fields without moving
//!    the record's modification stamp (BC: an invoice's `remainingAmount` after a partial payment, a
//!    customer's balances): read just those fields of the records that can still change, compare them
//!    with our copy and re-read (by id) the records that differ.
//!
//! A record that cannot be mapped is skipped (the rest of the page goes on): it is listed on the
//! sync, remembered, re-read at the next sync, and its stored version is kept as it was.

use std::collections::HashSet;

use ledgerlink_connectors::business_central::mapping::{
    MapError, MappedJson, MappingContext, map_fetched_text, selected_fields, silently_changing,
};
use ledgerlink_connectors::{
    ErrorKind, MAX_IDS_PER_REQUEST, Page, PageRequest, ReadScope, Session, TimeWindow,
};
use ledgerlink_domain::Connection;
use ledgerlink_store::{PageWrite, RecordIn, SkippedRecord, StoreError, SyncJob};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::sync::attempt::{Attempt, principal};

/// Skips listed on the sync object (all of them are counted and remembered).
const SKIPS_SHOWN: usize = 50;

/// Records per page of the amounts re-check (BC's largest page; each record is a few fields).
const VOLATILE_PAGE_SIZE: u32 = 20_000;

/// Earlier skips re-read at the start of a sync.
const SKIPS_RETRIED: u32 = 200;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Phase {
    #[default]
    Skipped,
    Window,
    Volatile,
    Done,
}

/// What a sync saves with each page (`pagination_state`), to resume from there.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct State {
    #[serde(default)]
    pub(super) phase: Option<Phase>,
    #[serde(default)]
    pub(super) cursor: Option<String>,
    #[serde(default)]
    pages: u64,
    #[serde(default)]
    records: u64,
    /// How many records the window covers, as the ERP counted them on its first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) total: Option<u64>,
    #[serde(default)]
    pub(super) retried_errors: u64,
    #[serde(default)]
    pub(super) last_error: Option<String>,
    /// Records re-read because a silently changing field differed from our copy.
    #[serde(default, skip_serializing_if = "is_zero")]
    rechecked: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    skipped_count: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    skipped: Vec<SkippedRecord>,
    /// A record without a readable id was skipped: a full pass cannot tell what it stood for, so it
    /// does not take unseen records for deleted this time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    unidentified_skips: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl State {
    fn load(v: &Value) -> State {
        let mut s: State = serde_json::from_value(v.clone()).unwrap_or_default();
        if s.phase.is_none() {
            // Saved before phases existed: pages written and no cursor means the window was read.
            s.phase = Some(if s.pages > 0 && s.cursor.is_none() {
                Phase::Done
            } else if s.pages > 0 {
                Phase::Window
            } else {
                Phase::Skipped
            });
        }
        s
    }

    pub(super) fn phase(&self) -> Phase {
        self.phase.unwrap_or_default()
    }
}

/// What one attempt works with.
pub(super) struct Run<'a> {
    pub(super) engine: &'a Engine,
    pub(super) job: &'a SyncJob,
    pub(super) worker: &'a str,
    pub(super) conn: &'a Connection,
    pub(super) session: &'a Session,
    ctx: MappingContext,
    pub(super) principal: String,
    window: TimeWindow,
    pub(super) select: Option<&'static [&'static str]>,
    pub(super) state: State,
    /// The resume state as last saved (what a page's chunks before its last save again).
    pub(super) committed: Value,
    /// This sync re-checks silently changing amounts after its window (incremental, and the model
    /// has such fields).
    pub(super) recheck: bool,
}

impl Engine {
    pub(crate) async fn run_pages(
        &self,
        job: &SyncJob,
        worker: &str,
        conn: &Connection,
        session: &Session,
    ) -> Result<Attempt, EngineError> {
        let connector = self.connector_for(&conn.provider_name)?;
        let support = connector.models().iter().find(|m| m.name == job.model_name);
        let incremental = support.is_some_and(|m| m.incremental);
        let silent_changes = support.is_some_and(|m| m.silent_changes);
        let full = job.sync.is_initial_sync || !incremental;
        let window = if full {
            TimeWindow::default()
        } else {
            TimeWindow {
                modified_after: job.sync.timerange_start,
                modified_until: job.sync.timerange_end,
            }
        };
        let mut run = Run {
            engine: self,
            job,
            worker,
            conn,
            session,
            // Setup read the company's local currency: BC's blank currency codes stand for it.
            ctx: MappingContext {
                local_currency: conn
                    .discovery
                    .as_ref()
                    .and_then(|d| d.local_currency.clone()),
            },
            principal: principal(conn),
            window,
            select: selected_fields(&job.model_name),
            state: State::load(&job.sync.pagination_state),
            committed: job.sync.pagination_state.clone(),
            recheck: !full && silent_changes,
        };
        loop {
            let step = match run.state.phase() {
                Phase::Skipped => run.retry_skipped().await?,
                Phase::Window => run.window_pages().await?,
                Phase::Volatile if full || !silent_changes => {
                    run.state.phase = Some(Phase::Done);
                    None
                }
                Phase::Volatile => run.volatile_page().await?,
                Phase::Done => {
                    return Ok(Attempt::Done {
                        full: full && !run.state.unidentified_skips,
                    });
                }
            };
            if let Some(end) = step {
                return Ok(end);
            }
        }
    }
}

impl Run<'_> {
    pub(super) fn request(&self, scope: ReadScope, cursor: Option<String>) -> PageRequest {
        // The amounts re-check reads two or three small fields a record: BC's largest pages.
        let page_size = match scope {
            ReadScope::Volatile => VOLATILE_PAGE_SIZE,
            _ => self.engine.sync_settings().page_size,
        };
        PageRequest {
            scope,
            model: self.job.model_name.clone(),
            cursor,
            window: self.window,
            page_size: Some(page_size),
            include_dimension_lines: self.conn.include_dimension_lines,
            fields: self
                .select
                .map(|f| f.iter().map(|s| s.to_string()).collect()),
        }
    }

    /// Fetches within the budget, retrying what passes; `Err(attempt)` ends the attempt.
    async fn fetch(&mut self, request: &PageRequest) -> Result<Result<Page, Attempt>, EngineError> {
        let mut request = request.clone();
        let connector = self.engine.connector_for(&self.conn.provider_name)?;
        loop {
            match self
                .engine
                .fetch_with_retries(connector, &self.principal, self.session, &request)
                .await
            {
                Ok((page, errors)) => {
                    if let Some(e) = errors.last() {
                        self.state.retried_errors += errors.len() as u64;
                        self.state.last_error = Some(e.clone());
                    }
                    return Ok(Ok(page));
                }
                // An older Business Central may lack a property we select and refuse the whole
                // request (400): read every property instead. (Later pages follow BC's next link,
                // which carries the selection of the first.)
                Err(e)
                    if e.kind() == ErrorKind::Rejected
                        && request.fields.is_some()
                        && request.cursor.is_none()
                        && request.scope != ReadScope::Volatile =>
                {
                    tracing::warn!(error = %e, "Business Central refused the field selection; reading all fields");
                    self.select = None;
                    request.fields = None;
                }
                Err(e) => return Ok(Err(Attempt::Failed(e))),
            }
        }
    }

    /// Maps a page's records; what cannot be mapped is skipped, not fatal.
    fn map(&mut self, raws: &[Value]) -> (Vec<RecordIn>, Vec<SkippedRecord>) {
        let mut batch = Vec::with_capacity(raws.len());
        let mut skipped = Vec::new();
        for raw in raws {
            self.map_raw(raw.to_string().into_boxed_str(), &mut batch, &mut skipped);
        }
        (batch, skipped)
    }

    /// Maps one record as BC sent it (its bytes are kept as its `raw`).
    pub(super) fn map_raw(
        &mut self,
        raw: Box<str>,
        batch: &mut Vec<RecordIn>,
        skipped: &mut Vec<SkippedRecord>,
    ) {
        match map_fetched_text(&self.job.model_name, &raw, &self.ctx) {
            Ok(mapped) => self.take_mapped(mapped, raw, batch, skipped),
            // Not JSON (the page splitter checks a record's structure, not its values), or nested
            // deeper than serde_json's limit: skipped on its own, the page goes on.
            Err(e) => {
                tracing::warn!(reason = %e, "skipped a record Business Central sent that cannot be read");
                self.engine.count_skip(&self.job.model_name);
                skipped.push(SkippedRecord {
                    remote_id: None,
                    reason: e.to_string(),
                });
            }
        }
    }

    /// Adds a page record's mapped records to the batch (with `raw`, the page record's bytes) and
    /// what could not be mapped to the skipped.
    fn take_mapped(
        &mut self,
        mut mapped: Vec<Result<MappedJson, MapError>>,
        raw: Box<str>,
        batch: &mut Vec<RecordIn>,
        skipped: &mut Vec<SkippedRecord>,
    ) {
        // The page record is every record's raw payload (payments: their journal's); the last takes it.
        let last = mapped.len().saturating_sub(1);
        let mut raw = Some(raw);
        for (i, m) in mapped.drain(..).enumerate() {
            match m {
                Ok(m) => batch.push(RecordIn {
                    hash: ledgerlink_store::record_hash(&m.data),
                    remote_id: m.remote_id,
                    data: m.data,
                    raw: if i == last {
                        raw.take().unwrap_or_default()
                    } else {
                        raw.clone().unwrap_or_default()
                    },
                    remote_modified_at: m.remote_modified_at,
                }),
                Err(e) => {
                    tracing::warn!(remote_id = ?e.remote_id, reason = %e.reason, "skipped a record Business Central sent that cannot be mapped");
                    self.engine.count_skip(&self.job.model_name);
                    skipped.push(SkippedRecord {
                        remote_id: e.remote_id,
                        reason: e.reason,
                    });
                }
            }
        }
    }

    /// Saves a page with the state after it. `Some(end)` ends the attempt.
    async fn save(
        &mut self,
        records: &[RecordIn],
        skipped: &[SkippedRecord],
        forget_skips: &[String],
    ) -> Result<Option<Attempt>, EngineError> {
        self.save_counted(
            records,
            records.len() as u64,
            skipped,
            skipped,
            forget_skips,
        )
        .await
    }

    /// Saves the end of a page that held `count` records and `page_skips` (of which `records` and
    /// `skipped` are not written yet), with the state after it.
    pub(super) async fn save_counted(
        &mut self,
        records: &[RecordIn],
        count: u64,
        skipped: &[SkippedRecord],
        page_skips: &[SkippedRecord],
        forget_skips: &[String],
    ) -> Result<Option<Attempt>, EngineError> {
        let state = self.count_page(count, page_skips);
        self.write(records, skipped, forget_skips, &state).await
    }

    /// Counts the end of a page that held `count` records and `page_skips` into the state, which
    /// becomes the one writes save from now on; returns it.
    pub(super) fn count_page(&mut self, count: u64, page_skips: &[SkippedRecord]) -> Value {
        self.state.pages += 1;
        self.state.records += count;
        for skip in page_skips {
            self.state.unidentified_skips |= skip.remote_id.is_none();
            // A record skipped in the window and again when its amounts are re-checked counts once.
            if skip.remote_id.is_some() && self.state.skipped.contains(skip) {
                continue;
            }
            self.state.skipped_count += 1;
            if self.state.skipped.len() < SKIPS_SHOWN {
                self.state.skipped.push(skip.clone());
            }
        }
        let state = serde_json::to_value(&self.state).unwrap_or_default();
        self.committed = state.clone();
        state
    }

    /// Writes a page's records and skips with `state`, the state after the page, as the resume
    /// state. `Some(end)` ends the attempt.
    async fn write(
        &mut self,
        records: &[RecordIn],
        skipped: &[SkippedRecord],
        forget_skips: &[String],
        state: &Value,
    ) -> Result<Option<Attempt>, EngineError> {
        let page = PageWrite {
            records,
            skipped,
            forget_skips,
            pagination_state: state,
        };
        let saved = self
            .engine
            .store_retrying(self.lease_end(), || {
                self.engine.store().save_sync_page(
                    self.job,
                    self.worker,
                    page,
                    self.engine.now(),
                    self.engine.now() + self.engine.sync_settings().lease,
                )
            })
            .await;
        self.after_write(saved, true)
    }

    /// What a write's outcome means for the attempt (`page_end`: it saved a page's end).
    pub(super) fn after_write(
        &self,
        saved: Result<ledgerlink_store::PageOutcome, StoreError>,
        page_end: bool,
    ) -> Result<Option<Attempt>, EngineError> {
        match saved {
            Ok(outcome) if outcome.cancel_requested => Ok(Some(Attempt::Cancelled)),
            Ok(_) if page_end && self.engine.is_stopping() && self.state.phase() != Phase::Done => {
                Ok(Some(Attempt::Released))
            }
            Ok(_) => Ok(None),
            Err(StoreError::NotHeld) => Ok(Some(Attempt::LeaseLost)),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) fn lease_end(&self) -> chrono::DateTime<chrono::Utc> {
        self.engine.now() + self.engine.sync_settings().lease
    }

    /// Phase 1: earlier skips, re-read by id.
    async fn retry_skipped(&mut self) -> Result<Option<Attempt>, EngineError> {
        let ids = self
            .engine
            .store()
            .skipped_records(&self.job.connection_id, &self.job.model_name, SKIPS_RETRIED)
            .await?;
        for chunk in ids.chunks(MAX_IDS_PER_REQUEST) {
            let request = self.request(ReadScope::Ids(chunk.to_vec()), None);
            let page = match self.fetch(&request).await? {
                Ok(p) => p,
                // Re-reading earlier skips is best effort: a refusal must not block the model.
                Err(Attempt::Failed(e)) if !passes(&e) => {
                    tracing::warn!(error = %e, "could not re-read earlier skipped records");
                    self.state.last_error = Some(e.to_string());
                    break;
                }
                Err(end) => return Ok(Some(end)),
            };
            let (records, skipped) = self.map(&page.records);
            // Forget the skips of records that mapped now and of those BC no longer has.
            let again: HashSet<&str> = skipped
                .iter()
                .filter_map(|s| s.remote_id.as_deref())
                .collect();
            let forget: Vec<String> = chunk
                .iter()
                .filter(|id| !again.contains(id.as_str()))
                .cloned()
                .collect();
            if let Some(end) = self.save(&records, &skipped, &forget).await? {
                return Ok(Some(end));
            }
        }
        self.state.phase = Some(Phase::Window);
        Ok(None)
    }

    /// Phase 3: one page of silently changing fields; the records that differ are re-read whole.
    async fn volatile_page(&mut self) -> Result<Option<Attempt>, EngineError> {
        let request = self.request(ReadScope::Volatile, self.state.cursor.clone());
        let page = match self.fetch(&request).await? {
            Ok(p) => p,
            // The re-check is best effort (an older BC may not serve the field): the window's pages
            // are written; say what failed and end the sync.
            Err(Attempt::Failed(e)) if !passes(&e) => {
                tracing::warn!(error = %e, "could not re-check silently changing amounts");
                self.state.last_error = Some(e.to_string());
                self.state.phase = Some(Phase::Done);
                self.state.cursor = None;
                return self.save(&[], &[], &[]).await;
            }
            Err(end) => return Ok(Some(end)),
        };
        let ids: Vec<&str> = page
            .records
            .iter()
            .filter_map(|r| r.get("id").and_then(Value::as_str))
            .collect();
        let stored = self
            .engine
            .store()
            .stored_raw(&self.job.connection_id, &self.job.model_name, &ids)
            .await?;
        // Records we do not have are new: the window reads those.
        let changed: Vec<String> = page
            .records
            .iter()
            .filter_map(|r| {
                let id = r.get("id").and_then(Value::as_str)?;
                let ours = stored.get(id)?;
                differs(r, ours, silently_changing(&self.job.model_name)).then(|| id.to_owned())
            })
            .collect();
        let mut records = Vec::new();
        let mut skipped = Vec::new();
        for chunk in changed.chunks(MAX_IDS_PER_REQUEST) {
            let request = self.request(ReadScope::Ids(chunk.to_vec()), None);
            let whole = match self.fetch(&request).await? {
                Ok(p) => p,
                Err(end) => return Ok(Some(end)),
            };
            let (mut r, mut s) = self.map(&whole.records);
            records.append(&mut r);
            skipped.append(&mut s);
        }
        self.state.rechecked += changed.len() as u64;
        self.state.cursor = page.next;
        if self.state.cursor.is_none() {
            self.state.phase = Some(Phase::Done);
        }
        self.save(&records, &skipped, &[]).await
    }
}

/// Whether any of `paths` (`a` or `a/b` into an expanded child) differs between what BC sent now
/// and our stored payload. Only the fields the mapping reads count: a child BC expands whole (a
/// customer's financial details) has others that change all the time and would never settle.
fn differs(fresh: &Value, ours: &Value, paths: &[&str]) -> bool {
    paths.iter().any(|path| {
        let pointer = format!("/{path}");
        match (fresh.pointer(&pointer), ours.pointer(&pointer)) {
            (Some(a), Some(b)) => !same(a, b),
            (Some(_), None) => true,
            (None, _) => false,
        }
    })
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        _ => a == b,
    }
}

/// Whether an error may pass if the same request is made again later.
fn passes(e: &ledgerlink_connectors::ConnectorError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Transient | ErrorKind::RateLimited | ErrorKind::Unauthorized
    )
}

/// Errors from our own database that pass: the attempt is deferred, not failed.
pub(crate) fn store_transient(e: &EngineError) -> Option<&StoreError> {
    match e {
        EngineError::Store(s) if s.is_transient() => Some(s),
        _ => None,
    }
}
