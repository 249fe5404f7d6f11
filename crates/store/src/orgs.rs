//! Organizations (tenants): the [`OrgStore`] trait and its SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledgerlink_domain::OrgId;

use crate::error::Result;
use crate::pool::{Backed, on_pool};

/// Organizations.
#[async_trait]
pub trait OrgStore: Send + Sync {
    /// Creates an organization; [`crate::StoreError::Conflict`] when the name is taken.
    async fn create_org(&self, name: &str, now: DateTime<Utc>) -> Result<OrgId>;
    /// The organization with this name.
    async fn org_by_name(&self, name: &str) -> Result<Option<OrgId>>;
    /// How many organizations exist.
    async fn count_orgs(&self) -> Result<i64>;
}

const INSERT: &str = "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)";
const BY_NAME: &str = "SELECT id FROM organizations WHERE name = $1";
const COUNT: &str = "SELECT COUNT(*) FROM organizations";

#[async_trait]
impl<S: Backed> OrgStore for S {
    async fn create_org(&self, name: &str, now: DateTime<Utc>) -> Result<OrgId> {
        let db = self.db();
        db.count(1);
        let id = ledgerlink_domain::new_id("org");
        on_pool!(db, pool => {
            sqlx::query(INSERT).bind(&id).bind(name).bind(now).execute(pool).await?;
        });
        Ok(OrgId(id))
    }

    async fn org_by_name(&self, name: &str) -> Result<Option<OrgId>> {
        let db = self.db();
        db.count(1);
        let id: Option<String> = on_pool!(db, pool => {
            sqlx::query_scalar(BY_NAME).bind(name).fetch_optional(pool).await?
        });
        Ok(id.map(OrgId))
    }

    async fn count_orgs(&self) -> Result<i64> {
        let db = self.db();
        db.count(1);
        Ok(on_pool!(db, pool => sqlx::query_scalar(COUNT).fetch_one(pool).await?))
    }
}
