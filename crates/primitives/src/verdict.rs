//! Verdicts: a validator's EIP-712 signed judgement of a claim, `Verdict(bytes32 claimDigest,bool
//! valid)` in the claim domain. A quorum of "valid" verdicts settles a contract's request; one
//! "invalid" verdict opens a dispute; the quorum's verdict closes it.

use alloy_sol_types::SolStruct;

use crate::{B256, ClaimDomain};

mod typed {
    #![allow(missing_docs)]
    alloy_sol_types::sol! {
        struct Verdict {
            bytes32 claimDigest;
            bool valid;
        }
    }
}

/// The EIP-712 digest a validator signs to judge the claim whose digest (receipt id) is given.
pub fn verdict_digest(domain: &ClaimDomain, claim_digest: B256, valid: bool) -> B256 {
    typed::Verdict { claimDigest: claim_digest, valid }.eip712_signing_hash(&domain.eip712())
}
