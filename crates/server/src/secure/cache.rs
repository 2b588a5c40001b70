//! The review caches of authentication and authorization: answers kept for
//! a time-to-live, bounded in size (expired entries are dropped when it is
//! full, and everything when that is not enough), so a flood of distinct
//! tokens or requests cannot grow memory.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The most answers kept.
const MAX_ENTRIES: usize = 10_000;

/// Answers by key, each until its own deadline.
#[derive(Debug)]
pub struct TtlCache<V> {
    entries: Mutex<HashMap<String, (V, Instant)>>,
}

impl<V: Clone> TtlCache<V> {
    /// An empty cache.
    pub fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The answer for `key`, if it has not expired.
    pub fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(value, _)| value.clone())
    }

    /// Keeps `value` for `ttl` (not at all when it is zero).
    pub fn insert(&self, key: String, value: V, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, (_, until)| now < *until);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (value, Instant::now() + ttl));
    }
}

impl<V: Clone> Default for TtlCache<V> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_expire_and_a_zero_ttl_keeps_nothing() {
        let cache = TtlCache::new();
        cache.insert("a".to_owned(), 1, Duration::from_secs(60));
        cache.insert("b".to_owned(), 2, Duration::ZERO);
        cache.insert("c".to_owned(), 3, Duration::from_nanos(1));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(cache.get("a"), Some(1));
        assert_eq!(cache.get("b"), None);
        assert_eq!(cache.get("c"), None);
    }

    #[test]
    fn a_full_cache_makes_room() {
        let cache = TtlCache::new();
        for i in 0..=MAX_ENTRIES {
            cache.insert(i.to_string(), i, Duration::from_secs(60));
        }
        let entries = cache.entries.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(entries.len() <= MAX_ENTRIES);
    }
}
