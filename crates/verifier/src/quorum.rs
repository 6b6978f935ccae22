//! Whether a receipt's verdicts form a quorum: signed by validators holding more than 2/3 of
//! all validator stake, as the node registry recorded it (a snapshot the caller provides: the
//! receipt's own, or one read from the chain).

use veritas_primitives::{Receipt, U256, ValidatorSet};

use crate::{VerifyError, VerifyResult};

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

impl QuorumReport {
    /// The quorum in words, for a check's detail.
    pub fn describe(&self, receipt: &Receipt) -> String {
        format!(
            "{} validators holding {} of {} stake said valid",
            receipt.verdicts.iter().filter(|v| v.valid).count(),
            tokens(self.valid_stake),
            tokens(self.total)
        )
    }
}

/// A token amount (18 decimals) for people.
pub fn tokens(amount: U256) -> String {
    veritas_primitives::format_units(amount, 18).unwrap_or_else(|_| amount.to_string())
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
            valid_stake = valid_stake.saturating_add(stake);
        } else {
            invalid_stake = invalid_stake.saturating_add(stake);
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

/// Like [`verdict_quorum`], but only a quorum saying "valid" is Ok: a quorum saying "invalid"
/// is [`VerifyError::JudgedInvalid`], and neither is [`VerifyError::NoQuorum`].
pub fn check_quorum(receipt: &Receipt, validators: &ValidatorSet) -> VerifyResult<QuorumReport> {
    let report = verdict_quorum(receipt, validators)?;
    match report.outcome {
        Some(true) => Ok(report),
        Some(false) => {
            Err(VerifyError::JudgedInvalid { stake: tokens(report.invalid_stake), total: tokens(report.total) })
        }
        None => Err(VerifyError::NoQuorum {
            valid: tokens(report.valid_stake),
            invalid: tokens(report.invalid_stake),
            total: tokens(report.total),
        }),
    }
}
