//! Deliberate lies of a validator, for byzantine tests (`--fault`; refused unless the chain is
//! the development chain): a verdict that a gateway must refuse or outvote.

use alloy_primitives::Bytes;
use veritas_primitives::{Address, B256, Verdict, WorkerKey, keccak256};

use crate::NodeResult;

/// The verdict of the last claim a `bad-verdicts` validator judged, to replay on the next.
static LAST_VERDICT: std::sync::Mutex<Option<Verdict>> = std::sync::Mutex::new(None);

/// A verdict as a `bad-verdicts` validator sends it, the kind chosen by the claim's digest.
pub(crate) fn bad_verdict(claim: &B256, honest: Verdict, digest: &B256) -> NodeResult<Verdict> {
    let replayed = LAST_VERDICT.lock().unwrap_or_else(std::sync::PoisonError::into_inner).replace(honest.clone());
    Ok(match claim[31] % 4 {
        // Its verdict on another claim.
        0 if replayed.is_some() => replayed.unwrap_or(honest),
        // Signed by a key that is no validator's.
        0 | 1 => {
            let stranger = WorkerKey::from_bytes(&keccak256([b"a stranger".as_slice(), claim.as_slice()].concat()))?;
            Verdict { signature: Bytes::from(stranger.sign_digest(digest)?.to_vec()), ..honest }
        }
        // Naming another validator.
        2 => Verdict { validator: Address::from_word(keccak256(claim)), ..honest },
        // A garbled signature.
        _ => Verdict { signature: Bytes::from(honest.signature[..10].to_vec()), ..honest },
    })
}
