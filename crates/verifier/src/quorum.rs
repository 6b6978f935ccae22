//! Whether a receipt's verdicts form a quorum: signed by validators holding more than 2/3 of
//! all validator stake, as the node registry recorded it (a snapshot the caller provides: the
//! receipt's own, or one read from the chain). Only verdicts from a check that counts for the
//! claim's mode ([`Check::counts_for`], the contracts' `checkCounts`) count.

use std::collections::BTreeSet;

use veritas_primitives::{
    B256, ClaimDomain, MerkleTree, Mode, Receipt, U256, ValidatorSet, Verdict,
    batch::{BatchToSign, batch_digest, total},
    merkle_leaf,
};

/// Whether `verdict` counts toward a quorum on the claim with digest `claim_digest` and mode
/// `mode`: its check counts for the mode (so a validator that only checked a signature cannot
/// pass for one that checked a proof or an attestation), and its signature, over the digest with
/// its outcome and check, recovers the validator it names.
pub fn verdict_counts(domain: &ClaimDomain, claim_digest: B256, mode: Mode, verdict: &Verdict) -> bool {
    verdict.check.counts_for(mode) && verdict.signer(domain, claim_digest) == Some(verdict.validator)
}

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
    /// How many counted verdicts said "valid".
    pub valid_verdicts: usize,
    /// How many verdicts did not count: from a check that does not count for the claim's mode,
    /// or with a signature that does not hold.
    pub uncounted: usize,
}

impl QuorumReport {
    /// The quorum in words, for a check's detail; the receipt's claim names the mode whose
    /// checks counted.
    pub fn describe(&self, receipt: &Receipt) -> String {
        let mut text = format!(
            "{} validators holding {} of {} stake said valid",
            self.valid_verdicts,
            tokens(self.valid_stake),
            tokens(self.total)
        );
        if self.uncounted > 0 {
            text.push_str(&format!(
                " ({} verdicts left out: from a check that does not count for a {} claim, or not signed by \
                 the validator named)",
                self.uncounted, receipt.claim.mode
            ));
        }
        text
    }
}

/// A token amount (18 decimals) for people.
pub fn tokens(amount: U256) -> String {
    veritas_primitives::format_units(amount, 18).unwrap_or_else(|_| amount.to_string())
}

/// Adds up a receipt's verdicts against a validator set. Only verdicts that count
/// ([`verdict_counts`]: a check that counts for the claim's mode, a signature that holds) are
/// added; the others are left out and counted in [`QuorumReport::uncounted`]. A counted verdict
/// by a key that is not a staked validator, or a validator's second counted verdict, is an error.
pub fn verdict_quorum(receipt: &Receipt, validators: &ValidatorSet) -> VerifyResult<QuorumReport> {
    let id = receipt.id();
    let mut seen = BTreeSet::new();
    let (mut valid_stake, mut invalid_stake) = (U256::ZERO, U256::ZERO);
    let (mut valid_verdicts, mut uncounted) = (0, 0);
    for (index, verdict) in receipt.verdicts.iter().enumerate() {
        if !verdict_counts(&receipt.domain, id, receipt.claim.mode, verdict) {
            uncounted += 1;
            continue;
        }
        let stake = validators.stake_of(&verdict.validator);
        if stake.is_zero() {
            return Err(VerifyError::NotAValidator { index, validator: verdict.validator });
        }
        if !seen.insert(verdict.validator) {
            return Err(VerifyError::DuplicateVerdict { index, validator: verdict.validator });
        }
        if verdict.valid {
            valid_stake = valid_stake.saturating_add(stake);
            valid_verdicts += 1;
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
    Ok(QuorumReport { valid_stake, invalid_stake, total: validators.total, outcome, valid_verdicts, uncounted })
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
            uncounted: report.uncounted,
        }),
    }
}

/// What a validator checks before it signs a batch: it holds 1 to `max_claims` distinct claims
/// (a claim paid for twice in one batch would be charged twice), its root is their Merkle root, every claim carried hashes to its id and carries a quorum of signed
/// "valid" verdicts (each validator once) of `validators`, every one from a check that counts
/// for the claim's mode, and its debits and credits balance. Returns the digest to sign, which
/// binds the batch's gateway and deadline, or why not.
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
    let mut distinct = BTreeSet::new();
    if let Some(twice) = ids.iter().find(|id| !distinct.insert(**id)) {
        return Err(format!("claim {twice} is in the batch twice"));
    }
    let root = MerkleTree::new(ids.iter().map(merkle_leaf).collect()).root();
    if root != batch.root {
        return Err(format!("the root {} is not the claims' Merkle root {root}", batch.root));
    }
    for claim in &batch.claims {
        let digest = claim.claim.signing_hash(domain);
        if digest != claim.id {
            return Err(format!("claim {}: the claim carried is another, {digest}", claim.id));
        }
        let mode = claim.claim.mode;
        let mut seen = BTreeSet::new();
        let mut stake = U256::ZERO;
        for verdict in &claim.verdicts {
            if !verdict.check.counts_for(mode) {
                return Err(format!(
                    "claim {}: a verdict from a {} check, which does not count for a {mode} claim",
                    claim.id, verdict.check
                ));
            }
            if !verdict.valid || !verdict_counts(domain, claim.id, mode, verdict) || !seen.insert(verdict.validator) {
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
    Ok(batch_digest(domain, root, count, batch.gateway, batch.deadline, &batch.debits, &batch.credits))
}
