//! Interners: each distinct name gets a small integer id once, so the count path compares and
//! hashes ids instead of strings. Every interner is bounded; what does not fit is counted.

use crate::FastMap;

/// Strings to dense `u32` ids and back, at most `cap` of them.
#[derive(Debug, Clone)]
pub struct Interner {
    ids: FastMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    cap: usize,
    /// Names refused because the interner was full.
    pub overflow: u64,
}

impl Interner {
    pub fn new(cap: usize) -> Self {
        Interner {
            ids: FastMap::default(),
            names: Vec::new(),
            cap,
            overflow: 0,
        }
    }

    /// The id of `name`, adding it when new; `None` when full.
    pub fn intern(&mut self, name: &str) -> Option<u32> {
        if let Some(&id) = self.ids.get(name) {
            return Some(id);
        }
        if self.names.len() >= self.cap {
            self.overflow += 1;
            return None;
        }
        let id = u32::try_from(self.names.len()).ok()?;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        Some(id)
    }

    pub fn get(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |s| s)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// A bounded cache from raw bytes to a value: when full it is emptied and starts again (the
/// values can always be recomputed), and each reset is counted.
#[derive(Debug, Clone)]
pub struct ByteCache<V> {
    map: FastMap<Box<[u8]>, V>,
    cap: usize,
    pub resets: u64,
}

impl<V: Copy> ByteCache<V> {
    pub fn new(cap: usize) -> Self {
        ByteCache {
            map: FastMap::default(),
            cap,
            resets: 0,
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<V> {
        self.map.get(key).copied()
    }

    pub fn insert(&mut self, key: &[u8], value: V) {
        if self.map.len() >= self.cap {
            self.map.clear();
            self.resets += 1;
        }
        self.map.insert(key.into(), value);
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }
}

/// A bounded cache keyed by a 64-bit keyed hash (used where the key itself must not be kept,
/// e.g. credentials): emptied when full, resets counted.
#[derive(Debug, Clone)]
pub struct HashCache<V> {
    map: FastMap<u64, V>,
    cap: usize,
    pub resets: u64,
}

impl<V: Copy> HashCache<V> {
    pub fn new(cap: usize) -> Self {
        HashCache {
            map: FastMap::default(),
            cap,
            resets: 0,
        }
    }

    pub fn get(&self, key: u64) -> Option<V> {
        self.map.get(&key).copied()
    }

    pub fn insert(&mut self, key: u64, value: V) {
        if self.map.len() >= self.cap {
            self.map.clear();
            self.resets += 1;
        }
        self.map.insert(key, value);
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_is_bounded_and_stable() {
        let mut i = Interner::new(2);
        assert_eq!(i.intern("a"), Some(0));
        assert_eq!(i.intern("b"), Some(1));
        assert_eq!(i.intern("a"), Some(0));
        assert_eq!(i.intern("c"), None);
        assert_eq!((i.overflow, i.get(1)), (1, "b"));
    }

    #[test]
    fn caches_reset_when_full() {
        let mut c = ByteCache::new(2);
        c.insert(b"x", 1);
        c.insert(b"y", 2);
        c.insert(b"z", 3);
        assert_eq!((c.get(b"z"), c.get(b"x"), c.resets), (Some(3), None, 1));
    }
}
