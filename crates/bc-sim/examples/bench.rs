//! Throughput/RSS benchmark client for a running `bc-sim` (plain HTTP, no connector code).
//!
//! ```sh
//! cargo build --release -p bc-sim --bin bc-sim --example bench
//! taskset -c 0 target/release/bc-sim --listen 127.0.0.1:18090 --companies 1 --customers 5000 \
//!     --invoices 1000000 --lines-per-invoice 5 --credit-memos 0 --no-limits > /tmp/bc-sim.json &
//! taskset -c 1 target/release/examples/bench --url http://127.0.0.1:18090 --pid $!
//! ```
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::Value;

/// Fetch every page of salesInvoices (with lines) and report entities/second and server RSS.
#[derive(Parser, Debug)]
struct Args {
    /// Base URL of the simulator.
    #[arg(long, default_value = "http://127.0.0.1:18090")]
    url: String,
    /// Server pid (for VmRSS / VmHWM from /proc).
    #[arg(long)]
    pid: Option<u32>,
    /// Page size requested with `Prefer: odata.maxpagesize`.
    #[arg(long, default_value_t = 20_000)]
    page: usize,
    /// Do not expand lines (default: `$expand=salesInvoiceLines`).
    #[arg(long)]
    no_lines: bool,
    /// Stop after this many pages (0 = all).
    #[arg(long, default_value_t = 0)]
    max_pages: usize,
}

fn rss(pid: Option<u32>) -> String {
    let Some(pid) = pid else { return "n/a".into() };
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Count (invoices, lines) in a page body without building a JSON tree: every entity starts
/// with `{"@odata.etag":`; invoices continue with `"number"` after the id, lines with
/// `"documentId"`.
fn count(body: &[u8]) -> (usize, usize) {
    const START: &[u8] = b"{\"@odata.etag\":";
    let (mut inv, mut lines) = (0, 0);
    let mut i = 0;
    while let Some(p) = body[i..].iter().position(|&b| b == b'{') {
        let at = i + p;
        if body[at..].starts_with(START) {
            // Skip the etag value and the id: find `"id":"` then 36 chars.
            if let Some(q) = body[at..].windows(6).position(|w| w == b"\"id\":\"") {
                let after = at + q + 6 + 36 + 1;
                if body[after..].starts_with(b",\"documentId\"") {
                    lines += 1;
                } else {
                    inv += 1;
                }
            }
        }
        i = at + 1;
    }
    (inv, lines)
}

/// Server CPU time (user + system) in seconds, from /proc/{pid}/stat.
fn cpu_secs(pid: Option<u32>) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let t0 = Instant::now();
    let info: Value = loop {
        match http.get(format!("{}/_sim/info", a.url)).send().await {
            Ok(r) if r.status().is_success() => break r.json().await?,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    println!(
        "server ready after {:.1}s; server RSS: {}",
        t0.elapsed().as_secs_f64(),
        rss(a.pid)
    );
    let env = &info["environments"][0];
    let tenant = env["tenant"].as_str().unwrap_or_default();
    let tok: Value = http
        .post(format!("{}/{tenant}/oauth2/v2.0/token", a.url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", info["clientId"].as_str().unwrap_or_default()),
            (
                "client_secret",
                info["clientSecret"].as_str().unwrap_or_default(),
            ),
            ("scope", "https://api.businesscentral.dynamics.com/.default"),
        ])
        .send()
        .await?
        .json()
        .await?;
    let tok = tok["access_token"].as_str().unwrap_or_default().to_string();
    let cid = env["companies"][0]["id"].as_str().unwrap_or_default();
    let mut next = Some(format!(
        "{}/companies({cid})/salesInvoices{}",
        env["apiBase"].as_str().unwrap_or_default(),
        if !a.no_lines {
            "?$expand=salesInvoiceLines"
        } else {
            ""
        }
    ));
    let (mut invoices, mut lines, mut bytes, mut pages) = (0usize, 0usize, 0usize, 0usize);
    let mut lat = Vec::new();
    let cpu0 = cpu_secs(a.pid);
    let start = Instant::now();
    let mut counting: Vec<tokio::task::JoinHandle<(usize, usize)>> = Vec::new();
    while let Some(u) = next.take() {
        let t = Instant::now();
        let body = http
            .get(&u)
            .bearer_auth(&tok)
            .header("Prefer", format!("odata.maxpagesize={}", a.page))
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        lat.push(t.elapsed());
        bytes += body.len();
        pages += 1;
        // The nextLink is the last property of the envelope.
        let tail = &body[body.len().saturating_sub(4096)..];
        let key = b"\"@odata.nextLink\":\"";
        next = tail.windows(key.len()).rposition(|w| w == key).map(|p| {
            let rest = &tail[p + key.len()..];
            let end = rest.iter().position(|&b| b == b'"').unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end]).replace("\\/", "/")
        });
        // Count while the next page is fetched.
        counting.push(tokio::task::spawn_blocking(move || count(&body)));
        if a.max_pages > 0 && pages >= a.max_pages {
            break;
        }
    }
    for c in counting {
        let (i, l) = c.await?;
        invoices += i;
        lines += l;
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "pages: {pages}, invoices: {invoices}, lines: {lines}, bytes: {:.1} MiB",
        bytes as f64 / 1048576.0
    );
    println!(
        "total {:.2}s → {:.0} invoices/s ({:.0} entities/s incl. lines), {:.1} MiB/s",
        secs,
        invoices as f64 / secs,
        (invoices + lines) as f64 / secs,
        bytes as f64 / 1048576.0 / secs
    );
    if !lat.is_empty() {
        println!(
            "page fetch (incl. transfer): min {:.0} ms, median {:.0} ms, max {:.0} ms",
            ms(lat[0]),
            ms(lat[lat.len() / 2]),
            ms(lat[lat.len() - 1])
        );
    }
    if let (Some(c0), Some(c1)) = (cpu0, cpu_secs(a.pid)) {
        let c = c1 - c0;
        println!(
            "server CPU {:.2}s ({:.0}% of wall) → {:.0} entities per server-CPU-second",
            c,
            100.0 * c / secs,
            (invoices + lines) as f64 / c
        );
    }
    println!("server RSS after: {}", rss(a.pid));
    Ok(())
}
