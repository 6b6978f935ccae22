//! The imported float network and its f32 reference executor (calibration and accuracy).

use veritas_quant::{
    QuantError,
    geometry::{Conv2d, Pool2d},
};

use crate::Result;

/// One float layer. Tensor ids: 0 is the model input, `k + 1` the output of layer `k`.
#[derive(Clone, Debug, PartialEq)]
pub enum FloatOp {
    /// `y = W x + b`, `W` row-major `[out_features, in_features]`.
    Linear {
        /// Input tensor id.
        input: usize,
        /// Input length.
        in_features: usize,
        /// Output length.
        out_features: usize,
        /// Weights.
        weights: Vec<f32>,
        /// Bias, one per output.
        bias: Vec<f32>,
        /// Whether a ReLU follows (fused).
        relu: bool,
    },
    /// A 2-D convolution with bias.
    Conv {
        /// Input tensor id.
        input: usize,
        /// Geometry.
        geometry: Conv2d,
        /// Weights `[out_channels, in_channels, kh, kw]`.
        weights: Vec<f32>,
        /// Bias, one per output channel.
        bias: Vec<f32>,
        /// Whether a ReLU follows (fused).
        relu: bool,
    },
    /// Max over each window.
    MaxPool {
        /// Input tensor id.
        input: usize,
        /// Geometry.
        geometry: Pool2d,
    },
    /// Mean over each window (no padding).
    AvgPool {
        /// Input tensor id.
        input: usize,
        /// Geometry.
        geometry: Pool2d,
    },
    /// Element-wise sum of two tensors of one shape.
    Add {
        /// First input tensor id.
        a: usize,
        /// Second input tensor id.
        b: usize,
        /// Whether a ReLU follows (fused).
        relu: bool,
    },
    /// `max(x, 0)`.
    Relu {
        /// Input tensor id.
        input: usize,
    },
}

/// A float layer and the per-sample shape of its output.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatLayer {
    /// The operation.
    pub op: FloatOp,
    /// The output's per-sample shape.
    pub shape: Vec<usize>,
}

/// An imported float network, batch 1.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatModel {
    /// The graph input's name.
    pub input_name: String,
    /// The input's per-sample shape (without the batch dimension).
    pub input_shape: Vec<usize>,
    /// The layers in execution order.
    pub layers: Vec<FloatLayer>,
    /// The output tensor id.
    pub output: usize,
}

impl FloatModel {
    /// The input's element count.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Runs the network on one sample; returns the output tensor.
    pub fn run(&self, input: &[f32]) -> Result<Vec<f32>> {
        let mut trace = self.run_trace(input)?;
        Ok(trace.swap_remove(self.output))
    }

    /// Runs the network on one sample; returns every tensor by id (input first).
    pub fn run_trace(&self, input: &[f32]) -> Result<Vec<Vec<f32>>> {
        if input.len() != self.input_len() {
            return Err(QuantError::InputLength { expected: self.input_len(), got: input.len() }.into());
        }
        let mut tensors: Vec<Vec<f32>> = vec![input.to_vec()];
        for layer in &self.layers {
            let out = run_layer(&layer.op, &tensors, layer.shape.iter().product());
            tensors.push(out);
        }
        Ok(tensors)
    }
}

fn relu_if(x: f32, relu: bool) -> f32 {
    if relu { x.max(0.0) } else { x }
}

fn run_layer(op: &FloatOp, tensors: &[Vec<f32>], out_len: usize) -> Vec<f32> {
    match op {
        FloatOp::Linear { input, in_features, weights, bias, relu, .. } => {
            let x = &tensors[*input];
            bias.iter()
                .zip(weights.chunks_exact(*in_features))
                .map(|(b, row)| relu_if(b + row.iter().zip(x).map(|(w, v)| w * v).sum::<f32>(), *relu))
                .collect()
        }
        FloatOp::Conv { input, geometry, weights, bias, relu } => {
            let x = &tensors[*input];
            let [channels, height, width] = geometry.out_shape().unwrap_or([0; 3]);
            let plane = height * width;
            let mut out: Vec<f32> = (0..channels * plane).map(|i| bias[i / plane]).collect();
            geometry.for_each_tap([channels, height, width], |o, i, w| out[o] += x[i] * weights[w]);
            out.iter().map(|&v| relu_if(v, *relu)).collect()
        }
        FloatOp::MaxPool { input, geometry } => {
            let x = &tensors[*input];
            let mut out = vec![0.0; out_len];
            let shape = geometry.out_shape().unwrap_or([0; 3]);
            geometry.for_each_window(shape, |o, window| {
                out[o] = window.iter().map(|&i| x[i]).fold(f32::NEG_INFINITY, f32::max);
            });
            out
        }
        FloatOp::AvgPool { input, geometry } => {
            let x = &tensors[*input];
            let mut out = vec![0.0; out_len];
            let shape = geometry.out_shape().unwrap_or([0; 3]);
            geometry.for_each_window(shape, |o, window| {
                out[o] = window.iter().map(|&i| x[i]).sum::<f32>() / window.len() as f32;
            });
            out
        }
        FloatOp::Add { a, b, relu } => {
            tensors[*a].iter().zip(&tensors[*b]).map(|(x, y)| relu_if(x + y, *relu)).collect()
        }
        FloatOp::Relu { input } => tensors[*input].iter().map(|v| v.max(0.0)).collect(),
    }
}
