//! [`KeyValueStore`] on RocksDB: one column family per [`Column`], WAL on,
//! LZ4 compression, bounded iterators. After a failed write (a full disk)
//! RocksDB refuses every later write ("Writer has previous error") even once
//! space is back, and this binding has no `Resume()`: the next write, once the
//! disk has [`REOPEN_FREE_BYTES`] free, closes and reopens the database.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions};

use super::StoreError;
use super::kv::{Column, Entry, KeyValueStore, WriteOp};

/// Free bytes the disk needs before a database stuck after a failed write is reopened.
pub const REOPEN_FREE_BYTES: u64 = 64 * 1024 * 1024;

/// The RocksDB-backed store.
pub struct RocksKv {
    /// `None` only while a reopen after a failed write could not open it again.
    db: RwLock<Option<DB>>,
    path: PathBuf,
    /// A write failed: RocksDB refuses writes until it is reopened.
    failed: AtomicBool,
}

impl std::fmt::Debug for RocksKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksKv").field("path", &self.path).finish()
    }
}

impl RocksKv {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Self::open_db(path)?;
        Ok(RocksKv { db: RwLock::new(Some(db)), path: path.to_owned(), failed: AtomicBool::new(false) })
    }

    fn open_db(path: &Path) -> Result<DB, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        options.set_max_background_jobs(2);
        options.set_keep_log_file_num(4);
        let cache = rocksdb::Cache::new_lru_cache(64 * 1024 * 1024);
        let cfs = Column::ALL.map(|c| {
            let mut cf = Options::default();
            cf.set_compression_type(rocksdb::DBCompressionType::Lz4);
            let mut table = rocksdb::BlockBasedOptions::default();
            table.set_block_cache(&cache);
            if c == Column::Messages {
                // Most inserts look up a hash that is not stored yet: a bloom filter answers without disk reads.
                table.set_bloom_filter(10.0, false);
                table.set_cache_index_and_filter_blocks(true);
            }
            cf.set_block_based_table_factory(&table);
            ColumnFamilyDescriptor::new(c.name(), cf)
        });
        DB::open_cf_descriptors(&options, path, cfs)
            .map_err(|e| StoreError::Open { path: path.to_owned(), reason: e.to_string() })
    }

    /// The open database, or why there is none.
    fn db(&self) -> Result<DbGuard<'_>, StoreError> {
        let guard = self.db.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_none() {
            return Err(StoreError::Io(
                "the message store is closed after a failed write; it reopens once the disk has room".into(),
            ));
        }
        Ok(DbGuard(guard))
    }

    /// After a failed write, reopens the database if the disk has room again.
    fn recover(&self) {
        if !self.failed.load(Ordering::Acquire) || free_bytes(&self.path) < REOPEN_FREE_BYTES {
            return;
        }
        let mut db = self.db.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !self.failed.load(Ordering::Acquire) {
            return; // another writer reopened it meanwhile
        }
        // Closed first: RocksDB holds a lock on its folder.
        drop(db.take());
        match Self::open_db(&self.path) {
            Ok(reopened) => {
                tracing::info!(path = %self.path.display(), "message store reopened after a failed write");
                *db = Some(reopened);
                self.failed.store(false, Ordering::Release);
            }
            Err(e) => tracing::error!(error = %e, "cannot reopen the message store; retrying on the next write"),
        }
    }
}

/// Free bytes on the disk holding `path` (0 if it cannot be asked).
fn free_bytes(path: &Path) -> u64 {
    rustix::fs::statvfs(path).map_or(0, |s| s.f_bavail.saturating_mul(s.f_frsize))
}

/// A read lock on the open database.
struct DbGuard<'a>(RwLockReadGuard<'a, Option<DB>>);

impl DbGuard<'_> {
    fn get(&self) -> &DB {
        self.0.as_ref().expect("checked when the guard was taken")
    }

    fn cf(&self, column: Column) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.get()
            .cf_handle(column.name())
            .ok_or(StoreError::Corrupt(format!("column family {} is missing", column.name())))
    }
}

impl KeyValueStore for RocksKv {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.db()?;
        Ok(db.get().get_cf(db.cf(column)?, key)?)
    }

    fn multi_get(&self, column: Column, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let db = self.db()?;
        let cf = db.cf(column)?;
        db.get()
            .batched_multi_get_cf(cf, keys.iter().copied(), false)
            .into_iter()
            .map(|r| Ok(r?.map(|v| v.to_vec())))
            .collect()
    }

    fn write(&self, ops: Vec<WriteOp>, sync: bool) -> Result<(), StoreError> {
        self.recover();
        let db = self.db()?;
        let mut batch = WriteBatch::default();
        for op in ops {
            match op {
                WriteOp::Put(c, k, v) => batch.put_cf(db.cf(c)?, k, v),
                WriteOp::Delete(c, k) => batch.delete_cf(db.cf(c)?, k),
            }
        }
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        db.get().write_opt(batch, &options).map_err(|e| {
            self.failed.store(true, Ordering::Release);
            StoreError::from(e)
        })
    }

    fn range(
        &self,
        column: Column,
        lower: &[u8],
        upper: &[u8],
        forward: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut options = ReadOptions::default();
        options.set_iterate_lower_bound(lower.to_vec());
        options.set_iterate_upper_bound(upper.to_vec());
        let mode = if forward { IteratorMode::Start } else { IteratorMode::End };
        let mut out = Vec::new();
        let db = self.db()?;
        for entry in db.get().iterator_cf_opt(db.cf(column)?, options, mode).take(limit) {
            let (k, v) = entry?;
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }

    fn sync(&self) -> Result<(), StoreError> {
        Ok(self.db()?.get().flush_wal(true)?)
    }
}
