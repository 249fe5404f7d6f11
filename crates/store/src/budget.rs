//! Request budgets of ERP principals shared by every process on one database: how many requests a
//! principal started within the sliding window, which requests are in flight, and pauses the ERP
//! asked for. Times are integer milliseconds since the Unix epoch (exact comparisons on both
//! backends). The [`BudgetStore`] trait and its SQL.

use async_trait::async_trait;

use crate::error::Result;
use crate::pool::{Backed, on_pool};

/// The limits one principal's requests must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed to start within any `window_ms`.
    pub per_window: u32,
    /// The sliding window, in milliseconds.
    pub window_ms: i64,
    /// Requests allowed in flight at once.
    pub concurrent: u32,
}

impl Quota {
    /// Requests are counted in buckets of this width (1/30 of the window, at least 1 ms).
    pub fn bucket_ms(&self) -> i64 {
        (self.window_ms / 30).max(1)
    }
}

/// Why a request may not start yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetWait {
    /// The window is full, or the ERP asked for a pause: try again at this instant (ms).
    Until(i64),
    /// `concurrent` requests are in flight: try again when one ends.
    Busy,
}

/// Shared request budgets.
#[async_trait]
pub trait BudgetStore: Send + Sync {
    /// Counts one request of `principal` starting at `now_ms` and holds one of its concurrency slots
    /// as `slot` until released or `hold_until_ms` (a crashed holder's slot frees itself then) —
    /// or says why it may not start. Atomic across processes.
    async fn budget_acquire(
        &self,
        principal: &str,
        slot: &str,
        quota: Quota,
        now_ms: i64,
        hold_until_ms: i64,
    ) -> Result<std::result::Result<(), BudgetWait>>;
    /// Frees a slot taken by [`BudgetStore::budget_acquire`].
    async fn budget_release(&self, slot: &str) -> Result<()>;
    /// Forgets what no longer matters: expired slots, and buckets and principals nobody used for
    /// `idle_ms` (longer than any window). Returns the rows removed.
    async fn budget_sweep(&self, now_ms: i64, idle_ms: i64) -> Result<u64>;
    /// Pauses `principal` until `until_ms` for every process (never shortens a pause).
    async fn budget_pause(&self, principal: &str, until_ms: i64) -> Result<()>;
}

/// Counts the principal in (writing its row serializes every acquirer of this principal until the
/// commit: a row lock on Postgres; SQLite has one writer at a time): `$1` principal, `$2` now.
const TOUCH_PRINCIPAL: &str = "INSERT INTO budget_principals (principal, paused_until_ms, touched_ms) \
    VALUES ($1, 0, $2) ON CONFLICT (principal) DO UPDATE SET touched_ms = $2 \
    RETURNING paused_until_ms";

/// `$1` principal, `$2` the newest bucket that no longer counts.
const FORGET_BUCKETS: &str = "DELETE FROM budget_requests WHERE principal = $1 AND bucket <= $2";

/// Requests in the window and its oldest bucket: `$1` principal.
const REQUESTS_SENT: &str = "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT), MIN(bucket) \
    FROM budget_requests WHERE principal = $1";

const FORGET_SLOTS: &str = "DELETE FROM budget_slots WHERE principal = $1 AND held_until_ms < $2";

const SLOTS_HELD: &str = "SELECT COUNT(*) FROM budget_slots WHERE principal = $1";

const TAKE_SLOT: &str =
    "INSERT INTO budget_slots (id, principal, held_until_ms) VALUES ($1, $2, $3)";

/// `$1` principal, `$2` bucket.
const COUNT_REQUEST: &str = "INSERT INTO budget_requests (principal, bucket, n) VALUES ($1, $2, 1) \
    ON CONFLICT (principal, bucket) DO UPDATE SET n = budget_requests.n + 1";

const RELEASE_SLOT: &str = "DELETE FROM budget_slots WHERE id = $1";

/// The sweep, in order: `$1` now, `$2` the last instant that counts as idle.
const SWEEP: [&str; 3] = [
    "DELETE FROM budget_slots WHERE held_until_ms < $1",
    "DELETE FROM budget_requests WHERE bucket < $2",
    "DELETE FROM budget_principals WHERE touched_ms < $2 AND paused_until_ms < $1",
];

/// Never shortens a pause: `$1` principal, `$2` until.
const PAUSE: &str = "INSERT INTO budget_principals (principal, paused_until_ms, touched_ms) \
    VALUES ($1, $2, $2) ON CONFLICT (principal) DO UPDATE \
    SET paused_until_ms = CASE WHEN budget_principals.paused_until_ms < $2 \
    THEN $2 ELSE budget_principals.paused_until_ms END";

#[async_trait]
impl<S: Backed> BudgetStore for S {
    async fn budget_acquire(
        &self,
        principal: &str,
        slot: &str,
        quota: Quota,
        now_ms: i64,
        hold_until_ms: i64,
    ) -> Result<std::result::Result<(), BudgetWait>> {
        let db = self.db();
        // Up to 8 statements in one transaction.
        db.count(8);
        let width = quota.bucket_ms();
        // A bucket's requests all started before `bucket + width`: once that is a whole window
        // ago, none of them counts any more (rounding up: never under).
        let since = now_ms - quota.window_ms - width;
        on_pool!(db, pool => {
            let mut tx = pool.begin_with(db.dialect.write_begin).await?;
            let (paused_until,): (i64,) = sqlx::query_as(TOUCH_PRINCIPAL)
                .bind(principal)
                .bind(now_ms)
                .fetch_one(&mut *tx)
                .await?;
            if paused_until > now_ms {
                tx.commit().await?;
                return Ok(Err(BudgetWait::Until(paused_until)));
            }
            sqlx::query(FORGET_BUCKETS)
                .bind(principal)
                .bind(since)
                .execute(&mut *tx)
                .await?;
            let (sent, oldest): (i64, Option<i64>) = sqlx::query_as(REQUESTS_SENT)
                .bind(principal)
                .fetch_one(&mut *tx)
                .await?;
            if sent >= i64::from(quota.per_window) {
                tx.commit().await?;
                let at = oldest.unwrap_or(now_ms) + width + quota.window_ms;
                return Ok(Err(BudgetWait::Until(at)));
            }
            sqlx::query(FORGET_SLOTS)
                .bind(principal)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            let (held,): (i64,) = sqlx::query_as(SLOTS_HELD)
                .bind(principal)
                .fetch_one(&mut *tx)
                .await?;
            if held >= i64::from(quota.concurrent) {
                tx.commit().await?;
                return Ok(Err(BudgetWait::Busy));
            }
            sqlx::query(TAKE_SLOT)
                .bind(slot)
                .bind(principal)
                .bind(hold_until_ms)
                .execute(&mut *tx)
                .await?;
            sqlx::query(COUNT_REQUEST)
                .bind(principal)
                .bind(now_ms - now_ms.rem_euclid(width))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(Ok(()))
    }

    async fn budget_release(&self, slot: &str) -> Result<()> {
        let db = self.db();
        db.count(1);
        on_pool!(db, pool => {
            sqlx::query(RELEASE_SLOT).bind(slot).execute(pool).await?;
        });
        Ok(())
    }

    async fn budget_sweep(&self, now_ms: i64, idle_ms: i64) -> Result<u64> {
        let db = self.db();
        db.count(3);
        let mut gone = 0;
        on_pool!(db, pool => {
            let mut tx = pool.begin_with(db.dialect.write_begin).await?;
            for sql in SWEEP {
                gone += sqlx::query(sql)
                    .bind(now_ms)
                    .bind(now_ms - idle_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
        });
        Ok(gone)
    }

    async fn budget_pause(&self, principal: &str, until_ms: i64) -> Result<()> {
        let db = self.db();
        db.count(1);
        on_pool!(db, pool => {
            sqlx::query(PAUSE).bind(principal).bind(until_ms).execute(pool).await?;
        });
        Ok(())
    }
}
