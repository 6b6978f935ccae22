//! Proofs that a committed quantized network maps a public input to a public output
//! (docs/zk.md, "Model proofs").
//!
//! **Statement**: the model commitment (the [`Commitment`] to every weight and bias, see
//! [`layout`]), the architecture with its scales and requantization constants, the PCS
//! parameters, the int8 input and the int8 output. It holds when `QuantizedModel::run` of the
//! committed parameters with this architecture gives this output on this input.
//!
//! **Proof** (this version): the trace in the clear, which is every `Linear`/`Conv` layer's int32
//! accumulators (every tensor follows from them and the input: [`derive_trace`]), absorbed
//! before any challenge; per `Linear`/`Conv` layer a sumcheck that its accumulators are
//! `b + W·x` ([`linear`]); one sumcheck that batches the resulting claims on the model vector
//! into one evaluation; the PCS opening of it. The verifier derives every other step with the
//! executor's own code (requantization of each accumulator, ReLU, pooling, `Add`), so they hold
//! exactly, and the claimed output must be the last tensor.

pub mod encoding;
pub mod layout;
pub mod linear;

use p3_field::PrimeCharacteristicRing;
use veritas_quant::quantized::{accumulate, run_layer};
use veritas_quant::{QuantOp, QuantizedModel};

use self::layout::{Layout, Part, block_weight, blocks, matrix_dims};
use self::linear::{LayerShape, accumulator_eval, bias_spread, input_column};
use crate::mle::{eq_at, eq_table};
use crate::pcs::{self, Commitment, CommitmentData, OpeningProof, PcsParams};
use crate::sumcheck::{prove_product, verify_product};
use crate::{EF, F, Mle, SumcheckProof, Transcript, ZkError, ZkResult, check_len};

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

/// What a prover needs: the model, its layout, the model vector and the commitment's prover data.
pub struct ProvingKey {
    model: QuantizedModel,
    layout: Layout,
    values: Vec<F>,
    data: CommitmentData,
    verifying_key: VerifyingKey,
}

/// One `Linear`/`Conv` layer's messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerProof {
    /// Each bias row block's MLE at the low coordinates of `r_o` ([`layout`]): `b̃(r_o)` is
    /// their combination.
    pub bias_evals: Vec<EF>,
    /// The sumcheck over the columns.
    pub sumcheck: SumcheckProof,
    /// Each weight block's MLE at the low coordinates of `(r_o, s)`, row blocks first: `W̃(r_o, s)`
    /// is their combination.
    pub weights_evals: Vec<EF>,
}

/// A proof of one inference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelProof {
    /// Every `Linear`/`Conv` layer's accumulators, `rows × positions`, layer order.
    pub accumulators: Vec<Vec<i32>>,
    /// Every `Linear`/`Conv` layer's sumcheck, layer order.
    pub layers: Vec<LayerProof>,
    /// The sumcheck batching the claims on the model vector.
    pub batch: SumcheckProof,
    /// The model vector's MLE at the batch's point.
    pub model_eval: EF,
    /// Its opening.
    pub opening: OpeningProof,
}

impl ProvingKey {
    /// Commits to `model` (validated) with `params`: done once per model version.
    pub fn new(model: &QuantizedModel, params: PcsParams) -> ZkResult<Self> {
        model.validate().map_err(|e| ZkError::Model(e.to_string()))?;
        let architecture = model.architecture();
        let layout = Layout::new(&architecture)?;
        let values = layout.values(model)?;
        let (commitment, data) = pcs::commit(values.clone(), &params)?;
        let verifying_key = VerifyingKey { architecture, commitment, params };
        Ok(Self { model: model.clone(), layout, values, data, verifying_key })
    }

    fn segment_values(&self, index: usize) -> &[F] {
        let segment = &self.layout.segments[index];
        &self.values[segment.offset..segment.offset + (1 << segment.log_size)]
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

/// A claim `segment's MLE(z) = value`.
struct Claim {
    segment: usize,
    z: Vec<EF>,
    value: EF,
}

impl VerifyingKey {
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

/// Absorbs the trace: every accumulator vector.
fn absorb_trace(transcript: &mut Transcript, accumulators: &[Vec<i32>]) {
    for acc in accumulators {
        transcript.absorb_base(&acc.iter().map(|&v| F::from_i32(v)).collect::<Vec<_>>());
    }
}

/// Every tensor, the input first, from the input and the `Linear`/`Conv` layers' accumulators:
/// each of those layers' output is its accumulators requantized, every other layer is run by the
/// executor's own code. Only the products are left to prove. `model` is a validated architecture
/// (or model); the accumulators' count and lengths are checked.
pub fn derive_trace(model: &QuantizedModel, input: &[i8], accumulators: &[Vec<i32>]) -> ZkResult<Vec<Vec<i8>>> {
    check_len("input", model.input_len(), input.len())?;
    let shapes: Vec<Option<LayerShape>> = model.layers.iter().map(|l| shape_of(&l.op)).collect();
    check_len("accumulator vectors", shapes.iter().flatten().count(), accumulators.len())?;
    let mut tensors = vec![input.to_vec()];
    let mut accumulators = accumulators.iter();
    for (layer, shape) in model.layers.iter().zip(&shapes) {
        let out_len: usize = layer.shape.iter().product();
        let out = match (&layer.op, shape) {
            (QuantOp::Linear { requant, relu, .. } | QuantOp::Conv { requant, relu, .. }, Some(shape)) => {
                let acc = accumulators.next().expect("OK because the count was checked");
                check_len("accumulators", shape.rows * shape.positions, acc.len())?;
                acc.iter().map(|&a| requant.apply(i64::from(a), *relu)).collect()
            }
            (op, _) => run_layer(op, &tensors, out_len),
        };
        tensors.push(out);
    }
    Ok(tensors)
}

/// The output a proof's trace leads to on `input` (what a receipt's claimed output must be).
pub fn proven_output(key: &VerifyingKey, input: &[i8], proof: &ModelProof) -> ZkResult<Vec<i8>> {
    let model = &key.architecture;
    model.validate_architecture().map_err(|e| ZkError::Model(e.to_string()))?;
    let mut tensors = derive_trace(model, input, &proof.accumulators)?;
    Ok(tensors.swap_remove(model.output))
}

pub(crate) fn shape_of(op: &QuantOp) -> Option<LayerShape> {
    matrix_dims(op).map(|(rows, cols, positions)| LayerShape { rows, cols, positions })
}

fn layer_input(op: &QuantOp) -> usize {
    match op {
        QuantOp::Linear { input, .. } | QuantOp::Conv { input, .. } => *input,
        _ => 0,
    }
}

/// Proves that the key's model maps `input` to its output; returns the output and the proof.
pub fn prove(key: &ProvingKey, input: &[i8]) -> ZkResult<(Vec<i8>, ModelProof)> {
    let model = &key.model;
    let tensors = model.run_trace(input).map_err(|e| ZkError::Model(e.to_string()))?;
    let output = tensors[model.output].clone();
    let mut accumulators = Vec::new();
    for (index, layer) in model.layers.iter().enumerate() {
        let out_len = layer.shape.iter().product();
        if let Some(acc) = accumulate(&layer.op, &tensors[..=index], out_len) {
            let acc: Option<Vec<i32>> = acc.into_iter().map(|a| i32::try_from(a).ok()).collect();
            accumulators.push(acc.ok_or_else(|| ZkError::Model(format!("layer {index}: accumulator beyond i32")))?);
        }
    }
    // The executor's tensors are the ones the accumulators give: no need to derive them again.
    let proof = prove_messages(key, input, &output, accumulators, &tensors)?;
    Ok((output, proof))
}

/// The prover's messages for given accumulators and a claimed output, true or not: [`prove`]
/// without its checks, for tests of what a cheating prover gets.
#[doc(hidden)]
pub fn prove_trace(key: &ProvingKey, input: &[i8], output: &[i8], accumulators: Vec<Vec<i32>>) -> ZkResult<ModelProof> {
    let tensors = derive_trace(&key.model, input, &accumulators)?;
    prove_messages(key, input, output, accumulators, &tensors)
}

/// The messages, given the accumulators and every tensor they lead to.
fn prove_messages(
    key: &ProvingKey,
    input: &[i8],
    output: &[i8],
    accumulators: Vec<Vec<i32>>,
    tensors: &[Vec<i8>],
) -> ZkResult<ModelProof> {
    let model = &key.model;
    let vk = &key.verifying_key;
    let mut transcript = Transcript::new(DOMAIN, &vk.statement(input, output));
    absorb_trace(&mut transcript, &accumulators);

    let mut claims = Vec::new();
    let mut layers = Vec::new();
    let weighted = model.layers.iter().enumerate().filter_map(|(i, l)| shape_of(&l.op).map(|s| (i, l, s)));
    for ((index, layer, shape), acc) in weighted.zip(&accumulators) {
        let r_o = transcript.challenges(shape.row_vars());
        let r_p = transcript.challenges(shape.pos_vars());
        let (row_blocks, col_blocks) = (blocks(shape.rows), blocks(shape.cols));
        let mut bias_evals = Vec::with_capacity(row_blocks.len());
        for (row, &(_, log)) in row_blocks.iter().enumerate() {
            let segment = key.layout.segment(index, Part::Bias { row })?;
            let z = r_o[r_o.len() - log..].to_vec();
            bias_evals.push(Mle::new(key.segment_values(segment).to_vec())?.evaluate(&z)?);
            claims.push(Claim { segment, z, value: *bias_evals.last().expect("OK: just pushed") });
        }
        transcript.absorb_ext(&bias_evals);
        let bias_eval = combine_blocks(&row_blocks, &[(0, 0)], &r_o, &[], &bias_evals);
        let claimed = accumulator_eval(&shape, acc, &r_o, &r_p) - bias_eval * bias_spread(&shape, &r_p);
        let (QuantOp::Linear { weights, .. } | QuantOp::Conv { weights, .. }) = &layer.op else {
            unreachable!("OK because shape_of is Some only for Linear and Conv")
        };
        let weights_at_row = fold_rows(&shape, weights, &r_o);
        let column = input_column(&layer.op, &shape, &tensors[layer_input(&layer.op)], &r_p);
        let (sumcheck, out) = prove_product(weights_at_row, column, claimed, &mut transcript)?;
        let mut weights_evals = Vec::with_capacity(row_blocks.len() * col_blocks.len());
        for (row, &(_, row_log)) in row_blocks.iter().enumerate() {
            for (col, &(_, col_log)) in col_blocks.iter().enumerate() {
                let segment = key.layout.segment(index, Part::Weights { row, col })?;
                let z: Vec<EF> =
                    r_o[r_o.len() - row_log..].iter().chain(&out.point[out.point.len() - col_log..]).copied().collect();
                let value = Mle::new(key.segment_values(segment).to_vec())?.evaluate(&z)?;
                weights_evals.push(value);
                claims.push(Claim { segment, z, value });
            }
        }
        transcript.absorb_ext(&weights_evals);
        layers.push(LayerProof { bias_evals, sumcheck, weights_evals });
    }

    let alpha = transcript.challenge();
    let (sum, combined) = combine(&key.layout, &claims, alpha);
    let values: Vec<EF> = key.values.iter().map(|&v| EF::from(v)).collect();
    let (batch, out) = prove_product(values, combined, sum, &mut transcript)?;
    let model_eval = Mle::new(key.values.clone())?.evaluate(&out.point)?;
    transcript.absorb_ext(&[model_eval]);
    let (_, opening) = pcs::open(&key.data, &out.point, &vk.params, &mut transcript)?;
    Ok(ModelProof { accumulators, layers, batch, model_eval, opening })
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

/// `W̃(r_o, k)` for every `k` of the padded column cube: the weights' rows combined by `eq(r_o, ·)`.
fn fold_rows(shape: &LayerShape, weights: &[i8], r_o: &[EF]) -> Vec<EF> {
    let mut folded = vec![EF::ZERO; 1 << shape.col_vars()];
    for (row, &weight) in weights.chunks_exact(shape.cols.max(1)).zip(&eq_table(r_o)) {
        for (slot, &w) in folded.iter_mut().zip(row) {
            *slot += weight * F::from_i8(w);
        }
    }
    folded
}

/// `Σ_i α^i·value_i` and the table of `Σ_i α^i·eq(point_i, ·)` over the model vector's cube,
/// `point_i` being claim `i`'s point on the whole vector ([`Layout::point`]).
fn combine(layout: &Layout, claims: &[Claim], alpha: EF) -> (EF, Vec<EF>) {
    let mut table = vec![EF::ZERO; 1 << layout.log_len];
    let (mut sum, mut power) = (EF::ZERO, EF::ONE);
    for claim in claims {
        sum += power * claim.value;
        // eq(point_i, ·) is zero outside the segment's sub-cube and eq(z_i, ·) inside it.
        let offset = layout.segments[claim.segment].offset;
        for (slot, e) in table[offset..].iter_mut().zip(eq_table(&claim.z)) {
            *slot += power * e;
        }
        power *= alpha;
    }
    (sum, table)
}

/// `Σ_i α^i·eq(point_i, ρ)`, which the verifier computes for the batch's final check.
fn combined_at(layout: &Layout, claims: &[Claim], alpha: EF, rho: &[EF]) -> EF {
    let mut power = EF::ONE;
    let mut total = EF::ZERO;
    for claim in claims {
        total += power * eq_at(&layout.point(claim.segment, &claim.z), rho);
        power *= alpha;
    }
    total
}

/// Verifies a proof that the model of `key` maps `input` to `output`.
pub fn verify(key: &VerifyingKey, input: &[i8], output: &[i8], proof: &ModelProof) -> ZkResult<()> {
    let model = &key.architecture;
    model.validate_architecture().map_err(|e| ZkError::Model(e.to_string()))?;
    let layout = Layout::new(model)?;
    if layout.log_len != key.commitment.log_len {
        return Err(ZkError::Length {
            what: "committed model vector (log2)",
            expected: layout.log_len,
            got: key.commitment.log_len,
        });
    }
    let shapes: Vec<Option<LayerShape>> = model.layers.iter().map(|l| shape_of(&l.op)).collect();
    check_len("layer proofs", shapes.iter().flatten().count(), proof.layers.len())?;
    // Every step but the products, derived from the accumulators.
    let tensors = derive_trace(model, input, &proof.accumulators)?;
    if tensors[model.output] != output {
        return Err(ZkError::Output);
    }

    let mut transcript = Transcript::new(DOMAIN, &key.statement(input, output));
    absorb_trace(&mut transcript, &proof.accumulators);
    let mut claims = Vec::new();
    let weighted = model.layers.iter().enumerate().zip(&shapes).filter_map(|((i, l), s)| s.as_ref().map(|s| (i, l, s)));
    for (((index, layer, shape), acc), messages) in weighted.zip(&proof.accumulators).zip(&proof.layers) {
        let r_o = transcript.challenges(shape.row_vars());
        let r_p = transcript.challenges(shape.pos_vars());
        let (row_blocks, col_blocks) = (blocks(shape.rows), blocks(shape.cols));
        check_len("bias block evaluations", row_blocks.len(), messages.bias_evals.len())?;
        check_len("weight block evaluations", row_blocks.len() * col_blocks.len(), messages.weights_evals.len())?;
        transcript.absorb_ext(&messages.bias_evals);
        let bias_eval = combine_blocks(&row_blocks, &[(0, 0)], &r_o, &[], &messages.bias_evals);
        let claimed = accumulator_eval(shape, acc, &r_o, &r_p) - bias_eval * bias_spread(shape, &r_p);
        let out = verify_product(claimed, shape.col_vars(), &messages.sumcheck, &mut transcript)?;
        let column = input_column(&layer.op, shape, &tensors[layer_input(&layer.op)], &r_p);
        let x_eval: EF = eq_table(&out.point).iter().zip(&column).map(|(&e, &c)| e * c).sum();
        let weights_eval = combine_blocks(&row_blocks, &col_blocks, &r_o, &out.point, &messages.weights_evals);
        if out.value != weights_eval * x_eval {
            return Err(ZkError::FinalEvaluation("layer sumcheck value is not W̃(r, s)·X̃(s, r_p)"));
        }
        transcript.absorb_ext(&messages.weights_evals);
        for (row, &(_, log)) in row_blocks.iter().enumerate() {
            let z = r_o[r_o.len() - log..].to_vec();
            claims.push(Claim {
                segment: layout.segment(index, Part::Bias { row })?,
                z,
                value: messages.bias_evals[row],
            });
        }
        for (row, &(_, row_log)) in row_blocks.iter().enumerate() {
            for (col, &(_, col_log)) in col_blocks.iter().enumerate() {
                let z: Vec<EF> =
                    r_o[r_o.len() - row_log..].iter().chain(&out.point[out.point.len() - col_log..]).copied().collect();
                let segment = layout.segment(index, Part::Weights { row, col })?;
                claims.push(Claim { segment, z, value: messages.weights_evals[row * col_blocks.len() + col] });
            }
        }
    }

    let alpha = transcript.challenge();
    let sum = claims.iter().rev().fold(EF::ZERO, |acc, claim| acc * alpha + claim.value);
    let out = verify_product(sum, layout.log_len, &proof.batch, &mut transcript)?;
    if out.value != proof.model_eval * combined_at(&layout, &claims, alpha, &out.point) {
        return Err(ZkError::FinalEvaluation("batch sumcheck value is not M̃(ρ)·Σ α^i eq(z_i, ρ)"));
    }
    transcript.absorb_ext(&[proof.model_eval]);
    pcs::verify(&key.commitment, &out.point, proof.model_eval, &proof.opening, &key.params, &mut transcript)
}
