//! Splits an OData collection body (`{"@odata.count":…, "value":[{…},{…}], "@odata.nextLink":"…"}`)
//! into its records as the bytes arrive, without ever holding the whole body: each record comes out as
//! the exact bytes BC sent for it, the small top-level members (`@odata.count`, `@odata.nextLink`) are
//! kept. Only one record (plus one network chunk) is buffered at a time.
//!
//! A record's structure is checked here (UTF-8, strings closed, brackets matched); its values are
//! parsed once, by the mapping, which skips a record it cannot read on its own (the page goes on).
//! Checking each record fully here as well was the sync's largest JSON cost (issue #12).

use serde_json::Value;

use crate::error::ConnectorError;

/// Where the splitter stands in the top-level object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before the opening `{`.
    Start,
    /// Before a member's key (or the closing `}`).
    Key { first: bool },
    /// After a key, before `:` and the member's value.
    Value,
    /// Inside the `value` array, before an element (or the closing `]`).
    Element { first: bool },
    /// After the closing `}`.
    Done,
}

/// An incremental splitter: [`PageSplitter::feed`] bytes, take the records it completed.
pub(crate) struct PageSplitter {
    buf: Vec<u8>,
    pos: usize,
    at: At,
    key: String,
    /// The top-level members other than `value` (small: counts and links).
    members: Vec<(String, Value)>,
    saw_value: bool,
    /// Largest single record (or member) buffered.
    max_record: usize,
    /// How far the value being read has been scanned, so that the next bytes resume the scan
    /// instead of starting it again (a large record arriving in many chunks stays linear).
    scan: Scan,
}

/// The state of a value's structural scan, relative to the value's first byte.
#[derive(Debug, Default, Clone, Copy)]
struct Scan {
    scanned: usize,
    depth: usize,
    /// Bit `i`: the bracket open at depth `i` is an object's (`{`), for the first
    /// [`CHECKED_DEPTH`] levels (deeper, only the count is kept; the mapping refuses such a record).
    objects: u128,
    in_string: bool,
    escaped: bool,
}

/// Nesting levels whose brackets are matched by kind (serde_json reads no deeper).
const CHECKED_DEPTH: usize = 128;

fn invalid(why: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::invalid(format!("response is not the expected JSON: {why}"))
}

impl PageSplitter {
    pub(crate) fn new(max_record: usize) -> Self {
        Self {
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
            at: At::Start,
            key: String::new(),
            members: Vec::new(),
            saw_value: false,
            max_record,
            scan: Scan::default(),
        }
    }

    /// Adds `bytes` and appends the records they complete to `out`.
    pub(crate) fn feed(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<Box<str>>,
    ) -> Result<(), ConnectorError> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
        while self.step(out, false)? {}
        if self.buf.len() - self.pos > self.max_record {
            return Err(self.too_large());
        }
        Ok(())
    }

    fn too_large(&self) -> ConnectorError {
        ConnectorError::invalid(format!(
            "a record of the response is larger than {} bytes",
            self.max_record
        ))
    }

    /// The body ended: the top-level members other than `value`. A body cut short is transient.
    pub(crate) fn finish(
        mut self,
        out: &mut Vec<Box<str>>,
    ) -> Result<Vec<(String, Value)>, ConnectorError> {
        while self.step(out, true)? {}
        if self.at != At::Done {
            if self.buf[self.pos..].iter().all(u8::is_ascii_whitespace) && self.at == At::Start {
                return Err(invalid("empty body"));
            }
            return Err(ConnectorError::transient(
                "response body ended early (an OData page cut off mid-way)",
            ));
        }
        if !self.buf[self.pos..].iter().all(u8::is_ascii_whitespace) {
            return Err(invalid("trailing characters after the OData page"));
        }
        if !self.saw_value {
            return Err(ConnectorError::invalid(
                "OData collection without a `value` array",
            ));
        }
        Ok(self.members)
    }

    fn skip_ws(&mut self) -> Option<u8> {
        while let Some(&b) = self.buf.get(self.pos) {
            if !b.is_ascii_whitespace() {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    /// One step; `false` when more bytes are needed (or the object ended).
    fn step(&mut self, out: &mut Vec<Box<str>>, eof: bool) -> Result<bool, ConnectorError> {
        let Some(b) = self.skip_ws() else {
            return Ok(false);
        };
        match self.at {
            At::Done => Ok(false),
            At::Start if b == b'{' => {
                self.pos += 1;
                self.at = At::Key { first: true };
                Ok(true)
            }
            At::Start => Err(invalid("an OData page must be a JSON object")),
            At::Key { first } => self.key(b, first, eof),
            At::Value => self.member_value(b, eof),
            At::Element { first } => self.element(b, first, out, eof),
        }
    }

    fn key(&mut self, b: u8, first: bool, eof: bool) -> Result<bool, ConnectorError> {
        if b == b'}' {
            self.pos += 1;
            self.at = At::Done;
            return Ok(false);
        }
        let start = if first {
            self.pos
        } else if b == b',' {
            self.pos + 1
        } else {
            return Err(invalid("expected `,` or `}` between members"));
        };
        let Some(end) = value_end(&self.buf, skip(&self.buf, start), eof, &mut self.scan)? else {
            return Ok(false);
        };
        let Some(colon) = self.buf[end..]
            .iter()
            .position(|b| !b.is_ascii_whitespace())
        else {
            return Ok(false);
        };
        if self.buf[end + colon] != b':' {
            return Err(invalid("expected `:` after a key"));
        }
        self.key = serde_json::from_slice(&self.buf[skip(&self.buf, start)..end])
            .map_err(|e| invalid(format!("a key: {e}")))?;
        self.pos = end + colon + 1;
        self.at = At::Value;
        Ok(true)
    }

    fn member_value(&mut self, b: u8, eof: bool) -> Result<bool, ConnectorError> {
        if self.key == "value" {
            if b != b'[' {
                return Err(ConnectorError::invalid(
                    "OData collection without a `value` array",
                ));
            }
            self.saw_value = true;
            self.pos += 1;
            self.at = At::Element { first: true };
            return Ok(true);
        }
        let Some(end) = value_end(&self.buf, self.pos, eof, &mut self.scan)? else {
            return Ok(false);
        };
        let value: Value = serde_json::from_slice(&self.buf[self.pos..end])
            .map_err(|e| invalid(format!("`{}`: {e}", self.key)))?;
        self.members.push((std::mem::take(&mut self.key), value));
        self.pos = end;
        self.at = At::Key { first: false };
        Ok(true)
    }

    fn element(
        &mut self,
        b: u8,
        first: bool,
        out: &mut Vec<Box<str>>,
        eof: bool,
    ) -> Result<bool, ConnectorError> {
        if b == b']' {
            self.pos += 1;
            self.at = At::Key { first: false };
            return Ok(true);
        }
        let start = if first {
            self.pos
        } else if b == b',' {
            let s = skip(&self.buf, self.pos + 1);
            if s >= self.buf.len() {
                return Ok(false);
            }
            s
        } else {
            return Err(invalid("expected `,` or `]` between records"));
        };
        let Some(end) = value_end(&self.buf, start, eof, &mut self.scan)? else {
            return Ok(false);
        };
        if end - start > self.max_record {
            return Err(self.too_large());
        }
        let record = std::str::from_utf8(&self.buf[start..end])
            .map_err(|e| invalid(format!("a record is not UTF-8: {e}")))?;
        out.push(record.into());
        self.pos = end;
        self.at = At::Element { first: false };
        Ok(true)
    }
}

fn skip(buf: &[u8], mut i: usize) -> usize {
    while buf.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The end (exclusive) of the JSON value starting at `start`, `None` when `buf` stops before it does
/// (`scan` then keeps how far it got, and the next call resumes there). Only the structure is checked
/// here (strings, nesting); the value is parsed by the caller.
fn value_end(
    buf: &[u8],
    start: usize,
    eof: bool,
    scan: &mut Scan,
) -> Result<Option<usize>, ConnectorError> {
    let Some(&first) = buf.get(start) else {
        return Ok(None);
    };
    if !matches!(first, b'"' | b'{' | b'[') {
        // A number or a literal ends at the first delimiter.
        let len = buf[start..]
            .iter()
            .position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace());
        return match len {
            Some(len) => Ok(Some(start + len)),
            None if eof => Ok(Some(buf.len())),
            None => Ok(None),
        };
    }
    let mut st = *scan;
    let mut i = start + st.scanned;
    while i < buf.len() {
        if st.in_string {
            if st.escaped {
                st.escaped = false;
                i += 1;
                continue;
            }
            // Most of a record's bytes are inside strings (keys and text): jump to the next quote
            // or backslash instead of looking at every byte.
            let Some(k) = memchr::memchr2(b'"', b'\\', &buf[i..]) else {
                break;
            };
            i += k + 1;
            if buf[i - 1] == b'\\' {
                st.escaped = true;
            } else {
                st.in_string = false;
                if st.depth == 0 {
                    *scan = Scan::default();
                    return Ok(Some(i));
                }
            }
            continue;
        }
        let b = buf[i];
        i += 1;
        match b {
            b'"' => st.in_string = true,
            b'{' | b'[' => {
                if st.depth < CHECKED_DEPTH {
                    let bit = 1u128 << st.depth;
                    if b == b'{' {
                        st.objects |= bit;
                    } else {
                        st.objects &= !bit;
                    }
                }
                st.depth += 1;
            }
            b'}' | b']' => {
                st.depth = st
                    .depth
                    .checked_sub(1)
                    .ok_or_else(|| invalid("unbalanced brackets"))?;
                if st.depth < CHECKED_DEPTH && (st.objects >> st.depth & 1 == 1) != (b == b'}') {
                    return Err(invalid("mismatched brackets"));
                }
                if st.depth == 0 {
                    *scan = Scan::default();
                    return Ok(Some(i));
                }
            }
            _ => {}
        }
    }
    st.scanned = buf.len() - start;
    *scan = st;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    type Split = (Vec<String>, Vec<(String, Value)>);

    fn split(body: &[u8], chunk: usize) -> Result<Split, ConnectorError> {
        let mut s = PageSplitter::new(1 << 20);
        let mut out = Vec::new();
        for c in body.chunks(chunk.max(1)) {
            s.feed(c, &mut out)?;
        }
        let members = s.finish(&mut out)?;
        Ok((out.iter().map(|r| r.to_string()).collect(), members))
    }

    #[test]
    fn records_come_out_as_sent_whatever_the_chunking() {
        let body = br#" { "@odata.context":"x", "@odata.count" : 3, "value" : [ {"id":"a","s":"q\"}]{[","n":1.50},
            {"id":"b","lines":[{"x":[1,2]},{}]} ,{"id":"c"} ], "@odata.nextLink":"http://h/p?$skiptoken=1" } "#;
        for chunk in [1, 2, 3, 7, 64, body.len()] {
            let (records, members) = split(body, chunk).unwrap();
            assert_eq!(
                records,
                [
                    r#"{"id":"a","s":"q\"}]{[","n":1.50}"#,
                    r#"{"id":"b","lines":[{"x":[1,2]},{}]}"#,
                    r#"{"id":"c"}"#
                ],
                "chunk {chunk}"
            );
            let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["@odata.context", "@odata.count", "@odata.nextLink"]);
            assert_eq!(members[1].1, serde_json::json!(3));
        }
        let (records, _) = split(br#"{"value":[]}"#, 1).unwrap();
        assert!(records.is_empty());
    }

    #[test]
    fn escapes_split_across_chunks_resume_where_the_scan_stopped() {
        let body = br#"{"value":[{"id":"d","s":"x\\","t":"\"}{","u":"\u007d"},{"id":"e","big":[[[["]]]"]]]]}]}"#;
        for chunk in 1..=9 {
            let (records, _) = split(body, chunk).unwrap();
            assert_eq!(
                records,
                [
                    r#"{"id":"d","s":"x\\","t":"\"}{","u":"\u007d"}"#,
                    r#"{"id":"e","big":[[[["]]]"]]]]}"#
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn random_records_split_as_serde_json_reads_them_at_every_chunk_size() {
        use rand::{Rng, SeedableRng};
        // Strings full of what the scan must get right: quotes, backslashes, brackets, escapes.
        let pieces = [
            "\\\"", "\\\\", "{", "}", "[", "]", ",", ":", "a", "é", "\\u007d", "\\n", " ",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        for _ in 0..40 {
            let records: Vec<String> = (0..rng.random_range(1..6))
                .map(|i| {
                    let text: String = (0..rng.random_range(0..40))
                        .map(|_| pieces[rng.random_range(0..pieces.len())])
                        .collect();
                    format!(r#"{{"id":"{i}","s":"{text}","n":[{{"t":"{text}"}},1.50]}}"#)
                })
                .collect();
            let body = format!(r#"{{"value":[{}],"@odata.count":1}}"#, records.join(","));
            let expected: Value = serde_json::from_str(&body).expect("the body is JSON");
            for chunk in 1..=64 {
                let (got, _) = split(body.as_bytes(), chunk).unwrap();
                assert_eq!(got, records, "chunk {chunk}");
                let parsed: Vec<Value> = got
                    .iter()
                    .map(|r| serde_json::from_str(r).unwrap())
                    .collect();
                assert_eq!(Value::Array(parsed), expected["value"]);
            }
        }
    }

    #[test]
    fn a_cut_off_body_is_transient_garbage_is_invalid() {
        let kind = |b: &[u8]| split(b, 5).unwrap_err().kind();
        assert_eq!(kind(br#"{"value":[{"id":1},{"id""#), ErrorKind::Transient);
        assert_eq!(kind(br#"{"value":[{"id":1}]"#), ErrorKind::Transient);
        assert_eq!(kind(b"<html>oops</html>"), ErrorKind::Invalid);
        assert_eq!(kind(b""), ErrorKind::Invalid);
        assert_eq!(kind(br#"{"value":{}}"#), ErrorKind::Invalid);
        assert_eq!(kind(br#"{"other":[]}"#), ErrorKind::Invalid);
        assert_eq!(kind(br#"{"value":[{"id":1]}]}"#), ErrorKind::Invalid);
        assert_eq!(kind(br#"{"value":[{"id":[1}]}]}"#), ErrorKind::Invalid);
        assert_eq!(kind(b"{\"value\":[{\"id\":\"\xff\"}]}"), ErrorKind::Invalid);
        assert_eq!(kind(br#"{"value":[{"id":1}]} x"#), ErrorKind::Invalid);
    }

    #[test]
    fn a_record_with_a_bad_value_is_left_to_the_mapping_the_page_goes_on() {
        // Structure intact, a value that is not JSON: the record comes out as sent (the mapping
        // parses it, fails, and skips that record alone); the next record is unaffected.
        let body = br#"{"value":[{"id":"a","n":tru,"m":01},{"id":"b"}]}"#;
        for chunk in [1, 4, body.len()] {
            let (records, _) = split(body, chunk).unwrap();
            assert_eq!(records, [r#"{"id":"a","n":tru,"m":01}"#, r#"{"id":"b"}"#]);
            assert!(serde_json::from_str::<Value>(&records[0]).is_err());
        }
    }

    #[test]
    fn a_record_over_the_cap_is_refused() {
        let mut s = PageSplitter::new(16);
        let mut out = Vec::new();
        let err = s
            .feed(br#"{"value":[{"id":"0123456789abcdef0123"}]}"#, &mut out)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
    }
}
