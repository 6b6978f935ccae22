//! Many evaluation claims on one committed vector, reduced to a single opening.
//!
//! Each claim is on a segment of `2^log_size` values at an `offset` that is a multiple of its
//! size: the segment's MLE at `z` is the whole vector's MLE at `(bits(offset / 2^log_size), z)`.
//! After the claims are absorbed the verifier draws `α`; the sumcheck proves
//! `Σ_i α^i·value_i = Σ_x V(x)·Σ_i α^i·eq(point_i, x)`, which ends in the claim `Ṽ(ρ)`, sent and
//! opened at `ρ` with the PCS. The verifier computes `Σ_i α^i·eq(point_i, ρ)` itself.

use crate::mle::{eq_at, eq_table};
use crate::pcs::{self, Commitment, CommitmentData, OpeningProof, PcsParams};
use crate::sumcheck::{prove_product, verify_product};
use crate::{EF, Mle, SumcheckProof, Transcript, ZkError, ZkResult};

use p3_field::PrimeCharacteristicRing;

/// A claim: the MLE of the segment at `offset` (of `2^log_size` values) at `z` is `value`.
#[derive(Clone, Debug)]
pub struct Claim {
    /// The segment's first index (a multiple of its size).
    pub offset: usize,
    /// `log2` of its size; `z` has as many coordinates.
    pub log_size: usize,
    /// The point.
    pub z: Vec<EF>,
    /// The claimed value.
    pub value: EF,
}

impl Claim {
    /// The point of the whole vector's MLE (of `2^log_len` values) this claim is about.
    fn point(&self, log_len: usize) -> Vec<EF> {
        let prefix_vars = log_len - self.log_size;
        let block = self.offset >> self.log_size;
        let mut point: Vec<EF> =
            (0..prefix_vars).rev().map(|bit| if (block >> bit) & 1 == 1 { EF::ONE } else { EF::ZERO }).collect();
        point.extend_from_slice(&self.z);
        point
    }
}

/// The messages of one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchProof {
    /// The sumcheck over the whole vector.
    pub sumcheck: SumcheckProof,
    /// The vector's MLE at the sumcheck's point.
    pub eval: EF,
    /// Its opening.
    pub opening: OpeningProof,
}

/// Proves every claim on the vector committed as `data`; the claims' values must have been
/// absorbed already.
pub fn prove(
    data: &CommitmentData,
    params: &PcsParams,
    claims: &[Claim],
    transcript: &mut Transcript,
) -> ZkResult<BatchProof> {
    let values = data.values();
    let log_len = values.len().trailing_zeros() as usize;
    let alpha = transcript.challenge();
    let mut table = vec![EF::ZERO; values.len()];
    let (mut sum, mut power) = (EF::ZERO, EF::ONE);
    for claim in claims {
        sum += power * claim.value;
        // eq(point_i, ·) is zero outside the segment's sub-cube and eq(z_i, ·) inside it.
        for (slot, e) in table[claim.offset..].iter_mut().zip(eq_table(&claim.z)) {
            *slot += power * e;
        }
        power *= alpha;
    }
    let lifted: Vec<EF> = values.iter().map(|&v| EF::from(v)).collect();
    let (sumcheck, out) = prove_product(lifted, table, sum, transcript)?;
    let eval = Mle::new(values.to_vec())?.evaluate(&out.point)?;
    debug_assert_eq!(log_len, out.point.len());
    transcript.absorb_ext(&[eval]);
    let (_, opening) = pcs::open(data, &out.point, params, transcript)?;
    Ok(BatchProof { sumcheck, eval, opening })
}

/// Verifies a batch of claims on the vector behind `commitment`, returning the point it was
/// opened at. `what` names the vector in the error of a final check that fails.
pub fn verify(
    commitment: &Commitment,
    params: &PcsParams,
    claims: &[Claim],
    proof: &BatchProof,
    what: &'static str,
    transcript: &mut Transcript,
) -> ZkResult<Vec<EF>> {
    let log_len = commitment.log_len;
    let alpha = transcript.challenge();
    let sum = claims.iter().rev().fold(EF::ZERO, |acc, claim| acc * alpha + claim.value);
    let out = verify_product(sum, log_len, &proof.sumcheck, transcript)?;
    let mut power = EF::ONE;
    let mut weight = EF::ZERO;
    for claim in claims {
        weight += power * eq_at(&claim.point(log_len), &out.point);
        power *= alpha;
    }
    if out.value != proof.eval * weight {
        return Err(ZkError::FinalEvaluation(what));
    }
    transcript.absorb_ext(&[proof.eval]);
    pcs::verify(commitment, &out.point, proof.eval, &proof.opening, params, transcript)?;
    Ok(out.point)
}
