//! The first use of sumcheck: a proof that `y = W·x` for an int8 matrix `W` (`rows × cols`,
//! row-major), an int8 vector `x` and int32 accumulators `y`.
//!
//! Integers are lifted to the field as `v mod p` (a negative `v` is `p − |v|`). The proof shows
//! `Σ_j W[i][j]·x[j] ≡ y[i] (mod p)` for every row; this is integer equality because neither side
//! wraps: `|Σ_j W[i][j]·x[j]| ≤ cols·2^14 ≤ 2^38` (cols at most [`MAX_ELEMENTS`]) and
//! `|y[i]| ≤ 2^31`, so the difference is below 2^39 ≪ p ≈ 2^64.
//!
//! Dimensions are padded with zeros to powers of two. Transcript: version, `"matvec"`, the
//! statement (`rows, cols, W, x, y`); the point `r` for the rows; the sumcheck of
//! `ỹ(r) = Σ_j W̃(r, j)·x̃(j)`; the final evaluations `W̃(r, s)`, `x̃(s)`. In this step `W` and `x`
//! are public and the verifier evaluates them itself; commitments come later.

use p3_field::PrimeCharacteristicRing;

use crate::sumcheck::{prove_product, verify_product};
use crate::{EF, F, Mle, SumcheckProof, Transcript, ZkError, ZkResult};

/// The most elements a matrix may have (as `crates/quant` bounds a tensor).
pub const MAX_ELEMENTS: usize = 1 << 24;

const DOMAIN: &[u8] = b"matvec";

/// The public claim `output = weights · input`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatVecStatement {
    /// The number of rows of `weights`, the length of `output`.
    pub rows: usize,
    /// The number of columns of `weights`, the length of `input`.
    pub cols: usize,
    /// The matrix, row-major.
    pub weights: Vec<i8>,
    /// The vector multiplied.
    pub input: Vec<i8>,
    /// The claimed accumulators.
    pub output: Vec<i32>,
}

/// A proof of a [`MatVecStatement`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatVecProof {
    /// The sumcheck of `ỹ(r) = Σ_j W̃(r, j)·x̃(j)` over the column variables.
    pub sumcheck: SumcheckProof,
    /// The claimed `W̃(r, s)`, `s` the sumcheck's point.
    pub weights_eval: EF,
    /// The claimed `x̃(s)`.
    pub input_eval: EF,
}

impl MatVecStatement {
    /// Checks the dimensions and lengths.
    pub fn validate(&self) -> ZkResult<()> {
        for (what, value) in [("rows", self.rows), ("cols", self.cols)] {
            if !(1..=MAX_ELEMENTS).contains(&value) {
                return Err(ZkError::Dimension { what, limit: MAX_ELEMENTS, got: value });
            }
        }
        let elements = self.rows.saturating_mul(self.cols);
        if elements > MAX_ELEMENTS {
            return Err(ZkError::Dimension { what: "rows × cols", limit: MAX_ELEMENTS, got: elements });
        }
        for (what, expected, got) in [
            ("weights", elements, self.weights.len()),
            ("input", self.cols, self.input.len()),
            ("output", self.rows, self.output.len()),
        ] {
            if expected != got {
                return Err(ZkError::Length { what, expected, got });
            }
        }
        Ok(())
    }

    /// The first row where `output` differs from `weights · input`, computed over the integers.
    pub fn first_false_row(&self) -> Option<usize> {
        (0..self.rows).find(|&row| {
            let weights = &self.weights[row * self.cols..(row + 1) * self.cols];
            let acc: i64 = weights.iter().zip(&self.input).map(|(&w, &x)| i64::from(w) * i64::from(x)).sum();
            acc != i64::from(self.output[row])
        })
    }

    /// The statement as field elements, absorbed by the transcript.
    fn encode(&self) -> Vec<F> {
        let mut encoded = Vec::with_capacity(2 + self.weights.len() + self.input.len() + self.output.len());
        encoded.push(F::from_usize(self.rows));
        encoded.push(F::from_usize(self.cols));
        encoded.extend(self.weights.iter().map(|&v| F::from_i8(v)));
        encoded.extend(self.input.iter().map(|&v| F::from_i8(v)));
        encoded.extend(self.output.iter().map(|&v| F::from_i32(v)));
        encoded
    }

    fn row_vars(&self) -> usize {
        self.rows.next_power_of_two().trailing_zeros() as usize
    }

    fn col_vars(&self) -> usize {
        self.cols.next_power_of_two().trailing_zeros() as usize
    }

    /// `W̃` over `row_vars + col_vars` variables, rows first, zero-padded.
    fn weights_mle(&self) -> Mle<F> {
        let padded_cols = self.cols.next_power_of_two();
        let mut evals = vec![F::ZERO; self.rows.next_power_of_two() * padded_cols];
        for (row, weights) in self.weights.chunks_exact(self.cols).enumerate() {
            for (slot, &w) in evals[row * padded_cols..].iter_mut().zip(weights) {
                *slot = F::from_i8(w);
            }
        }
        padded(evals)
    }

    fn input_mle(&self) -> Mle<F> {
        let mut evals: Vec<F> = self.input.iter().map(|&v| F::from_i8(v)).collect();
        evals.resize(self.cols.next_power_of_two(), F::ZERO);
        padded(evals)
    }

    fn output_mle(&self) -> Mle<F> {
        let mut evals: Vec<F> = self.output.iter().map(|&v| F::from_i32(v)).collect();
        evals.resize(self.rows.next_power_of_two(), F::ZERO);
        padded(evals)
    }
}

/// An MLE of a vector already padded to a power of two.
fn padded(evals: Vec<F>) -> Mle<F> {
    Mle::new(evals).expect("OK because every caller pads to a power of two")
}

/// Proves a true statement; a false one is an error naming the first false row.
pub fn prove(statement: &MatVecStatement) -> ZkResult<MatVecProof> {
    statement.validate()?;
    if let Some(row) = statement.first_false_row() {
        return Err(ZkError::FalseStatement { row });
    }
    prove_unchecked(statement)
}

/// The prover's messages for a validated statement, true or not (a false one yields a proof
/// that must not verify).
fn prove_unchecked(statement: &MatVecStatement) -> ZkResult<MatVecProof> {
    let mut transcript = Transcript::new(DOMAIN, &statement.encode());
    let row_point = transcript.challenges(statement.row_vars());
    let claimed_sum = statement.output_mle().evaluate(&row_point)?;
    let weights_at_row = statement.weights_mle().fix_first_variables(&row_point)?;
    let input = statement.input_mle();
    let input_ext: Vec<EF> = input.evals().iter().map(|&v| EF::from(v)).collect();
    let weights_evals = weights_at_row.evals().to_vec();
    let (sumcheck, output) = prove_product(weights_evals, input_ext, claimed_sum, &mut transcript)?;
    let weights_eval = weights_at_row.evaluate(&output.point)?;
    let input_eval = input.evaluate(&output.point)?;
    transcript.absorb_ext(&[weights_eval, input_eval]);
    Ok(MatVecProof { sumcheck, weights_eval, input_eval })
}

/// Verifies a proof of `statement`. `W` and `x` are public here: their evaluations are computed
/// from the statement (the oracle a commitment opening will replace).
pub fn verify(statement: &MatVecStatement, proof: &MatVecProof) -> ZkResult<()> {
    statement.validate()?;
    let mut transcript = Transcript::new(DOMAIN, &statement.encode());
    let row_point = transcript.challenges(statement.row_vars());
    let claimed_sum = statement.output_mle().evaluate(&row_point)?;
    let output = verify_product(claimed_sum, statement.col_vars(), &proof.sumcheck, &mut transcript)?;
    if output.value != proof.weights_eval * proof.input_eval {
        return Err(ZkError::FinalEvaluation("sumcheck value is not W̃(r, s)·x̃(s)"));
    }
    transcript.absorb_ext(&[proof.weights_eval, proof.input_eval]);
    let full_point: Vec<EF> = row_point.iter().chain(&output.point).copied().collect();
    if statement.weights_mle().evaluate(&full_point)? != proof.weights_eval {
        return Err(ZkError::FinalEvaluation("W̃(r, s) does not match the weights"));
    }
    if statement.input_mle().evaluate(&output.point)? != proof.input_eval {
        return Err(ZkError::FinalEvaluation("x̃(s) does not match the input"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prover that follows the protocol on a false statement: its round polynomials are the
    /// true ones, whose sum is `W̃(r, ·)·x̃` summed, not the claimed `ỹ(r)`.
    fn check_false(rows: usize, cols: usize, expected: ZkError) {
        let weights: Vec<i8> = (0..rows * cols).map(|i| (i as i8).wrapping_mul(37)).collect();
        let input: Vec<i8> = (0..cols).map(|i| (i as i8).wrapping_mul(-11)).collect();
        let mut statement = MatVecStatement { rows, cols, weights, input, output: vec![0; rows] };
        statement.output = (0..rows)
            .map(|row| {
                let weights = &statement.weights[row * cols..(row + 1) * cols];
                weights.iter().zip(&statement.input).map(|(&w, &x)| i32::from(w) * i32::from(x)).sum()
            })
            .collect();
        assert_eq!(verify(&statement, &prove(&statement).unwrap()), Ok(()));
        statement.output[rows - 1] += 1;
        let proof = prove_unchecked(&statement).unwrap();
        assert_eq!(verify(&statement, &proof), Err(expected), "{rows}×{cols}");
    }

    #[test]
    fn following_the_protocol_on_a_false_statement_fails() {
        check_false(4, 8, ZkError::RoundSum { round: 0 });
        check_false(3, 5, ZkError::RoundSum { round: 0 });
        check_false(1, 2, ZkError::RoundSum { round: 0 });
        // No rounds: the claim meets the final check directly.
        check_false(2, 1, ZkError::FinalEvaluation("sumcheck value is not W̃(r, s)·x̃(s)"));
    }
}
