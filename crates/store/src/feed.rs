//! The change feed as the API answers it: each record's stored JSON as text (unpacked, see
//! [`crate::packed`]), written into the response as it is instead of being parsed into a tree and
//! serialized again (BENCHMARKS.md, "Change feed drain"). [`crate::RecordStore::list_records`]
//! reads the same feed as values.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledgerlink_domain::OrgId;

use crate::error::{Result, StoreError};
use crate::pool::{Backed, on_pool};
use crate::{damaged, packed};

/// Filter of a change-feed read.
#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    /// Only records after this feed position.
    pub after_seq: i64,
    /// Page size.
    pub limit: u32,
    /// Only records the ERP modified after this.
    pub modified_after: Option<DateTime<Utc>>,
    /// Include deletions.
    pub include_deleted: bool,
    /// Include the ERP payload.
    pub include_raw: bool,
}

/// One record of the change feed, its JSON as text.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedRecord {
    /// Ours (`rec_…`).
    pub id: String,
    /// The ERP's id.
    pub remote_id: String,
    /// Position in the connection's change feed.
    pub seq: i64,
    /// The unified record (latest version), JSON.
    pub data: String,
    /// The ERP's payload, JSON; only when asked for.
    pub raw: Option<String>,
    /// Deleted at the ERP.
    pub is_deleted: bool,
    /// When a completed full pass found it gone.
    pub remote_deleted_at: Option<DateTime<Utc>>,
    /// The ERP's modification stamp.
    pub remote_modified_at: Option<DateTime<Utc>>,
    /// When ledgerlink last changed it.
    pub modified_at: DateTime<Utc>,
}

/// The change feed for the API.
#[async_trait]
pub trait FeedStore: Send + Sync {
    /// Reads a connection's change feed for one model, in feed order, as
    /// [`crate::RecordStore::list_records`] does, with each record's JSON as text.
    async fn feed_page(
        &self,
        org: &OrgId,
        connection_id: &str,
        model: &str,
        q: &RecordQuery,
    ) -> Result<Vec<FeedRecord>>;
}

/// A page of the feed: `$1` org, `$2` connection, `$3` model, `$4` after this position, `$5` with
/// deletions, `$6` modified after or null, `$7` page size, `$8` with the ERP payload (left unread
/// otherwise: it is the larger column). Served by the `records_feed` index.
const FEED: &str = "SELECT r.id, r.remote_id, r.seq, r.data, CASE WHEN $8 THEN r.raw END AS raw, \
    r.is_deleted, r.remote_deleted_at, r.remote_modified_at, r.modified_at \
    FROM records r \
    WHERE r.connection_id = $2 AND r.model = $3 AND r.seq > $4 \
    AND ($5 OR NOT r.is_deleted) \
    AND ($6 IS NULL OR r.remote_modified_at > $6) \
    AND r.connection_id IN (SELECT id FROM connections WHERE org_id = $1) \
    ORDER BY r.seq LIMIT $7";

/// A feed row as stored: the JSON columns as `packed` bytes.
#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    remote_id: String,
    seq: i64,
    data: Vec<u8>,
    raw: Option<Vec<u8>>,
    is_deleted: bool,
    remote_deleted_at: Option<DateTime<Utc>>,
    remote_modified_at: Option<DateTime<Utc>>,
    modified_at: DateTime<Utc>,
}

/// Why a feed row's stored JSON cannot be read, and which of its columns.
struct Damage {
    data: bool,
    raw: bool,
    err: StoreError,
}

/// A feed row's record; when a column cannot be read, the record with [`damaged::GONE_DATA`] or
/// [`damaged::GONE_RAW`] in its place, and why.
fn into_record(r: Row) -> (FeedRecord, Option<Damage>) {
    let what = format_args!("record {}", r.id);
    let data = packed::unpack(r.data, &what);
    let raw = r.raw.map(|raw| packed::unpack(raw, &what)).transpose();
    let (data_ok, raw_ok) = (data.is_ok(), raw.is_ok());
    let mut err = None;
    let data = data.unwrap_or_else(|e| {
        err = Some(e);
        damaged::GONE_DATA.to_owned()
    });
    let raw = raw.unwrap_or_else(|e| {
        err.get_or_insert(e);
        Some(damaged::GONE_RAW.to_owned())
    });
    let record = FeedRecord {
        data,
        raw,
        id: r.id,
        remote_id: r.remote_id,
        seq: r.seq,
        is_deleted: r.is_deleted,
        remote_deleted_at: r.remote_deleted_at,
        remote_modified_at: r.remote_modified_at,
        modified_at: r.modified_at,
    };
    let damage = err.map(|err| Damage {
        data: !data_ok,
        raw: !raw_ok,
        err,
    });
    (record, damage)
}

#[async_trait]
impl<S: Backed> FeedStore for S {
    async fn feed_page(
        &self,
        org: &OrgId,
        connection_id: &str,
        model: &str,
        q: &RecordQuery,
    ) -> Result<Vec<FeedRecord>> {
        let db = self.db();
        db.count(1);
        let rows: Vec<Row> = on_pool!(db, pool => {
            sqlx::query_as(FEED)
                .bind(org.as_str())
                .bind(connection_id)
                .bind(model)
                .bind(q.after_seq)
                .bind(q.include_deleted)
                .bind(q.modified_after)
                .bind(i64::from(q.limit))
                .bind(q.include_raw)
                .fetch_all(pool)
                .await?
        });
        let mut page = Vec::with_capacity(rows.len());
        for row in rows {
            let (record, damage) = into_record(row);
            if let Some(Damage { data, raw, err }) = damage {
                if record.is_deleted {
                    // No sync will write it anew: its deletion is served without its content.
                    damaged::bury(db, &record.id, record.seq, (data, raw), &err).await?;
                } else {
                    // Serving the rest without it would let a client's cursor pass it by;
                    // answering the error until it is repaired keeps the feed whole. The repair:
                    // the next sync that reads the record writes it anew (its hash no longer
                    // matches).
                    let id = &record.remote_id;
                    let newly_found = damaged::mark(db, connection_id, model, id, &err).await?;
                    return Err(StoreError::Damaged {
                        what: format!("record {} ({model})", record.id),
                        newly_found,
                    });
                }
            }
            page.push(record);
        }
        Ok(page)
    }
}
