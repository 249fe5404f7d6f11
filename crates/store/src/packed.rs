//! How a record's JSON is kept in `records.data` and `records.raw`: its text compressed as one zstd
//! frame (level 1, content size in the header), or — when that would not be smaller, and for rows
//! written before issue #12 — the JSON text as it is. A frame starts with zstd's magic number
//! `28 B5 2F FD`; JSON text never starts with `(` (0x28), so the two cannot be confused.
//!
//! Invoices with their lines shrink about 3.4× (a 100,000-invoice sync stores ~250 MB of JSON
//! instead of ~830 MB, written twice with SQLite's write-ahead log); the text served is the text
//! that was written, byte for byte (BENCHMARKS.md, "Packed records"). Rows a Postgres database held
//! as `jsonb` before migration 0012 keep jsonb's text form of their values (`{"a": 1}`: spaced,
//! keys ordered by length) until a sync changes them.

use std::cell::RefCell;

use crate::error::{Result, StoreError};

/// zstd's frame magic number, little-endian on disk.
const MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Shorter texts are kept as they are (a frame's header and tables outweigh what it saves).
const MIN_PACKED: usize = 96;

/// Nothing unpacks to more than this: the largest page Business Central's body cap lets through.
const MAX_UNPACKED: u64 = 64 * 1024 * 1024;

/// zstd level 1: about 500 MB/s per core for ~3.4× on Business Central's JSON; higher levels
/// gain 1–2 % for twice the time.
const LEVEL: i32 = 1;

/// A compression context and its output buffer, kept per thread: creating a context costs more
/// than compressing a record, and the buffer (sized for the worst case) is copied out at the
/// frame's own size, so a stored value holds no spare capacity while it waits for its statement.
struct Packer {
    context: zstd::bulk::Compressor<'static>,
    scratch: Vec<u8>,
}

thread_local! {
    static PACKER: RefCell<Option<Packer>> = const { RefCell::new(None) };
    /// And one decompression context.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// The bytes to store for a JSON text.
pub fn pack(json: &str) -> Vec<u8> {
    let text = json.as_bytes();
    // Beyond what `unpack` accepts a text stays as it is (no record that size reaches the store:
    // a streamed page caps each record below it).
    if text.len() < MIN_PACKED || text.len() as u64 > MAX_UNPACKED {
        return text.to_vec();
    }
    PACKER.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.is_none() {
            *cell = zstd::bulk::Compressor::new(LEVEL)
                .and_then(|mut context| {
                    // A damaged frame fails its checksum instead of unpacking to garbage that
                    // would be spliced into a response.
                    context.include_checksum(true)?;
                    Ok(context)
                })
                .ok()
                .map(|context| Packer {
                    context,
                    scratch: Vec::new(),
                });
        }
        let Some(p) = cell.as_mut() else {
            return text.to_vec();
        };
        p.scratch.clear();
        p.scratch
            .reserve(zstd::zstd_safe::compress_bound(text.len()));
        match p.context.compress_to_buffer(text, &mut p.scratch) {
            Ok(n) if n < text.len() => {
                let frame = p.scratch[..n].to_vec();
                // A record far larger than usual does not keep its buffer for the thread's life.
                if p.scratch.capacity() > 1 << 20 {
                    p.scratch = Vec::new();
                }
                frame
            }
            // Compression failed (out of memory) or did not help: the text is stored as it is.
            _ => text.to_vec(),
        }
    })
}

/// The JSON text of stored bytes; `what` names the row in the error when they are damaged.
pub fn unpack(bytes: Vec<u8>, what: &dyn std::fmt::Display) -> Result<String> {
    let corrupt = |why: String| StoreError::Corrupt(format!("{what}: {why}"));
    let text = if bytes.starts_with(&MAGIC) {
        let size = match zstd::zstd_safe::get_frame_content_size(&bytes) {
            Ok(Some(size)) if size <= MAX_UNPACKED => size as usize,
            Ok(Some(size)) => return Err(corrupt(format!("declares {size} bytes unpacked"))),
            _ => return Err(corrupt("damaged compressed JSON".into())),
        };
        let mut out = Vec::with_capacity(size);
        DECOMPRESSOR
            .with(|cell| {
                let mut cell = cell.borrow_mut();
                if cell.is_none() {
                    *cell = Some(zstd::bulk::Decompressor::new()?);
                }
                let d = cell.as_mut().expect("just set");
                d.decompress_to_buffer(&bytes, &mut out)
            })
            .map_err(|e| corrupt(format!("damaged compressed JSON: {e}")))?;
        out
    } else {
        bytes
    };
    String::from_utf8(text).map_err(|_| corrupt("stored JSON is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoice() -> String {
        let line = r#"{"id":"eeabb2ab-f007-4b15-93ea-20f7888e5711","description":"ANTWERP Conference Table","quantity":3,"unitPrice":153.39}"#;
        format!(r#"{{"id":"x","lines":[{}]}}"#, [line; 5].join(","))
    }

    #[test]
    fn a_large_text_is_compressed_and_reads_back_byte_for_byte() {
        let text = invoice();
        let packed = pack(&text);
        assert!(packed.starts_with(&MAGIC));
        assert!(
            packed.len() * 2 < text.len(),
            "{} of {}",
            packed.len(),
            text.len()
        );
        assert_eq!(unpack(packed, &"r").unwrap(), text);
    }

    #[test]
    fn a_short_text_and_text_stored_before_packing_read_as_they_are() {
        assert_eq!(pack(r#"{"a":1}"#), br#"{"a":1}"#);
        assert_eq!(unpack(br#"{"a":1}"#.to_vec(), &"r").unwrap(), r#"{"a":1}"#);
        let old = invoice();
        assert_eq!(unpack(old.clone().into_bytes(), &"r").unwrap(), old);
    }

    #[test]
    fn damaged_bytes_are_an_error_naming_the_row_never_a_panic() {
        let mut packed = pack(&invoice());
        packed.truncate(packed.len() - 5);
        let e = unpack(packed, &"record rec_1").unwrap_err().to_string();
        assert!(e.contains("record rec_1"), "{e}");
        // A frame header that declares an absurd size is refused before anything is allocated.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&[0xE0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x00]);
        assert!(unpack(huge, &"r").is_err());
        assert!(unpack(vec![0xFF, 0xFE], &"r").is_err());
        assert!(unpack(MAGIC.to_vec(), &"r").is_err());
    }
}
