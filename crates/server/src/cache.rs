//! The GraphQL handler's two caches: parsed documents by query text, and the serialised
//! answers of query operations.
//!
//! An answer is only worth caching if it cannot go stale, so the answer cache is keyed by
//! everything a query's answer depends on: the request (query text, operation name,
//! variables), the caller's role, and a [`DataVersion`] the application guarantees changes
//! whenever anything a query can read changes. Versions only grow, so an entry of an older
//! version can never be asked for again: the cache holds one version's entries and drops them
//! all when a newer version is seen. Both caches are bounded; when one is full it starts over
//! rather than tracking recency, which keeps a lookup to one hash and one short lock.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::parser::types::ExecutableDocument;
use bytes::Bytes;
use kpi_access::Role;

type Hasher = foldhash::fast::RandomState;

/// Two counters that, together, change whenever anything a query answer depends on changes.
/// Each only grows. The application must move them after a change becomes visible to queries
/// and before the change is acknowledged to anyone, so an answer computed after reading a
/// version is never older than that version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataVersion {
    /// The version of what queries read (for kpi-ledger: the projection's view version,
    /// moved by every fold and every swap of a rebuilt projection).
    pub view: u64,
    /// The position of the source of truth (for kpi-ledger: the store's head position).
    pub log: u64,
}

impl DataVersion {
    /// Whether `self` is at least as new as `other` in both counters.
    fn covers(self, other: DataVersion) -> bool {
        self.view >= other.view && self.log >= other.log
    }
}

pub(crate) type VersionProbe = Arc<dyn Fn() -> DataVersion + Send + Sync>;

/// Documents longer than this are parsed every time: a client sending large unique documents
/// should not be able to hold much memory through the cache.
const MAX_CACHED_QUERY_BYTES: usize = 16 * 1024;
const DOCUMENT_ENTRIES: usize = 256;

/// Parsed documents by query text. A parse of the ledger's table query costs tens of
/// microseconds; cloning the cached syntax tree costs a few.
pub(crate) struct DocumentCache {
    entries: Mutex<HashMap<Box<str>, Arc<ExecutableDocument>, Hasher>>,
}

impl DocumentCache {
    pub(crate) fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::with_hasher(Hasher::default())),
        }
    }

    /// The document of `query`, parsed once per distinct text. Parse errors are not cached:
    /// they are cheap to find again and usually one-off.
    pub(crate) fn parse(
        &self,
        query: &str,
    ) -> Result<Arc<ExecutableDocument>, async_graphql::parser::Error> {
        if let Some(document) = self.entries.lock().get(query) {
            return Ok(document.clone());
        }
        let document = Arc::new(async_graphql::parser::parse_query(query)?);
        if query.len() <= MAX_CACHED_QUERY_BYTES {
            let mut entries = self.entries.lock();
            if entries.len() >= DOCUMENT_ENTRIES {
                entries.clear();
            }
            entries.insert(query.into(), document.clone());
        }
        Ok(document)
    }
}

/// What an answer depends on besides the data version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ResponseKey {
    pub query: String,
    pub operation_name: Option<String>,
    /// The variables as JSON text (serde_json writes object keys sorted, so equal variables
    /// give equal text).
    pub variables: String,
    /// What the caller may see; `None` for an anonymous caller without read access.
    pub role: Option<Role>,
}

const RESPONSE_ENTRIES: usize = 1024;

/// Serialised answers of query operations at one [`DataVersion`], at most 1,024 of them and
/// `capacity` bytes (answers, query texts and variables counted).
pub(crate) struct ResponseCache {
    version: VersionProbe,
    state: Mutex<AnswersAt>,
    capacity: usize,
}

struct AnswersAt {
    version: DataVersion,
    /// Response bodies.
    entries: HashMap<ResponseKey, Bytes, Hasher>,
    bytes: usize,
}

impl AnswersAt {
    /// Moves to `version` if it is newer, dropping the older entries; false if `version` is
    /// older than (or not comparable with) the one held, whose entries must not be served.
    fn advance_to(&mut self, version: DataVersion) -> bool {
        if self.version == version {
            return true;
        }
        if !version.covers(self.version) {
            return false;
        }
        self.version = version;
        self.clear();
        true
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

impl ResponseCache {
    /// An empty cache of `capacity` bytes (`server.answer_cache_bytes`).
    pub(crate) fn new(version: VersionProbe, capacity: usize) -> Self {
        let initial = version();
        Self {
            version,
            capacity,
            state: Mutex::new(AnswersAt {
                version: initial,
                entries: HashMap::with_hasher(Hasher::default()),
                bytes: 0,
            }),
        }
    }

    /// The data version now; read it before executing a request whose answer may be stored.
    pub(crate) fn version(&self) -> DataVersion {
        (self.version)()
    }

    pub(crate) fn get(&self, key: &ResponseKey, version: DataVersion) -> Option<Bytes> {
        let mut state = self.state.lock();
        if !state.advance_to(version) {
            return None;
        }
        state.entries.get(key).cloned()
    }

    /// Stores the answer computed for `key` after `version` was read.
    pub(crate) fn insert(&self, key: ResponseKey, version: DataVersion, answer: Bytes) {
        let size = entry_size(&key, &answer);
        // A single answer over an eighth of the capacity is not cached, so a few huge
        // drill-downs cannot crowd out the rest.
        if size > self.capacity / 8 {
            return;
        }
        let mut state = self.state.lock();
        if !state.advance_to(version) {
            return;
        }
        if state.entries.len() >= RESPONSE_ENTRIES || state.bytes + size > self.capacity {
            state.clear();
        }
        if let Some(replaced) = state.entries.remove(&key) {
            state.bytes -= entry_size(&key, &replaced);
        }
        state.entries.insert(key, answer);
        state.bytes += size;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.state.lock().entries.len()
    }
}

fn entry_size(key: &ResponseKey, answer: &Bytes) -> usize {
    answer.len() + key.query.len() + key.variables.len()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    fn key(query: &str, role: Option<Role>) -> ResponseKey {
        ResponseKey {
            query: query.into(),
            operation_name: None,
            variables: "{}".into(),
            role,
        }
    }

    fn answer(body: &str) -> Bytes {
        Bytes::copy_from_slice(body.as_bytes())
    }

    #[test]
    fn answers_are_served_only_at_the_version_they_were_computed_at() {
        let cache = ResponseCache::new(Arc::new(DataVersion::default), 1024 * 1024);
        let v1 = DataVersion { view: 1, log: 1 };
        let reader = Some(Role::Reader);
        cache.insert(key("{a}", reader), v1, answer("one"));
        assert_eq!(&cache.get(&key("{a}", reader), v1).unwrap()[..], b"one");
        // Another role, another text: not the same answer.
        assert!(cache.get(&key("{a}", Some(Role::Admin)), v1).is_none());
        assert!(cache.get(&key("{a}", None), v1).is_none());
        assert!(cache.get(&key("{ a }", reader), v1).is_none());
        // Either counter moving makes every older entry unreachable.
        assert!(cache
            .get(&key("{a}", reader), DataVersion { view: 1, log: 2 })
            .is_none());
        assert_eq!(cache.len(), 0);
        // A request that read the older version does not get, nor store, answers.
        cache.insert(key("{a}", reader), v1, answer("stale"));
        assert!(cache.get(&key("{a}", reader), v1).is_none());
        assert!(cache
            .get(&key("{a}", reader), DataVersion { view: 1, log: 2 })
            .is_none());
        // Versions read in a race can be incomparable; neither serves the other's entries.
        cache.insert(
            key("{a}", reader),
            DataVersion { view: 2, log: 2 },
            answer("two"),
        );
        assert!(cache
            .get(&key("{a}", reader), DataVersion { view: 3, log: 1 })
            .is_none());
        assert_eq!(
            &cache
                .get(&key("{a}", reader), DataVersion { view: 2, log: 2 })
                .unwrap()[..],
            b"two"
        );
    }

    #[test]
    fn the_cache_stays_within_its_bounds() {
        let version = Arc::new(AtomicU64::new(0));
        let probe = version.clone();
        let capacity = 64 * 1024;
        let cache = ResponseCache::new(
            Arc::new(move || DataVersion {
                view: probe.load(Ordering::SeqCst),
                log: 0,
            }),
            capacity,
        );
        let now = cache.version();
        for n in 0..RESPONSE_ENTRIES + 10 {
            cache.insert(key(&format!("{{a{n}}}"), None), now, answer("x"));
        }
        assert!(cache.len() <= RESPONSE_ENTRIES);
        // Bytes: answers of 4 KiB fill 64 KiB with about 15 before it starts over.
        let four_kib = "y".repeat(4096);
        for n in 0..40 {
            cache.insert(key(&format!("{{b{n}}}"), None), now, answer(&four_kib));
            assert!(cache.state.lock().bytes <= capacity);
        }
        assert!(cache.get(&key("{b39}", None), now).is_some());
        assert!(cache.len() < 16, "{}", cache.len());
        let huge = "x".repeat(capacity / 8 + 1);
        cache.insert(key("{huge}", None), now, answer(&huge));
        assert!(cache.get(&key("{huge}", None), now).is_none());
        version.store(5, Ordering::SeqCst);
        assert_eq!(cache.version(), DataVersion { view: 5, log: 0 });
    }

    #[test]
    fn documents_are_parsed_once_and_errors_are_not_kept() {
        let documents = DocumentCache::new();
        let first = documents.parse("query Q { a }").unwrap();
        let again = documents.parse("query Q { a }").unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert!(documents.parse("query {").is_err());
        assert_eq!(documents.entries.lock().len(), 1);
        for n in 0..DOCUMENT_ENTRIES + 1 {
            documents.parse(&format!("{{ a{n} }}")).unwrap();
        }
        assert!(documents.entries.lock().len() <= DOCUMENT_ENTRIES);
    }
}
