//! JSON (and other self-describing formats) like Go's `MarshalJSON` and
//! `UnmarshalJSON`: a quantity is written as its canonical string and read
//! from a string, a bare number, or `null`.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::Quantity;

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuantityVisitor)
    }
}

struct QuantityVisitor;

impl QuantityVisitor {
    fn parse<E: de::Error>(text: &str) -> Result<Quantity, E> {
        // Upstream trims surrounding whitespace before parsing (a TODO there
        // says it may stop doing so).
        text.trim().parse().map_err(E::custom)
    }
}

impl<'de> Visitor<'de> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a quantity string such as \"250m\" or \"1Gi\", a number, or null")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Quantity, E> {
        Self::parse(text)
    }

    // A bare JSON integer is parsed from its digits, exactly as Go parses
    // the raw token.
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Quantity, E> {
        Self::parse(&value.to_string())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Quantity, E> {
        Self::parse(&value.to_string())
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<Quantity, E> {
        Self::parse(&value.to_string())
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<Quantity, E> {
        Self::parse(&value.to_string())
    }

    // Go sees the raw token of a fractional JSON number ("1.50", "1e3");
    // serde only hands over the f64, whose shortest round-trip text is the
    // best available stand-in.
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Quantity, E> {
        Self::parse(&value.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Quantity, E> {
        Ok(Quantity::zero())
    }

    fn visit_none<E: de::Error>(self) -> Result<Quantity, E> {
        Ok(Quantity::zero())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Quantity, D::Error> {
        deserializer.deserialize_any(self)
    }
}
