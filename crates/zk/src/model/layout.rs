//! Where each parameter of a quantized network sits in the committed model vector.
//!
//! A `Linear`/`Conv` layer's weights are a `rows × cols` matrix (rows the output features or
//! channels, cols the input features or `in_channels·kh·kw`) and its bias a `rows` vector. The
//! proofs speak of their multilinear extensions padded with zeros to powers of two, but the
//! padding is not committed: `rows` and `cols` are split into their binary blocks (56 is
//! 32, 16 and 8, each block starting at a multiple of its size), and each (row block, column block) of the
//! weights, and each row block of the bias, is one segment of exactly `2^m` parameters. Segments
//! are placed largest first (ties in layer and block order), so each starts at a multiple of its
//! own size, and the vector is padded to a power of two. A segment of `2^m` values at offset `o`
//! is the sub-cube whose first `n − m` variables are the bits of `o / 2^m`: its MLE at `z` is
//! the model vector's MLE at `(bits(o / 2^m), z)`. The padded matrix's MLE is then
//! `W̃(r, s) = Σ_{i,j} eq(bits(row block i), r_high)·eq(bits(col block j), s_high)·B̃_ij(r_low, s_low)`.

use std::collections::BTreeMap;

use p3_field::PrimeCharacteristicRing;
use veritas_quant::{QuantOp, QuantizedModel};

use crate::{EF, F, ZkError, ZkResult, check_len};

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

/// The binary blocks of `0..n`: `(offset, log2 size)`, largest first; each offset is a multiple
/// of its block's size.
pub fn blocks(n: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for bit in (0..usize::BITS as usize).rev() {
        if (n >> bit) & 1 == 1 {
            out.push((offset, bit));
            offset += 1 << bit;
        }
    }
    out
}

/// `eq(bits, r_high)` where `bits` are the top `vars − log` bits of a block at `offset`
/// (a multiple of `2^log`) among `2^vars` indices, and `r_high` the first `vars − log`
/// coordinates of `r`: the weight of the block's sub-cube in the padded MLE at `r`.
pub fn block_weight(offset: usize, log: usize, r: &[EF]) -> EF {
    let high = r.len() - log;
    let block = offset >> log;
    r[..high]
        .iter()
        .enumerate()
        .map(|(t, &x)| if (block >> (high - 1 - t)) & 1 == 1 { x } else { EF::ONE - x })
        .product()
}

/// The point of a (row block, column block) segment within a padded matrix's point `(r, s)`:
/// the low `row_log` coordinates of `r`, then the low `col_log` of `s` (the high ones select the
/// block, [`block_weight`]).
pub fn block_point(r: &[EF], row_log: usize, s: &[EF], col_log: usize) -> Vec<EF> {
    r[r.len() - row_log..].iter().chain(&s[s.len() - col_log..]).copied().collect()
}

/// What part of a layer a segment holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// The weights of one (row block, column block).
    Weights {
        /// The row block's index in `blocks(rows)`.
        row: usize,
        /// The column block's index in `blocks(cols)`.
        col: usize,
    },
    /// The bias of one row block.
    Bias {
        /// The row block's index in `blocks(rows)`.
        row: usize,
    },
}

/// One segment of the model vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The layer's index in the network.
    pub layer: usize,
    /// Which of its parameters.
    pub part: Part,
    /// `log2` of the segment's size.
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
    /// The values the segments fill, from the start (the rest is zero and not committed).
    pub used: usize,
    /// Each segment's index in `segments`, by layer and part ([`Self::segment`]).
    index: BTreeMap<(usize, Part), usize>,
}

impl Layout {
    /// The layout of a (validated) architecture. The parameter count is checked against
    /// `2^MAX_LOG_LEN` before any segment is made, so the segments are bounded too.
    pub fn new(architecture: &QuantizedModel) -> ZkResult<Self> {
        let limit = 1usize << MAX_LOG_LEN;
        let mut total = 0usize;
        for (rows, cols, _) in architecture.layers.iter().filter_map(|l| matrix_dims(&l.op)) {
            // The segments tile the weights and the bias exactly: `rows·cols + rows` values.
            total = total.saturating_add(rows.saturating_mul(cols).saturating_add(rows));
            if total > limit {
                return Err(ZkError::Dimension { what: "model vector", limit, got: total });
            }
        }
        let mut segments = Vec::new();
        for (layer, quant_layer) in architecture.layers.iter().enumerate() {
            if let Some((rows, cols, _)) = matrix_dims(&quant_layer.op) {
                let (row_blocks, col_blocks) = (blocks(rows), blocks(cols));
                for (row, &(_, row_log)) in row_blocks.iter().enumerate() {
                    for (col, &(_, col_log)) in col_blocks.iter().enumerate() {
                        let part = Part::Weights { row, col };
                        segments.push(Segment { layer, part, log_size: row_log + col_log, offset: 0 });
                    }
                    segments.push(Segment { layer, part: Part::Bias { row }, log_size: row_log, offset: 0 });
                }
            }
        }
        if segments.is_empty() {
            return Err(ZkError::Model("the network has no Linear or Conv layer to commit to".into()));
        }
        // Stable: ties keep layer and block order.
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
        let index = segments.iter().enumerate().map(|(i, s)| ((s.layer, s.part), i)).collect();
        Ok(Self { segments, log_len: log2_ceil(offset), used: offset, index })
    }

    /// The index of a segment (logarithmic: a verifier looks up every block of every layer).
    pub fn segment(&self, layer: usize, part: Part) -> ZkResult<usize> {
        self.index
            .get(&(layer, part))
            .copied()
            .ok_or_else(|| ZkError::Model(format!("layer {layer} has no parameter block {part:?}")))
    }

    /// The model vector: every segment's parameters, zeros after the last.
    pub fn values(&self, model: &QuantizedModel) -> ZkResult<Vec<F>> {
        let mut values = vec![F::ZERO; 1 << self.log_len];
        for segment in &self.segments {
            let op = &model.layers[segment.layer].op;
            let (QuantOp::Linear { weights, bias, .. } | QuantOp::Conv { weights, bias, .. }) = op else {
                return Err(ZkError::Model(format!("layer {} has no parameters", segment.layer)));
            };
            let (rows, cols, _) = matrix_dims(op).unwrap_or_default();
            check_len("weights", rows * cols, weights.len())?;
            check_len("bias", rows, bias.len())?;
            let (row_blocks, col_blocks) = (blocks(rows), blocks(cols));
            let out = &mut values[segment.offset..segment.offset + (1 << segment.log_size)];
            match segment.part {
                Part::Bias { row } => {
                    let (start, log) = row_blocks[row];
                    for (slot, &b) in out.iter_mut().zip(&bias[start..start + (1 << log)]) {
                        *slot = F::from_i32(b);
                    }
                }
                Part::Weights { row, col } => {
                    let ((row_start, row_log), (col_start, col_log)) = (row_blocks[row], col_blocks[col]);
                    for r in 0..1 << row_log {
                        let source = &weights[(row_start + r) * cols + col_start..][..1 << col_log];
                        for (slot, &w) in out[r << col_log..].iter_mut().zip(source) {
                            *slot = F::from_i8(w);
                        }
                    }
                }
            }
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mle;

    #[test]
    fn blocks_tile_the_range() {
        assert_eq!(blocks(56), vec![(0, 5), (32, 4), (48, 3)]);
        assert_eq!(blocks(784), vec![(0, 9), (512, 8), (768, 4)]);
        assert_eq!(blocks(1), vec![(0, 0)]);
        assert_eq!(blocks(64), vec![(0, 6)]);
    }

    #[test]
    fn blocks_recompose_the_padded_mle() {
        // A 5 × 3 matrix padded to 8 × 4: its MLE at (r, s) from its four blocks' MLEs.
        let (rows, cols) = (5usize, 3usize);
        let values: Vec<F> = (0..rows * cols).map(|i| F::from_usize(i * 7 + 1)).collect();
        let mut padded = vec![F::ZERO; 8 * 4];
        for r in 0..rows {
            for c in 0..cols {
                padded[r * 4 + c] = values[r * cols + c];
            }
        }
        let r: Vec<EF> = (0..3).map(|i| EF::from_usize(3 + i * 5)).collect();
        let s: Vec<EF> = (0..2).map(|i| EF::from_usize(11 + i * 2)).collect();
        let point: Vec<EF> = r.iter().chain(&s).copied().collect();
        let expected = Mle::new(padded).unwrap().evaluate(&point).unwrap();
        let mut got = EF::ZERO;
        for &(row_start, row_log) in &blocks(rows) {
            for &(col_start, col_log) in &blocks(cols) {
                let mut block = vec![];
                for row in row_start..row_start + (1 << row_log) {
                    block.extend_from_slice(&values[row * cols + col_start..][..1 << col_log]);
                }
                let low: Vec<EF> = r[3 - row_log..].iter().chain(&s[2 - col_log..]).copied().collect();
                got += block_weight(row_start, row_log, &r)
                    * block_weight(col_start, col_log, &s)
                    * Mle::new(block).unwrap().evaluate(&low).unwrap();
            }
        }
        assert_eq!(got, expected);
    }
}
