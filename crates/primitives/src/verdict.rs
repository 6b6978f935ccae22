//! Verdicts: a validator's EIP-712 signed judgement of a claim, `Verdict(bytes32 claimDigest,bool
//! valid)` in the claim domain. A quorum of "valid" verdicts settles a contract's request; one
//! "invalid" verdict opens a dispute; the quorum's verdict closes it.

use alloy_sol_types::SolStruct;

use crate::{Address, B256, ClaimDomain, Verdict, recover_signer_bytes};

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

impl Verdict {
    /// Who signed this verdict on the claim with digest `claim_digest`; `None` if the signature
    /// does not hold (malformed, or made for another claim, outcome or network).
    pub fn signer(&self, domain: &ClaimDomain, claim_digest: B256) -> Option<Address> {
        recover_signer_bytes(&verdict_digest(domain, claim_digest, self.valid), &self.signature).ok()
    }
}
