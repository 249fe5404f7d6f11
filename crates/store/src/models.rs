//! A connection's models (what is synced of it): their row, columns and the [`ModelStore`] trait.
//! Models are created and read with their connection (`connections.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledgerlink_domain::{Model, OrgId};

use crate::error::Result;
use crate::pool::{Backed, on_pool};
use crate::sync_rows::SyncRow;

/// Every column of `models` that [`ModelRow`] reads, in its order (and the order inserts bind).
pub(crate) const MODEL_COLUMNS: &str = "id, connection_id, name, display_name, is_read_enabled, \
    is_write_enabled, is_read_supported, is_write_supported, is_sync_supported, is_custom_object, \
    is_file_upload_enabled, is_webhooks_setup, sync_frequency_secs, full_sync_frequency_secs, \
    next_sync_at, created_at, modified_at";

/// A model as its connection's query returns it: one element of a JSON array built in SQL (see
/// `connections.rs`), so that a connection with all its models is one row, not one per model. Each
/// model is itself an array of [`MODEL_COLUMNS`] then its latest sync, in the order of these fields.
#[derive(serde::Deserialize)]
pub(crate) struct ModelRow {
    id: String,
    connection_id: String,
    name: String,
    display_name: String,
    #[serde(deserialize_with = "crate::json_flag::flag")]
    is_read_enabled: bool,
    #[serde(deserialize_with = "crate::json_flag::flag")]
    is_write_enabled: bool,
    #[serde(deserialize_with = "crate::json_flag::flag")]
    is_read_supported: bool,
    #[serde(deserialize_with = "crate::json_flag::flag")]
    is_write_supported: bool,
    #[serde(deserialize_with = "crate::json_flag::flag")]
    is_sync_supported: bool,
    #[serde(deserialize_with = "crate::json_flag::flag")]
    is_custom_object: bool,
    #[serde(deserialize_with = "crate::json_flag::flag")]
    is_file_upload_enabled: bool,
    #[serde(deserialize_with = "crate::json_flag::flag")]
    is_webhooks_setup: bool,
    sync_frequency_secs: i64,
    full_sync_frequency_secs: i64,
    #[serde(deserialize_with = "ledgerlink_domain::timestamp::deserialize_option")]
    next_sync_at: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "ledgerlink_domain::timestamp::deserialize")]
    created_at: DateTime<Utc>,
    #[serde(deserialize_with = "ledgerlink_domain::timestamp::deserialize")]
    modified_at: DateTime<Utc>,
    /// The model's latest sync (boxed: a model row without one stays small, and a connection's
    /// models are read into a `Vec` that grows by copying them).
    last_sync: Option<Box<SyncRow>>,
}

impl ModelRow {
    pub(crate) fn into_domain(self) -> Result<Model> {
        let last_sync = match self.last_sync {
            Some(row) => Some((*row).into_job()?.sync),
            None => None,
        };
        Ok(Model {
            id: self.id,
            connection_id: self.connection_id,
            name: self.name,
            display_name: self.display_name,
            is_read_enabled: self.is_read_enabled,
            is_write_enabled: self.is_write_enabled,
            is_read_supported: self.is_read_supported,
            is_write_supported: self.is_write_supported,
            is_sync_supported: self.is_sync_supported,
            is_custom_object: self.is_custom_object,
            is_file_upload_enabled: self.is_file_upload_enabled,
            is_webhooks_setup: self.is_webhooks_setup,
            sync_frequency_secs: self.sync_frequency_secs,
            full_sync_frequency_secs: self.full_sync_frequency_secs,
            next_sync_at: self.next_sync_at,
            last_sync,
            created_at: self.created_at,
            modified_at: self.modified_at,
        })
    }
}

/// Models changed by their users.
#[async_trait]
pub trait ModelStore: Send + Sync {
    /// Changes one model of one of the organization's connections; false when there is no such model.
    #[allow(clippy::too_many_arguments)]
    async fn update_model(
        &self,
        org: &OrgId,
        connection_id: &str,
        model_id: &str,
        read: Option<bool>,
        write: Option<bool>,
        frequency_secs: Option<i64>,
        full_frequency_secs: Option<i64>,
        next_sync_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
}

/// `$1` read, `$2` write, `$3` frequency, `$4` next sync (only ever brought forward), `$5` now,
/// `$6` model, `$7` connection, `$8` org, `$9` full-pass frequency (a change replans the next one).
const UPDATE: &str = "UPDATE models SET is_read_enabled = COALESCE($1, is_read_enabled), \
    read_choice = COALESCE($1, read_choice), \
    is_write_enabled = COALESCE($2, is_write_enabled), \
    sync_frequency_secs = COALESCE($3, sync_frequency_secs), \
    full_sync_frequency_secs = COALESCE($9, full_sync_frequency_secs), \
    next_full_sync_at = CASE WHEN $9 IS NULL THEN next_full_sync_at ELSE NULL END, \
    next_sync_at = CASE WHEN $4 IS NOT NULL \
    AND (next_sync_at IS NULL OR $4 < next_sync_at) THEN $4 ELSE next_sync_at END, \
    modified_at = $5 \
    WHERE id = $6 AND connection_id = $7 \
    AND connection_id IN (SELECT id FROM connections WHERE org_id = $8)";

#[async_trait]
impl<S: Backed> ModelStore for S {
    async fn update_model(
        &self,
        org: &OrgId,
        connection_id: &str,
        model_id: &str,
        read: Option<bool>,
        write: Option<bool>,
        frequency_secs: Option<i64>,
        full_frequency_secs: Option<i64>,
        next_sync_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let db = self.db();
        db.count(1);
        let done = on_pool!(db, pool => {
            sqlx::query(UPDATE)
                .bind(read)
                .bind(write)
                .bind(frequency_secs)
                .bind(next_sync_at)
                .bind(now)
                .bind(model_id)
                .bind(connection_id)
                .bind(org.as_str())
                .bind(full_frequency_secs)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }
}
