//! Deliberate lies of an inference node, for byzantine tests (`--fault`; refused unless the
//! chain is the development chain). A lying worker's claim is validly signed and consistent
//! with itself, so that only validators re-executing it can tell.

use veritas_hub::ModelVersion;
use veritas_primitives::{Tensor, TensorData, Value, Values};

use super::Worker;
use crate::{Fault, NodeError, NodeResult};

/// Changes the first element of the first tensor (or map) in a set of outputs.
pub(crate) fn alter(outputs: &mut Values) {
    for value in outputs.values_mut() {
        match value {
            Value::Tensor(tensor) => {
                let changed = match &mut tensor.data {
                    TensorData::Float32(v) => v.first_mut().map(|x| *x += 1.0).is_some(),
                    TensorData::Float64(v) => v.first_mut().map(|x| *x += 1.0).is_some(),
                    TensorData::Int64(v) => v.first_mut().map(|x| *x = x.wrapping_add(1)).is_some(),
                    TensorData::Int32(v) => v.first_mut().map(|x| *x = x.wrapping_add(1)).is_some(),
                    TensorData::Int8(v) => v.first_mut().map(|x| *x = x.wrapping_add(1)).is_some(),
                    TensorData::Uint8(v) => v.first_mut().map(|x| *x = x.wrapping_add(1)).is_some(),
                    TensorData::Bool(v) => v.first_mut().map(|x| *x = !*x).is_some(),
                    TensorData::String(v) => v.first_mut().map(|x| x.push('!')).is_some(),
                };
                if changed {
                    return;
                }
            }
            Value::Int64Maps(maps) => {
                if let Some(score) = maps.first_mut().and_then(|m| m.values_mut().next()) {
                    *score += 1.0;
                    return;
                }
            }
            Value::StringMaps(maps) => {
                if let Some(score) = maps.first_mut().and_then(|m| m.values_mut().next()) {
                    *score += 1.0;
                    return;
                }
            }
        }
    }
}

/// Outputs made up from a model's schema without running it: zeros of the declared types, free
/// dimensions taken as 1.
fn made_up(model: &ModelVersion) -> NodeResult<Values> {
    let mut outputs = Values::new();
    for spec in &model.manifest.schema.outputs {
        if spec.dtype.starts_with("seq(map(int64") {
            outputs.insert(spec.name.clone(), Value::Int64Maps(vec![Default::default()]));
            continue;
        }
        if spec.dtype.starts_with("seq(map(string") {
            outputs.insert(spec.name.clone(), Value::StringMaps(vec![Default::default()]));
            continue;
        }
        let shape: Vec<u64> = spec.shape.iter().map(|d| d.unwrap_or(1)).collect();
        let count = shape.iter().product::<u64>() as usize;
        let data = match spec.dtype.as_str() {
            "float32" => TensorData::Float32(vec![0.0; count]),
            "float64" => TensorData::Float64(vec![0.0; count]),
            "int64" => TensorData::Int64(vec![0; count]),
            "int32" => TensorData::Int32(vec![0; count]),
            other => return Err(NodeError::Fault(format!("made-up cannot invent {other} outputs"))),
        };
        outputs.insert(spec.name.clone(), Value::Tensor(Tensor::new(&spec.name, shape, data)?));
    }
    Ok(outputs)
}

impl Worker {
    /// An ONNX answer as this node's fault makes it: `None` to run honestly.
    pub(crate) async fn faulty_onnx(&self, model: &ModelVersion, inputs: &Values) -> NodeResult<Option<Values>> {
        match self.fault {
            Some(Fault::WrongOutput) => {
                let mut outputs = self.core.run_onnx(model, inputs.clone()).await?;
                alter(&mut outputs);
                Ok(Some(outputs))
            }
            Some(Fault::MadeUp) => Ok(Some(made_up(model)?)),
            Some(Fault::OtherModel) => {
                let other = self.core.other_model(model).await?;
                Ok(Some(self.core.run_onnx(&other, inputs.clone()).await?))
            }
            _ => Ok(None),
        }
    }
}

/// A chat answer as a lying worker makes it, streamed through `on_text`: a liar that wants its
/// lie to pass the gateway streams what it signs (`wrong-output`, `truncate`, `made-up`, which
/// only validators catch); `stream-other` streams the honest answer and signs another, which the
/// gateway catches.
pub(crate) fn lie(
    fault: Fault,
    model: &crate::core::LlmModel,
    prompt: &str,
    sampling: &veritas_llm::SamplingParams,
    extras: &veritas_llm::Extras,
    mut on_text: impl FnMut(&str) -> std::ops::ControlFlow<()>,
) -> NodeResult<veritas_llm::Generation> {
    if fault == Fault::StreamOther {
        let mut generation = model.generate(prompt, sampling, extras, on_text)?;
        alter_generation(Fault::WrongOutput, model, &mut generation);
        return Ok(generation);
    }
    let mut generation = match fault {
        Fault::MadeUp => made_up_generation(model, prompt),
        _ => model.generate(prompt, sampling, extras, |_| std::ops::ControlFlow::Continue(()))?,
    };
    alter_generation(fault, model, &mut generation);
    let _ = on_text(&generation.text);
    Ok(generation)
}

/// A completion made up without running the model: a fixed sentence's tokens.
fn made_up_generation(model: &crate::core::LlmModel, prompt: &str) -> veritas_llm::Generation {
    let tokens = model.tokenize(" I did not run the model; this answer is made up.");
    let text = model.spell(&tokens);
    veritas_llm::Generation {
        text,
        tokens,
        prompt_tokens: model.tokenize(prompt).len(),
        finish_reason: veritas_llm::FinishReason::Stop,
        top_logprobs: Vec::new(),
        logprobs: Vec::new(),
    }
}

/// A completion as a lying worker changes it after generating: `wrong-output` replaces the
/// second half of the tokens, `truncate` cuts the completion in half and claims the model
/// stopped there. The text is always what the claimed tokens spell.
fn alter_generation(fault: Fault, model: &crate::core::LlmModel, generation: &mut veritas_llm::Generation) {
    let half = generation.tokens.len() / 2;
    match fault {
        Fault::WrongOutput => {
            for token in generation.tokens.iter_mut().skip(half) {
                *token = token.wrapping_add(7) % 30_000;
            }
        }
        Fault::Truncate => {
            generation.tokens.truncate(half);
            generation.finish_reason = veritas_llm::FinishReason::Stop;
        }
        _ => return,
    }
    generation.text = model.spell(&generation.tokens);
    generation.logprobs.truncate(generation.tokens.len());
}
