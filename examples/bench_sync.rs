//! Sync benchmark (see `scripts/bench-sync`): against a running bc-sim, authorizes a connection,
//! measures the ceiling (fetching every invoice page with lines over plain HTTP: once bare, once with
//! the sync's own query — dimension set lines, `$count=true` on the first page), then runs a full sync
//! of invoices with one worker and reports records per second, BC requests and peak RSS of this
//! process (ledgerlink's side only; bc-sim runs in its own process), and where its threads' time went.
//!
//! With `--recheck N`, then pays N open invoices partially in bc-sim (their `lastModifiedDateTime`
//! does not move, as in BC), runs one incremental sync and reports what re-checking the open invoices'
//! amounts cost in BC requests.
//!
//! Usage: bench_sync --sim URL --client-id ID --client-secret S --listen ADDR [--database-url URL]
//!        [--page-size N] [--write-chunk N] [--recheck N] [--data-dir DIR] [--all-models]
//!
//! `--all-models` keeps the first syncs setup queued for the other models (customers, contacts,
//! ledger entries…): they run in the same drain, and the figures are no longer the invoices' alone
//! (`scripts/train-dict` uses it to fill a database with every model's records).

use std::time::Instant;

// mimalloc: a sync allocates and frees many small JSON strings and maps; glibc's malloc spent ~40% of
// a sync's CPU on them (issue #12).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use serde_json::Value;

mod common;
use common::arg;

/// The first number after `key` on its line of `/proc/self/FILE` (0 when absent).
fn proc_self_number(file: &str, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/self/{file}"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

/// Peak RSS (VmHWM, reported in KiB) in MiB.
fn peak_rss_mib() -> f64 {
    proc_self_number("status", "VmHWM:") / 1024.0
}

fn main() -> anyhow::Result<()> {
    // The allocator set up as `ledgerlink serve` sets it up.
    ledgerlink::allocator::apply_settings();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let sim = arg("--sim").expect("--sim URL");
    let client_id = arg("--client-id").expect("--client-id");
    let client_secret = arg("--client-secret").expect("--client-secret");
    let listen = arg("--listen").unwrap_or_else(|| "127.0.0.1:18111".into());
    let page_size: u32 = arg("--page-size")
        .map(|p| p.parse().unwrap())
        .unwrap_or(1000);
    // `--data-dir DIR` keeps the database for inspection afterwards; by default a temporary one.
    let dir = tempfile::tempdir()?;
    let data_dir = arg("--data-dir").map_or_else(|| dir.path().to_owned(), Into::into);
    let config = ledgerlink::Config {
        listen: listen.parse()?,
        data_dir,
        database_url: arg("--database-url").map(secrecy::SecretString::from),
        entra_client_id: Some(client_id),
        entra_client_secret: Some(secrecy::SecretString::from(client_secret)),
        entra_redirect_uri: Some(format!("http://{listen}/v2/integrations/oauth/callback")),
        bc_login_base_url: sim.clone(),
        bc_api_base_url: sim.clone(),
        health_check_interval_secs: 0,
        workers: 0,
        sync_page_size: page_size,
        sync_write_chunk: arg("--write-chunk")
            .map_or(ledgerlink::Config::default().sync_write_chunk, |n| {
                n.parse().unwrap()
            }),
        sync_write_chunk_bytes: arg("--write-chunk-bytes")
            .map_or(ledgerlink::Config::default().sync_write_chunk_bytes, |n| {
                n.parse().unwrap()
            }),
        sync_write_interval_ms: arg("--write-interval-ms")
            .map_or(ledgerlink::Config::default().sync_write_interval_ms, |n| {
                n.parse().unwrap()
            }),
        ..ledgerlink::Config::default()
    };
    let running = ledgerlink::start(&config, std::future::pending()).await?;
    let key = running.bootstrap_key.clone().expect("fresh database");
    let http = reqwest::Client::new();
    let base = running.url();
    let created: Value = http
        .post(format!("{base}/v2/integrations/connections"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"provider_name": "ms-dynamics-bc", "name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let id = created["id"].as_str().expect("created").to_owned();
    let page = http
        .get(created["authorization_url"].as_str().expect("url"))
        .send()
        .await?;
    anyhow::ensure!(
        page.status().is_success(),
        "authorization failed: {}",
        page.status()
    );
    running.engine.drain_jobs("bench").await?;
    let conn: Value = http
        .get(format!("{base}/v2/integrations/connections/{id}"))
        .bearer_auth(&key)
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(
        conn["health"]["status_code"] == "healthy",
        "not healthy: {}",
        conn["health"]
    );

    // Ceiling: the same pages, fetched and discarded.
    let org = ledgerlink_domain::OrgId(running.store.org_by_name("default").await?.unwrap().0);
    let stored = running.store.get_connection(&org, &id).await?.unwrap();
    // Setup queued the first sync of every model: all but the invoices' are cancelled, so that the
    // figures below are the invoices' alone (customers, contacts and 150,000 ledger entries ran in
    // the same drain before, and were counted as the invoices' time and CPU).
    let invoices_model = stored.models.iter().find(|m| m.name == "invoices").unwrap();
    let queued = running
        .store
        .list_syncs(
            &org,
            &id,
            None,
            Some(ledgerlink_domain::SyncStatus::Queued),
            100,
        )
        .await?;
    let all_models = std::env::args().any(|a| a == "--all-models");
    for sync in queued
        .iter()
        .filter(|s| !all_models && s.model_id != invoices_model.id)
    {
        running
            .store
            .cancel_sync(&org, &sync.id, ledgerlink_domain::now())
            .await?;
    }
    let session = running.engine.session(&stored).await?;
    let token = match &session.credentials {
        ledgerlink_connectors::Credentials::Bearer(t) => {
            secrecy::ExposeSecret::expose_secret(t).to_owned()
        }
        _ => unreachable!("cloud connection"),
    };
    let company = conn["company"].as_str().unwrap();
    let tenant = conn["tenant_id"].as_str().unwrap();
    let env = conn["environment"].as_str().unwrap();
    let set = format!("{sim}/v2.0/{tenant}/{env}/api/v2.0/companies({company})/salesInvoices");
    let first = format!("{set}?$expand=salesInvoiceLines");
    let started = Instant::now();
    let (invoices, requests) = spawned(ceiling_fetch(
        http.clone(),
        token.clone(),
        first.clone(),
        page_size,
    ))
    .await?;
    let ceiling = started.elapsed().as_secs_f64();
    // The same requests as the sync's (the connector's query for invoices, `models.rs`): lines with
    // their dimension set lines, the invoice's own, and `$count=true` on the first page (the next
    // links repeat it; the connector, and `ceiling_fetch`, follow them without it, so that BC counts
    // the set once, not for every page). The bare ceiling above asks for less.
    let expand = if conn["include_dimension_lines"].as_bool().unwrap_or(true) {
        "salesInvoiceLines($expand=dimensionSetLines),dimensionSetLines"
    } else {
        "salesInvoiceLines"
    };
    let same = format!("{set}?$expand={expand}&$count=true");
    let started = Instant::now();
    let cpu_ceiling_before = cpu_secs();
    let (same_invoices, _) =
        spawned(ceiling_fetch(http.clone(), token.clone(), same, page_size)).await?;
    let ceiling_same = started.elapsed().as_secs_f64();
    // The fetch alone's CPU for the sync's own requests: this machine's speed drifts by a third
    // within minutes, and the sync's CPU over this one (measured minutes apart, in one process on one
    // core) drifts much less than either.
    let cpu_ceiling = (cpu_secs() - cpu_ceiling_before) * 1000.0 / same_invoices.max(1) as f64;
    let rss_before = peak_rss_mib();
    // The high-water mark from here on is the sync's (Linux: writing 5 to clear_refs resets VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let cpu_before = cpu_secs();
    let written_before = written_mib();
    let threads_before = thread_times();

    // The sync: invoices only, one worker.
    let model_id = stored
        .models
        .iter()
        .find(|m| m.name == "invoices")
        .unwrap()
        .id
        .clone();
    let want = ledgerlink_store::NewSync {
        model_id,
        model_name: "invoices".into(),
        status: ledgerlink_domain::SyncStatus::Queued,
        batch_id: None,
        entity_id: Some(company.to_owned()),
        is_initial_sync: true,
        is_one_off: true,
        timerange_start: None,
        timerange_end: Some(ledgerlink_domain::now()),
    };
    let syncs = running
        .store
        .enqueue_syncs(&org, &id, &[want], ledgerlink_domain::now())
        .await?;
    let started = Instant::now();
    // Progress, sampled every second: the rate per tenth of the sync shows whether it slows down as
    // the table grows.
    let samples = std::sync::Arc::new(std::sync::Mutex::new(vec![(0.0f64, 0u64)]));
    let sampler = {
        let (store, org, sync) = (running.store.clone(), org.clone(), syncs[0].id.clone());
        let samples = samples.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                if let Ok(Some(job)) = store.get_sync(&org, &sync).await {
                    let n = job.sync.pagination_state["records"].as_u64().unwrap_or(0);
                    let at = started.elapsed().as_secs_f64();
                    samples.lock().unwrap().push((at, n));
                }
            }
        })
    };
    let engine = running.engine.clone();
    spawned(async move { Ok(engine.drain_syncs("bench").await?) }).await?;
    sampler.abort();
    let took = started.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu_before;
    let written = written_mib() - written_before;
    let rss_sync = peak_rss_mib();
    let job = running.store.get_sync(&org, &syncs[0].id).await?.unwrap();
    let synced = job.sync.pagination_state["records"].as_u64().unwrap_or(0);
    println!(
        "backend={:?} invoices={invoices} page_size={page_size} status={:?} synced={synced} \
         sync_secs={took:.1} sync_invoices_per_sec={:.0} ceiling_secs={ceiling:.1} \
         ceiling_invoices_per_sec={:.0} ceiling_same_requests_secs={ceiling_same:.1} \
         ceiling_same_requests_invoices_per_sec={:.0} sync_pct_of_ceiling={:.0} \
         sync_pct_of_same_requests_ceiling={:.0} bc_requests_sync={} bc_requests_ceiling={requests} \
         cpu_secs_sync={cpu:.2} cpu_secs_per_1000={:.4} \
         ceiling_same_requests_cpu_secs_per_1000={cpu_ceiling:.4} cpu_over_ceiling_cpu={:.2} \
         peak_rss_mib_before_sync={rss_before:.0} peak_rss_mib_during_sync={rss_sync:.0} \
         written_mib_sync={written:.0}",
        running.store.backend(),
        job.sync.status,
        synced as f64 / took,
        invoices as f64 / ceiling,
        same_invoices as f64 / ceiling_same,
        100.0 * (synced as f64 / took) / (invoices as f64 / ceiling),
        100.0 * (synced as f64 / took) / (same_invoices as f64 / ceiling_same),
        job.sync.pagination_state["pages"],
        cpu * 1000.0 / synced.max(1) as f64,
        cpu * 1000.0 / synced.max(1) as f64 / cpu_ceiling,
    );
    // Invoices per second within each tenth of the records (from the one-second samples).
    let mut samples = samples.lock().unwrap().clone();
    samples.push((took, synced));
    let rates: Vec<String> = (1..=10)
        .filter_map(|tenth| {
            let (from, to) = (synced * (tenth - 1) / 10, synced * tenth / 10);
            let first = samples.iter().rev().find(|(_, n)| *n <= from)?;
            let last = samples.iter().find(|(_, n)| *n >= to)?;
            let secs = last.0 - first.0;
            (secs > 0.0).then(|| format!("{:.0}", (last.1 - first.1) as f64 / secs))
        })
        .collect();
    println!("invoices_per_sec_by_tenth={}", rates.join(","));
    println!(
        "threads_during_sync={}",
        thread_report(&threads_before, &thread_times())
    );
    if std::env::var_os("BENCH_SAMPLES").is_some() {
        println!("samples={samples:?}");
    }
    if let Some(n) = arg("--recheck").map(|n| n.parse::<usize>().unwrap()) {
        let url = format!("{first}&$select=id,status");
        let open = open_invoices(&http, &token, &url).await?;
        recheck(&running, &org, &id, &sim, company, &open, n).await?;
    }
    running.shutdown().await?;
    Ok(())
}

/// MiB this process has handed to `write` and its kin (`wchar` of `/proc/self/io`): with SQLite, its
/// WAL and checkpoint writes (and a little socket traffic).
fn written_mib() -> f64 {
    proc_self_number("io", "wchar:") / (1024.0 * 1024.0)
}

/// What one thread of this process spent, in seconds (`/proc/…/schedstat`): on a CPU, and runnable
/// but waiting for one (on one core, the time its other threads held it). The rest of its life it
/// slept: waiting for the network, the disk, or another thread.
struct ThreadTimes {
    name: String,
    on_cpu: f64,
    runnable: f64,
}

/// [`ThreadTimes`] of every live thread of this process, by thread id.
fn thread_times() -> std::collections::HashMap<u32, ThreadTimes> {
    let mut out = std::collections::HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let read = |file: &str| std::fs::read_to_string(task.path().join(file)).unwrap_or_default();
        let sched: Vec<f64> = read("schedstat")
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        out.insert(
            tid,
            ThreadTimes {
                name: read("comm").trim().to_owned(),
                on_cpu: sched.first().copied().unwrap_or(0.0) / 1e9,
                runnable: sched.get(1).copied().unwrap_or(0.0) / 1e9,
            },
        );
    }
    out
}

/// The threads' times between two [`thread_times`] readings, summed by thread name (numbers
/// dropped: the pool's workers are one entry), as `name:on_cpu/runnable` seconds, busiest
/// first; threads under 0.1 s in all are left out. Threads that ended meanwhile are not counted.
fn thread_report(
    before: &std::collections::HashMap<u32, ThreadTimes>,
    after: &std::collections::HashMap<u32, ThreadTimes>,
) -> String {
    let mut by_name: std::collections::BTreeMap<String, [f64; 2]> = Default::default();
    for (tid, t) in after {
        let base = before.get(tid).map_or([0.0; 2], |b| [b.on_cpu, b.runnable]);
        let name: String = t
            .name
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
            .into();
        let sum = by_name.entry(name).or_default();
        sum[0] += t.on_cpu - base[0];
        sum[1] += t.runnable - base[1];
    }
    let mut rows: Vec<_> = by_name
        .into_iter()
        .filter(|(_, s)| s.iter().sum::<f64>() >= 0.1)
        .collect();
    rows.sort_by(|a, b| b.1[0].total_cmp(&a.1[0]));
    rows.iter()
        .map(|(n, s)| format!("{n}:{:.1}/{:.1}", s[0], s[1]))
        .collect::<Vec<_>>()
        .join(",")
}

/// Process CPU time (user + system, all threads) in seconds: what `getrusage(RUSAGE_SELF)` reports,
/// read from `/proc/self/stat` (clock ticks of 10 ms).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// The ceiling: every page fetched over plain HTTP and thrown away as it arrives (only the next link
/// is read, from the end of the body, and followed without `$count=true`, as the connector does).
/// Invoices are counted by their `salesInvoiceLines` key.
/// `work` run as a task on the runtime's workers, as `serve` runs its syncs (beside the HTTP
/// connections' tasks), not on the thread that blocks on `main`'s future: there every chunk of a
/// response would wake another thread.
async fn spawned<T: Send + 'static>(
    work: impl std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::spawn(work).await?
}

async fn ceiling_fetch(
    http: reqwest::Client,
    token: String,
    first: String,
    page_size: u32,
) -> anyhow::Result<(u64, u64)> {
    const KEY: &[u8] = b"\"salesInvoiceLines\"";
    // Counting must cost next to nothing beside the fetch, or the ceiling's CPU overstates what
    // fetching costs (a byte-by-byte `windows` scan was ~60% of it).
    let finder = memchr::memmem::Finder::new(KEY);
    let (mut invoices, mut requests) = (0u64, 0u64);
    let mut next = Some(first.to_owned());
    while let Some(url) = next.take() {
        let mut response = http
            .get(&url)
            .bearer_auth(&token)
            .header("Prefer", format!("odata.maxpagesize={page_size}"))
            .send()
            .await?
            .error_for_status()?;
        requests += 1;
        let mut tail: Vec<u8> = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            // Count the keys that end in the new bytes: the search starts far enough back for a key
            // that straddles two chunks, and never finds one that ended before.
            let from = tail.len().saturating_sub(KEY.len() - 1);
            tail.extend_from_slice(&chunk);
            invoices += finder.find_iter(&tail[from..]).count() as u64;
            if tail.len() > 4096 {
                tail.drain(..tail.len() - 4096);
            }
        }
        let text = String::from_utf8_lossy(&tail);
        if let Some(at) = text.rfind("\"@odata.nextLink\"") {
            let after = &text[at + "\"@odata.nextLink\"".len()..];
            let quoted = after.trim_start().trim_start_matches(':').trim_start();
            let mut stream = serde_json::Deserializer::from_str(quoted).into_iter::<String>();
            // As the connector follows them: without the first request's `$count=true`.
            next = stream
                .next()
                .transpose()?
                .map(|link| link.replace("&$count=true", "").replace("$count=true&", ""));
        }
    }
    Ok((invoices, requests))
}

/// The ids of the open invoices (for `--recheck`).
async fn open_invoices(
    http: &reqwest::Client,
    token: &str,
    first: &str,
) -> anyhow::Result<Vec<String>> {
    let mut open = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(url) = next.take() {
        let body: Value = http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        for inv in body["value"].as_array().into_iter().flatten() {
            if inv["status"] == "Open" {
                open.push(inv["id"].as_str().unwrap_or_default().to_owned());
            }
        }
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
    }
    Ok(open)
}

/// Pays `n` open invoices partially, then runs one incremental sync of invoices and reports its BC
/// requests (the window's, the amounts re-check's and the re-reads').
async fn recheck(
    running: &ledgerlink::Running,
    org: &ledgerlink_domain::OrgId,
    id: &str,
    sim: &str,
    company: &str,
    open: &[String],
    n: usize,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for invoice in open.iter().take(n) {
        http.post(format!(
            "{sim}/_sim/companies/{company}/salesInvoices/{invoice}/payments"
        ))
        .json(&serde_json::json!({"amount": 1.0}))
        .send()
        .await?
        .error_for_status()?;
    }
    http.delete(format!("{sim}/_sim/requests")).send().await?;
    let stored = running.store.get_connection(org, id).await?.unwrap();
    let model = stored.models.iter().find(|m| m.name == "invoices").unwrap();
    let since = running.store.synced_until(&model.id).await?;
    let want = ledgerlink_store::NewSync::queued(
        &model.id,
        "invoices",
        Some(company.to_owned()),
        since,
        ledgerlink_domain::now(),
        chrono::Duration::minutes(5),
        None,
        true,
    );
    let syncs = running
        .store
        .enqueue_syncs(org, id, &[want], ledgerlink_domain::now())
        .await?;
    let started = Instant::now();
    let engine = running.engine.clone();
    spawned(async move { Ok(engine.drain_syncs("bench").await?) }).await?;
    let took = started.elapsed().as_secs_f64();
    let job = running.store.get_sync(org, &syncs[0].id).await?.unwrap();
    let counts: Value = http
        .get(format!("{sim}/_sim/requests"))
        .send()
        .await?
        .json()
        .await?;
    let bc_requests: u64 = counts
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    println!(
        "recheck: open_invoices={} paid_partially={} status={:?} rechecked={} bc_requests={bc_requests} \
         secs={took:.2} requests_by_kind={counts}",
        open.len(),
        n.min(open.len()),
        job.sync.status,
        job.sync.pagination_state["rechecked"],
    );
    Ok(())
}
