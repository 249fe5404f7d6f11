//! The change feed's response body, written by hand: each record's stored JSON goes into it as
//! the bytes the store holds, without being parsed into a tree and serialized again. The result is
//! the JSON that serializing [`crate::syncs::RecordPage`] gives (a test holds them equal).

use chrono::{DateTime, Utc};
use ledgerlink_store::FeedRecord;
use serde::Serialize;

/// A page of the feed as [`crate::syncs::RecordPage`] serializes it.
pub(crate) fn page_body(
    records: &[FeedRecord],
    model: &str,
    connection_id: &str,
    next_cursor: Option<&str>,
) -> Vec<u8> {
    let size: usize = records
        .iter()
        .map(|r| 320 + r.data.len() + r.raw.as_ref().map_or(0, String::len))
        .sum();
    let mut out = Vec::with_capacity(size + 64);
    let model = json(&model);
    let connection_id = json(&connection_id);
    out.extend_from_slice(b"{\"data\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"id\":");
        write(&mut out, &r.id);
        out.extend_from_slice(b",\"model\":");
        out.extend_from_slice(&model);
        out.extend_from_slice(b",\"connection_id\":");
        out.extend_from_slice(&connection_id);
        out.extend_from_slice(b",\"remote_id\":");
        write(&mut out, &r.remote_id);
        out.extend_from_slice(b",\"remote_modified_at\":");
        write::<Option<DateTime<Utc>>>(&mut out, &r.remote_modified_at);
        out.extend_from_slice(b",\"remote_deleted_at\":");
        write::<Option<DateTime<Utc>>>(&mut out, &r.remote_deleted_at);
        out.extend_from_slice(b",\"modified_at\":");
        write(&mut out, &r.modified_at);
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(r.data.as_bytes());
        if let Some(raw) = &r.raw {
            out.extend_from_slice(b",\"raw\":");
            out.extend_from_slice(raw.as_bytes());
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"next_cursor\":");
    write(&mut out, &next_cursor);
    out.push(b'}');
    out
}

fn json<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("strings and timestamps serialize")
}

fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("strings and timestamps serialize");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syncs::{RecordEnvelope, RecordPage};
    use serde_json::Value;

    fn record(seq: i64, raw: bool) -> FeedRecord {
        let t = DateTime::parse_from_rfc3339("2026-11-29T10:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        FeedRecord {
            id: format!("rec_{seq}"),
            remote_id: "a\"b\\c é".into(),
            seq,
            data: r#"{"number":"S-1","total":12.50,"lines":[{"b":1,"a":null}],"z":"é\n"}"#.into(),
            raw: raw.then(|| r#"{"id":"x","amount":1000.5}"#.into()),
            is_deleted: false,
            remote_deleted_at: (seq % 2 == 0).then_some(t),
            remote_modified_at: Some(t),
            modified_at: t,
        }
    }

    fn serialized(records: &[FeedRecord], next: Option<&str>) -> Vec<u8> {
        let data = records
            .iter()
            .map(|r| RecordEnvelope {
                id: r.id.clone(),
                model: "invoices".into(),
                connection_id: "conn_1".into(),
                remote_id: r.remote_id.clone(),
                remote_modified_at: r.remote_modified_at,
                remote_deleted_at: r.remote_deleted_at,
                modified_at: r.modified_at,
                data: serde_json::from_str::<Value>(&r.data).unwrap(),
                raw: r
                    .raw
                    .as_deref()
                    .map(|raw| serde_json::from_str(raw).unwrap()),
            })
            .collect();
        serde_json::to_vec(&RecordPage {
            data,
            next_cursor: next.map(str::to_owned),
        })
        .unwrap()
    }

    #[test]
    fn the_written_page_is_the_serialized_one_byte_for_byte() {
        for (records, next) in [
            (vec![], None),
            (vec![], Some("7")),
            (vec![record(1, false)], Some("1")),
            (
                vec![record(1, true), record(2, true), record(3, false)],
                Some("3"),
            ),
        ] {
            let written = page_body(&records, "invoices", "conn_1", next);
            assert_eq!(
                String::from_utf8(written).unwrap(),
                String::from_utf8(serialized(&records, next)).unwrap()
            );
        }
    }
}
