//! Batches: what validators sign to settle a set of claims on chain.
//!
//! The EIP-712 type is `Batch(bytes32 root,uint32 count,bytes32 transfersHash,address
//! gateway,uint64 deadline)` in the claim domain of the settlement contract, where `root` is the
//! Merkle root of the claims' receipt ids (see `merkle`), `transfersHash =
//! keccak256(abi.encode(debits, credits))` over the net transfers `Transfer(address account,
//! uint256 amount)[]` the batch causes, `gateway` the gateway whose payers' allowances the debits
//! use, and `deadline` the last second (Unix time) at which the batch may settle.

use alloy_primitives::U256;
use alloy_sol_types::{SolStruct, SolValue};
use serde::{Deserialize, Serialize};

use crate::{Address, B256, Claim, ClaimDomain, Verdict, keccak256};

mod typed {
    #![allow(missing_docs)]
    alloy_sol_types::sol! {
        #[derive(Debug, PartialEq, Eq)]
        struct Batch {
            bytes32 root;
            uint32 count;
            bytes32 transfersHash;
            address gateway;
            uint64 deadline;
        }

        #[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        struct Transfer {
            address account;
            uint256 amount;
        }
    }
}

pub use typed::Transfer;

impl Transfer {
    /// A transfer of `amount` for `account`.
    pub fn of(account: Address, amount: u128) -> Transfer {
        Transfer { account, amount: U256::from(amount) }
    }
}

/// Keccak-256 of `abi.encode(debits, credits)`.
pub fn transfers_hash(debits: &[Transfer], credits: &[Transfer]) -> B256 {
    keccak256((debits.to_vec(), credits.to_vec()).abi_encode_params())
}

/// The EIP-712 digest a validator signs to settle a batch for `gateway` until `deadline`.
pub fn batch_digest(
    domain: &ClaimDomain,
    root: B256,
    count: u32,
    gateway: Address,
    deadline: u64,
    debits: &[Transfer],
    credits: &[Transfer],
) -> B256 {
    let batch = typed::Batch { root, count, transfersHash: transfers_hash(debits, credits), gateway, deadline };
    batch.eip712_signing_hash(&domain.eip712())
}

/// A batch a gateway asks validators to sign, with what lets them check it: every claim's
/// receipt id with its quorum of verdicts.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchToSign {
    /// The Merkle root of the receipt ids.
    pub root: B256,
    /// The claims, in batch order.
    pub claims: Vec<ClaimVerdicts>,
    /// What each payer pays.
    pub debits: Vec<Transfer>,
    /// What each worker, validator or the treasury earns.
    pub credits: Vec<Transfer>,
    /// The gateway that took the payers' requests: the debits use the payers' allowances for it.
    pub gateway: Address,
    /// The last second (Unix time) at which the batch may settle.
    pub deadline: u64,
}

/// A claim in a batch: its receipt id, the claim itself, the verdicts that make its quorum, and
/// what it charges whom, with what a validator needs to recompute the charge (the tokens a
/// language model produced, proven by the claim's output).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimVerdicts {
    /// The receipt id (the claim's EIP-712 digest).
    pub id: B256,
    /// The claim, whose digest must be `id`: its mode says which verdicts count for it.
    pub claim: Claim,
    /// Its "valid" verdicts.
    pub verdicts: Vec<Verdict>,
    /// The account that pays for it (its allowance for the batch's gateway is what the contract
    /// takes it from).
    pub payer: Address,
    /// What it charges, in the token's smallest unit: at most the gateway's listed price for its
    /// model and tokens.
    pub fee: U256,
    /// The tokens a language model produced (0 for other models).
    #[serde(default)]
    pub tokens: u64,
    /// The claim's output, whose hash is the claim's output hash, when `tokens` is not 0: it
    /// proves the count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<crate::Values>,
    /// A confidential claim's parameters, whose hash is the claim's params hash, when `tokens`
    /// is not 0: its output is a commitment, and the tokens it produced are named in its
    /// parameters, which the enclave attests with the claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<crate::Params>,
}

/// The sum of some transfers' amounts; `None` past 2^256.
pub fn total(transfers: &[Transfer]) -> Option<U256> {
    transfers.iter().try_fold(U256::ZERO, |sum, t| sum.checked_add(t.amount))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_hash_is_the_contracts() {
        let batch =
            typed::Batch { root: B256::ZERO, count: 1, transfersHash: B256::ZERO, gateway: Address::ZERO, deadline: 0 };
        assert_eq!(
            batch.eip712_type_hash(),
            keccak256("Batch(bytes32 root,uint32 count,bytes32 transfersHash,address gateway,uint64 deadline)")
        );
    }

    #[test]
    fn the_digest_binds_the_gateway_and_the_deadline() {
        let domain = ClaimDomain::dev();
        let (root, debits, credits) = (B256::repeat_byte(1), [Transfer::of(Address::repeat_byte(2), 5)], []);
        let digest =
            |gateway: Address, deadline: u64| batch_digest(&domain, root, 1, gateway, deadline, &debits, &credits);
        let (a, b) = (Address::repeat_byte(0xa), Address::repeat_byte(0xb));
        assert_ne!(digest(a, 100), digest(b, 100), "a batch signed for one gateway is not another's");
        assert_ne!(digest(a, 100), digest(a, 101), "nor for another deadline");
    }
}
