//! Booleans in JSON built by SQL: Postgres writes `true`/`false`, SQLite (which has no boolean type)
//! its integers `0` and `1`.

use serde::de::{Deserializer, Error, Unexpected, Visitor};

/// Reads `true`/`false`, or `0`/`1`.
pub(crate) fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    struct Flag;
    impl Visitor<'_> for Flag {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a boolean, 0 or 1")
        }
        fn visit_bool<E: Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<bool, E> {
            match v {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(E::invalid_value(Unexpected::Unsigned(v), &self)),
            }
        }
        fn visit_i64<E: Error>(self, v: i64) -> Result<bool, E> {
            match v {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(E::invalid_value(Unexpected::Signed(v), &self)),
            }
        }
    }
    deserializer.deserialize_any(Flag)
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct Row(#[serde(deserialize_with = "super::flag")] bool);

    fn read(text: &str) -> Result<bool, serde_json::Error> {
        serde_json::from_str::<Row>(text).map(|r| r.0)
    }

    #[test]
    fn reads_booleans_and_sqlites_integers_and_nothing_else() {
        assert!(read("true").unwrap());
        assert!(!read("false").unwrap());
        assert!(read("1").unwrap());
        assert!(!read("0").unwrap());
        for bad in ["2", "-1", "\"true\"", "null", "1.0"] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}
