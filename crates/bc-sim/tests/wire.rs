//! The wire: gzip when asked, BC-shaped nextLinks (`…?<options>&aid=FIN&$skiptoken=…`),
//! `$count` on the companion extension.

mod common;

use std::collections::HashSet;
use std::io::Read;

use common::*;
use serde_json::Value;

#[tokio::test]
async fn answers_are_gzipped_only_when_asked() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let url = format!(
        "{}/salesInvoices?$expand=salesInvoiceLines",
        company_url(&sim)
    );
    let plain = client().get(&url).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    let zipped = client()
        .get(&url)
        .bearer_auth(&tok)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.status(), 200);
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let zipped = zipped.bytes().await.unwrap();
    assert!(
        zipped.len() * 4 < plain.len(),
        "{} vs {}",
        zipped.len(),
        plain.len()
    );
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    let a: Value = serde_json::from_slice(&plain).unwrap();
    let b: Value = serde_json::from_slice(&unzipped).unwrap();
    assert_eq!(a, b);
    // Errors too.
    let r = client()
        .get(format!("{}/nope", company_url(&sim)))
        .bearer_auth(&tok)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    sim.shutdown().await;
}

#[tokio::test]
async fn streamed_pages_are_gzipped_intact() {
    // Pages past 1 MiB are streamed in chunks; the gzip layer must see the stream end cleanly.
    let sim = start_with(|c| {
        c.data.companies = 1;
        c.data.invoices = 1000;
        c.data.lines_per_invoice = 5;
    })
    .await;
    let tok = app_token(&sim).await;
    let url = format!(
        "{}/salesInvoices?$expand=salesInvoiceLines",
        company_url(&sim)
    );
    let r = client()
        .get(&url)
        .bearer_auth(&tok)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let zipped = r.bytes().await.unwrap();
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert!(
        unzipped.len() > 1 << 20,
        "a streamed page: {}",
        unzipped.len()
    );
    let v: Value = serde_json::from_slice(&unzipped).unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 1000);
    sim.shutdown().await;
}

#[tokio::test]
async fn next_links_carry_aid_fin_and_the_rest_of_top() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let set = format!("{}/salesInvoices", company_url(&sim));
    let (_, first) = get_paged(&tok, &format!("{set}?$select=id,number&$top=5"), 2).await;
    let next = first["@odata.nextLink"].as_str().unwrap();
    let (head, token) = next.split_once("&$skiptoken=").unwrap();
    assert_eq!(
        head,
        format!("{set}?$select=id%2Cnumber&$top=3&aid=FIN"),
        "BC's shape: the options, $top lowered, then aid=FIN, then $skiptoken"
    );
    assert!(!token.is_empty() && !token.contains('&'));
    // Following the links: five invoices, no repeats, aid=FIN never doubled.
    let mut seen = HashSet::new();
    let mut url = Some(format!("{set}?$select=id,number&$top=5"));
    while let Some(u) = url {
        assert!(u.matches("aid=FIN").count() <= 1, "{u}");
        let (s, v) = get_paged(&tok, &u, 2).await;
        assert_eq!(s, 200, "{v}");
        for r in v["value"].as_array().unwrap() {
            assert!(seen.insert(r["id"].as_str().unwrap().to_string()));
        }
        url = v["@odata.nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(seen.len(), 5);
    // Without $top the link has no $top.
    let (_, page) = get_paged(&tok, &set, 10).await;
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{set}?aid=FIN&$skiptoken=")),
        "{next}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn ledger_entries_are_counted() {
    let sim = start().await;
    let tok = app_token(&sim).await;
    let set = format!(
        "{}/v2.0/{}/{}/api/ledgerlink/ar/v1.0/companies({})/customerLedgerEntries",
        sim.base_url(),
        sim.tenant_id(),
        sim.environment(),
        sim.company_ids()[0]
    );
    let all = all_pages(&tok, &set, 50).await.len();
    let r = client()
        .get(format!("{set}/$count"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(r.text().await.unwrap(), all.to_string());
    let (_, v) = get_paged(&tok, &format!("{set}?$count=true&$filter=open eq true"), 5).await;
    let open = all_pages(&tok, &format!("{set}?$filter=open eq true"), 50)
        .await
        .len();
    assert_eq!(v["@odata.count"], open);
    sim.shutdown().await;
}
