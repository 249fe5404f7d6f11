//! Starts the real server on port 0 against a fresh database: a temporary SQLite file, or — when
//! `LEDGERLINK_TEST_DATABASE_URL` names a Postgres server — a fresh database created on it for this test
//! and dropped afterwards. The same tests therefore run on both backends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ledgerlink::{Config, Running};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Connection as _;

/// Which backend the suite runs on.
pub fn postgres_server() -> Option<String> {
    std::env::var("LEDGERLINK_TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
}

/// A throwaway Postgres database, dropped (forcibly) when this value is dropped.
pub struct PgDatabase {
    server: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create(server: &str) -> PgDatabase {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "llt_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            rand_suffix()
        );
        let mut conn = sqlx::PgConnection::connect(server)
            .await
            .expect("connect to the Postgres server");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let mut url = url::Url::parse(server).expect("Postgres URL");
        url.set_path(&format!("/{name}"));
        PgDatabase {
            server: server.to_owned(),
            name,
            url: url.to_string(),
        }
    }
}

fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{nanos:x}")
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime; use a separate thread with its own.
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

/// A running ledgerlink with its own database and the bootstrap organization's key.
pub struct TestApp {
    /// The Business Central simulator this server talks to, when started with one.
    pub sim: Option<bc_sim::Sim>,
    pub running: Running,
    /// The server's clock: tests move it past a lease or a backoff instead of sleeping.
    pub clock: Arc<ledgerlink_domain::TestClock>,
    pub key: String,
    pub client: reqwest::Client,
    pub config: Config,
    _dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

/// A response: status, parsed JSON body (Null when empty or not JSON), raw text and headers.
pub struct Reply {
    pub status: StatusCode,
    pub json: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.text)
    }
}

impl TestApp {
    pub async fn start() -> TestApp {
        TestApp::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("data"),
            // An Entra app that is never called (tests that talk to one use bc-sim's).
            entra_client_id: Some("00000000-0000-0000-0000-00000000a11c".into()),
            entra_client_secret: Some(SecretString::from("not-a-real-secret")),
            entra_redirect_uri: Some(
                "https://ledgerlink.example.com/v2/integrations/oauth/callback".into(),
            ),
            health_check_interval_secs: 0,
            workers: 0,
            ..Config::default()
        };
        let pg = match postgres_server() {
            Some(server) => Some(PgDatabase::create(&server).await),
            None => None,
        };
        if let Some(pg) = &pg {
            config.database_url = Some(SecretString::from(pg.url.clone()));
        }
        tweak(&mut config);
        let clock = Arc::new(ledgerlink_domain::TestClock::new());
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let running =
            ledgerlink::start_with_clock(&config, listener, std::future::pending(), clock.clone())
                .await
                .expect("server starts");
        let key = running
            .bootstrap_key
            .clone()
            .expect("an empty database gets a first key");
        TestApp {
            sim: None,
            running,
            clock,
            key,
            client: reqwest::Client::new(),
            config,
            _dir: dir,
            _pg: pg,
        }
    }

    /// A server wired to a fresh bc-sim (in-process, port 0) as its Microsoft login and Business Central
    /// API, with the OAuth redirect URI registered on the simulator's app and loopback allowed for
    /// on-premises URLs.
    pub async fn with_sim(tweak: impl FnOnce(&mut bc_sim::SimConfig)) -> TestApp {
        TestApp::with_sim_and(tweak, |_| {}).await
    }

    /// [`TestApp::with_sim`] with a configuration tweak for the server too.
    pub async fn with_sim_and(
        tweak: impl FnOnce(&mut bc_sim::SimConfig),
        tweak_server: impl FnOnce(&mut Config),
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let redirect = format!(
            "http://{}/v2/integrations/oauth/callback",
            listener.local_addr().unwrap()
        );
        let mut sim_config = bc_sim::SimConfig::default();
        sim_config.app.redirect_uris = vec![redirect.clone()];
        sim_config.data.companies = 1;
        sim_config.data.customers = 5;
        sim_config.data.invoices = 10;
        sim_config.data.credit_memos = 2;
        sim_config.webhook_auto_delivery = false;
        tweak(&mut sim_config);
        let sim = bc_sim::Sim::start(sim_config).await.expect("bc-sim starts");
        let dir = tempfile::tempdir().unwrap();
        let pg = match postgres_server() {
            Some(server) => Some(PgDatabase::create(&server).await),
            None => None,
        };
        let mut config = Config {
            listen: listener.local_addr().unwrap(),
            data_dir: dir.path().join("data"),
            database_url: pg.as_ref().map(|p| SecretString::from(p.url.clone())),
            entra_client_id: Some(sim.client_id()),
            entra_client_secret: Some(SecretString::from(sim.client_secret())),
            entra_redirect_uri: Some(redirect),
            bc_login_base_url: sim.base_url(),
            bc_api_base_url: sim.base_url(),
            allow_http_api_url: true,
            allowed_hosts: vec!["127.0.0.1".into()],
            health_check_interval_secs: 0,
            // Tests drain the sync queue themselves; retries wait milliseconds, not minutes.
            workers: 0,
            sync_retry_base_ms: 5,
            sync_page_size: 7,
            ..Config::default()
        };
        tweak_server(&mut config);
        let clock = Arc::new(ledgerlink_domain::TestClock::new());
        let running =
            ledgerlink::start_with_clock(&config, listener, std::future::pending(), clock.clone())
                .await
                .expect("server starts");
        let key = running.bootstrap_key.clone().unwrap();
        TestApp {
            sim: Some(sim),
            running,
            clock,
            key,
            client: reqwest::Client::new(),
            config,
            _dir: dir,
            _pg: pg,
        }
    }

    /// Runs one SQL statement on the server's database, behind its back (tests use it to move a
    /// queue's clock: `UPDATE syncs SET run_after = …`).
    pub async fn run_sql(&self, sql: &str) {
        use secrecy::ExposeSecret;
        match &self.config.database_url {
            Some(url) => {
                let mut conn = sqlx::PgConnection::connect(url.expose_secret())
                    .await
                    .unwrap();
                sqlx::query(sql).execute(&mut conn).await.unwrap();
            }
            None => {
                let db = self.config.data_dir.join("ledgerlink.db");
                let mut conn =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
                        .await
                        .unwrap();
                sqlx::query(sql).execute(&mut conn).await.unwrap();
            }
        }
    }

    /// Runs one statement on the server's database behind its back, the one written for its backend.
    pub async fn run_sql_per_backend(&self, sqlite: &str, postgres: &str) {
        let sql = match self.config.database_url {
            Some(_) => postgres,
            None => sqlite,
        };
        self.run_sql(sql).await;
    }

    pub fn sim(&self) -> &bc_sim::Sim {
        self.sim.as_ref().expect("started with bc-sim")
    }

    /// Follows a connection's `authorization_url` as a browser would (every redirect, through the
    /// simulator's automatic consent to our callback) and returns the final page.
    pub async fn authorize(&self, connection: &Value) -> Reply {
        let url = connection["authorization_url"]
            .as_str()
            .unwrap_or_else(|| panic!("an authorization_url: {connection}"));
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .unwrap();
        reply(browser.get(url).send().await.expect("browser request")).await
    }

    /// Runs the queued background jobs (setup) that are due, then reads the connection.
    pub async fn settled(&self, id: &str) -> Value {
        self.running
            .engine
            .drain_jobs("test-worker")
            .await
            .expect("jobs run");
        let r = self
            .get(&format!("/v2/integrations/connections/{id}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        r.json
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.url())
    }

    /// A key for another organization (created if needed).
    pub async fn key_for_org(&self, org: &str) -> String {
        ledgerlink::create_api_key(&*self.running.store, org)
            .await
            .unwrap()
    }

    /// Sends a request with the bootstrap key.
    pub async fn call(&self, method: Method, path: &str, body: Option<&str>) -> Reply {
        self.call_as(&self.key, method, path, body).await
    }

    /// Sends a request with `key` (empty: no Authorization header).
    pub async fn call_as(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if !key.is_empty() {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        reply(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &str) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &str) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a cloud connection, consents through bc-sim and waits for setup: its id, healthy.
    pub async fn connected(&self) -> String {
        let created = self.create_connection("Acme").await;
        self.authorize(&created).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let c = self.settled(&id).await;
        assert_eq!(c["health"]["status_code"], "healthy", "{}", c["health"]);
        id
    }

    /// The bootstrap organization's id.
    pub async fn default_org(&self) -> ledgerlink_domain::OrgId {
        let org = self.running.store.org_by_name("default").await.unwrap();
        ledgerlink_domain::OrgId(org.expect("the bootstrap organization").0)
    }

    /// Connects, runs setup's first syncs, then asks for a full pass of every model (queued, not run).
    pub async fn synced_then_full_pass_queued(&self) -> String {
        let id = self.connected().await;
        self.running.engine.drain_syncs("w").await.unwrap();
        let r = self
            .post(
                &format!("/v2/integrations/connections/{id}/sync?full_pass=true"),
                "",
            )
            .await;
        assert!(r.status.is_success(), "{r:?}");
        id
    }

    /// Switches reading a model of a connection on or off (asserting it is accepted).
    pub async fn set_read(&self, connection: &str, model_id: &Value, on: bool) {
        let path = format!(
            "/v2/integrations/connections/{connection}/models/{}",
            model_id.as_str().unwrap()
        );
        let r = self
            .patch(
                &path,
                &serde_json::json!({ "is_read_enabled": on }).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }

    /// Creates a cloud Business Central connection named `name` and returns it.
    pub async fn create_connection(&self, name: &str) -> Value {
        let body = serde_json::json!({"provider_name": "ms-dynamics-bc", "name": name}).to_string();
        let r = self.post("/v2/integrations/connections", &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        r.json
    }
}

pub async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        json,
        text,
        headers,
    }
}

/// The `loc` paths of a 422 body, joined with dots (`body.name`).
pub fn locs(r: &Reply) -> Vec<String> {
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    r.json["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("422 has a detail array: {r:?}"))
        .iter()
        .map(|e| {
            assert!(
                e["msg"].is_string() && e["type"].is_string(),
                "each error has msg and type: {e}"
            );
            e["loc"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| match p {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect()
}
