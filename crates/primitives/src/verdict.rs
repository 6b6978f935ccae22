//! Verdicts: a validator's EIP-712 signed judgement of a claim, `Verdict(bytes32
//! claimDigest,bool valid,uint8 check)` in the claim domain, where `check` is the [`Check`] the
//! validator ran. A quorum of "valid" verdicts settles a contract's request; one "invalid"
//! verdict opens a dispute; the quorum's verdict closes it. Only verdicts whose check counts for
//! the claim's mode ([`Check::counts_for`]) count anywhere.

use alloy_sol_types::SolStruct;

use crate::{Address, B256, Check, ClaimDomain, Verdict, recover_signer_bytes};

mod typed {
    #![allow(missing_docs)]
    alloy_sol_types::sol! {
        struct Verdict {
            bytes32 claimDigest;
            bool valid;
            uint8 check;
        }
    }
}

/// The EIP-712 digest a validator signs to judge, by `check`, the claim whose digest (receipt
/// id) is given.
pub fn verdict_digest(domain: &ClaimDomain, claim_digest: B256, valid: bool, check: Check) -> B256 {
    typed::Verdict { claimDigest: claim_digest, valid, check: check.code() }.eip712_signing_hash(&domain.eip712())
}

impl Verdict {
    /// Who signed this verdict (with its own outcome and check) on the claim with digest
    /// `claim_digest`; `None` if the signature does not hold (malformed, or made for another
    /// claim, outcome, check or network).
    pub fn signer(&self, domain: &ClaimDomain, claim_digest: B256) -> Option<Address> {
        recover_signer_bytes(&verdict_digest(domain, claim_digest, self.valid, self.check), &self.signature).ok()
    }
}

#[cfg(all(test, feature = "signer"))]
mod tests {
    use super::*;
    use crate::{WorkerKey, keccak256};

    #[test]
    fn the_type_hash_is_the_contracts() {
        let typed = typed::Verdict { claimDigest: B256::ZERO, valid: true, check: 0 };
        assert_eq!(typed.eip712_type_hash(), keccak256("Verdict(bytes32 claimDigest,bool valid,uint8 check)"));
    }

    #[test]
    fn a_verdict_is_bound_to_its_check() {
        let key = WorkerKey::from_bytes(&keccak256(b"validator")).unwrap();
        let domain = ClaimDomain::dev();
        let claim = keccak256(b"claim");
        let signature = key.sign_digest(&verdict_digest(&domain, claim, true, Check::Signed)).unwrap();
        let verdict =
            Verdict { validator: key.address(), valid: true, check: Check::Signed, signature: signature.into() };
        assert_eq!(verdict.signer(&domain, claim), Some(key.address()));
        // The same signature presented as a stronger check recovers to somebody else.
        for check in [Check::Reexec, Check::Zk, Check::Tee] {
            let relabelled = Verdict { check, ..verdict.clone() };
            assert_ne!(relabelled.signer(&domain, claim), Some(key.address()), "{check}");
        }
    }
}
