//! Accounts: the API keys that name a paying account (stored as their SHA-256), and what each
//! payer's unsettled requests commit of its escrow.

use alloy_primitives::U256;
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use veritas_primitives::{Address, B256};

use super::{Charge, Store, StoreResult};

/// paying account → the fees of its queued receipts (32 bytes, big-endian).
const COMMITTED: TableDefinition<&[u8; 20], &[u8; 32]> = TableDefinition::new("committed");
/// SHA-256 of an API key → the account it pays from.
const API_KEYS: TableDefinition<&[u8; 32], &[u8; 20]> = TableDefinition::new("api_keys");

pub(super) fn create(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(COMMITTED)?;
    txn.open_table(API_KEYS)?;
    Ok(())
}

/// Adds a charge to its payer's committed total.
pub(super) fn commit(txn: &WriteTransaction, charge: &Charge) -> StoreResult<()> {
    let mut committed = txn.open_table(COMMITTED)?;
    let before = committed.get(&charge.payer.0.0)?.map_or(U256::ZERO, |v| U256::from_be_bytes(*v.value()));
    // Saturating: a payer committed past 2^256 can afford nothing more anyway (never wrapped
    // back to a small number that would let it spend again).
    committed.insert(&charge.payer.0.0, &before.saturating_add(charge.fee).to_be_bytes::<32>())?;
    Ok(())
}

/// Takes a charge off its payer's committed total.
pub(super) fn release(txn: &WriteTransaction, charge: &Charge) -> StoreResult<()> {
    let mut committed = txn.open_table(COMMITTED)?;
    let before = committed.get(&charge.payer.0.0)?.map_or(U256::ZERO, |v| U256::from_be_bytes(*v.value()));
    let after = before.saturating_sub(charge.fee);
    if after.is_zero() {
        committed.remove(&charge.payer.0.0)?;
    } else {
        committed.insert(&charge.payer.0.0, &after.to_be_bytes::<32>())?;
    }
    Ok(())
}

/// API keys and committed fees.
pub struct Accounts<'a>(pub(super) &'a Store);

impl Accounts<'_> {
    /// The fees of `payer`'s receipts not yet settled.
    pub fn committed(&self, payer: &Address) -> StoreResult<U256> {
        let txn = self.0.read()?;
        let table = txn.open_table(COMMITTED)?;
        Ok(table.get(&payer.0.0)?.map_or(U256::ZERO, |v| U256::from_be_bytes(*v.value())))
    }

    /// Stores an API key's hash for `account`.
    pub fn add_api_key(&self, hash: &B256, account: &Address) -> StoreResult<()> {
        self.0.write(|txn| {
            txn.open_table(API_KEYS)?.insert(&hash.0, &account.0.0)?;
            Ok(())
        })
    }

    /// The account an API key (by its hash) pays from.
    pub fn api_key_account(&self, hash: &B256) -> StoreResult<Option<Address>> {
        let txn = self.0.read()?;
        let table = txn.open_table(API_KEYS)?;
        Ok(table.get(&hash.0)?.map(|v| Address::from(*v.value())))
    }
}
