//! The sumcheck of one `Linear` or `Conv` layer: `ACC = b·1ᵀ + W·X`, with `W` (`rows × cols`)
//! and `b` committed, `X` (`cols × positions`, the im2col matrix of the layer's input: for
//! `Linear` the input as a column) and `ACC` (`rows × positions`) public in the trace.
//!
//! For row and position points `r_o`, `r_p` drawn after the trace is absorbed:
//! `ÃCC(r_o, r_p) − b̃(r_o)·E(r_p) = Σ_k W̃(r_o, k)·X̃(k, r_p)`, where `E(r_p) = Σ_{p < positions}
//! eq(r_p, p)` (the bias reaches real positions only; padding is zero on both sides). The
//! prover sends `b̃(r_o)` (and the witness evaluations that give `ÃCC(r_o, r_p)`), runs the
//! sumcheck over `k` and sends `W̃(r_o, s)`; the verifier computes `E(r_p)` and `X̃(s, r_p)` from
//! public data. The weight and bias evaluations become claims on the model commitment. The
//! equation holds on the padding too (both sides zero there).

use p3_field::PrimeCharacteristicRing;
use veritas_quant::QuantOp;
use veritas_quant::geometry::Conv2d;

use super::layout::log2_ceil;
use crate::mle::eq_table;
use crate::{EF, F};

/// The public side of one layer's equation.
#[derive(Clone, Debug)]
pub struct LayerShape {
    /// Output features or channels.
    pub rows: usize,
    /// `in_features`, or `in_channels·kh·kw`.
    pub cols: usize,
    /// Output positions (1 for `Linear`).
    pub positions: usize,
}

impl LayerShape {
    /// Row variables.
    pub fn row_vars(&self) -> usize {
        log2_ceil(self.rows)
    }

    /// Column (sumcheck) variables.
    pub fn col_vars(&self) -> usize {
        log2_ceil(self.cols)
    }

    /// Position variables.
    pub fn pos_vars(&self) -> usize {
        log2_ceil(self.positions)
    }
}

/// `E(r_p) = Σ_{p < positions} eq(r_p, p)`.
pub fn bias_spread(shape: &LayerShape, r_p: &[EF]) -> EF {
    eq_table(r_p).into_iter().take(shape.positions).sum()
}

/// `X̃(k, r_p)` for every `k` on the (padded) column hypercube, from the layer's input `x`.
pub fn input_column(op: &QuantOp, shape: &LayerShape, x: &[i8], r_p: &[EF]) -> Vec<EF> {
    let mut column = vec![EF::ZERO; 1 << shape.col_vars()];
    match op {
        QuantOp::Linear { .. } => {
            for (slot, &v) in column.iter_mut().zip(x) {
                *slot = EF::from(F::from_i8(v));
            }
        }
        QuantOp::Conv { geometry, .. } => {
            // One output channel's taps: out index = position, weight index = column.
            let single = Conv2d { out_channels: 1, ..geometry.clone() };
            let eq_p = eq_table(r_p);
            if let Ok(out) = single.out_shape() {
                single.for_each_tap(out, |p, i, k| column[k] += eq_p[p] * F::from_i8(x[i]));
            }
        }
        _ => {}
    }
    column
}
