//! A per-container memory of what was read from the table in the last `ttl`: businesses by id,
//! by API key hash and by service id, approved templates, pace rates. What is not found is
//! never remembered (so something created a moment ago is found at once): callers only
//! [`TtlCache::insert`] what they found.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before the expired ones are dropped (and, if all are fresh, all of them).
const CAPACITY: usize = 1_024;

#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value read less than `ttl` before `now`, if any.
    pub fn get<Q>(&self, key: &Q, now: Instant) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.lock().ok()?;
        let (read_at, value) = entries.get(key)?;
        (now.saturating_duration_since(*read_at) < self.ttl).then(|| value.clone())
    }

    /// Forgets `key` (what it held changed here, in this container).
    pub fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }

    /// Remembers `value`, read at `now`.
    pub fn insert(&self, key: K, value: V, now: Instant) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= CAPACITY {
            entries.retain(|_, (read_at, _)| now.saturating_duration_since(*read_at) < self.ttl);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, (now, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_lives_for_its_ttl_and_the_cache_stays_bounded() {
        let cache = TtlCache::new(Duration::from_secs(30));
        let t0 = Instant::now();
        cache.insert("a", 1, t0);
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(29)), Some(1));
        assert_eq!(cache.get(&"a", t0 + Duration::from_secs(30)), None);
        assert_eq!(cache.get(&"b", t0), None);
        for i in 0..3 * CAPACITY {
            cache.insert(Box::leak(i.to_string().into_boxed_str()), i, t0);
        }
        assert!(cache.entries.lock().unwrap().len() <= CAPACITY);
    }
}
