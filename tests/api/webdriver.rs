//! A small W3C WebDriver client over the reqwest already in the tree, driving Debian's headless
//! Chromium through its `chromedriver`.
//!
//! Why not `fantoccini`: it brings the `webdriver` crate (and with it `time`, `cookie`, ICU
//! segmentation) and its own hyper client stack for what is a dozen JSON calls to a local HTTP
//! server; those calls are all the tests need, and reqwest already speaks them.
//!
//! Each [`Browser`] starts its own chromedriver on a free port and a Chromium with a fresh profile.
//! When either cannot start the test fails, saying what to install: browser tests never skip.
//! Waits are explicit (an element or a text, polled until a generous deadline), never a sleep
//! standing in for one.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// How long a wait for something on a page lasts before the test fails.
pub const WAIT: Duration = Duration::from_secs(90);
/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn chromium() -> String {
    std::env::var("LEDGERLINK_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

fn chromedriver() -> String {
    std::env::var("LEDGERLINK_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where screenshots go: `target/screenshots/<test>/` (of `CARGO_TARGET_DIR` when set).
fn screenshot_dir(test: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("screenshots").join(test)
}

/// A headless Chromium session.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    profile: tempfile::TempDir,
    shots: PathBuf,
    step: u32,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that failed half-way still closes its Chromium (killing the driver alone would
        // leave the browser running): the session is ended with a plain blocking request.
        if !self.session.is_empty() {
            let _ = end_session_blocking(&self.session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE` on the session URL (`http://127.0.0.1:<port>/session/<id>`) without an async runtime.
fn end_session_blocking(session_url: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let rest = session_url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        stream,
        "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(())
}

/// An element on the current page.
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless Chromium (window `width`×`height`); screenshots go to
    /// `target/screenshots/<test>/`.
    pub async fn start(test: &str, width: u32, height: u32) -> Browser {
        let driver_path = chromedriver();
        let port = free_port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {driver_path} ({e}): the browser tests need Chromium and its \
                     driver (apt-get install chromium chromium-driver)"
                )
            });
        let profile = tempfile::tempdir().unwrap();
        let shots = screenshot_dir(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        let mut browser = Browser {
            http: reqwest::Client::new(),
            session: String::new(),
            driver,
            profile,
            shots,
            step: 0,
        };
        let base = format!("http://127.0.0.1:{port}");
        browser.wait_ready(&base).await;
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--disable-crash-reporter",
            &format!("--user-data-dir={}", browser.profile.path().display()),
            &format!("--window-size={width},{height}"),
        ];
        let mut options = json!({"binary": chromium(), "args": args});
        if width < 500 {
            // Chromium's windows are never narrower than 500 pixels: emulate the phone's screen.
            options["mobileEmulation"] = json!({"deviceMetrics": {
                "width": width, "height": height, "pixelRatio": 2.0, "touch": true}});
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }}});
        let r = browser
            .http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .and_then(|r| r.error_for_status());
        let body: Value = match r {
            Ok(r) => r.json().await.unwrap(),
            Err(e) => panic!(
                "Chromium ({}) did not start through {driver_path}: {e}; install chromium and \
                 chromium-driver",
                chromium()
            ),
        };
        let id = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("Chromium did not start: {body}"));
        browser.session = format!("{base}/session/{id}");
        browser
    }

    async fn wait_ready(&self, base: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(format!("{base}/status")).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not get ready on {base}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("chromedriver answers");
        r.json::<Value>().await.expect("chromedriver answers JSON")
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        let v = self
            .call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
        assert!(v["value"].is_null(), "navigate to {url}: {v}");
    }

    /// The current address.
    pub async fn url(&self) -> String {
        let v = self.call(reqwest::Method::GET, "/url", None).await;
        v["value"].as_str().unwrap_or_default().to_owned()
    }

    /// The page's HTML as the browser has it.
    pub async fn source(&self) -> String {
        let v = self.call(reqwest::Method::GET, "/source", None).await;
        v["value"].as_str().unwrap_or_default().to_owned()
    }

    async fn try_find(&self, css: &str) -> Option<Element> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v["value"][ELEMENT]
            .as_str()
            .map(|id| Element(id.to_owned()))
    }

    async fn try_text(&self, el: &Element) -> Option<String> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{}/text", el.0),
                None,
            )
            .await;
        v["value"].as_str().map(str::to_owned)
    }

    /// Waits until an element matching `css` shows `text` (the page may reload meanwhile).
    pub async fn wait_text(&mut self, css: &str, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(el) = self.try_find(css).await
                && let Some(t) = self.try_text(&el).await
                && t.contains(text)
            {
                return t;
            }
            if Instant::now() > deadline {
                self.screenshot("timed-out").await;
                panic!(
                    "no {css} showing {text:?} within {WAIT:?} at {}:\n{}",
                    self.url().await,
                    self.source().await
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Waits for an element matching `css`.
    pub async fn wait_for(&mut self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(el) = self.try_find(css).await {
                return el;
            }
            if Instant::now() > deadline {
                self.screenshot("timed-out").await;
                panic!(
                    "no {css} within {WAIT:?} at {}:\n{}",
                    self.url().await,
                    self.source().await
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Clicks the element matching `css` (waiting for it).
    pub async fn click(&mut self, css: &str) {
        let el = self.wait_for(css).await;
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("/element/{}/click", el.0),
                Some(json!({})),
            )
            .await;
        assert!(v["value"].is_null(), "click {css}: {v}");
    }

    /// Replaces the value of the field matching `css` with `text` (typed as keys; `\u{E007}` is
    /// Enter).
    pub async fn type_into(&mut self, css: &str, text: &str) {
        let el = self.wait_for(css).await;
        let clear = self
            .call(
                reqwest::Method::POST,
                &format!("/element/{}/clear", el.0),
                Some(json!({})),
            )
            .await;
        assert!(clear["value"].is_null(), "clear {css}: {clear}");
        let v = self
            .call(
                reqwest::Method::POST,
                &format!("/element/{}/value", el.0),
                Some(json!({"text": text})),
            )
            .await;
        assert!(v["value"].is_null(), "type into {css}: {v}");
    }

    /// An attribute or property of the element matching `css`.
    pub async fn property(&mut self, css: &str, name: &str) -> Value {
        let el = self.wait_for(css).await;
        self.call(
            reqwest::Method::GET,
            &format!("/element/{}/property/{name}", el.0),
            None,
        )
        .await["value"]
            .clone()
    }

    /// Runs `script` in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await["value"]
            .clone()
    }

    /// Saves a PNG of the page as `NN-<name>.png`.
    pub async fn screenshot(&mut self, name: &str) {
        self.step += 1;
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        if let Some(b64) = v["value"].as_str()
            && let Ok(png) = base64::engine::general_purpose::STANDARD.decode(b64)
        {
            let path = self.shots.join(format!("{:02}-{name}.png", self.step));
            std::fs::write(&path, png).unwrap();
        }
    }

    /// Ends the session (the driver is stopped on drop).
    pub async fn quit(mut self) {
        let _ = self.call(reqwest::Method::DELETE, "", None).await;
        self.session.clear();
    }
}
