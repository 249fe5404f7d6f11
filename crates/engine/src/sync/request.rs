//! Requesting syncs: one-off syncs of every read-enabled model of a connection.

use ledgerlink_domain::{Connection, HealthStatus, OrgId, Sync};
use ledgerlink_store::NewSync;

use crate::engine::Engine;
use crate::error::EngineError;

impl Engine {
    /// Queues a one-off sync of every read-enabled model (one shared `batch_id`); a model that already
    /// has a sync queued, running or waiting to retry gets that one back instead. `full_pass` forces
    /// full passes (which also detect deletions).
    pub async fn request_sync(
        &self,
        org: &OrgId,
        id: &str,
        full_pass: bool,
    ) -> Result<Vec<Sync>, EngineError> {
        self.request(org, id, full_pass, None).await
    }

    /// Queues a one-off full pass of one model (by name), as [`Engine::request_sync`] does for every
    /// model: what the change feed asks for when it finds a stored record damaged, so that the record
    /// is read again from the ERP and written anew.
    pub async fn request_full_pass(
        &self,
        org: &OrgId,
        id: &str,
        model: &str,
    ) -> Result<Vec<Sync>, EngineError> {
        self.request(org, id, true, Some(model)).await
    }

    async fn request(
        &self,
        org: &OrgId,
        id: &str,
        full_pass: bool,
        only: Option<&str>,
    ) -> Result<Vec<Sync>, EngineError> {
        let conn = self
            .store()
            .get_connection(org, id)
            .await?
            .ok_or(EngineError::NotFound)?;
        if conn.is_sync_disabled {
            return Err(EngineError::NotReady(
                "syncs are paused for this connection (is_sync_disabled)".into(),
            ));
        }
        if !conn.is_configured() || conn.health_status != HealthStatus::Healthy {
            return Err(EngineError::NotReady(format!(
                "the connection is not configured and healthy (health: {})",
                conn.health().status_code.as_str()
            )));
        }
        let batch = uuid::Uuid::new_v4();
        let mut wants = Vec::new();
        let wanted = |name: &str| only.is_none_or(|only| only == name);
        for m in conn
            .models
            .iter()
            .filter(|m| m.is_read_enabled && wanted(&m.name))
        {
            wants.push(
                self.new_sync(&conn, &m.id, &m.name, full_pass, Some(batch), true)
                    .await?,
            );
        }
        Ok(self
            .store()
            .enqueue_syncs(org, id, &wants, self.now())
            .await?)
    }

    async fn new_sync(
        &self,
        conn: &Connection,
        model_id: &str,
        model_name: &str,
        full_pass: bool,
        batch_id: Option<uuid::Uuid>,
        one_off: bool,
    ) -> Result<NewSync, EngineError> {
        let since = if full_pass {
            None
        } else {
            self.store().synced_until(model_id).await?
        };
        Ok(NewSync::queued(
            model_id,
            model_name,
            conn.company.clone(),
            since,
            self.now(),
            self.sync_settings().overlap,
            batch_id,
            one_off,
        ))
    }
}
