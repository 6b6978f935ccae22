//! Contracts' requests: which on-chain requests were served (by which receipt) or refused (and
//! why), how far the chain has been read, and which verified answers still wait to be
//! delivered. A request's claim waits for verdicts like any other, but it is paid from the
//! contract's escrow when delivered, so it never enters the settlement queue.

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use veritas_primitives::{B256, Receipt};

use super::{META, Origin, Store, StoreError, StoreResult, Timing, queue, receipts, timeline};

/// receipt id → the on-chain request id, for claims that answer a contract's request.
const CONTRACT: TableDefinition<&[u8; 32], u64> = TableDefinition::new("contract_claims");
/// on-chain request id → the receipt id answering it (32 bytes), or why it was not served
/// (UTF-8): each request is served once.
const SERVED: TableDefinition<u64, &[u8]> = TableDefinition::new("served_requests");
/// receipt id → on-chain request id, for contract claims a quorum judged valid, not delivered.
const FULFILL: TableDefinition<&[u8; 32], u64> = TableDefinition::new("to_fulfill");
/// on-chain request id → when serving it first failed for a passing reason (Unix seconds).
const FAILING: TableDefinition<u64, u64> = TableDefinition::new("failing_requests");

pub(super) fn create(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(CONTRACT)?;
    txn.open_table(SERVED)?;
    txn.open_table(FULFILL)?;
    txn.open_table(FAILING)?;
    Ok(())
}

/// The on-chain request a claim answers, inside a write.
pub(super) fn request_of(txn: &WriteTransaction, id: &B256) -> StoreResult<Option<u64>> {
    Ok(txn.open_table(CONTRACT)?.get(&id.0)?.map(|v| v.value()))
}

/// Lists a verified answer for delivery.
pub(super) fn to_deliver(txn: &WriteTransaction, id: &B256, request: u64) -> StoreResult<()> {
    txn.open_table(FULFILL)?.insert(&id.0, request)?;
    Ok(())
}

/// What the log knows of an on-chain request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Served {
    /// Answered by this receipt.
    Receipt(B256),
    /// Not served, for this reason (the requester is refunded after the deadline).
    Refused(String),
}

/// Contracts' requests.
pub struct ContractRequests<'a>(pub(super) &'a Store);

impl ContractRequests<'_> {
    /// Logs the receipt answering on-chain request `request`, waiting for verdicts; refused if
    /// the request has been served or refused already, so it is answered once.
    pub fn append(&self, receipt: &Receipt, request: u64, timing: Timing) -> StoreResult<()> {
        let id = receipt.id();
        self.0.write(|txn| {
            let mut served = txn.open_table(SERVED)?;
            if served.get(request)?.is_some() {
                return Err(StoreError::AlreadyAnswered(request));
            }
            served.insert(request, id.as_slice())?;
            drop(served);
            receipts::insert_new(txn, receipt)?;
            txn.open_table(CONTRACT)?.insert(&id.0, request)?;
            let sequence = self.0.take_sequence();
            queue::await_verdicts(txn, &id, sequence)?;
            self.0.persist_sequence(txn, sequence + 1)?;
            timeline::note(txn, receipt, timing, Origin::Contract)
        })
    }

    /// Records that on-chain request `request` will not be served, and why (unless it was).
    pub fn refuse(&self, request: u64, reason: &str) -> StoreResult<()> {
        self.0.write(|txn| {
            let mut served = txn.open_table(SERVED)?;
            if served.get(request)?.is_none() {
                served.insert(request, reason.as_bytes())?;
            }
            txn.open_table(FAILING)?.remove(request)?;
            Ok(())
        })
    }

    /// When serving on-chain request `request` first failed for a passing reason, recording
    /// `now` if this is the first time.
    pub fn failing_since(&self, request: u64, now: u64) -> StoreResult<u64> {
        self.0.write(|txn| {
            let mut failing = txn.open_table(FAILING)?;
            let since = failing.get(request)?.map(|v| v.value());
            match since {
                Some(since) => Ok(since),
                None => {
                    failing.insert(request, now)?;
                    Ok(now)
                }
            }
        })
    }

    /// What the log knows of on-chain request `request`.
    pub fn served(&self, request: u64) -> StoreResult<Option<Served>> {
        let txn = self.0.read()?;
        let table = txn.open_table(SERVED)?;
        let Some(value) = table.get(request)? else { return Ok(None) };
        let bytes = value.value();
        let claims = txn.open_table(CONTRACT)?;
        if let Ok(id) = <[u8; 32]>::try_from(bytes)
            && claims.get(&id)?.is_some()
        {
            return Ok(Some(Served::Receipt(B256::from(id))));
        }
        Ok(Some(Served::Refused(String::from_utf8_lossy(bytes).into_owned())))
    }

    /// The on-chain request a claim answers, if it answers one.
    pub fn request_of(&self, id: &B256) -> StoreResult<Option<u64>> {
        let txn = self.0.read()?;
        Ok(txn.open_table(CONTRACT)?.get(&id.0)?.map(|v| v.value()))
    }

    /// The first block not yet read for requests.
    pub fn cursor(&self) -> StoreResult<Option<u64>> {
        let txn = self.0.read()?;
        Ok(txn.open_table(META)?.get("requests_block")?.map(|v| v.value()))
    }

    /// Moves the request cursor to `block` (the first block not yet read).
    pub fn set_cursor(&self, block: u64) -> StoreResult<()> {
        self.0.write(|txn| {
            txn.open_table(META)?.insert("requests_block", block)?;
            Ok(())
        })
    }

    /// Verified answers to contracts' requests not delivered yet: (receipt id, request id).
    pub fn to_fulfill(&self, limit: usize) -> StoreResult<Vec<(B256, u64)>> {
        let txn = self.0.read()?;
        let table = txn.open_table(FULFILL)?;
        let mut out: Vec<(B256, u64)> =
            table.iter()?.map(|e| e.map(|(k, v)| (B256::from(*k.value()), v.value()))).collect::<Result<_, _>>()?;
        out.sort_by_key(|(_, request)| *request);
        out.truncate(limit);
        Ok(out)
    }

    /// Finishes a delivery: writes the receipt (with its settlement, or as it was when the
    /// delivery can never happen) and takes it off the list, in one durable write.
    pub fn finish_fulfill(&self, receipt: &Receipt) -> StoreResult<()> {
        self.0.write(|txn| {
            receipts::update(txn, receipt)?;
            txn.open_table(FULFILL)?.remove(&receipt.id().0)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use veritas_primitives::{RegistrySnapshot, WorkerKey};

    use super::*;
    use crate::store::Charge;

    fn receipt(key: &WorkerKey, request: u64) -> Receipt {
        crate::store::tests::receipt(key, B256::from(alloy_primitives::U256::from(request)))
    }

    fn snapshot() -> RegistrySnapshot {
        RegistrySnapshot { registry: Default::default(), block: 1, validators: Default::default() }
    }

    #[test]
    fn a_request_is_answered_once_verified_then_delivered_and_never_batched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims.redb");
        let key = WorkerKey::random();
        let (answer, lie) = (receipt(&key, 7), receipt(&key, 8));
        {
            let store = Store::open(&path).unwrap();
            let (requests, queue) = (store.requests(), store.settlement());
            // A paid claim alongside, to show the two queues stay apart.
            let paid = Charge { payer: Default::default(), fee: alloy_primitives::U256::from(1) };
            let other = receipt(&key, 9);
            queue.append(&other, paid, Timing::default()).unwrap();
            requests.append(&answer, 7, Timing::default()).unwrap();
            requests.append(&lie, 8, Timing::default()).unwrap();
            let again = requests.append(&receipt(&WorkerKey::random(), 7), 7, Timing::default()).unwrap_err();
            assert!(again.to_string().contains("request 7 is answered already"), "{again}");
            assert_eq!(queue.awaiting(10).unwrap().len(), 3);
            queue.finish_verification(&answer.id(), Vec::new(), snapshot(), true).unwrap();
            queue.finish_verification(&lie.id(), Vec::new(), snapshot(), false).unwrap();
            queue.finish_verification(&other.id(), Vec::new(), snapshot(), true).unwrap();
            requests.refuse(10, "input: malformed").unwrap();
            requests.set_cursor(42).unwrap();
            // Only the paid claim is batched; only the valid answer is to be delivered.
            assert_eq!(queue.settleable(10).unwrap().iter().map(|q| q.id).collect::<Vec<_>>(), vec![other.id()]);
            assert_eq!(queue.pending_count().unwrap(), 1);
        }
        let store = Store::open(&path).unwrap();
        let requests = store.requests();
        assert_eq!(requests.to_fulfill(10).unwrap(), vec![(answer.id(), 7)]);
        assert_eq!(requests.served(7).unwrap(), Some(Served::Receipt(answer.id())));
        assert_eq!(requests.served(8).unwrap(), Some(Served::Receipt(lie.id())));
        assert_eq!(requests.served(10).unwrap(), Some(Served::Refused("input: malformed".into())));
        assert_eq!(requests.served(11).unwrap(), None);
        assert_eq!(requests.request_of(&answer.id()).unwrap(), Some(7));
        assert_eq!(requests.cursor().unwrap(), Some(42));
        requests.refuse(7, "late").unwrap();
        assert_eq!(requests.served(7).unwrap(), Some(Served::Receipt(answer.id())), "a served request stays served");
        requests.finish_fulfill(&answer).unwrap();
        assert!(requests.to_fulfill(10).unwrap().is_empty());
        assert_eq!(store.receipts().get(&answer.id()).unwrap().unwrap().id(), answer.id());
    }
}
