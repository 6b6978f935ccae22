//! Sampling parameters, checked, and the llama.cpp sampler chain they make.

use serde::{Deserialize, Serialize};

use crate::{LlmError, LlmResult};

/// How to pick each next token. The defaults are OpenAI's: temperature 1, top_p 1, no top_k.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingParams {
    /// Softmax temperature; 0 picks the most likely token every time.
    pub temperature: f32,
    /// Nucleus sampling: the smallest set of tokens whose probabilities reach `top_p` (0 < p ≤ 1).
    pub top_p: f32,
    /// Only the `top_k` most likely tokens; 0 for no limit.
    pub top_k: u32,
    /// The random seed.
    pub seed: u32,
    /// The most tokens to generate.
    pub max_tokens: u32,
    /// Generation stops before the first of these strings (at most 4, none empty).
    pub stop: Vec<String>,
}

impl Default for SamplingParams {
    fn default() -> SamplingParams {
        SamplingParams { temperature: 1.0, top_p: 1.0, top_k: 0, seed: 0, max_tokens: 256, stop: Vec::new() }
    }
}

/// The most stop sequences (OpenAI's limit).
pub const MAX_STOP: usize = 4;

impl SamplingParams {
    /// Checks every value, naming the first one out of range.
    pub fn validate(&self) -> LlmResult<()> {
        let bad = |message: String| Err(LlmError::InvalidSampling(message));
        if !self.temperature.is_finite() || !(0.0..=2.0).contains(&self.temperature) {
            return bad(format!("temperature must be between 0 and 2, got {}", self.temperature));
        }
        if !self.top_p.is_finite() || self.top_p <= 0.0 || self.top_p > 1.0 {
            return bad(format!("top_p must be in (0, 1], got {}", self.top_p));
        }
        if self.top_k > 100_000 {
            return bad(format!("top_k must be at most 100000, got {}", self.top_k));
        }
        if self.max_tokens == 0 {
            return bad("max_tokens must be at least 1".into());
        }
        if self.stop.len() > MAX_STOP {
            return bad(format!("at most {MAX_STOP} stop sequences, got {}", self.stop.len()));
        }
        if self.stop.iter().any(String::is_empty) {
            return bad("a stop sequence is empty".into());
        }
        Ok(())
    }

    /// Whether sampling is greedy (the argmax every time).
    pub fn greedy(&self) -> bool {
        self.temperature == 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_are_named() {
        let cases = [
            (SamplingParams { temperature: -0.1, ..Default::default() }, "temperature"),
            (SamplingParams { temperature: f32::NAN, ..Default::default() }, "temperature"),
            (SamplingParams { top_p: 0.0, ..Default::default() }, "top_p"),
            (SamplingParams { top_p: 1.5, ..Default::default() }, "top_p"),
            (SamplingParams { max_tokens: 0, ..Default::default() }, "max_tokens"),
            (SamplingParams { stop: vec![String::new()], ..Default::default() }, "stop"),
            (SamplingParams { stop: vec!["a".into(); 5], ..Default::default() }, "stop"),
        ];
        for (params, name) in cases {
            let err = params.validate().unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
        SamplingParams::default().validate().unwrap();
    }
}
