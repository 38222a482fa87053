//! Two-snapshot comparison, as DevTools' "Comparison" view.
//!
//! Objects are matched by snapshot object id within each constructor: an id
//! only in AFTER is new, an id only in BEFORE is deleted. Ids are stable for
//! the life of a process, so both snapshots must come from the same one; when
//! they share no id at all the result says so in `warnings`.

use std::collections::HashMap;

use heapwise_heap::{ConstructorDiff, DIFF_SCHEMA, DumpFormat, HeapDiff};

use crate::snapshot::HeapSnapshot;
use crate::summary::counted;

/// The objects of one snapshot by constructor: ids (sorted) and self sizes.
///
/// Small enough to keep while the next snapshot is parsed, so a comparison
/// never holds two full snapshots in memory.
#[derive(Debug, Default)]
pub struct ObjectIndex {
    by_class: HashMap<String, Vec<(u32, u32)>>,
    ids: Vec<u32>,
}

impl ObjectIndex {
    /// Indexes the objects DevTools counts (non-empty or native).
    pub fn new(snapshot: &HeapSnapshot) -> ObjectIndex {
        let mut by_class: HashMap<crate::ClassKey, Vec<(u32, u32)>> = HashMap::new();
        let mut ids = Vec::new();
        for node in 0..snapshot.node_count() {
            if !counted(snapshot, node) {
                continue;
            }
            let id = snapshot.node_id(node);
            ids.push(id);
            by_class
                .entry(snapshot.class_key(node))
                .or_default()
                .push((id, snapshot.self_size(node)));
        }
        ids.sort_unstable();
        let mut named: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        for (key, objects) in by_class {
            named
                .entry(snapshot.class_key_name(key))
                .or_default()
                .extend(objects);
        }
        for objects in named.values_mut() {
            objects.sort_unstable();
        }
        ObjectIndex {
            by_class: named,
            ids,
        }
    }

    /// Number of objects indexed.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no object was indexed.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Compares two snapshots of one process.
pub fn diff(before: &ObjectIndex, after: &ObjectIndex) -> HeapDiff {
    let mut names: Vec<&String> = before
        .by_class
        .keys()
        .chain(after.by_class.keys())
        .collect();
    names.sort();
    names.dedup();
    let empty = Vec::new();
    let mut constructors = Vec::new();
    for name in names {
        let old = before.by_class.get(name).unwrap_or(&empty);
        let new = after.by_class.get(name).unwrap_or(&empty);
        let mut row = ConstructorDiff {
            name: name.clone(),
            new: 0,
            deleted: 0,
            delta: 0,
            alloc_bytes: 0,
            freed_bytes: 0,
            size_delta: 0,
        };
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            let a = old.get(i).map(|o| o.0);
            let b = new.get(j).map(|o| o.0);
            match (a, b) {
                (Some(x), Some(y)) if x == y => {
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x < y => {
                    row.deleted += 1;
                    row.freed_bytes += u64::from(old[i].1);
                    i += 1;
                }
                (Some(_), None) => {
                    row.deleted += 1;
                    row.freed_bytes += u64::from(old[i].1);
                    i += 1;
                }
                _ => {
                    row.new += 1;
                    row.alloc_bytes += u64::from(new[j].1);
                    j += 1;
                }
            }
        }
        if row.new == 0 && row.deleted == 0 {
            continue;
        }
        row.delta = row.new as i64 - row.deleted as i64;
        row.size_delta = row.alloc_bytes as i64 - row.freed_bytes as i64;
        constructors.push(row);
    }
    constructors.sort_by(|a, b| {
        b.size_delta
            .cmp(&a.size_delta)
            .then_with(|| a.name.cmp(&b.name))
    });
    let shared = count_shared(&before.ids, &after.ids);
    let mut warnings = Vec::new();
    if shared == 0 && !before.is_empty() && !after.is_empty() {
        warnings.push(
            "the two snapshots share no object id: they come from different processes (or the process \
             restarted), so every object shows as deleted and new"
                .to_string(),
        );
    }
    HeapDiff {
        schema: DIFF_SCHEMA.to_string(),
        format: DumpFormat::V8,
        matched_by: "id".to_string(),
        before_objects: before.len() as u64,
        after_objects: after.len() as u64,
        shared_objects: Some(shared),
        warnings,
        constructors,
    }
}

fn count_shared(a: &[u32], b: &[u32]) -> u64 {
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    shared
}
