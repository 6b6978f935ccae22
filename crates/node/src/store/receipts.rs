//! Receipts by id: every claim the node signed or logged, with its verdicts and settlement as
//! they are added. Request ids come from a persisted counter, not from randomness.

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use veritas_primitives::{Address, B256, Receipt, keccak256};

use super::{Origin, Store, StoreError, StoreResult, Timing, from_json, timeline, to_json};

/// receipt id → receipt JSON.
const RECEIPTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("receipts");

pub(super) fn create(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(RECEIPTS)?;
    Ok(())
}

/// Inserts a receipt that is not in the log yet.
pub(super) fn insert_new(txn: &WriteTransaction, receipt: &Receipt) -> StoreResult<()> {
    let id = receipt.id();
    let json = to_json("receipt", receipt)?;
    let mut receipts = txn.open_table(RECEIPTS)?;
    if receipts.get(&id.0)?.is_some() {
        return Err(StoreError::Duplicate(id));
    }
    receipts.insert(&id.0, json.as_slice())?;
    Ok(())
}

/// Writes a receipt over its earlier version (verdicts or settlement added).
pub(super) fn update(txn: &WriteTransaction, receipt: &Receipt) -> StoreResult<()> {
    let json = to_json("receipt", receipt)?;
    txn.open_table(RECEIPTS)?.insert(&receipt.id().0, json.as_slice())?;
    Ok(())
}

/// A receipt by id, inside a write.
pub(super) fn get_in(txn: &WriteTransaction, id: &B256) -> StoreResult<Option<Receipt>> {
    let table = txn.open_table(RECEIPTS)?;
    let json = table.get(&id.0)?.map(|v| v.value().to_vec());
    json.map(|json| from_json("receipt", &json)).transpose()
}

/// Receipts by id.
pub struct Receipts<'a>(pub(super) &'a Store);

impl Receipts<'_> {
    /// A receipt by id.
    pub fn get(&self, id: &B256) -> StoreResult<Option<Receipt>> {
        let txn = self.0.read()?;
        let table = txn.open_table(RECEIPTS)?;
        let Some(json) = table.get(&id.0)? else { return Ok(None) };
        Ok(Some(from_json("receipt", json.value())?))
    }

    /// A receipt by id, with the size of its stored JSON.
    pub fn get_sized(&self, id: &B256) -> StoreResult<Option<(Receipt, usize)>> {
        let txn = self.0.read()?;
        let table = txn.open_table(RECEIPTS)?;
        let Some(json) = table.get(&id.0)? else { return Ok(None) };
        let json = json.value();
        Ok(Some((from_json("receipt", json)?, json.len())))
    }

    /// How many receipts the log holds.
    pub fn len(&self) -> StoreResult<u64> {
        let txn = self.0.read()?;
        Ok(txn.open_table(RECEIPTS)?.len()?)
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> StoreResult<bool> {
        Ok(self.len()? == 0)
    }

    /// Reserves the next sequence number and derives a request id from it and the worker:
    /// unique per worker without any randomness.
    pub fn next_request_id(&self, worker: &Address) -> B256 {
        let sequence = self.0.take_sequence();
        let mut preimage = Vec::with_capacity(28);
        preimage.extend_from_slice(worker.as_slice());
        preimage.extend_from_slice(&sequence.to_be_bytes());
        keccak256(preimage)
    }

    /// Records a receipt that this node does not settle (an inference node's: its gateway
    /// queues and settles it), durably.
    pub fn record(&self, receipt: &Receipt, timing: Timing) -> StoreResult<()> {
        self.0.write(|txn| {
            insert_new(txn, receipt)?;
            self.0.persist_sequence(txn, 0)?;
            timeline::note(txn, receipt, timing, Origin::Recorded)
        })
    }
}
