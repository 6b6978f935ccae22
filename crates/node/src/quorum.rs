//! A gateway's side of verification: it asks the validators the registry names for their
//! verdicts on each logged claim, keeps those whose signatures hold, and records the claim as
//! valid or invalid once validators holding more than 2/3 of the stake agree. Until then the
//! claim waits (it is never lost, and never settled as valid), and it is asked about again.
//!
//! An "invalid" verdict opens a dispute on chain (the gateway posts the bond); the quorum's
//! verdict resolves it, which slashes a lying worker, and every validator whose signed verdict
//! contradicts the quorum is slashed too (`slashVerdict`). Batches are then signed by a quorum
//! of validators, each of which checks every claim's quorum of verdicts before it signs.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::{Duration, Instant},
};

use alloy_primitives::Bytes;
use futures_util::future::join_all;
use veritas_chain::{
    Chain, ChainError,
    contracts::{Settlement as SettlementContract, claim_struct},
};
use veritas_primitives::{Address, B256, Receipt, U256, Verdict, recover_signer_bytes};

use crate::{
    BatchSignature, BatchToSign, Node, NodeError, NodeResult, NodeRole, metrics::Metrics, network::Member,
    network::Registry, settle::BatchPlan,
};

/// How long the registry read is reused.
const REGISTRY_TTL: Duration = Duration::from_secs(1);
/// Claims judged per round.
/// Why a gateway refuses a validator's verdict (the `reason` label of
/// `veritas_verdicts_refused_total`).
pub(crate) const REFUSALS: [&str; 4] =
    ["names another validator", "signature does not hold for this claim", "not a staked validator", "no answer"];

const ROUND: usize = 64;
/// How long a validator may take for one verdict (a re-executed generation included).
const VERDICT_TIMEOUT: Duration = Duration::from_secs(120);

/// What a gateway holds in memory about claims awaiting verdicts (the claims themselves are in
/// the claim log; after a restart the validators are simply asked again).
#[derive(Default)]
pub(crate) struct Verification {
    collected: std::sync::Mutex<HashMap<B256, BTreeMap<Address, Verdict>>>,
    first_seen: std::sync::Mutex<HashMap<B256, Instant>>,
    disputed: std::sync::Mutex<HashSet<B256>>,
    round: tokio::sync::Mutex<()>,
    /// Woken when a claim is logged.
    pub wake: tokio::sync::Notify,
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether a chain error is a revert naming `reason` (an idempotent repeat).
fn reverted_with(err: &ChainError, reason: &str) -> bool {
    matches!(err, ChainError::Reverted { reason: r, .. } if r.contains(reason))
}

impl Node {
    /// The node registry, read at most once a second.
    pub async fn registry(&self) -> NodeResult<Registry> {
        let mut cache = self.registry_cache.lock().await;
        if let Some((registry, read)) = cache.as_ref()
            && read.elapsed() < REGISTRY_TTL
        {
            return Ok(registry.clone());
        }
        let (chain, contracts) = self.network().ok_or(NodeError::NoChain)?;
        let registry = Registry::read(&chain, contracts.registry).await?;
        *cache = Some((registry.clone(), Instant::now()));
        Ok(registry)
    }

    /// Whether this node collects verdicts and settles.
    pub(crate) fn collects(&self) -> bool {
        matches!(self.role, NodeRole::Standalone | NodeRole::Gateway) && self.settles()
    }

    /// Asks validators about claims until the task is dropped: at once when a claim is logged,
    /// and every `interval` for claims still waiting.
    pub fn spawn_verifier(self: &std::sync::Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let node = std::sync::Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let _ = tokio::time::timeout(interval, node.verification.wake.notified()).await;
                if let Err(err) = node.verify_pending().await {
                    tracing::warn!(%err, "collecting verdicts failed; the claims keep waiting");
                }
            }
        })
    }

    /// One round: asks the validators about the claims awaiting verdicts (the oldest 64) and
    /// records each quorum; returns how many claims reached one.
    pub async fn verify_pending(&self) -> NodeResult<usize> {
        if !self.collects() {
            return Ok(0);
        }
        let Ok(_round) = self.verification.round.try_lock() else { return Ok(0) };
        let ids = self.claims.awaiting(ROUND)?;
        if ids.is_empty() {
            self.metrics.awaiting.set(0);
            return Ok(0);
        }
        let registry = self.registry().await?;
        let outcomes = join_all(ids.iter().map(|id| self.verify_claim(id, &registry))).await;
        let mut formed = 0;
        for (id, outcome) in ids.iter().zip(outcomes) {
            match outcome {
                Ok(true) => formed += 1,
                Ok(false) => {}
                Err(err) => tracing::warn!(%err, claim = %id, "verdicts on this claim are not settled yet"),
            }
        }
        self.metrics.awaiting.set(i64::try_from(self.claims.awaiting_count()?).unwrap_or(i64::MAX));
        Ok(formed)
    }

    /// Asks the validators that have not answered yet about one claim; records its quorum.
    async fn verify_claim(&self, id: &B256, registry: &Registry) -> NodeResult<bool> {
        let receipt = self.claims.get(id)?.ok_or_else(|| NodeError::UnknownReceipt(id.to_string()))?;
        lock(&self.verification.first_seen).entry(*id).or_insert_with(Instant::now);
        let mut have = lock(&self.verification.collected).get(id).cloned().unwrap_or_default();
        let asked: Vec<&Member> =
            registry.committee(id).into_iter().filter(|m| !have.contains_key(&m.signer)).collect();
        let answers = join_all(asked.iter().map(|member| self.ask(member, &receipt))).await;
        for (member, answer) in asked.into_iter().zip(answers) {
            match answer {
                Ok(verdict) => match self.accept(member, id, verdict, registry) {
                    Ok(verdict) => {
                        have.insert(verdict.validator, verdict);
                    }
                    Err(reason) => {
                        Metrics::count(&self.metrics.verdicts_refused, "reason", reason);
                        tracing::warn!(validator = %member.signer, claim = %id, reason, "verdict refused");
                    }
                },
                Err(err) => {
                    Metrics::count(&self.metrics.verdicts_refused, "reason", REFUSALS[3]);
                    tracing::debug!(%err, validator = %member.signer, "no verdict; asked again next round");
                }
            }
        }
        lock(&self.verification.collected).insert(*id, have.clone());
        let stake = |valid: bool| -> U256 {
            have.values().filter(|v| v.valid == valid).map(|v| registry.validators.stake_of(&v.validator)).sum()
        };
        let outcome = if registry.validators.is_quorum(stake(true)) {
            Some(true)
        } else if registry.validators.is_quorum(stake(false)) {
            Some(false)
        } else {
            None
        };
        let accusation = have.values().find(|v| !v.valid).cloned();
        if let Some(accusation) = &accusation
            && !lock(&self.verification.disputed).contains(id)
        {
            self.open_dispute(&receipt, accusation).await?;
        }
        let Some(valid) = outcome else { return Ok(false) };
        if accusation.is_some() {
            // The quorum decides the dispute, then every verdict that contradicts it is slashed.
            let quorum: Vec<&Verdict> = have.values().filter(|v| v.valid == valid).collect();
            self.resolve_dispute(id, valid, &quorum).await?;
            for dissent in have.values().filter(|v| v.valid != valid) {
                self.slash_verdict(id, dissent).await?;
            }
        }
        let verdicts: Vec<Verdict> = have.into_values().collect();
        self.claims.finish_verification(id, verdicts, registry.snapshot(), valid)?;
        lock(&self.verification.collected).remove(id);
        lock(&self.verification.disputed).remove(id);
        if let Some(seen) = lock(&self.verification.first_seen).remove(id) {
            self.metrics.observe_verdict(seen.elapsed().as_secs_f64());
        }
        Metrics::count(&self.metrics.quorums, "outcome", if valid { "valid" } else { "invalid" });
        if !valid {
            tracing::warn!(claim = %id, worker = %receipt.claim.worker, "a quorum judged the claim INVALID: not settled, not charged");
        }
        Ok(true)
    }

    /// One validator's verdict: this node's own when it is the validator, else over HTTP.
    async fn ask(&self, member: &Member, receipt: &Receipt) -> NodeResult<Verdict> {
        if self.validator.as_ref().is_some_and(|v| v.address() == member.signer) {
            return Ok(self.judge(receipt, None).await?.verdict);
        }
        if member.endpoint.is_empty() {
            return Err(NodeError::Peer(format!("validator {} registered no endpoint", member.signer)));
        }
        Ok(self.peers.judge(&member.endpoint, receipt, VERDICT_TIMEOUT).await?.verdict)
    }

    /// Checks a verdict a validator sent: it must be that validator's, about this claim, and
    /// the validator must be staked.
    fn accept(
        &self,
        member: &Member,
        id: &B256,
        verdict: Verdict,
        registry: &Registry,
    ) -> Result<Verdict, &'static str> {
        if verdict.validator != member.signer {
            return Err(REFUSALS[0]);
        }
        if verdict.signer(&self.domain, *id) != Some(member.signer) {
            return Err(REFUSALS[1]);
        }
        if registry.validators.stake_of(&member.signer).is_zero() {
            return Err(REFUSALS[2]);
        }
        Ok(verdict)
    }

    async fn send_settlement<C: alloy_sol_types::SolCall + Send>(&self, call: C) -> Result<(), ChainError> {
        let settlement = self.settlement.as_ref().ok_or_else(|| ChainError::Rpc("no chain".into()))?;
        let batcher = &settlement.batcher;
        batcher.chain.send_call(&batcher.sender, batcher.contracts.settlement, call, batcher.confirmations).await?;
        Ok(())
    }

    /// Opens a dispute on a claim with a validator's "invalid" verdict (the gateway's bond).
    async fn open_dispute(&self, receipt: &Receipt, accusation: &Verdict) -> NodeResult<()> {
        let call = SettlementContract::openDisputeCall {
            claim: claim_struct(&receipt.claim),
            workerSignature: Bytes::from(receipt.signature.to_vec()),
            invalidVerdict: accusation.signature.clone(),
        };
        match self.send_settlement(call).await {
            Ok(()) => {
                Metrics::count(&self.metrics.disputes, "event", "opened");
                tracing::warn!(claim = %receipt.id(), accuser = %accusation.validator, "dispute opened");
            }
            Err(err) if reverted_with(&err, "AlreadyDisputed") => {}
            Err(err) => return Err(err.into()),
        }
        lock(&self.verification.disputed).insert(receipt.id());
        Ok(())
    }

    /// Resolves a dispute with the quorum's verdicts (in ascending signer order).
    async fn resolve_dispute(&self, id: &B256, valid: bool, quorum: &[&Verdict]) -> NodeResult<()> {
        let mut quorum = quorum.to_vec();
        quorum.sort_by_key(|v| v.validator);
        let signatures = quorum.iter().map(|v| v.signature.clone()).collect();
        let call = SettlementContract::resolveDisputeCall { digest: *id, claimValid: valid, signatures };
        match self.send_settlement(call).await {
            Ok(()) => {
                Metrics::count(
                    &self.metrics.disputes,
                    "event",
                    if valid { "resolved_valid" } else { "resolved_invalid" },
                );
                tracing::warn!(claim = %id, claim_valid = valid, "dispute resolved by the quorum");
                Ok(())
            }
            Err(err) if reverted_with(&err, "AlreadyResolved") => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Slashes a validator whose signed verdict contradicts the quorum's resolution.
    async fn slash_verdict(&self, id: &B256, verdict: &Verdict) -> NodeResult<()> {
        let call = SettlementContract::slashVerdictCall {
            claimDigest: *id,
            valid: verdict.valid,
            signature: verdict.signature.clone(),
        };
        match self.send_settlement(call).await {
            Ok(()) => {
                Metrics::count(&self.metrics.disputes, "event", "validator_slashed");
                tracing::warn!(claim = %id, validator = %verdict.validator, "validator slashed for a verdict against the quorum");
                Ok(())
            }
            Err(err) if reverted_with(&err, "AlreadySlashed") || reverted_with(&err, "NotAValidator") => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Signatures on a batch from validators holding more than 2/3 of the stake, in ascending
    /// signer order: this node's own validator key when standalone, else the network's.
    pub(crate) async fn batch_signatures(&self, plan: &BatchPlan) -> NodeResult<Vec<Bytes>> {
        if self.role == NodeRole::Standalone {
            let key = self.validator_key().ok_or(NodeError::NoChain)?;
            return Ok(vec![Bytes::from(key.sign_digest(&plan.digest)?.to_vec())]);
        }
        let registry = self.registry().await?;
        let request = BatchToSign {
            root: plan.tree.root(),
            claims: plan
                .ids
                .iter()
                .zip(&plan.verdicts)
                .map(|(id, verdicts)| crate::ClaimVerdicts { id: *id, verdicts: verdicts.clone() })
                .collect(),
            debits: plan.debits.clone(),
            credits: plan.credits.clone(),
        };
        let validators: Vec<&Member> = registry.committee(&plan.digest);
        let answers = join_all(validators.iter().map(|m| self.peers.sign_batch(&m.endpoint, &request))).await;
        let mut signed = BTreeMap::new();
        for (member, answer) in validators.iter().zip(answers) {
            let signature = match answer {
                Ok(answer) => answer.signature,
                Err(err) => {
                    tracing::debug!(%err, validator = %member.signer, "no batch signature");
                    continue;
                }
            };
            if recover_signer_bytes(&plan.digest, &signature).ok() == Some(member.signer) {
                signed.insert(member.signer, signature);
            } else {
                tracing::warn!(validator = %member.signer, "batch signature refused: it does not hold");
            }
        }
        let stake: U256 = signed.keys().map(|v| registry.validators.stake_of(v)).sum();
        if !registry.validators.is_quorum(stake) {
            return Err(NodeError::Peer(format!(
                "the batch is signed by {} validators holding {stake} of {} stake; more than 2/3 is needed",
                signed.len(),
                registry.validators.total
            )));
        }
        Ok(signed.into_values().collect())
    }

    /// As a validator: signs a batch if its root is its claims' Merkle root, every claim carries
    /// a quorum of "valid" verdicts from staked validators, and its transfers balance.
    pub async fn sign_batch(&self, batch: &BatchToSign) -> NodeResult<BatchSignature> {
        let key = self.validator_key().ok_or(NodeError::NotAValidator)?;
        let registry = self.registry().await?;
        let digest = veritas_verifier::check_batch(&self.domain, batch, &registry.validators, crate::MAX_BATCH)
            .map_err(NodeError::Refused)?;
        Ok(BatchSignature { validator: key.address(), signature: Bytes::from(key.sign_digest(&digest)?.to_vec()) })
    }
}
