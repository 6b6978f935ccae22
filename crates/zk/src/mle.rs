//! Dense multilinear extensions: evaluation at an extension-field point and folding of the first
//! variable.
//!
//! An [`Mle`] over `k` variables holds its `2^k` values on the hypercube, the index's most
//! significant bit being the first variable: for a row-major `m × n` matrix (both powers of two),
//! the first `log2 m` variables select the row and the rest the column.

use p3_field::{ExtensionField, Field};

use crate::{ZkError, ZkResult};

/// A multilinear polynomial given by its values on `{0, 1}^k`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mle<V> {
    evals: Vec<V>,
}

impl<V: Field> Mle<V> {
    /// The MLE with these hypercube values; their number must be a power of two (at least 1).
    pub fn new(evals: Vec<V>) -> ZkResult<Self> {
        crate::log2_exact("multilinear values (a power of two)", evals.len())?;
        Ok(Self { evals })
    }

    /// The number of variables, `k`.
    pub fn num_vars(&self) -> usize {
        self.evals.len().trailing_zeros() as usize
    }

    /// The values on the hypercube.
    pub fn evals(&self) -> &[V] {
        &self.evals
    }

    /// The value at `point`, which must have [`Self::num_vars`] coordinates.
    pub fn evaluate<E: ExtensionField<V>>(&self, point: &[E]) -> ZkResult<E> {
        if point.len() != self.num_vars() {
            return Err(ZkError::Length { what: "evaluation point", expected: self.num_vars(), got: point.len() });
        }
        let Some((&first, rest)) = point.split_first() else {
            return Ok(E::from(self.evals[0]));
        };
        let mut folded = fold_base(&self.evals, first);
        for &r in rest {
            fold_in_place(&mut folded, r);
        }
        Ok(folded[0])
    }

    /// The MLE in one variable fewer, the first fixed to `r`: `f(r, x_2, …, x_k)`.
    /// Returns `None` for an MLE in no variables.
    pub fn fix_first_variable<E: ExtensionField<V>>(&self, r: E) -> Option<Mle<E>> {
        (self.num_vars() > 0).then(|| Mle { evals: fold_base(&self.evals, r) })
    }

    /// The MLE with its first `point.len()` variables fixed to `point`.
    pub fn fix_first_variables<E: ExtensionField<V>>(&self, point: &[E]) -> ZkResult<Mle<E>> {
        if point.len() > self.num_vars() {
            return Err(ZkError::Length {
                what: "fixed variables (at most the variable count)",
                expected: self.num_vars(),
                got: point.len(),
            });
        }
        let mut evals: Vec<E> = self.evals.iter().map(|&v| E::from(v)).collect();
        for &r in point {
            fold_in_place(&mut evals, r);
        }
        Ok(Mle { evals })
    }
}

/// `eq(point, b)` for every `b ∈ {0,1}^k` (`k = point.len()`), `b`'s most significant bit being
/// the first coordinate: `Σ_b table[b]·v[b]` is the MLE of `v` at `point`.
pub fn eq_table<E: Field>(point: &[E]) -> Vec<E> {
    let mut table = Vec::with_capacity(1 << point.len());
    table.push(E::ONE);
    for &r in point {
        let previous = std::mem::take(&mut table);
        for value in previous {
            let high = value * r;
            table.push(value - high);
            table.push(high);
        }
    }
    table
}

/// `eq(a, b) = Π_i (a_i·b_i + (1 − a_i)(1 − b_i))`, the MLE of the equality predicate; `a`, `b`
/// of one length.
pub fn eq_at<E: Field>(a: &[E], b: &[E]) -> E {
    a.iter().zip(b).map(|(&x, &y)| x * y + (E::ONE - x) * (E::ONE - y)).product()
}

/// `f(r, ·)` from the values of `f`: `lo + r·(hi − lo)` for each pair.
fn fold_base<V: Field, E: ExtensionField<V>>(evals: &[V], r: E) -> Vec<E> {
    let (lo, hi) = evals.split_at(evals.len() / 2);
    lo.iter().zip(hi).map(|(&lo, &hi)| r * (hi - lo) + lo).collect()
}

/// Fixes the first variable of the MLE with values `evals` to `r`, in place: the first half
/// becomes the result and the second half is dropped. `evals` must have an even length.
pub fn fold_in_place<E: Field>(evals: &mut Vec<E>, r: E) {
    let half = evals.len() / 2;
    let (lo, hi) = evals.split_at_mut(half);
    for (lo, &hi) in lo.iter_mut().zip(hi.iter()) {
        *lo += r * (hi - *lo);
    }
    evals.truncate(half);
}

#[cfg(test)]
mod tests {
    use p3_field::{BasedVectorSpace, PrimeCharacteristicRing};

    use super::*;
    use crate::{EF, F};

    fn mle(values: &[i64]) -> Mle<F> {
        Mle::new(values.iter().map(|&v| F::from_i64(v)).collect()).unwrap()
    }

    fn ef(v: u64) -> EF {
        EF::from_u64(v)
    }

    #[test]
    fn agrees_with_values_on_the_hypercube() {
        let f = mle(&[3, -1, 4, 1, -5, 9, 2, 6]);
        for index in 0..8usize {
            // Most significant bit first.
            let point: Vec<EF> = (0..3).rev().map(|bit| ef(((index >> bit) & 1) as u64)).collect();
            assert_eq!(f.evaluate(&point).unwrap(), EF::from(f.evals()[index]), "index {index}");
        }
    }

    #[test]
    fn evaluates_the_multilinear_formula() {
        // f(a, b) = 1·(1−a)(1−b) + 2·(1−a)b + 3·a(1−b) + 4·ab = 1 + 2a + b at (5, 7): 18.
        let f = mle(&[1, 2, 3, 4]);
        assert_eq!(f.evaluate(&[ef(5), ef(7)]).unwrap(), ef(18));
        assert_eq!(mle(&[-7]).evaluate::<EF>(&[]).unwrap(), EF::from(F::from_i64(-7)));
    }

    #[test]
    fn folding_is_partial_evaluation() {
        let f = mle(&[3, -1, 4, 1, -5, 9, 2, 6]);
        let (r1, r2, r3) = (ef(11), ef(13) + EF::from_basis_coefficients_fn(|i| F::from_usize(i + 1)), ef(17));
        let g = f.fix_first_variable(r1).unwrap();
        assert_eq!(g.num_vars(), 2);
        assert_eq!(g.evaluate(&[r2, r3]).unwrap(), f.evaluate(&[r1, r2, r3]).unwrap());
        let h = f.fix_first_variables(&[r1, r2]).unwrap();
        assert_eq!(h.evaluate(&[r3]).unwrap(), f.evaluate(&[r1, r2, r3]).unwrap());
        assert!(mle(&[1]).fix_first_variable(r1).is_none());
    }

    #[test]
    fn eq_table_is_the_lagrange_basis() {
        let f = mle(&[3, -1, 4, 1, -5, 9, 2, 6]);
        let point = [ef(11), ef(13) + EF::from_basis_coefficients_fn(|i| F::from_usize(i + 1)), ef(17)];
        let table = eq_table(&point);
        let dot: EF = table.iter().zip(f.evals()).map(|(&e, &v)| e * v).sum();
        assert_eq!(dot, f.evaluate(&point).unwrap());
        let corner = [ef(1), ef(0), ef(1)];
        assert_eq!(eq_at(&point, &corner), table[0b101]);
        assert_eq!(eq_table::<EF>(&[]), vec![EF::ONE]);
    }

    #[test]
    fn rejects_bad_lengths() {
        assert!(Mle::new(vec![F::ONE; 3]).is_err());
        assert!(Mle::<F>::new(vec![]).is_err());
        assert!(mle(&[1, 2]).evaluate(&[ef(1), ef(2)]).is_err());
        assert!(mle(&[1, 2]).fix_first_variables(&[ef(1), ef(2)]).is_err());
    }
}
