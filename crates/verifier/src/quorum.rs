//! Whether a receipt's verdicts form a quorum: signed by validators holding more than 2/3 of
//! all validator stake, as the node registry recorded it (a snapshot the caller provides: the
//! receipt's own, or one read from the chain).

use std::collections::BTreeSet;

use veritas_primitives::{
    B256, ClaimDomain, MerkleTree, Receipt, U256, ValidatorSet,
    batch::{BatchToSign, batch_digest, total},
    merkle_leaf,
};

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
    let mut seen = BTreeSet::new();
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

/// What a validator checks before it signs a batch: it holds 1 to `max_claims` claims, its root
/// is their Merkle root, every claim carries a quorum of signed "valid" verdicts (each validator
/// once) of `validators`, and its debits and credits balance. Returns the digest to sign, or
/// why not.
pub fn check_batch(
    domain: &ClaimDomain,
    batch: &BatchToSign,
    validators: &ValidatorSet,
    max_claims: usize,
) -> Result<B256, String> {
    if batch.claims.is_empty() || batch.claims.len() > max_claims {
        return Err(format!("a batch holds 1 to {max_claims} claims, this one {}", batch.claims.len()));
    }
    let ids: Vec<B256> = batch.claims.iter().map(|c| c.id).collect();
    let root = MerkleTree::new(ids.iter().map(merkle_leaf).collect()).root();
    if root != batch.root {
        return Err(format!("the root {} is not the claims' Merkle root {root}", batch.root));
    }
    for claim in &batch.claims {
        let mut seen = BTreeSet::new();
        let mut stake = U256::ZERO;
        for verdict in &claim.verdicts {
            let signer = verdict.signer(domain, claim.id);
            if !verdict.valid || signer != Some(verdict.validator) || !seen.insert(verdict.validator) {
                return Err(format!("claim {}: a verdict that is not a valid signed \"valid\"", claim.id));
            }
            stake = stake.saturating_add(validators.stake_of(&verdict.validator));
        }
        if !validators.is_quorum(stake) {
            return Err(format!("claim {} has no quorum of \"valid\" verdicts", claim.id));
        }
    }
    match (total(&batch.debits), total(&batch.credits)) {
        (Some(debits), Some(credits)) if debits == credits => {}
        (Some(debits), Some(credits)) => return Err(format!("debits {debits} and credits {credits} do not balance")),
        _ => return Err("the transfers add up to more than 2^256".into()),
    }
    let count = u32::try_from(ids.len()).map_err(|_| "too many claims".to_owned())?;
    Ok(batch_digest(domain, root, count, &batch.debits, &batch.credits))
}
