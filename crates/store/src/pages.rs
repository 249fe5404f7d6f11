//! Writing a sync's pages: the page types, and the SQL that stores a page's records (each new or
//! changed one at a new position in the change feed), its skipped records and resume state — and,
//! after a full pass, marks unseen records deleted.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::QueryBuilder;
use sqlx::types::Json;

use crate::dialect::{CHUNK, keep_prepared};
use crate::error::{Result, StoreError};
use crate::packed;
use crate::pool::{Db, Tx, on_pool, on_tx};
use crate::record_hash;
use crate::record_keys::{self, Path};
use crate::sync_rows::SyncJob;

/// One mapped record to write.
#[derive(Debug, Clone)]
pub struct RecordIn {
    /// The ERP's id.
    pub remote_id: String,
    /// The unified record, as JSON text.
    pub data: Box<str>,
    /// The ERP's payload: the JSON text it sent for the record, as received (stored as it is, in
    /// the form `packed` describes, so it reads back byte for byte).
    pub raw: Box<str>,
    /// The hash of `data`'s text ([`record_hash`](crate::record_hash)).
    pub hash: String,
    /// The ERP's modification stamp.
    pub remote_modified_at: Option<DateTime<Utc>>,
}

/// A record of a page that could not be mapped: skipped, shown on the sync, re-read next time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkippedRecord {
    /// The ERP's id, when the record had a readable one.
    pub remote_id: Option<String>,
    /// Why it could not be mapped.
    pub reason: String,
}

/// One page to write: its records, what was skipped, and where the sync stands after it.
#[derive(Debug, Clone, Copy)]
pub struct PageWrite<'a> {
    /// Mapped records.
    pub records: &'a [RecordIn],
    /// Records that could not be mapped: remembered (with an id) for the next sync to re-read, and
    /// kept as they were in the feed (a full pass does not take them for deleted).
    pub skipped: &'a [SkippedRecord],
    /// Remote ids whose earlier skips are over (they mapped now, or the ERP no longer has them).
    pub forget_skips: &'a [String],
    /// The resume state saved with the page.
    pub pagination_state: &'a Value,
}

/// What writing a page did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageOutcome {
    /// Records new or changed (each got a new position in the feed).
    pub written: u64,
    /// Records identical to what was stored (not rewritten).
    pub unchanged: u64,
    /// A cancel was requested: stop.
    pub cancel_requested: bool,
}

/// Records gathered for one write — one transaction, possibly covering several pages — each new or
/// changed one already packed (see `packed`), each unchanged one by its id alone. Staging compares
/// records with the stored ones and packs them outside the write transaction, so the transaction
/// holds the database's write lock only to insert, and memory holds records at their packed size
/// (~1.3 KB an invoice instead of ~8 KB of JSON) while a write gathers.
#[derive(Debug, Default)]
pub struct Staged {
    /// Each staged occurrence in arrival order: its remote id, and its packed row when it differed
    /// from the stored record (at staging) — the last occurrence of an id decides.
    entries: Vec<(String, Option<PackedRecord>)>,
    skipped: Vec<SkippedRecord>,
    bytes: usize,
}

/// A new or changed record, packed for its row.
#[derive(Debug)]
struct PackedRecord {
    data: Vec<u8>,
    raw: Vec<u8>,
    hash: String,
    remote_modified_at: Option<DateTime<Utc>>,
    /// Stored without a key (see `record_keys`): written along that path.
    unkeyed: bool,
    /// The write in flight at staging stores it too, possibly without a key: its write looks again.
    recheck: bool,
}

impl Staged {
    /// Records staged (every occurrence, changed or not).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing staged: no record and no skip.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.skipped.is_empty()
    }

    /// Bytes held: the packed rows and the ids.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds records that could not be mapped (remembered, and kept as they were in the feed).
    pub fn skip(&mut self, skipped: &[SkippedRecord]) {
        self.skipped.extend_from_slice(skipped);
    }

    /// Adds what `other` staged after what this one did.
    pub fn append(&mut self, mut other: Staged) {
        self.entries.append(&mut other.entries);
        self.skipped.append(&mut other.skipped);
        self.bytes += other.bytes;
    }

    /// The hash of each record its write will store (new or changed at its last occurrence), by
    /// remote id.
    pub fn hashes(&self) -> HashMap<String, String> {
        let (changed, _) = self.split();
        changed
            .into_iter()
            .map(|(id, p)| (id.to_owned(), p.hash.clone()))
            .collect()
    }

    /// Empties it (after its write), keeping its allocations.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.skipped.clear();
        self.bytes = 0;
    }

    /// The records to write, in feed order (each id at its last occurrence), and the ids of those
    /// unchanged.
    fn split(&self) -> (Vec<(&str, &PackedRecord)>, Vec<&str>) {
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(self.entries.len());
        for (i, (id, _)) in self.entries.iter().enumerate() {
            last.insert(id.as_str(), i);
        }
        let mut changed = Vec::new();
        let mut unchanged = Vec::new();
        for (i, (id, packed)) in self.entries.iter().enumerate() {
            if last[id.as_str()] != i {
                continue;
            }
            match packed {
                Some(p) => changed.push((id.as_str(), p)),
                None => unchanged.push(id.as_str()),
            }
        }
        (changed, unchanged)
    }
}

/// A model's first load: the window of a sync that began with no record of its model stored (not
/// even a deleted one). Only that sync writes the model's records, so a record it has not staged
/// yet is not stored, and staging need not look it up: on a connection's initial sync — millions of
/// records, every one new — the look-ups read the growing table back from disk (at 1,000,000
/// invoices, skipping them took 3–14 % off the CPU and 10–19 MiB off the peak; BENCHMARKS.md).
///
/// It remembers the remote ids it let through by one bit of a hash each; an id whose bit is set
/// (staged before, or sharing the bit with one that was) is looked up as always. A bit set without
/// a record stored behind it — a stage retried, a write that failed — only costs a look-up.
#[derive(Debug)]
pub struct FirstLoad {
    seen: std::sync::Mutex<Vec<u64>>,
}

impl FirstLoad {
    /// 2²⁴ bits (2 MiB): after 1,000,000 ids, 6 % of new ids find their bit set and are looked up.
    const BITS: u64 = 1 << 24;

    fn new() -> Self {
        // Zeroed by the allocator (fresh pages, touched as bits are set).
        Self {
            seen: std::sync::Mutex::new(vec![0; (Self::BITS / 64) as usize]),
        }
    }

    /// Of these remote ids, those that may be stored: each whose bit was already set (by an earlier
    /// id, or an earlier occurrence of the same one); every bit is set on the way.
    fn may_be_stored<'a>(&self, ids: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hasher = BuildHasherDefault::<DefaultHasher>::default();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        ids.filter(|id| {
            let bit = hasher.hash_one(id) % Self::BITS;
            let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
            let set = seen[word] & mask != 0;
            seen[word] |= mask;
            set
        })
        .collect()
    }
}

/// Whether the sync's model has any record stored (deleted ones included): `$1` connection,
/// `$2` model.
const ANY_RECORD: &str = "SELECT 1 FROM records WHERE connection_id = $1 AND model = $2 LIMIT 1";

/// A [`FirstLoad`] when no record of the sync's model is stored.
pub(crate) async fn first_load(db: &Db, job: &SyncJob) -> Result<Option<FirstLoad>> {
    db.count(1);
    let any: Option<i32> = on_pool!(db, pool => {
        sqlx::query_scalar(ANY_RECORD)
            .bind(&job.connection_id)
            .bind(&job.model_name)
            .fetch_optional(pool)
            .await?
    });
    Ok(any.is_none().then(FirstLoad::new))
}

/// Saves the resume state and extends the lease if `worker` still holds the sync: `$1` state,
/// `$2` lease end, `$3` now, `$4` sync, `$5` worker.
const SAVE_STATE: &str = "UPDATE syncs SET pagination_state = $1, locked_until = $2, \
    modified_at = $3 WHERE id = $4 AND locked_by = $5 AND status = 'running' \
    RETURNING cancel_requested";

/// Takes `$1` positions in the connection `$2`'s feed; returns the last one taken.
const TAKE_SEQS: &str = "UPDATE connections SET record_seq = record_seq + $1 \
    WHERE id = $2 RETURNING record_seq";

/// Our ids of the records a complete full pass `$3` did not see, in feed order (`records_feed` finds
/// the model's records in that order, the order their rows were written in).
const UNSEEN: &str = "SELECT id FROM records WHERE connection_id = $1 AND model = $2 \
    AND NOT is_deleted AND (seen_sync_id IS NULL OR seen_sync_id <> $3) ORDER BY seq";

/// `$1` its new feed position, `$2` now, `$3` our id.
const MARK_DELETED: &str = "UPDATE records SET is_deleted = true, remote_deleted_at = $2, \
    seq = $1, modified_at = $2 WHERE id = $3";

/// The columns a page's inserts bind, in order.
const INSERT_RECORDS: &str = "INSERT INTO records (id, connection_id, model, remote_id, seq, \
    data, raw, hash, is_deleted, remote_modified_at, seen_sync_id, modified_at, rkey) ";

/// What a record seen again with other content takes: the new content and a new feed position.
const RECORD_UPDATE: &str = " DO UPDATE SET \
    seq = excluded.seq, data = excluded.data, raw = excluded.raw, \
    hash = excluded.hash, is_deleted = false, remote_deleted_at = NULL, \
    remote_modified_at = excluded.remote_modified_at, \
    seen_sync_id = excluded.seen_sync_id, modified_at = excluded.modified_at";

/// A keyed row's conflict: the record itself (updated), or another one holding its key (nothing
/// happens: the row is not counted, and is written without a key).
const ON_KEY_CONFLICT: &str = " ON CONFLICT (rkey)";
const SAME_IDENTITY: &str = " WHERE records.connection_id = excluded.connection_id \
    AND records.model = excluded.model AND records.remote_id = excluded.remote_id";

/// An unkeyed row's conflict: the record itself, stored without a key.
const ON_IDENTITY_CONFLICT: &str =
    " ON CONFLICT (connection_id, model, remote_id) WHERE rkey IS NULL";

/// Whether a conflicting row is not already what this write stores: a write made again after its
/// commit's acknowledgement was lost (the store call retried) leaves the rows it wrote where they
/// are, instead of moving them to new feed positions — a client that read in between would see them
/// twice. (Staging only sends records that differ from the stored ones, so nothing else matches.)
const NOT_WRITTEN_YET: &str = " (records.hash IS DISTINCT FROM excluded.hash OR records.is_deleted OR records.seen_sync_id IS DISTINCT FROM excluded.seen_sync_id)";

/// `$1` connection, `$2` model, `$3` remote id, `$4` reason, `$5` sync, `$6` now.
const REMEMBER_SKIP: &str = "INSERT INTO record_skips (connection_id, model, remote_id, reason, \
    sync_id, skipped_at) VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (connection_id, model, remote_id) \
    DO UPDATE SET reason = excluded.reason, sync_id = excluded.sync_id, \
    skipped_at = excluded.skipped_at";

/// Appends ` WHERE connection_id = … AND model = …{extra} AND remote_id IN (…)`: some of a
/// connection's rows of one model in a table keyed by remote id (the records' skips).
pub(crate) fn push_records_in<'a, DB>(
    q: &mut QueryBuilder<'a, DB>,
    connection_id: &'a str,
    model: &'a str,
    extra: &str,
    remote_ids: impl IntoIterator<Item = &'a str>,
) where
    DB: sqlx::Database,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push(" WHERE connection_id = ")
        .push_bind(connection_id)
        .push(" AND model = ")
        .push_bind(model)
        .push(extra)
        .push(" AND remote_id IN (");
    let mut list = q.separated(", ");
    for id in remote_ids {
        list.push_bind(id);
    }
    q.push(")");
}

/// Saves the page's resume state and extends the lease: whether a cancel was requested, or `None`
/// when `worker` no longer holds the sync.
async fn save_state(
    tx: &mut Tx,
    job: &SyncJob,
    worker: &str,
    state: &Value,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Option<bool>> {
    Ok(on_tx!(tx, conn => {
        sqlx::query_scalar(SAVE_STATE)
            .bind(Json(state))
            .bind(lease_until)
            .bind(now)
            .bind(&job.sync.id)
            .bind(worker)
            .fetch_optional(&mut *conn)
            .await?
    }))
}

/// What is stored of a record: its hash, whether it is deleted, and its [`Path`].
struct Stored {
    hash: String,
    deleted: bool,
    path: Path,
}

/// What is stored of each of these records of the sync's model (read outside the write transaction:
/// see [`Staged`]).
async fn stored_hashes(db: &Db, job: &SyncJob, ids: &[&str]) -> Result<HashMap<String, Stored>> {
    let (connection, model) = (job.connection_id.as_str(), job.model_name.as_str());
    let mut stored = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        for path in Path::BOTH {
            db.count(1);
            let rows: Vec<(String, String, bool)> = on_pool!(db, pool, DB => {
                let mut q = QueryBuilder::<DB>::new("SELECT remote_id, hash, is_deleted FROM records");
                q.push(path.index(db));
                path.push_where(&mut q, db, connection, model, "", chunk, false);
                let q = q.build_query_as().persistent(keep_prepared(chunk.len()));
                q.fetch_all(pool).await?
            });
            for (id, hash, deleted) in rows {
                stored.insert(
                    id,
                    Stored {
                        hash,
                        deleted,
                        path,
                    },
                );
            }
        }
    }
    Ok(stored)
}

/// Stages records (see [`Staged`]): those identical to their stored version by id, the others
/// packed. `unsettled` holds the hashes of records a write not yet committed is storing, by remote
/// id: they count as stored. In a [`FirstLoad`], only ids it may have seen are looked up.
pub(crate) async fn stage(
    db: &Db,
    job: &SyncJob,
    records: &[RecordIn],
    unsettled: &HashMap<String, String>,
    first_load: Option<&FirstLoad>,
) -> Result<Staged> {
    let ids = records.iter().map(|r| r.remote_id.as_str());
    let ids: Vec<&str> = match first_load {
        Some(first) => first.may_be_stored(ids),
        None => ids.collect(),
    };
    let stored = stored_hashes(db, job, &ids).await?;
    let mut into = Staged::default();
    into.entries.reserve(records.len());
    for r in records {
        let in_flight = unsettled.get(&r.remote_id);
        let stored = stored.get(&r.remote_id);
        let unchanged = match in_flight {
            Some(hash) => hash == &r.hash,
            None => {
                stored.is_some_and(|s| !s.deleted && record_hash::same(&s.hash, &r.hash, &r.data))
            }
        };
        let packed = (!unchanged).then(|| PackedRecord {
            data: packed::pack(&r.data, packed::Column::Data),
            raw: packed::pack(&r.raw, packed::Column::Raw),
            hash: r.hash.clone(),
            remote_modified_at: r.remote_modified_at,
            unkeyed: stored.is_some_and(|s| s.path == Path::Unkeyed),
            recheck: in_flight.is_some(),
        });
        into.bytes += r.remote_id.len()
            + packed
                .as_ref()
                .map_or(0, |p| p.data.len() + p.raw.len() + p.hash.len());
        into.entries.push((r.remote_id.clone(), packed));
    }
    Ok(into)
}

/// Takes `n` positions in the connection's feed; returns the first.
async fn take_seqs(tx: &mut Tx, connection_id: &str, n: usize) -> Result<i64> {
    let end: i64 = on_tx!(tx, conn => {
        sqlx::query_scalar(TAKE_SEQS)
            .bind(n as i64)
            .bind(connection_id)
            .fetch_one(&mut *conn)
            .await?
    });
    Ok(end - n as i64 + 1)
}

/// A new or changed record on its way into a row.
struct RowOut<'r> {
    seq: i64,
    remote_id: &'r str,
    record: &'r PackedRecord,
    /// Its key; `None` to write it without one.
    key: Option<i64>,
}

/// Writes new and changed records, each at a new position in the feed (in `changed`'s order): at
/// their keys, except those stored without one, and those whose key another record holds (see
/// `record_keys`).
async fn write_changed(
    db: &Db,
    tx: &mut Tx,
    job: &SyncJob,
    changed: &[(&str, &PackedRecord)],
    now: DateTime<Utc>,
) -> Result<()> {
    if changed.is_empty() {
        return Ok(());
    }
    let (connection, model) = (job.connection_id.as_str(), job.model_name.as_str());
    let first = take_seqs(tx, connection, changed.len()).await?;
    // Those the write in flight at staging also stored may have gone in without a key: asked again,
    // now that it has committed.
    let recheck: Vec<&str> = changed
        .iter()
        .filter(|(_, r)| r.recheck && !r.unkeyed)
        .map(|(id, _)| *id)
        .collect();
    let unkeyed_now = stored_along(db, tx, job, Path::Unkeyed, &recheck).await?;
    let (mut keyed, mut unkeyed): (Vec<RowOut>, Vec<RowOut>) = changed
        .iter()
        .enumerate()
        .map(|(i, (id, r))| RowOut {
            seq: first + i as i64,
            remote_id: id,
            record: r,
            key: (!r.unkeyed && !unkeyed_now.contains(*id))
                .then(|| record_keys::key_of(db, connection, model, id)),
        })
        .partition(|row| row.key.is_some());
    // Each record's feed position follows the page's order; the rows go in by key, so that the key
    // index's leaf pages are each visited once, in order. A key twice in one write (two records
    // with one key): the second goes without.
    keyed.sort_unstable_by_key(|row| row.key);
    let mut i = 1;
    while i < keyed.len() {
        if keyed[i].key == keyed[i - 1].key {
            let mut row = keyed.remove(i);
            row.key = None;
            unkeyed.push(row);
        } else {
            i += 1;
        }
    }
    for chunk in keyed.chunks(CHUNK) {
        let written = on_tx!(tx, conn, DB => {
            let mut q = QueryBuilder::<DB>::new(INSERT_RECORDS);
            push_rows(&mut q, job, chunk, now);
            q.push(ON_KEY_CONFLICT)
                .push(RECORD_UPDATE)
                .push(SAME_IDENTITY)
                .push(" AND")
                .push(NOT_WRITTEN_YET);
            let q = q.build().persistent(keep_prepared(chunk.len()));
            q.execute(&mut *conn).await?.rows_affected()
        });
        if written < chunk.len() as u64 {
            // Some keys were other records': which of these records are at their keys now?
            let ids: Vec<&str> = chunk.iter().map(|row| row.remote_id).collect();
            let at_keys = stored_along(db, tx, job, Path::Keyed, &ids).await?;
            for row in chunk {
                if !at_keys.contains(row.remote_id) {
                    unkeyed.push(RowOut { key: None, ..*row });
                }
            }
        }
    }
    unkeyed.sort_unstable_by(|a, b| a.remote_id.cmp(b.remote_id));
    for chunk in unkeyed.chunks(CHUNK) {
        on_tx!(tx, conn, DB => {
            let mut q = QueryBuilder::<DB>::new(INSERT_RECORDS);
            push_rows(&mut q, job, chunk, now);
            q.push(ON_IDENTITY_CONFLICT)
                .push(RECORD_UPDATE)
                .push(" WHERE")
                .push(NOT_WRITTEN_YET);
            let q = q.build().persistent(keep_prepared(chunk.len()));
            q.execute(&mut *conn).await?;
        });
    }
    Ok(())
}

/// Appends the `VALUES` of these rows (the columns of [`INSERT_RECORDS`]).
fn push_rows<'a, DB>(
    q: &mut QueryBuilder<'a, DB>,
    job: &'a SyncJob,
    rows: &'a [RowOut<'a>],
    now: DateTime<Utc>,
) where
    DB: sqlx::Database,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a [u8]: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<DateTime<Utc>>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    q.push_values(rows, |mut row, r| {
        row.push_bind(ledgerlink_domain::new_id("rec"))
            .push_bind(&job.connection_id)
            .push_bind(&job.model_name)
            .push_bind(r.remote_id)
            .push_bind(r.seq)
            .push_bind(r.record.data.as_slice())
            .push_bind(r.record.raw.as_slice())
            .push_bind(&r.record.hash)
            .push_bind(false)
            .push_bind(r.record.remote_modified_at)
            .push_bind(&job.sync.id)
            .push_bind(now)
            .push_bind(r.key);
    });
}

/// Which of these of the sync's records are stored along `path` (in the write transaction).
async fn stored_along(
    db: &Db,
    tx: &mut Tx,
    job: &SyncJob,
    path: Path,
    ids: &[&str],
) -> Result<HashSet<String>> {
    let (connection, model) = (job.connection_id.as_str(), job.model_name.as_str());
    let mut found = HashSet::new();
    for chunk in ids.chunks(CHUNK) {
        db.count(1);
        let rows: Vec<String> = on_tx!(tx, conn, DB => {
            let mut q = QueryBuilder::<DB>::new("SELECT remote_id FROM records");
            q.push(path.index(db));
            path.push_where(&mut q, db, connection, model, "", chunk, true);
            let q = q.build_query_scalar().persistent(keep_prepared(chunk.len()));
            q.fetch_all(&mut *conn).await?
        });
        found.extend(rows);
    }
    Ok(found)
}

/// Marks records as seen by the sync (a full pass then does not take them for deleted).
async fn mark_seen(db: &Db, tx: &mut Tx, job: &SyncJob, ids: &[&str]) -> Result<()> {
    let (connection, model) = (job.connection_id.as_str(), job.model_name.as_str());
    for chunk in ids.chunks(CHUNK) {
        for path in Path::BOTH {
            on_tx!(tx, conn, DB => {
                let mut q = QueryBuilder::<DB>::new("UPDATE records");
                q.push(path.index(db)).push(" SET seen_sync_id = ");
                q.push_bind(job.sync.id.as_str());
                path.push_where(&mut q, db, connection, model, "", chunk, true);
                let q = q.build().persistent(keep_prepared(chunk.len()));
                q.execute(&mut *conn).await?;
            });
        }
    }
    Ok(())
}

/// Skips: forgets those that are over, remembers new ones (and keeps the stored versions of
/// skipped records from being taken for deleted by this sync).
async fn save_skips(
    db: &Db,
    tx: &mut Tx,
    job: &SyncJob,
    skipped: &[SkippedRecord],
    forget_skips: &[String],
    now: DateTime<Utc>,
) -> Result<()> {
    let (connection, model) = (job.connection_id.as_str(), job.model_name.as_str());
    if !forget_skips.is_empty() {
        db.count(1);
        on_tx!(tx, conn, DB => {
            let mut q = QueryBuilder::<DB>::new("DELETE FROM record_skips");
            let forget = forget_skips.iter().map(String::as_str);
            push_records_in(&mut q, connection, model, "", forget);
            let q = q.build().persistent(keep_prepared(forget_skips.len()));
            q.execute(&mut *conn).await?;
        });
    }
    for skip in skipped {
        let Some(remote_id) = skip.remote_id.as_deref() else {
            continue;
        };
        db.count(3);
        on_tx!(tx, conn => {
            sqlx::query(REMEMBER_SKIP)
                .bind(connection)
                .bind(model)
                .bind(remote_id)
                .bind(&skip.reason)
                .bind(&job.sync.id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
        });
        // Keeps its stored version from being taken for deleted by this sync.
        mark_seen(db, tx, job, &[remote_id]).await?;
    }
    Ok(())
}

/// After a complete full pass: marks the model's records the sync did not see deleted, each at a
/// new position in the feed.
pub(crate) async fn mark_unseen_deleted(
    tx: &mut Tx,
    job: &SyncJob,
    now: DateTime<Utc>,
) -> Result<()> {
    let gone: Vec<String> = on_tx!(tx, conn => {
        sqlx::query_scalar(UNSEEN)
            .bind(&job.connection_id)
            .bind(&job.model_name)
            .bind(&job.sync.id)
            .fetch_all(&mut *conn)
            .await?
    });
    if gone.is_empty() {
        return Ok(());
    }
    let first = take_seqs(tx, &job.connection_id, gone.len()).await?;
    for (i, id) in gone.iter().enumerate() {
        on_tx!(tx, conn => {
            sqlx::query(MARK_DELETED)
                .bind(first + i as i64)
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        });
    }
    Ok(())
}

/// Writes a page of records and the resume state in one transaction, extending the lease (see
/// [`crate::RecordStore::save_sync_page`]).
pub(crate) async fn save_sync_page(
    db: &Db,
    job: &SyncJob,
    worker: &str,
    page: PageWrite<'_>,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<PageOutcome> {
    let mut staged = stage(db, job, page.records, &HashMap::new(), None).await?;
    staged.skip(page.skipped);
    let state = page.pagination_state;
    save_staged(
        db,
        job,
        worker,
        &staged,
        page.forget_skips,
        state,
        now,
        lease_until,
    )
    .await
}

/// Writes staged records, their skips and the resume state in one transaction, extending the lease
/// (see [`crate::RecordStore::save_staged`]).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn save_staged(
    db: &Db,
    job: &SyncJob,
    worker: &str,
    staged: &Staged,
    forget_skips: &[String],
    state: &Value,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<PageOutcome> {
    let (changed, unchanged) = staged.split();
    db.count(4 + 3 * (staged.len() / CHUNK + 1) as u64);
    let mut tx = db.begin_write().await?;
    let Some(cancel_requested) = save_state(&mut tx, job, worker, state, now, lease_until).await?
    else {
        return Err(StoreError::NotHeld);
    };
    write_changed(db, &mut tx, job, &changed, now).await?;
    mark_seen(db, &mut tx, job, &unchanged).await?;
    save_skips(db, &mut tx, job, &staged.skipped, forget_skips, now).await?;
    tx.commit().await?;
    Ok(PageOutcome {
        written: changed.len() as u64,
        unchanged: unchanged.len() as u64,
        cancel_requested,
    })
}
