//! What a verifier accepts, decided from the verifying key alone before anything runs
//! (docs/zk.md, "Verifier bounds"): a least proven soundness of the key's parameters, and a
//! budget on the work and memory that verifying its proofs takes.
//!
//! A key names its own architecture and parameters, so without bounds a crafted one could make
//! a verifier work for hours (a pooling window of `2^62` taps, a convolution of `2^40`, a
//! `2^28`-point DFT) or accept a proof with almost no soundness (one query, no grinding).
//! [`VerifyingKey::bounded`] checks the architecture, the layouts, the soundness
//! ([`VerifyingKey::security_bits`], proven, not conjectured) and an estimate of the cost
//! ([`Cost`]), in time linear in the key's size; [`BoundedKey::verify`] then runs the proof's
//! checks, each once.
//!
//! **The estimate** counts, with saturating arithmetic (an estimate past `u64::MAX` is over
//! any budget), every loop of the verifier whose length the key decides, in *work units* of
//! about one extension-field multiplication (a few nanoseconds natively): deriving the trace
//! (each pooling output its whole window, each `Add`/ReLU output once), per `Linear`/`Conv`
//! layer its thresholds' binary searches, its `eq` tables over rows, positions and columns,
//! its input column (a `Conv`'s every tap, `positions · cols`), its block combinations and
//! claims; the range check's `O(d²)`; and per PCS opening its `eq` tables, the DFT of the
//! combined row (`N·log2 N` for a codeword of `N`), the hashing of every opened column and
//! Merkle path ([`PERMUTATION_WORK`] per Poseidon2 permutation) and the columns' combination.
//! Every transcript absorption counts a share of a permutation. Memory counts the tensors of the
//! trace (all kept), the largest `eq` tables and columns, the DFT's buffers and the opened
//! columns and siblings.

use veritas_quant::QuantOp;

use super::layout::{Layout, blocks};
use super::linear::LayerShape;
use super::witness::WitnessLayout;
use super::{VerifyingKey, shape_of};
use crate::pcs::PcsParams;
use crate::{ZkError, ZkResult, check_len};

/// The least proven soundness [`Bounds::DEFAULT`] accepts, in bits.
pub const MIN_SECURITY_BITS: u32 = 100;
/// The most work units [`Bounds::DEFAULT`] accepts: two to four seconds of one core natively
/// (1.7 to 3.4 ns per unit measured, `tests/it/bounds.rs`, `calibrate`), 200 times the largest
/// example network's.
pub const MAX_WORK: u64 = 1 << 30;
/// The most bytes of memory [`Bounds::DEFAULT`] accepts (a browser's WebAssembly verifier has
/// at most 4 GiB).
pub const MAX_MEMORY: u64 = 1 << 29;
/// The work units of one Poseidon2 permutation (width 8), the transcript's and the Merkle
/// tree's hash: about 128 extension-field multiplications (measured against verifications
/// dominated by hashing, `tests/it/bounds.rs`, `calibrate`).
pub const PERMUTATION_WORK: u64 = 128;
/// The work units of absorbing one base-field element: a quarter of a permutation (rate 4).
const ABSORB_WORK: u64 = PERMUTATION_WORK / 4;
/// The work units of one layer's thresholds: 257 binary searches of 33 steps, each a
/// requantization (about two units).
const THRESHOLDS_WORK: u64 = 2 * 257 * 33;

/// What a verifier accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// The least proven soundness of the key's parameters, in bits
    /// ([`VerifyingKey::security_bits`]).
    pub min_security_bits: u32,
    /// The most estimated work units ([`Cost::work`]).
    pub max_work: u64,
    /// The most estimated bytes of memory ([`Cost::memory`]).
    pub max_memory: u64,
}

impl Bounds {
    /// [`MIN_SECURITY_BITS`], [`MAX_WORK`] and [`MAX_MEMORY`]: what [`super::verify`] and every
    /// receipt verifier use.
    pub const DEFAULT: Bounds =
        Bounds { min_security_bits: MIN_SECURITY_BITS, max_work: MAX_WORK, max_memory: MAX_MEMORY };
}

impl Default for Bounds {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// An estimate of what verifying one proof for a key takes (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Work units, about one extension-field multiplication each.
    pub work: u64,
    /// Bytes of memory.
    pub memory: u64,
}

impl Cost {
    fn add_work(&mut self, units: u64) {
        self.work = self.work.saturating_add(units);
    }

    fn add_memory(&mut self, bytes: u64) {
        self.memory = self.memory.saturating_add(bytes);
    }
}

/// A verifying key checked against [`Bounds`]: a valid architecture whose layouts match the
/// commitment, parameters with enough soundness, and a verification within the budget. Holds
/// the layouts, so verification does not compute them again.
#[derive(Debug)]
pub struct BoundedKey<'a> {
    pub(super) key: &'a VerifyingKey,
    pub(super) layout: Layout,
    pub(super) witness: WitnessLayout,
    security_bits: f64,
    cost: Cost,
}

impl BoundedKey<'_> {
    /// The key.
    pub fn key(&self) -> &VerifyingKey {
        self.key
    }

    /// The key's proven soundness in bits ([`VerifyingKey::security_bits`]).
    pub fn security_bits(&self) -> f64 {
        self.security_bits
    }

    /// The estimated cost of verifying one proof.
    pub fn cost(&self) -> Cost {
        self.cost
    }
}

impl VerifyingKey {
    /// Checks the key against `bounds` before anything runs, in time linear in its size: the
    /// architecture is valid and its parameter layout is the commitment's
    /// ([`ZkError::Model`], [`ZkError::Length`], [`ZkError::Dimension`]), the parameters give
    /// at least `bounds.min_security_bits` of proven soundness ([`ZkError::Insecure`]), and the
    /// estimated work and memory of a verification are within the budget
    /// ([`ZkError::OverBudget`]).
    pub fn bounded(&self, bounds: &Bounds) -> ZkResult<BoundedKey<'_>> {
        let model = &self.architecture;
        model.validate_architecture().map_err(|e| ZkError::Model(e.to_string()))?;
        self.params.validate()?;
        let layout = Layout::new(model)?;
        check_len("committed model vector (log2)", layout.log_len, self.commitment.log_len)?;
        check_len("committed model values", layout.used, self.commitment.len)?;
        let shapes: Vec<LayerShape> = model.layers.iter().filter_map(|l| shape_of(&l.op)).collect();
        let witness = WitnessLayout::new(&shapes)?;
        let security_bits = self.security_bits_with(&witness);
        let required = bounds.min_security_bits;
        if security_bits.is_nan() || security_bits < f64::from(required) {
            // OK as a cast: a float to an integer saturates, and NaN gives 0.
            let bits = security_bits.floor() as u32;
            return Err(ZkError::Insecure { bits, required });
        }
        let cost = self.cost_with(&layout, &witness)?;
        if cost.work > bounds.max_work {
            return Err(ZkError::OverBudget { what: "work units", estimate: cost.work, budget: bounds.max_work });
        }
        if cost.memory > bounds.max_memory {
            return Err(ZkError::OverBudget {
                what: "bytes of memory",
                estimate: cost.memory,
                budget: bounds.max_memory,
            });
        }
        Ok(BoundedKey { key: self, layout, witness, security_bits, cost })
    }

    /// The estimated cost of verifying one proof (see the module docs), for a key whose
    /// architecture is valid.
    fn cost_with(&self, layout: &Layout, witness: &WitnessLayout) -> ZkResult<Cost> {
        let model = &self.architecture;
        let mut cost = Cost::default();
        let input_len = model.input_len() as u64;
        // The statement: parameters, commitment, about 32 words and the shape per layer, input
        // and output.
        let dims =
            model.layers.iter().fold(model.input_shape.len() as u64, |n, l| n.saturating_add(l.shape.len() as u64));
        let statement = 16u64
            .saturating_add(32u64.saturating_mul(model.layers.len() as u64))
            .saturating_add(dims)
            .saturating_add(input_len)
            .saturating_add(model.output_len() as u64);
        cost.add_work(statement.saturating_mul(ABSORB_WORK));
        cost.add_memory(statement.saturating_mul(8));
        // The trace: every tensor is kept.
        cost.add_memory(input_len);
        for layer in &model.layers {
            let out_len = layer.shape.iter().fold(1u64, |n, &d| n.saturating_mul(d as u64));
            cost.add_memory(out_len);
            cost.add_work(match &layer.op {
                QuantOp::MaxPool { geometry, .. } | QuantOp::AvgPool { geometry, .. } => {
                    // Every output visits its whole window (taps on padding included).
                    let window = (geometry.kernel[0] as u64).saturating_mul(geometry.kernel[1] as u64);
                    out_len.saturating_mul(window.saturating_add(1))
                }
                QuantOp::Add { .. } => out_len.saturating_mul(2),
                QuantOp::Relu { .. } | QuantOp::Linear { .. } | QuantOp::Conv { .. } => out_len,
            });
        }
        let limb_vectors = 2 * witness.limbs as u64;
        let weighted = model.layers.iter().filter_map(|l| shape_of(&l.op).map(|s| (&l.op, s)));
        for ((op, shape), slots) in weighted.zip(&witness.layers) {
            let (rows, cols, positions) = (shape.rows as u64, shape.cols as u64, shape.positions as u64);
            let (row_vars, col_vars, pos_vars) = (shape.row_vars(), shape.col_vars(), shape.pos_vars());
            let outputs = rows.saturating_mul(positions);
            let (row_blocks, col_blocks) = (blocks(shape.rows).len() as u64, blocks(shape.cols).len() as u64);
            let pairs = row_blocks.saturating_mul(slots.pos_blocks.len() as u64);
            let limb_evals = limb_vectors.saturating_mul(pairs);
            let weight_evals = row_blocks.saturating_mul(col_blocks);
            // The public outputs absorbed; the thresholds; the challenges and rounds.
            cost.add_work(outputs.saturating_mul(ABSORB_WORK));
            cost.add_work(THRESHOLDS_WORK);
            cost.add_work(((row_vars + pos_vars + col_vars) as u64).saturating_mul(PERMUTATION_WORK + 4));
            // L̃, H̃ at r: the eq table over rows and positions and one pass over the outputs.
            let row_pos_table = pow2(row_vars + pos_vars);
            cost.add_work(row_pos_table.saturating_add(outputs.saturating_mul(2)));
            // E(r_p), the input column X̃(·, r_p) (a Conv's every tap) and X̃(s, r_p).
            let col_table = pow2(col_vars);
            cost.add_work(pow2(pos_vars).saturating_add(col_table.saturating_mul(3)));
            cost.add_work(match op {
                QuantOp::Conv { .. } => positions.saturating_mul(cols).saturating_add(pow2(pos_vars)),
                _ => cols,
            });
            cost.add_memory(16u64.saturating_mul(row_pos_table.max(col_table).saturating_add(pow2(pos_vars))));
            // The block combinations, the messages absorbed and the claims they become.
            let vars = (row_vars + col_vars + pos_vars) as u64;
            let evals = row_blocks.saturating_add(weight_evals).saturating_add(limb_evals);
            cost.add_work(evals.saturating_mul(vars.saturating_add(2 * ABSORB_WORK)));
            let model_claims = row_blocks.saturating_add(weight_evals);
            cost.add_work(model_claims.saturating_mul(2 * layout.log_len as u64 + 64));
            cost.add_work(limb_evals.saturating_mul(2 * witness.log_len as u64));
            cost.add_memory(evals.saturating_mul(16 * (vars + 4)));
        }
        // The range check: d + 1 GKR layers of up to d rounds, and public multiplicities.
        let depth = witness.lookup_vars.max(witness.limb_bits) as u64 + 1;
        cost.add_work(depth.saturating_mul(depth).saturating_mul(PERMUTATION_WORK + 16));
        let table = pow2(witness.limb_bits);
        cost.add_work(table.saturating_mul(2));
        cost.add_memory(table.saturating_mul(28));
        // The two batches and their openings.
        for (log_len, len) in [(witness.log_len, witness.used), (layout.log_len, layout.used)] {
            cost.add_work((log_len as u64).saturating_mul(PERMUTATION_WORK + 4));
            let opening = opening_cost(&self.params, log_len, len)?;
            cost.add_work(opening.work);
            cost.add_memory(opening.memory);
        }
        Ok(cost)
    }
}

/// The cost of verifying one opening of `2^log_len` values of which `len` are committed.
fn opening_cost(params: &PcsParams, log_len: usize, len: usize) -> ZkResult<Cost> {
    let shape = params.shape(log_len, len)?;
    let (rows, cols) = (shape.rows() as u64, pow2(shape.log_cols));
    let (codeword, height) = (pow2(shape.log_codeword_len), shape.log_codeword_len as u64);
    let queries = params.num_queries as u64;
    let mut cost = Cost::default();
    // eq tables of both halves of the point; the combined row absorbed and checked.
    cost.add_work(pow2(shape.log_rows).saturating_add(cols.saturating_mul(2 + 2 * ABSORB_WORK)));
    // The combined row's encoding: a DFT of each of its two coordinates.
    cost.add_work(codeword.saturating_mul(height.max(1)).saturating_mul(2));
    // Each query: its column hashed (rate 4), its path, the column combined with the row weights.
    let leaf = rows.div_ceil(4).saturating_add(height).saturating_mul(PERMUTATION_WORK).saturating_add(rows);
    cost.add_work(queries.saturating_mul(leaf.saturating_add(PERMUTATION_WORK)));
    // The padded row, its encoding and the DFT's scratch; the opened columns and siblings.
    cost.add_memory(codeword.saturating_mul(48).saturating_add(cols.saturating_mul(16)));
    cost.add_memory(queries.saturating_mul(rows.saturating_mul(8).saturating_add(height.saturating_mul(32))));
    Ok(cost)
}

/// `2^vars`, saturating.
fn pow2(vars: usize) -> u64 {
    u32::try_from(vars).ok().and_then(|v| 1u64.checked_shl(v)).unwrap_or(u64::MAX)
}
