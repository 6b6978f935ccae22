//! Calibration: per-tensor symmetric scales from sample inputs, and the float → int8 conversion.

use veritas_quant::{QuantError, QuantLayer, QuantOp, QuantizedModel, Requant};

use crate::{
    Result,
    float::{FloatModel, FloatOp},
};

/// The most calibration samples accepted.
pub const MAX_CALIBRATION_SAMPLES: usize = 10_000;

/// `max|x| / 127`, or 1 for an all-zero (or empty) tensor.
pub fn symmetric_scale(max_abs: f32) -> f32 {
    if max_abs > 0.0 && max_abs.is_finite() { max_abs / 127.0 } else { 1.0 }
}

/// Weights to int8 at `scale`: `clamp(round(w / scale))`, and that scale.
fn quantize_weights(weights: &[f32]) -> (Vec<i8>, f32) {
    let scale = symmetric_scale(weights.iter().fold(0.0f32, |m, w| m.max(w.abs())));
    (weights.iter().map(|w| (w / scale).round().clamp(-127.0, 127.0) as i8).collect(), scale)
}

fn quantize_bias(layer: usize, bias: &[f32], scale: f64) -> Result<Vec<i32>> {
    bias.iter()
        .map(|&b| {
            let q = (f64::from(b) / scale).round();
            if q.abs() > f64::from(i32::MAX) {
                return Err(QuantError::Accumulator { layer, bound: q as i64 }.into());
            }
            Ok(q as i32)
        })
        .collect()
}

/// Calibrates `model` on `samples` (each one input) and converts it to int8.
pub fn quantize_model(model: &FloatModel, samples: &[Vec<f32>]) -> Result<QuantizedModel> {
    if samples.is_empty() {
        return Err(QuantError::Invalid("no calibration samples".into()).into());
    }
    if samples.len() > MAX_CALIBRATION_SAMPLES {
        return Err(QuantError::TooLarge {
            what: "calibration samples",
            limit: MAX_CALIBRATION_SAMPLES,
            got: samples.len(),
        }
        .into());
    }
    let mut max_abs = vec![0.0f32; model.layers.len() + 1];
    for sample in samples {
        if sample.iter().any(|v| !v.is_finite()) {
            return Err(QuantError::Invalid("non-finite calibration value".into()).into());
        }
        for (max, tensor) in max_abs.iter_mut().zip(model.run_trace(sample)?) {
            *max = tensor.iter().fold(*max, |m, v| m.max(v.abs()));
        }
    }
    let mut scales: Vec<f32> = vec![symmetric_scale(max_abs[0])];
    let mut layers = Vec::with_capacity(model.layers.len());
    for (index, layer) in model.layers.iter().enumerate() {
        let calibrated = symmetric_scale(max_abs[index + 1]);
        let (op, scale) = match &layer.op {
            FloatOp::Linear { input, in_features, out_features, weights, bias, relu } => {
                let (weights, w_scale) = quantize_weights(weights);
                let acc_scale = f64::from(scales[*input]) * f64::from(w_scale);
                let op = QuantOp::Linear {
                    input: *input,
                    in_features: *in_features,
                    out_features: *out_features,
                    weights,
                    bias: quantize_bias(index, bias, acc_scale)?,
                    requant: Requant::from_real(acc_scale / f64::from(calibrated))?,
                    relu: *relu,
                };
                (op, calibrated)
            }
            FloatOp::Conv { input, geometry, weights, bias, relu } => {
                let (weights, w_scale) = quantize_weights(weights);
                let acc_scale = f64::from(scales[*input]) * f64::from(w_scale);
                let op = QuantOp::Conv {
                    input: *input,
                    geometry: geometry.clone(),
                    weights,
                    bias: quantize_bias(index, bias, acc_scale)?,
                    requant: Requant::from_real(acc_scale / f64::from(calibrated))?,
                    relu: *relu,
                };
                (op, calibrated)
            }
            FloatOp::MaxPool { input, geometry } => {
                (QuantOp::MaxPool { input: *input, geometry: geometry.clone() }, scales[*input])
            }
            FloatOp::Relu { input } => (QuantOp::Relu { input: *input }, scales[*input]),
            FloatOp::AvgPool { input, geometry } => {
                let real = f64::from(scales[*input]) / (geometry.window() as f64 * f64::from(calibrated));
                let op =
                    QuantOp::AvgPool { input: *input, geometry: geometry.clone(), requant: Requant::from_real(real)? };
                (op, calibrated)
            }
            FloatOp::Add { a, b, relu } => {
                let ratio_a = f64::from(scales[*a]) / f64::from(calibrated);
                let ratio_b = f64::from(scales[*b]) / f64::from(calibrated);
                // The larger ratio gets a normalized multiplier; the other shares its shift.
                let shift = Requant::from_real(ratio_a.max(ratio_b))?.shift;
                let fixed = |ratio: f64| (ratio * 2f64.powi(shift as i32)).round() as i64;
                let op = QuantOp::Add {
                    a: *a,
                    b: *b,
                    multiplier_a: fixed(ratio_a),
                    multiplier_b: fixed(ratio_b),
                    shift,
                    relu: *relu,
                };
                (op, calibrated)
            }
        };
        scales.push(scale);
        layers.push(QuantLayer { op, shape: layer.shape.clone(), scale });
    }
    let quantized = QuantizedModel {
        input_name: model.input_name.clone(),
        input_shape: model.input_shape.clone(),
        input_scale: scales[0],
        layers,
        output: model.output,
    };
    quantized.validate()?;
    Ok(quantized)
}
