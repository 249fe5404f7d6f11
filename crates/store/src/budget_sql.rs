//! [`crate::BudgetStore`] for both backends (the same SQL).

/// Implements [`crate::BudgetStore`] for `$store`; `$begin` starts its transactions.
macro_rules! impl_budget_store {
    ($store:ty, $begin:literal) => {
        #[async_trait::async_trait]
        impl $crate::BudgetStore for $store {
            async fn budget_acquire(
                &self,
                principal: &str,
                slot: &str,
                quota: $crate::Quota,
                now_ms: i64,
                hold_until_ms: i64,
            ) -> $crate::Result<std::result::Result<(), $crate::BudgetWait>> {
                use $crate::BudgetWait;
                // Up to 8 statements in one transaction.
                self.count(8);
                let mut tx = self.pool.begin_with($begin).await?;
                // Writing the principal's row serializes every acquirer of this principal until
                // the commit (a row lock on Postgres; SQLite has one writer at a time).
                let (paused_until,): (i64,) = sqlx::query_as(
                    "INSERT INTO budget_principals (principal, paused_until_ms, touched_ms) \
                     VALUES ($1, 0, $2) ON CONFLICT (principal) DO UPDATE SET touched_ms = $2 \
                     RETURNING paused_until_ms",
                )
                .bind(principal)
                .bind(now_ms)
                .fetch_one(&mut *tx)
                .await?;
                if paused_until > now_ms {
                    tx.commit().await?;
                    return Ok(Err(BudgetWait::Until(paused_until)));
                }
                let width = quota.bucket_ms();
                // A bucket's requests all started before `bucket + width`: once that is a whole
                // window ago, none of them counts any more (rounding up: never under).
                let since = now_ms - quota.window_ms - width;
                sqlx::query("DELETE FROM budget_requests WHERE principal = $1 AND bucket <= $2")
                    .bind(principal)
                    .bind(since)
                    .execute(&mut *tx)
                    .await?;
                let (sent, oldest): (i64, Option<i64>) = sqlx::query_as(
                    "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT), MIN(bucket) \
                     FROM budget_requests WHERE principal = $1",
                )
                .bind(principal)
                .fetch_one(&mut *tx)
                .await?;
                if sent >= i64::from(quota.per_window) {
                    tx.commit().await?;
                    let at = oldest.unwrap_or(now_ms) + width + quota.window_ms;
                    return Ok(Err(BudgetWait::Until(at)));
                }
                sqlx::query("DELETE FROM budget_slots WHERE principal = $1 AND held_until_ms < $2")
                    .bind(principal)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                let (held,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM budget_slots WHERE principal = $1")
                        .bind(principal)
                        .fetch_one(&mut *tx)
                        .await?;
                if held >= i64::from(quota.concurrent) {
                    tx.commit().await?;
                    return Ok(Err(BudgetWait::Busy));
                }
                sqlx::query(
                    "INSERT INTO budget_slots (id, principal, held_until_ms) VALUES ($1, $2, $3)",
                )
                .bind(slot)
                .bind(principal)
                .bind(hold_until_ms)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO budget_requests (principal, bucket, n) VALUES ($1, $2, 1) \
                     ON CONFLICT (principal, bucket) DO UPDATE SET n = budget_requests.n + 1",
                )
                .bind(principal)
                .bind(now_ms - now_ms.rem_euclid(width))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Ok(()))
            }

            async fn budget_release(&self, slot: &str) -> $crate::Result<()> {
                self.count(1);
                sqlx::query("DELETE FROM budget_slots WHERE id = $1")
                    .bind(slot)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn budget_sweep(&self, now_ms: i64, idle_ms: i64) -> $crate::Result<u64> {
                self.count(3);
                let mut tx = self.pool.begin_with($begin).await?;
                let mut gone = 0;
                for sql in [
                    "DELETE FROM budget_slots WHERE held_until_ms < $1",
                    "DELETE FROM budget_requests WHERE bucket < $2",
                    "DELETE FROM budget_principals WHERE touched_ms < $2 AND paused_until_ms < $1",
                ] {
                    gone += sqlx::query(sql)
                        .bind(now_ms)
                        .bind(now_ms - idle_ms)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
                Ok(gone)
            }

            async fn budget_pause(&self, principal: &str, until_ms: i64) -> $crate::Result<()> {
                self.count(1);
                sqlx::query(
                    "INSERT INTO budget_principals (principal, paused_until_ms, touched_ms) \
                     VALUES ($1, $2, $2) ON CONFLICT (principal) DO UPDATE \
                     SET paused_until_ms = CASE WHEN budget_principals.paused_until_ms < $2 \
                     THEN $2 ELSE budget_principals.paused_until_ms END",
                )
                .bind(principal)
                .bind(until_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_budget_store;
