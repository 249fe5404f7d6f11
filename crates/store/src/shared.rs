//! The SQL both backends share, and a macro that implements the shared part of [`crate::Store`] for
//! each backend's pool type. SQLite and Postgres agree on all of it (`$n` parameters, `RETURNING`,
//! `ON CONFLICT`, `CAST`); what differs (connection set-up, migrations) lives in each backend's module.

pub(crate) const CONNECTION_COLUMNS: &str = "id, org_id, provider_name, name, api_url, \
    is_on_premise, is_sync_disabled, include_dimension_lines, is_authentication_pending, \
    is_running_setup, is_bc_extension_installed, company, company_name, environment, tenant_id, \
    authorization_url, owner_id, linked_integration_id, missing_settings, health_status, \
    health_message, health_checked_at, created_at, modified_at, discovery";

pub(crate) const MODEL_COLUMNS: &str = "id, connection_id, name, display_name, is_read_enabled, \
    is_write_enabled, is_read_supported, is_write_supported, is_sync_supported, is_custom_object, \
    is_file_upload_enabled, is_webhooks_setup, sync_frequency_secs, full_sync_frequency_secs, \
    next_sync_at, created_at, \
    modified_at";

/// A key's listing columns, with its organization's name; filters follow.
pub(crate) const API_KEY_SELECT: &str = "SELECT k.id, k.org_id, o.name AS org_name, k.name, \
    k.prefix, k.created_at, k.last_used_at, k.revoked_at \
    FROM api_keys k JOIN organizations o ON o.id = k.org_id";

/// The filter of a connection listing; `$1` org, `$2` provider or null, `$3` cursor id or null.
pub(crate) const LIST_FILTER: &str = "org_id = $1 \
    AND (CAST($2 AS TEXT) IS NULL OR provider_name = $2) \
    AND (CAST($3 AS TEXT) IS NULL OR id < $3) \
    ORDER BY id DESC LIMIT $4";

/// Implements [`crate::Store`]'s shared methods for a struct with `pool` and `queries` fields.
/// `$backend` is the [`crate::Backend`], `$db` the sqlx database type.
macro_rules! impl_shared_store {
    ($store:ty, $db:ty, $backend:expr) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> $crate::Backend {
                $backend
            }

            async fn migrate(&self) -> $crate::Result<()> {
                self.count(1);
                Self::MIGRATOR.run(&self.pool).await?;
                Ok(())
            }

            async fn ready(&self) -> $crate::Result<()> {
                self.count(1);
                let applied: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                        .fetch_one(&self.pool)
                        .await?;
                let expected = Self::MIGRATOR.iter().count() as i64;
                if applied < expected {
                    return Err($crate::StoreError::Unavailable(format!(
                        "{applied} of {expected} migrations applied"
                    )));
                }
                // Reads still work on a full disk: only free space and a write tell.
                self.check_disk()?;
                if Self::PROBE_WRITES {
                    self.count(1);
                    sqlx::query("UPDATE ready_probe SET checked_at = $1 WHERE id = 1")
                        .bind(chrono::Utc::now())
                        .execute(&self.pool)
                        .await?;
                }
                Ok(())
            }

            fn queries_executed(&self) -> u64 {
                self.queries.load(std::sync::atomic::Ordering::Relaxed)
            }

            async fn create_org(
                &self,
                name: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<ledgerlink_domain::OrgId> {
                self.count(1);
                let id = ledgerlink_domain::new_id("org");
                sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(&id)
                    .bind(name)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(ledgerlink_domain::OrgId(id))
            }

            async fn org_by_name(
                &self,
                name: &str,
            ) -> $crate::Result<Option<ledgerlink_domain::OrgId>> {
                self.count(1);
                let id: Option<String> =
                    sqlx::query_scalar("SELECT id FROM organizations WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(id.map(ledgerlink_domain::OrgId))
            }

            async fn count_orgs(&self) -> $crate::Result<i64> {
                self.count(1);
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM organizations")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn insert_api_key(
                &self,
                org: &ledgerlink_domain::OrgId,
                key: &$crate::ApiKey,
                name: Option<&str>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<()> {
                self.count(1);
                sqlx::query(
                    "INSERT INTO api_keys (id, org_id, key_hash, prefix, created_at, name) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&key.id)
                .bind(org.as_str())
                .bind(&key.hash)
                .bind(&key.prefix)
                .bind(now)
                .bind(name)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn api_key_by_hash(
                &self,
                key_hash: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Option<$crate::KeyOwner>> {
                self.count(1);
                let row: Option<(String, String, Option<chrono::DateTime<chrono::Utc>>)> =
                    sqlx::query_as(
                        "SELECT id, org_id, last_used_at FROM api_keys \
                         WHERE key_hash = $1 AND (revoked_at IS NULL OR revoked_at > $2)",
                    )
                    .bind(key_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(key_id, org_id, last_used_at)| $crate::KeyOwner {
                    key_id,
                    org_id: ledgerlink_domain::OrgId(org_id),
                    last_used_at,
                }))
            }

            async fn touch_api_key(
                &self,
                id: &str,
                now: chrono::DateTime<chrono::Utc>,
                since: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<()> {
                self.count(1);
                sqlx::query(
                    "UPDATE api_keys SET last_used_at = $2 \
                     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
                )
                .bind(id)
                .bind(now)
                .bind(since)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn list_api_keys(
                &self,
                org: Option<&ledgerlink_domain::OrgId>,
            ) -> $crate::Result<Vec<$crate::ApiKeyInfo>> {
                self.count(1);
                Ok(sqlx::query_as(&format!(
                    "{} WHERE (CAST($1 AS TEXT) IS NULL OR k.org_id = $1) \
                     ORDER BY k.created_at DESC, k.id DESC",
                    $crate::shared::API_KEY_SELECT
                ))
                .bind(org.map(|o| o.as_str()))
                .fetch_all(&self.pool)
                .await?)
            }

            async fn get_api_key(
                &self,
                org: Option<&ledgerlink_domain::OrgId>,
                id: &str,
            ) -> $crate::Result<Option<$crate::ApiKeyInfo>> {
                self.count(1);
                Ok(sqlx::query_as(&format!(
                    "{} WHERE (CAST($1 AS TEXT) IS NULL OR k.org_id = $1) AND k.id = $2",
                    $crate::shared::API_KEY_SELECT
                ))
                .bind(org.map(|o| o.as_str()))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn revoke_api_key(
                &self,
                org: &ledgerlink_domain::OrgId,
                id: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<bool> {
                self.count(1);
                let done = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $3 \
                     WHERE org_id = $1 AND id = $2 AND (revoked_at IS NULL OR revoked_at > $3)",
                )
                .bind(org.as_str())
                .bind(id)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn rotate_api_key(
                &self,
                org: &ledgerlink_domain::OrgId,
                id: &str,
                new: &$crate::ApiKey,
                now: chrono::DateTime<chrono::Utc>,
                old_until: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<bool> {
                self.count(2);
                let mut tx = self.pool.begin().await?;
                // Only ever brings the old key's end forward.
                let name: Option<(Option<String>,)> = sqlx::query_as(
                    "UPDATE api_keys SET revoked_at = CASE \
                         WHEN revoked_at IS NULL OR revoked_at > $4 THEN $4 ELSE revoked_at END \
                     WHERE org_id = $1 AND id = $2 AND (revoked_at IS NULL OR revoked_at > $3) \
                     RETURNING name",
                )
                .bind(org.as_str())
                .bind(id)
                .bind(now)
                .bind(old_until)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((name,)) = name else {
                    return Ok(false);
                };
                sqlx::query(
                    "INSERT INTO api_keys (id, org_id, key_hash, prefix, created_at, name) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&new.id)
                .bind(org.as_str())
                .bind(&new.hash)
                .bind(&new.prefix)
                .bind(now)
                .bind(name)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn insert_connection(
                &self,
                c: &ledgerlink_domain::Connection,
            ) -> $crate::Result<()> {
                self.count(2);
                let mut tx = self.pool.begin_with(Self::WRITE_BEGIN).await?;
                let sql = format!(
                    "INSERT INTO connections ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
                     $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)",
                    $crate::shared::CONNECTION_COLUMNS
                );
                sqlx::query(&sql)
                    .bind(&c.id)
                    .bind(c.org_id.as_str())
                    .bind(&c.provider_name)
                    .bind(&c.name)
                    .bind(&c.api_url)
                    .bind(c.is_on_premise)
                    .bind(c.is_sync_disabled)
                    .bind(c.include_dimension_lines)
                    .bind(c.is_authentication_pending)
                    .bind(c.is_running_setup)
                    .bind(c.is_bc_extension_installed)
                    .bind(&c.company)
                    .bind(&c.company_name)
                    .bind(&c.environment)
                    .bind(&c.tenant_id)
                    .bind(&c.authorization_url)
                    .bind(&c.owner_id)
                    .bind(&c.linked_integration_id)
                    .bind(sqlx::types::Json(&c.missing_settings))
                    .bind(c.health_status.as_str())
                    .bind(&c.health_message)
                    .bind(c.health_checked_at)
                    .bind(c.created_at)
                    .bind(c.modified_at)
                    .bind(c.discovery.as_ref().map(sqlx::types::Json))
                    .execute(&mut *tx)
                    .await?;
                if !c.models.is_empty() {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(format!(
                        "INSERT INTO models ({}) ",
                        $crate::shared::MODEL_COLUMNS
                    ));
                    insert.push_values(&c.models, |mut row, m| {
                        row.push_bind(&m.id)
                            .push_bind(&m.connection_id)
                            .push_bind(&m.name)
                            .push_bind(&m.display_name)
                            .push_bind(m.is_read_enabled)
                            .push_bind(m.is_write_enabled)
                            .push_bind(m.is_read_supported)
                            .push_bind(m.is_write_supported)
                            .push_bind(m.is_sync_supported)
                            .push_bind(m.is_custom_object)
                            .push_bind(m.is_file_upload_enabled)
                            .push_bind(m.is_webhooks_setup)
                            .push_bind(m.sync_frequency_secs)
                            .push_bind(m.full_sync_frequency_secs)
                            .push_bind(m.next_sync_at)
                            .push_bind(m.created_at)
                            .push_bind(m.modified_at);
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn get_connection(
                &self,
                org: &ledgerlink_domain::OrgId,
                id: &str,
            ) -> $crate::Result<Option<ledgerlink_domain::Connection>> {
                self.count(1);
                let sql = format!(
                    "SELECT {} FROM connections WHERE org_id = $1 AND id = $2",
                    $crate::shared::CONNECTION_COLUMNS
                );
                let row: Option<$crate::rows::ConnectionRow> = sqlx::query_as(&sql)
                    .bind(org.as_str())
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                self.count(1);
                let sql = format!(
                    "SELECT {} FROM models WHERE connection_id = $1 ORDER BY id",
                    $crate::shared::MODEL_COLUMNS
                );
                let models: Vec<$crate::rows::ModelRow> =
                    sqlx::query_as(&sql).bind(id).fetch_all(&self.pool).await?;
                self.count(1);
                let sql = format!(
                    "SELECT {} FROM syncs WHERE id IN (SELECT MAX(id) FROM syncs \
                     WHERE connection_id = $1 GROUP BY model_id)",
                    $crate::sync_sql::SYNC_COLUMNS
                );
                let syncs: Vec<$crate::sync_sql::SyncRow> =
                    sqlx::query_as(&sql).bind(id).fetch_all(&self.pool).await?;
                let mut out = $crate::rows::assemble(vec![row], models)?;
                $crate::rows::attach_last_syncs(&mut out, syncs)?;
                Ok(out.pop())
            }

            async fn list_connections(
                &self,
                org: &ledgerlink_domain::OrgId,
                q: &$crate::ListConnections,
            ) -> $crate::Result<Vec<ledgerlink_domain::Connection>> {
                self.count(2);
                let sql = format!(
                    "SELECT {} FROM connections WHERE {}",
                    $crate::shared::CONNECTION_COLUMNS,
                    $crate::shared::LIST_FILTER
                );
                let rows: Vec<$crate::rows::ConnectionRow> = sqlx::query_as(&sql)
                    .bind(org.as_str())
                    .bind(&q.provider_name)
                    .bind(&q.starting_after)
                    .bind(i64::from(q.limit))
                    .fetch_all(&self.pool)
                    .await?;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                // One query for the models of the whole page, whatever its size.
                let sql = format!(
                    "SELECT {} FROM models WHERE connection_id IN \
                     (SELECT id FROM connections WHERE {}) ORDER BY connection_id, id",
                    $crate::shared::MODEL_COLUMNS,
                    $crate::shared::LIST_FILTER
                );
                let models: Vec<$crate::rows::ModelRow> = sqlx::query_as(&sql)
                    .bind(org.as_str())
                    .bind(&q.provider_name)
                    .bind(&q.starting_after)
                    .bind(i64::from(q.limit))
                    .fetch_all(&self.pool)
                    .await?;
                // And one for the last sync of each of those models.
                self.count(1);
                let sql = format!(
                    "SELECT {} FROM syncs WHERE id IN (SELECT MAX(id) FROM syncs \
                     WHERE connection_id IN (SELECT id FROM connections WHERE {}) \
                     GROUP BY model_id)",
                    $crate::sync_sql::SYNC_COLUMNS,
                    $crate::shared::LIST_FILTER
                );
                let syncs: Vec<$crate::sync_sql::SyncRow> = sqlx::query_as(&sql)
                    .bind(org.as_str())
                    .bind(&q.provider_name)
                    .bind(&q.starting_after)
                    .bind(i64::from(q.limit))
                    .fetch_all(&self.pool)
                    .await?;
                let mut out = $crate::rows::assemble(rows, models)?;
                $crate::rows::attach_last_syncs(&mut out, syncs)?;
                Ok(out)
            }

            async fn update_connection(
                &self,
                org: &ledgerlink_domain::OrgId,
                id: &str,
                changes: &ledgerlink_domain::ConnectionChanges,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<Option<ledgerlink_domain::Connection>> {
                self.count(1);
                let mut update = sqlx::QueryBuilder::<$db>::new("UPDATE connections SET ");
                {
                    let mut set = update.separated(", ");
                    if let Some(v) = &changes.name {
                        set.push("name = ").push_bind_unseparated(v.clone());
                    }
                    if let Some(v) = &changes.api_url {
                        set.push("api_url = ").push_bind_unseparated(v.clone());
                    }
                    if let Some(v) = &changes.company {
                        set.push("company = ").push_bind_unseparated(v.clone());
                    }
                    if let Some(v) = &changes.environment {
                        set.push("environment = ").push_bind_unseparated(v.clone());
                    }
                    if let Some(v) = changes.is_sync_disabled {
                        set.push("is_sync_disabled = ").push_bind_unseparated(v);
                    }
                    if let Some(v) = changes.include_dimension_lines {
                        set.push("include_dimension_lines = ").push_bind_unseparated(v);
                    }
                    set.push("modified_at = ").push_bind_unseparated(now);
                }
                update.push(" WHERE org_id = ").push_bind(org.as_str());
                update.push(" AND id = ").push_bind(id);
                let done = update.build().execute(&self.pool).await?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                self.get_connection(org, id).await
            }

            async fn delete_connection(
                &self,
                org: &ledgerlink_domain::OrgId,
                id: &str,
            ) -> $crate::Result<bool> {
                self.count(1);
                let done = sqlx::query("DELETE FROM connections WHERE org_id = $1 AND id = $2")
                    .bind(org.as_str())
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }
            async fn update_model(
                &self,
                org: &ledgerlink_domain::OrgId,
                connection_id: &str,
                model_id: &str,
                read: Option<bool>,
                write: Option<bool>,
                frequency_secs: Option<i64>,
                full_frequency_secs: Option<i64>,
                next_sync_at: Option<chrono::DateTime<chrono::Utc>>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<bool> {
                self.count(1);
                let done = sqlx::query(
                    "UPDATE models SET is_read_enabled = COALESCE($1, is_read_enabled), \
                     read_choice = COALESCE($1, read_choice), \
                     is_write_enabled = COALESCE($2, is_write_enabled), \
                     sync_frequency_secs = COALESCE($3, sync_frequency_secs), \
                     full_sync_frequency_secs = COALESCE($9, full_sync_frequency_secs), \
                     next_full_sync_at = CASE WHEN $9 IS NULL THEN next_full_sync_at ELSE NULL END, \
                     next_sync_at = CASE WHEN $4 IS NOT NULL \
                     AND (next_sync_at IS NULL OR $4 < next_sync_at) THEN $4 ELSE next_sync_at END, \
                     modified_at = $5 \
                     WHERE id = $6 AND connection_id = $7 \
                     AND connection_id IN (SELECT id FROM connections WHERE org_id = $8)",
                )
                .bind(read)
                .bind(write)
                .bind(frequency_secs)
                .bind(next_sync_at)
                .bind(now)
                .bind(model_id)
                .bind(connection_id)
                .bind(org.as_str())
                .bind(full_frequency_secs)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn save_connection_state(
                &self,
                c: &ledgerlink_domain::Connection,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<bool> {
                self.count(2 + c.models.len() as u64);
                let mut tx = self.pool.begin_with(Self::WRITE_BEGIN).await?;
                let done = sqlx::query(
                    "UPDATE connections SET is_authentication_pending = $1, is_running_setup = $2, \
                     is_bc_extension_installed = $3, company = $4, company_name = $5, \
                     environment = $6, tenant_id = $7, missing_settings = $8, health_status = $9, \
                     health_message = $10, health_checked_at = $11, discovery = $12, \
                     modified_at = $13 WHERE org_id = $14 AND id = $15",
                )
                .bind(c.is_authentication_pending)
                .bind(c.is_running_setup)
                .bind(c.is_bc_extension_installed)
                .bind(&c.company)
                .bind(&c.company_name)
                .bind(&c.environment)
                .bind(&c.tenant_id)
                .bind(sqlx::types::Json(&c.missing_settings))
                .bind(c.health_status.as_str())
                .bind(&c.health_message)
                .bind(c.health_checked_at)
                .bind(c.discovery.as_ref().map(sqlx::types::Json))
                .bind(now)
                .bind(c.org_id.as_str())
                .bind(&c.id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                for m in &c.models {
                    sqlx::query(
                        "UPDATE models SET is_read_enabled = (COALESCE(read_choice, true) AND $1), \
                         is_read_supported = $2, \
                         is_sync_supported = $3, modified_at = $4, \
                         next_sync_at = COALESCE(next_sync_at, $7) \
                         WHERE connection_id = $5 AND id = $6",
                    )
                    .bind(m.is_read_enabled)
                    .bind(m.is_read_supported)
                    .bind(m.is_sync_supported)
                    .bind(m.modified_at)
                    .bind(&c.id)
                    .bind(&m.id)
                    .bind(m.next_sync_at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn get_secret(&self, connection_id: &str) -> $crate::Result<Option<$crate::SealedSecret>> {
                self.count(1);
                let row: Option<(String, Vec<u8>, i64, Option<chrono::DateTime<chrono::Utc>>)> =
                    sqlx::query_as(
                        "SELECT kind, sealed, version, expires_at FROM connection_secrets \
                         WHERE connection_id = $1",
                    )
                    .bind(connection_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(kind, sealed, version, expires_at)| $crate::SealedSecret {
                    kind,
                    sealed,
                    version,
                    expires_at,
                }))
            }

            async fn put_secret(
                &self,
                connection_id: &str,
                secret: &$crate::SealedSecret,
                expected_version: Option<i64>,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<bool> {
                self.count(1);
                let done = match expected_version {
                    None => sqlx::query(
                        "INSERT INTO connection_secrets \
                         (connection_id, kind, sealed, version, expires_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (connection_id) DO UPDATE SET kind = excluded.kind, \
                         sealed = excluded.sealed, \
                         version = connection_secrets.version + 1, \
                         expires_at = excluded.expires_at, updated_at = excluded.updated_at",
                    )
                    .bind(connection_id)
                    .bind(&secret.kind)
                    .bind(&secret.sealed)
                    .bind(secret.version)
                    .bind(secret.expires_at)
                    .bind(now)
                    .execute(&self.pool)
                    .await?,
                    Some(expected) => sqlx::query(
                        "UPDATE connection_secrets SET kind = $1, sealed = $2, version = $3, \
                         expires_at = $4, updated_at = $5 WHERE connection_id = $6 AND version = $7",
                    )
                    .bind(&secret.kind)
                    .bind(&secret.sealed)
                    .bind(expected + 1)
                    .bind(secret.expires_at)
                    .bind(now)
                    .bind(connection_id)
                    .bind(expected)
                    .execute(&self.pool)
                    .await?,
                };
                Ok(done.rows_affected() > 0)
            }

            async fn delete_secret(&self, connection_id: &str) -> $crate::Result<()> {
                self.count(1);
                sqlx::query("DELETE FROM connection_secrets WHERE connection_id = $1")
                    .bind(connection_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn redeem_oauth_state(
                &self,
                nonce: &str,
                connection_id: &str,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<bool> {
                self.count(2);
                // States live an hour; a nonce redeemed over a day ago can never come back valid.
                sqlx::query("DELETE FROM oauth_states_used WHERE used_at < $1")
                    .bind(now - chrono::Duration::days(1))
                    .execute(&self.pool)
                    .await?;
                let done = sqlx::query(
                    "INSERT INTO oauth_states_used (nonce, connection_id, used_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (nonce) DO NOTHING",
                )
                .bind(nonce)
                .bind(connection_id)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use impl_shared_store;
