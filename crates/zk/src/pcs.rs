//! A transparent multilinear polynomial commitment (docs/zk.md, "Commitment"): Ligero/Brakedown
//! style, the values laid out as a matrix whose rows are Reed–Solomon encoded and whose codeword
//! columns are the leaves of a Poseidon2 Merkle tree (all from Plonky3).
//!
//! Soundness, proven: with rate `ρ = 2^-log_blowup` and unique-decoding radius `δ = (1 − ρ)/2`,
//! each of the `t` queried columns catches a cheating prover with probability at least `δ`, so
//! the query error is `(1 − δ)^t`, made `2^pow_bits` times costlier to grind by the proof of
//! work; the tensor combination of the rows adds the proximity-gap error of Diamond–Posen 2023
//! ("Proximity testing with logarithmic randomness", on Ben-Sasson et al. 2020's proximity gaps
//! for Reed–Solomon codes up to unique decoding), `2·log2(R)·N / |EF|` for `R` rows and codeword
//! length `N`. [`PcsParams::security_bits`] is the smaller of the two, in bits.
//!
//! The queried columns are authenticated together: the proof carries each Merkle sibling that
//! the verifier cannot recompute from the opened columns, once (Plonky3's pruned multi-opening,
//! `MerkleTreeMmcs::open_batch_pruned`/`verify_batch_pruned`): for `2^16` values and `DEFAULT`,
//! 655 digests where 130 paths of 13 held 1,690 (a proof of 87,020 bytes).
//!
//! Not hiding: the opened columns and the combined row reveal information about the values.

use std::collections::BTreeMap;

use p3_commit::Mmcs;
use p3_dft::{Radix2Dit, TwoAdicSubgroupDft};
use p3_field::{Field, PrimeCharacteristicRing, PrimeField64, TwoAdicField};
use p3_goldilocks::{Poseidon2Goldilocks, default_goldilocks_poseidon2_8};
use p3_matrix::Dimensions;
use p3_matrix::dense::RowMajorMatrix;
use p3_merkle_tree::{MerkleTree, MerkleTreeError, MerkleTreeMmcs, PrunedMerklePaths, PrunedProofError};
use p3_symmetric::{MerkleCap, PaddingFreeSponge, TruncatedPermutation};

use crate::mle::eq_table;
use crate::{EF, F, Transcript, ZkError, ZkResult, check_len};

/// A Merkle digest: four Goldilocks elements (about 256 bits).
pub type Digest = [F; 4];

/// The largest committed length, `2^MAX_LOG_LEN` values.
pub const MAX_LOG_LEN: usize = 30;
/// The largest accepted `log_blowup`.
pub const MAX_LOG_BLOWUP: usize = 8;
/// The largest accepted `num_queries`.
pub const MAX_QUERIES: usize = 1024;
/// The largest accepted `pow_bits`.
pub const MAX_POW_BITS: usize = 32;

type Perm = Poseidon2Goldilocks<8>;
type LeafHasher = PaddingFreeSponge<Perm, 8, 4, 4>;
type Compressor = TruncatedPermutation<Perm, 2, 4, 8>;
type Packing = <F as Field>::Packing;
type ColumnMmcs = MerkleTreeMmcs<Packing, Packing, LeafHasher, Compressor, 2, 4>;
type ColumnTree = MerkleTree<F, F, RowMajorMatrix<F>, 2, 4>;

fn column_mmcs() -> ColumnMmcs {
    let perm = default_goldilocks_poseidon2_8();
    // Cap height 0: the commitment is the single root.
    ColumnMmcs::new(LeafHasher::new(perm.clone()), Compressor::new(perm), 0)
}

/// The commitment's parameters; prover and verifier must use the same ones (the matrix shape
/// depends on all three).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcsParams {
    /// `log2` of the inverse code rate: codewords are `2^log_blowup` times longer than rows.
    pub log_blowup: usize,
    /// The number of codeword columns opened.
    pub num_queries: usize,
    /// The proof-of-work difficulty ground before the queries are drawn.
    pub pow_bits: usize,
}

/// The matrix layout of a committed vector: `2^log_rows` rows of `2^log_cols` values, each row
/// encoded into `2^log_codeword_len` symbols (the Merkle tree's leaf count). Only the first
/// `used_rows` rows, which hold the committed prefix, are encoded; the others are zero by
/// definition (a zero row is a codeword, so the protocol is the full matrix's with those rows
/// opened as zeros by the verifier itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// `log2` of the row count `R`: the rows' variables.
    pub log_rows: usize,
    /// The rows encoded and opened, `⌈len / C⌉` (at least 1).
    pub used_rows: usize,
    /// `log2` of the row length `C`.
    pub log_cols: usize,
    /// `log2` of the codeword length `N = C·2^log_blowup`; also the Merkle tree's height.
    pub log_codeword_len: usize,
}

impl Shape {
    /// The rows encoded and opened (each opened column has this many values).
    pub fn rows(&self) -> usize {
        self.used_rows
    }

    /// The row length `C`.
    pub fn cols(&self) -> usize {
        1 << self.log_cols
    }

    /// The codeword length `N`.
    pub fn codeword_len(&self) -> usize {
        1 << self.log_codeword_len
    }
}

impl PcsParams {
    /// Rate 1/4 (`δ = 3/8`, 0.678 bits per query), 130 queries (88.1 bits) and 13 bits of proof
    /// of work: 101.1 bits, the field term staying above 101 bits up to `2^30` values (see
    /// [`Self::security_bits`]), so that a model proof's two openings keep 100 bits together
    /// (`model::VerifyingKey::security_bits`). Rate 1/4 rather than 1/2 or 1/8: at 1/2
    /// (`δ = 1/4`, 0.415 bits per query) the proof needs 212 queries; at 1/8 the prover encodes
    /// twice as much for 18% fewer queries. 13 bits of work (about 8,000 Poseidon2 permutations,
    /// a few milliseconds) rather than 16: 16 saved 4 queries (about 1.5 KB) but made proving
    /// time vary by tens of milliseconds with the transcript's luck.
    pub const DEFAULT: PcsParams = PcsParams { log_blowup: 2, num_queries: 130, pow_bits: 13 };

    /// Checks each parameter is in range: `log_blowup` in `1..=MAX_LOG_BLOWUP` (rate 1 has no
    /// distance), `num_queries` in `1..=MAX_QUERIES`, `pow_bits` at most `MAX_POW_BITS`.
    pub fn validate(&self) -> ZkResult<()> {
        if !(1..=MAX_LOG_BLOWUP).contains(&self.log_blowup) {
            return Err(ZkError::Dimension { what: "log_blowup", limit: MAX_LOG_BLOWUP, got: self.log_blowup });
        }
        if !(1..=MAX_QUERIES).contains(&self.num_queries) {
            return Err(ZkError::Dimension { what: "num_queries", limit: MAX_QUERIES, got: self.num_queries });
        }
        if self.pow_bits > MAX_POW_BITS {
            return Err(ZkError::TooLarge { what: "pow_bits", limit: MAX_POW_BITS, got: self.pow_bits });
        }
        Ok(())
    }

    /// The layout of `2^log_len` values of which the first `len` are committed (the rest are
    /// zero): the row count minimizing the estimated proof size `16·C + 8·t·R' + 32·S` bytes
    /// (the combined row in `EF`, `t` columns of `R' = ⌈len / C⌉` used rows, `S` Merkle
    /// siblings with [`expected_siblings`]'s estimate), among splits whose codeword fits
    /// Goldilocks' two-adic subgroups; ties go to fewer rows. Depends only on `log_len`, `len`
    /// and the parameters, never on a proof.
    pub fn shape(&self, log_len: usize, len: usize) -> ZkResult<Shape> {
        self.validate()?;
        if log_len > MAX_LOG_LEN {
            return Err(ZkError::TooLarge { what: "log2 of the committed length", limit: MAX_LOG_LEN, got: log_len });
        }
        if !(1..=1 << log_len).contains(&len) {
            return Err(ZkError::Dimension { what: "committed prefix", limit: 1 << log_len, got: len });
        }
        let mut best: Option<(u64, Shape)> = None;
        for log_rows in 0..=log_len {
            let log_cols = log_len - log_rows;
            let log_codeword_len = log_cols + self.log_blowup;
            if log_codeword_len > F::TWO_ADICITY {
                continue;
            }
            let used_rows = len.div_ceil(1 << log_cols);
            let columns = 8 * self.num_queries as u64 * used_rows as u64;
            let siblings = 32 * expected_siblings(self.num_queries, log_codeword_len) as u64;
            let size = 16 * (1u64 << log_cols) + columns + siblings;
            if best.is_none_or(|(best_size, _)| size < best_size) {
                best = Some((size, Shape { log_rows, used_rows, log_cols, log_codeword_len }));
            }
        }
        // log_rows = log_len always fits: log_blowup ≤ MAX_LOG_BLOWUP < TWO_ADICITY.
        best.map(|(_, shape)| shape).ok_or(ZkError::TooLarge {
            what: "log2 of the committed length",
            limit: MAX_LOG_LEN,
            got: log_len,
        })
    }

    /// The proven soundness in bits over every committed length up to `2^MAX_LOG_LEN`: the
    /// minimum of [`Self::security_bits_at`]. 0 for invalid parameters.
    pub fn security_bits(&self) -> f64 {
        (0..=MAX_LOG_LEN).map(|log_len| self.security_bits_at(log_len)).fold(f64::INFINITY, f64::min)
    }

    /// The proven soundness in bits for `2^log_len` values:
    /// `min(t·(−log2(1 − δ)) + pow_bits, −log2(2·log2(R)·N / |EF|))` with `δ = (1 − 2^-log_blowup)/2`,
    /// `R` and `N` from [`Self::shape`] and `|EF| = p²` (the second term is absent for one row).
    /// 0 for invalid parameters.
    pub fn security_bits_at(&self, log_len: usize) -> f64 {
        let Ok(shape) = self.shape(log_len, 1 << log_len) else {
            return 0.0;
        };
        let rate = 0.5f64.powi(self.log_blowup as i32);
        let distance = (1.0 - rate) / 2.0;
        let query_bits = self.num_queries as f64 * -(1.0 - distance).log2() + self.pow_bits as f64;
        if shape.log_rows == 0 {
            return query_bits;
        }
        let log_field = 2.0 * (F::ORDER_U64 as f64).log2();
        let proximity_bits = log_field - (2.0 * shape.log_rows as f64).log2() - shape.log_codeword_len as f64;
        query_bits.min(proximity_bits)
    }
}

/// The estimated Merkle sibling count of `t` random queries into a tree of height `h`:
/// `t·(h − ⌈log2 t⌉)`, at least 0. Below the top `⌈log2 t⌉` levels the queried paths seldom
/// meet, so each needs about one sibling per level; at the top levels nearly every node is
/// queried. The exact expectation is a little lower (643 against 744 for 124 queries into
/// `2^13` leaves); integers only, so that every platform picks the same [`PcsParams::shape`].
pub fn expected_siblings(num_queries: usize, height: usize) -> usize {
    let log_queries = num_queries.next_power_of_two().trailing_zeros() as usize;
    num_queries * height.saturating_sub(log_queries)
}

/// A commitment to `2^log_len` values, of which the first `len` are committed and the rest
/// are zero: the lengths and the Merkle root of the codeword columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commitment {
    /// `log2` of the vector's length (the number of variables).
    pub log_len: usize,
    /// The committed prefix, in `1..=2^log_len`: every later value is zero.
    pub len: usize,
    /// The Merkle root.
    pub root: Digest,
}

impl Commitment {
    /// What a transcript absorbs: `log_len`, `len`, then the root's four elements.
    pub fn to_fields(&self) -> Vec<F> {
        let mut fields = Vec::with_capacity(6);
        fields.push(F::from_usize(self.log_len));
        fields.push(F::from_usize(self.len));
        fields.extend_from_slice(&self.root);
        fields
    }
}

/// The prover's side of a commitment: the values, their layout and the Merkle tree (which holds
/// the codeword).
#[derive(Clone, Debug)]
pub struct CommitmentData {
    params: PcsParams,
    shape: Shape,
    values: Vec<F>,
    tree: ColumnTree,
}

impl CommitmentData {
    /// The committed values.
    pub fn values(&self) -> &[F] {
        &self.values
    }

    /// The matrix layout.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Codeword column `index` (`R` values) and its Merkle path, or `None` past the codeword.
    pub fn open_column(&self, index: usize) -> Option<(Vec<F>, Vec<Digest>)> {
        if index >= self.shape.codeword_len() {
            return None;
        }
        let (opened, path) = column_mmcs().open_batch(index, &self.tree).unpack();
        // One committed matrix: its row is the column.
        Some((opened.into_iter().flatten().collect(), path))
    }

    /// The codeword columns at `indices` (one per index, in order, repeats included) and the
    /// Merkle siblings that authenticate them together ([`OpeningProof::siblings`]), or `None`
    /// if an index is past the codeword.
    pub fn open_columns(&self, indices: &[usize]) -> Option<(Vec<Vec<F>>, Vec<Digest>)> {
        if indices.iter().any(|&index| index >= self.shape.codeword_len()) {
            return None;
        }
        let opening = column_mmcs().open_batch_pruned(indices, &self.tree);
        // One committed matrix: each query's only row is its column.
        let columns = opening.opened_values.into_iter().map(|rows| rows.into_iter().flatten().collect()).collect();
        Some((columns, opening.pruned_proof.sibling_hashes))
    }
}

/// An opening of a commitment at a point: the combined row, the proof-of-work witness, the
/// queried codeword columns and the Merkle siblings that authenticate them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpeningProof {
    /// `u = eq(z_hi)ᵀ·M`, `C` elements.
    pub combined_row: Vec<EF>,
    /// The proof-of-work witness (zero when `pow_bits` is 0).
    pub pow_witness: F,
    /// Per query, in query order, the opened codeword column (`R` elements); an index drawn
    /// twice has its column twice.
    pub columns: Vec<Vec<F>>,
    /// The Merkle siblings the verifier cannot compute from the columns, each once, level by
    /// level from the leaves: at each level, with `S` the distinct queried nodes (the leaf
    /// indices, then their parents `i >> 1`), for each `i` in `S` ascending whose sibling
    /// `i ^ 1` is not in `S`, that sibling's digest; none for the root.
    pub siblings: Vec<Digest>,
}

/// Commits to `values`, whose length must be a power of two (at least 1, at most
/// `2^MAX_LOG_LEN`).
pub fn commit(values: Vec<F>, params: &PcsParams) -> ZkResult<(Commitment, CommitmentData)> {
    let len = values.len();
    commit_prefix(values, len, params)
}

/// Commits to `values` (a power-of-two length) of which only the first `len` may be non-zero:
/// the rows past them are neither encoded nor opened ([`Shape`]). The verifier must know `len`
/// from its statement and check it against [`Commitment::len`].
pub fn commit_prefix(values: Vec<F>, len: usize, params: &PcsParams) -> ZkResult<(Commitment, CommitmentData)> {
    let log_len = crate::log2_exact("committed values (a power of two)", values.len())?;
    let shape = params.shape(log_len, len)?;
    if values[len..].iter().any(|v| *v != F::ZERO) {
        return Err(ZkError::Opening("a value past the committed prefix is not zero"));
    }
    let (rows, cols) = (shape.rows(), shape.cols());
    // Column i of this matrix is row i zero-padded to the codeword length, so after the DFT its
    // row j is codeword column j: one Merkle leaf.
    let mut padded = F::zero_vec(shape.codeword_len() * rows);
    for (row_idx, row) in values.chunks_exact(cols).take(rows).enumerate() {
        for (col_idx, &value) in row.iter().enumerate() {
            padded[col_idx * rows + row_idx] = value;
        }
    }
    let codeword = Radix2Dit::default().dft_batch(RowMajorMatrix::new(padded, rows));
    let (cap, tree) = column_mmcs().commit_matrix(codeword);
    // OK because a cap of height 0 holds exactly the root.
    let root = cap[0];
    Ok((Commitment { log_len, len, root }, CommitmentData { params: *params, shape, values, tree }))
}

/// Opens the commitment at `point` (one coordinate per variable, the first selecting the
/// value's most significant index bit), returning the value and the proof. The transcript must
/// already hold the commitment and the point; the caller absorbs the value.
///
/// Transcript: `combined_row`, the proof-of-work witness (if `pow_bits > 0`), then the
/// `num_queries` column indices drawn, all before any column is opened.
pub fn open(
    data: &CommitmentData,
    point: &[EF],
    params: &PcsParams,
    transcript: &mut Transcript,
) -> ZkResult<(EF, OpeningProof)> {
    if *params != data.params {
        return Err(ZkError::Opening("parameters differ from the commitment's"));
    }
    let shape = data.shape;
    let log_len = shape.log_rows + shape.log_cols;
    if point.len() != log_len {
        return Err(ZkError::Length { what: "opening point", expected: log_len, got: point.len() });
    }
    let (point_hi, point_lo) = point.split_at(shape.log_rows);
    let mut combined_row = vec![EF::ZERO; shape.cols()];
    for (row, &weight) in data.values.chunks_exact(shape.cols()).zip(&eq_table(point_hi)).take(shape.rows()) {
        for (sum, &value) in combined_row.iter_mut().zip(row) {
            *sum += weight * value;
        }
    }
    let value = inner_product(&combined_row, &eq_table(point_lo));
    transcript.absorb_ext(&combined_row);
    let pow_witness = transcript.grind(params.pow_bits);
    let indices: Vec<usize> =
        (0..params.num_queries).map(|_| transcript.sample_index(shape.log_codeword_len)).collect();
    let (columns, siblings) = data.open_columns(&indices).ok_or(ZkError::Opening("query index past the codeword"))?;
    Ok((value, OpeningProof { combined_row, pow_witness, columns, siblings }))
}

/// Verifies that the committed vector's multilinear extension takes `value` at `point`. The
/// transcript must be in the prover's state (commitment, point and value absorbed by the
/// caller). Every length is checked against the commitment and `params`; any malformed proof
/// is an error.
pub fn verify(
    commitment: &Commitment,
    point: &[EF],
    value: EF,
    proof: &OpeningProof,
    params: &PcsParams,
    transcript: &mut Transcript,
) -> ZkResult<()> {
    let shape = params.shape(commitment.log_len, commitment.len)?;
    check_len("opening point", commitment.log_len, point.len())?;
    check_len("combined row", shape.cols(), proof.combined_row.len())?;
    check_len("opened columns", params.num_queries, proof.columns.len())?;
    for column in &proof.columns {
        check_len("opened column", shape.rows(), column.len())?;
    }
    let (point_hi, point_lo) = point.split_at(shape.log_rows);
    if inner_product(&proof.combined_row, &eq_table(point_lo)) != value {
        return Err(ZkError::Opening("value is not the combined row at the column point"));
    }
    transcript.absorb_ext(&proof.combined_row);
    if !transcript.check_pow(params.pow_bits, proof.pow_witness) {
        return Err(ZkError::ProofOfWork);
    }
    let mut padded = proof.combined_row.clone();
    padded.resize(shape.codeword_len(), EF::ZERO);
    let encoded = Radix2Dit::<F>::default().dft_algebra(padded);
    let row_weights = eq_table(point_hi);
    let indices: Vec<usize> =
        (0..params.num_queries).map(|_| transcript.sample_index(shape.log_codeword_len)).collect();
    // Plonky3 rejects repeated indices with different columns too, but names no query.
    let mut first_query = BTreeMap::new();
    for (query, &index) in indices.iter().enumerate() {
        let first = *first_query.entry(index).or_insert(query);
        if proof.columns[first] != proof.columns[query] {
            return Err(ZkError::MerklePath { query });
        }
    }
    let cap = MerkleCap::new(vec![commitment.root]);
    let dimensions = [Dimensions { width: shape.rows(), height: shape.codeword_len() }];
    let openings: Vec<Vec<&[F]>> = proof.columns.iter().map(|column| vec![column.as_slice()]).collect();
    let siblings = PrunedMerklePaths { sibling_hashes: proof.siblings.clone() };
    column_mmcs().verify_batch_pruned(&cap, &dimensions, &indices, &openings, &siblings).map_err(
        |error| match error {
            MerkleTreeError::MalformedPrunedProof(PrunedProofError::SiblingCountMismatch { expected, got }) => {
                ZkError::Length { what: "Merkle siblings", expected, got }
            }
            _ => ZkError::MerkleRoot,
        },
    )?;
    for (query, (column, &index)) in proof.columns.iter().zip(&indices).enumerate() {
        let combined: EF = row_weights.iter().zip(column).map(|(&weight, &v)| weight * v).sum();
        if encoded[index] != combined {
            return Err(ZkError::Column { query });
        }
    }
    Ok(())
}

fn inner_product(values: &[EF], weights: &[EF]) -> EF {
    values.iter().zip(weights).map(|(&v, &w)| v * w).sum()
}

#[cfg(test)]
mod tests {
    use p3_field::TwoAdicField;

    use super::*;

    fn shape(params: &PcsParams, log_len: usize) -> (usize, usize) {
        let shape = params.shape(log_len, 1 << log_len).unwrap();
        (shape.log_rows, shape.log_cols)
    }

    #[test]
    fn shape_minimizes_the_estimated_size() {
        let params = PcsParams::DEFAULT;
        assert_eq!(shape(&params, 0), (0, 0));
        // Up to 2^8 leaves the estimate counts no siblings (130 queries open most leaves), so
        // one row is cheapest.
        assert_eq!(shape(&params, 1), (0, 1));
        assert_eq!(shape(&params, 5), (0, 5));
        assert_eq!(shape(&params, 9), (3, 6));
        // 16·2^11 + 8·130·2^5 + 32·130·(13 − 8) = 86,848 bytes, the least over all splits.
        assert_eq!(shape(&params, 16), (5, 11));
        assert_eq!(shape(&params, 17), (6, 11));
        assert_eq!(shape(&params, 30), (12, 18));
        assert!(params.shape(31, 1).is_err());
        // The MNIST MLP's 44,530 parameters: 22 used rows of 2^11.
        let prefix = params.shape(16, 44_530).unwrap();
        assert_eq!((prefix.log_rows, prefix.used_rows, prefix.log_cols), (5, 22, 11));
        assert!(params.shape(4, 0).is_err() && params.shape(4, 17).is_err());
    }

    #[test]
    fn expected_siblings_estimates() {
        assert_eq!(expected_siblings(1, 13), 13);
        assert_eq!(expected_siblings(124, 13), 124 * 6);
        assert_eq!(expected_siblings(128, 13), 128 * 6);
        assert_eq!(expected_siblings(129, 13), 129 * 5);
        assert_eq!(expected_siblings(124, 5), 0);
    }

    #[test]
    fn default_has_at_least_101_bits() {
        let bits = PcsParams::DEFAULT.security_bits();
        assert!((101.0..102.0).contains(&bits), "{bits}");
        let at_30 = PcsParams::DEFAULT.security_bits_at(30);
        assert!(at_30 >= bits, "{at_30}");
    }

    #[test]
    fn rejects_parameters_out_of_range() {
        let default = PcsParams::DEFAULT;
        for params in [
            PcsParams { log_blowup: 0, ..default },
            PcsParams { log_blowup: MAX_LOG_BLOWUP + 1, ..default },
            PcsParams { num_queries: 0, ..default },
            PcsParams { num_queries: MAX_QUERIES + 1, ..default },
            PcsParams { pow_bits: MAX_POW_BITS + 1, ..default },
        ] {
            assert!(params.validate().is_err(), "{params:?}");
            assert_eq!(params.security_bits(), 0.0);
        }
    }

    #[test]
    fn codeword_columns_are_row_polynomial_evaluations() {
        // 8 values as 2 rows × 4 (forced by log_blowup 1 and few queries), evaluated at the
        // 8th roots of unity in natural order.
        let params = PcsParams { log_blowup: 1, num_queries: 1, pow_bits: 0 };
        let values: Vec<F> = (1..=8u64).map(|v| F::from_u64(v * v + 3)).collect();
        let (_, data) = commit(values.clone(), &params).unwrap();
        let shape = data.shape();
        let generator = F::two_adic_generator(shape.log_codeword_len);
        for (row_idx, row) in values.chunks_exact(shape.cols()).enumerate() {
            for index in 0..shape.codeword_len() {
                let x = generator.exp_u64(index as u64);
                let expected = row.iter().rev().fold(F::ZERO, |acc, &c| acc * x + c);
                let leaf = column_mmcs().get_matrices(&data.tree)[0].values[index * shape.rows() + row_idx];
                assert_eq!(leaf, expected, "row {row_idx} index {index}");
            }
        }
    }
}
