//! A gateway's side of verification: it asks the validators the registry names for their
//! verdicts on each logged claim, keeps those that count, and records the claim as valid or
//! invalid once validators holding more than 2/3 of the stake agree. Until then the claim waits
//! (it is never lost, and never settled as valid), and it is asked about again.
//!
//! An "invalid" verdict opens a dispute on chain (the gateway posts the bond); the quorum's
//! verdict resolves it, which slashes a lying worker, and every validator whose signed verdict
//! contradicts the quorum is slashed too (`slashVerdict`). What follows from which verdicts is
//! the protocol's (`protocol::verdicts`); this module asks and sends.

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
use veritas_primitives::{Address, B256, Check, Receipt, Verdict, batch::BatchToSign, recover_signer_bytes};
use veritas_wire::{Member, Registry};

use super::{Backends, Gateway, settle::BatchPlan};
use crate::{
    NodeError, NodeResult,
    metrics::Metrics,
    protocol::{Step, VerdictRefusal, accept, resolve},
};

/// Claims judged per round: each validator is asked about all of them in one call.
const ROUND: usize = veritas_wire::MAX_JUDGE_BATCH;
/// Rounds under way at once, over disjoint claims: while the validators judge one round, the
/// gateway weighs and records the previous one.
pub(crate) const PARALLEL_ROUNDS: usize = 2;
/// How long a validator may take for one verdict (a re-executed generation included).
const VERDICT_TIMEOUT: Duration = Duration::from_secs(120);

/// What a gateway holds in memory about claims awaiting verdicts (the claims themselves are in
/// the store; after a restart the validators are simply asked again).
pub(crate) struct Verification {
    collected: std::sync::Mutex<HashMap<B256, BTreeMap<Address, Verdict>>>,
    first_seen: std::sync::Mutex<HashMap<B256, Instant>>,
    disputed: std::sync::Mutex<HashSet<B256>>,
    /// The claims of the rounds under way: no two rounds ask about the same claim.
    in_flight: std::sync::Mutex<HashSet<B256>>,
    rounds: tokio::sync::Semaphore,
}

impl Default for Verification {
    fn default() -> Verification {
        Verification {
            collected: Default::default(),
            first_seen: Default::default(),
            disputed: Default::default(),
            in_flight: Default::default(),
            rounds: tokio::sync::Semaphore::new(PARALLEL_ROUNDS),
        }
    }
}

/// A round's claims, released from [`Verification::in_flight`] when the round ends, however
/// it ends.
struct InFlight<'a> {
    set: &'a std::sync::Mutex<HashSet<B256>>,
    ids: Vec<B256>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut set = lock(self.set);
        for id in &self.ids {
            set.remove(id);
        }
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Gateway {
    /// One round: asks the validators about the claims awaiting verdicts (the oldest 128 that
    /// no other round is asking about), each validator once for all the claims it has not
    /// answered (`POST /v1/verdicts/batch`), and records each quorum; returns how many claims
    /// reached one. Up to [`PARALLEL_ROUNDS`] rounds run at once; a call while they all run
    /// returns 0 at once.
    pub async fn verify_pending(&self) -> NodeResult<usize> {
        Ok(self.verify_round().await?.0)
    }

    /// [`Gateway::verify_pending`], also saying whether the round was full (more claims are
    /// likely waiting).
    pub(crate) async fn verify_round(&self) -> NodeResult<(usize, bool)> {
        if !self.settles() {
            return Ok((0, false));
        }
        let Ok(_turn) = self.verification.rounds.try_acquire() else { return Ok((0, false)) };
        let store = &self.core.store;
        let queue = store.settlement();
        let round = {
            let oldest = queue.awaiting(ROUND * PARALLEL_ROUNDS)?;
            let mut in_flight = lock(&self.verification.in_flight);
            let ids: Vec<B256> = oldest.into_iter().filter(|id| !in_flight.contains(id)).take(ROUND).collect();
            in_flight.extend(ids.iter().copied());
            InFlight { set: &self.verification.in_flight, ids }
        };
        let ids = &round.ids;
        if ids.is_empty() {
            if lock(&self.verification.in_flight).is_empty() {
                self.core.metrics.awaiting.set(0);
            }
            return Ok((0, false));
        }
        let full = ids.len() == ROUND;
        let registry = self.registry().await?;
        let mut claims = Vec::with_capacity(ids.len());
        for &id in ids {
            match store.receipts().get(&id)? {
                Some(receipt) => claims.push((id, receipt)),
                None => tracing::warn!(claim = %id, "awaiting verdicts but not in the log"),
            }
        }
        // Which validator is asked about which claims: those of its committee it has not
        // answered yet.
        let mut asks: BTreeMap<Address, (&Member, Vec<usize>)> = BTreeMap::new();
        for (index, (id, _)) in claims.iter().enumerate() {
            lock(&self.verification.first_seen).entry(*id).or_insert_with(Instant::now);
            let have = lock(&self.verification.collected).get(id).map(|have| have.keys().copied().collect::<Vec<_>>());
            for member in registry.committee(id) {
                if !have.as_ref().is_some_and(|have| have.contains(&member.signer)) {
                    asks.entry(member.signer).or_insert((member, Vec::new())).1.push(index);
                }
            }
        }
        let asked_at = Instant::now();
        let replies = join_all(asks.values().map(|(member, indices)| {
            let receipts: Vec<Receipt> = indices.iter().map(|&i| claims[i].1.clone()).collect();
            async move { self.ask_many(member, &receipts).await }
        }))
        .await;
        let mut answers: Vec<Vec<(&Member, Result<Verdict, String>)>> = claims.iter().map(|_| Vec::new()).collect();
        for ((member, indices), reply) in asks.values().zip(replies) {
            match reply {
                Ok(verdicts) if verdicts.len() == indices.len() => {
                    for (&index, verdict) in indices.iter().zip(verdicts) {
                        answers[index].push((member, verdict));
                    }
                }
                Ok(verdicts) => {
                    let why = format!("{} answers to {} claims", verdicts.len(), indices.len());
                    indices.iter().for_each(|&index| answers[index].push((member, Err(why.clone()))));
                }
                Err(err) => {
                    let why = err.to_string();
                    indices.iter().for_each(|&index| answers[index].push((member, Err(why.clone()))));
                }
            }
        }
        let answered_in = asked_at.elapsed();
        let outcomes = join_all(
            claims.iter().zip(answers).map(|((id, receipt), answers)| self.weigh(id, receipt, answers, &registry)),
        )
        .await;
        let mut judged = Vec::new();
        for ((id, receipt), outcome) in claims.iter().zip(outcomes) {
            match outcome {
                Ok(Some((verdicts, valid))) => judged.push((*id, receipt.claim.worker, verdicts, valid)),
                Ok(None) => {}
                Err(err) => tracing::warn!(%err, claim = %id, "verdicts on this claim are not settled yet"),
            }
        }
        let weighed_in = asked_at.elapsed() - answered_in;
        // Every quorum of the round in one durable write.
        let records = judged.iter().map(|(id, _, verdicts, valid)| (*id, verdicts.clone(), *valid)).collect();
        let (store, snapshot) = (self.core.store.clone(), registry.snapshot());
        tokio::task::spawn_blocking(move || store.settlement().finish_verifications(records, &snapshot)).await??;
        let metrics = &self.core.metrics;
        for (id, worker, _, valid) in &judged {
            lock(&self.verification.collected).remove(id);
            lock(&self.verification.disputed).remove(id);
            if let Some(seen) = lock(&self.verification.first_seen).remove(id) {
                metrics.observe_verdict(seen.elapsed().as_secs_f64());
            }
            Metrics::count(&metrics.quorums, "outcome", if *valid { "valid" } else { "invalid" });
            if !valid {
                tracing::warn!(claim = %id, %worker, "a quorum judged the claim INVALID: not settled, not charged");
            }
        }
        metrics.awaiting.set(i64::try_from(queue.awaiting_count()?).unwrap_or(i64::MAX));
        tracing::debug!(
            claims = claims.len(),
            quorums = judged.len(),
            answered_ms = answered_in.as_millis() as u64,
            weighed_ms = weighed_in.as_millis() as u64,
            total_ms = asked_at.elapsed().as_millis() as u64,
            "verdict round"
        );
        Ok((judged.len(), full))
    }

    /// Weighs the validators' new answers about one claim with those it has and takes the
    /// steps its verdicts call for; the quorum's verdicts and judgement once there is one.
    async fn weigh(
        &self,
        id: &B256,
        receipt: &Receipt,
        answers: Vec<(&Member, Result<Verdict, String>)>,
        registry: &Registry,
    ) -> NodeResult<Option<(Vec<Verdict>, bool)>> {
        let metrics = &self.core.metrics;
        let mut have = lock(&self.verification.collected).get(id).cloned().unwrap_or_default();
        for (member, answer) in answers {
            let stake = registry.validators.stake_of(&member.signer);
            let refusal = match answer {
                Ok(verdict) => match accept(&self.core.domain, member.signer, stake, id, receipt.claim.mode, verdict) {
                    Ok(verdict) => {
                        have.insert(verdict.validator, verdict);
                        continue;
                    }
                    Err(refusal) => {
                        tracing::warn!(validator = %member.signer, claim = %id, reason = refusal.label(), "verdict refused");
                        refusal
                    }
                },
                Err(err) => {
                    tracing::debug!(%err, validator = %member.signer, "no verdict; asked again next round");
                    VerdictRefusal::NoAnswer
                }
            };
            Metrics::count(&metrics.verdicts_refused, "reason", refusal.label());
        }
        lock(&self.verification.collected).insert(*id, have.clone());
        let disputed = lock(&self.verification.disputed).contains(id);
        let mut recorded = None;
        for step in resolve(&have, &registry.validators, disputed) {
            match step {
                Step::OpenDispute(accusation) => self.open_dispute(receipt, &accusation).await?,
                Step::ResolveDispute { valid, check, quorum } => {
                    self.resolve_dispute(id, valid, check, &quorum).await?
                }
                Step::SlashVerdict(dissent) => self.slash_verdict(id, &dissent).await?,
                Step::Record { valid } => recorded = Some(valid),
            }
        }
        Ok(recorded.map(|valid| (have.into_values().collect(), valid)))
    }

    /// One validator's verdicts on some claims, in their order: this node's own when it is the
    /// validator, else one call over HTTP. `Err` when the validator did not answer at all.
    async fn ask_many(&self, member: &Member, receipts: &[Receipt]) -> NodeResult<Vec<Result<Verdict, String>>> {
        if let Backends::Local { validator: Some(validator), .. } = &self.backends
            && validator.address() == member.signer
        {
            let judged = validator.judge_many(receipts).await;
            return Ok(judged.into_iter().map(|j| j.map(|j| j.verdict).map_err(|err| err.to_string())).collect());
        }
        if member.endpoint.is_empty() {
            return Err(crate::PeerError::NoEndpoint(member.signer).into());
        }
        let caller = self.caller(member.signer);
        let judged = self.core.peers.judge_many(&caller, &member.endpoint, receipts, VERDICT_TIMEOUT).await?;
        Ok(judged
            .answers
            .into_iter()
            .map(|answer| match (answer.judgement, answer.error) {
                (Some(judgement), _) => Ok(judgement.verdict),
                (None, Some(error)) => Err(format!("{} ({})", error.message, error.code)),
                (None, None) => Err("an answer with neither a judgement nor an error".to_owned()),
            })
            .collect())
    }

    async fn send_settlement<C: alloy_sol_types::SolCall + Send>(&self, call: C) -> Result<(), ChainError> {
        let link = self.link().map_err(|_| ChainError::Rpc("no chain".into()))?;
        link.chain.send_call(&self.sender, link.contracts.settlement, call, link.confirmations).await?;
        Ok(())
    }

    /// Opens a dispute on a claim with a validator's "invalid" verdict (the gateway's bond).
    async fn open_dispute(&self, receipt: &Receipt, accusation: &Verdict) -> NodeResult<()> {
        let call = SettlementContract::openDisputeCall {
            claim: claim_struct(&receipt.claim),
            workerSignature: Bytes::from(receipt.signature.to_vec()),
            check: accusation.check.code(),
            invalidVerdict: accusation.signature.clone(),
        };
        match self.send_settlement(call).await {
            Ok(()) => {
                Metrics::count(&self.core.metrics.disputes, "event", "opened");
                tracing::warn!(claim = %receipt.id(), accuser = %accusation.validator, "dispute opened");
            }
            Err(err) if err.reverted_with("AlreadyDisputed") => {}
            // An accuser the contract does not take (slashed below the bond, or no longer a
            // validator): no dispute; the quorum's verdict still decides whether it is paid.
            Err(err) if err.reverted_with("AccuserStakeBelowBond") || err.reverted_with("NotAValidator") => {
                tracing::warn!(claim = %receipt.id(), accuser = %accusation.validator, %err, "no dispute: the accuser cannot open one");
            }
            Err(err) => return Err(err.into()),
        }
        lock(&self.verification.disputed).insert(receipt.id());
        Ok(())
    }

    /// Resolves a dispute with the quorum's verdicts (in ascending signer order).
    async fn resolve_dispute(&self, id: &B256, valid: bool, check: Check, quorum: &[Verdict]) -> NodeResult<()> {
        let mut quorum = quorum.to_vec();
        quorum.sort_by_key(|v| v.validator);
        let signatures = quorum.into_iter().map(|v| v.signature).collect();
        let call =
            SettlementContract::resolveDisputeCall { digest: *id, claimValid: valid, check: check.code(), signatures };
        match self.send_settlement(call).await {
            Ok(()) => {
                let event = if valid { "resolved_valid" } else { "resolved_invalid" };
                Metrics::count(&self.core.metrics.disputes, "event", event);
                tracing::warn!(claim = %id, claim_valid = valid, "dispute resolved by the quorum");
                Ok(())
            }
            // Resolved already, or never opened (its accuser could not open it).
            Err(err) if err.reverted_with("AlreadyResolved") || err.reverted_with("NoSuchDispute") => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Slashes a validator whose signed verdict contradicts the quorum's resolution.
    async fn slash_verdict(&self, id: &B256, verdict: &Verdict) -> NodeResult<()> {
        let call = SettlementContract::slashVerdictCall {
            claimDigest: *id,
            valid: verdict.valid,
            check: verdict.check.code(),
            signature: verdict.signature.clone(),
        };
        match self.send_settlement(call).await {
            Ok(()) => {
                Metrics::count(&self.core.metrics.disputes, "event", "validator_slashed");
                tracing::warn!(claim = %id, validator = %verdict.validator, "validator slashed for a verdict against the quorum");
                Ok(())
            }
            Err(err)
                if ["AlreadySlashed", "NotAValidator", "NoSuchDispute", "NotResolved"]
                    .iter()
                    .any(|reason| err.reverted_with(reason)) =>
            {
                Ok(())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Signatures on a batch from validators holding more than 2/3 of the stake, in ascending
    /// signer order: this node's own validator's when standalone, else the network's.
    pub(crate) async fn batch_signatures(&self, plan: &BatchPlan) -> NodeResult<Vec<Bytes>> {
        match &self.backends {
            Backends::Local { validator: Some(validator), .. } => return Ok(vec![validator.sign(&plan.digest)?]),
            Backends::Local { validator: None, .. } => return Err(NodeError::NoChain),
            Backends::Network => {}
        }
        let registry = self.registry().await?;
        let request = BatchToSign {
            root: plan.tree.root(),
            claims: plan.claims.clone(),
            debits: plan.debits.clone(),
            credits: plan.credits.clone(),
            gateway: plan.gateway,
            deadline: plan.deadline,
        };
        let validators: Vec<&Member> = registry.committee(&plan.digest);
        let answers = join_all(validators.iter().map(|m| {
            let request = &request;
            async move { self.core.peers.sign_batch(&self.caller(m.signer), &m.endpoint, request).await }
        }))
        .await;
        let mut signed = BTreeMap::new();
        let mut refusals = Vec::new();
        for (member, answer) in validators.iter().zip(answers) {
            let signature = match answer {
                Ok(answer) => answer.signature,
                Err(err) => {
                    tracing::debug!(%err, validator = %member.signer, "no batch signature");
                    refusals.push(format!("{}: {err}", member.signer));
                    continue;
                }
            };
            if recover_signer_bytes(&plan.digest, &signature).ok() == Some(member.signer) {
                signed.insert(member.signer, signature);
            } else {
                tracing::warn!(validator = %member.signer, "batch signature refused: it does not hold");
                refusals.push(format!("{}: a signature that does not hold", member.signer));
            }
        }
        let stake = signed.keys().map(|v| registry.validators.stake_of(v)).sum();
        if !registry.validators.is_quorum(stake) {
            return Err(NodeError::NoBatchQuorum {
                signers: signed.len(),
                stake,
                total: registry.validators.total,
                refusals: refusals.join("; "),
            });
        }
        Ok(signed.into_values().collect())
    }
}
