//! Batches: what validators sign to settle a set of claims on chain.
//!
//! The EIP-712 type is `Batch(bytes32 root,uint32 count,bytes32 transfersHash)` in the claim
//! domain of the settlement contract, where `root` is the Merkle root of the claims' receipt ids
//! (see `merkle`) and `transfersHash = keccak256(abi.encode(debits, credits))` over the net
//! transfers `Transfer(address account, uint256 amount)[]` the batch causes.

use alloy_primitives::U256;
use alloy_sol_types::{SolStruct, SolValue};
use serde::{Deserialize, Serialize};

use crate::{Address, B256, ClaimDomain, Verdict, keccak256};

mod typed {
    #![allow(missing_docs)]
    alloy_sol_types::sol! {
        #[derive(Debug, PartialEq, Eq)]
        struct Batch {
            bytes32 root;
            uint32 count;
            bytes32 transfersHash;
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

/// The EIP-712 digest a validator signs to settle a batch.
pub fn batch_digest(domain: &ClaimDomain, root: B256, count: u32, debits: &[Transfer], credits: &[Transfer]) -> B256 {
    let batch = typed::Batch { root, count, transfersHash: transfers_hash(debits, credits) };
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
}

/// A claim's receipt id and the verdicts that make its quorum.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimVerdicts {
    /// The receipt id (the claim's EIP-712 digest).
    pub id: B256,
    /// Its "valid" verdicts.
    pub verdicts: Vec<Verdict>,
}

/// The sum of some transfers' amounts; `None` past 2^256.
pub fn total(transfers: &[Transfer]) -> Option<U256> {
    transfers.iter().try_fold(U256::ZERO, |sum, t| sum.checked_add(t.amount))
}
