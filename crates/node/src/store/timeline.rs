//! The claim log's timeline, for the explorer: every logged claim in order with when it was
//! logged and how long its answer took, and how many claims each worker served and how many
//! verdicts each validator gave. It is written in the same transaction as the claim or the
//! verdicts it counts, so it never disagrees with the log; claims logged before the timeline
//! existed are simply not in it.

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use veritas_primitives::{Address, B256, Receipt};

pub use veritas_wire::{Activity, Entry, Judged, Origin};

use super::{
    Store, StoreResult,
    queue::{AWAITING, REJECTED},
};

/// position → receipt id (32) ‖ logged at, Unix milliseconds (8) ‖ latency, microseconds (8)
/// ‖ kind (1).
const TIMELINE: TableDefinition<u64, &[u8]> = TableDefinition::new("timeline");
/// worker address → claims of its in this log.
const SERVED_BY: TableDefinition<&[u8; 20], u64> = TableDefinition::new("served_by");
/// validator address → verdicts of its that counted in a quorum here: valid (8) ‖ invalid (8).
const JUDGED_BY: TableDefinition<&[u8; 20], &[u8; 16]> = TableDefinition::new("judged_by");

const ENTRY_LEN: usize = 32 + 8 + 8 + 1;

pub(super) fn create(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(TIMELINE)?;
    txn.open_table(SERVED_BY)?;
    txn.open_table(JUDGED_BY)?;
    Ok(())
}

fn origin_byte(origin: Origin) -> u8 {
    match origin {
        Origin::Request => 0,
        Origin::Contract => 1,
        Origin::Recorded => 2,
    }
}

fn origin_of(byte: u8) -> Origin {
    match byte {
        0 => Origin::Request,
        1 => Origin::Contract,
        _ => Origin::Recorded,
    }
}

/// A claim's timing, as it is logged.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing {
    /// When it was logged, Unix milliseconds.
    pub logged_ms: u64,
    /// From the request's arrival to the signed claim, microseconds.
    pub latency_us: u64,
}

impl Timing {
    /// Logged now, for a request that arrived at `started`.
    pub fn since(started: std::time::Instant) -> Timing {
        Timing { logged_ms: now_ms(), latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX) }
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Adds a claim to the timeline and counts it for its worker, inside the caller's transaction.
pub(super) fn note(txn: &WriteTransaction, receipt: &Receipt, timing: Timing, origin: Origin) -> StoreResult<()> {
    let mut timeline = txn.open_table(TIMELINE)?;
    let next = timeline.last()?.map_or(0, |(k, _)| k.value() + 1);
    let mut entry = [0u8; ENTRY_LEN];
    entry[..32].copy_from_slice(receipt.id().as_slice());
    entry[32..40].copy_from_slice(&timing.logged_ms.to_be_bytes());
    entry[40..48].copy_from_slice(&timing.latency_us.to_be_bytes());
    entry[48] = origin_byte(origin);
    timeline.insert(next, entry.as_slice())?;
    let mut served = txn.open_table(SERVED_BY)?;
    let worker = &receipt.claim.worker.0.0;
    let before = served.get(worker)?.map_or(0, |v| v.value());
    served.insert(worker, before + 1)?;
    Ok(())
}

/// Counts the verdicts of a quorum for their validators, inside the caller's transaction.
pub(super) fn count_verdicts(txn: &WriteTransaction, verdicts: &[veritas_primitives::Verdict]) -> StoreResult<()> {
    let mut judged = txn.open_table(JUDGED_BY)?;
    for verdict in verdicts {
        let key = &verdict.validator.0.0;
        let (mut valid, mut invalid) = judged.get(key)?.map_or((0, 0), |v| split(v.value()));
        if verdict.valid {
            valid += 1;
        } else {
            invalid += 1;
        }
        let mut value = [0u8; 16];
        value[..8].copy_from_slice(&valid.to_be_bytes());
        value[8..].copy_from_slice(&invalid.to_be_bytes());
        judged.insert(key, &value)?;
    }
    Ok(())
}

fn split(value: &[u8; 16]) -> (u64, u64) {
    let mut valid = [0u8; 8];
    let mut invalid = [0u8; 8];
    valid.copy_from_slice(&value[..8]);
    invalid.copy_from_slice(&value[8..]);
    (u64::from_be_bytes(valid), u64::from_be_bytes(invalid))
}

/// The explorer's record.
pub struct Timeline<'a>(pub(super) &'a Store);

impl Timeline<'_> {
    /// The latest claims, newest first, at most `limit`, all before position `before` if given.
    pub fn recent(&self, limit: usize, before: Option<u64>) -> StoreResult<Vec<Entry>> {
        self.entries_back(before, limit, 0)
    }

    /// Every claim logged at or after `since_ms` (Unix milliseconds), newest first, at most
    /// `limit`.
    pub fn since(&self, since_ms: u64, limit: usize) -> StoreResult<Vec<Entry>> {
        self.entries_back(None, limit, since_ms)
    }

    /// Claims from the newest (before `before`) back, at most `limit`, none logged before
    /// `since_ms`.
    fn entries_back(&self, before: Option<u64>, limit: usize, since_ms: u64) -> StoreResult<Vec<Entry>> {
        let txn = self.0.read()?;
        let timeline = txn.open_table(TIMELINE)?;
        let awaiting = txn.open_table(AWAITING)?;
        let rejected = txn.open_table(REJECTED)?;
        let mut out = Vec::new();
        for item in timeline.range(..before.unwrap_or(u64::MAX))?.rev() {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            let Some(entry) = decode(k.value(), v.value()) else { continue };
            if entry.logged_ms < since_ms {
                break;
            }
            let judged = match entry.origin {
                Origin::Recorded => Judged::NotHere,
                _ if awaiting.get(&entry.id.0)?.is_some() => Judged::Pending,
                _ if rejected.get(&entry.id.0)?.is_some() => Judged::Invalid,
                _ => Judged::Valid,
            };
            out.push(Entry { judged, ..entry });
        }
        Ok(out)
    }

    /// How many claims are on the timeline.
    pub fn len(&self) -> StoreResult<u64> {
        let txn = self.0.read()?;
        Ok(txn.open_table(TIMELINE)?.len()?)
    }

    /// Whether the timeline is empty.
    pub fn is_empty(&self) -> StoreResult<bool> {
        Ok(self.len()? == 0)
    }

    /// What `node` did, as this log counts it.
    pub fn activity(&self, node: &Address) -> StoreResult<Activity> {
        let txn = self.0.read()?;
        let claims = txn.open_table(SERVED_BY)?.get(&node.0.0)?.map_or(0, |v| v.value());
        let (verdicts_valid, verdicts_invalid) =
            txn.open_table(JUDGED_BY)?.get(&node.0.0)?.map_or((0, 0), |v| split(v.value()));
        Ok(Activity { claims, verdicts_valid, verdicts_invalid })
    }
}

fn decode(position: u64, bytes: &[u8]) -> Option<Entry> {
    let bytes: &[u8; ENTRY_LEN] = bytes.try_into().ok()?;
    let mut logged = [0u8; 8];
    let mut latency = [0u8; 8];
    logged.copy_from_slice(&bytes[32..40]);
    latency.copy_from_slice(&bytes[40..48]);
    Some(Entry {
        position,
        id: B256::from_slice(&bytes[..32]),
        logged_ms: u64::from_be_bytes(logged),
        latency_us: u64::from_be_bytes(latency),
        origin: origin_of(bytes[48]),
        judged: Judged::NotHere,
    })
}

#[cfg(test)]
mod tests {
    use alloy_primitives::Bytes;
    use veritas_primitives::{RegistrySnapshot, Verdict, WorkerKey};

    use super::*;
    use crate::store::{Charge, tests::receipt};

    fn timing(logged_ms: u64) -> Timing {
        Timing { logged_ms, latency_us: logged_ms * 10 }
    }

    fn verdict(validator: Address, valid: bool) -> Verdict {
        Verdict { validator, valid, check: veritas_primitives::Check::Signed, signature: Bytes::new() }
    }

    #[test]
    fn the_timeline_lists_claims_newest_first_with_their_state_and_counts_who_did_what() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims.redb");
        let (alice, bob) = (WorkerKey::random(), WorkerKey::random());
        let charge = Charge { payer: Address::repeat_byte(7), fee: alloy_primitives::U256::from(1) };
        let receipts: Vec<Receipt> =
            (0..5u8).map(|i| receipt(if i % 2 == 0 { &alice } else { &bob }, B256::repeat_byte(i))).collect();
        let (v1, v2) = (Address::repeat_byte(1), Address::repeat_byte(2));
        {
            let store = Store::open(&path).unwrap();
            let log = store.settlement();
            for (i, receipt) in receipts.iter().enumerate() {
                log.append(receipt, charge, timing(1_000 * (i as u64 + 1))).unwrap();
            }
            let snapshot = RegistrySnapshot { registry: Default::default(), block: 1, validators: Default::default() };
            let valid = vec![verdict(v1, true), verdict(v2, true)];
            log.finish_verification(&receipts[0].id(), valid, snapshot.clone(), true).unwrap();
            let invalid = vec![verdict(v1, false), verdict(v2, true)];
            log.finish_verification(&receipts[1].id(), invalid, snapshot, false).unwrap();
        }
        // Reopened: the timeline and counts are durable.
        let store = Store::open(&path).unwrap();
        let log = store.timeline();
        let recent = log.recent(3, None).unwrap();
        let ids: Vec<B256> = recent.iter().map(|e| e.id).collect();
        assert_eq!(ids, [receipts[4].id(), receipts[3].id(), receipts[2].id()]);
        assert_eq!(recent[0].logged_ms, 5_000);
        assert_eq!(recent[0].latency_us, 50_000);
        assert_eq!(recent[0].origin, Origin::Request);
        assert!(recent.iter().all(|e| e.judged == Judged::Pending));
        // The next page starts before the last position seen.
        let older = log.recent(10, Some(recent[2].position)).unwrap();
        assert_eq!(older.iter().map(|e| e.id).collect::<Vec<_>>(), [receipts[1].id(), receipts[0].id()]);
        assert_eq!(older[0].judged, Judged::Invalid);
        assert_eq!(older[1].judged, Judged::Valid);
        // A window in time.
        let since = log.since(3_000, 100).unwrap();
        assert_eq!(since.len(), 3);
        assert!(since.iter().all(|e| e.logged_ms >= 3_000));
        assert_eq!(log.since(3_000, 2).unwrap().len(), 2);
        assert_eq!(log.len().unwrap(), 5);
        // Who did what.
        assert_eq!(log.activity(&alice.address()).unwrap().claims, 3);
        assert_eq!(log.activity(&bob.address()).unwrap().claims, 2);
        let first = log.activity(&v1).unwrap();
        assert_eq!((first.verdicts_valid, first.verdicts_invalid), (1, 1));
        let second = log.activity(&v2).unwrap();
        assert_eq!((second.verdicts_valid, second.verdicts_invalid), (2, 0));
        assert_eq!(log.activity(&Address::repeat_byte(9)).unwrap(), Activity::default());
    }

    #[test]
    fn an_inference_nodes_own_records_are_not_judged_here() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("claims.redb")).unwrap();
        let receipt = receipt(&WorkerKey::random(), B256::repeat_byte(1));
        store.receipts().record(&receipt, timing(1)).unwrap();
        let entry = store.timeline().recent(1, None).unwrap()[0];
        assert_eq!((entry.origin, entry.judged), (Origin::Recorded, Judged::NotHere));
    }
}
