//! An object's labels: a small map from key to value, sorted by key.
//!
//! Objects carry a handful of labels, and a server holds hundreds of
//! thousands of objects: a `BTreeMap` allocates a node sized for eleven
//! entries (over 500 bytes) even for one label, so labels are a sorted
//! vector instead, with the map operations objects use. It writes and reads
//! JSON as a map with keys in sorted order, as Go writes a
//! `map[string]string`; a key given twice keeps its last value, as Go's
//! decoder does.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::selector::Lookup;

/// Labels sorted by key, each key once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels {
    entries: Vec<(String, String)>,
}

impl Labels {
    /// No labels.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(stored, _)| stored.as_str().cmp(key))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&String> {
        let index = self.position(key).ok()?;
        self.entries.get(index).map(|(_, value)| value)
    }

    /// Whether `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Sets `key` to `value`; the previous value, if any.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.position(&key) {
            Ok(index) => self
                .entries
                .get_mut(index)
                .map(|(_, stored)| std::mem::replace(stored, value)),
            Err(index) => {
                self.entries.insert(index, (key, value));
                None
            }
        }
    }

    /// Removes `key`; its value, if it was set.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.position(key).ok()?;
        Some(self.entries.remove(index).1)
    }

    /// `(key, value)` in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &String)> + Clone {
        self.entries.iter().map(|(key, value)| (key, value))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &String> + Clone {
        self.entries.iter().map(|(key, _)| key)
    }

    /// Values in key order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &String> + Clone {
        self.entries.iter().map(|(_, value)| value)
    }
}

impl Lookup for Labels {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl std::ops::Index<&str> for Labels {
    type Output = String;

    /// The value of `key`; panics when it is not set, as a map's index does.
    fn index(&self, key: &str) -> &String {
        match self.get(key) {
            Some(value) => value,
            None => panic!("no label {key:?}"),
        }
    }
}

impl FromIterator<(String, String)> for Labels {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        let mut entries: Vec<(String, String)> = pairs.into_iter().collect();
        // Stable: of two equal keys the later one is kept below.
        entries.sort_by(|(a, _), (b, _)| a.cmp(b));
        let mut labels = Labels {
            entries: Vec::with_capacity(entries.len()),
        };
        for (key, value) in entries {
            match labels.entries.last_mut() {
                Some((last, stored)) if *last == key => *stored = value,
                _ => labels.entries.push((key, value)),
            }
        }
        labels.entries.shrink_to_fit();
        labels
    }
}

impl<const N: usize> From<[(String, String); N]> for Labels {
    fn from(pairs: [(String, String); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl From<std::collections::BTreeMap<String, String>> for Labels {
    fn from(map: std::collections::BTreeMap<String, String>) -> Self {
        Labels {
            entries: map.into_iter().collect(),
        }
    }
}

impl Extend<(String, String)> for Labels {
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, pairs: I) {
        for (key, value) in pairs {
            self.insert(key, value);
        }
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a String, &'a String);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a String, &'a String),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(key, value)| (key, value))
    }
}

impl IntoIterator for Labels {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (key, value) in &self.entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LabelsVisitor;

        impl<'de> Visitor<'de> for LabelsVisitor {
            type Value = Labels;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of label keys to values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Labels, A::Error> {
                let mut pairs = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
                while let Some((key, value)) = access.next_entry::<String, String>()? {
                    pairs.push((key, value));
                }
                Ok(pairs.into_iter().collect())
            }
        }

        deserializer.deserialize_map(LabelsVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The same answers, bytes and decoding as the map it replaces.
        #[test]
        fn behaves_as_a_btreemap(
            pairs in proptest::collection::vec(("[a-d]{0,2}", "[a-z]{0,3}"), 0..8),
            probe in "[a-d]{0,2}",
        ) {
            let labels: Labels = pairs.iter().cloned().collect();
            let map: BTreeMap<String, String> = pairs.iter().cloned().collect();
            prop_assert_eq!(labels.len(), map.len());
            prop_assert_eq!(labels.get(&probe), map.get(&probe));
            prop_assert_eq!(labels.iter().collect::<Vec<_>>(), map.iter().collect::<Vec<_>>());
            prop_assert_eq!(
                serde_json::to_string(&labels).unwrap(),
                serde_json::to_string(&map).unwrap()
            );
            let text = format!(
                "{{{}}}",
                pairs
                    .iter()
                    .map(|(k, v)| format!("{k:?}:{v:?}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let decoded: Labels = serde_json::from_str(&text).unwrap();
            let expected: BTreeMap<String, String> = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(decoded, Labels::from(expected));
            let mut inserted = Labels::new();
            let mut into_map = BTreeMap::new();
            for (key, value) in &pairs {
                prop_assert_eq!(
                    inserted.insert(key.clone(), value.clone()),
                    into_map.insert(key.clone(), value.clone())
                );
            }
            prop_assert_eq!(&inserted, &labels);
            prop_assert_eq!(inserted.remove(&probe), into_map.remove(&probe));
        }
    }
}
