//! The embedded chain's disk: state, blocks, transactions and receipts in one redb database.
//!
//! Every block is written in one transaction with immediate durability, state changes included,
//! so a process killed at any point restarts at the last block it acknowledged.

use std::path::Path;

use alloy_primitives::{Address, B256, Bytes, U256};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use revm::state::{AccountInfo, EvmState};
use serde::{Deserialize, Serialize};

use crate::{ChainError, ChainResult, evm::AccountState};

/// address → balance (32) ‖ nonce (8) ‖ code hash (32).
const ACCOUNTS: TableDefinition<&[u8; 20], &[u8]> = TableDefinition::new("accounts");
/// code hash → code.
const CODE: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("code");
/// address ‖ slot → value.
const STORAGE: TableDefinition<&[u8; 52], &[u8; 32]> = TableDefinition::new("storage");
/// block number → block JSON.
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// transaction hash → transaction JSON.
const TRANSACTIONS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("transactions");
/// transaction hash → receipt JSON.
const RECEIPTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("receipts");
/// block hash → block number.
const BLOCK_HASHES: TableDefinition<&[u8; 32], u64> = TableDefinition::new("block_hashes");
/// "genesis" → JSON of what genesis deployed.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// A mined block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    /// Its number.
    pub number: u64,
    /// Its header hash.
    pub hash: B256,
    /// The previous block's hash.
    pub parent_hash: B256,
    /// Unix seconds.
    pub timestamp: u64,
    /// Gas used by its transactions.
    pub gas_used: u64,
    /// Its transactions, in order.
    pub transactions: Vec<B256>,
}

/// A mined transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRecord {
    /// Its hash.
    pub hash: B256,
    /// The signed EIP-2718 bytes.
    pub raw: Bytes,
    /// The recovered sender.
    pub from: Address,
    /// The block that holds it.
    pub block_number: u64,
    /// Its index in the block.
    pub index: u64,
}

/// A log, as receipts carry it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// The emitting contract.
    pub address: Address,
    /// Its topics.
    pub topics: Vec<B256>,
    /// Its data.
    pub data: Bytes,
}

/// A transaction's receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRecord {
    /// The transaction.
    pub transaction_hash: B256,
    /// The block that holds it.
    pub block_number: u64,
    /// That block's hash.
    pub block_hash: B256,
    /// The sender.
    pub from: Address,
    /// The recipient (none for a deployment).
    pub to: Option<Address>,
    /// True if it succeeded, false if it reverted or halted.
    pub status: bool,
    /// Gas used.
    pub gas_used: u64,
    /// The gas price paid per unit.
    pub effective_gas_price: u128,
    /// The deployed contract, for a deployment.
    pub contract_address: Option<Address>,
    /// Logs emitted (empty when it failed).
    pub logs: Vec<LogRecord>,
    /// Its position in the block.
    #[serde(default)]
    pub index: u64,
    /// Gas used by the block up to and including it.
    #[serde(default)]
    pub cumulative_gas_used: u64,
    /// The block-wide index of its first log.
    #[serde(default)]
    pub first_log_index: u64,
}

/// What one block writes.
pub struct BlockWrite<'a> {
    /// The block.
    pub block: &'a BlockRecord,
    /// Its transactions with their receipts.
    pub transactions: &'a [(TransactionRecord, ReceiptRecord)],
    /// The state changes of its transactions, in order.
    pub changes: &'a [EvmState],
}

/// The embedded chain's database.
pub struct ChainStore {
    db: Database,
}

fn io<E: std::fmt::Display>(err: E) -> ChainError {
    ChainError::Storage(err.to_string())
}

fn encode_account(info: &AccountInfo) -> Vec<u8> {
    let mut out = Vec::with_capacity(72);
    out.extend_from_slice(&info.balance.to_be_bytes::<32>());
    out.extend_from_slice(&info.nonce.to_be_bytes());
    out.extend_from_slice(info.code_hash.as_slice());
    out
}

fn decode_account(bytes: &[u8]) -> ChainResult<AccountInfo> {
    if bytes.len() != 72 {
        return Err(ChainError::Storage(format!("account record of {} bytes, expected 72", bytes.len())));
    }
    let mut nonce = [0u8; 8];
    nonce.copy_from_slice(&bytes[32..40]);
    Ok(AccountInfo {
        balance: U256::from_be_slice(&bytes[..32]),
        nonce: u64::from_be_bytes(nonce),
        code_hash: B256::from_slice(&bytes[40..72]),
        ..Default::default()
    })
}

fn storage_key(address: &Address, slot: &U256) -> [u8; 52] {
    let mut key = [0u8; 52];
    key[..20].copy_from_slice(address.as_slice());
    key[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    key
}

impl ChainStore {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> ChainResult<ChainStore> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // The state lives in memory (`load_state`); the database is written
        // through and read at start, so its page cache can be small (redb's
        // default of 1 GiB grows with every block).
        let db = Database::builder().set_cache_size(32 << 20).create(path).map_err(io)?;
        let txn = db.begin_write().map_err(io)?;
        txn.open_table(ACCOUNTS).map_err(io)?;
        txn.open_table(CODE).map_err(io)?;
        txn.open_table(STORAGE).map_err(io)?;
        txn.open_table(BLOCKS).map_err(io)?;
        txn.open_table(BLOCK_HASHES).map_err(io)?;
        txn.open_table(TRANSACTIONS).map_err(io)?;
        txn.open_table(RECEIPTS).map_err(io)?;
        txn.open_table(META).map_err(io)?;
        txn.commit().map_err(io)?;
        Ok(ChainStore { db })
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> ChainResult<Option<Vec<u8>>> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(META).map_err(io)?;
        Ok(table.get(key).map_err(io)?.map(|v| v.value().to_vec()))
    }

    /// Writes genesis: the whole initial state, block 0 and its metadata, at once.
    pub fn write_genesis(&self, state: &[AccountState], block: &BlockRecord, meta: &[u8]) -> ChainResult<()> {
        let mut txn = self.db.begin_write().map_err(io)?;
        txn.set_durability(Durability::Immediate).map_err(io)?;
        {
            let mut accounts = txn.open_table(ACCOUNTS).map_err(io)?;
            let mut code = txn.open_table(CODE).map_err(io)?;
            let mut storage = txn.open_table(STORAGE).map_err(io)?;
            for account in state {
                let address = &account.address;
                accounts.insert(&address.0.0, encode_account(&account.info).as_slice()).map_err(io)?;
                if !account.code.is_empty() {
                    code.insert(&account.info.code_hash.0, account.code.as_ref()).map_err(io)?;
                }
                for (slot, value) in &account.storage {
                    storage.insert(&storage_key(address, slot), &value.to_be_bytes::<32>()).map_err(io)?;
                }
            }
            let json = serde_json::to_vec(block).map_err(io)?;
            txn.open_table(BLOCKS).map_err(io)?.insert(block.number, json.as_slice()).map_err(io)?;
            txn.open_table(BLOCK_HASHES).map_err(io)?.insert(&block.hash.0, block.number).map_err(io)?;
            txn.open_table(META).map_err(io)?.insert("genesis", meta).map_err(io)?;
        }
        txn.commit().map_err(io)
    }

    /// Writes a mined block with its transactions, receipts and state changes, durably.
    pub fn write_block(&self, write: &BlockWrite<'_>) -> ChainResult<()> {
        let mut txn = self.db.begin_write().map_err(io)?;
        txn.set_durability(Durability::Immediate).map_err(io)?;
        {
            let mut accounts = txn.open_table(ACCOUNTS).map_err(io)?;
            let mut code = txn.open_table(CODE).map_err(io)?;
            let mut storage = txn.open_table(STORAGE).map_err(io)?;
            for state in write.changes {
                for (address, account) in state {
                    if !account.is_touched() {
                        continue;
                    }
                    accounts.insert(&address.0.0, encode_account(&account.info).as_slice()).map_err(io)?;
                    if let Some(bytecode) = &account.info.code
                        && !bytecode.is_empty()
                    {
                        code.insert(&account.info.code_hash.0, bytecode.original_bytes().as_ref()).map_err(io)?;
                    }
                    for (slot, value) in account.changed_storage_slots() {
                        storage
                            .insert(&storage_key(address, slot), &value.present_value.to_be_bytes::<32>())
                            .map_err(io)?;
                    }
                }
            }
            let mut blocks = txn.open_table(BLOCKS).map_err(io)?;
            blocks.insert(write.block.number, serde_json::to_vec(write.block).map_err(io)?.as_slice()).map_err(io)?;
            txn.open_table(BLOCK_HASHES).map_err(io)?.insert(&write.block.hash.0, write.block.number).map_err(io)?;
            let mut transactions = txn.open_table(TRANSACTIONS).map_err(io)?;
            let mut receipts = txn.open_table(RECEIPTS).map_err(io)?;
            for (tx, receipt) in write.transactions {
                transactions.insert(&tx.hash.0, serde_json::to_vec(tx).map_err(io)?.as_slice()).map_err(io)?;
                receipts.insert(&tx.hash.0, serde_json::to_vec(receipt).map_err(io)?.as_slice()).map_err(io)?;
            }
        }
        txn.commit().map_err(io)
    }

    /// The whole state.
    pub fn load_state(&self) -> ChainResult<Vec<AccountState>> {
        let txn = self.db.begin_read().map_err(io)?;
        let accounts = txn.open_table(ACCOUNTS).map_err(io)?;
        let code = txn.open_table(CODE).map_err(io)?;
        let storage = txn.open_table(STORAGE).map_err(io)?;
        let mut out = Vec::new();
        for entry in accounts.iter().map_err(io)? {
            let (address, record) = entry.map_err(io)?;
            let address = Address::from(*address.value());
            let info = decode_account(record.value())?;
            let bytes =
                code.get(&info.code_hash.0).map_err(io)?.map(|c| Bytes::copy_from_slice(c.value())).unwrap_or_default();
            let mut low = [0u8; 52];
            low[..20].copy_from_slice(address.as_slice());
            let mut high = low;
            high[20..].fill(0xff);
            let mut slots = Vec::new();
            for slot in storage.range::<&[u8; 52]>(&low..=&high).map_err(io)? {
                let (key, value) = slot.map_err(io)?;
                slots.push((U256::from_be_slice(&key.value()[20..]), U256::from_be_bytes(*value.value())));
            }
            out.push(AccountState { address, info, code: bytes, storage: slots });
        }
        Ok(out)
    }

    /// The latest block.
    pub fn head(&self) -> ChainResult<Option<BlockRecord>> {
        let txn = self.db.begin_read().map_err(io)?;
        let blocks = txn.open_table(BLOCKS).map_err(io)?;
        let Some(entry) = blocks.last().map_err(io)? else {
            return Ok(None);
        };
        serde_json::from_slice(entry.1.value()).map(Some).map_err(io)
    }

    /// A block by number.
    pub fn block(&self, number: u64) -> ChainResult<Option<BlockRecord>> {
        let txn = self.db.begin_read().map_err(io)?;
        let blocks = txn.open_table(BLOCKS).map_err(io)?;
        let Some(json) = blocks.get(number).map_err(io)? else {
            return Ok(None);
        };
        serde_json::from_slice(json.value()).map(Some).map_err(io)
    }

    /// A block's number by its hash.
    pub fn block_number(&self, hash: &B256) -> ChainResult<Option<u64>> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(BLOCK_HASHES).map_err(io)?;
        Ok(table.get(&hash.0).map_err(io)?.map(|v| v.value()))
    }

    /// A transaction by hash.
    pub fn transaction(&self, hash: &B256) -> ChainResult<Option<TransactionRecord>> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(TRANSACTIONS).map_err(io)?;
        let Some(json) = table.get(&hash.0).map_err(io)? else {
            return Ok(None);
        };
        serde_json::from_slice(json.value()).map(Some).map_err(io)
    }

    /// A receipt by transaction hash.
    pub fn receipt(&self, hash: &B256) -> ChainResult<Option<ReceiptRecord>> {
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(RECEIPTS).map_err(io)?;
        let Some(json) = table.get(&hash.0).map_err(io)? else {
            return Ok(None);
        };
        serde_json::from_slice(json.value()).map(Some).map_err(io)
    }
}
