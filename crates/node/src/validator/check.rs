//! A validator's checks of a claim beyond what the receipt proves by itself: an ONNX model run
//! again on the same inputs, whose outputs must hash the same (ONNX Runtime on the CPU is
//! deterministic for a given build and thread count, so a float re-execution that differs means
//! different computation, not noise), or, for a model whose manifest declares a tolerance, must
//! agree with the claimed outputs within it (floats within the tolerance, everything else exact:
//! `veritas_primitives::tolerance`); a quantized model run again bit-exactly; a language model's
//! completion scored teacher-forced, consistent with its sampling parameters within the measured
//! tolerance (`veritas_llm::INCONSISTENT_TOLERANCE`).

use std::collections::BTreeMap;

use veritas_llm::SamplingParams;
use veritas_primitives::{Receipt, TensorData, Value, Values, tolerance::compare_within, values::values_hash};

use super::Validator;
use crate::{NodeResult, protocol::admission::string_value};

/// Re-executed ONNX outputs against the claim: the same hash, or, where the model declares a
/// tolerance, the claimed outputs (carried in the receipt, hashing to the claim's output hash)
/// within it.
pub(crate) fn compare_onnx(
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

impl Validator {
    /// Teacher-forced scoring of a claimed completion against its sampling parameters.
    pub(crate) async fn rescore(
        &self,
        version: &veritas_hub::ModelVersion,
        receipt: &Receipt,
    ) -> NodeResult<(bool, String)> {
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
        // Tools and structured output: the grammar comes from the recorded constraint, derived
        // here as the worker derived it; the tokens must follow it.
        let constraint: veritas_llm::Constraint = match params.get("constraint") {
            None => Default::default(),
            Some(recorded) => match serde_json::from_value(recorded.clone()) {
                Ok(constraint) => constraint,
                Err(err) => return Ok((false, format!("the recorded constraint is not one: {err}"))),
            },
        };
        let grammar = {
            let constraint = constraint.clone();
            match tokio::task::spawn_blocking(move || constraint.grammar()).await? {
                Ok(grammar) => grammar,
                Err(err) => return Ok((false, format!("the recorded constraint is refused: {err}"))),
            }
        };
        let model = self.core.llm(version).await?;
        // The prompt must be the model's own rendering of the messages.
        let messages = string_value(receipt.body.input.as_ref(), "messages").unwrap_or_default();
        if !messages.is_empty() {
            let parsed: Vec<veritas_llm::ChatMessage> = match serde_json::from_str(&messages) {
                Ok(parsed) => parsed,
                Err(err) => return Ok((false, format!("the claimed messages are not a conversation: {err}"))),
            };
            match model.chat_prompt(&parsed, &constraint) {
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
        let mut scores =
            tokio::task::spawn_blocking(move || scoring.score(&prompt, &scored, &sampling, grammar.as_ref())).await??;
        if let Some(at) = scores.iter().position(|score| !score.allowed) {
            return Ok((
                false,
                if at == tokens.len() {
                    "the completion claims the model stopped, but the answer is not complete under its grammar".into()
                } else {
                    format!("token {at} is outside the grammar of the request's tools or response_format")
                },
            ));
        }
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
        // A token the sampler could not have drawn even with logits moved by the tolerance was
        // not sampled with these parameters: one is enough.
        if let Some(at) = scores.iter().position(|s| !s.near) {
            let score = &scores[at];
            return Ok((
                false,
                format!(
                    "token {at} could not have been sampled: it ranks {} (log-probability {:.2}), far outside the \
                     sampler's support",
                    score.rank, score.logprob
                ),
            ));
        }
        let inconsistent = scores.iter().filter(|s| !s.consistent).count();
        let allowed = (tokens.len() as f64 * veritas_llm::INCONSISTENT_TOLERANCE).floor() as usize
            + veritas_llm::INCONSISTENT_FLOOR;
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
