//! Validator stakes as the node registry records them: what a quorum of verdicts is counted
//! against, and the snapshot of it a receipt carries so that a reader can count offline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Address, U256};

/// Each validator's stake and all validator stake, at one block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorSet {
    /// Each validator's stake (validators without stake are left out).
    pub stakes: BTreeMap<Address, U256>,
    /// All validator stake (`NodeRegistry.totalValidatorStake`).
    pub total: U256,
}

impl ValidatorSet {
    /// Whether `stake` is more than 2/3 of all validator stake (the contracts' rule).
    pub fn is_quorum(&self, stake: U256) -> bool {
        !self.total.is_zero() && stake.saturating_mul(U256::from(3u8)) > self.total.saturating_mul(U256::from(2u8))
    }

    /// A validator's stake; zero for anyone else.
    pub fn stake_of(&self, validator: &Address) -> U256 {
        self.stakes.get(validator).copied().unwrap_or_default()
    }
}

/// The validator set a gateway counted a receipt's quorum against, and where it read it. It is
/// the gateway's word: a reader who trusts nobody compares it with the chain (`veritas verify
/// --rpc`), which also tells whether the registry contract is the settlement's own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySnapshot {
    /// The node registry contract.
    pub registry: Address,
    /// The block it was read at.
    pub block: u64,
    /// The validators' stakes at that block.
    pub validators: ValidatorSet,
}
