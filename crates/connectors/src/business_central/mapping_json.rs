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
    /// Parses JSON text (serde_json's grammar and nesting limit).
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The member `key` of an object (its last occurrence).
    pub fn member(members: &'a [(Cow<'a, str>, Json<'a>)], key: &str) -> Option<&'a Json<'a>> {
        members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
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
}
