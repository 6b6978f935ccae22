//! Replay guards: the signed requests and calls already accepted, each until its signature's time
//! can no longer be accepted anyway. On disk, so that a restart does not make a captured
//! signature usable again; bounded in time, so that what is kept is what a window of traffic
//! holds, never more.

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use veritas_primitives::B256;

use super::{Store, StoreResult};

/// What was accepted (a digest of the signer and its nonce) → until when it is kept (Unix s).
const SEEN: TableDefinition<&[u8; 32], u64> = TableDefinition::new("nonces_seen");
/// (until when, what): the same entries in the order they expire.
const EXPIRY: TableDefinition<(u64, &[u8; 32]), ()> = TableDefinition::new("nonces_expiry");

pub(super) fn create(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(SEEN)?;
    txn.open_table(EXPIRY)?;
    Ok(())
}

/// The nonces of signed requests and calls.
pub struct Nonces<'a>(pub(super) &'a Store);

impl Nonces<'_> {
    /// Records `seen` as used until `keep_until` (Unix seconds) and forgets what expired by
    /// `now`; false when it was used already. Durable before it answers.
    pub fn first_use(&self, seen: &B256, keep_until: u64, now: u64) -> StoreResult<bool> {
        self.0.write(|txn| Self::record(txn, seen, keep_until, now))
    }

    /// [`Nonces::first_use`], durable with the store's next durable write instead of before it
    /// answers: for a request or call whose answer follows its own durable write (the claim
    /// logged, the verdicts kept, the batch recorded), which syncs this too. A crash before any
    /// such write loses the nonce, and then nothing that relied on it was answered (a call
    /// answered without a write, such as verdicts already kept, answers the same again).
    pub fn first_use_lazily(&self, seen: &B256, keep_until: u64, now: u64) -> StoreResult<bool> {
        self.0.write_unsynced(|txn| Self::record(txn, seen, keep_until, now))
    }

    fn record(txn: &WriteTransaction, seen: &B256, keep_until: u64, now: u64) -> StoreResult<bool> {
        let mut table = txn.open_table(SEEN)?;
        let mut expiry = txn.open_table(EXPIRY)?;
        let expired: Vec<(u64, [u8; 32])> = expiry
            .range::<(u64, &[u8; 32])>(..(now, &[0u8; 32]))?
            .map(|entry| {
                entry.map(|(key, _)| {
                    let (at, id) = key.value();
                    (at, *id)
                })
            })
            .collect::<Result<_, _>>()?;
        for (at, id) in &expired {
            expiry.remove((*at, id))?;
            table.remove(id)?;
        }
        if table.get(&seen.0)?.is_some() {
            return Ok(false);
        }
        table.insert(&seen.0, keep_until)?;
        expiry.insert((keep_until, &seen.0), ())?;
        Ok(true)
    }

    /// How many are kept now.
    pub fn kept(&self) -> StoreResult<u64> {
        use redb::ReadableTableMetadata;
        let txn = self.0.read()?;
        Ok(txn.open_table(SEEN)?.len()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_across_restarts_and_forgotten_once_it_expired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims.redb");
        let (a, b) = (B256::repeat_byte(1), B256::repeat_byte(2));
        {
            let store = Store::open(&path).unwrap();
            assert!(store.nonces().first_use(&a, 1_000, 400).unwrap());
            assert!(!store.nonces().first_use(&a, 1_000, 401).unwrap(), "a replay");
            assert!(store.nonces().first_use(&b, 2_000, 402).unwrap());
        }
        let store = Store::open(&path).unwrap();
        assert!(!store.nonces().first_use(&a, 1_000, 500).unwrap(), "still refused after a restart");
        assert_eq!(store.nonces().kept().unwrap(), 2);
        // Past its time, `a` is forgotten (its signature's time is refused by then anyway).
        assert!(store.nonces().first_use(&B256::repeat_byte(3), 3_000, 1_001).unwrap());
        assert_eq!(store.nonces().kept().unwrap(), 2, "a forgotten, b and the new one kept");
        assert!(store.nonces().first_use(&a, 4_000, 1_002).unwrap());
    }

    #[test]
    fn a_lazily_kept_nonce_is_refused_at_once_and_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims.redb");
        let a = B256::repeat_byte(1);
        {
            let store = Store::open(&path).unwrap();
            assert!(store.nonces().first_use_lazily(&a, 1_000, 400).unwrap());
            assert!(!store.nonces().first_use_lazily(&a, 1_000, 401).unwrap(), "a replay");
            assert!(!store.nonces().first_use(&a, 1_000, 401).unwrap(), "either way");
        }
        // Closing the store makes its unsynced commits durable.
        let store = Store::open(&path).unwrap();
        assert!(!store.nonces().first_use_lazily(&a, 1_000, 500).unwrap(), "still refused after a restart");
    }
}
