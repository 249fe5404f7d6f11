//! A short-lived in-process cache of API key lookups, so that authenticating a request costs no
//! query on most requests (BENCHMARKS.md, issue #12).
//!
//! Revocation still holds from the next request on. Every revocation or rotation made through a
//! store, in any process, afterwards appends one byte to a marker file: next to the database file
//! (SQLite) or in the data directory (Postgres). A cached answer is used only while the marker has
//! the size it had before that answer was read from the database (one `stat` per request), and
//! while this process made no revocation since. A process that cannot see the marker (Postgres
//! servers on other hosts) sees a revocation once its cached answer expires, within [`TTL`].
//! Only keys that exist are cached: an unknown key is looked up every time.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// The owner of a presented key that is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    /// The key's id.
    pub key_id: String,
    /// The organization it authenticates.
    pub org_id: ledgerlink_domain::OrgId,
    /// When it was last stamped as used.
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// How long a cached lookup is used at most.
pub(crate) const TTL: Duration = Duration::from_secs(1);

/// Beyond this many keys the expired answers are dropped, or else the cache starts over (it only
/// saves queries).
const MAX_ENTRIES: usize = 10_000;

/// What the revocations made so far look like: answers read under another one are stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generation {
    local: u64,
    marker: u64,
}

struct Entry {
    owner: KeyOwner,
    revoked_at: Option<DateTime<Utc>>,
    generation: Generation,
    read_at: Instant,
}

/// The cache of one store.
pub(crate) struct KeyCache {
    entries: Mutex<HashMap<String, Entry>>,
    local: AtomicU64,
    marker: OnceLock<PathBuf>,
}

impl KeyCache {
    /// A cache whose revocation marker is `marker` (none: revocations in this process only, for an
    /// in-memory database).
    pub(crate) fn new(marker: Option<PathBuf>) -> Self {
        let cache = KeyCache {
            entries: Mutex::new(HashMap::new()),
            local: AtomicU64::new(0),
            marker: OnceLock::new(),
        };
        if let Some(path) = marker {
            cache.set_marker(path);
        }
        cache
    }

    /// Sets the revocation marker, unless one is set.
    pub(crate) fn set_marker(&self, path: PathBuf) {
        let _ = self.marker.set(path);
    }

    /// The current generation; read it before the query whose answer is then [`KeyCache::put`].
    pub(crate) fn generation(&self) -> Generation {
        let marker = self
            .marker
            .get()
            .and_then(|path| std::fs::metadata(path).ok())
            .map_or(0, |m| m.len());
        Generation {
            local: self.local.load(Ordering::SeqCst),
            marker,
        }
    }

    /// The cached answer for a key hash at `now` (`Some(None)`: the key exists but is revoked), or
    /// `None` when the database must be asked.
    pub(crate) fn get(&self, hash: &str, now: DateTime<Utc>) -> Option<Option<KeyOwner>> {
        let generation = self.generation();
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(hash)?;
        if entry.generation != generation || entry.read_at.elapsed() >= TTL {
            return None;
        }
        let active = entry.revoked_at.is_none_or(|at| at > now);
        Some(active.then(|| entry.owner.clone()))
    }

    /// Remembers what the database said about a key, read under `generation`.
    pub(crate) fn put(
        &self,
        hash: &str,
        owner: KeyOwner,
        revoked_at: Option<DateTime<Utc>>,
        generation: Generation,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            // Expired answers go first; only 10,000 keys seen within one TTL empty the cache.
            entries.retain(|_, e| e.read_at.elapsed() < TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        let entry = Entry {
            owner,
            revoked_at,
            generation,
            read_at: Instant::now(),
        };
        entries.insert(hash.to_owned(), entry);
    }

    /// A key was stamped as used at `now`.
    pub(crate) fn touched(&self, key_id: &str, now: DateTime<Utc>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        for entry in entries.values_mut() {
            if entry.owner.key_id == key_id {
                entry.owner.last_used_at = Some(now);
            }
        }
    }

    /// A revocation was committed: every cached answer, here and in other processes that watch
    /// the marker, is stale.
    pub(crate) fn revoked(&self) {
        self.local.fetch_add(1, Ordering::SeqCst);
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let Some(path) = self.marker.get() else {
            return;
        };
        let appended = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
            })
            .and_then(|mut f| f.write_all(b"."));
        if let Err(err) = appended {
            tracing::warn!(
                error = %err,
                marker = %path.display(),
                "could not signal an API key revocation to other processes; they see it within {TTL:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledgerlink_domain::OrgId;

    fn owner() -> KeyOwner {
        KeyOwner {
            key_id: "key_1".into(),
            org_id: OrgId("org_1".into()),
            last_used_at: None,
        }
    }

    #[test]
    fn a_revocation_in_another_process_makes_cached_answers_stale() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("db-revocations");
        let here = KeyCache::new(Some(marker.clone()));
        let elsewhere = KeyCache::new(Some(marker));
        let now = Utc::now();
        here.put("h", owner(), None, here.generation());
        assert_eq!(here.get("h", now), Some(Some(owner())));
        elsewhere.revoked();
        assert_eq!(here.get("h", now), None, "asks the database again");
    }

    #[test]
    fn a_key_revoked_from_a_later_instant_works_until_then() {
        let cache = KeyCache::new(None);
        let now = Utc::now();
        let until = now + chrono::TimeDelta::seconds(10);
        cache.put("h", owner(), Some(until), cache.generation());
        assert_eq!(cache.get("h", now), Some(Some(owner())));
        assert_eq!(cache.get("h", until), Some(None));
        cache.revoked();
        assert_eq!(cache.get("h", now), None);
    }
}
