//! Proofs that a committed quantized network maps a public input to a public output
//! (docs/zk.md, "Model proofs").
//!
//! **Statement**: the model commitment (the [`Commitment`] to every weight and bias, see
//! [`layout`]), the architecture with its scales and requantization constants, the PCS
//! parameters, the int8 input and the int8 output. It holds when `QuantizedModel::run` of the
//! committed parameters with this architecture gives this output on this input.
//!
//! **Proof** (version 3): the int8 outputs of every `Linear`/`Conv` layer in the clear (every
//! other tensor follows from them with the executor's own code: [`derive_trace`]); a commitment
//! to the witness ([`witness`]: the limbs of every accumulator's distances `t = a − L(y)` and
//! `u = H(y) − a` to its output's thresholds, and the lookup multiplicities), absorbed with them
//! before any challenge. Per `Linear`/`Conv` layer, at a random point `r`: the check
//! `t + u = H(y) − L(y)`, and a sumcheck that the accumulators `t + L(y)` are `b + W·x`
//! ([`linear`]); with the range check of `t` and `u` this proves the requantization and ReLU. One LogUp range check of every
//! limb ([`crate::logup`]). Last, the claims on the witness and on the model vector are each
//! batched into one PCS opening ([`batch`]).
//!
//! **Bounds**: before anything runs, a verifier checks the key against [`Bounds`]: the
//! parameters' proven soundness and an estimate of the work and memory verification takes, both
//! from the key alone ([`bounds`]).
pub mod batch;
pub mod bounds;
pub mod encoding;
pub mod layout;
#[cfg(test)]
mod leak;
pub mod linear;
mod prove;
mod verify;
pub mod witness;

pub use bounds::{BoundedKey, Bounds, Cost};
pub use prove::{prove, prove_witness};
pub use verify::{verify, verify_output};

use p3_field::PrimeCharacteristicRing;
use veritas_quant::quantized::run_layer;
use veritas_quant::{QuantOp, QuantizedModel};

use self::batch::BatchProof;
use self::layout::{Layout, block_weight, matrix_dims};
use self::linear::LayerShape;
use crate::logup::LookupProof;
use crate::pcs::{self, Commitment, CommitmentData, PcsParams};
use crate::{EF, F, SumcheckProof, Transcript, ZkError, ZkResult, check_len};

const DOMAIN: &[u8] = b"model";

/// What a verifier needs: the architecture, the commitment to the parameters and the PCS
/// parameters. Published once per model version.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyingKey {
    /// The network without its parameters ([`QuantizedModel::architecture`]).
    pub architecture: QuantizedModel,
    /// The commitment to the model vector.
    pub commitment: Commitment,
    /// The commitment's parameters.
    pub params: PcsParams,
}

/// What a prover needs: the model, its layout and the commitment's prover data (which holds the
/// model vector).
pub struct ProvingKey {
    model: QuantizedModel,
    layout: Layout,
    data: CommitmentData,
    verifying_key: VerifyingKey,
}

/// One `Linear`/`Conv` layer's messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerProof {
    /// Each bias row block's MLE at the low coordinates of `r_o` ([`layout`]): `b̃(r_o)` is
    /// their combination.
    pub bias_evals: Vec<EF>,
    /// Each limb segment's MLE at its part of `r = (r_o, r_p)`: per limb vector (`t`'s limbs,
    /// low first, then `u`'s), per (row block, position block) ([`witness`]). A limb vector's
    /// MLE at `r` is its blocks' combination, and the accumulators' is `t̃ + L̃(r)`.
    pub limb_evals: Vec<EF>,
    /// The sumcheck over the columns.
    pub sumcheck: SumcheckProof,
    /// Each weight block's MLE at the low coordinates of `(r_o, s)`, row blocks first: `W̃(r_o, s)`
    /// is their combination.
    pub weights_evals: Vec<EF>,
}

/// A proof of one inference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelProof {
    /// Every `Linear`/`Conv` layer's int8 output, layer order.
    pub activations: Vec<Vec<i8>>,
    /// The lookup multiplicities when public (8-bit limbs: 256 counts), else empty
    /// ([`witness`]).
    pub multiplicities: Vec<u32>,
    /// The commitment to the witness ([`witness`]).
    pub witness: Commitment,
    /// Every `Linear`/`Conv` layer's messages, layer order.
    pub layers: Vec<LayerProof>,
    /// The range check of every limb.
    pub lookup: LookupProof,
    /// The claims on the witness, opened.
    pub witness_batch: BatchProof,
    /// The claims on the model vector, opened.
    pub model_batch: BatchProof,
}

impl ProvingKey {
    /// Commits to `model` (validated) with `params`: done once per model version.
    pub fn new(model: &QuantizedModel, params: PcsParams) -> ZkResult<Self> {
        model.validate().map_err(|e| ZkError::Model(e.to_string()))?;
        let architecture = model.architecture();
        let layout = Layout::new(&architecture)?;
        let values = layout.values(model)?;
        let (commitment, data) = pcs::commit_prefix(values, layout.used, &params)?;
        let verifying_key = VerifyingKey { architecture, commitment, params };
        Ok(Self { model: model.clone(), layout, data, verifying_key })
    }

    fn segment_values(&self, index: usize) -> &[F] {
        let segment = &self.layout.segments[index];
        &self.data.values()[segment.offset..segment.offset + (1 << segment.log_size)]
    }

    /// The public half.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying_key
    }

    /// The committed model.
    pub fn model(&self) -> &QuantizedModel {
        &self.model
    }
}

impl VerifyingKey {
    /// The proof's proven soundness in bits, 0 for an invalid key: `−log2` of the sum of the
    /// two openings' errors ([`PcsParams::security_bits_at`] of the model vector's and the
    /// witness's lengths) and a bound on every other term, `(2^n + 2^k + 2^14)/|F_{p^2}|`: the
    /// range check's `γ` over `2^n` lookups and a `2^k` table, and `2^14` for the sumcheck
    /// rounds (at most 3/|F_{p^2}| each), random points and batched claims, far more than any
    /// network here has (docs/zk.md, "Model proofs").
    pub fn security_bits(&self) -> f64 {
        let shapes: Vec<LayerShape> = weighted_layers(&self.architecture).into_iter().map(|(_, _, s)| s).collect();
        match witness::WitnessLayout::new(&shapes) {
            Ok(witness) => self.security_bits_with(&witness),
            Err(_) => 0.0,
        }
    }

    /// [`Self::security_bits`] given the architecture's witness layout.
    pub(crate) fn security_bits_with(&self, witness: &witness::WitnessLayout) -> f64 {
        let model_bits = self.params.security_bits_at(self.commitment.log_len);
        let witness_bits = self.params.security_bits_at(witness.log_len);
        if model_bits <= 0.0 || witness_bits <= 0.0 {
            return 0.0;
        }
        let log_field = 2.0 * (<F as p3_field::PrimeField64>::ORDER_U64 as f64).log2();
        let lookups = 2f64.powi(witness.lookup_vars as i32) + 2f64.powi(witness.limb_bits as i32);
        let error =
            2f64.powf(-model_bits) + 2f64.powf(-witness_bits) + (lookups + 2f64.powi(14)) * 2f64.powf(-log_field);
        // An error bound above 1 says nothing: 0 bits.
        (-error.log2()).max(0.0)
    }

    /// The statement's field elements: PCS parameters, commitment, architecture, input, output.
    fn statement(&self, input: &[i8], output: &[i8]) -> Vec<F> {
        let params = [self.params.log_blowup, self.params.num_queries, self.params.pow_bits];
        let mut fields: Vec<F> = params.iter().map(|&v| F::from_usize(v)).collect();
        fields.extend(self.commitment.to_fields());
        architecture_fields(&self.architecture, &mut fields);
        fields.push(F::from_usize(input.len()));
        fields.extend(input.iter().map(|&v| F::from_i8(v)));
        fields.push(F::from_usize(output.len()));
        fields.extend(output.iter().map(|&v| F::from_i8(v)));
        fields
    }
}

/// Appends the architecture: shapes, operations, ids, geometries, requantization constants and
/// scales (as their f32 bits).
fn architecture_fields(model: &QuantizedModel, out: &mut Vec<F>) {
    let mut push = |v: u64| out.push(F::from_u64(v));
    push(model.input_shape.len() as u64);
    model.input_shape.iter().for_each(|&d| push(d as u64));
    push(u64::from(model.input_scale.to_bits()));
    push(model.layers.len() as u64);
    for layer in &model.layers {
        let mut words: Vec<u64> = Vec::new();
        match &layer.op {
            QuantOp::Linear { input, in_features, out_features, requant, relu, .. } => {
                words.extend([1, *input as u64, *in_features as u64, *out_features as u64]);
                words.extend([requant.multiplier as u64, u64::from(requant.shift), u64::from(*relu)]);
            }
            QuantOp::Conv { input, geometry: g, requant, relu, .. } => {
                words.extend([2, *input as u64, g.in_channels as u64, g.in_height as u64, g.in_width as u64]);
                words.extend([g.out_channels as u64, g.kernel[0] as u64, g.kernel[1] as u64]);
                words.extend([g.stride[0] as u64, g.stride[1] as u64]);
                words.extend(g.pads.iter().map(|&p| p as u64));
                words.extend([requant.multiplier as u64, u64::from(requant.shift), u64::from(*relu)]);
            }
            QuantOp::MaxPool { input, geometry: g } | QuantOp::AvgPool { input, geometry: g, .. } => {
                let tag = if matches!(layer.op, QuantOp::MaxPool { .. }) { 3 } else { 4 };
                words.extend([tag, *input as u64, g.channels as u64, g.in_height as u64, g.in_width as u64]);
                words.extend([g.kernel[0] as u64, g.kernel[1] as u64, g.stride[0] as u64, g.stride[1] as u64]);
                words.extend(g.pads.iter().map(|&p| p as u64));
                if let QuantOp::AvgPool { requant, .. } = &layer.op {
                    words.extend([requant.multiplier as u64, u64::from(requant.shift)]);
                }
            }
            QuantOp::Add { a, b, multiplier_a, multiplier_b, shift, relu } => {
                words.extend([5, *a as u64, *b as u64, *multiplier_a as u64, *multiplier_b as u64]);
                words.extend([u64::from(*shift), u64::from(*relu)]);
            }
            QuantOp::Relu { input } => words.extend([6, *input as u64]),
        }
        push(words.len() as u64);
        words.into_iter().for_each(&mut push);
        push(layer.shape.len() as u64);
        layer.shape.iter().for_each(|&d| push(d as u64));
        push(u64::from(layer.scale.to_bits()));
    }
    push(model.output as u64);
}

/// Absorbs the public trace (every `Linear`/`Conv` output), the public multiplicities and the
/// witness commitment.
fn absorb_trace(transcript: &mut Transcript, activations: &[Vec<i8>], multiplicities: &[u32], witness: &Commitment) {
    for tensor in activations {
        transcript.absorb_base(&tensor.iter().map(|&v| F::from_i8(v)).collect::<Vec<_>>());
    }
    transcript.absorb_base(&multiplicities.iter().map(|&c| F::from_u32(c)).collect::<Vec<_>>());
    transcript.absorb_base(&witness.to_fields());
}

/// Every tensor, the input first, from the input and the `Linear`/`Conv` layers' outputs (taken
/// as given: the proof shows that they are the requantized products); every other layer is run
/// by the executor's own code. `model` is a validated architecture (or model) whose work a
/// verifier has bounded ([`VerifyingKey::bounded`]: a pooling window is not bounded by
/// validation); the outputs' count and lengths are checked.
pub fn derive_trace(model: &QuantizedModel, input: &[i8], activations: &[Vec<i8>]) -> ZkResult<Vec<Vec<i8>>> {
    check_len("input", model.input_len(), input.len())?;
    let weighted = model.layers.iter().filter(|l| shape_of(&l.op).is_some()).count();
    check_len("layer outputs", weighted, activations.len())?;
    let mut tensors = vec![input.to_vec()];
    let mut given = activations.iter();
    for layer in &model.layers {
        let out_len: usize = layer.shape.iter().product();
        let out = if shape_of(&layer.op).is_some() {
            let out = given.next().expect("OK because the count was checked");
            check_len("layer output", out_len, out.len())?;
            out.clone()
        } else {
            run_layer(&layer.op, &tensors, out_len)
        };
        tensors.push(out);
    }
    Ok(tensors)
}

pub(crate) fn shape_of(op: &QuantOp) -> Option<LayerShape> {
    matrix_dims(op).map(|(rows, cols, positions)| LayerShape { rows, cols, positions })
}

/// Every `Linear`/`Conv` layer: its index, operation and shape, network order.
fn weighted_layers(model: &QuantizedModel) -> Vec<(usize, &QuantOp, LayerShape)> {
    model.layers.iter().enumerate().filter_map(|(i, l)| shape_of(&l.op).map(|s| (i, &l.op, s))).collect()
}

fn layer_input(op: &QuantOp) -> usize {
    match op {
        QuantOp::Linear { input, .. } | QuantOp::Conv { input, .. } => *input,
        _ => 0,
    }
}

/// The requantization and ReLU flag of a `Linear`/`Conv` layer.
fn requant_of(op: &QuantOp) -> (veritas_quant::requant::Requant, bool) {
    match op {
        QuantOp::Linear { requant, relu, .. } | QuantOp::Conv { requant, relu, .. } => (*requant, *relu),
        _ => unreachable!("OK because only Linear and Conv layers are weighted"),
    }
}

/// `Σ_{i,j} w_row(i)·w_col(j)·values[i·|cols| + j]`: a padded matrix's MLE at `(r, s)` from its
/// blocks' MLEs ([`layout::block_weight`]); a vector's with one column block at `s = []`.
fn combine_blocks(rows: &[(usize, usize)], cols: &[(usize, usize)], r: &[EF], s: &[EF], values: &[EF]) -> EF {
    let mut total = EF::ZERO;
    for (i, &(row_start, row_log)) in rows.iter().enumerate() {
        let row_weight = block_weight(row_start, row_log, r);
        for (j, &(col_start, col_log)) in cols.iter().enumerate() {
            total += row_weight * block_weight(col_start, col_log, s) * values[i * cols.len() + j];
        }
    }
    total
}

/// A claim on segment `index` of the model vector.
fn model_claim(layout: &Layout, index: usize, z: Vec<EF>, value: EF) -> batch::Claim {
    let segment = &layout.segments[index];
    batch::Claim { offset: segment.offset, log_size: segment.log_size, z, value }
}
