//! Where each parameter of a quantized network sits in the committed model vector.
//!
//! Each `Linear`/`Conv` layer has two segments: its weights as a `rows × cols` matrix (rows the
//! output features or channels, cols the input features or `in_channels·kh·kw`), padded with
//! zeros to powers of two, and its bias, padded likewise. Segments are placed largest first (ties
//! in layer order, weights before bias), so each starts at a multiple of its own size, and the
//! vector is padded to a power of two. A segment of `2^m` values at offset `o` is then the
//! sub-cube whose first `n − m` variables are the bits of `o / 2^m`: its MLE at `z` is the model
//! vector's MLE at `(bits(o / 2^m), z)`.

use p3_field::PrimeCharacteristicRing;
use veritas_quant::{QuantOp, QuantizedModel};

use crate::{EF, F, ZkError, ZkResult};

/// The most variables the model vector may have (2^30 values).
pub const MAX_LOG_LEN: usize = 30;

/// The matrix shape of a parameterized layer: `(rows, cols, positions)`, positions being the
/// output's spatial size (1 for `Linear`).
pub fn matrix_dims(op: &QuantOp) -> Option<(usize, usize, usize)> {
    match op {
        QuantOp::Linear { in_features, out_features, .. } => Some((*out_features, *in_features, 1)),
        QuantOp::Conv { geometry, .. } => {
            let [_, height, width] = geometry.out_shape().ok()?;
            let cols = geometry.in_channels * geometry.kernel[0] * geometry.kernel[1];
            Some((geometry.out_channels, cols, height * width))
        }
        _ => None,
    }
}

/// `log2` of `n` rounded up to a power of two.
pub fn log2_ceil(n: usize) -> usize {
    n.next_power_of_two().trailing_zeros() as usize
}

/// One segment of the model vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The layer's index in the network.
    pub layer: usize,
    /// The bias (else the weights).
    pub bias: bool,
    /// `log2` of the segment's padded size.
    pub log_size: usize,
    /// Its first index in the model vector.
    pub offset: usize,
}

/// The placement of every parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The segments, in placement order.
    pub segments: Vec<Segment>,
    /// `log2` of the model vector's length.
    pub log_len: usize,
}

impl Layout {
    /// The layout of a (validated) architecture.
    pub fn new(architecture: &QuantizedModel) -> ZkResult<Self> {
        let mut segments = Vec::new();
        for (layer, quant_layer) in architecture.layers.iter().enumerate() {
            if let Some((rows, cols, _)) = matrix_dims(&quant_layer.op) {
                let (row_vars, col_vars) = (log2_ceil(rows), log2_ceil(cols));
                segments.push(Segment { layer, bias: false, log_size: row_vars + col_vars, offset: 0 });
                segments.push(Segment { layer, bias: true, log_size: row_vars, offset: 0 });
            }
        }
        if segments.is_empty() {
            return Err(ZkError::Model("the network has no Linear or Conv layer to commit to".into()));
        }
        // Stable: ties keep layer order, weights before bias.
        segments.sort_by_key(|s| std::cmp::Reverse(s.log_size));
        let mut offset = 0usize;
        for segment in &mut segments {
            if segment.log_size > MAX_LOG_LEN {
                return Err(ZkError::Dimension {
                    what: "model vector (log2)",
                    limit: MAX_LOG_LEN,
                    got: segment.log_size,
                });
            }
            segment.offset = offset;
            offset += 1 << segment.log_size;
            if offset > 1 << MAX_LOG_LEN {
                return Err(ZkError::Dimension { what: "model vector", limit: 1 << MAX_LOG_LEN, got: offset });
            }
        }
        Ok(Self { segments, log_len: log2_ceil(offset) })
    }

    /// The index of a layer's weights (or bias) segment.
    pub fn segment(&self, layer: usize, bias: bool) -> ZkResult<usize> {
        self.segments
            .iter()
            .position(|s| s.layer == layer && s.bias == bias)
            .ok_or_else(|| ZkError::Model(format!("layer {layer} has no parameters")))
    }

    /// The model vector: every layer's weights and biases at their offsets, zeros elsewhere.
    pub fn values(&self, model: &QuantizedModel) -> ZkResult<Vec<F>> {
        let mut values = vec![F::ZERO; 1 << self.log_len];
        for segment in &self.segments {
            let op = &model.layers[segment.layer].op;
            let (QuantOp::Linear { weights, bias, .. } | QuantOp::Conv { weights, bias, .. }) = op else {
                return Err(ZkError::Model(format!("layer {} has no parameters", segment.layer)));
            };
            let (rows, cols, _) = matrix_dims(op).unwrap_or_default();
            let out = &mut values[segment.offset..segment.offset + (1 << segment.log_size)];
            if segment.bias {
                check_len("bias", rows, bias.len())?;
                for (slot, &b) in out.iter_mut().zip(bias) {
                    *slot = F::from_i32(b);
                }
            } else {
                check_len("weights", rows * cols, weights.len())?;
                let padded_cols = cols.next_power_of_two();
                for (row, chunk) in weights.chunks_exact(cols.max(1)).enumerate() {
                    for (slot, &w) in out[row * padded_cols..].iter_mut().zip(chunk) {
                        *slot = F::from_i8(w);
                    }
                }
            }
        }
        Ok(values)
    }

    /// The point of the model vector's MLE at which segment `index`'s MLE takes its value at `z`.
    pub fn point(&self, index: usize, z: &[EF]) -> Vec<EF> {
        let segment = &self.segments[index];
        let prefix_vars = self.log_len - segment.log_size;
        let block = segment.offset >> segment.log_size;
        let mut point: Vec<EF> =
            (0..prefix_vars).rev().map(|bit| if (block >> bit) & 1 == 1 { EF::ONE } else { EF::ZERO }).collect();
        point.extend_from_slice(z);
        point
    }
}

fn check_len(what: &'static str, expected: usize, got: usize) -> ZkResult<()> {
    if expected == got { Ok(()) } else { Err(ZkError::Length { what, expected, got }) }
}
