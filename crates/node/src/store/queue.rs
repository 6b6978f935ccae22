//! The settlement queue: paid claims in the order they were logged, each with its charge; which
//! of them wait for a quorum of verdicts, which a quorum judged valid (settleable) or invalid
//! (never settled, never charged), and the batch on its way to the chain.
//!
//! A claim settles at most once: a batch (queue positions, ids, signed transaction) is recorded
//! before its transaction is sent, and its receipts leave the queue in the same write that
//! records their settlement; after a crash the batch in flight is finished or re-sent.

use alloy_primitives::U256;
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use veritas_primitives::{Address, B256, Receipt, RegistrySnapshot, Verdict};

use super::{
    Origin, Store, StoreError, StoreResult, Timing, accounts, from_json, receipts, requests, timeline, to_json,
};

/// sequence → receipt id (32) ‖ paying account (20) ‖ fee (32), for receipts not yet settled.
const PENDING: TableDefinition<u64, &[u8]> = TableDefinition::new("queue");
/// "batch" → the batch being settled: written before its transaction is sent, removed when
/// its receipts are updated, so a crash in between resumes the same batch.
const INFLIGHT: TableDefinition<&str, &[u8]> = TableDefinition::new("inflight");
/// receipt id → its queue sequence, for claims waiting for a quorum of verdicts.
pub(super) const AWAITING: TableDefinition<&[u8; 32], u64> = TableDefinition::new("awaiting_verdicts");
/// receipt id → queue sequence, for claims a quorum judged valid and not yet settled.
const VERIFIED: TableDefinition<&[u8; 32], u64> = TableDefinition::new("verified");
/// receipt id → 1, for claims a quorum judged invalid: never settled, never charged.
pub(super) const REJECTED: TableDefinition<&[u8; 32], u8> = TableDefinition::new("rejected");

pub(super) fn create(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(PENDING)?;
    txn.open_table(INFLIGHT)?;
    txn.open_table(AWAITING)?;
    txn.open_table(VERIFIED)?;
    txn.open_table(REJECTED)?;
    Ok(())
}

/// Who pays for a receipt, and how much.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Charge {
    /// The paying account (its escrow in the settlement contract).
    pub payer: Address,
    /// The fee, in the token's smallest unit.
    pub fee: U256,
}

/// A receipt waiting for settlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Queued {
    /// Its position in the queue.
    pub sequence: u64,
    /// The receipt id.
    pub id: B256,
    /// Who pays for it.
    pub charge: Charge,
}

fn encode_queued(id: &B256, charge: &Charge) -> [u8; 84] {
    let mut out = [0u8; 84];
    out[..32].copy_from_slice(id.as_slice());
    out[32..52].copy_from_slice(charge.payer.as_slice());
    out[52..].copy_from_slice(&charge.fee.to_be_bytes::<32>());
    out
}

fn decode_queued(sequence: u64, bytes: &[u8]) -> StoreResult<Queued> {
    if bytes.len() != 84 {
        return Err(StoreError::BadEntry { sequence, len: bytes.len() });
    }
    Ok(Queued {
        sequence,
        id: B256::from_slice(&bytes[..32]),
        charge: Charge { payer: Address::from_slice(&bytes[32..52]), fee: U256::from_be_slice(&bytes[52..]) },
    })
}

/// A batch on its way to the chain.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InflightBatch {
    /// Pending-queue positions of its receipts, in batch order.
    pub sequences: Vec<u64>,
    /// Its receipt ids, in batch order.
    pub ids: Vec<B256>,
    /// The signed settlement transaction.
    pub raw_transaction: alloy_primitives::Bytes,
    /// Its hash.
    pub transaction: B256,
    /// Its nonce: once the sender's mined nonce passes it, an unmined transaction never will be.
    #[serde(default)]
    pub nonce: u64,
}

/// Every queued claim waits for verdicts (a log written before verdicts were collected).
pub(super) fn await_all_queued(txn: &WriteTransaction) -> StoreResult<()> {
    let pending = txn.open_table(PENDING)?;
    let mut awaiting = txn.open_table(AWAITING)?;
    for entry in pending.iter()? {
        let (k, v) = entry?;
        let queued = decode_queued(k.value(), v.value())?;
        awaiting.insert(&queued.id.0, queued.sequence)?;
    }
    Ok(())
}

/// Marks a claim as waiting for verdicts, at `sequence`.
pub(super) fn await_verdicts(txn: &WriteTransaction, id: &B256, sequence: u64) -> StoreResult<()> {
    txn.open_table(AWAITING)?.insert(&id.0, sequence)?;
    Ok(())
}

/// The settlement queue.
pub struct SettlementQueue<'a>(pub(super) &'a Store);

impl SettlementQueue<'_> {
    /// Appends a receipt and queues it for settlement, charged to `charge.payer`, durably.
    /// Appending the same receipt id twice is refused, so a claim is never queued twice.
    pub fn append(&self, receipt: &Receipt, charge: Charge, timing: Timing) -> StoreResult<()> {
        let id = receipt.id();
        self.0.write(|txn| {
            receipts::insert_new(txn, receipt)?;
            let mut pending = txn.open_table(PENDING)?;
            let next = pending.last()?.map_or(0, |(k, _)| k.value() + 1);
            pending.insert(next, encode_queued(&id, &charge).as_slice())?;
            drop(pending);
            await_verdicts(txn, &id, next)?;
            accounts::commit(txn, &charge)?;
            self.0.persist_sequence(txn, 0)?;
            timeline::note(txn, receipt, timing, Origin::Request)
        })
    }

    /// The ids waiting for settlement, oldest first, at most `limit`.
    pub fn pending(&self, limit: usize) -> StoreResult<Vec<B256>> {
        Ok(self.queued(limit)?.into_iter().map(|queued| queued.id).collect())
    }

    /// The oldest receipts waiting for settlement, with their positions and charges.
    pub fn queued(&self, limit: usize) -> StoreResult<Vec<Queued>> {
        let txn = self.0.read()?;
        let table = txn.open_table(PENDING)?;
        table
            .iter()?
            .take(limit)
            .map(|entry| {
                let (k, v) = entry?;
                decode_queued(k.value(), v.value())
            })
            .collect()
    }

    /// How many receipts wait for settlement.
    pub fn pending_count(&self) -> StoreResult<u64> {
        let txn = self.0.read()?;
        Ok(txn.open_table(PENDING)?.len()?)
    }

    /// Claims waiting for a quorum of verdicts, oldest first, at most `limit`.
    pub fn awaiting(&self, limit: usize) -> StoreResult<Vec<B256>> {
        let txn = self.0.read()?;
        let table = txn.open_table(AWAITING)?;
        let mut entries: Vec<(u64, B256)> = table
            .iter()?
            .map(|entry| entry.map(|(k, v)| (v.value(), B256::from(*k.value()))))
            .collect::<Result<_, _>>()?;
        entries.sort_unstable();
        Ok(entries.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    /// How many claims wait for a quorum of verdicts.
    pub fn awaiting_count(&self) -> StoreResult<u64> {
        let txn = self.0.read()?;
        Ok(txn.open_table(AWAITING)?.len()?)
    }

    /// Records a quorum's judgement of an awaiting claim, with the verdicts and the registry
    /// snapshot they were counted against, in one durable write: valid claims become
    /// settleable (a contract's: deliverable); invalid ones leave the queue and their charge is
    /// dropped (the payer does not pay for a lie). A claim not awaiting is left as it is.
    pub fn finish_verification(
        &self,
        id: &B256,
        verdicts: Vec<Verdict>,
        registry: RegistrySnapshot,
        valid: bool,
    ) -> StoreResult<()> {
        self.finish_verifications(vec![(*id, verdicts, valid)], &registry)
    }

    /// [`SettlementQueue::finish_verification`] of many claims judged against one registry
    /// snapshot, in one durable write.
    pub fn finish_verifications(
        &self,
        judged: Vec<(B256, Vec<Verdict>, bool)>,
        registry: &RegistrySnapshot,
    ) -> StoreResult<()> {
        if judged.is_empty() {
            return Ok(());
        }
        self.0.write(|txn| {
            for (id, verdicts, valid) in judged {
                finish_in(txn, &id, verdicts, registry, valid)?;
            }
            Ok(())
        })
    }

    /// The oldest queued claims a quorum judged valid, with their positions and charges.
    pub fn settleable(&self, limit: usize) -> StoreResult<Vec<Queued>> {
        let txn = self.0.read()?;
        let verified = txn.open_table(VERIFIED)?;
        let mut sequences: Vec<u64> =
            verified.iter()?.map(|entry| entry.map(|(_, v)| v.value())).collect::<Result<_, _>>()?;
        sequences.sort_unstable();
        let pending = txn.open_table(PENDING)?;
        let mut out = Vec::new();
        for sequence in sequences.into_iter().take(limit) {
            if let Some(entry) = pending.get(sequence)? {
                out.push(decode_queued(sequence, entry.value())?);
            }
        }
        Ok(out)
    }

    /// The batch being settled, if any.
    pub fn inflight(&self) -> StoreResult<Option<InflightBatch>> {
        let txn = self.0.read()?;
        let table = txn.open_table(INFLIGHT)?;
        let Some(json) = table.get("batch")? else { return Ok(None) };
        Ok(Some(from_json("batch in flight", json.value())?))
    }

    /// Records a batch before its transaction is sent.
    pub fn begin_batch(&self, batch: &InflightBatch) -> StoreResult<()> {
        let json = to_json("batch in flight", batch)?;
        self.0.write(|txn| {
            txn.open_table(INFLIGHT)?.insert("batch", json.as_slice())?;
            Ok(())
        })
    }

    /// Finishes a settled batch: writes its receipts (now with their settlement), takes them off
    /// the queue and forgets the in-flight record, in one durable transaction.
    pub fn finish_batch(&self, batch: &InflightBatch, settled: &[Receipt]) -> StoreResult<()> {
        self.0.write(|txn| {
            for receipt in settled {
                receipts::update(txn, receipt)?;
            }
            let mut verified = txn.open_table(VERIFIED)?;
            for id in &batch.ids {
                verified.remove(&id.0)?;
            }
            let mut pending = txn.open_table(PENDING)?;
            for sequence in &batch.sequences {
                let Some(entry) = pending.remove(sequence)?.map(|v| v.value().to_vec()) else { continue };
                accounts::release(txn, &decode_queued(*sequence, &entry)?.charge)?;
            }
            txn.open_table(INFLIGHT)?.remove("batch")?;
            Ok(())
        })
    }

    /// Drops an in-flight batch whose transaction never made it (its receipts stay queued).
    pub fn abandon_batch(&self) -> StoreResult<()> {
        self.0.write(|txn| {
            txn.open_table(INFLIGHT)?.remove("batch")?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use veritas_primitives::WorkerKey;

    use super::*;
    use crate::store::tests::receipt;

    fn charge() -> Charge {
        Charge { payer: Address::repeat_byte(7), fee: U256::from(5u64) }
    }

    #[test]
    fn receipts_survive_reopening_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims.redb");
        let key = WorkerKey::random();
        let mut ids = Vec::new();
        {
            let store = Store::open(&path).unwrap();
            for _ in 0..3 {
                let r = receipt(&key, store.receipts().next_request_id(&key.address()));
                store.settlement().append(&r, charge(), Timing::default()).unwrap();
                ids.push(r.id());
            }
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.receipts().len().unwrap(), 3);
        assert_eq!(store.settlement().pending(10).unwrap(), ids);
        assert_eq!(store.receipts().get(&ids[1]).unwrap().unwrap().id(), ids[1]);
        assert!(store.receipts().get(&B256::ZERO).unwrap().is_none());
        // Request ids keep counting after a restart, so they never repeat.
        let next = store.receipts().next_request_id(&key.address());
        let earlier: Vec<_> =
            ids.iter().map(|id| store.receipts().get(id).unwrap().unwrap().claim.request_id).collect();
        assert!(!earlier.contains(&next));
    }

    #[test]
    fn a_receipt_is_never_queued_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("claims.redb")).unwrap();
        let key = WorkerKey::random();
        let r = receipt(&key, B256::repeat_byte(1));
        store.settlement().append(&r, charge(), Timing::default()).unwrap();
        let err = store.settlement().append(&r, charge(), Timing::default()).unwrap_err();
        assert!(err.to_string().contains("already in the log"));
        assert_eq!(store.settlement().pending(10).unwrap().len(), 1);
        assert_eq!(store.accounts().committed(&charge().payer).unwrap(), charge().fee, "charged once");
    }
}

/// Records one quorum's judgement inside a write (see [`SettlementQueue::finish_verification`]).
fn finish_in(
    txn: &WriteTransaction,
    id: &B256,
    verdicts: Vec<Verdict>,
    registry: &RegistrySnapshot,
    valid: bool,
) -> StoreResult<()> {
    let Some(sequence) = txn.open_table(AWAITING)?.remove(&id.0)?.map(|v| v.value()) else { return Ok(()) };
    timeline::count_verdicts(txn, &verdicts)?;
    if let Some(mut receipt) = receipts::get_in(txn, id)? {
        receipt.verdicts = verdicts;
        receipt.body.registry = Some(registry.clone());
        receipts::update(txn, &receipt)?;
    }
    if let Some(request) = requests::request_of(txn, id)? {
        // A contract's request: paid from its escrow on delivery, never batched.
        if valid {
            requests::to_deliver(txn, id, request)?;
        } else {
            txn.open_table(REJECTED)?.insert(&id.0, 1)?;
        }
    } else if valid {
        txn.open_table(VERIFIED)?.insert(&id.0, sequence)?;
    } else {
        txn.open_table(REJECTED)?.insert(&id.0, 1)?;
        let entry = txn.open_table(PENDING)?.remove(sequence)?.map(|v| v.value().to_vec());
        if let Some(entry) = entry {
            accounts::release(txn, &decode_queued(sequence, &entry)?.charge)?;
        }
    }
    Ok(())
}
