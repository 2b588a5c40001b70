//! Small maps keyed by strings, sorted by key: an object's labels, and a
//! resource list (`cpu`, `memory`).
//!
//! Objects carry a handful of labels and resources, and a server (or `top`
//! reading a whole cluster) holds hundreds of thousands of objects: a
//! `BTreeMap` allocates a node sized for eleven entries (over 500 bytes)
//! even for one entry, so these maps are a sorted vector instead, with the
//! map operations objects use. They write and read JSON as a map with keys
//! in sorted order, as Go writes a `map[string]…`; a key given twice keeps
//! its last value, as Go's decoder does.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::selector::Lookup;

/// Entries sorted by key, each key once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SortedMap<V> {
    entries: Vec<(String, V)>,
}

/// An object's labels.
pub type Labels = SortedMap<String>;

impl<V> Default for SortedMap<V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<V> SortedMap<V> {
    /// No entries.
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
    pub fn get(&self, key: &str) -> Option<&V> {
        let index = self.position(key).ok()?;
        self.entries.get(index).map(|(_, value)| value)
    }

    /// Whether `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// The value of `key`, to change.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let index = self.position(key).ok()?;
        self.entries.get_mut(index).map(|(_, value)| value)
    }

    /// Sets `key` to `value`; the previous value, if any.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
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
    pub fn remove(&mut self, key: &str) -> Option<V> {
        let index = self.position(key).ok()?;
        Some(self.entries.remove(index).1)
    }

    /// `(key, value)` in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &V)> + Clone {
        self.entries.iter().map(|(key, value)| (key, value))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &String> + Clone {
        self.entries.iter().map(|(key, _)| key)
    }

    /// Values in key order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &V> + Clone {
        self.entries.iter().map(|(_, value)| value)
    }

    /// The value of `key`, inserted by `make` when missing.
    pub fn get_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        let index = match self.position(key) {
            Ok(index) => index,
            Err(index) => {
                self.entries.insert(index, (key.to_owned(), make()));
                index
            }
        };
        &mut self.entries[index].1
    }
}

impl Lookup for Labels {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl<V> std::ops::Index<&str> for SortedMap<V> {
    type Output = V;

    /// The value of `key`; panics when it is not set, as a map's index does.
    fn index(&self, key: &str) -> &V {
        match self.get(key) {
            Some(value) => value,
            None => panic!("no entry {key:?}"),
        }
    }
}

impl<V> FromIterator<(String, V)> for SortedMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(pairs: I) -> Self {
        let mut entries: Vec<(String, V)> = pairs.into_iter().collect();
        // Stable: of two equal keys the later one is kept below.
        entries.sort_by(|(a, _), (b, _)| a.cmp(b));
        let mut labels = SortedMap {
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

impl<V, const N: usize> From<[(String, V); N]> for SortedMap<V> {
    fn from(pairs: [(String, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl<V> From<std::collections::BTreeMap<String, V>> for SortedMap<V> {
    fn from(map: std::collections::BTreeMap<String, V>) -> Self {
        SortedMap {
            entries: map.into_iter().collect(),
        }
    }
}

impl<V> Extend<(String, V)> for SortedMap<V> {
    fn extend<I: IntoIterator<Item = (String, V)>>(&mut self, pairs: I) {
        for (key, value) in pairs {
            self.insert(key, value);
        }
    }
}

impl<'a, V> IntoIterator for &'a SortedMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, V)>,
        fn(&'a (String, V)) -> (&'a String, &'a V),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(key, value)| (key, value))
    }
}

impl<V> IntoIterator for SortedMap<V> {
    type Item = (String, V);
    type IntoIter = std::vec::IntoIter<(String, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<V: Serialize> Serialize for SortedMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (key, value) in &self.entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SortedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(std::marker::PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = SortedMap<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<SortedMap<V>, A::Error> {
                let mut pairs = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
                while let Some((key, value)) = access.next_entry::<String, V>()? {
                    pairs.push((key, value));
                }
                Ok(pairs.into_iter().collect())
            }
        }

        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
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
