//! A BC entity as the mapping reads it: a JSON tree that borrows its keys and text from the received
//! bytes (only text with escapes is copied) and keeps each number as its digits. A
//! `serde_json::Value` made every key a `String` and every object an insertion-ordered hash map
//! (SipHash): ~18 % of a sync's CPU went into building and dropping them (issue #12). Here an object
//! is a small vector searched in order — BC's `$select`ed entities have a few dozen members.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value borrowing from the text it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Json<'a> {
    Null,
    Bool(bool),
    /// A number's text as serde_json keeps it: the digits as written (`12.50` stays `12.50`), an
    /// exponent with its sign (`1e3` → `1e+3`).
    Number(Cow<'a, str>),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Members in the order sent; a repeated key's last value is the one read (as serde_json's).
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// Parses JSON text (serde_json's grammar and nesting limit): by [`fast`] when it can, else
    /// by serde_json, whose tree and errors are the reference.
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        match fast::parse(text) {
            Some(tree) => Ok(tree),
            None => serde_json::from_str(text),
        }
    }

    /// The member `key` of an object (its last occurrence).
    pub fn member(members: &'a [(Cow<'a, str>, Json<'a>)], key: &str) -> Option<&'a Json<'a>> {
        members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// A parser for the JSON BC sends, without serde's visitor machinery and without an allocation per
/// number (serde_json's `arbitrary_precision` makes each number a `String`): a quarter of the sync's
/// JSON time (issue #12). It reads a subset of JSON — anything it is unsure of (a surrogate escape,
/// deep nesting, a key that is serde_json's number token) or that is not JSON at all gives `None`,
/// and serde_json reads the text instead. What it reads is the tree serde_json builds, member for
/// member (tested against serde_json on random and damaged documents).
mod fast {
    use std::borrow::Cow;

    use super::{Json, NUMBER_TOKEN};

    /// How many bytes of `bytes` come before its first `"`, `\` or control character (all of it when
    /// none), eight at a time: the usual bit tricks flag each byte of a word that is below 0x20
    /// or equal to one of the two; the lowest flag is exact.
    fn special_at(bytes: &[u8]) -> usize {
        const ONES: u64 = u64::from_ne_bytes([1; 8]);
        const HIGH: u64 = ONES * 0x80;
        let mut i = 0;
        while let Some(word) = bytes.get(i..i + 8) {
            let x = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            let zero_at = |y: u64| y.wrapping_sub(ONES) & !y & HIGH;
            let flags = x.wrapping_sub(ONES * 0x20) & !x & HIGH
                | zero_at(x ^ (ONES * u64::from(b'"')))
                | zero_at(x ^ (ONES * u64::from(b'\\')));
            if flags != 0 {
                return i + (flags.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        i
    }

    /// The end of the run of digits at `start`; `None` when there is none.
    fn digits_end(bytes: &[u8], start: usize) -> Option<usize> {
        let n = bytes[start.min(bytes.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        (n > 0).then_some(start + n)
    }

    /// Containers nested deeper are left to serde_json (which refuses 128 levels).
    const MAX_DEPTH: usize = 100;

    pub(super) fn parse(text: &str) -> Option<Json<'_>> {
        let mut p = Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            members: Vec::with_capacity(64),
            items: Vec::with_capacity(16),
        };
        let value = p.value(0)?;
        p.skip_ws();
        (p.pos == p.bytes.len()).then_some(value)
    }

    struct Parser<'a> {
        text: &'a str,
        bytes: &'a [u8],
        pos: usize,
        /// The members of the objects being read, innermost last: each object's are moved into a
        /// vector of their exact size when it closes (pushing into a growing vector per object
        /// reallocated and copied each one ~5 times).
        members: Vec<(Cow<'a, str>, Json<'a>)>,
        /// The same for arrays' elements.
        items: Vec<Json<'a>>,
    }

    impl<'a> Parser<'a> {
        fn skip_ws(&mut self) {
            while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
        }

        fn peek(&mut self) -> Option<u8> {
            self.skip_ws();
            self.bytes.get(self.pos).copied()
        }

        fn eat(&mut self, literal: &[u8]) -> Option<()> {
            let end = self.pos + literal.len();
            (self.bytes.get(self.pos..end)? == literal).then(|| self.pos = end)
        }

        fn value(&mut self, depth: usize) -> Option<Json<'a>> {
            match self.peek()? {
                b'{' => self.object(depth + 1),
                b'[' => self.array(depth + 1),
                b'"' => self.string().map(Json::String),
                b't' => self.eat(b"true").map(|()| Json::Bool(true)),
                b'f' => self.eat(b"false").map(|()| Json::Bool(false)),
                b'n' => self.eat(b"null").map(|()| Json::Null),
                b'-' | b'0'..=b'9' => self.number().map(Json::Number),
                _ => None,
            }
        }

        fn object(&mut self, depth: usize) -> Option<Json<'a>> {
            let base = self.members.len();
            let read = self.elements(depth, b'}', |p| {
                if p.peek()? != b'"' {
                    return None;
                }
                let key = p.string()?;
                if key == NUMBER_TOKEN || p.peek()? != b':' {
                    return None;
                }
                p.pos += 1;
                let value = p.value(depth)?;
                p.members.push((key, value));
                Some(())
            });
            // The members read, moved off the stack into a vector of their exact size.
            let members = self.members.drain(base..).collect();
            read.map(|()| Json::Object(members))
        }

        fn array(&mut self, depth: usize) -> Option<Json<'a>> {
            let base = self.items.len();
            let read = self.elements(depth, b']', |p| {
                let value = p.value(depth)?;
                p.items.push(value);
                Some(())
            });
            let items = self.items.drain(base..).collect();
            read.map(|()| Json::Array(items))
        }

        /// A container's elements, each read by `element` (which pushes it on its stack), from its
        /// opening bracket to `close`.
        fn elements(
            &mut self,
            depth: usize,
            close: u8,
            mut element: impl FnMut(&mut Self) -> Option<()>,
        ) -> Option<()> {
            if depth > MAX_DEPTH {
                return None;
            }
            self.pos += 1;
            if self.peek()? == close {
                self.pos += 1;
                return Some(());
            }
            loop {
                element(self)?;
                match self.peek()? {
                    b',' => self.pos += 1,
                    b if b == close => {
                        self.pos += 1;
                        return Some(());
                    }
                    _ => return None,
                }
            }
        }

        /// A string at the opening quote: borrowed when it has no escapes.
        fn string(&mut self) -> Option<Cow<'a, str>> {
            let start = self.pos + 1;
            let mut i = start + special_at(self.bytes.get(start..)?);
            loop {
                match *self.bytes.get(i)? {
                    b'"' => {
                        self.pos = i + 1;
                        return Some(Cow::Borrowed(self.text.get(start..i)?));
                    }
                    b'\\' => break,
                    0..=0x1F => return None,
                    _ => i += 1,
                }
            }
            // Escapes: decoded into an owned string.
            let mut out = String::with_capacity(i - start + 16);
            out.push_str(self.text.get(start..i)?);
            loop {
                match *self.bytes.get(i)? {
                    b'"' => {
                        self.pos = i + 1;
                        return Some(Cow::Owned(out));
                    }
                    b'\\' => {
                        let c = match *self.bytes.get(i + 1)? {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let hex = self.text.get(i + 2..i + 6)?;
                                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                                    return None;
                                }
                                // A surrogate (half of a pair, or lone) is left to serde_json.
                                char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
                            }
                            _ => return None,
                        };
                        out.push(c);
                        i += if self.bytes[i + 1] == b'u' { 6 } else { 2 };
                    }
                    0..=0x1F => return None,
                    _ => {
                        // Up to the next quote or backslash, as it is.
                        let run = self.bytes[i..]
                            .iter()
                            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
                        out.push_str(self.text.get(i..i + run)?);
                        i += run;
                    }
                }
            }
        }

        /// A number as serde_json keeps its text: as written, but an exponent as `e` with a sign.
        fn number(&mut self) -> Option<Cow<'a, str>> {
            let b = self.bytes;
            let start = self.pos;
            let mut i = start;
            if b[i] == b'-' {
                i += 1;
            }
            i = match *b.get(i)? {
                b'0' => i + 1,
                b'1'..=b'9' => digits_end(b, i)?,
                _ => return None,
            };
            if b.get(i) == Some(&b'.') {
                i = digits_end(b, i + 1)?;
            }
            let mut normalized = None;
            if let Some(e @ (b'e' | b'E')) = b.get(i).copied() {
                let mantissa_end = i;
                i += 1;
                let signed = matches!(b.get(i), Some(b'+' | b'-'));
                if signed {
                    i += 1;
                }
                i = digits_end(b, i)?;
                if e == b'E' || !signed {
                    let sign = if signed { "" } else { "+" };
                    let rest = self.text.get(mantissa_end + 1..i)?;
                    let mantissa = self.text.get(start..mantissa_end)?;
                    normalized = Some(format!("{mantissa}e{sign}{rest}"));
                }
            }
            // A leading zero followed by a digit (`01`) is not a number: the caller's next look
            // finds the digit where a delimiter must be, and refuses.
            self.pos = i;
            Some(match normalized {
                Some(text) => Cow::Owned(text),
                None => Cow::Borrowed(self.text.get(start..i)?),
            })
        }
    }
}

/// serde_json hands a number to a visitor as a one-member map under this key when its
/// `arbitrary_precision` feature is on (it is: decimals keep their digits).
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

/// A key or a string, borrowed when the text has no escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(v))
    }

    // Without `arbitrary_precision` numbers would come here; with it they come as a map (below).
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Json::Number(Cow::Owned(v.to_string())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Json::Number(Cow::Owned(v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Json::Number(Cow::Owned(v.to_string())))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(Text(first)) = map.next_key::<Text<'de>>()? else {
            return Ok(Json::Object(Vec::new()));
        };
        if first == NUMBER_TOKEN {
            let Text(digits) = map.next_value()?;
            return Ok(Json::Number(digits));
        }
        let mut members = Vec::with_capacity(16);
        members.push((first, map.next_value()?));
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            members.push((key, map.next_value()?));
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_without_escapes_is_borrowed_numbers_keep_their_digits() {
        let text = r#"{"id":"a\"b","n":12.50,"big":123456789012345678901234567890,"e":-1e3,"l":[true,null,{}],"o":{"k":"v"}}"#;
        let Json::Object(m) = Json::parse(text).unwrap() else {
            panic!("an object")
        };
        assert!(matches!(&m[0].0, Cow::Borrowed("id")));
        assert_eq!(Json::member(&m, "id"), Some(&Json::String("a\"b".into())));
        assert_eq!(Json::member(&m, "n"), Some(&Json::Number("12.50".into())));
        assert_eq!(
            Json::member(&m, "big"),
            Some(&Json::Number("123456789012345678901234567890".into()))
        );
        // As serde_json keeps them: digits as written, an exponent with its sign.
        assert_eq!(Json::member(&m, "e"), Some(&Json::Number("-1e+3".into())));
        assert_eq!(
            Json::member(&m, "l"),
            Some(&Json::Array(vec![
                Json::Bool(true),
                Json::Null,
                Json::Object(vec![])
            ]))
        );
        let Some(Json::Object(o)) = Json::member(&m, "o") else {
            panic!("an object")
        };
        assert!(matches!(
            Json::member(o, "k"),
            Some(Json::String(Cow::Borrowed("v")))
        ));
        assert_eq!(Json::member(&m, "missing"), None);
    }

    #[test]
    fn a_repeated_key_reads_its_last_value_and_bad_json_is_an_error() {
        let Json::Object(m) = Json::parse(r#"{"a":1,"a":2}"#).unwrap() else {
            panic!("an object")
        };
        assert_eq!(Json::member(&m, "a"), Some(&Json::Number("2".into())));
        for bad in [r#"{"a":}"#, "[1,]", r#"{"a":1"#, "01", "\"\\x\""] {
            assert!(Json::parse(bad).is_err(), "{bad}");
        }
        // serde_json's nesting limit holds: no stack overflow on hostile depth.
        assert!(Json::parse(&"[".repeat(100_000)).is_err());
    }

    /// A random JSON document written in every way the grammar allows: whitespace, escapes,
    /// exponents, big and negative numbers, unicode.
    fn random_document(rng: &mut rand::rngs::StdRng, depth: usize) -> String {
        use rand::Rng;
        let ws = |rng: &mut rand::rngs::StdRng| {
            [" ", "", "", "\n", "\t", "\r\n  "][rng.random_range(0..6)].to_string()
        };
        let string = |rng: &mut rand::rngs::StdRng| {
            let pieces = [
                "a",
                "Zz",
                "é",
                "日本",
                "🙂",
                "\\\"",
                "\\\\",
                "\\/",
                "\\b",
                "\\f",
                "\\n",
                "\\r",
                "\\t",
                "\\u0041",
                "\\u00e9",
                "\\u65e5",
                "\\ud83d\\ude42",
                "\\uDEAD",
                " ",
                "$",
            ];
            let n = rng.random_range(0..6);
            let body: String = (0..n)
                .map(|_| pieces[rng.random_range(0..pieces.len())])
                .collect();
            format!("\"{body}\"")
        };
        match rng.random_range(0..if depth > 3 { 6 } else { 8 }) {
            0 => "null".into(),
            1 => ["true", "false"][rng.random_range(0..2)].into(),
            2 | 3 => {
                let numbers = [
                    "0",
                    "-0",
                    "7",
                    "-12",
                    "12.50",
                    "0.005",
                    "-0.0",
                    "1e3",
                    "1E3",
                    "1e+3",
                    "1e-3",
                    "2.5E-07",
                    "123456789012345678901234567890",
                    "-18446744073709551616",
                    "18446744073709551615",
                    "9223372036854775807",
                    "-9223372036854775808",
                ];
                numbers[rng.random_range(0..numbers.len())].into()
            }
            4 | 5 => string(rng),
            6 => {
                let n = rng.random_range(0..5);
                let items: Vec<String> = (0..n)
                    .map(|_| format!("{}{}{}", ws(rng), random_document(rng, depth + 1), ws(rng)))
                    .collect();
                format!("[{}]", items.join(","))
            }
            _ => {
                let n = rng.random_range(0..6);
                let members: Vec<String> = (0..n)
                    .map(|_| {
                        let key = if rng.random_range(0..8) == 0 {
                            "\"id\"".to_string()
                        } else {
                            string(rng)
                        };
                        format!(
                            "{}{key}{}:{}{}",
                            ws(rng),
                            ws(rng),
                            ws(rng),
                            random_document(rng, depth + 1)
                        )
                    })
                    .collect();
                format!("{{{}{}}}", members.join(","), ws(rng))
            }
        }
    }

    #[test]
    fn the_fast_parser_reads_what_serde_json_reads_and_nothing_else() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
        let noise = [
            "{", "}", "[", "]", ",", ":", "\"", "\\", "0", "1", "-", "+", ".", "e", "E", " ", "t",
            "n", "u", "\u{1}", "\u{1f}", "é", "x",
        ];
        let (mut fast_read, mut damaged_read) = (0, 0);
        for _ in 0..3_000 {
            let text = random_document(&mut rng, 0);
            // A lone `\uDEAD` makes the document one serde_json refuses: so must the fast parser.
            let Ok(reference) = serde_json::from_str::<Json>(&text) else {
                assert!(fast::parse(&text).is_none(), "{text}");
                continue;
            };
            let fast = fast::parse(&text);
            if let Some(tree) = &fast {
                assert_eq!(tree, &reference, "{text}");
                fast_read += 1;
            } else {
                // Only what it leaves to serde_json on purpose: surrogate escapes.
                assert!(text.contains("\\ud") || text.contains("\\uD"), "{text}");
            }
            assert_eq!(Json::parse(&text).unwrap(), reference);
            // Damaged copies: whatever the fast parser accepts, serde_json accepts as the same tree.
            for _ in 0..30 {
                let mut damaged: Vec<char> = text.chars().collect();
                let at = rng.random_range(0..=damaged.len());
                match rng.random_range(0..3) {
                    0 if at < damaged.len() => {
                        damaged.remove(at);
                    }
                    1 if at < damaged.len() => {
                        damaged[at] = noise[rng.random_range(0..noise.len())]
                            .chars()
                            .next()
                            .unwrap();
                    }
                    _ => damaged.insert(
                        at,
                        noise[rng.random_range(0..noise.len())]
                            .chars()
                            .next()
                            .unwrap(),
                    ),
                }
                let damaged: String = damaged.into_iter().collect();
                let reference = serde_json::from_str::<Json>(&damaged);
                match (fast::parse(&damaged), &reference) {
                    (Some(tree), Ok(expected)) => {
                        assert_eq!(&tree, expected, "{damaged}");
                        damaged_read += 1;
                    }
                    (Some(tree), Err(e)) => panic!("read {damaged:?} as {tree:?}; serde_json: {e}"),
                    (None, _) => {}
                }
                assert_eq!(Json::parse(&damaged).ok(), reference.ok(), "{damaged}");
            }
        }
        assert!(fast_read > 2_000, "{fast_read}");
        assert!(damaged_read > 1_000, "{damaged_read}");
        // Depth: serde_json's limit holds either way.
        for depth in [99, 100, 101, 127, 128, 129] {
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            assert_eq!(Json::parse(&text).is_ok(), depth < 128, "{depth}");
        }
    }
}
