//! The claim log's record of contracts' requests: which on-chain requests were served (by which
//! receipt) or refused (and why), how far the chain has been read, and which verified answers
//! still wait to be delivered. A request's claim waits for verdicts like any other, but it is
//! paid from the contract's escrow when delivered, so it never enters the batch queue.

use redb::{Durability, ReadableDatabase, ReadableTable};
use veritas_primitives::{B256, Receipt};

use super::{AWAITING, CONTRACT, ClaimLog, FULFILL, META, RECEIPTS, SERVED};
use crate::{NodeError, NodeResult};

/// What the log knows of an on-chain request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Served {
    /// Answered by this receipt.
    Receipt(B256),
    /// Not served, for this reason (the requester is refunded after the deadline).
    Refused(String),
}

impl ClaimLog {
    /// Logs the receipt answering on-chain request `request`, waiting for verdicts; refused if
    /// the request has been served or refused already, so it is answered once.
    pub fn append_contract(&self, receipt: &Receipt, request: u64, timing: super::Timing) -> NodeResult<()> {
        let id = receipt.id();
        let json = serde_json::to_vec(receipt).map_err(|err| NodeError::ClaimLog(err.to_string()))?;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut served = txn.open_table(SERVED)?;
            if served.get(request)?.is_some() {
                return Err(NodeError::ClaimLog(format!("request {request} is answered already")));
            }
            served.insert(request, id.as_slice())?;
            let mut receipts = txn.open_table(RECEIPTS)?;
            if receipts.get(&id.0)?.is_some() {
                return Err(NodeError::ClaimLog(format!("receipt {id} is already in the log")));
            }
            receipts.insert(&id.0, json.as_slice())?;
            txn.open_table(CONTRACT)?.insert(&id.0, request)?;
            let sequence = self.next_sequence.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            txn.open_table(AWAITING)?.insert(&id.0, sequence)?;
            let mut meta = txn.open_table(META)?;
            let stored = meta.get("next_sequence")?.map_or(0, |v| v.value());
            meta.insert("next_sequence", stored.max(sequence + 1))?;
            super::timeline::note(&txn, receipt, timing, super::Origin::Contract)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Records that on-chain request `request` will not be served, and why (unless it was).
    pub fn refuse_request(&self, request: u64, reason: &str) -> NodeResult<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut served = txn.open_table(SERVED)?;
            if served.get(request)?.is_none() {
                served.insert(request, reason.as_bytes())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// What the log knows of on-chain request `request`.
    pub fn served(&self, request: u64) -> NodeResult<Option<Served>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SERVED)?;
        let Some(value) = table.get(request)? else { return Ok(None) };
        let bytes = value.value();
        let receipt = txn.open_table(CONTRACT)?;
        if bytes.len() == 32 && receipt.get(&<[u8; 32]>::try_from(bytes).unwrap_or_default())?.is_some() {
            return Ok(Some(Served::Receipt(B256::from_slice(bytes))));
        }
        Ok(Some(Served::Refused(String::from_utf8_lossy(bytes).into_owned())))
    }

    /// The on-chain request a claim answers, if it answers one.
    pub fn contract_request(&self, id: &B256) -> NodeResult<Option<u64>> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(CONTRACT)?.get(&id.0)?.map(|v| v.value()))
    }

    /// The first block not yet read for requests.
    pub fn requests_cursor(&self) -> NodeResult<Option<u64>> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(META)?.get("requests_block")?.map(|v| v.value()))
    }

    /// Moves the request cursor to `block` (the first block not yet read).
    pub fn set_requests_cursor(&self, block: u64) -> NodeResult<()> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(META)?.insert("requests_block", block)?;
        txn.commit()?;
        Ok(())
    }

    /// Verified answers to contracts' requests not delivered yet: (receipt id, request id).
    pub fn to_fulfill(&self, limit: usize) -> NodeResult<Vec<(B256, u64)>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(FULFILL)?;
        let mut out: Vec<(B256, u64)> =
            table.iter()?.map(|e| e.map(|(k, v)| (B256::from(*k.value()), v.value()))).collect::<Result<_, _>>()?;
        out.sort_by_key(|(_, request)| *request);
        out.truncate(limit);
        Ok(out)
    }

    /// Finishes a delivery: writes the receipt (with its settlement, or as it was when the
    /// delivery can never happen) and takes it off the list, in one durable write.
    pub fn finish_fulfill(&self, receipt: &Receipt) -> NodeResult<()> {
        let id = receipt.id();
        let json = serde_json::to_vec(receipt).map_err(|err| NodeError::ClaimLog(err.to_string()))?;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(RECEIPTS)?.insert(&id.0, json.as_slice())?;
        txn.open_table(FULFILL)?.remove(&id.0)?;
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use veritas_primitives::{RegistrySnapshot, WorkerKey};

    use super::*;
    use crate::{Charge, Timing};

    fn receipt(key: &WorkerKey, request: u64) -> Receipt {
        super::super::tests::receipt(key, B256::from(alloy_primitives::U256::from(request)))
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
            let log = ClaimLog::open(&path).unwrap();
            // A paid claim alongside, to show the two queues stay apart.
            let paid = Charge { payer: Default::default(), fee: alloy_primitives::U256::from(1) };
            let other = receipt(&key, 9);
            log.append(&other, paid, Timing::default()).unwrap();
            log.append_contract(&answer, 7, Timing::default()).unwrap();
            log.append_contract(&lie, 8, Timing::default()).unwrap();
            let again = log.append_contract(&receipt(&WorkerKey::random(), 7), 7, Timing::default()).unwrap_err();
            assert!(again.to_string().contains("request 7 is answered already"), "{again}");
            assert_eq!(log.awaiting(10).unwrap().len(), 3);
            log.finish_verification(&answer.id(), Vec::new(), snapshot(), true).unwrap();
            log.finish_verification(&lie.id(), Vec::new(), snapshot(), false).unwrap();
            log.finish_verification(&other.id(), Vec::new(), snapshot(), true).unwrap();
            log.refuse_request(10, "input: malformed").unwrap();
            log.set_requests_cursor(42).unwrap();
            // Only the paid claim is batched; only the valid answer is to be delivered.
            assert_eq!(log.settleable(10).unwrap().iter().map(|q| q.id).collect::<Vec<_>>(), vec![other.id()]);
            assert_eq!(log.pending_count().unwrap(), 1);
        }
        let log = ClaimLog::open(&path).unwrap();
        assert_eq!(log.to_fulfill(10).unwrap(), vec![(answer.id(), 7)]);
        assert_eq!(log.served(7).unwrap(), Some(Served::Receipt(answer.id())));
        assert_eq!(log.served(8).unwrap(), Some(Served::Receipt(lie.id())));
        assert_eq!(log.served(10).unwrap(), Some(Served::Refused("input: malformed".into())));
        assert_eq!(log.served(11).unwrap(), None);
        assert_eq!(log.contract_request(&answer.id()).unwrap(), Some(7));
        assert_eq!(log.requests_cursor().unwrap(), Some(42));
        log.refuse_request(7, "late").unwrap();
        assert_eq!(log.served(7).unwrap(), Some(Served::Receipt(answer.id())), "a served request stays served");
        log.finish_fulfill(&answer).unwrap();
        assert!(log.to_fulfill(10).unwrap().is_empty());
        assert_eq!(log.get(&answer.id()).unwrap().unwrap().id(), answer.id());
    }
}
