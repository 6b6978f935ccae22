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
//! **Layout.** Per layer, `2·limbs` limb vectors (`t`'s limbs, low first, then `u`'s), each a
//! `rows × positions` matrix like the accumulators. The padding to powers of two is not
//! stored: rows and positions are split into binary blocks (784 positions are 512, 256 and 16,
//! as the model's parameters are, [`super::layout`]) and each (row block, position block) of a
//! limb vector is one segment; the padded matrix's MLE is the blocks' combination. Every
//! layer's segments form the lookup region (placed largest first, padded to a power of two
//! with zeros, which are in range); then, with 16-bit limbs, the multiplicities (`2^k`).
//! With 8-bit limbs the 256 multiplicities are public instead (in the proof, absorbed before
//! the witness commitment), which keeps small witnesses half as long. Vectors and regions are
//! placed largest first so each starts at a multiple of its own size.

use p3_field::{PrimeCharacteristicRing, PrimeField64};
use veritas_quant::requant::Requant;

use super::combine_blocks;
use super::layout::{block_point, blocks, log2_ceil};
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
    // Each search once: output `y`'s interval ends where `y + 1`'s starts.
    let starts: Vec<i64> = (-128i64..=128).map(first_at_least).collect();
    starts.windows(2).map(|pair| (pair[0], pair[1] - 1)).collect()
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
    /// Position variables (the low ones of the padded matrix).
    pub pos_vars: usize,
    /// The binary blocks of the rows, `(start, log2 size)` ([`blocks`]).
    pub row_blocks: Vec<(usize, usize)>,
    /// The binary blocks of the positions.
    pub pos_blocks: Vec<(usize, usize)>,
    /// Per limb vector (`t`'s limbs, low first, then `u`'s), per (row block, position block),
    /// row blocks first: the segment's offset.
    pub segments: Vec<Vec<usize>>,
}

impl LayerSlots {
    /// The (row block, position block) pairs, in segment order: `(row block, position block)`.
    pub fn block_pairs(&self) -> impl Iterator<Item = ((usize, usize), (usize, usize))> + '_ {
        self.row_blocks.iter().flat_map(|&row| self.pos_blocks.iter().map(move |&pos| (row, pos)))
    }

    /// Each block pair's segment point at `r = (r_o, r_p)`: its `log2` size and the low
    /// coordinates of `r_o` and of `r_p` (the high ones select the block, [`super::layout`]).
    pub fn block_points(&self, r_o: &[EF], r_p: &[EF]) -> Vec<(usize, Vec<EF>)> {
        self.block_pairs()
            .map(|((_, row_log), (_, pos_log))| (row_log + pos_log, block_point(r_o, row_log, r_p, pos_log)))
            .collect()
    }

    /// Each limb vector's padded-matrix MLE at `(r_o, r_p)`, from its segments' evaluations
    /// (limb by limb, block pairs in order).
    pub fn limb_values(&self, r_o: &[EF], r_p: &[EF], evals: &[EF]) -> Vec<EF> {
        let pairs = self.row_blocks.len() * self.pos_blocks.len();
        evals.chunks(pairs).map(|limb| combine_blocks(&self.row_blocks, &self.pos_blocks, r_o, r_p, limb)).collect()
    }

    /// Where output `e` (row-major `rows × positions`) sits: its block pair's index and its
    /// index within that segment.
    fn locate(&self, positions: usize, e: usize) -> (usize, usize) {
        let (row, pos) = (e / positions, e % positions);
        let find = |blocks: &[(usize, usize)], at: usize| {
            blocks.iter().position(|&(start, log)| (start..start + (1 << log)).contains(&at)).unwrap_or(0)
        };
        let (i, j) = (find(&self.row_blocks, row), find(&self.pos_blocks, pos));
        let ((row_start, _), (pos_start, pos_log)) = (self.row_blocks[i], self.pos_blocks[j]);
        (i * self.pos_blocks.len() + j, ((row - row_start) << pos_log) | (pos - pos_start))
    }
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
        let widest = shapes.iter().map(|s| s.row_vars() + s.pos_vars()).max().unwrap_or(0);
        if widest > MAX_F_VARS {
            return Err(ZkError::TooLarge { what: "layer output variables", limit: MAX_F_VARS, got: widest });
        }
        let limbs = RANGE_BITS / limb_bits;
        // The segments tile each limb vector: the lookup region's length, bounded before any
        // segment is made.
        let lookups_total = shapes.iter().fold(0usize, |total, shape| {
            total.saturating_add(shape.rows.saturating_mul(shape.positions).saturating_mul(2 * limbs))
        });
        if lookups_total > 1 << MAX_F_VARS {
            let got =
                lookups_total.checked_next_power_of_two().map_or(usize::BITS as usize, |n| n.trailing_zeros() as usize);
            return Err(ZkError::TooLarge { what: "range-checked limbs (log2)", limit: MAX_F_VARS, got });
        }
        let mut layers: Vec<LayerSlots> = shapes
            .iter()
            .map(|shape| LayerSlots {
                pos_vars: shape.pos_vars(),
                row_blocks: blocks(shape.rows),
                pos_blocks: blocks(shape.positions),
                segments: Vec::new(),
            })
            .collect();
        // Every segment's log2 size, layer by layer, limb by limb, block pair by block pair.
        let segment_logs: Vec<usize> = layers
            .iter()
            .flat_map(|slots| {
                let pair_logs: Vec<usize> = slots.block_pairs().map(|((_, r), (_, p))| r + p).collect();
                std::iter::repeat_n(pair_logs, 2 * limbs).flatten()
            })
            .collect();
        let (segment_offsets, lookup_vars, lookups_used) = place(&segment_logs);
        if lookup_vars > MAX_F_VARS {
            return Err(ZkError::TooLarge { what: "range-checked limbs (log2)", limit: MAX_F_VARS, got: lookup_vars });
        }
        let committed_multiplicities = limb_bits > PUBLIC_MULTIPLICITY_BITS;
        let regions: &[usize] = if committed_multiplicities { &[lookup_vars, limb_bits] } else { &[lookup_vars] };
        let (offsets, log_len, end) = place(regions);
        // Only trailing zeros go uncommitted: the lookup region's padding when it is last.
        let used = if offsets[0] + (1 << lookup_vars) == end { offsets[0] + lookups_used } else { end };
        let mut next = segment_offsets.iter().map(|&o| offsets[0] + o);
        for slots in &mut layers {
            let pairs = slots.row_blocks.len() * slots.pos_blocks.len();
            slots.segments = (0..2 * limbs).map(|_| next.by_ref().take(pairs).collect()).collect();
        }
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
                let (pair, slot) = slots.locate(shape.positions, e);
                let (low, high) = bounds[(i16::from(y) + 128) as usize];
                for (half, diff) in [a - low, high - a].into_iter().enumerate() {
                    let canonical = F::from_i64(diff).as_canonical_u64();
                    for j in 0..self.limbs {
                        let shifted = canonical >> (j * self.limb_bits);
                        let limb = if j + 1 == self.limbs { shifted } else { shifted & mask };
                        values[slots.segments[half * self.limbs + j][pair] + slot] = F::from_u64(limb);
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
