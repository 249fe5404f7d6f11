//! Prefixed, time-sortable identifiers (`conn_01JD…`, `mdl_…`, `sync_…`).

use std::sync::{LazyLock, Mutex};

static GENERATOR: LazyLock<Mutex<ulid::Generator>> =
    LazyLock::new(|| Mutex::new(ulid::Generator::new()));

/// A new identifier `{prefix}_{ulid}`, lower-case. Identifiers made by one process sort in creation
/// order, even within one millisecond.
pub fn new_id(prefix: &str) -> String {
    let ulid = {
        let mut generator = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
        // `generate` fails only when 2^80 ids were made in one millisecond; fall back to a fresh one.
        generator.generate().unwrap_or_else(|_| ulid::Ulid::new())
    };
    format!("{prefix}_{}", ulid.to_string().to_lowercase())
}

/// The id of a model's planned (`scheduled`) sync due at `at`: the same every time it is asked for,
/// and kept by the sync when it becomes `queued`. `seed` tells models apart (any 80+ bits derived from
/// the model's id).
pub fn planned_sync_id(at: chrono::DateTime<chrono::Utc>, seed: u128) -> String {
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    let ulid = ulid::Ulid::from_parts(ms, seed & ((1u128 << 80) - 1));
    format!("sync_{}", ulid.to_string().to_lowercase())
}

/// When a sync id's time part says it was made (or, for a planned sync, when it is due).
pub fn id_time(id: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let (_, rest) = id.split_once('_')?;
    let ulid = ulid::Ulid::from_string(&rest.to_ascii_uppercase()).ok()?;
    chrono::DateTime::from_timestamp_millis(i64::try_from(ulid.timestamp_ms()).ok()?)
}

/// Whether `id` has the shape of an id made by [`new_id`] with `prefix` (it may not exist).
pub fn is_id(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|ulid| {
            ulid.len() == 26
                && ulid
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        })
}

/// The organization (tenant) that owns API keys and connections.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrgId(pub String);

impl OrgId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for OrgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_sort_in_creation_order() {
        let ids: Vec<String> = (0..1000).map(|_| new_id("conn")).collect();
        assert!(
            ids.iter()
                .all(|id| id.starts_with("conn_") && id.len() == 31)
        );
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }
}
