//! The quantized network and its bit-exact integer executor: the statement a proof proves.
//!
//! Tensors are int8 with a zero point of 0; tensor id 0 is the input, `k + 1` the output of
//! layer `k`. Accumulators are exact integers whose worst case fits `i32` (checked by
//! [`QuantizedModel::validate`]); every rounding is [`Requant`]'s half away from zero.

use serde::{Deserialize, Serialize};

use crate::{
    QuantError, Result,
    geometry::{Conv2d, Pool2d},
    requant::{MAX_SHIFT, MULTIPLIER_END, Requant, clamp_i8, round_shift},
};

/// The most elements in one tensor: an input, an activation, a weight array (and, importing, an
/// initializer).
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 24;

/// The magnitude bound of an int8 input value used in accumulator bounds (|-128|).
pub const INPUT_MAGNITUDE: i64 = 128;

/// One integer layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuantOp {
    /// `y = requant(b + Σ W x)`, `W` row-major `[out_features, in_features]`.
    Linear {
        /// Input tensor id.
        input: usize,
        /// Input length.
        in_features: usize,
        /// Output length.
        out_features: usize,
        /// Weights.
        weights: Vec<i8>,
        /// Bias at scale `s_in * s_w`.
        bias: Vec<i32>,
        /// `s_in * s_w / s_out`.
        requant: Requant,
        /// Clamp at 0 too.
        relu: bool,
    },
    /// `y = requant(b + Σ W x)` over convolution windows; padding contributes nothing.
    Conv {
        /// Input tensor id.
        input: usize,
        /// Geometry.
        geometry: Conv2d,
        /// Weights `[out_channels, in_channels, kh, kw]`.
        weights: Vec<i8>,
        /// Bias per output channel at scale `s_in * s_w`.
        bias: Vec<i32>,
        /// `s_in * s_w / s_out`.
        requant: Requant,
        /// Clamp at 0 too.
        relu: bool,
    },
    /// Max over each window, on int8 directly (output scale = input scale).
    MaxPool {
        /// Input tensor id.
        input: usize,
        /// Geometry.
        geometry: Pool2d,
    },
    /// `y = requant(Σ window)`, the multiplier `s_in / (window * s_out)`.
    AvgPool {
        /// Input tensor id.
        input: usize,
        /// Geometry (no padding).
        geometry: Pool2d,
        /// `s_in / (window * s_out)`.
        requant: Requant,
    },
    /// `y = clamp(round_shift(a * multiplier_a + b * multiplier_b, shift))`.
    Add {
        /// First input tensor id.
        a: usize,
        /// Second input tensor id.
        b: usize,
        /// `round(s_a / s_out * 2^shift)`, in [0, 2^31].
        multiplier_a: i64,
        /// `round(s_b / s_out * 2^shift)`, in [0, 2^31].
        multiplier_b: i64,
        /// The shared right shift.
        shift: u32,
        /// Clamp at 0 too.
        relu: bool,
    },
    /// `max(x, 0)` (output scale = input scale).
    Relu {
        /// Input tensor id.
        input: usize,
    },
}

/// An integer layer, its output's per-sample shape and (informative) real scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantLayer {
    /// The operation.
    pub op: QuantOp,
    /// The output's per-sample shape.
    pub shape: Vec<usize>,
    /// The output's scale: real value = scale * int8 value.
    pub scale: f32,
}

/// A quantized network, batch 1. `run` defines the statement proven about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantizedModel {
    /// The input's name (the ONNX graph input's), as requests name it.
    #[serde(default = "default_input_name")]
    pub input_name: String,
    /// The input's per-sample shape.
    pub input_shape: Vec<usize>,
    /// The input's scale: `quantize_input(x) = clamp(round(x / input_scale))`.
    pub input_scale: f32,
    /// The layers in execution order.
    pub layers: Vec<QuantLayer>,
    /// The output tensor id.
    pub output: usize,
}

/// The input name of a model that names none: `input`.
pub fn default_input_name() -> String {
    "input".into()
}

/// The longest input name accepted.
pub const MAX_INPUT_NAME: usize = 128;

fn len_of(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| (1..=MAX_TENSOR_ELEMENTS).contains(&n))
        .ok_or_else(|| QuantError::Invalid(format!("shape {shape:?} empty or too large")))
}

fn invalid(layer: usize, reason: impl std::fmt::Display) -> QuantError {
    QuantError::Invalid(format!("layer {layer}: {reason}"))
}

/// Checks the worst-case accumulator of each output row, `Σ|b| + 128 Σ|w|`, fits `i32`.
fn check_accumulator(layer: usize, rows: usize, row_len: usize, weights: &[i8], bias: &[i32]) -> Result<()> {
    if weights.len() != rows.saturating_mul(row_len) || bias.len() != rows {
        return Err(invalid(layer, "weight or bias length"));
    }
    for (row, b) in weights.chunks_exact(row_len.max(1)).zip(bias) {
        let bound = i64::from(*b).abs() + INPUT_MAGNITUDE * row.iter().map(|w| i64::from(*w).abs()).sum::<i64>();
        if bound > i64::from(i32::MAX) {
            return Err(QuantError::Accumulator { layer, bound });
        }
    }
    Ok(())
}

/// [`check_accumulator`] for a model with parameters; for an architecture, that they are absent.
fn check_parameters(
    with_parameters: bool,
    layer: usize,
    rows: usize,
    row_len: usize,
    weights: &[i8],
    bias: &[i32],
) -> Result<()> {
    if with_parameters {
        check_accumulator(layer, rows, row_len, weights, bias)
    } else if weights.is_empty() && bias.is_empty() {
        Ok(())
    } else {
        Err(invalid(layer, "an architecture carries no weights or biases"))
    }
}

impl QuantizedModel {
    /// The input's element count.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// The output's scale.
    pub fn output_scale(&self) -> f32 {
        match self.output {
            0 => self.input_scale,
            id => self.layers.get(id - 1).map_or(self.input_scale, |l| l.scale),
        }
    }

    /// The output's element count.
    pub fn output_len(&self) -> usize {
        match self.output {
            0 => self.input_len(),
            id => self.layers.get(id - 1).map_or(0, |l| l.shape.iter().product()),
        }
    }

    /// `clamp(round_half_away_from_zero(x / input_scale), -128, 127)`, in f32.
    pub fn quantize_input(&self, input: &[f32]) -> Vec<i8> {
        input.iter().map(|&x| (x / self.input_scale).round().clamp(-128.0, 127.0) as i8).collect()
    }

    /// The output's real values, `output_scale * y`.
    pub fn dequantize_output(&self, output: &[i8]) -> Vec<f32> {
        let scale = self.output_scale();
        output.iter().map(|&y| scale * f32::from(y)).collect()
    }

    /// Checks everything a deserialized model may get wrong: ids, shapes, lengths, multipliers,
    /// and that no accumulator can leave `i32`.
    pub fn validate(&self) -> Result<()> {
        self.check(true)
    }

    /// The model without its parameters: every `Linear`/`Conv` weight and bias vector emptied.
    /// What a verifier of a ZK proof knows (the parameters are committed to instead).
    pub fn architecture(&self) -> QuantizedModel {
        let mut architecture = self.clone();
        for layer in &mut architecture.layers {
            if let QuantOp::Linear { weights, bias, .. } | QuantOp::Conv { weights, bias, .. } = &mut layer.op {
                *weights = Vec::new();
                *bias = Vec::new();
            }
        }
        architecture
    }

    /// Checks what [`Self::validate`] checks except the parameters, which must be absent (an
    /// [`Self::architecture`]): ids, shapes and multipliers.
    pub fn validate_architecture(&self) -> Result<()> {
        self.check(false)
    }

    fn check(&self, with_parameters: bool) -> Result<()> {
        let mut shapes = vec![self.input_shape.clone()];
        len_of(&self.input_shape)?;
        if self.input_name.is_empty() || self.input_name.len() > MAX_INPUT_NAME {
            return Err(QuantError::Invalid(format!("input name of {} bytes", self.input_name.len())));
        }
        if !(self.input_scale.is_finite() && self.input_scale > 0.0) {
            return Err(QuantError::Invalid("input scale".into()));
        }
        for (index, layer) in self.layers.iter().enumerate() {
            let shape_of =
                |id: usize| shapes.get(id).ok_or_else(|| invalid(index, format!("tensor {id} not yet computed")));
            let expected: Vec<usize> = match &layer.op {
                QuantOp::Linear { input, in_features, out_features, weights, bias, requant, .. } => {
                    if len_of(shape_of(*input)?)? != *in_features {
                        return Err(invalid(index, "input length"));
                    }
                    requant.validate()?;
                    check_parameters(with_parameters, index, *out_features, *in_features, weights, bias)?;
                    vec![*out_features]
                }
                QuantOp::Conv { input, geometry, weights, bias, requant, .. } => {
                    if shape_of(*input)? != &[geometry.in_channels, geometry.in_height, geometry.in_width] {
                        return Err(invalid(index, "input shape"));
                    }
                    requant.validate()?;
                    let out = geometry.out_shape()?;
                    let row = geometry.in_channels * geometry.kernel[0] * geometry.kernel[1];
                    check_parameters(with_parameters, index, geometry.out_channels, row, weights, bias)?;
                    out.to_vec()
                }
                QuantOp::MaxPool { input, geometry } | QuantOp::AvgPool { input, geometry, .. } => {
                    if shape_of(*input)? != &[geometry.channels, geometry.in_height, geometry.in_width] {
                        return Err(invalid(index, "input shape"));
                    }
                    if let QuantOp::AvgPool { requant, .. } = &layer.op {
                        requant.validate()?;
                        if geometry.pads != [0; 4] {
                            return Err(invalid(index, "padded average pooling"));
                        }
                    }
                    geometry.out_shape()?.to_vec()
                }
                QuantOp::Add { a, b, multiplier_a, multiplier_b, shift, .. } => {
                    let range = 0..=MULTIPLIER_END;
                    if shape_of(*a)? != shape_of(*b)?
                        || !range.contains(multiplier_a)
                        || !range.contains(multiplier_b)
                        || *shift > MAX_SHIFT
                    {
                        return Err(invalid(index, "add inputs or multipliers"));
                    }
                    shape_of(*a)?.clone()
                }
                QuantOp::Relu { input } => shape_of(*input)?.clone(),
            };
            if expected != layer.shape {
                return Err(invalid(index, format!("shape {:?}, computed {expected:?}", layer.shape)));
            }
            len_of(&expected)?;
            shapes.push(expected);
        }
        if self.output >= shapes.len() {
            return Err(QuantError::Invalid(format!("output tensor {} does not exist", self.output)));
        }
        Ok(())
    }

    /// Runs the network on one quantized sample: the output tensor.
    pub fn run(&self, input: &[i8]) -> Result<Vec<i8>> {
        let mut trace = self.run_trace(input)?;
        Ok(trace.swap_remove(self.output))
    }

    /// Runs the network on one quantized sample: every tensor by id, the input first.
    pub fn run_trace(&self, input: &[i8]) -> Result<Vec<Vec<i8>>> {
        self.validate()?;
        if input.len() != self.input_len() {
            return Err(QuantError::InputLength { expected: self.input_len(), got: input.len() });
        }
        let mut tensors = vec![input.to_vec()];
        for layer in &self.layers {
            let out = run_layer(&layer.op, &tensors, layer.shape.iter().product());
            tensors.push(out);
        }
        Ok(tensors)
    }
}

/// The exact accumulators of a `Linear` or `Conv` layer of a validated model, bias included,
/// before requantization (`None` for any other layer). `out_len` is the output's length.
pub fn accumulate(op: &QuantOp, tensors: &[Vec<i8>], out_len: usize) -> Option<Vec<i64>> {
    match op {
        QuantOp::Linear { input, in_features, weights, bias, .. } => {
            let x = &tensors[*input];
            let rows = bias.iter().zip(weights.chunks_exact((*in_features).max(1)));
            Some(
                rows.map(|(b, row)| {
                    i64::from(*b) + row.iter().zip(x).map(|(&w, &v)| i64::from(w) * i64::from(v)).sum::<i64>()
                })
                .collect(),
            )
        }
        QuantOp::Conv { input, geometry, weights, bias, .. } => {
            let x = &tensors[*input];
            let plane = out_len / geometry.out_channels.max(1);
            let mut acc: Vec<i64> = (0..out_len).map(|i| i64::from(bias[i / plane])).collect();
            let shape = geometry.out_shape().unwrap_or([geometry.out_channels, 0, 0]);
            geometry.for_each_tap(shape, |o, i, w| acc[o] += i64::from(x[i]) * i64::from(weights[w]));
            Some(acc)
        }
        _ => None,
    }
}

/// One layer on validated inputs; accumulators are exact (`i64`, bounded by `i32` by validation).
/// `tensors` holds every tensor up to the layer's inputs, by id; `out_len` is the output's length.
pub fn run_layer(op: &QuantOp, tensors: &[Vec<i8>], out_len: usize) -> Vec<i8> {
    match op {
        QuantOp::Linear { requant, relu, .. } | QuantOp::Conv { requant, relu, .. } => accumulate(op, tensors, out_len)
            .unwrap_or_default()
            .into_iter()
            .map(|acc| requant.apply(acc, *relu))
            .collect(),
        QuantOp::MaxPool { input, geometry } => {
            let x = &tensors[*input];
            let mut out = vec![0; out_len];
            geometry.for_each_window(geometry.out_shape().unwrap_or([0; 3]), |o, window| {
                out[o] = window.iter().map(|&i| x[i]).max().unwrap_or(i8::MIN);
            });
            out
        }
        QuantOp::AvgPool { input, geometry, requant } => {
            let x = &tensors[*input];
            let mut out = vec![0; out_len];
            geometry.for_each_window(geometry.out_shape().unwrap_or([0; 3]), |o, window| {
                out[o] = requant.apply(window.iter().map(|&i| i64::from(x[i])).sum(), false);
            });
            out
        }
        QuantOp::Add { a, b, multiplier_a, multiplier_b, shift, relu } => tensors[*a]
            .iter()
            .zip(&tensors[*b])
            .map(|(&x, &y)| {
                let sum = i128::from(x) * i128::from(*multiplier_a) + i128::from(y) * i128::from(*multiplier_b);
                clamp_i8(round_shift(sum, *shift), *relu)
            })
            .collect(),
        QuantOp::Relu { input } => tensors[*input].iter().map(|&v| v.max(0)).collect(),
    }
}
