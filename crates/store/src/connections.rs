//! Connections (a tenant's link to one ERP company) with their models: the [`ConnectionStore`]
//! trait, its SQL and the connection row.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledgerlink_domain::{Connection, ConnectionChanges, HealthStatus, Model, OrgId};
use sqlx::types::Json;

use crate::dialect::Backend;
use crate::error::{Result, StoreError};
use crate::models::{MODEL_COLUMNS, ModelRow};
use crate::pool::{Backed, on_pool};

/// Filters and position for listing connections, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListConnections {
    /// Only connections to this provider.
    pub provider_name: Option<String>,
    /// Only connections created before this one (its id), for the next page.
    pub starting_after: Option<String>,
    /// Page size.
    pub limit: u32,
}

/// Connections.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Stores a new connection and its models, atomically.
    async fn insert_connection(&self, connection: &Connection) -> Result<()>;
    /// One of the organization's connections.
    async fn get_connection(&self, org: &OrgId, id: &str) -> Result<Option<Connection>>;
    /// The organization's connections, newest first.
    async fn list_connections(&self, org: &OrgId, q: &ListConnections) -> Result<Vec<Connection>>;
    /// Applies changes and stamps `modified_at`; `None` when the connection is not the org's.
    async fn update_connection(
        &self,
        org: &OrgId,
        id: &str,
        changes: &ConnectionChanges,
        now: DateTime<Utc>,
    ) -> Result<Option<Connection>>;
    /// Deletes a connection with everything it owns; false when it was not the org's.
    async fn delete_connection(&self, org: &OrgId, id: &str) -> Result<bool>;

    /// Records the payment journal setup picked for `company`, unless the user has chosen one or
    /// the company changed meanwhile; whether it was recorded.
    async fn pick_payment_journal(
        &self,
        org: &OrgId,
        id: &str,
        company: &str,
        code: &str,
    ) -> Result<bool>;

    /// Writes what the engine owns of a connection (authentication and setup state, discovery, health,
    /// model support flags), leaving user-set fields alone; false when it no longer exists.
    async fn save_connection_state(&self, c: &Connection, now: DateTime<Utc>) -> Result<bool>;
}

/// Every column of `connections` that [`ConnectionRow`] reads, in its order (and the order
/// inserts bind).
const CONNECTION_COLUMNS: &str = "id, org_id, provider_name, name, api_url, \
    is_on_premise, is_sync_disabled, include_dimension_lines, is_authentication_pending, \
    is_running_setup, is_bc_extension_installed, company, company_name, environment, tenant_id, \
    authorization_url, owner_id, linked_integration_id, missing_settings, health_status, \
    health_message, health_checked_at, created_at, modified_at, discovery, payment_journal";

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    id: String,
    org_id: String,
    provider_name: String,
    name: Option<String>,
    api_url: Option<String>,
    is_on_premise: bool,
    is_sync_disabled: bool,
    include_dimension_lines: bool,
    is_authentication_pending: bool,
    is_running_setup: bool,
    is_bc_extension_installed: bool,
    company: Option<String>,
    company_name: Option<String>,
    environment: Option<String>,
    tenant_id: Option<String>,
    authorization_url: Option<String>,
    owner_id: Option<String>,
    linked_integration_id: Option<String>,
    missing_settings: Json<Vec<String>>,
    health_status: String,
    health_message: Option<String>,
    health_checked_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    modified_at: DateTime<Utc>,
    discovery: Option<Json<ledgerlink_domain::Discovered>>,
    payment_journal: Option<String>,
    /// Its models, each with its latest sync, in id order: one JSON array (see [`models_json`]).
    models: Json<Vec<ModelRow>>,
}

impl ConnectionRow {
    fn into_domain(self) -> Result<Connection> {
        let models = self
            .models
            .0
            .into_iter()
            .map(ModelRow::into_domain)
            .collect::<Result<Vec<Model>>>()?;
        let health_status = HealthStatus::parse(&self.health_status).ok_or_else(|| {
            StoreError::Corrupt(format!("unknown health status {:?}", self.health_status))
        })?;
        Ok(Connection {
            id: self.id,
            org_id: OrgId(self.org_id),
            provider_name: self.provider_name,
            name: self.name,
            api_url: self.api_url,
            is_on_premise: self.is_on_premise,
            is_sync_disabled: self.is_sync_disabled,
            include_dimension_lines: self.include_dimension_lines,
            is_authentication_pending: self.is_authentication_pending,
            is_running_setup: self.is_running_setup,
            is_bc_extension_installed: self.is_bc_extension_installed,
            company: self.company,
            company_name: self.company_name,
            environment: self.environment,
            tenant_id: self.tenant_id,
            authorization_url: self.authorization_url,
            owner_id: self.owner_id,
            linked_integration_id: self.linked_integration_id,
            missing_settings: self.missing_settings.0,
            health_status,
            health_message: self.health_message,
            health_checked_at: self.health_checked_at,
            created_at: self.created_at,
            modified_at: self.modified_at,
            discovery: self.discovery.map(|d| d.0),
            payment_journal: self.payment_journal,
            models,
        })
    }
}

/// How a column goes into JSON built by SQL.
#[derive(Clone, Copy)]
enum As {
    /// As it is (text, number, timestamp; null stays null). SQLite's booleans are its integers 0 and
    /// 1; the rows read them with [`crate::json_flag::flag`].
    Value,
    /// Stored JSON, embedded as JSON (SQLite keeps it as text).
    Json,
}

/// The columns of `models` that [`ModelRow`] reads.
const MODEL_FIELDS: &[(&str, As)] = &[
    ("id", As::Value),
    ("connection_id", As::Value),
    ("name", As::Value),
    ("display_name", As::Value),
    ("is_read_enabled", As::Value),
    ("is_write_enabled", As::Value),
    ("is_read_supported", As::Value),
    ("is_write_supported", As::Value),
    ("is_sync_supported", As::Value),
    ("is_custom_object", As::Value),
    ("is_file_upload_enabled", As::Value),
    ("is_webhooks_setup", As::Value),
    ("sync_frequency_secs", As::Value),
    ("full_sync_frequency_secs", As::Value),
    ("next_sync_at", As::Value),
    ("created_at", As::Value),
    ("modified_at", As::Value),
];

/// The columns of `syncs` that the sync row reads.
const SYNC_FIELDS: &[(&str, As)] = &[
    ("id", As::Value),
    ("org_id", As::Value),
    ("connection_id", As::Value),
    ("model_id", As::Value),
    ("model_name", As::Value),
    ("status", As::Value),
    ("attempt", As::Value),
    ("batch_id", As::Value),
    ("entity_id", As::Value),
    ("error", As::Value),
    ("is_initial_sync", As::Value),
    ("is_one_off", As::Value),
    ("pagination_state", As::Json),
    ("timerange_start", As::Value),
    ("timerange_end", As::Value),
    ("run_after", As::Value),
    ("locked_by", As::Value),
    ("locked_until", As::Value),
    ("cancel_requested", As::Value),
    ("started_at", As::Value),
    ("completed_at", As::Value),
    ("created_at", As::Value),
    ("modified_at", As::Value),
];

/// A JSON array of `fields` of the row `alias`, in their order, plus `extra` (an expression).
///
/// An array, not an object: the rows are read positionally (serde reads a struct from an array of
/// its fields in order), and without the keys the text SQL builds and serde reads is less than
/// half as long — building and reading it was most of a listing's cost (BENCHMARKS.md, issue #12).
fn json_array(backend: Backend, alias: &str, fields: &[(&str, As)], extra: &str) -> String {
    let mut args: Vec<String> = fields
        .iter()
        .map(|(name, kind)| {
            let col = format!("{alias}.{name}");
            match (backend, kind) {
                (Backend::Sqlite, As::Json) => format!("json({col})"),
                _ => col,
            }
        })
        .collect();
    if !extra.is_empty() {
        args.push(extra.to_owned());
    }
    let function = match backend {
        Backend::Sqlite => "json_array",
        Backend::Postgres => "json_build_array",
    };
    format!("{function}({})", args.join(", "))
}

/// The models of connection `c` as one JSON array, in id order, each with its latest sync.
///
/// One value per connection instead of one row per model: the SQLite driver hands every column
/// value of every row across threads, which made a page of 50 connections (~6,800 values) cost
/// more than everything else in the request (BENCHMARKS.md, issue #12).
fn models_json(backend: Backend) -> String {
    let sync = json_array(backend, "s", SYNC_FIELDS, "");
    let last_sync =
        format!("(SELECT {sync} FROM syncs s WHERE s.model_id = m.id ORDER BY s.id DESC LIMIT 1)");
    let (model, aggregate) = match backend {
        // `json(…)`: a subquery's value loses SQLite's JSON marker; without it the sync's array
        // would be embedded as a string.
        Backend::Sqlite => (
            json_array(backend, "m", MODEL_FIELDS, &format!("json({last_sync})")),
            "json_group_array",
        ),
        Backend::Postgres => (
            json_array(backend, "m", MODEL_FIELDS, &last_sync),
            "json_agg",
        ),
    };
    // Postgres aggregates no rows to NULL, SQLite to `[]`.
    format!(
        "(SELECT COALESCE({aggregate}({model} ORDER BY m.id), '[]') FROM models m \
         WHERE m.connection_id = c.id)"
    )
}

/// The statements that read connections, built once per backend.
struct Reads {
    /// One connection: `$1` org, `$2` id.
    get: String,
    /// A page: see [`LIST_FILTER`].
    list: String,
}

impl Reads {
    fn new(backend: Backend) -> Self {
        let select = format!(
            "SELECT {CONNECTION_COLUMNS}, {} AS models FROM connections c",
            models_json(backend)
        );
        Reads {
            get: format!("{select} WHERE org_id = $1 AND id = $2"),
            list: format!("{select} WHERE {LIST_FILTER}"),
        }
    }

    fn of(backend: Backend) -> &'static Reads {
        static SQLITE: LazyLock<Reads> = LazyLock::new(|| Reads::new(Backend::Sqlite));
        static POSTGRES: LazyLock<Reads> = LazyLock::new(|| Reads::new(Backend::Postgres));
        match backend {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
        }
    }
}

/// The filter of a connection listing; `$1` org, `$2` provider or null, `$3` cursor id or null,
/// `$4` page size.
const LIST_FILTER: &str = "org_id = $1 \
    AND (CAST($2 AS TEXT) IS NULL OR provider_name = $2) \
    AND (CAST($3 AS TEXT) IS NULL OR id < $3) \
    ORDER BY id DESC LIMIT $4";

/// What the engine owns of a connection: `$1`..`$13` the values, `$14` org, `$15` connection.
const SAVE_STATE: &str = "UPDATE connections SET is_authentication_pending = $1, \
    is_running_setup = $2, is_bc_extension_installed = $3, company = $4, company_name = $5, \
    environment = $6, tenant_id = $7, missing_settings = $8, health_status = $9, \
    health_message = $10, health_checked_at = $11, discovery = $12, \
    modified_at = $13 WHERE org_id = $14 AND id = $15";

/// Setup's pick of a payment journal `$1`, kept only where the user has chosen none and the company
/// is still `$2` (a PATCH meanwhile wins): `$3` org, `$4` connection.
const PICK_JOURNAL: &str = "UPDATE connections SET payment_journal = $1 \
    WHERE payment_journal IS NULL AND company = $2 AND org_id = $3 AND id = $4";

/// What the engine owns of a model (reads stay off where the user turned them off):
/// `$1` read, `$2` read supported, `$3` sync supported, `$4` modified, `$5` connection, `$6` model,
/// `$7` the first sync's time if none is planned.
const SAVE_MODEL_STATE: &str = "UPDATE models SET \
    is_read_enabled = (COALESCE(read_choice, true) AND $1), is_read_supported = $2, \
    is_sync_supported = $3, modified_at = $4, next_sync_at = COALESCE(next_sync_at, $7) \
    WHERE connection_id = $5 AND id = $6";

const DELETE: &str = "DELETE FROM connections WHERE org_id = $1 AND id = $2";

#[async_trait]
impl<S: Backed> ConnectionStore for S {
    async fn insert_connection(&self, c: &Connection) -> Result<()> {
        let db = self.db();
        db.count(2);
        let sql = format!(
            "INSERT INTO connections ({CONNECTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, \
             $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)"
        );
        on_pool!(db, pool, DB => {
            let mut tx = pool.begin_with(db.dialect.write_begin).await?;
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
                .bind(Json(&c.missing_settings))
                .bind(c.health_status.as_str())
                .bind(&c.health_message)
                .bind(c.health_checked_at)
                .bind(c.created_at)
                .bind(c.modified_at)
                .bind(c.discovery.as_ref().map(Json))
                .bind(&c.payment_journal)
                .execute(&mut *tx)
                .await?;
            if !c.models.is_empty() {
                let mut insert =
                    sqlx::QueryBuilder::<DB>::new(format!("INSERT INTO models ({MODEL_COLUMNS}) "));
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
        });
        Ok(())
    }

    async fn get_connection(&self, org: &OrgId, id: &str) -> Result<Option<Connection>> {
        let db = self.db();
        db.count(1);
        let sql = &Reads::of(db.dialect.backend).get;
        let row: Option<ConnectionRow> = on_pool!(db, pool => {
            sqlx::query_as(sql).bind(org.as_str()).bind(id).fetch_optional(pool).await?
        });
        row.map(ConnectionRow::into_domain).transpose()
    }

    async fn list_connections(&self, org: &OrgId, q: &ListConnections) -> Result<Vec<Connection>> {
        let db = self.db();
        db.count(1);
        let sql = &Reads::of(db.dialect.backend).list;
        let rows: Vec<ConnectionRow> = on_pool!(db, pool => {
            sqlx::query_as(sql)
                .bind(org.as_str())
                .bind(&q.provider_name)
                .bind(&q.starting_after)
                .bind(i64::from(q.limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(ConnectionRow::into_domain).collect()
    }

    async fn update_connection(
        &self,
        org: &OrgId,
        id: &str,
        changes: &ConnectionChanges,
        now: DateTime<Utc>,
    ) -> Result<Option<Connection>> {
        let db = self.db();
        db.count(1);
        let done = on_pool!(db, pool, DB => {
            let mut update = sqlx::QueryBuilder::<DB>::new("UPDATE connections SET ");
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
            if let Some(v) = &changes.payment_journal {
                set.push("payment_journal = ").push_bind_unseparated(v.clone());
            }
            set.push("modified_at = ").push_bind_unseparated(now);
            update.push(" WHERE org_id = ").push_bind(org.as_str());
            update.push(" AND id = ").push_bind(id);
            update.build().execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Ok(None);
        }
        self.get_connection(org, id).await
    }

    async fn delete_connection(&self, org: &OrgId, id: &str) -> Result<bool> {
        let db = self.db();
        db.count(1);
        let done = on_pool!(db, pool => {
            sqlx::query(DELETE).bind(org.as_str()).bind(id).execute(pool).await?.rows_affected()
        });
        Ok(done > 0)
    }

    async fn pick_payment_journal(
        &self,
        org: &OrgId,
        id: &str,
        company: &str,
        code: &str,
    ) -> Result<bool> {
        let db = self.db();
        db.count(1);
        let done = on_pool!(db, pool => {
            sqlx::query(PICK_JOURNAL)
                .bind(code)
                .bind(company)
                .bind(org.as_str())
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    async fn save_connection_state(&self, c: &Connection, now: DateTime<Utc>) -> Result<bool> {
        let db = self.db();
        db.count(2 + c.models.len() as u64);
        on_pool!(db, pool => {
            let mut tx = pool.begin_with(db.dialect.write_begin).await?;
            let done = sqlx::query(SAVE_STATE)
                .bind(c.is_authentication_pending)
                .bind(c.is_running_setup)
                .bind(c.is_bc_extension_installed)
                .bind(&c.company)
                .bind(&c.company_name)
                .bind(&c.environment)
                .bind(&c.tenant_id)
                .bind(Json(&c.missing_settings))
                .bind(c.health_status.as_str())
                .bind(&c.health_message)
                .bind(c.health_checked_at)
                .bind(c.discovery.as_ref().map(Json))
                .bind(now)
                .bind(c.org_id.as_str())
                .bind(&c.id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            for m in &c.models {
                sqlx::query(SAVE_MODEL_STATE)
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
        });
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(fields: &[(&str, As)]) -> String {
        let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
        names.join(", ")
    }

    fn squeezed(columns: &str) -> String {
        columns.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// A model (and its sync) read from an array of its columns is the one read from an object
    /// naming them: the rows' fields are in the columns' order. Values of the same type differ, so
    /// two swapped fields would not go unnoticed.
    #[test]
    fn rows_read_positionally_are_the_rows_read_by_name() {
        let ts = |s: u32| serde_json::json!(format!("2026-01-0{}T00:00:0{s}+00:00", s % 9 + 1));
        let sync: Vec<(&str, serde_json::Value)> = vec![
            ("id", "sync_1".into()),
            ("org_id", "org_1".into()),
            ("connection_id", "conn_1".into()),
            ("model_id", "mdl_1".into()),
            ("model_name", "invoices".into()),
            ("status", "failed".into()),
            ("attempt", 3.into()),
            ("batch_id", "batch".into()),
            ("entity_id", "entity".into()),
            ("error", "boom".into()),
            ("is_initial_sync", 1.into()),
            ("is_one_off", 0.into()),
            ("pagination_state", serde_json::json!({"records": 5})),
            ("timerange_start", ts(1)),
            ("timerange_end", ts(2)),
            ("run_after", ts(3)),
            ("locked_by", "worker".into()),
            ("locked_until", ts(4)),
            ("cancel_requested", true.into()),
            ("started_at", ts(5)),
            ("completed_at", ts(6)),
            ("created_at", ts(7)),
            ("modified_at", ts(8)),
        ];
        let model: Vec<(&str, serde_json::Value)> = vec![
            ("id", "mdl_1".into()),
            ("connection_id", "conn_1".into()),
            ("name", "invoices".into()),
            ("display_name", "Invoices".into()),
            ("is_read_enabled", 1.into()),
            ("is_write_enabled", 0.into()),
            ("is_read_supported", true.into()),
            ("is_write_supported", false.into()),
            ("is_sync_supported", 1.into()),
            ("is_custom_object", 0.into()),
            ("is_file_upload_enabled", 1.into()),
            ("is_webhooks_setup", 0.into()),
            ("sync_frequency_secs", 60.into()),
            ("full_sync_frequency_secs", 86_400.into()),
            ("next_sync_at", ts(1)),
            ("created_at", ts(2)),
            ("modified_at", ts(3)),
        ];
        let names = |fields: &[(&str, serde_json::Value)]| {
            fields
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        };
        assert_eq!(names(&sync), squeezed(crate::sync_rows::SYNC_COLUMNS));
        assert_eq!(names(&model), squeezed(MODEL_COLUMNS));
        let object = |fields: &[(&str, serde_json::Value)], last: Option<serde_json::Value>| {
            let mut o: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect();
            if let Some(last) = last {
                o.insert("last_sync".into(), last);
            }
            serde_json::Value::Object(o)
        };
        let array = |fields: &[(&str, serde_json::Value)], last: Option<serde_json::Value>| {
            let mut a: Vec<serde_json::Value> = fields.iter().map(|(_, v)| v.clone()).collect();
            a.extend(last);
            serde_json::Value::Array(a)
        };
        let by_name: ModelRow =
            serde_json::from_value(object(&model, Some(object(&sync, None)))).unwrap();
        let by_position: ModelRow =
            serde_json::from_value(array(&model, Some(array(&sync, None)))).unwrap();
        assert_eq!(
            format!("{:?}", by_name.into_domain().unwrap()),
            format!("{:?}", by_position.into_domain().unwrap())
        );
    }

    /// The JSON aggregation names its columns by hand: it must read exactly the rows' columns.
    #[test]
    fn the_json_fields_are_the_row_columns() {
        assert_eq!(names(MODEL_FIELDS), squeezed(MODEL_COLUMNS));
        assert_eq!(names(SYNC_FIELDS), squeezed(crate::sync_rows::SYNC_COLUMNS));
    }
}
