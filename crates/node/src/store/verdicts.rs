//! A validator's word: the one verdict it signed on each claim, kept so that every later ask
//! gets the same verdict (a validator that signed "valid" and "invalid" on one claim would hand
//! anyone a dispute against an honest worker, or a quorum for a lie), and the batch it signed
//! each claim into, so that no claim is signed into two batches that could both settle.

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use veritas_primitives::B256;
use veritas_wire::Judgement;

use super::{Store, StoreResult, from_json, to_json};

/// claim digest (receipt id) → the judgement signed on it (JSON).
const VERDICTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("verdicts_signed");
/// claim digest → the batch signed with it: its root (32 bytes) and deadline (8, big-endian).
const BATCHED: TableDefinition<&[u8; 32], &[u8; 40]> = TableDefinition::new("claims_batched");

pub(super) fn create(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(VERDICTS)?;
    txn.open_table(BATCHED)?;
    Ok(())
}

/// A batch a validator signed: its root and deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SignedBatch {
    /// The Merkle root.
    pub root: B256,
    /// The last second it may settle.
    pub deadline: u64,
}

impl SignedBatch {
    fn encode(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        out[..32].copy_from_slice(self.root.as_slice());
        out[32..].copy_from_slice(&self.deadline.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8; 40]) -> SignedBatch {
        let mut deadline = [0u8; 8];
        deadline.copy_from_slice(&bytes[32..]);
        SignedBatch { root: B256::from_slice(&bytes[..32]), deadline: u64::from_be_bytes(deadline) }
    }
}

/// The verdicts this node signed as a validator.
pub struct Verdicts<'a>(pub(super) &'a Store);

impl Verdicts<'_> {
    /// The judgement signed on a claim, if any.
    pub fn get(&self, claim: &B256) -> StoreResult<Option<Judgement>> {
        let txn = self.0.read()?;
        let table = txn.open_table(VERDICTS)?;
        table.get(&claim.0)?.map(|v| from_json("a signed verdict", v.value())).transpose()
    }

    /// Keeps `judgement` as the one verdict on its claim, durably, unless one was kept first
    /// (two asks judged at once): returns the verdict that stands.
    pub fn keep(&self, judgement: Judgement) -> StoreResult<Judgement> {
        Ok(self.keep_many(vec![judgement])?.remove(0))
    }

    /// [`Verdicts::keep`] for many claims, in one durable write; the verdicts that stand, in
    /// the order given.
    pub fn keep_many(&self, judgements: Vec<Judgement>) -> StoreResult<Vec<Judgement>> {
        if judgements.is_empty() {
            return Ok(judgements);
        }
        self.0.write(|txn| {
            let mut table = txn.open_table(VERDICTS)?;
            let mut stand = Vec::with_capacity(judgements.len());
            for judgement in judgements {
                let id = judgement.receipt_id;
                if let Some(kept) = table.get(&id.0)? {
                    stand.push(from_json("a signed verdict", kept.value())?);
                    continue;
                }
                table.insert(&id.0, to_json("a signed verdict", &judgement)?.as_slice())?;
                stand.push(judgement);
            }
            Ok(stand)
        })
    }
}

impl Verdicts<'_> {
    /// The batches this validator signed each of `claims` into, where it did.
    pub fn batches_of(&self, claims: &[B256]) -> StoreResult<Vec<(B256, SignedBatch)>> {
        let txn = self.0.read()?;
        let table = txn.open_table(BATCHED)?;
        let mut found = Vec::new();
        for claim in claims {
            if let Some(batch) = table.get(&claim.0)? {
                found.push((*claim, SignedBatch::decode(batch.value())));
            }
        }
        Ok(found)
    }

    /// Records `claims` as signed into `batch`, durably (before the signature leaves).
    pub fn sign_into(&self, claims: &[B256], batch: SignedBatch) -> StoreResult<()> {
        self.0.write(|txn| {
            let mut table = txn.open_table(BATCHED)?;
            for claim in claims {
                table.insert(&claim.0, &batch.encode())?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::Bytes;
    use veritas_primitives::{Address, Verdict};
    use veritas_wire::CheckMode;

    use super::*;

    fn judgement(valid: bool) -> Judgement {
        Judgement {
            receipt_id: B256::repeat_byte(7),
            valid,
            check: CheckMode::Signed,
            reason: if valid { "holds" } else { "does not" }.into(),
            verdict: Verdict {
                validator: Address::repeat_byte(1),
                valid,
                check: CheckMode::Signed,
                signature: Bytes::from(vec![valid as u8]),
            },
        }
    }

    #[test]
    fn the_first_verdict_on_a_claim_stands_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims.redb");
        {
            let store = Store::open(&path).unwrap();
            assert_eq!(store.verdicts().get(&B256::repeat_byte(7)).unwrap(), None);
            assert_eq!(store.verdicts().keep(judgement(true)).unwrap(), judgement(true));
            assert_eq!(store.verdicts().keep(judgement(false)).unwrap(), judgement(true), "the first one stands");
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.verdicts().get(&B256::repeat_byte(7)).unwrap(), Some(judgement(true)));
    }

    #[test]
    fn the_batch_each_claim_was_signed_into_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims.redb");
        let (a, b, c) = (B256::repeat_byte(1), B256::repeat_byte(2), B256::repeat_byte(3));
        let first = SignedBatch { root: B256::repeat_byte(9), deadline: 1_000 };
        {
            let store = Store::open(&path).unwrap();
            store.verdicts().sign_into(&[a, b], first).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.verdicts().batches_of(&[a, b, c]).unwrap(), vec![(a, first), (b, first)]);
        let second = SignedBatch { root: B256::repeat_byte(8), deadline: 2_000 };
        store.verdicts().sign_into(&[b, c], second).unwrap();
        assert_eq!(store.verdicts().batches_of(&[a, b, c]).unwrap(), vec![(a, first), (b, second), (c, second)]);
    }
}
