//! The validator: it judges claims and signs verdicts, and signs settlement batches whose every
//! claim carries a quorum of "valid" verdicts.
//!
//! `signed` checks what the receipt itself proves (the worker's signature, every hash, the model
//! id) and that the worker is a registered, staked inference node; `tee` adds the attestation
//! under the network's policy, `zk` the proof, and `reexec` runs the computation again
//! (`check`). Which check a claim gets is the protocol's (`protocol::sampling`), never the
//! caller's, and a validator signs one verdict per claim (kept in its store).

mod check;
mod faults;

use std::{collections::BTreeMap, sync::Arc};

use alloy_primitives::Bytes;
use veritas_hub::ModelFormat;
use veritas_primitives::{Address, B256, Receipt, Verdict, WorkerKey, batch::BatchToSign, verdict::verdict_digest};
use veritas_verifier::{Expectations, verify_receipt};
use veritas_wire::{BatchSignature, CheckMode, Judgement};

use veritas_chain::{
    Chain,
    contracts::{ModelRegistry, Settlement as SettlementContract},
};

use crate::{
    Fault, NodeConfig, NodeError, NodeResult,
    core::Core,
    gateway::MAX_BATCH,
    protocol::{Prices, check_for, settlement::batch_transfers},
    store::SignedBatch,
};

/// A validator's service.
pub struct Validator {
    core: Arc<Core>,
    /// The key verdicts and batch signatures are made with (a standalone node's
    /// `validator.key`, a validator's node key).
    key: Arc<WorkerKey>,
    /// The share of `reexec` claims re-executed.
    reexec_sampling: f64,
    /// A deliberate lie (byzantine tests).
    fault: Option<Fault>,
    /// Batches are checked and recorded one at a time, so two cannot take the same claim.
    batching: tokio::sync::Mutex<()>,
}

/// A verdict decided: the one kept earlier, or a new one to keep.
enum Decided {
    Kept(Judgement),
    New(Judgement),
}

/// How far ahead a batch's deadline may be.
pub const MAX_BATCH_LIFETIME: u64 = 900;

impl Validator {
    pub(crate) fn new(core: Arc<Core>, key: Arc<WorkerKey>, config: &NodeConfig) -> Validator {
        Validator {
            core,
            key,
            reexec_sampling: config.reexec_sampling.clamp(0.0, 1.0),
            fault: config.fault.filter(|f| !f.is_worker_fault()),
            batching: Default::default(),
        }
    }

    /// The key this validator signs with.
    pub fn address(&self) -> veritas_primitives::Address {
        self.key.address()
    }

    /// Judges a claim and signs the verdict, once: the check follows from the claim (every
    /// `tee` attestation and `zk` proof, the sampled share of `reexec` claims re-executed, by
    /// their digest; everything else `signed`), and a check asked for must be that one. The
    /// first verdict signed on a claim is kept and answered to every later ask. A receipt whose
    /// own parts do not hold gets no verdict at all ([`NodeError::Unjudgeable`]): anyone can
    /// strip or mangle a copy of an honest claim, and no such copy may earn it an "invalid".
    pub async fn judge(&self, receipt: &Receipt, asked: Option<CheckMode>) -> NodeResult<Judgement> {
        match self.decide(receipt, asked).await? {
            Decided::Kept(kept) => Ok(kept),
            Decided::New(judgement) => {
                let store = self.core.store.clone();
                let kept = tokio::task::spawn_blocking(move || store.verdicts().keep_many(vec![judgement])).await??;
                let kept = kept.into_iter().next().ok_or_else(|| NodeError::Fault("no verdict kept".into()))?;
                self.core.metrics.count_verdict(kept.valid, kept.check.name());
                Ok(kept)
            }
        }
    }

    /// Judges many claims at once (a gateway's round), each as [`Validator::judge`] with the
    /// check its claim calls for: the checks run side by side, and the new verdicts are kept in
    /// one durable write.
    pub async fn judge_many(&self, receipts: &[Receipt]) -> Vec<NodeResult<Judgement>> {
        let started = std::time::Instant::now();
        let decided = futures_util::future::join_all(receipts.iter().map(|receipt| self.decide(receipt, None))).await;
        let new: Vec<Judgement> = decided
            .iter()
            .filter_map(|decided| match decided {
                Ok(Decided::New(judgement)) => Some(judgement.clone()),
                _ => None,
            })
            .collect();
        let decided_in = started.elapsed();
        let store = self.core.store.clone();
        let kept = match tokio::task::spawn_blocking(move || store.verdicts().keep_many(new)).await {
            Ok(Ok(kept)) => Ok(kept),
            Ok(Err(err)) => Err(err.to_string()),
            Err(err) => Err(err.to_string()),
        };
        tracing::debug!(
            claims = receipts.len(),
            decided_ms = decided_in.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "judged a round"
        );
        let mut kept = match kept {
            Ok(kept) => kept.into_iter(),
            Err(why) => {
                return decided
                    .into_iter()
                    .map(|decided| match decided {
                        Ok(Decided::Kept(kept)) => Ok(kept),
                        Ok(Decided::New(_)) => Err(NodeError::Fault(format!("the verdict could not be kept: {why}"))),
                        Err(err) => Err(err),
                    })
                    .collect();
            }
        };
        decided
            .into_iter()
            .map(|decided| match decided {
                Ok(Decided::Kept(judgement)) => Ok(judgement),
                Ok(Decided::New(_)) => {
                    let judgement = kept.next().ok_or_else(|| NodeError::Fault("a verdict not kept".into()))?;
                    self.core.metrics.count_verdict(judgement.valid, judgement.check.name());
                    Ok(judgement)
                }
                Err(err) => Err(err),
            })
            .collect()
    }

    /// The verdict on a claim: the one kept, or a new one signed (not kept yet).
    async fn decide(&self, receipt: &Receipt, asked: Option<CheckMode>) -> NodeResult<Decided> {
        let domain = self.core.domain;
        if receipt.domain != domain {
            return Err(NodeError::ForeignClaim { claim: receipt.domain, ours: domain });
        }
        let id = receipt.id();
        let check = check_for(receipt.claim.mode, &id, self.reexec_sampling);
        if let Some(asked) = asked
            && asked != check
        {
            return Err(NodeError::OtherCheck { mode: receipt.claim.mode, derived: check, asked });
        }
        if let Some(kept) = self.core.store.verdicts().get(&id)? {
            return Ok(Decided::Kept(kept));
        }
        let (valid, reason) = if self.fault == Some(Fault::ApproveAll) {
            (true, "approved without checking (test fault approve-all)".to_owned())
        } else {
            self.check(receipt, check).await?
        };
        let digest = verdict_digest(&domain, id, valid, check);
        let signature = Bytes::from(self.key.sign_digest(&digest)?.to_vec());
        let mut verdict = Verdict { validator: self.key.address(), valid, check, signature };
        if self.fault == Some(Fault::BadVerdicts) {
            verdict = faults::bad_verdict(&id, verdict, &digest)?;
        }
        Ok(Decided::New(Judgement { receipt_id: id, valid, check, reason, verdict }))
    }

    /// Whether the claim holds under `check`, once the receipt itself holds.
    async fn check(&self, receipt: &Receipt, check: CheckMode) -> NodeResult<(bool, String)> {
        let expect = Expectations { tee_policy: self.core.tee_policy.clone(), ..Expectations::default() };
        let report = verify_receipt(receipt, &expect).map_err(|err| NodeError::Unjudgeable(err.to_string()))?;
        if let Some(link) = self.core.chain()
            && !link.is_staked_worker(receipt.claim.worker).await?
        {
            return Ok((false, format!("worker {} is not a registered, staked inference node", receipt.claim.worker)));
        }
        match check {
            CheckMode::Signed => {
                return Ok((true, "signature, hashes, model id and the worker's registration hold".into()));
            }
            CheckMode::Zk => {
                let zk = report.zk.ok_or_else(|| NodeError::Unjudgeable("a zk claim without its proof".into()))?;
                return Ok((
                    true,
                    format!(
                        "signature, hashes, model id, the worker's registration and the proof hold (model \
                         commitment {}, {} bits)",
                        zk.commitment, zk.security_bits
                    ),
                ));
            }
            CheckMode::Tee => {
                let tee =
                    report.tee.ok_or_else(|| NodeError::Unjudgeable("a tee claim without its attestation".into()))?;
                return Ok((
                    true,
                    format!(
                        "signature, hashes, model id, the worker's registration and the attestation hold ({}; {})",
                        tee.label(),
                        tee.assumptions().join("; ")
                    ),
                ));
            }
            CheckMode::Reexec => {}
        }
        let version = self.core.model_by_id(&receipt.claim.model_id).await?;
        let inputs = receipt
            .body
            .input
            .clone()
            .ok_or_else(|| NodeError::Unjudgeable("a claim to re-execute without its input".into()))?;
        match version.manifest.format {
            ModelFormat::Onnx => {
                let outputs = self.core.run_onnx(&version, inputs).await?;
                Ok(check::compare_onnx(receipt, &outputs, version.manifest.tolerance.as_ref()))
            }
            ModelFormat::Gguf if version.manifest.is_embedding() => {
                // Embeddings: computed again, and within the declared tolerance of the claimed.
                let (outputs, _) = self.core.embed(&version, &inputs).await?;
                let tolerance = veritas_primitives::Tolerance { abs: veritas_llm::EMBEDDING_TOLERANCE, rel: 0.0 };
                Ok(check::compare_onnx(receipt, &outputs, Some(&tolerance)))
            }
            ModelFormat::Gguf => self.rescore(&version, receipt).await,
            ModelFormat::Quantized => {
                // The integer executor is bit-exact: the outputs must be the same.
                let run = self.core.run_quantized(&version, inputs, false).await?;
                let same = Some(&run.outputs) == receipt.body.output.as_ref();
                let reason = if same { "re-executed: the same int8 outputs" } else { "re-executed: other outputs" };
                Ok((same, reason.into()))
            }
        }
    }

    /// Signs a batch for the gateway that asks (`gateway`, authenticated by its call), only if
    /// everything it moves follows from its claims: the batch names that gateway and a deadline
    /// within [`MAX_BATCH_LIFETIME`] s; every claim is distinct, is the claim its id names, and
    /// carries a quorum of "valid" verdicts from the registry's validators with checks its mode
    /// rests on; the root is the claims' Merkle root; each claim charges at most the price the
    /// gateway lists on chain for its model and the tokens its output proves; and the transfers
    /// are exactly those charges paid out by the protocol's split. A claim is signed into one
    /// live batch only: the batch is recorded before the signature leaves, and a claim is signed
    /// into another batch only once the chain says the first can never settle.
    pub async fn sign_batch(&self, gateway: Address, batch: &BatchToSign) -> NodeResult<BatchSignature> {
        let refuse = |why: String| NodeError::BatchRefused(why);
        let _one_at_a_time = self.batching.lock().await;
        if batch.gateway != gateway {
            return Err(refuse(format!("the batch names gateway {}, but {gateway} asked", batch.gateway)));
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if batch.deadline <= now || batch.deadline > now + MAX_BATCH_LIFETIME {
            return Err(refuse(format!(
                "the deadline {} is not within the next {MAX_BATCH_LIFETIME} s (now {now})",
                batch.deadline
            )));
        }
        let link = self.core.chain_or_err()?;
        let registry = link.registry().await?;
        let digest =
            veritas_verifier::check_batch(&self.core.domain, batch, &registry.validators, MAX_BATCH).map_err(refuse)?;
        let mut listings = BTreeMap::new();
        for claim in &batch.claims {
            let model = claim.claim.model_id;
            if listings.contains_key(&model) {
                continue;
            }
            let call = ModelRegistry::listingOfCall { modelId: model.digest(), publisher: gateway };
            let listing = link.chain.view(link.contracts.models, call).await?;
            if listing.listed {
                listings.insert(model, Prices { per_request: listing.perRequest, per_token: listing.perToken });
            }
        }
        let (debits, credits) = batch_transfers(&batch.claims, &listings).map_err(refuse)?;
        if debits != batch.debits || credits != batch.credits {
            return Err(refuse(format!(
                "its transfers are not what its claims move: debits {debits:?} and credits {credits:?}"
            )));
        }
        let ids: Vec<B256> = batch.claims.iter().map(|claim| claim.id).collect();
        let verdicts = self.core.store.verdicts();
        for (claim, earlier) in verdicts.batches_of(&ids)? {
            if earlier.root == batch.root {
                continue;
            }
            let call = SettlementContract::isDeadCall { root: earlier.root, deadline: earlier.deadline };
            if !link.chain.view(link.contracts.settlement, call).await? {
                return Err(refuse(format!(
                    "claim {claim} is in batch {} this validator signed, which may settle until {}",
                    earlier.root, earlier.deadline
                )));
            }
        }
        verdicts.sign_into(&ids, SignedBatch { root: batch.root, deadline: batch.deadline })?;
        Ok(BatchSignature { validator: self.key.address(), signature: self.sign(&digest)? })
    }

    /// A signature over a digest this node's gateway computed itself (a standalone node's own
    /// batch).
    pub(crate) fn sign(&self, digest: &B256) -> NodeResult<Bytes> {
        Ok(Bytes::from(self.key.sign_digest(digest)?.to_vec()))
    }
}
