//! Whether a receipt's verdicts form a quorum: signed by validators holding more than 2/3 of
//! all validator stake, as the node registry recorded it (a snapshot the caller provides).

use std::collections::BTreeMap;

use veritas_primitives::{Address, Receipt, U256};

use crate::{VerifyError, VerifyResult};

/// Validator stakes as the node registry records them: the snapshot a quorum is checked against.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ValidatorSet {
    /// Each validator's stake (validators without stake are left out).
    pub stakes: BTreeMap<Address, U256>,
    /// All validator stake (`NodeRegistry.totalValidatorStake`).
    pub total: U256,
}

impl ValidatorSet {
    /// Whether `stake` is more than 2/3 of all validator stake (the contracts' rule).
    pub fn is_quorum(&self, stake: U256) -> bool {
        !self.total.is_zero() && stake * U256::from(3u8) > self.total * U256::from(2u8)
    }

    /// A validator's stake; zero for anyone else.
    pub fn stake_of(&self, validator: &Address) -> U256 {
        self.stakes.get(validator).copied().unwrap_or_default()
    }
}

/// What a receipt's verdicts add up to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumReport {
    /// Stake of the validators that said "valid".
    pub valid_stake: U256,
    /// Stake of the validators that said "invalid".
    pub invalid_stake: U256,
    /// All validator stake.
    pub total: U256,
    /// `Some(true)`: a quorum says valid; `Some(false)`: a quorum says invalid; `None`: neither.
    pub outcome: Option<bool>,
}

/// Adds up a receipt's verdicts against a validator set. The verdicts' signatures must already
/// have been checked ([`crate::verify_receipt`] does); a verdict by a key that is not a staked
/// validator, or a validator's second verdict, is an error.
pub fn verdict_quorum(receipt: &Receipt, validators: &ValidatorSet) -> VerifyResult<QuorumReport> {
    let mut seen = std::collections::BTreeSet::new();
    let (mut valid_stake, mut invalid_stake) = (U256::ZERO, U256::ZERO);
    for (index, verdict) in receipt.verdicts.iter().enumerate() {
        let stake = validators.stake_of(&verdict.validator);
        if stake.is_zero() {
            return Err(VerifyError::NotAValidator { index, validator: verdict.validator });
        }
        if !seen.insert(verdict.validator) {
            return Err(VerifyError::DuplicateVerdict { index, validator: verdict.validator });
        }
        if verdict.valid {
            valid_stake += stake;
        } else {
            invalid_stake += stake;
        }
    }
    let outcome = if validators.is_quorum(valid_stake) {
        Some(true)
    } else if validators.is_quorum(invalid_stake) {
        Some(false)
    } else {
        None
    };
    Ok(QuorumReport { valid_stake, invalid_stake, total: validators.total, outcome })
}
