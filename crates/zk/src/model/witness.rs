//! The committed witness of one inference (docs/zk.md, "Model proofs"): the limbs of every
//! `Linear`/`Conv` layer's requantization remainders, and the lookup multiplicities.
//!
//! **Requantization as two range checks.** The executor's `y = clamp(round(a·m / 2^s))` (ReLU
//! included) is monotone in the accumulator `a`, so each output value `y` comes from exactly the
//! accumulators of an interval `[L(y), H(y)]` ([`thresholds`], computed with the executor's own
//! code; an empty interval for a value no accumulator reaches). Given the public `y`, the
//! remainder `a·m + 2^(s−1) − y·2^s ∈ [0, 2^s)` of an unclamped output, and the inequalities of
//! a clamped one, are all `t = a − L(y) ≥ 0` and `u = H(y) − a ≥ 0`. Both are range-checked in
//! `[0, 2^32)`: a valid model's accumulators lie in `[−2^31, 2^31)`, so a negative `t` or `u` is a
//! field element above `p − 2^33`, outside the range. `t` and `u` are committed as `32 / k` limbs
//! of `k` bits each and every limb is looked up in `{0, …, 2^k − 1}` (`logup`). The accumulator
//! itself is not committed: it is `t + L(y)`, and `t + u = H(y) − L(y)` is checked.
//!
//! **Layout.** Per layer, `2·limbs` limb vectors (`t`'s limbs, low first, then `u`'s), each laid
//! out like the accumulators as a `2^row_vars × 2^pos_vars` matrix (row-major, zero padding).
//! Every layer's limb vectors form the lookup region (placed largest first, padded to a power of
//! two with zeros, which are in range); then, with 16-bit limbs, the multiplicities (`2^k`).
//! With 8-bit limbs the 256 multiplicities are public instead (in the proof, absorbed before
//! the witness commitment), which keeps small witnesses half as long. Vectors and regions are
//! placed largest first so each starts at a multiple of its own size.

use p3_field::{PrimeCharacteristicRing, PrimeField64};
use veritas_quant::requant::Requant;

use super::layout::log2_ceil;
use super::linear::LayerShape;
use crate::logup::{self, MAX_F_VARS};
use crate::mle::eq_table;
use crate::{EF, F, ZkError, ZkResult, check_len};

/// Multiplicities of tables up to this many bits are public, larger ones committed.
pub const PUBLIC_MULTIPLICITY_BITS: usize = 8;
/// The bits of the range `t` and `u` are checked in.
pub const RANGE_BITS: usize = 32;
/// The least accumulator a valid model has.
const ACC_MIN: i64 = -(1 << 31);
/// The greatest.
const ACC_MAX: i64 = (1 << 31) - 1;

/// `(L(y), H(y))` for `y = −128..=127` (index `y + 128`): the least and the greatest accumulator
/// in `[−2^31, 2^31)` that requantizes to `y`; `L > H` when none does.
pub fn thresholds(requant: &Requant, relu: bool) -> Vec<(i64, i64)> {
    let apply = |a: i64| i64::from(requant.apply(a, relu));
    // The least accumulator whose output is at least `y`, or ACC_MAX + 1 (binary search: the
    // output is non-decreasing in the accumulator).
    let first_at_least = |y: i64| {
        if apply(ACC_MAX) < y {
            return ACC_MAX + 1;
        }
        let (mut low, mut high) = (ACC_MIN, ACC_MAX);
        while low < high {
            let mid = low + (high - low) / 2;
            if apply(mid) >= y { high = mid } else { low = mid + 1 }
        }
        low
    };
    (-128i64..=127).map(|y| (first_at_least(y), first_at_least(y + 1) - 1)).collect()
}

/// What the witness holds of one layer: its accumulators (`rows × positions`, row-major), its
/// outputs and their [`thresholds`].
#[derive(Clone, Copy)]
pub struct LayerWitness<'a> {
    /// The accumulators.
    pub accumulators: &'a [i64],
    /// The int8 outputs.
    pub outputs: &'a [i8],
    /// The layer's thresholds.
    pub bounds: &'a [(i64, i64)],
}

/// One layer's place in the witness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSlots {
    /// `row_vars + pos_vars`: each of the layer's vectors has `2^vars` values.
    pub vars: usize,
    /// Position variables (the low ones).
    pub pos_vars: usize,
    /// Each limb vector's offset: `t`'s limbs, low first, then `u`'s.
    pub limbs: Vec<usize>,
}

/// Where everything sits in the witness vector; a function of the architecture alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessLayout {
    /// Bits per limb, `k`: the lookup table is `{0, …, 2^k − 1}`.
    pub limb_bits: usize,
    /// Limbs per range-checked value, `RANGE_BITS / k`.
    pub limbs: usize,
    /// `log2` of the lookup region's length.
    pub lookup_vars: usize,
    /// The lookup region's offset.
    pub lookups: usize,
    /// The multiplicities' offset (`2^k` of them) when they are committed (`k = 16`); `None`
    /// when they are public (`k = 8`).
    pub multiplicities: Option<usize>,
    /// Per `Linear`/`Conv` layer, network order.
    pub layers: Vec<LayerSlots>,
    /// `log2` of the witness length.
    pub log_len: usize,
    /// The committed prefix: every later value is zero ([`crate::pcs::commit_prefix`]).
    pub used: usize,
}

/// Places regions of the given `log2` sizes largest first (stable), returning their offsets,
/// `log2` of the padded total and the end of the last region.
fn place(logs: &[usize]) -> (Vec<usize>, usize, usize) {
    let mut order: Vec<usize> = (0..logs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(logs[i]));
    let mut offsets = vec![0; logs.len()];
    let mut next = 0usize;
    for i in order {
        offsets[i] = next;
        next += 1 << logs[i];
    }
    (offsets, log2_ceil(next.max(1)), next.max(1))
}

impl WitnessLayout {
    /// The layout for the `Linear`/`Conv` layers of these shapes (network order): 8-bit or
    /// 16-bit limbs, whichever gives the shorter witness, then the fewer lookups (a shallower
    /// fraction tree).
    pub fn new(shapes: &[LayerShape]) -> ZkResult<Self> {
        let small = Self::with_limb_bits(shapes, 8);
        let large = Self::with_limb_bits(shapes, 16);
        match (small, large) {
            (Ok(small), Ok(large)) => {
                let depth = |layout: &Self| layout.lookup_vars.max(layout.limb_bits);
                Ok(if (large.log_len, depth(&large)) < (small.log_len, depth(&small)) { large } else { small })
            }
            (Ok(layout), Err(_)) | (Err(_), Ok(layout)) => Ok(layout),
            (Err(e), Err(_)) => Err(e),
        }
    }

    fn with_limb_bits(shapes: &[LayerShape], limb_bits: usize) -> ZkResult<Self> {
        let vars: Vec<usize> = shapes.iter().map(|s| s.row_vars() + s.pos_vars()).collect();
        let widest = vars.iter().copied().max().unwrap_or(0);
        if widest > MAX_F_VARS {
            return Err(ZkError::TooLarge { what: "layer output variables", limit: MAX_F_VARS, got: widest });
        }
        let limbs = RANGE_BITS / limb_bits;
        let vector_logs: Vec<usize> = vars.iter().flat_map(|&v| std::iter::repeat_n(v, 2 * limbs)).collect();
        let (vector_offsets, lookup_vars, lookups_used) = place(&vector_logs);
        if lookup_vars > MAX_F_VARS {
            return Err(ZkError::TooLarge { what: "range-checked limbs (log2)", limit: MAX_F_VARS, got: lookup_vars });
        }
        let committed_multiplicities = limb_bits > PUBLIC_MULTIPLICITY_BITS;
        let regions: &[usize] = if committed_multiplicities { &[lookup_vars, limb_bits] } else { &[lookup_vars] };
        let (offsets, log_len, end) = place(regions);
        // Only trailing zeros go uncommitted: the lookup region's padding when it is last.
        let used = if offsets[0] + (1 << lookup_vars) == end { offsets[0] + lookups_used } else { end };
        let layers = shapes
            .iter()
            .zip(&vars)
            .zip(vector_offsets.chunks(2 * limbs))
            .map(|((shape, &vars), vectors)| LayerSlots {
                vars,
                pos_vars: shape.pos_vars(),
                limbs: vectors.iter().map(|&o| offsets[0] + o).collect(),
            })
            .collect();
        let multiplicities = committed_multiplicities.then(|| offsets[1]);
        Ok(Self { limb_bits, limbs, lookup_vars, lookups: offsets[0], multiplicities, layers, log_len, used })
    }

    /// The witness, from each layer's accumulators (`rows × positions`, row-major) and its
    /// outputs with their `thresholds`, and the multiplicities of its lookup region (which are
    /// in it when committed). `t` and `u` are taken modulo `p` and split into limbs with the top
    /// limb holding the rest, so that an output the accumulator does not give still yields a
    /// witness, which the range check rejects.
    pub fn values(&self, shapes: &[LayerShape], layers: &[LayerWitness<'_>]) -> ZkResult<(Vec<F>, Vec<F>)> {
        check_len("layer witnesses", self.layers.len(), layers.len())?;
        let mut values = vec![F::ZERO; 1 << self.log_len];
        let mask = (1u64 << self.limb_bits) - 1;
        for ((slots, shape), layer) in self.layers.iter().zip(shapes).zip(layers) {
            let LayerWitness { accumulators: acc, outputs, bounds } = *layer;
            check_len("accumulators", shape.rows * shape.positions, acc.len())?;
            check_len("layer outputs", acc.len(), outputs.len())?;
            for (e, (&a, &y)) in acc.iter().zip(outputs).enumerate() {
                let slot = padded_index(shape, slots.pos_vars, e);
                let (low, high) = bounds[(i16::from(y) + 128) as usize];
                for (half, diff) in [a - low, high - a].into_iter().enumerate() {
                    let canonical = F::from_i64(diff).as_canonical_u64();
                    for j in 0..self.limbs {
                        let shifted = canonical >> (j * self.limb_bits);
                        let limb = if j + 1 == self.limbs { shifted } else { shifted & mask };
                        values[slots.limbs[half * self.limbs + j] + slot] = F::from_u64(limb);
                    }
                }
            }
        }
        let region = self.lookups..self.lookups + (1 << self.lookup_vars);
        let counts = logup::multiplicities(&values[region], self.limb_bits);
        if let Some(offset) = self.multiplicities {
            values[offset..offset + counts.len()].copy_from_slice(&counts);
        }
        Ok((values, counts))
    }
}

/// Where output `e` (row-major `rows × positions`) sits in the zero-padded matrix.
fn padded_index(shape: &LayerShape, pos_vars: usize, e: usize) -> usize {
    ((e / shape.positions) << pos_vars) | (e % shape.positions)
}

/// `(L̃(r), H̃(r))`: the MLEs at `r` of the per-output thresholds of a layer's outputs, laid out
/// like its accumulators (zero padding).
pub fn threshold_evals(
    shape: &LayerShape,
    pos_vars: usize,
    outputs: &[i8],
    bounds: &[(i64, i64)],
    r: &[EF],
) -> (EF, EF) {
    let eq = eq_table(r);
    let (mut low, mut high) = (EF::ZERO, EF::ZERO);
    for (e, &y) in outputs.iter().enumerate() {
        let weight = eq[padded_index(shape, pos_vars, e)];
        let (l, h) = bounds[(i16::from(y) + 128) as usize];
        low += weight * F::from_i64(l);
        high += weight * F::from_i64(h);
    }
    (low, high)
}

/// `Σ_j 2^(k·j)·limbs[j]`: the value whose limbs these are.
pub fn recompose(limbs: &[EF], limb_bits: usize) -> EF {
    limbs.iter().rev().fold(EF::ZERO, |acc, &limb| acc * F::from_u64(1 << limb_bits) + limb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_bound_exactly_the_accumulators_of_each_output() {
        for (requant, relu) in [
            (Requant::from_real(0.0123).unwrap(), true),
            (Requant::from_real(0.7).unwrap(), false),
            (Requant::from_real(3.5).unwrap(), false),
        ] {
            let bounds = thresholds(&requant, relu);
            for a in (-5000i64..5000).chain([ACC_MIN, ACC_MAX, ACC_MIN + 1, ACC_MAX - 1]) {
                let y = requant.apply(a, relu);
                for (index, &(low, high)) in bounds.iter().enumerate() {
                    let inside = (low..=high).contains(&a);
                    assert_eq!(inside, index as i64 - 128 == i64::from(y), "a = {a}, y = {y}, index {index}");
                }
            }
        }
    }

    #[test]
    fn an_output_no_accumulator_reaches_has_an_empty_interval() {
        let bounds = thresholds(&Requant::from_real(0.01).unwrap(), true);
        // ReLU: nothing maps below zero.
        assert!(bounds[..128].iter().all(|&(low, high)| low > high));
        // A multiplier of 3.5 skips values.
        let bounds = thresholds(&Requant::from_real(3.5).unwrap(), false);
        assert!(bounds.iter().any(|&(low, high)| low > high));
    }
}
