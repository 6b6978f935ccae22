//! The verifier of [`super::ModelProof`]s: every check once, on a key already checked against
//! [`Bounds`].

use super::batch::{self, Claim};
use super::bounds::{BoundedKey, Bounds};
use super::layout::{Part, block_point, blocks};
use super::linear::{bias_spread, input_column};
use super::witness::{recompose, threshold_evals, thresholds};
use super::{
    DOMAIN, ModelProof, VerifyingKey, absorb_trace, combine_blocks, derive_trace, layer_input, model_claim, requant_of,
    weighted_layers,
};
use crate::mle::eq_table;
use crate::sumcheck::verify_product;
use p3_field::PrimeCharacteristicRing;

use crate::{EF, F, Mle, Transcript, ZkError, ZkResult, check_len, logup};

/// Verifies a proof that the model of `key` maps `input` to `output`, the key first checked
/// against [`Bounds::DEFAULT`] (its parameters' soundness, the work and memory it takes).
pub fn verify(key: &VerifyingKey, input: &[i8], output: &[i8], proof: &ModelProof) -> ZkResult<()> {
    key.bounded(&Bounds::DEFAULT)?.verify(input, output, proof)
}

/// Verifies a proof of the model of `key` on `input`, the key first checked against
/// [`Bounds::DEFAULT`], and returns the output it proves: what a receipt's claimed output must
/// be. The trace is derived once, for both.
pub fn verify_output(key: &VerifyingKey, input: &[i8], proof: &ModelProof) -> ZkResult<Vec<i8>> {
    key.bounded(&Bounds::DEFAULT)?.verify_output(input, proof)
}

impl BoundedKey<'_> {
    /// Verifies a proof that the key's model maps `input` to `output`; another output than the
    /// proof's trace leads to is [`ZkError::Output`], before any other check.
    pub fn verify(&self, input: &[i8], output: &[i8], proof: &ModelProof) -> ZkResult<()> {
        self.check(input, Some(output), proof).map(drop)
    }

    /// Verifies a proof of the key's model on `input` and returns the output it proves.
    pub fn verify_output(&self, input: &[i8], proof: &ModelProof) -> ZkResult<Vec<i8>> {
        self.check(input, None, proof).map(|(output, _)| output)
    }

    /// Verifies, returning the proven output and the point the model vector was opened at.
    pub(crate) fn check(
        &self,
        input: &[i8],
        claimed: Option<&[i8]>,
        proof: &ModelProof,
    ) -> ZkResult<(Vec<i8>, Vec<EF>)> {
        let key = self.key;
        let model = &key.architecture;
        let (layout, witness_layout) = (&self.layout, &self.witness);
        let weighted = weighted_layers(model);
        check_len("committed witness (log2)", witness_layout.log_len, proof.witness.log_len)?;
        check_len("committed witness values", witness_layout.used, proof.witness.len)?;
        check_len("layer proofs", weighted.len(), proof.layers.len())?;
        // Every tensor but the products' outputs, derived from them.
        let tensors = derive_trace(model, input, &proof.activations)?;
        let output = tensors[model.output].clone();
        if claimed.is_some_and(|claimed| claimed != output) {
            return Err(ZkError::Output);
        }

        let mut transcript = Transcript::new(DOMAIN, &key.statement(input, &output));
        let public_multiplicities =
            if witness_layout.multiplicities.is_none() { 1 << witness_layout.limb_bits } else { 0 };
        check_len("public multiplicities", public_multiplicities, proof.multiplicities.len())?;
        absorb_trace(&mut transcript, &proof.activations, &proof.multiplicities, &proof.witness);
        let mut model_claims = Vec::new();
        let mut witness_claims = Vec::new();
        let layers = weighted.iter().zip(&witness_layout.layers).zip(&proof.layers).zip(&proof.activations);
        for ((((index, op, shape), slots), messages), outputs) in layers {
            let r_o = transcript.challenges(shape.row_vars());
            let r_p = transcript.challenges(shape.pos_vars());
            let r: Vec<EF> = r_o.iter().chain(&r_p).copied().collect();
            let (row_blocks, col_blocks) = (blocks(shape.rows), blocks(shape.cols));
            check_len("bias block evaluations", row_blocks.len(), messages.bias_evals.len())?;
            check_len("weight block evaluations", row_blocks.len() * col_blocks.len(), messages.weights_evals.len())?;
            let points = slots.block_points(&r_o, &r_p);
            check_len("limb evaluations", slots.segments.len() * points.len(), messages.limb_evals.len())?;
            transcript.absorb_ext(&messages.bias_evals);
            transcript.absorb_ext(&messages.limb_evals);
            // Requantization: the accumulators are t + L(y), and t + u = H(y) − L(y), t and u being
            // the values of their limbs (range-checked below).
            let (requant, relu) = requant_of(op);
            let (low, high) = threshold_evals(shape, slots.pos_vars, outputs, &thresholds(&requant, relu), &r);
            let limb_values = slots.limb_values(&r_o, &r_p, &messages.limb_evals);
            let (t_limbs, u_limbs) = limb_values.split_at(witness_layout.limbs);
            let (t, u) = (recompose(t_limbs, witness_layout.limb_bits), recompose(u_limbs, witness_layout.limb_bits));
            if t + u != high - low {
                return Err(ZkError::Requantization { layer: *index });
            }
            let bias_eval = combine_blocks(&row_blocks, &[(0, 0)], &r_o, &[], &messages.bias_evals);
            let claimed = t + low - bias_eval * bias_spread(shape, &r_p);
            let out = verify_product(claimed, shape.col_vars(), &messages.sumcheck, &mut transcript)?;
            let column = input_column(op, shape, &tensors[layer_input(op)], &r_p);
            let x_eval: EF = eq_table(&out.point).iter().zip(&column).map(|(&e, &c)| e * c).sum();
            let weights_eval = combine_blocks(&row_blocks, &col_blocks, &r_o, &out.point, &messages.weights_evals);
            if out.value != weights_eval * x_eval {
                return Err(ZkError::FinalEvaluation("layer sumcheck value is not W̃(r, s)·X̃(s, r_p)"));
            }
            transcript.absorb_ext(&messages.weights_evals);

            let segments = slots.segments.iter().flat_map(|offsets| offsets.iter().zip(&points));
            for ((&offset, (log_size, z)), &value) in segments.zip(&messages.limb_evals) {
                witness_claims.push(Claim { offset, log_size: *log_size, z: z.clone(), value });
            }
            for (row, &(_, log)) in row_blocks.iter().enumerate() {
                let z = block_point(&r_o, log, &[], 0);
                let segment = layout.segment(*index, Part::Bias { row })?;
                model_claims.push(model_claim(layout, segment, z, messages.bias_evals[row]));
            }
            for (row, &(_, row_log)) in row_blocks.iter().enumerate() {
                for (col, &(_, col_log)) in col_blocks.iter().enumerate() {
                    let z = block_point(&r_o, row_log, &out.point, col_log);
                    let segment = layout.segment(*index, Part::Weights { row, col })?;
                    let value = messages.weights_evals[row * col_blocks.len() + col];
                    model_claims.push(model_claim(layout, segment, z, value));
                }
            }
        }

        let claims =
            logup::verify(witness_layout.lookup_vars, witness_layout.limb_bits, &proof.lookup, &mut transcript)?;
        witness_claims.push(Claim {
            offset: witness_layout.lookups,
            log_size: witness_layout.lookup_vars,
            z: claims.f_point,
            value: claims.f_eval,
        });
        match witness_layout.multiplicities {
            Some(offset) => witness_claims.push(Claim {
                offset,
                log_size: witness_layout.limb_bits,
                z: claims.m_point,
                value: claims.m_eval,
            }),
            None => {
                let counts: Vec<F> = proof.multiplicities.iter().map(|&c| F::from_u32(c)).collect();
                if Mle::new(counts)?.evaluate(&claims.m_point)? != claims.m_eval {
                    return Err(ZkError::Lookup("the claimed m̃ is not the public multiplicities'"));
                }
            }
        }
        let what = "witness batch value is not W̃(ρ)·Σ α^i eq(z_i, ρ)";
        batch::verify(&proof.witness, &key.params, &witness_claims, &proof.witness_batch, what, &mut transcript)?;
        let what = "model batch value is not M̃(ρ)·Σ α^i eq(z_i, ρ)";
        let point =
            batch::verify(&key.commitment, &key.params, &model_claims, &proof.model_batch, what, &mut transcript)?;
        Ok((output, point))
    }
}
