//! The prover of [`super::ModelProof`]s.

use p3_field::{PrimeCharacteristicRing, PrimeField64};
use veritas_quant::quantized::accumulate;

use super::batch::{self, Claim};
use super::layout::{Part, block_point, blocks};
use super::linear::{LayerShape, bias_spread, input_column};
use super::witness::{LayerWitness, WitnessLayout, recompose, threshold_evals, thresholds};
use super::{
    DOMAIN, LayerProof, ModelProof, ProvingKey, absorb_trace, combine_blocks, derive_trace, layer_input, model_claim,
    requant_of, weighted_layers,
};
use crate::mle::eq_table;
use crate::sumcheck::prove_product;
use crate::{EF, F, Mle, Transcript, ZkError, ZkResult, logup, pcs};

/// Proves that the key's model maps `input` to its output; returns the output and the proof.
pub fn prove(key: &ProvingKey, input: &[i8]) -> ZkResult<(Vec<i8>, ModelProof)> {
    let model = &key.model;
    let tensors = model.run_trace(input).map_err(|e| ZkError::Model(e.to_string()))?;
    let output = tensors[model.output].clone();
    let mut activations = Vec::new();
    let mut accumulators = Vec::new();
    for (index, op, _) in weighted_layers(model) {
        let out_len = model.layers[index].shape.iter().product();
        let acc = accumulate(op, &tensors[..=index], out_len).expect("OK: a Linear or Conv layer");
        accumulators.push(acc);
        activations.push(tensors[index + 1].clone());
    }
    // The executor's tensors are the ones the outputs give: no need to derive them again.
    let proof = prove_messages(key, input, &output, activations, &accumulators, &tensors)?;
    Ok((output, proof))
}

/// The prover's messages for given layer outputs, accumulators and claimed output, true or
/// not: [`prove`] without its checks, for tests of what a cheating prover gets. Remainders out
/// of range are committed modulo `p` ([`WitnessLayout::values`]).
#[doc(hidden)]
pub fn prove_witness(
    key: &ProvingKey,
    input: &[i8],
    output: &[i8],
    activations: Vec<Vec<i8>>,
    accumulators: &[Vec<i64>],
) -> ZkResult<ModelProof> {
    let tensors = derive_trace(&key.model, input, &activations)?;
    prove_messages(key, input, output, activations, accumulators, &tensors)
}

/// The messages, given the layer outputs, their accumulators and every tensor.
fn prove_messages(
    key: &ProvingKey,
    input: &[i8],
    output: &[i8],
    activations: Vec<Vec<i8>>,
    accumulators: &[Vec<i64>],
    tensors: &[Vec<i8>],
) -> ZkResult<ModelProof> {
    let model = &key.model;
    let vk = &key.verifying_key;
    let weighted = weighted_layers(model);
    crate::check_len("accumulator vectors", weighted.len(), accumulators.len())?;
    let shapes: Vec<LayerShape> = weighted.iter().map(|(_, _, s)| s.clone()).collect();
    let witness_layout = WitnessLayout::new(&shapes)?;
    let bounds: Vec<Vec<(i64, i64)>> = weighted
        .iter()
        .map(|(_, op, _)| {
            let (requant, relu) = requant_of(op);
            thresholds(&requant, relu)
        })
        .collect();
    let parts: Vec<LayerWitness<'_>> = accumulators
        .iter()
        .zip(&activations)
        .zip(&bounds)
        .map(|((a, y), b)| LayerWitness { accumulators: a, outputs: y, bounds: b })
        .collect();
    let (values, counts) = witness_layout.values(&shapes, &parts)?;
    // Public multiplicities are counts below 2^20 (the lookup region's length).
    let multiplicities: Vec<u32> = match witness_layout.multiplicities {
        None => counts.iter().map(|c| c.as_canonical_u64() as u32).collect(),
        Some(_) => Vec::new(),
    };
    let (witness, witness_data) = pcs::commit_prefix(values, witness_layout.used, &vk.params)?;
    let values = witness_data.values();

    let mut transcript = Transcript::new(DOMAIN, &vk.statement(input, output));
    absorb_trace(&mut transcript, &activations, &multiplicities, &witness);
    let segment_mle = |offset: usize, log: usize| Mle::new(values[offset..offset + (1 << log)].to_vec());

    let mut model_claims = Vec::new();
    let mut witness_claims = Vec::new();
    let mut layers = Vec::new();
    for (position, ((index, op, shape), slots)) in weighted.iter().zip(&witness_layout.layers).enumerate() {
        let r_o = transcript.challenges(shape.row_vars());
        let r_p = transcript.challenges(shape.pos_vars());
        let r: Vec<EF> = r_o.iter().chain(&r_p).copied().collect();
        let (row_blocks, col_blocks) = (blocks(shape.rows), blocks(shape.cols));
        let mut bias_evals = Vec::with_capacity(row_blocks.len());
        for (row, &(_, log)) in row_blocks.iter().enumerate() {
            let segment = key.layout.segment(*index, Part::Bias { row })?;
            let z = block_point(&r_o, log, &[], 0);
            let value = Mle::new(key.segment_values(segment).to_vec())?.evaluate(&z)?;
            bias_evals.push(value);
            model_claims.push(model_claim(&key.layout, segment, z, value));
        }
        let points = slots.block_points(&r_o, &r_p);
        let mut limb_evals = Vec::with_capacity(slots.segments.len() * points.len());
        for offsets in &slots.segments {
            for (&offset, (log_size, z)) in offsets.iter().zip(&points) {
                let value = segment_mle(offset, *log_size)?.evaluate(z)?;
                limb_evals.push(value);
                witness_claims.push(Claim { offset, log_size: *log_size, z: z.clone(), value });
            }
        }
        transcript.absorb_ext(&bias_evals);
        transcript.absorb_ext(&limb_evals);
        // The accumulators are t + L(y) (`witness`).
        let (low, _) = threshold_evals(shape, slots.pos_vars, &activations[position], &bounds[position], &r);
        let limb_values = slots.limb_values(&r_o, &r_p, &limb_evals);
        let accumulators_eval = recompose(&limb_values[..witness_layout.limbs], witness_layout.limb_bits) + low;
        let bias_eval = combine_blocks(&row_blocks, &[(0, 0)], &r_o, &[], &bias_evals);
        let claimed = accumulators_eval - bias_eval * bias_spread(shape, &r_p);
        let (veritas_quant::QuantOp::Linear { weights, .. } | veritas_quant::QuantOp::Conv { weights, .. }) = op else {
            unreachable!("OK because only Linear and Conv layers are weighted")
        };
        let weights_at_row = fold_rows(shape, weights, &r_o);
        let column = input_column(op, shape, &tensors[layer_input(op)], &r_p);
        let (sumcheck, out) = prove_product(weights_at_row, column, claimed, &mut transcript)?;
        let mut weights_evals = Vec::with_capacity(row_blocks.len() * col_blocks.len());
        for (row, &(_, row_log)) in row_blocks.iter().enumerate() {
            for (col, &(_, col_log)) in col_blocks.iter().enumerate() {
                let segment = key.layout.segment(*index, Part::Weights { row, col })?;
                let z = block_point(&r_o, row_log, &out.point, col_log);
                let value = Mle::new(key.segment_values(segment).to_vec())?.evaluate(&z)?;
                weights_evals.push(value);
                model_claims.push(model_claim(&key.layout, segment, z, value));
            }
        }
        transcript.absorb_ext(&weights_evals);
        layers.push(LayerProof { bias_evals, limb_evals, sumcheck, weights_evals });
    }

    let lookups = &values[witness_layout.lookups..][..1 << witness_layout.lookup_vars];
    let (lookup, claims) = logup::prove(lookups, &counts, witness_layout.limb_bits, &mut transcript)?;
    witness_claims.push(Claim {
        offset: witness_layout.lookups,
        log_size: witness_layout.lookup_vars,
        z: claims.f_point,
        value: claims.f_eval,
    });
    if let Some(offset) = witness_layout.multiplicities {
        witness_claims.push(Claim {
            offset,
            log_size: witness_layout.limb_bits,
            z: claims.m_point,
            value: claims.m_eval,
        });
    }
    let witness_batch = batch::prove(&witness_data, &vk.params, &witness_claims, &mut transcript)?;
    let model_batch = batch::prove(&key.data, &vk.params, &model_claims, &mut transcript)?;
    Ok(ModelProof { activations, multiplicities, witness, layers, lookup, witness_batch, model_batch })
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
