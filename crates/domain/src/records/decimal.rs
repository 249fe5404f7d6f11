//! An exact decimal number: money, quantities, percentages.

use std::fmt;
use std::ops::{Add, Neg, Sub};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An exact decimal, written as a JSON number with the ERP's precision (`1250.5`, `0.00`), never
/// rounded through a binary float. Wraps [`rust_decimal::Decimal`] so serde and the OpenAPI schema
/// say "number" (rust_decimal's own default is a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Decimal(pub rust_decimal::Decimal);

impl Decimal {
    /// Zero.
    pub const ZERO: Decimal = Decimal(rust_decimal::Decimal::ZERO);

    /// Parses a decimal literal as JSON writes numbers (`12.50`, `-3`, `1e-2`), exactly.
    pub fn parse(text: &str) -> Option<Decimal> {
        rust_decimal::Decimal::from_str(text)
            .or_else(|_| rust_decimal::Decimal::from_scientific(text))
            .ok()
            .map(Decimal)
    }

    /// The wrapped value.
    pub fn get(self) -> rust_decimal::Decimal {
        self.0
    }
}

impl From<rust_decimal::Decimal> for Decimal {
    fn from(value: rust_decimal::Decimal) -> Self {
        Decimal(value)
    }
}

impl From<i64> for Decimal {
    fn from(value: i64) -> Self {
        Decimal(value.into())
    }
}

impl FromStr for Decimal {
    type Err = rust_decimal::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        rust_decimal::Decimal::from_str(s).map(Decimal)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Add for Decimal {
    type Output = Decimal;
    fn add(self, rhs: Decimal) -> Decimal {
        Decimal(self.0 + rhs.0)
    }
}

impl Sub for Decimal {
    type Output = Decimal;
    fn sub(self, rhs: Decimal) -> Decimal {
        Decimal(self.0 - rhs.0)
    }
}

impl Neg for Decimal {
    type Output = Decimal;
    fn neg(self) -> Decimal {
        Decimal(-self.0)
    }
}

impl std::iter::Sum for Decimal {
    fn sum<I: Iterator<Item = Decimal>>(iter: I) -> Decimal {
        iter.fold(Decimal::ZERO, Add::add)
    }
}

/// The name serde_json gives a number written as its literal text (its `arbitrary_precision`
/// feature: what `serde_json::Number` serializes as, and what rust_decimal's
/// `arbitrary_precision::serialize` does after printing the value, parsing it back into a `Number`
/// and allocating twice on the way). Tests below hold the output to rust_decimal's, byte for byte.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// The longest literal: a sign, 29 digits, a point and a leading `0`.
const MAX_LITERAL: usize = 32;

impl Decimal {
    /// Writes the literal as rust_decimal's `Display` does (`-0.00`, `12.50`, `0.005`) into `buf`;
    /// returns its length.
    fn write_literal(self, buf: &mut [u8; MAX_LITERAL]) -> usize {
        let scale = self.0.scale() as usize;
        let mut digits = [b'0'; MAX_LITERAL];
        let mut m = self.0.mantissa().unsigned_abs();
        let mut n = 0;
        // Above 64 bits (past 18 significant digits; amounts never are), in 128-bit steps, which
        // divide in a library call; the rest in 64-bit ones, which the compiler turns into a
        // multiplication.
        while m > u128::from(u64::MAX) {
            digits[MAX_LITERAL - 1 - n] = b'0' + (m % 10) as u8;
            m /= 10;
            n += 1;
        }
        let mut m = m as u64;
        while m > 0 {
            digits[MAX_LITERAL - 1 - n] = b'0' + (m % 10) as u8;
            m /= 10;
            n += 1;
        }
        // At least `scale` digits, the leading ones zeros (`digits` is filled with them).
        let n = n.max(scale);
        let digits = &digits[MAX_LITERAL - n..];
        let mut len = 0;
        let mut push = |bytes: &[u8]| {
            buf[len..len + bytes.len()].copy_from_slice(bytes);
            len += bytes.len();
        };
        if self.0.is_sign_negative() {
            push(b"-");
        }
        let whole = n - scale;
        if whole == 0 {
            push(b"0");
        } else {
            push(&digits[..whole]);
        }
        if scale > 0 {
            push(b".");
            push(&digits[whole..]);
        }
        len
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut buf = [0; MAX_LITERAL];
        let len = self.write_literal(&mut buf);
        let literal = std::str::from_utf8(&buf[..len]).map_err(serde::ser::Error::custom)?;
        let mut number = serializer.serialize_struct(NUMBER_TOKEN, 1)?;
        number.serialize_field(NUMBER_TOKEN, literal)?;
        number.end()
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        rust_decimal::serde::arbitrary_precision::deserialize(deserializer).map(Decimal)
    }
}

impl utoipa::PartialSchema for Decimal {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .description(Some(
                "An exact decimal number, written with the ERP's precision; parse it as a decimal, \
                 not a binary float, to keep every cent.",
            ))
            .examples([serde_json::json!(1250.5)])
            .into()
    }
}

impl utoipa::ToSchema for Decimal {}

#[cfg(test)]
mod tests {
    use super::*;

    /// rust_decimal's own serialization (what `Decimal` used before writing its literal itself).
    fn theirs(d: rust_decimal::Decimal) -> String {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::new(&mut out);
        rust_decimal::serde::arbitrary_precision::serialize(&d, &mut ser).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn decimals_are_written_as_rust_decimal_writes_them() {
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut values: Vec<rust_decimal::Decimal> = [
            "0",
            "-0",
            "0.00",
            "-0.00",
            "1",
            "-1",
            "0.005",
            "-0.005",
            "12.50",
            "1250.5",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "0.0000000000000000000000000001",
            "7.9228162514264337593543950335",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        // Zeros asked for with a sign (rust_decimal keeps none).
        values.extend((0..29).map(|scale| rust_decimal::Decimal::from_parts(0, 0, 0, true, scale)));
        for _ in 0..20_000 {
            let (lo, mid, hi) = (next() as u32, next() as u32, next() as u32);
            // Mantissas of every size, not only 96-bit ones.
            let width = next() % 4;
            let (mid, hi) = match width {
                0 => (0, 0),
                1 => (mid, 0),
                _ => (mid, hi),
            };
            let lo = if width == 3 { lo % 1000 } else { lo };
            let negative = next() % 2 == 0;
            let scale = (next() % 29) as u32;
            values.push(rust_decimal::Decimal::from_parts(
                lo, mid, hi, negative, scale,
            ));
        }
        for d in values {
            let ours = serde_json::to_string(&Decimal(d)).unwrap();
            assert_eq!(ours, theirs(d), "{d:?}");
            assert_eq!(ours, d.to_string());
            // A `Value` holds the same number.
            let value = serde_json::to_value(Decimal(d)).unwrap();
            assert_eq!(value.to_string(), ours);
        }
    }
}
