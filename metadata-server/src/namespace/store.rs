//! The abstract ordered key-value store the namespace runs on: tables, a read trait,
//! a write buffer with read-your-writes (`Overlay`) and an in-memory store for tests.

use std::collections::BTreeMap;
use std::ops::Bound;

/// Column families / tables of the state machine. The raft helper maps each to a RocksDB
/// column family named by `Table::name()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// InodeId (BE u64) -> inode record.
    Inodes,
    /// (parent BE u64, name) -> (ino, kind).
    Dentries,
    /// (ino BE u64, chunk index BE u64) -> ChunkRef.
    Chunks,
    /// ChunkId (BE u128) -> servers holding a verified copy, and a reference count.
    Locations,
    /// (ino BE u64, name) -> value.
    Xattrs,
    /// NodeId (BE u64) -> DataServerInfo.
    Servers,
    /// Counters, the inode allocator, the layout and the garbage-chunk list.
    Sys,
}

impl Table {
    pub const ALL: [Table; 7] = [
        Table::Inodes,
        Table::Dentries,
        Table::Chunks,
        Table::Locations,
        Table::Xattrs,
        Table::Servers,
        Table::Sys,
    ];

    /// Stable name (a RocksDB column family name); never change one once data exists.
    pub fn name(self) -> &'static str {
        match self {
            Table::Inodes => "inodes",
            Table::Dentries => "dentries",
            Table::Chunks => "chunks",
            Table::Locations => "locations",
            Table::Xattrs => "xattrs",
            Table::Servers => "servers",
            Table::Sys => "sys",
        }
    }
}

/// A failure of the storage under the namespace (not a namespace error such as ENOENT).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend (RocksDB) failed to read.
    #[error("storage: {0}")]
    Backend(String),
    /// A stored record or key does not decode.
    #[error("corrupt record in {table:?}: {reason}")]
    Corrupt { table: Table, reason: String },
}

/// One key and its value.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// Read access to a consistent view of the tables.
pub trait KvRead {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Up to `limit` pairs with key >= `start` and key starting with `prefix`, in key order.
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<KvPair>, StoreError>;
}

/// One write: `None` deletes the key.
pub type Write = (Table, Vec<u8>, Option<Vec<u8>>);

/// Buffered writes over a read view: reads see the buffered writes (read-your-writes);
/// nothing reaches the base until the caller takes `into_writes()` and commits them
/// atomically.
pub struct Overlay<'a> {
    base: &'a dyn KvRead,
    writes: BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>>,
}

impl<'a> Overlay<'a> {
    pub fn new(base: &'a dyn KvRead) -> Self {
        Overlay {
            base,
            writes: BTreeMap::new(),
        }
    }

    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert((table, key), Some(value));
    }

    pub fn delete(&mut self, table: Table, key: Vec<u8>) {
        self.writes.insert((table, key), None);
    }

    /// Number of buffered writes.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Replay writes taken from another overlay (e.g. a nested one that succeeded).
    pub fn extend(&mut self, writes: Vec<Write>) {
        for (table, key, value) in writes {
            self.writes.insert((table, key), value);
        }
    }

    /// In a deterministic order (table, then key). None = delete.
    pub fn into_writes(self) -> Vec<Write> {
        self.writes
            .into_iter()
            .map(|((t, k), v)| (t, k, v))
            .collect()
    }
}

impl KvRead for Overlay<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.writes.get(&(table, key.to_vec())) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(table, key),
        }
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<KvPair>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        // Keys with `prefix` are contiguous from `prefix` on, so start at the larger bound.
        let from = if start > prefix {
            start.to_vec()
        } else {
            prefix.to_vec()
        };
        let mut mine = self
            .writes
            .range((Bound::Included((table, from.clone())), Bound::Unbounded))
            .take_while(|((t, k), _)| *t == table && k.starts_with(prefix))
            .peekable();
        let mut base = BasePages::new(self.base, table, prefix, from, limit);
        while out.len() < limit {
            let next_base = base.peek()?;
            let take_mine = match (mine.peek(), next_base) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(((_, mk), _)), Some((bk, _))) => {
                    if mk.as_slice() == bk.as_slice() {
                        base.skip();
                        true
                    } else {
                        mk.as_slice() < bk.as_slice()
                    }
                }
            };
            if take_mine {
                // A buffered delete hides the key and yields nothing.
                if let Some(((_, k), Some(v))) = mine.next() {
                    out.push((k.clone(), v.clone()));
                }
            } else if let Some(pair) = base.take() {
                out.push(pair);
            }
        }
        Ok(out)
    }
}

/// Pages through the base store lazily, so deletions buffered in the overlay never
/// shorten a scan.
struct BasePages<'b> {
    base: &'b dyn KvRead,
    table: Table,
    prefix: &'b [u8],
    next_start: Option<Vec<u8>>,
    page: std::vec::IntoIter<KvPair>,
    head: Option<KvPair>,
    page_size: usize,
}

impl<'b> BasePages<'b> {
    fn new(
        base: &'b dyn KvRead,
        table: Table,
        prefix: &'b [u8],
        from: Vec<u8>,
        limit: usize,
    ) -> Self {
        BasePages {
            base,
            table,
            prefix,
            next_start: Some(from),
            page: Vec::new().into_iter(),
            head: None,
            page_size: limit.clamp(16, 4096),
        }
    }

    fn peek(&mut self) -> Result<Option<&KvPair>, StoreError> {
        if self.head.is_none() {
            self.head = self.page.next();
            if self.head.is_none() {
                if let Some(start) = self.next_start.take() {
                    let page = self
                        .base
                        .scan(self.table, self.prefix, &start, self.page_size)?;
                    if page.len() == self.page_size {
                        if let Some((last, _)) = page.last() {
                            self.next_start = Some(successor(last));
                        }
                    }
                    self.page = page.into_iter();
                    self.head = self.page.next();
                }
            }
        }
        Ok(self.head.as_ref())
    }

    fn take(&mut self) -> Option<KvPair> {
        self.head.take()
    }

    fn skip(&mut self) {
        self.head = None;
    }
}

/// The smallest key greater than `key`.
pub fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// An in-memory store for unit tests (and for the raft helper's tests).
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct MemStore {
    tables: BTreeMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemStore {
    pub fn apply_writes(&mut self, writes: Vec<Write>) {
        for (table, key, value) in writes {
            let t = self.tables.entry(table).or_default();
            match value {
                Some(v) => {
                    t.insert(key, v);
                }
                None => {
                    t.remove(&key);
                }
            }
        }
    }

    /// Number of keys in a table.
    pub fn len(&self, table: Table) -> usize {
        self.tables.get(&table).map_or(0, BTreeMap::len)
    }

    /// All keys and values of a table, in order.
    pub fn dump(&self, table: Table) -> Vec<KvPair> {
        self.tables
            .get(&table)
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}

impl KvRead for MemStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tables.get(&table).and_then(|t| t.get(key)).cloned())
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        start: &[u8],
        limit: usize,
    ) -> Result<Vec<KvPair>, StoreError> {
        let Some(t) = self.tables.get(&table) else {
            return Ok(Vec::new());
        };
        let from = if start > prefix {
            start.to_vec()
        } else {
            prefix.to_vec()
        };
        Ok(t.range(from..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base_with(keys: &[&[u8]]) -> MemStore {
        let mut m = MemStore::default();
        m.apply_writes(
            keys.iter()
                .map(|k| (Table::Inodes, k.to_vec(), Some(k.to_vec())))
                .collect(),
        );
        m
    }

    fn keys(pairs: Vec<KvPair>) -> Vec<Vec<u8>> {
        pairs.into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn table_names_are_distinct() {
        let mut names: Vec<_> = Table::ALL.iter().map(|t| t.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Table::ALL.len());
    }

    #[test]
    fn memstore_scan_respects_prefix_start_and_limit() {
        let m = base_with(&[b"a1", b"a2", b"a3", b"b1"]);
        assert_eq!(
            keys(m.scan(Table::Inodes, b"a", b"", 10).expect("scan")).len(),
            3
        );
        assert_eq!(
            keys(m.scan(Table::Inodes, b"a", b"a2", 10).expect("scan")),
            vec![b"a2".to_vec(), b"a3".to_vec()]
        );
        assert_eq!(
            keys(m.scan(Table::Inodes, b"a", b"", 2).expect("scan")).len(),
            2
        );
        assert!(m
            .scan(Table::Dentries, b"", b"", 10)
            .expect("scan")
            .is_empty());
        assert!(m
            .scan(Table::Inodes, b"a", b"z", 10)
            .expect("scan")
            .is_empty());
    }

    #[test]
    fn overlay_reads_its_own_writes() {
        let m = base_with(&[b"a1", b"a2"]);
        let mut o = Overlay::new(&m);
        o.put(Table::Inodes, b"a3".to_vec(), b"x".to_vec());
        o.delete(Table::Inodes, b"a1".to_vec());
        o.put(Table::Inodes, b"a2".to_vec(), b"new".to_vec());
        assert_eq!(o.get(Table::Inodes, b"a1").expect("get"), None);
        assert_eq!(
            o.get(Table::Inodes, b"a2").expect("get"),
            Some(b"new".to_vec())
        );
        assert_eq!(
            o.get(Table::Inodes, b"a3").expect("get"),
            Some(b"x".to_vec())
        );
        let all = o.scan(Table::Inodes, b"a", b"", 10).expect("scan");
        assert_eq!(
            all,
            vec![
                (b"a2".to_vec(), b"new".to_vec()),
                (b"a3".to_vec(), b"x".to_vec())
            ]
        );
        // The base is untouched until the writes are applied.
        assert_eq!(
            m.get(Table::Inodes, b"a1").expect("get"),
            Some(b"a1".to_vec())
        );
    }

    #[test]
    fn overlay_scan_is_not_shortened_by_many_deletes() {
        let names: Vec<Vec<u8>> = (0..100u8).map(|i| vec![b'k', i]).collect();
        let refs: Vec<&[u8]> = names.iter().map(|n| n.as_slice()).collect();
        let m = base_with(&refs);
        let mut o = Overlay::new(&m);
        for n in names.iter().take(60) {
            o.delete(Table::Inodes, n.clone());
        }
        let got = keys(o.scan(Table::Inodes, b"k", b"", 30).expect("scan"));
        assert_eq!(got, names[60..90].to_vec());
        let rest = keys(
            o.scan(Table::Inodes, b"k", &successor(&names[89]), 30)
                .expect("scan"),
        );
        assert_eq!(rest, names[90..].to_vec());
    }

    #[test]
    fn nested_overlays_and_deterministic_writes() {
        let m = base_with(&[b"a1"]);
        let mut outer = Overlay::new(&m);
        outer.put(Table::Sys, b"z".to_vec(), b"1".to_vec());
        let writes = {
            let mut inner = Overlay::new(&outer);
            inner.put(Table::Sys, b"y".to_vec(), b"2".to_vec());
            inner.delete(Table::Inodes, b"a1".to_vec());
            assert_eq!(
                inner.get(Table::Sys, b"z").expect("get"),
                Some(b"1".to_vec())
            );
            inner.into_writes()
        };
        outer.extend(writes);
        let w = outer.into_writes();
        assert_eq!(
            w,
            vec![
                (Table::Inodes, b"a1".to_vec(), None),
                (Table::Sys, b"y".to_vec(), Some(b"2".to_vec())),
                (Table::Sys, b"z".to_vec(), Some(b"1".to_vec())),
            ]
        );
        let mut m2 = m.clone();
        m2.apply_writes(w);
        assert_eq!(m2.len(Table::Inodes), 0);
        assert_eq!(m2.len(Table::Sys), 2);
    }
}
