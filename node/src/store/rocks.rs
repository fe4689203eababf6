//! [`KeyValueStore`] on RocksDB: one column family per [`Column`], WAL on,
//! LZ4 compression, bounded iterators.

use std::path::Path;

use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions};

use super::StoreError;
use super::kv::{Column, Entry, KeyValueStore, WriteOp};

/// The RocksDB-backed store.
pub struct RocksKv {
    db: DB,
}

impl std::fmt::Debug for RocksKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksKv").field("path", &self.db.path()).finish()
    }
}

impl RocksKv {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
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
        let db = DB::open_cf_descriptors(&options, path, cfs)
            .map_err(|e| StoreError::Open { path: path.to_owned(), reason: e.to_string() })?;
        Ok(RocksKv { db })
    }

    fn cf(&self, column: Column) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db
            .cf_handle(column.name())
            .ok_or(StoreError::Corrupt(format!("column family {} is missing", column.name())))
    }
}

impl KeyValueStore for RocksKv {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(column)?, key)?)
    }

    fn multi_get(&self, column: Column, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let cf = self.cf(column)?;
        self.db
            .batched_multi_get_cf(cf, keys.iter().copied(), false)
            .into_iter()
            .map(|r| Ok(r?.map(|v| v.to_vec())))
            .collect()
    }

    fn write(&self, ops: Vec<WriteOp>, sync: bool) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for op in ops {
            match op {
                WriteOp::Put(c, k, v) => batch.put_cf(self.cf(c)?, k, v),
                WriteOp::Delete(c, k) => batch.delete_cf(self.cf(c)?, k),
            }
        }
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        Ok(self.db.write_opt(batch, &options)?)
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
        for entry in self.db.iterator_cf_opt(self.cf(column)?, options, mode).take(limit) {
            let (k, v) = entry?;
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }

    fn sync(&self) -> Result<(), StoreError> {
        Ok(self.db.flush_wal(true)?)
    }
}
