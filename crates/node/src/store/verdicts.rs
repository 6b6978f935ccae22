//! A validator's word: the one verdict it signed on each claim, kept so that every later ask
//! gets the same verdict (a validator that signed "valid" and "invalid" on one claim would hand
//! anyone a dispute against an honest worker, or a quorum for a lie).

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use veritas_primitives::B256;
use veritas_wire::Judgement;

use super::{Store, StoreResult, from_json, to_json};

/// claim digest (receipt id) → the judgement signed on it (JSON).
const VERDICTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("verdicts_signed");

pub(super) fn create(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(VERDICTS)?;
    Ok(())
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
        let id = judgement.receipt_id;
        self.0.write(|txn| {
            let mut table = txn.open_table(VERDICTS)?;
            if let Some(kept) = table.get(&id.0)? {
                return from_json("a signed verdict", kept.value());
            }
            table.insert(&id.0, to_json("a signed verdict", &judgement)?.as_slice())?;
            Ok(judgement)
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
            verdict: Verdict { validator: Address::repeat_byte(1), valid, signature: Bytes::from(vec![valid as u8]) },
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
}
