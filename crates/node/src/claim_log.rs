//! The claim log: every receipt the node signs, on disk before its response leaves.
//!
//! It is also the queue that settlement drains: `pending` holds, in order, the receipts not yet
//! settled. A write is one redb transaction with immediate durability, so a crash after a
//! response means the claim is on disk, and a crash before means no response was sent.

use std::{
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
};

use alloy_primitives::U256;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use veritas_primitives::{Address, B256, Receipt, keccak256};

use crate::{NodeError, NodeResult};

mod requests;
mod timeline;
pub use requests::Served;
pub use timeline::{Activity, Entry, Judged, Origin, Timing, now_ms};

/// receipt id → receipt JSON.
const RECEIPTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("receipts");
/// sequence → receipt id (32) ‖ paying account (20) ‖ fee (32), for receipts not yet settled.
const PENDING: TableDefinition<u64, &[u8]> = TableDefinition::new("queue");
/// paying account → the fees of its queued receipts (32 bytes, big-endian).
const COMMITTED: TableDefinition<&[u8; 20], &[u8; 32]> = TableDefinition::new("committed");
/// SHA-256 of an API key → the account it pays from.
const API_KEYS: TableDefinition<&[u8; 32], &[u8; 20]> = TableDefinition::new("api_keys");
/// "next_sequence" → the next sequence number.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// "batch" → the batch being settled: written before its transaction is sent, removed when
/// its receipts are updated, so a crash in between resumes the same batch.
const INFLIGHT: TableDefinition<&str, &[u8]> = TableDefinition::new("inflight");

/// receipt id → its queue sequence, for claims waiting for a quorum of verdicts.
const AWAITING: TableDefinition<&[u8; 32], u64> = TableDefinition::new("awaiting_verdicts");
/// receipt id → queue sequence, for claims a quorum judged valid and not yet settled.
const VERIFIED: TableDefinition<&[u8; 32], u64> = TableDefinition::new("verified");
/// receipt id → 1, for claims a quorum judged invalid: never settled, never charged.
const REJECTED: TableDefinition<&[u8; 32], u8> = TableDefinition::new("rejected");
/// receipt id → the on-chain request id, for claims that answer a contract's request.
const CONTRACT: TableDefinition<&[u8; 32], u64> = TableDefinition::new("contract_claims");
/// on-chain request id → the receipt id answering it (32 bytes), or why it was not served
/// (UTF-8): each request is served once.
const SERVED: TableDefinition<u64, &[u8]> = TableDefinition::new("served_requests");
/// receipt id → on-chain request id, for contract claims a quorum judged valid, not delivered.
const FULFILL: TableDefinition<&[u8; 32], u64> = TableDefinition::new("to_fulfill");

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

fn decode_queued(sequence: u64, bytes: &[u8]) -> NodeResult<Queued> {
    if bytes.len() != 84 {
        return Err(NodeError::ClaimLog(format!("queue entry {sequence} has {} bytes, expected 84", bytes.len())));
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

/// The node's durable log of signed claims.
pub struct ClaimLog {
    db: Database,
    /// The next request sequence number. Persisted with each append: a number handed out but
    /// never appended (a crash in between) may be handed out again, which is harmless because
    /// no answer ever carried it.
    next_sequence: AtomicU64,
}

impl ClaimLog {
    /// Opens (or creates) the log at `path`.
    pub fn open(path: &Path) -> NodeResult<ClaimLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(RECEIPTS)?;
        txn.open_table(PENDING)?;
        txn.open_table(META)?;
        txn.open_table(INFLIGHT)?;
        txn.open_table(COMMITTED)?;
        txn.open_table(API_KEYS)?;
        txn.open_table(VERIFIED)?;
        txn.open_table(REJECTED)?;
        txn.open_table(CONTRACT)?;
        txn.open_table(SERVED)?;
        txn.open_table(FULFILL)?;
        txn.open_table(timeline::TIMELINE)?;
        txn.open_table(timeline::SERVED_BY)?;
        txn.open_table(timeline::JUDGED_BY)?;
        let mut awaiting = txn.open_table(AWAITING)?;
        // Logs written before verdicts were collected: their queued claims wait for verdicts.
        if txn.open_table(META)?.get("verification")?.is_none() {
            let pending = txn.open_table(PENDING)?;
            for entry in pending.iter()? {
                let (k, v) = entry?;
                let queued = decode_queued(k.value(), v.value())?;
                awaiting.insert(&queued.id.0, queued.sequence)?;
            }
            txn.open_table(META)?.insert("verification", 1)?;
        }
        drop(awaiting);
        txn.commit()?;
        let next_sequence = {
            let txn = db.begin_read()?;
            let meta = txn.open_table(META)?;
            meta.get("next_sequence")?.map_or(0, |v| v.value())
        };
        Ok(ClaimLog { db, next_sequence: AtomicU64::new(next_sequence) })
    }

    /// Reserves the next sequence number and derives a request id from it and the worker:
    /// unique per worker without any randomness.
    pub fn next_request_id(&self, worker: &Address) -> B256 {
        let sequence = self.next_sequence.fetch_add(1, Ordering::SeqCst);
        let mut preimage = Vec::with_capacity(28);
        preimage.extend_from_slice(worker.as_slice());
        preimage.extend_from_slice(&sequence.to_be_bytes());
        keccak256(preimage)
    }

    /// Appends a receipt and queues it for settlement, charged to `charge.payer`, durably.
    /// Appending the same receipt id twice is refused, so a claim is never queued twice.
    pub fn append(&self, receipt: &Receipt, charge: Charge, timing: Timing) -> NodeResult<()> {
        self.write(receipt, Some(charge), timing)
    }

    /// Records a receipt that this node does not settle (an inference node's: its gateway
    /// queues and settles it), durably.
    pub fn record(&self, receipt: &Receipt, timing: Timing) -> NodeResult<()> {
        self.write(receipt, None, timing)
    }

    fn write(&self, receipt: &Receipt, charge: Option<Charge>, timing: Timing) -> NodeResult<()> {
        let id = receipt.id();
        let json = serde_json::to_vec(receipt).map_err(|err| NodeError::ClaimLog(err.to_string()))?;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut receipts = txn.open_table(RECEIPTS)?;
            if receipts.get(&id.0)?.is_some() {
                return Err(NodeError::ClaimLog(format!("receipt {id} is already in the log")));
            }
            receipts.insert(&id.0, json.as_slice())?;
            if let Some(charge) = charge {
                let mut pending = txn.open_table(PENDING)?;
                let next = pending.last()?.map_or(0, |(k, _)| k.value() + 1);
                pending.insert(next, encode_queued(&id, &charge).as_slice())?;
                txn.open_table(AWAITING)?.insert(&id.0, next)?;
                let mut committed = txn.open_table(COMMITTED)?;
                let before = committed.get(&charge.payer.0.0)?.map_or(U256::ZERO, |v| U256::from_be_bytes(*v.value()));
                committed.insert(&charge.payer.0.0, &(before + charge.fee).to_be_bytes::<32>())?;
            }
            let mut meta = txn.open_table(META)?;
            let stored = meta.get("next_sequence")?.map_or(0, |v| v.value());
            meta.insert("next_sequence", stored.max(self.next_sequence.load(Ordering::SeqCst)))?;
            let origin = if charge.is_some() { Origin::Request } else { Origin::Recorded };
            timeline::note(&txn, receipt, timing, origin)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The fees of `payer`'s receipts not yet settled.
    pub fn committed(&self, payer: &Address) -> NodeResult<U256> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(COMMITTED)?;
        Ok(table.get(&payer.0.0)?.map_or(U256::ZERO, |v| U256::from_be_bytes(*v.value())))
    }

    /// Stores an API key's hash for `account`.
    pub fn add_api_key(&self, hash: &B256, account: &Address) -> NodeResult<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(API_KEYS)?.insert(&hash.0, &account.0.0)?;
        txn.commit()?;
        Ok(())
    }

    /// The account an API key (by its hash) pays from.
    pub fn api_key_account(&self, hash: &B256) -> NodeResult<Option<Address>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(API_KEYS)?;
        Ok(table.get(&hash.0)?.map(|v| Address::from(*v.value())))
    }

    /// A receipt by id.
    pub fn get(&self, id: &B256) -> NodeResult<Option<Receipt>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(RECEIPTS)?;
        let Some(json) = table.get(&id.0)? else {
            return Ok(None);
        };
        let receipt = serde_json::from_slice(json.value()).map_err(|err| NodeError::ClaimLog(err.to_string()))?;
        Ok(Some(receipt))
    }

    /// The ids waiting for settlement, oldest first, at most `limit`.
    pub fn pending(&self, limit: usize) -> NodeResult<Vec<B256>> {
        Ok(self.queued(limit)?.into_iter().map(|queued| queued.id).collect())
    }

    /// The oldest receipts waiting for settlement, with their positions and charges.
    pub fn queued(&self, limit: usize) -> NodeResult<Vec<Queued>> {
        let txn = self.db.begin_read()?;
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

    /// Claims waiting for a quorum of verdicts, at most `limit`.
    pub fn awaiting(&self, limit: usize) -> NodeResult<Vec<B256>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(AWAITING)?;
        let mut entries: Vec<(u64, B256)> = table
            .iter()?
            .map(|entry| entry.map(|(k, v)| (v.value(), B256::from(*k.value()))))
            .collect::<Result<_, _>>()?;
        entries.sort_unstable();
        Ok(entries.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    /// How many claims wait for a quorum of verdicts.
    pub fn awaiting_count(&self) -> NodeResult<u64> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(AWAITING)?.len()?)
    }

    /// Records a quorum's judgement of an awaiting claim, with the verdicts, in one durable
    /// write, with the registry snapshot it was counted against: valid claims become settleable; invalid ones leave the queue and their charge is
    /// dropped (the payer does not pay for a lie). A claim not awaiting is left as it is.
    pub fn finish_verification(
        &self,
        id: &B256,
        verdicts: Vec<veritas_primitives::Verdict>,
        registry: veritas_primitives::RegistrySnapshot,
        valid: bool,
    ) -> NodeResult<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut awaiting = txn.open_table(AWAITING)?;
            let Some(sequence) = awaiting.remove(&id.0)?.map(|v| v.value()) else { return Ok(()) };
            timeline::count_verdicts(&txn, &verdicts)?;
            let mut receipts = txn.open_table(RECEIPTS)?;
            let json = receipts.get(&id.0)?.map(|v| v.value().to_vec());
            if let Some(json) = json {
                let mut receipt: Receipt =
                    serde_json::from_slice(&json).map_err(|err| NodeError::ClaimLog(err.to_string()))?;
                receipt.verdicts = verdicts;
                receipt.body.registry = Some(registry);
                let json = serde_json::to_vec(&receipt).map_err(|err| NodeError::ClaimLog(err.to_string()))?;
                receipts.insert(&id.0, json.as_slice())?;
            }
            let request = txn.open_table(CONTRACT)?.get(&id.0)?.map(|v| v.value());
            if let Some(request) = request {
                // A contract's request: paid from its escrow on delivery, never batched.
                if valid {
                    txn.open_table(FULFILL)?.insert(&id.0, request)?;
                } else {
                    txn.open_table(REJECTED)?.insert(&id.0, 1)?;
                }
            } else if valid {
                txn.open_table(VERIFIED)?.insert(&id.0, sequence)?;
            } else {
                txn.open_table(REJECTED)?.insert(&id.0, 1)?;
                let mut pending = txn.open_table(PENDING)?;
                let entry = pending.remove(sequence)?.map(|v| v.value().to_vec());
                if let Some(entry) = entry {
                    let charge = decode_queued(sequence, &entry)?.charge;
                    let mut committed = txn.open_table(COMMITTED)?;
                    release(&mut committed, &charge)?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// The oldest queued claims a quorum judged valid, with their positions and charges.
    pub fn settleable(&self, limit: usize) -> NodeResult<Vec<Queued>> {
        let txn = self.db.begin_read()?;
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
    pub fn inflight(&self) -> NodeResult<Option<InflightBatch>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(INFLIGHT)?;
        let Some(json) = table.get("batch")? else {
            return Ok(None);
        };
        serde_json::from_slice(json.value()).map(Some).map_err(|err| NodeError::ClaimLog(err.to_string()))
    }

    /// Records a batch before its transaction is sent.
    pub fn begin_batch(&self, batch: &InflightBatch) -> NodeResult<()> {
        let json = serde_json::to_vec(batch).map_err(|err| NodeError::ClaimLog(err.to_string()))?;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(INFLIGHT)?.insert("batch", json.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Finishes a settled batch: writes its receipts (now with their settlement), takes them off
    /// the queue and forgets the in-flight record, in one durable transaction.
    pub fn finish_batch(&self, batch: &InflightBatch, receipts: &[Receipt]) -> NodeResult<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut table = txn.open_table(RECEIPTS)?;
            for receipt in receipts {
                let json = serde_json::to_vec(receipt).map_err(|err| NodeError::ClaimLog(err.to_string()))?;
                table.insert(&receipt.id().0, json.as_slice())?;
            }
            let mut pending = txn.open_table(PENDING)?;
            let mut committed = txn.open_table(COMMITTED)?;
            let mut verified = txn.open_table(VERIFIED)?;
            for id in &batch.ids {
                verified.remove(&id.0)?;
            }
            for sequence in &batch.sequences {
                let Some(entry) = pending.remove(sequence)? else { continue };
                let charge = decode_queued(*sequence, entry.value())?.charge;
                drop(entry);
                release(&mut committed, &charge)?;
            }
            txn.open_table(INFLIGHT)?.remove("batch")?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Drops an in-flight batch whose transaction never made it (its receipts stay queued).
    pub fn abandon_batch(&self) -> NodeResult<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(INFLIGHT)?.remove("batch")?;
        txn.commit()?;
        Ok(())
    }

    /// How many receipts wait for settlement.
    pub fn pending_count(&self) -> NodeResult<u64> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(PENDING)?.len()?)
    }

    /// How many receipts the log holds.
    pub fn len(&self) -> NodeResult<u64> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(RECEIPTS)?.len()?)
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> NodeResult<bool> {
        Ok(self.len()? == 0)
    }
}

/// Takes a charge off its payer's committed total.
fn release(committed: &mut redb::Table<&[u8; 20], &[u8; 32]>, charge: &Charge) -> NodeResult<()> {
    let before = committed.get(&charge.payer.0.0)?.map_or(U256::ZERO, |v| U256::from_be_bytes(*v.value()));
    let after = before.saturating_sub(charge.fee);
    if after.is_zero() {
        committed.remove(&charge.payer.0.0)?;
    } else {
        committed.insert(&charge.payer.0.0, &after.to_be_bytes::<32>())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use veritas_primitives::{Claim, ClaimDomain, Mode, ModelId, WorkerKey};

    use super::*;

    pub(super) fn receipt(key: &WorkerKey, request_id: B256) -> Receipt {
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
            let log = ClaimLog::open(&path).unwrap();
            for _ in 0..3 {
                let r = receipt(&key, log.next_request_id(&key.address()));
                log.append(&r, charge(), Timing::default()).unwrap();
                ids.push(r.id());
            }
        }
        let log = ClaimLog::open(&path).unwrap();
        assert_eq!(log.len().unwrap(), 3);
        assert_eq!(log.pending(10).unwrap(), ids);
        assert_eq!(log.get(&ids[1]).unwrap().unwrap().id(), ids[1]);
        assert!(log.get(&B256::ZERO).unwrap().is_none());
        // Request ids keep counting after a restart, so they never repeat.
        let next = log.next_request_id(&key.address());
        let earlier: Vec<_> = ids.iter().map(|id| log.get(id).unwrap().unwrap().claim.request_id).collect();
        assert!(!earlier.contains(&next));
    }

    #[test]
    fn a_receipt_is_never_queued_twice() {
        let dir = tempfile::tempdir().unwrap();
        let log = ClaimLog::open(&dir.path().join("claims.redb")).unwrap();
        let key = WorkerKey::random();
        let r = receipt(&key, B256::repeat_byte(1));
        log.append(&r, charge(), Timing::default()).unwrap();
        assert!(log.append(&r, charge(), Timing::default()).unwrap_err().to_string().contains("already in the log"));
        assert_eq!(log.pending(10).unwrap().len(), 1);
    }
}
