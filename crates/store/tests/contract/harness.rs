//! A fresh store per test, and the few rows most tests start from.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use ledgerlink_domain::{Connection, HealthStatus, NewConnection, OrgId, catalog};
use ledgerlink_store::{NewSync, PageWrite, RecordIn, Store, SyncJob};
use serde_json::{Value, json};
use sqlx::Connection as _;

/// The Postgres server to test against, when the suite runs on Postgres.
fn postgres_server() -> Option<String> {
    std::env::var("LEDGERLINK_TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
}

/// A store on a database of its own, removed when this value is dropped.
pub struct TestDb {
    pub store: Arc<dyn Store>,
    /// The URL of the Postgres database (None on SQLite).
    url: Option<String>,
    dir: tempfile::TempDir,
    /// Dropped after the store handles above (fields drop in order), which drops the database.
    _pg: Option<PgDatabase>,
}

impl TestDb {
    /// A fresh, migrated store.
    pub async fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let pg = match postgres_server() {
            Some(server) => Some(PgDatabase::create(&server).await),
            None => None,
        };
        let url = pg.as_ref().map(|p| p.url.clone());
        let store = ledgerlink_store::open(url.as_deref(), dir.path())
            .await
            .expect("open the store");
        TestDb {
            store,
            url,
            dir,
            _pg: pg,
        }
    }

    /// Runs one statement on the database directly (`sqlite` or `postgres`, whichever it is), as an
    /// operator or an older version would.
    pub async fn execute(&self, sqlite: &str, postgres: &str) {
        match &self.url {
            Some(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
                sqlx::query(postgres)
                    .execute(&mut conn)
                    .await
                    .expect("statement");
            }
            None => {
                let file = self.dir.path().join("ledgerlink.db");
                let mut conn =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
                        .await
                        .expect("connect");
                sqlx::query(sqlite)
                    .execute(&mut conn)
                    .await
                    .expect("statement");
            }
        }
    }

    /// On Postgres, the first column of the first row of a query's answer as text (`None` on SQLite).
    pub async fn postgres_text(&self, sql: &str) -> Option<Option<String>> {
        let url = self.url.as_ref()?;
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        Some(
            sqlx::query_scalar(sql)
                .fetch_one(&mut conn)
                .await
                .expect("query"),
        )
    }

    /// Another store on the same database, as a second process would open it.
    pub async fn second_handle(&self) -> Arc<dyn Store> {
        ledgerlink_store::open(self.url.as_deref(), self.dir.path())
            .await
            .expect("open the store again")
    }
}

/// A throwaway Postgres database, dropped (forcibly) when this value is dropped.
struct PgDatabase {
    server: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create(server: &str) -> PgDatabase {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "llstore_{}_{}_{nanos:x}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = sqlx::PgConnection::connect(server)
            .await
            .expect("connect to the Postgres server");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        let mut url = url::Url::parse(server).expect("Postgres URL");
        url.set_path(&format!("/{name}"));
        PgDatabase {
            server: server.to_owned(),
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime: use a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&server).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A fixed instant every test counts from (whole seconds: both backends keep it exactly).
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

/// `t0` plus some seconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs)
}

/// A new organization.
pub async fn org(store: &Arc<dyn Store>, name: &str) -> OrgId {
    store.create_org(name, t0()).await.expect("create org")
}

/// A Business Central connection of `org`, authenticated, set up and healthy (so it can sync), with
/// every model of the catalog; none of its models is due on schedule.
pub async fn ready_connection(store: &Arc<dyn Store>, org: &OrgId, name: &str) -> Connection {
    let new = NewConnection {
        provider: catalog::provider("ms-dynamics-bc").expect("the BC provider"),
        name: Some(name.to_owned()),
        api_url: None,
        is_on_premise: false,
    };
    let mut c = Connection::create(org.clone(), new, t0());
    c.is_authentication_pending = false;
    c.health_status = HealthStatus::Healthy;
    c.environment = Some("Production".into());
    c.company = Some("company-1".into());
    store
        .insert_connection(&c)
        .await
        .expect("insert connection");
    c
}

/// The model of `c` named `name`.
pub fn model<'a>(c: &'a Connection, name: &str) -> &'a ledgerlink_domain::Model {
    c.models
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no model {name}"))
}

/// A queued full pass of `c`'s `invoices` model.
pub async fn queue_invoices(store: &Arc<dyn Store>, c: &Connection) -> ledgerlink_domain::Sync {
    let m = model(c, "invoices");
    let want = NewSync::queued(
        &m.id,
        &m.name,
        c.company.clone(),
        None,
        t0(),
        chrono::Duration::zero(),
        None,
        true,
    );
    let mut out = store
        .enqueue_syncs(&c.org_id, &c.id, &[want], t0())
        .await
        .expect("enqueue");
    assert_eq!(out.len(), 1);
    out.remove(0)
}

/// Queues another full pass of `c`'s `invoices` and claims it (as worker `w`, at 10 s).
pub async fn resync_invoices(store: &Arc<dyn Store>, c: &Connection) -> SyncJob {
    queue_invoices(store, c).await;
    store
        .claim_sync("w", at(10), at(70))
        .await
        .expect("claim")
        .expect("a runnable sync")
}

/// A mapped record with this id and payload.
pub fn record(remote_id: &str, data: Value) -> RecordIn {
    let hash = ledgerlink_store::record_hash(&data.to_string());
    let text = |v: &Value| v.to_string().into_boxed_str();
    RecordIn {
        remote_id: remote_id.to_owned(),
        raw: text(&json!({ "id": remote_id })),
        data: text(&data),
        hash,
        remote_modified_at: Some(t0()),
    }
}

/// A page with these records and nothing skipped.
pub fn page<'a>(records: &'a [RecordIn], state: &'a Value) -> PageWrite<'a> {
    PageWrite {
        records,
        skipped: &[],
        forget_skips: &[],
        pagination_state: state,
    }
}

/// Queues, claims and completes a full pass of `c`'s invoices that writes `records`.
pub async fn sync_invoices(
    store: &Arc<dyn Store>,
    c: &Connection,
    records: &[RecordIn],
) -> SyncJob {
    let queued = queue_invoices(store, c).await;
    let job = store
        .claim_sync("w", at(1), at(60))
        .await
        .expect("claim")
        .expect("a runnable sync");
    assert_eq!(job.sync.id, queued.id);
    let state = json!({ "records": records.len() });
    store
        .save_sync_page(&job, "w", page(records, &state), at(2), at(60))
        .await
        .expect("page");
    assert!(
        store
            .finish_sync(
                &job,
                "w",
                &ledgerlink_store::SyncEnd::Complete { reconcile: false },
                at(3)
            )
            .await
            .expect("finish")
    );
    job
}
