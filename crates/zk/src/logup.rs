//! LogUp range checks with a GKR fractional sumcheck (Haböck 2022; Papini–Haböck 2023): a proof
//! that every entry of `f` (length `2^n`) lies in the table `T = {0, 1, …, 2^k − 1}`, by
//! `Σ_i 1/(γ − f_i) − Σ_j m_j/(γ − j) = 0` with `m_j = #{i : f_i = j}` (docs/zk.md, "LogUp range
//! checks"). Not yet used by the model prover.
//!
//! `f` and `m` are oracles: the verifier's work is `O((n + k)^2)` and it returns the claims
//! `f̃(point)` and `m̃(point)`, which the caller must check against commitments. **The caller must
//! absorb the commitments to `f` and to `m` (from [`multiplicities`]) before calling [`prove`] or
//! [`verify`]**: `γ` is drawn first thing, and multiplicities chosen after it break soundness.
//!
//! The fraction tree has `2^(d+1)` leaves, `d = max(n, k)`, indexed `(s, x)` with `s` the first
//! variable: `s = 0` is the `f` part (`p = 1`, `q = γ − f_x` for `x < 2^n`), `s = 1` the table part
//! (`p = −m_x`, `q = γ − x` for `x < 2^k`), and both are padded with `(0, 1)` leaves. Node `b` of
//! layer `ℓ` (`2^ℓ` nodes, the root at `ℓ = 0`) is the sum of the fractions at `2b` and `2b + 1` of
//! layer `ℓ + 1`: `(p_l·q_r + p_r·q_l, q_l·q_r)`.
//!
//! Transcript (after the caller's commitments): `γ`; the root `(P, Q)`; then for each layer
//! `ℓ = 0..=d`: `λ`, the sumcheck of `p̃_ℓ(r) + λ·q̃_ℓ(r) = Σ_b eq(r, b)·[p_l q_r + p_r q_l + λ·q_l q_r](b)`
//! over `ℓ` variables, the four child values at its point `s`, and `μ`, the next point being
//! `(s, μ)`; last the claims `f̃` and `m̃`.

use p3_field::{PrimeCharacteristicRing, PrimeField64};

use crate::mle::{eq_at, eq_table, fold_in_place};
use crate::sumcheck::{CUBIC_ROUND_VALUES, verify_cubic};
use crate::{EF, F, SumcheckProof, Transcript, ZkError, ZkResult};

/// The most variables of `f` (`2^20` entries).
pub const MAX_F_VARS: usize = 20;
/// The most table bits, `k` (the table `{0, …, 2^16 − 1}`).
pub const MAX_TABLE_BITS: usize = 16;

/// One GKR layer: the sumcheck reducing the layer's claim to its children, and the children's
/// values at the sumcheck's point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerProof {
    /// The degree-3 sumcheck over the layer's variables.
    pub sumcheck: SumcheckProof,
    /// `p̃` of the left children, the right children, then `q̃` of the left and right children.
    pub children: [EF; 4],
}

/// A LogUp range-check proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupProof {
    /// The root fraction's numerator, zero for a true statement.
    pub root_p: EF,
    /// The root fraction's denominator, non-zero.
    pub root_q: EF,
    /// One layer per level of the tree, root first: `max(n, k) + 1` of them.
    pub layers: Vec<LayerProof>,
    /// The claimed `f̃(f_point)`.
    pub f_eval: EF,
    /// The claimed `m̃(m_point)`.
    pub m_eval: EF,
}

/// What a lookup proof reduces to: the caller checks both evaluations against commitments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupClaims {
    /// The point (`n` coordinates) at which `f̃` is claimed.
    pub f_point: Vec<EF>,
    /// The claimed `f̃(f_point)`.
    pub f_eval: EF,
    /// The point (`k` coordinates) at which `m̃` is claimed.
    pub m_point: Vec<EF>,
    /// The claimed `m̃(m_point)`.
    pub m_eval: EF,
}

/// `m_j = #{i : f_i = j}` for `j < 2^k`; entries outside the table are counted nowhere (so the
/// proof of such an `f` fails).
pub fn multiplicities(f: &[F], k: usize) -> Vec<F> {
    let mut counts = vec![0u64; 1 << k.min(MAX_TABLE_BITS)];
    for value in f {
        if let Some(count) = usize::try_from(value.as_canonical_u64()).ok().and_then(|j| counts.get_mut(j)) {
            *count += 1;
        }
    }
    counts.into_iter().map(F::from_u64).collect()
}

/// Proves that every entry of `f` is in `{0, …, 2^k − 1}`, given `m = multiplicities(f, k)`,
/// whose commitment (and `f`'s) the caller has absorbed into `transcript`. A false statement or
/// wrong `m` gives a proof that [`verify`] rejects.
pub fn prove(f: &[F], m: &[F], k: usize, transcript: &mut Transcript) -> ZkResult<(LookupProof, LookupClaims)> {
    let n = crate::log2_exact("lookup values (a power of two)", f.len())?;
    check_dimensions(n, k)?;
    crate::check_len("multiplicities", 1 << k, m.len())?;
    let d = n.max(k);
    let gamma = transcript.challenge();

    let tree = fraction_tree(f, m, gamma, d);
    let (root_p, root_q) = (tree[0].0[0], tree[0].1[0]);
    let (layers, point) = prove_layers(&tree, root_p, root_q, transcript);
    let (f_point, m_point) = (point[1 + d - n..].to_vec(), point[1 + d - k..].to_vec());
    let f_eval = mle_at(f, &f_point);
    let m_eval = mle_at(m, &m_point);
    transcript.absorb_ext(&[f_eval, m_eval]);
    let proof = LookupProof { root_p, root_q, layers, f_eval, m_eval };
    Ok((proof, LookupClaims { f_point, f_eval, m_point, m_eval }))
}

/// Verifies a range-check proof for `f` of length `2^n` and the table `{0, …, 2^k − 1}` (both from
/// the statement), after the caller absorbed the commitments to `f` and `m`. Returns the claims
/// on `f̃` and `m̃` that the caller must check against those commitments.
pub fn verify(n: usize, k: usize, proof: &LookupProof, transcript: &mut Transcript) -> ZkResult<LookupClaims> {
    check_dimensions(n, k)?;
    let d = n.max(k);
    crate::check_len("gkr layers", d + 1, proof.layers.len())?;
    let gamma = transcript.challenge();
    if proof.root_p != EF::ZERO {
        return Err(ZkError::Lookup("the root numerator is not zero (a value outside the table)"));
    }
    if proof.root_q == EF::ZERO {
        return Err(ZkError::Lookup("the root denominator is zero"));
    }
    transcript.absorb_ext(&[proof.root_p, proof.root_q]);
    let (mut point, mut claim_p, mut claim_q) = (Vec::new(), proof.root_p, proof.root_q);
    for (layer_idx, layer) in proof.layers.iter().enumerate() {
        let lambda = transcript.challenge();
        let output = verify_cubic(claim_p + lambda * claim_q, layer_idx, &layer.sumcheck, transcript)?;
        let [p_l, p_r, q_l, q_r] = layer.children;
        let combined = eq_at(&point, &output.point) * (p_l * q_r + p_r * q_l + lambda * q_l * q_r);
        if combined != output.value {
            return Err(ZkError::GkrLayer { layer: layer_idx });
        }
        transcript.absorb_ext(&layer.children);
        let mu = transcript.challenge();
        claim_p = p_l + mu * (p_r - p_l);
        claim_q = q_l + mu * (q_r - q_l);
        point = output.point;
        point.push(mu);
    }

    // The leaves at ρ = (s, x): each part is `I·(real leaf) + (1 − I)·(0, 1)` with `I` the
    // indicator that x's high bits (beyond the part's own variables) are zero.
    let (s, x) = (point[0], &point[1..]);
    let (f_point, m_point) = (x[d - n..].to_vec(), x[d - k..].to_vec());
    let f_real: EF = x[..d - n].iter().map(|&v| EF::ONE - v).product();
    let t_real: EF = x[..d - k].iter().map(|&v| EF::ONE - v).product();
    // t̃(x) = Σ 2^i·bit_i, the first coordinate the most significant bit.
    let table = m_point.iter().fold(EF::ZERO, |acc, &v| acc.double() + v);
    let (f_eval, m_eval) = (proof.f_eval, proof.m_eval);
    let leaf_p = (EF::ONE - s) * f_real - s * t_real * m_eval;
    let leaf_q = (EF::ONE - s) * (f_real * (gamma - f_eval) + EF::ONE - f_real)
        + s * (t_real * (gamma - table) + EF::ONE - t_real);
    if leaf_p != claim_p {
        return Err(ZkError::Lookup("the leaf numerators do not match the multiplicities claim"));
    }
    if leaf_q != claim_q {
        return Err(ZkError::Lookup("the leaf denominators do not match the values claim"));
    }
    transcript.absorb_ext(&[f_eval, m_eval]);
    Ok(LookupClaims { f_point, f_eval, m_point, m_eval })
}

fn check_dimensions(n: usize, k: usize) -> ZkResult<()> {
    if n > MAX_F_VARS {
        return Err(ZkError::TooLarge { what: "lookup value variables", limit: MAX_F_VARS, got: n });
    }
    if k > MAX_TABLE_BITS {
        return Err(ZkError::TooLarge { what: "lookup table bits", limit: MAX_TABLE_BITS, got: k });
    }
    Ok(())
}

/// The layers of the fraction tree as (numerators, denominators), root first, leaves last.
fn fraction_tree(f: &[F], m: &[F], gamma: EF, d: usize) -> Vec<(Vec<EF>, Vec<EF>)> {
    let half = 1usize << d;
    let mut leaf_p = vec![EF::ZERO; 2 * half];
    let mut leaf_q = vec![EF::ONE; 2 * half];
    for (i, &value) in f.iter().enumerate() {
        leaf_p[i] = EF::ONE;
        leaf_q[i] = gamma - value;
    }
    for (j, &count) in m.iter().enumerate() {
        leaf_p[half + j] = -EF::from(count);
        leaf_q[half + j] = gamma - EF::from_usize(j);
    }
    let mut tree = vec![(leaf_p, leaf_q)];
    for _ in 0..=d {
        let (p, q) = &tree[tree.len() - 1];
        let parent =
            p.chunks_exact(2).zip(q.chunks_exact(2)).map(|(p, q)| (p[0] * q[1] + p[1] * q[0], q[0] * q[1])).unzip();
        tree.push(parent);
    }
    tree.reverse();
    tree
}

/// Absorbs the claimed root `(root_p, root_q)` and proves each layer of `tree` from the root down;
/// returns the layer proofs and the leaf point.
fn prove_layers(
    tree: &[(Vec<EF>, Vec<EF>)],
    root_p: EF,
    root_q: EF,
    transcript: &mut Transcript,
) -> (Vec<LayerProof>, Vec<EF>) {
    transcript.absorb_ext(&[root_p, root_q]);
    let (mut point, mut claim_p, mut claim_q) = (Vec::new(), root_p, root_q);
    let mut layers = Vec::with_capacity(tree.len() - 1);
    for (child_p, child_q) in &tree[1..] {
        let lambda = transcript.challenge();
        let (layer, s) = prove_layer(&point, claim_p + lambda * claim_q, lambda, child_p, child_q, transcript);
        let [p_l, p_r, q_l, q_r] = layer.children;
        transcript.absorb_ext(&layer.children);
        let mu = transcript.challenge();
        claim_p = p_l + mu * (p_r - p_l);
        claim_q = q_l + mu * (q_r - q_l);
        point = s;
        point.push(mu);
        layers.push(layer);
    }
    (layers, point)
}

/// The sumcheck of one layer's claim `Σ_b eq(r, b)·[p_l q_r + p_r q_l + λ·q_l q_r](b)`, `r` the
/// layer's point; returns the layer proof and the sumcheck's point.
fn prove_layer(
    r: &[EF],
    claimed_sum: EF,
    lambda: EF,
    child_p: &[EF],
    child_q: &[EF],
    transcript: &mut Transcript,
) -> (LayerProof, Vec<EF>) {
    let split = |values: &[EF]| -> (Vec<EF>, Vec<EF>) { values.chunks_exact(2).map(|pair| (pair[0], pair[1])).unzip() };
    let (mut p_l, mut p_r) = split(child_p);
    let (mut q_l, mut q_r) = split(child_q);
    let mut eq = eq_table(r);
    transcript.absorb_ext(&[claimed_sum]);
    let mut rounds = Vec::with_capacity(r.len());
    let mut point = Vec::with_capacity(r.len());
    for _ in 0..r.len() {
        let half = eq.len() / 2;
        let mut values = [EF::ZERO; CUBIC_ROUND_VALUES];
        for i in 0..half {
            // Each table along the line through its (lo, hi) pair, at 0, 1, 2, 3.
            let line = |table: &[EF]| {
                let (lo, hi) = (table[i], table[half + i]);
                let step = hi - lo;
                [lo, hi, hi + step, hi + step.double()]
            };
            let (e, pl, pr, ql, qr) = (line(&eq), line(&p_l), line(&p_r), line(&q_l), line(&q_r));
            for t in 0..CUBIC_ROUND_VALUES {
                values[t] += e[t] * (pl[t] * qr[t] + pr[t] * ql[t] + lambda * ql[t] * qr[t]);
            }
        }
        transcript.absorb_ext(&values);
        let challenge = transcript.challenge();
        for table in [&mut eq, &mut p_l, &mut p_r, &mut q_l, &mut q_r] {
            fold_in_place(table, challenge);
        }
        rounds.push(values.to_vec());
        point.push(challenge);
    }
    let children = [p_l[0], p_r[0], q_l[0], q_r[0]];
    (LayerProof { sumcheck: SumcheckProof { rounds }, children }, point)
}

/// The MLE of base-field `values` (a power-of-two count) at `point`.
fn mle_at(values: &[F], point: &[EF]) -> EF {
    eq_table(point).iter().zip(values).map(|(&e, &v)| e * v).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplicities_count_in_range_entries() {
        let f: Vec<F> = [0u64, 3, 3, 1, 4, 3].map(F::from_u64).to_vec();
        assert_eq!(multiplicities(&f, 2), [1u64, 1, 0, 3].map(F::from_u64).to_vec());
        assert_eq!(multiplicities(&[-F::ONE], 1), vec![F::ZERO; 2]);
    }

    #[test]
    fn a_forged_root_with_true_layers_below_is_caught_at_the_root_layer() {
        // f holds 4, outside {0..3}: the true root numerator is not zero. The cheater claims
        // P = 0 and proves every layer honestly from there; only the root layer's combination
        // check (claim against the children) stands between it and acceptance.
        let (n, k) = (2, 2);
        let f: Vec<F> = [0u64, 1, 4, 3].map(F::from_u64).to_vec();
        let m = multiplicities(&f, k);
        let statement = [F::from_usize(n), F::from_usize(k)];
        let mut prover = Transcript::new(b"logup-unit", &statement);
        let gamma = prover.challenge();
        let tree = fraction_tree(&f, &m, gamma, n.max(k));
        assert_ne!(tree[0].0[0], EF::ZERO);
        let root_q = tree[0].1[0];
        let (layers, point) = prove_layers(&tree, EF::ZERO, root_q, &mut prover);
        let (f_eval, m_eval) = (mle_at(&f, &point[1..]), mle_at(&m, &point[1..]));
        let proof = LookupProof { root_p: EF::ZERO, root_q, layers, f_eval, m_eval };
        let result = verify(n, k, &proof, &mut Transcript::new(b"logup-unit", &statement));
        assert_eq!(result, Err(ZkError::GkrLayer { layer: 0 }));
    }
}
