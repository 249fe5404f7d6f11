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
    /// How the connect page presents the organization (`None`: no such organization).
    async fn org_branding(&self, org: &OrgId) -> Result<Option<Branding>>;
    /// Replaces the organization's branding; false when there is no such organization.
    async fn set_org_branding(&self, org: &OrgId, branding: &Branding) -> Result<bool>;
}

/// How the hosted connect page presents an organization's platform. Checked by the API.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Branding {
    /// The platform's name as the customer's admin knows it.
    #[sqlx(rename = "brand_name")]
    pub name: Option<String>,
    /// Its logo, as a `data:image/…;base64,…` URL (served inline: the page loads nothing else).
    #[sqlx(rename = "brand_logo")]
    pub logo: Option<String>,
    /// Its colour, `#rrggbb`.
    #[sqlx(rename = "brand_color")]
    pub color: Option<String>,
}

const INSERT: &str = "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)";
const BY_NAME: &str = "SELECT id FROM organizations WHERE name = $1";
const COUNT: &str = "SELECT COUNT(*) FROM organizations";
const BRANDING: &str =
    "SELECT brand_name, brand_logo, brand_color FROM organizations WHERE id = $1";
const SET_BRANDING: &str =
    "UPDATE organizations SET brand_name = $2, brand_logo = $3, brand_color = $4 WHERE id = $1";

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

    async fn org_branding(&self, org: &OrgId) -> Result<Option<Branding>> {
        let db = self.db();
        db.count(1);
        Ok(on_pool!(db, pool => {
            sqlx::query_as(BRANDING).bind(org.as_str()).fetch_optional(pool).await?
        }))
    }

    async fn set_org_branding(&self, org: &OrgId, branding: &Branding) -> Result<bool> {
        let db = self.db();
        db.count(1);
        let changed = on_pool!(db, pool => {
            sqlx::query(SET_BRANDING)
                .bind(org.as_str())
                .bind(&branding.name)
                .bind(&branding.logo)
                .bind(&branding.color)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(changed == 1)
    }
}
