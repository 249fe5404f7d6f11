//! How a record's JSON is kept in `records.data` and `records.raw`: its text compressed as one zstd
//! frame (level 1, content size in the header, checksummed), or — when that would not be smaller,
//! and for rows written before issue #12 — the JSON text as it is. A frame starts with zstd's magic
//! number `28 B5 2F FD`; JSON text never starts with `(` (0x28), so the two cannot be confused.
//!
//! Frames are made with a dictionary, one for each column ([`Column`]): records are small (1–10 KB)
//! and alike, and a dictionary trained on Business Central's and ledgerlink's JSON (`dict/`, made by
//! `scripts/train-dict` from bc-sim's records of every model) carries the key names and the entropy
//! tables a frame would otherwise build for itself: invoices pack ~6.5× instead of ~3.3×, in about
//! half the CPU time (a real BC `salesOrders` response, not trained on: 2.8× → 3.9×; BENCHMARKS.md,
//! "Packed records"). Each frame names its dictionary by id; a released dictionary is never changed
//! or removed (rows written with it must stay readable), a retrained one is added beside it.
//! Frames without a dictionary (written before it) read as well.
//!
//! The text served is the text that was written, byte for byte. Rows a Postgres database held as
//! `jsonb` before migration 0012 keep jsonb's text form of their values (`{"a": 1}`: spaced, keys
//! ordered by length) until a sync changes them.

use std::cell::RefCell;
use std::sync::LazyLock;

use zstd::dict::{DecoderDictionary, EncoderDictionary};

use crate::error::{Result, StoreError};

/// zstd's frame magic number, little-endian on disk.
const MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Shorter texts are kept as they are (a frame's header and checksum outweigh what it saves).
const MIN_PACKED: usize = 64;

/// Nothing unpacks to more than this: the largest page Business Central's body cap lets through.
const MAX_UNPACKED: u64 = 64 * 1024 * 1024;

/// zstd level 1: with the dictionaries, ~2× faster than without; higher levels gain a few percent
/// for twice the time.
const LEVEL: i32 = 1;

/// Which column a text is packed for: each has its dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `records.data`: ledgerlink's unified JSON.
    Data,
    /// `records.raw`: the ERP's JSON as it was received.
    Raw,
}

/// A released dictionary: its zstd id (what frames name) and its bytes.
struct Dictionary {
    id: u32,
    bytes: &'static [u8],
}

/// Every released dictionary, oldest first; new frames of a column use its last one.
const DICTIONARIES: [Dictionary; 2] = [
    Dictionary {
        id: 1_054_048_185,
        bytes: include_bytes!("dict/data-1054048185.zdict"),
    },
    Dictionary {
        id: 1_424_794_345,
        bytes: include_bytes!("dict/raw-1424794345.zdict"),
    },
];

impl Column {
    /// Its place among the columns (its slot in `PACKERS`).
    fn index(self) -> usize {
        match self {
            Column::Data => 0,
            Column::Raw => 1,
        }
    }
}

/// The dictionary new frames of each column are made with (an index into [`DICTIONARIES`]; today
/// each column's one dictionary sits at the column's own index).
fn current(column: Column) -> usize {
    column.index()
}

/// The dictionaries prepared once for compression at [`LEVEL`] and for decompression, shared by all
/// threads.
static ENCODERS: LazyLock<Vec<EncoderDictionary<'static>>> = LazyLock::new(|| {
    DICTIONARIES
        .iter()
        .map(|d| EncoderDictionary::copy(d.bytes, LEVEL))
        .collect()
});
static DECODERS: LazyLock<Vec<DecoderDictionary<'static>>> = LazyLock::new(|| {
    DICTIONARIES
        .iter()
        .map(|d| DecoderDictionary::copy(d.bytes))
        .collect()
});

/// A compression context and its output buffer, kept per thread and column: creating a context
/// costs more than compressing a record, and the buffer (sized for the worst case) is copied out at
/// the frame's own size, so a stored value holds no spare capacity while it waits for its statement.
struct Packer {
    context: zstd::bulk::Compressor<'static>,
    scratch: ledgerlink_domain::scratch::Scratch,
}

thread_local! {
    static PACKERS: RefCell<[Option<Packer>; 2]> = const { RefCell::new([None, None]) };
    /// Decompression contexts: one without a dictionary, then one per entry of [`DICTIONARIES`].
    static DECOMPRESSORS: RefCell<Vec<Option<zstd::bulk::Decompressor<'static>>>> =
        const { RefCell::new(Vec::new()) };
}

fn packer(column: Column) -> std::io::Result<Packer> {
    let mut context = zstd::bulk::Compressor::with_prepared_dictionary(&ENCODERS[current(column)])?;
    // A damaged frame fails its checksum instead of unpacking to garbage that would be spliced
    // into a response.
    context.include_checksum(true)?;
    Ok(Packer {
        context,
        scratch: ledgerlink_domain::scratch::Scratch::new(),
    })
}

/// The bytes to store for a JSON text of `column`.
pub fn pack(json: &str, column: Column) -> Vec<u8> {
    let text = json.as_bytes();
    // Beyond what `unpack` accepts a text stays as it is (no record that size reaches the store:
    // a streamed page caps each record below it).
    if text.len() < MIN_PACKED || text.len() as u64 > MAX_UNPACKED {
        return text.to_vec();
    }
    PACKERS.with(|cell| {
        let mut cell = cell.borrow_mut();
        let slot = &mut cell[column.index()];
        if slot.is_none() {
            *slot = packer(column).ok();
        }
        let Some(p) = slot.as_mut() else {
            return text.to_vec();
        };
        let context = &mut p.context;
        p.scratch.with(|buf| {
            buf.reserve(zstd::zstd_safe::compress_bound(text.len()));
            match context.compress_to_buffer(text, buf) {
                Ok(n) if n < text.len() => buf[..n].to_vec(),
                // Compression failed (out of memory) or did not help: the text is stored as it is.
                _ => text.to_vec(),
            }
        })
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
        // Slot 0 decompresses frames made without a dictionary, slot i + 1 those of DICTIONARIES[i].
        let slot = match zstd::zstd_safe::get_dict_id_from_frame(&bytes) {
            None => 0,
            Some(id) => match DICTIONARIES.iter().position(|d| d.id == id.get()) {
                Some(i) => i + 1,
                None => {
                    return Err(corrupt(format!(
                        "packed with dictionary {id}, which this version of ledgerlink does \
                         not have (written by a newer version?)"
                    )));
                }
            },
        };
        let mut out = Vec::with_capacity(size);
        DECOMPRESSORS
            .with(|cell| {
                let mut cell = cell.borrow_mut();
                if cell.is_empty() {
                    cell.resize_with(DICTIONARIES.len() + 1, || None);
                }
                if cell[slot].is_none() {
                    cell[slot] = Some(match slot {
                        0 => zstd::bulk::Decompressor::new()?,
                        i => zstd::bulk::Decompressor::with_prepared_dictionary(&DECODERS[i - 1])?,
                    });
                }
                let d = cell[slot].as_mut().expect("just set");
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
    fn a_large_text_is_compressed_with_its_columns_dictionary_and_reads_back_byte_for_byte() {
        let text = invoice();
        for column in [Column::Data, Column::Raw] {
            let packed = pack(&text, column);
            assert!(packed.starts_with(&MAGIC));
            assert!(
                packed.len() * 3 < text.len(),
                "{} of {}",
                packed.len(),
                text.len()
            );
            let id = zstd::zstd_safe::get_dict_id_from_frame(&packed).map(|id| id.get());
            assert_eq!(id, Some(DICTIONARIES[current(column)].id), "{column:?}");
            assert_eq!(unpack(packed, &"r").unwrap(), text);
        }
    }

    #[test]
    fn the_dictionaries_are_the_released_ones() {
        // A frame names its dictionary by the id inside the dictionary's bytes: a file replaced
        // under a released name would make every row written with it unreadable.
        for d in &DICTIONARIES {
            assert_eq!(
                zstd::zstd_safe::get_dict_id(d.bytes).map(|id| id.get()),
                Some(d.id)
            );
        }
    }

    #[test]
    fn frames_made_without_a_dictionary_still_read() {
        // What the release before the dictionaries wrote.
        let text = invoice();
        let mut context = zstd::bulk::Compressor::new(1).unwrap();
        context.include_checksum(true).unwrap();
        let frame = context.compress(text.as_bytes()).unwrap();
        assert_eq!(zstd::zstd_safe::get_dict_id_from_frame(&frame), None);
        assert_eq!(unpack(frame, &"r").unwrap(), text);
    }

    #[test]
    fn a_frame_naming_an_unknown_dictionary_is_an_error_naming_the_row() {
        let dict = zstd::dict::from_samples(&vec![invoice().into_bytes(); 64], 1024)
            .expect("a dictionary");
        let frame = zstd::bulk::Compressor::with_dictionary(1, &dict)
            .unwrap()
            .compress(invoice().as_bytes())
            .unwrap();
        let e = unpack(frame, &"record rec_2").unwrap_err().to_string();
        assert!(
            e.contains("record rec_2") && e.contains("dictionary"),
            "{e}"
        );
    }

    #[test]
    fn a_short_text_and_text_stored_before_packing_read_as_they_are() {
        assert_eq!(pack(r#"{"a":1}"#, Column::Data), br#"{"a":1}"#);
        assert_eq!(unpack(br#"{"a":1}"#.to_vec(), &"r").unwrap(), r#"{"a":1}"#);
        let old = invoice();
        assert_eq!(unpack(old.clone().into_bytes(), &"r").unwrap(), old);
    }

    #[test]
    fn damaged_bytes_are_an_error_naming_the_row_never_a_panic() {
        let mut packed = pack(&invoice(), Column::Raw);
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
