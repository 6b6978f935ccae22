//! How far the quantized network is from the float one on a set of inputs.

use serde::{Deserialize, Serialize};

use veritas_quant::QuantizedModel;

use crate::{Result, float::FloatModel};

/// Float vs quantized on a set of inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccuracyReport {
    /// Inputs compared.
    pub samples: usize,
    /// Inputs whose arg-max output (top-1) agrees.
    pub top1_agree: usize,
    /// The largest |float - dequantized| over all outputs.
    pub max_abs_error: f32,
    /// The mean |float - dequantized| over all outputs.
    pub mean_abs_error: f32,
    /// The largest |float| output, to judge the errors by.
    pub max_abs_float: f32,
}

impl AccuracyReport {
    /// `top1_agree / samples`.
    pub fn agreement(&self) -> f64 {
        if self.samples == 0 { 0.0 } else { self.top1_agree as f64 / self.samples as f64 }
    }
}

/// The index of the greatest value, the first on ties.
pub fn argmax(values: &[f32]) -> usize {
    values.iter().enumerate().fold(0, |best, (i, v)| if *v > values[best] { i } else { best })
}

/// Runs both networks on every input and compares their outputs.
pub fn compare(float: &FloatModel, quantized: &QuantizedModel, inputs: &[Vec<f32>]) -> Result<AccuracyReport> {
    let mut report = AccuracyReport {
        samples: inputs.len(),
        top1_agree: 0,
        max_abs_error: 0.0,
        mean_abs_error: 0.0,
        max_abs_float: 0.0,
    };
    let (mut total, mut count) = (0.0f64, 0usize);
    for input in inputs {
        let expected = float.run(input)?;
        let got = quantized.dequantize_output(&quantized.run(&quantized.quantize_input(input))?);
        report.top1_agree += usize::from(argmax(&expected) == argmax(&got));
        for (e, g) in expected.iter().zip(&got) {
            let error = (e - g).abs();
            report.max_abs_error = report.max_abs_error.max(error);
            report.max_abs_float = report.max_abs_float.max(e.abs());
            total += f64::from(error);
            count += 1;
        }
    }
    report.mean_abs_error = if count == 0 { 0.0 } else { (total / count as f64) as f32 };
    Ok(report)
}
