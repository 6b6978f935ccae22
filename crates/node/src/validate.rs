//! The validator's check of a claim, and its signed verdict.
//!
//! `signed` checks what the receipt itself proves (the worker's signature, every hash, the
//! model id) and that the worker is a registered, staked inference node. `reexec` also runs the
//! claim again: an ONNX model on the same inputs, whose outputs must hash the same (ONNX Runtime
//! on the CPU is deterministic for a given build and thread count, so a float re-execution that
//! differs means different computation, not noise), or, for a model whose manifest declares a
//! tolerance, must agree with the claimed outputs within it (floats within the tolerance,
//! everything else exact: `veritas_primitives::tolerance`); a language model's completion is scored
//! teacher-forced and must be consistent with its sampling parameters within the measured
//! tolerance (`veritas_llm::INCONSISTENT_TOLERANCE`).

use std::collections::BTreeMap;

use alloy_primitives::Bytes;
use serde::{Deserialize, Serialize};
use veritas_chain::{Chain, contracts::NodeRegistry};
use veritas_hub::ModelFormat;
use veritas_llm::SamplingParams;
use veritas_primitives::{
    Mode, Receipt, TensorData, Value, Values, Verdict, tolerance::compare_within, values::values_hash,
    verdict::verdict_digest,
};
use veritas_verifier::{Expectations, verify_receipt};

use crate::{Node, NodeError, NodeResult};

/// How thoroughly to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckMode {
    /// The receipt's own proofs and the worker's registration.
    Signed,
    /// All of that, and the computation run again.
    Reexec,
    /// All of `signed`, and the claim's TEE attestation under the network's policy.
    Tee,
    /// All of `signed`, and the claim's proof (`verify_receipt` verifies it).
    Zk,
}

impl CheckMode {
    /// The check's name.
    pub fn name(self) -> &'static str {
        match self {
            CheckMode::Signed => "signed",
            CheckMode::Reexec => "reexec",
            CheckMode::Tee => "tee",
            CheckMode::Zk => "zk",
        }
    }
}

/// A validator's judgement of a claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    /// Whether the claim holds.
    pub valid: bool,
    /// How it was checked.
    pub check: CheckMode,
    /// Why, for people.
    pub reason: String,
    /// The signed verdict (EIP-712 `Verdict(claimDigest, valid)` in the node's domain).
    pub verdict: Verdict,
}

/// The one string of a named string tensor.
pub(crate) fn string_value(values: Option<&veritas_primitives::Values>, name: &str) -> Option<String> {
    match values?.get(name)? {
        Value::Tensor(tensor) => match &tensor.data {
            TensorData::String(strings) => strings.first().cloned(),
            _ => None,
        },
        _ => None,
    }
}

/// Re-executed ONNX outputs against the claim: the same hash, or, where the model declares a
/// tolerance, the claimed outputs (carried in the receipt, hashing to the claim's output hash)
/// within it.
fn compare_onnx(
    receipt: &Receipt,
    outputs: &Values,
    tolerance: Option<&veritas_primitives::Tolerance>,
) -> (bool, String) {
    if values_hash(outputs) == receipt.claim.output_hash {
        return (true, "re-executed: the outputs are the same".into());
    }
    let Some(tolerance) = tolerance else {
        return (false, "re-executed: the outputs differ from the claimed ones".into());
    };
    // `verify_receipt` has checked the carried outputs against the claim already; checked again
    // here so that nothing unsigned is ever compared.
    let claimed = match &receipt.body.output {
        Some(claimed) if values_hash(claimed) == receipt.claim.output_hash => claimed,
        Some(_) => return (false, "the claimed outputs do not hash to the claim's output hash".into()),
        None => {
            return (
                false,
                "re-executed: the outputs differ from the claimed hash, and the receipt carries no outputs to \
                 compare within the model's tolerance"
                    .into(),
            );
        }
    };
    match compare_within(claimed, outputs, tolerance) {
        Ok(agreement) => (
            true,
            format!(
                "re-executed: the outputs agree within the model's tolerance ({tolerance}; max abs difference {:?} \
                 over {} floats)",
                agreement.max_abs_diff, agreement.floats
            ),
        ),
        Err(difference) => (false, format!("re-executed: {difference}")),
    }
}

impl Node {
    /// Checks a claim and signs the verdict with this node's validator key. Without an explicit
    /// check, a `reexec` claim is re-executed if it is in the sampled share (by its digest),
    /// every other claim is checked `signed`.
    pub async fn judge(&self, receipt: &Receipt, check: Option<CheckMode>) -> NodeResult<Judgement> {
        let validator = self.validator_key().ok_or(NodeError::NoChain)?;
        if receipt.domain != self.domain {
            return Err(NodeError::ForeignClaim(format!(
                "signed for chain {} and contract {}, this network is chain {} and contract {}",
                receipt.domain.chain_id,
                receipt.domain.verifying_contract,
                self.domain.chain_id,
                self.domain.verifying_contract
            )));
        }
        let mode = check.unwrap_or(match receipt.claim.mode {
            Mode::Reexec if crate::network::sampled(&receipt.id(), self.reexec_sampling) => CheckMode::Reexec,
            // Every tee claim's evidence is checked: it is what the mode sells.
            Mode::Tee => CheckMode::Tee,
            // Every zk claim's proof is verified: it costs milliseconds.
            Mode::Zk => CheckMode::Zk,
            _ => CheckMode::Signed,
        });
        let (valid, reason) = if self.fault == Some(crate::Fault::ApproveAll) {
            (true, "approved without checking (test fault approve-all)".to_owned())
        } else {
            self.check(receipt, mode).await?
        };
        let digest = verdict_digest(&self.domain, receipt.id(), valid);
        let signature = Bytes::from(validator.sign_digest(&digest)?.to_vec());
        self.metrics.count_verdict(valid, mode.name());
        let mut verdict = Verdict { validator: validator.address(), valid, signature };
        if self.fault == Some(crate::Fault::BadVerdicts) {
            verdict = crate::faults::bad_verdict(&receipt.id(), verdict, &digest)?;
        }
        Ok(Judgement { valid, check: mode, reason, verdict })
    }

    async fn check(&self, receipt: &Receipt, mode: CheckMode) -> NodeResult<(bool, String)> {
        let expect = Expectations { tee_policy: self.tee_policy.clone(), ..Expectations::default() };
        let report = match verify_receipt(receipt, &expect) {
            Ok(report) => report,
            Err(err) => return Ok((false, format!("the receipt does not hold: {err}"))),
        };
        if mode == CheckMode::Tee && receipt.claim.mode != Mode::Tee {
            return Ok((false, format!("a tee check of a {} claim, which carries no attestation", receipt.claim.mode)));
        }
        if let Some((chain, contracts)) = self.network() {
            let node =
                chain.view(contracts.registry, NodeRegistry::nodeOfCall { signer: receipt.claim.worker }).await?;
            if node.operator.is_zero() || node.stake.is_zero() || node.role != 1 {
                return Ok((
                    false,
                    format!("worker {} is not a registered, staked inference node", receipt.claim.worker),
                ));
            }
        }
        if mode == CheckMode::Signed {
            return Ok((true, "signature, hashes, model id and the worker's registration hold".into()));
        }
        if let Some(zk) = report.zk.as_ref().filter(|_| mode == CheckMode::Zk) {
            return Ok((
                true,
                format!(
                    "signature, hashes, model id, the worker's registration and the proof hold (model commitment {}, \
                     {} bits)",
                    zk.commitment, zk.security_bits
                ),
            ));
        }
        if mode == CheckMode::Zk {
            return Ok((false, format!("a zk check of a {} claim, which carries no proof", receipt.claim.mode)));
        }
        if let Some(tee) = report.tee.filter(|_| mode == CheckMode::Tee) {
            return Ok((
                true,
                format!(
                    "signature, hashes, model id, the worker's registration and the attestation hold ({}; {})",
                    tee.label(),
                    tee.assumptions().join("; ")
                ),
            ));
        }
        let version = self.model_by_id(&receipt.claim.model_id).await?;
        match version.manifest.format {
            ModelFormat::Onnx => {
                let inputs = receipt.body.input.clone().unwrap_or_default();
                let outputs = self.run_onnx(&version, inputs).await?;
                Ok(compare_onnx(receipt, &outputs, version.manifest.tolerance.as_ref()))
            }
            ModelFormat::Gguf => self.rescore(&version, receipt).await,
            ModelFormat::Quantized => {
                // The integer executor is bit-exact: the outputs must be the same.
                let key = self.proving_key(&version).await?;
                let inputs = receipt.body.input.clone().unwrap_or_default();
                let run = tokio::task::spawn_blocking(move || crate::zk::run(&key, &inputs, false)).await??;
                let same = Some(&run.outputs) == receipt.body.output.as_ref();
                let reason = if same { "re-executed: the same int8 outputs" } else { "re-executed: other outputs" };
                Ok((same, reason.into()))
            }
        }
    }

    /// Teacher-forced scoring of a claimed completion against its sampling parameters.
    async fn rescore(&self, version: &veritas_hub::ModelVersion, receipt: &Receipt) -> NodeResult<(bool, String)> {
        let prompt = string_value(receipt.body.input.as_ref(), "prompt").unwrap_or_default();
        let tokens: Vec<u32> = match receipt.body.output.as_ref().and_then(|o| o.get("tokens")) {
            Some(Value::Tensor(tensor)) => match &tensor.data {
                TensorData::Int64(ids) => ids.iter().filter_map(|t| u32::try_from(*t).ok()).collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let params: BTreeMap<String, serde_json::Value> = receipt.body.params.clone().unwrap_or_default().0;
        let number = |key: &str| params.get(key).and_then(serde_json::Value::as_f64);
        let sampling = SamplingParams {
            temperature: number("temperature").unwrap_or(1.0) as f32,
            top_p: number("top_p").unwrap_or(1.0) as f32,
            top_k: number("top_k").unwrap_or(0.0) as u32,
            seed: number("seed").unwrap_or(0.0) as u32,
            max_tokens: number("max_tokens").unwrap_or(1.0).max(1.0) as u32,
            stop: Vec::new(),
        };
        let model = self.llm(version).await?;
        // The prompt must be the model's own rendering of the messages.
        let messages = string_value(receipt.body.input.as_ref(), "messages").unwrap_or_default();
        if !messages.is_empty() {
            let parsed: Vec<veritas_llm::ChatMessage> = match serde_json::from_str(&messages) {
                Ok(parsed) => parsed,
                Err(err) => return Ok((false, format!("the claimed messages are not a conversation: {err}"))),
            };
            match model.chat_prompt(&parsed) {
                Ok(rendered) if rendered == prompt => {}
                Ok(_) => return Ok((false, "the prompt is not the model's rendering of the messages".into())),
                Err(err) => return Ok((false, format!("the messages cannot be rendered: {err}"))),
            }
        }
        let finish = params.get("finish_reason").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
        let stops = params.get("stop").and_then(serde_json::Value::as_array).is_some_and(|s| !s.is_empty());
        // A completion that claims the model stopped must end where the model would end it:
        // the end-of-sequence token must be one the sampler could pick next (within a rank of
        // 3 for near-ties), so a completion cut short is caught.
        let ends = finish == "stop" && !stops;
        let max_tokens = sampling.max_tokens as usize;
        if tokens.is_empty() && !ends {
            return Ok((true, "an empty completion: nothing to score".into()));
        }
        let scoring = model.clone();
        let mut scored = tokens.clone();
        if ends {
            scored.push(model.eos());
        }
        let mut scores = tokio::task::spawn_blocking(move || scoring.score(&prompt, &scored, &sampling)).await??;
        if ends
            && let Some(end) = scores.pop()
            && !end.consistent
            && end.rank > 3
        {
            return Ok((
                false,
                format!(
                    "the completion claims the model stopped, but ending there ranks {}: it was cut short",
                    end.rank
                ),
            ));
        }
        let inconsistent = scores.iter().filter(|s| !s.consistent).count();
        let allowed = ((tokens.len() as f64 * veritas_llm::INCONSISTENT_TOLERANCE).floor() as usize).max(1);
        let text = string_value(receipt.body.output.as_ref(), "text").unwrap_or_default();
        // Spelled as generation spells them: a character split across tokens comes out whole.
        if !model.spell(&tokens).starts_with(&text) {
            return Ok((false, "the claimed text is not what the claimed tokens spell".into()));
        }
        if inconsistent <= allowed && finish == "length" && tokens.len() != max_tokens {
            return Ok((
                false,
                format!("finished for length after {} tokens, but max_tokens is {max_tokens}", tokens.len()),
            ));
        }
        if inconsistent > allowed {
            Ok((
                false,
                format!("{inconsistent} of {} tokens could not have been sampled (tolerance {allowed})", tokens.len()),
            ))
        } else {
            Ok((
                true,
                format!(
                    "scored: {inconsistent} of {} tokens outside the sampler's support (tolerance {allowed})",
                    tokens.len()
                ),
            ))
        }
    }
}
