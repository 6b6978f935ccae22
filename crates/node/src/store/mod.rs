//! The node's store: one redb file (`claims.redb`) holding every receipt the node signed or
//! logged, with a typed accessor per domain over the same database:
//!
//! - [`Receipts`]: receipts by id, request ids, an inference node's own records;
//! - [`SettlementQueue`]: claims waiting for verdicts and settlement, with each one's charge,
//!   quorums' judgements, and the batch in flight;
//! - [`Accounts`]: API keys and what each payer's unsettled requests commit;
//! - [`ContractRequests`]: contracts' on-chain requests served, refused and to deliver;
//! - [`Timeline`]: the explorer's record of claims and who did what;
//! - [`Verdicts`]: a validator's one signed verdict per claim;
//! - [`Nonces`]: the replay guard of signed requests and calls between roles.
//!
//! A write that spans domains (a paid claim is a receipt, a queue entry, a committed fee and a
//! timeline entry) is one redb transaction, on disk before [`Store::write`] returns: a crash
//! after a response means the claim is on disk, a crash before means no response was sent. Each
//! domain module holds its tables and the steps it contributes to such a transaction.
//!
//! Writes share their fsyncs (group commit): each commits without syncing, then waits until a
//! sync that began after its commit has ended; whoever finds no sync under way starts one (an
//! empty transaction with immediate durability, which makes every commit before it durable), and
//! the writes that arrive meanwhile wait for the next. Under load, one fsync serves every claim
//! logged in the same instant.

mod accounts;
mod nonces;
mod queue;
mod receipts;
mod requests;
mod timeline;
mod verdicts;

use std::{
    path::Path,
    sync::{
        Condvar, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use veritas_primitives::B256;

pub use accounts::Accounts;
pub use nonces::Nonces;
pub use queue::{Charge, InflightBatch, Queued, SettlementQueue};
pub use receipts::Receipts;
pub use requests::{ContractRequests, Served};
pub use timeline::{Activity, Entry, Judged, Origin, Timeline, Timing, now_ms};
pub use verdicts::{SignedBatch, Verdicts};

/// "next_sequence" → the next sequence number; "verification" → 1 once queued claims wait for
/// verdicts; "requests_block" → the first block not yet read for contracts' requests.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// What went wrong in the store; nothing was acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file cannot be opened.
    #[error(transparent)]
    Database(#[from] redb::DatabaseError),
    /// A transaction cannot begin.
    #[error(transparent)]
    Transaction(#[from] redb::TransactionError),
    /// A table cannot be opened.
    #[error(transparent)]
    Table(#[from] redb::TableError),
    /// Reading or writing the file failed.
    #[error(transparent)]
    Storage(#[from] redb::StorageError),
    /// A transaction cannot commit.
    #[error(transparent)]
    Commit(#[from] redb::CommitError),
    /// Durability cannot be set.
    #[error(transparent)]
    Durability(#[from] redb::SetDurabilityError),
    /// The directory cannot be created.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A receipt logged twice: a claim is never queued twice.
    #[error("receipt {0} is already in the log")]
    Duplicate(B256),
    /// A contract's request answered twice: it is served once.
    #[error("request {0} is answered already")]
    AlreadyAnswered(u64),
    /// A stored value that does not decode, or a value that does not encode.
    #[error("{what}: {source}")]
    Json {
        /// What was read or written.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: serde_json::Error,
    },
    /// A settlement queue entry of the wrong length.
    #[error("queue entry {sequence} has {len} bytes, expected 84")]
    BadEntry {
        /// Its position.
        sequence: u64,
        /// Its length.
        len: usize,
    },
}

/// Result alias of the store.
pub type StoreResult<T> = Result<T, StoreError>;

/// The commits made and the ones known durable, for group commit.
#[derive(Default)]
struct Syncs {
    /// Commits numbered so far (each numbered while it holds the write lock, so in order).
    committed: u64,
    /// Every commit up to this number is durable.
    durable: u64,
    /// A sync is under way.
    syncing: bool,
}

/// The node's durable store.
pub struct Store {
    db: Database,
    syncs: Mutex<Syncs>,
    synced: Condvar,
    /// The next request sequence number. Persisted with each append: a number handed out but
    /// never appended (a crash in between) may be handed out again, which is harmless because
    /// no answer ever carried it.
    next_sequence: AtomicU64,
}

/// The database's page cache. redb's default (1 GiB) would let every node
/// process grow towards a gigabyte as its claims accumulate; the store's hot
/// set (the queue, recent receipts, nonces) is far smaller.
const CACHE_BYTES: usize = 64 << 20;

impl Store {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> StoreResult<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(META)?;
        receipts::create(&txn)?;
        queue::create(&txn)?;
        accounts::create(&txn)?;
        requests::create(&txn)?;
        timeline::create(&txn)?;
        verdicts::create(&txn)?;
        nonces::create(&txn)?;
        // Logs written before verdicts were collected: their queued claims wait for verdicts.
        if txn.open_table(META)?.get("verification")?.is_none() {
            queue::await_all_queued(&txn)?;
            txn.open_table(META)?.insert("verification", 1)?;
        }
        txn.commit()?;
        let next_sequence = {
            let txn = db.begin_read()?;
            let meta = txn.open_table(META)?;
            meta.get("next_sequence")?.map_or(0, |v| v.value())
        };
        Ok(Store {
            db,
            syncs: Mutex::new(Syncs::default()),
            synced: Condvar::new(),
            next_sequence: AtomicU64::new(next_sequence),
        })
    }

    /// Receipts by id, request ids, an inference node's own records.
    pub fn receipts(&self) -> Receipts<'_> {
        Receipts(self)
    }

    /// Claims waiting for verdicts and settlement.
    pub fn settlement(&self) -> SettlementQueue<'_> {
        SettlementQueue(self)
    }

    /// API keys and payers' committed fees.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts(self)
    }

    /// Contracts' on-chain requests.
    pub fn requests(&self) -> ContractRequests<'_> {
        ContractRequests(self)
    }

    /// The explorer's record.
    pub fn timeline(&self) -> Timeline<'_> {
        Timeline(self)
    }

    /// The verdicts this node signed as a validator.
    pub fn verdicts(&self) -> Verdicts<'_> {
        Verdicts(self)
    }

    /// The replay guard of signed requests and calls.
    pub fn nonces(&self) -> Nonces<'_> {
        Nonces(self)
    }

    /// One durable write: `steps` inside a transaction, on disk when this returns, or nothing
    /// at all when they fail. Concurrent writes share their fsyncs (see the module's notes).
    pub(crate) fn write<T>(&self, steps: impl FnOnce(&WriteTransaction) -> StoreResult<T>) -> StoreResult<T> {
        let (out, number) = self.commit(steps)?;
        self.sync(number)?;
        Ok(out)
    }

    /// A write committed without waiting for a sync: visible at once, durable with the next
    /// durable write of this store (any [`Store::write`] that commits after it), lost if the
    /// process dies before one. For what only has to be on disk once something that relied on
    /// it is: a call's nonce, before the call's own durable write and answer.
    pub(crate) fn write_unsynced<T>(&self, steps: impl FnOnce(&WriteTransaction) -> StoreResult<T>) -> StoreResult<T> {
        Ok(self.commit(steps)?.0)
    }

    /// `steps` committed without a sync, with the commit's number for [`Store::sync`].
    fn commit<T>(&self, steps: impl FnOnce(&WriteTransaction) -> StoreResult<T>) -> StoreResult<(T, u64)> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::None)?;
        let out = steps(&txn)?;
        let number = {
            let mut syncs = self.syncs.lock().unwrap_or_else(|p| p.into_inner());
            syncs.committed += 1;
            syncs.committed
        };
        txn.commit()?;
        Ok((out, number))
    }

    /// Waits until commit `number` is durable, syncing if no sync is under way.
    fn sync(&self, number: u64) -> StoreResult<()> {
        let mut syncs = self.syncs.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if syncs.durable >= number {
                return Ok(());
            }
            if syncs.syncing {
                syncs = self.synced.wait(syncs).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Every commit numbered up to here holds or held the write lock before this sync
            // takes it: the sync's commit comes after theirs.
            let target = syncs.committed;
            syncs.syncing = true;
            drop(syncs);
            let synced = (|| -> StoreResult<()> {
                let mut txn = self.db.begin_write()?;
                txn.set_durability(Durability::Immediate)?;
                txn.commit()?;
                Ok(())
            })();
            syncs = self.syncs.lock().unwrap_or_else(|p| p.into_inner());
            syncs.syncing = false;
            if synced.is_ok() {
                syncs.durable = syncs.durable.max(target);
            }
            self.synced.notify_all();
            synced?;
        }
    }

    /// A read transaction.
    pub(crate) fn read(&self) -> StoreResult<redb::ReadTransaction> {
        Ok(self.db.begin_read()?)
    }

    /// Hands out the next sequence number.
    pub(crate) fn take_sequence(&self) -> u64 {
        self.next_sequence.fetch_add(1, Ordering::SeqCst)
    }

    /// Persists the sequence counter inside a write, never moving it back.
    pub(crate) fn persist_sequence(&self, txn: &WriteTransaction, at_least: u64) -> StoreResult<()> {
        let mut meta = txn.open_table(META)?;
        let stored = meta.get("next_sequence")?.map_or(0, |v| v.value());
        let next = stored.max(at_least).max(self.next_sequence.load(Ordering::SeqCst));
        meta.insert("next_sequence", next)?;
        Ok(())
    }
}

/// A value as JSON for the store.
pub(crate) fn to_json<T: serde::Serialize>(what: &'static str, value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|source| StoreError::Json { what, source })
}

/// A stored JSON value.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(what: &'static str, bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Json { what, source })
}

#[cfg(test)]
pub(crate) mod tests {
    use veritas_primitives::{Claim, ClaimDomain, Mode, ModelId, Receipt, WorkerKey};

    use super::*;

    /// A signed receipt with `request_id`.
    pub(crate) fn receipt(key: &WorkerKey, request_id: B256) -> Receipt {
        let claim = Claim {
            request_id,
            model_id: ModelId::of_manifest(b"m"),
            input_hash: B256::ZERO,
            output_hash: B256::ZERO,
            params_hash: B256::ZERO,
            mode: Mode::Signed,
            worker: key.address(),
            timestamp: 0,
        };
        Receipt::new(ClaimDomain::dev(), key.sign_claim(claim, &ClaimDomain::dev()).unwrap())
    }

    /// Writes from many threads at once share syncs, and every one that returned is there
    /// after the store is reopened; one that failed left nothing.
    #[test]
    fn concurrent_writes_are_each_durable_when_they_return() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims.redb");
        {
            let store = std::sync::Arc::new(Store::open(&path).unwrap());
            let threads: Vec<_> = (0..32u8)
                .map(|i| {
                    let store = store.clone();
                    std::thread::spawn(move || store.nonces().first_use(&B256::repeat_byte(i), u64::MAX, 0).unwrap())
                })
                .collect();
            for thread in threads {
                assert!(thread.join().unwrap());
            }
            let failed = store.write(|txn| -> StoreResult<()> {
                txn.open_table(META)?.insert("half-done", 1)?;
                Err(StoreError::Duplicate(B256::ZERO))
            });
            assert!(failed.is_err());
            let syncs = store.syncs.lock().unwrap();
            assert_eq!(syncs.durable, syncs.committed, "nothing left unsynced");
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.nonces().kept().unwrap(), 32);
        for i in 0..32u8 {
            assert!(!store.nonces().first_use(&B256::repeat_byte(i), u64::MAX, 1).unwrap());
        }
        assert!(store.read().unwrap().open_table(META).unwrap().get("half-done").unwrap().is_none());
    }
}
