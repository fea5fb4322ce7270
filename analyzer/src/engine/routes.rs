//! Which endpoint a request is for: host, method and raw path to an [`EndpointId`], through a
//! per-worker route cache so that a path seen before costs one hash lookup (no host
//! normalisation, no templating, no allocation).

use super::intern::{ByteCache, Interner};
use crate::host::normalize_host;
use crate::observation::{EndpointKey, TemplateSource};
use crate::template::Templater;
use crate::FastMap;

/// An endpoint of this worker's table (index into it).
pub type EndpointId = u32;
/// A normalised host of this worker's table.
pub type HostId = u32;

/// Where a request goes: its host always, its endpoint unless the endpoint table was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub host: HostId,
    pub endpoint: Option<EndpointId>,
}

/// Distinct raw routes remembered per worker.
const ROUTE_CACHE: usize = 1 << 16;
/// Distinct hosts per worker: beyond it a request's host is not tracked (counted).
pub const MAX_HOSTS: usize = 1 << 16;

/// The endpoints and hosts of one worker, and the cache in front of them.
#[derive(Debug)]
pub struct Routes {
    cache: ByteCache<Route>,
    /// Scratch for the cache key (host, method, path), reused.
    key: Vec<u8>,
    endpoints: Vec<(EndpointKey, TemplateSource)>,
    index: FastMap<EndpointKey, EndpointId>,
    max_endpoints: usize,
    pub hosts: Interner,
    /// Requests whose endpoint did not fit the table.
    pub endpoints_full: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
}

impl Routes {
    pub fn new(max_endpoints: usize) -> Self {
        Routes {
            cache: ByteCache::new(ROUTE_CACHE),
            key: Vec::new(),
            endpoints: Vec::new(),
            index: FastMap::default(),
            max_endpoints,
            hosts: Interner::new(MAX_HOSTS),
            endpoints_full: 0,
            cache_hits: 0,
            cache_misses: 0,
        }
    }

    /// The route of a request for `host` (raw, as sent), `method` (as sent) and `path` (raw,
    /// without the query). `None` only when even the host table is full.
    pub fn resolve(
        &mut self,
        templater: &Templater,
        host: &str,
        method: &str,
        path: &str,
    ) -> Option<Route> {
        self.key.clear();
        self.key.extend_from_slice(host.as_bytes());
        self.key.push(0);
        self.key.extend_from_slice(method.as_bytes());
        self.key.push(0);
        self.key.extend_from_slice(path.as_bytes());
        if let Some(route) = self.cache.get(&self.key) {
            self.cache_hits += 1;
            return Some(route);
        }
        self.cache_misses += 1;
        let host = normalize_host(host);
        let host_id = self.hosts.intern(&host)?;
        let templated = templater.template(&host, path);
        let key = EndpointKey {
            host,
            method: method.to_ascii_uppercase(),
            path: templated.path,
        };
        let endpoint = match self.index.get(&key) {
            Some(&id) => Some(id),
            None if self.endpoints.len() < self.max_endpoints => {
                let id = EndpointId::try_from(self.endpoints.len()).ok();
                if let Some(id) = id {
                    self.index.insert(key.clone(), id);
                    self.endpoints.push((key, templated.source));
                }
                id
            }
            None => None,
        };
        let route = Route {
            host: host_id,
            endpoint,
        };
        if endpoint.is_none() {
            self.endpoints_full += 1;
        } else {
            // A full table's refusals are not cached: a later seal may make room.
            let key = std::mem::take(&mut self.key);
            self.cache.insert(&key, route);
            self.key = key;
        }
        Some(route)
    }

    pub fn endpoint(&self, id: EndpointId) -> Option<&(EndpointKey, TemplateSource)> {
        self.endpoints.get(id as usize)
    }

    pub fn endpoint_count(&self) -> usize {
        self.endpoints.len()
    }

    pub fn cache_resets(&self) -> u64 {
        self.cache.resets
    }

    /// Forget every endpoint (ids become invalid), keeping hosts: used at a window seal when
    /// the table is full, so the next window has room.
    pub fn clear_endpoints(&mut self) {
        self.endpoints.clear();
        self.index.clear();
        self.cache.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_routes_resolve_once_and_respect_the_cap() {
        let t = Templater::default();
        let mut r = Routes::new(2);
        let a = r.resolve(&t, "API.Example:443", "get", "/users/123");
        let b = r.resolve(&t, "API.Example:443", "get", "/users/123");
        assert_eq!(a, b);
        assert_eq!((r.cache_hits, r.cache_misses), (1, 1));
        let e = a.and_then(|x| x.endpoint).and_then(|id| r.endpoint(id));
        let (key, _) = e.expect("endpoint");
        assert_eq!(
            (key.host.as_str(), key.method.as_str(), key.path.as_str()),
            ("api.example", "GET", "/users/{userId}")
        );
        // Another casing of the same host and method is the same endpoint.
        let c = r.resolve(&t, "api.example", "GET", "/users/7");
        assert_eq!(c.and_then(|x| x.endpoint), a.and_then(|x| x.endpoint));
        assert!(r
            .resolve(&t, "h", "GET", "/x")
            .and_then(|x| x.endpoint)
            .is_some());
        let full = r.resolve(&t, "h", "GET", "/y").expect("host fits");
        assert_eq!((full.endpoint, r.endpoints_full), (None, 1));
    }
}
