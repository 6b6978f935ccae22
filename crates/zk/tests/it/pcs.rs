//! The multilinear commitment: honest openings agree with `Mle::evaluate` and verify; their
//! Merkle siblings are the deduplicated per-query paths; every mutated field (siblings dropped,
//! added, changed or swapped, a repeated index opened twice differently), a prover opening
//! another vector and another root are rejected; the byte encodings round-trip and are strict.
//! `timing` (ignored) prints figures for 2^16 values.

use p3_field::{BasedVectorSpace, PrimeCharacteristicRing};
use proptest::prelude::*;
use veritas_zk::encoding::COMMITMENT_BYTES;
use veritas_zk::pcs::{self, Commitment, Digest, OpeningProof, PcsParams};
use veritas_zk::{EF, F, Mle, Transcript, ZkError, ZkResult};

/// SplitMix64: a fixed, seeded generator for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn f(&mut self) -> F {
        F::from_u64(self.next())
    }

    fn ef(&mut self) -> EF {
        EF::from_basis_coefficients_fn(|_| self.f())
    }
}

/// Goldilocks' modulus, the smallest non-canonical `u64`.
const P: u64 = 0xffff_ffff_0000_0001;

/// What the caller absorbs before `open`/`verify`: the commitment, the point and the value.
fn transcript(commitment: &Commitment, point: &[EF], value: EF) -> Transcript {
    let mut transcript = Transcript::new(b"pcs-test", &commitment.to_fields());
    transcript.absorb_ext(point);
    transcript.absorb_ext(&[value]);
    transcript
}

struct Opened {
    commitment: Commitment,
    point: Vec<EF>,
    value: EF,
    proof: OpeningProof,
}

fn open_random(log_len: usize, params: &PcsParams, seed: u64) -> (pcs::CommitmentData, Opened) {
    let mut rng = Rng(seed);
    let values: Vec<F> = (0..1usize << log_len).map(|_| rng.f()).collect();
    let point: Vec<EF> = (0..log_len).map(|_| rng.ef()).collect();
    let (commitment, data) = pcs::commit(values.clone(), params).unwrap();
    let value = Mle::new(values.clone()).unwrap().evaluate(&point).unwrap();
    let (opened_value, proof) = pcs::open(&data, &point, params, &mut transcript(&commitment, &point, value)).unwrap();
    assert_eq!(opened_value, value, "log_len {log_len}");
    (data, Opened { commitment, point, value, proof })
}

fn verify(opened: &Opened, params: &PcsParams) -> ZkResult<()> {
    verify_proof(opened, &opened.proof, params)
}

fn verify_proof(opened: &Opened, proof: &OpeningProof, params: &PcsParams) -> ZkResult<()> {
    let (commitment, point, value) = (&opened.commitment, &opened.point, opened.value);
    pcs::verify(commitment, point, value, proof, params, &mut transcript(commitment, point, value))
}

/// A named change to a valid proof.
type Mutation = fn(&mut OpeningProof);

/// Small parameters for the mutation tests: every query is checked, so 8 suffice to see each
/// mutation caught, and no grinding.
const FAST: PcsParams = PcsParams { log_blowup: 1, num_queries: 8, pow_bits: 0 };

#[test]
fn honest_openings_verify() {
    for (log_len, seed) in [(0, 1), (1, 2), (5, 3), (10, 4), (16, 5)] {
        let (_, opened) = open_random(log_len, &PcsParams::DEFAULT, seed);
        assert_eq!(verify(&opened, &PcsParams::DEFAULT), Ok(()), "log_len {log_len}");
        let shape = PcsParams::DEFAULT.shape(log_len, 1 << log_len).unwrap();
        assert_eq!(opened.proof.combined_row.len(), shape.cols());
        assert_eq!(opened.proof.columns.len(), PcsParams::DEFAULT.num_queries);
        let siblings = opened.proof.siblings.len();
        assert!(siblings <= PcsParams::DEFAULT.num_queries * shape.log_codeword_len, "log_len {log_len}");
    }
    for log_len in [0, 3, 7] {
        let (_, opened) = open_random(log_len, &FAST, 10 + log_len as u64);
        assert_eq!(verify(&opened, &FAST), Ok(()), "log_len {log_len}");
    }
}

#[test]
fn wrong_value_is_rejected() {
    let (_, mut opened) = open_random(6, &FAST, 7);
    opened.value += EF::ONE;
    assert_eq!(verify(&opened, &FAST), Err(ZkError::Opening("value is not the combined row at the column point")));
}

#[test]
fn mutated_fields_are_rejected() {
    for log_len in [4, 9] {
        let (data, opened) = open_random(log_len, &FAST, 20 + log_len as u64);
        let shape = FAST.shape(log_len, 1 << log_len).unwrap();
        assert!(shape.rows() > 1 && shape.cols() > 1, "{shape:?}");
        let mutations: [(&str, Mutation); 11] = [
            ("combined row entry", |proof| proof.combined_row[1] += EF::ONE),
            ("column entry", |proof| proof.columns[3][1] += F::ONE),
            ("sibling digest", |proof| {
                let middle = proof.siblings.len() / 2;
                proof.siblings[middle][3] += F::ONE
            }),
            ("last sibling", |proof| *proof.siblings.last_mut().unwrap() = [F::ZERO; 4]),
            ("pow witness", |proof| proof.pow_witness = F::ONE),
            ("truncated columns", |proof| drop(proof.columns.pop())),
            ("dropped last sibling", |proof| proof.siblings.truncate(proof.siblings.len() - 1)),
            ("short column", |proof| {
                proof.columns[0].pop();
            }),
            ("no siblings", |proof| proof.siblings.clear()),
            ("long combined row", |proof| proof.combined_row.push(EF::ZERO)),
            ("short combined row", |proof| proof.combined_row.truncate(1)),
        ];
        for (name, mutate) in mutations {
            let mut proof = opened.proof.clone();
            mutate(&mut proof);
            assert!(verify_proof(&opened, &proof, &FAST).is_err(), "{name}, log_len {log_len}");
        }
        // A changed combined row whose value still matches passes the value check and is
        // caught by the columns, opened honestly at the indices its transcript draws: add a
        // vector orthogonal to eq(z_lo) on two entries.
        let mut proof = opened.proof.clone();
        let lo = &opened.point[shape.log_rows..];
        let weight = |index: usize| -> EF {
            lo.iter().enumerate().fold(EF::ONE, |acc, (k, &z)| {
                if index >> (lo.len() - 1 - k) & 1 == 1 { acc * z } else { acc * (EF::ONE - z) }
            })
        };
        proof.combined_row[0] += weight(1);
        proof.combined_row[1] -= weight(0);
        let mut replay = transcript(&opened.commitment, &opened.point, opened.value);
        replay.absorb_ext(&proof.combined_row);
        let indices: Vec<usize> = (0..FAST.num_queries).map(|_| replay.sample_index(shape.log_codeword_len)).collect();
        (proof.columns, proof.siblings) = data.open_columns(&indices).unwrap();
        assert!(matches!(verify_proof(&opened, &proof, &FAST), Err(ZkError::Column { .. })), "log_len {log_len}");
    }
}

#[test]
fn pow_witness_is_checked() {
    let params = PcsParams { pow_bits: 8, ..FAST };
    let (_, opened) = open_random(5, &params, 30);
    assert_eq!(verify(&opened, &params), Ok(()));
    let mut proof = opened.proof.clone();
    proof.pow_witness += F::ONE;
    assert_eq!(verify_proof(&opened, &proof, &params), Err(ZkError::ProofOfWork));
    // Another parameter set changes the shape or the checks.
    assert!(verify(&opened, &FAST).is_err());
    assert!(verify(&opened, &PcsParams { num_queries: 7, ..params }).is_err());
}

#[test]
fn opening_another_vector_is_rejected() {
    // Commit to v, then compute the combined row from v' (one entry changed) and open the
    // columns of v's codeword: the value is v'̃(z), and the columns disagree with Enc(u).
    for (log_len, params) in [(8, FAST), (10, PcsParams::DEFAULT)] {
        let mut rng = Rng(40 + log_len as u64);
        let values: Vec<F> = (0..1usize << log_len).map(|_| rng.f()).collect();
        let mut other = values.clone();
        other[17] += F::ONE;
        let point: Vec<EF> = (0..log_len).map(|_| rng.ef()).collect();
        let (commitment, data) = pcs::commit(values, &params).unwrap();
        let (_, other_data) = pcs::commit(other.clone(), &params).unwrap();
        let value = Mle::new(other).unwrap().evaluate(&point).unwrap();
        let (_, other_proof) =
            pcs::open(&other_data, &point, &params, &mut transcript(&commitment, &point, value)).unwrap();
        // The same transcript replayed: the indices it draws after v'’s row, opened in v's tree.
        let mut replay = transcript(&commitment, &point, value);
        replay.absorb_ext(&other_proof.combined_row);
        assert!(replay.check_pow(params.pow_bits, other_proof.pow_witness));
        let log_codeword_len = params.shape(log_len, 1 << log_len).unwrap().log_codeword_len;
        let mut proof = other_proof.clone();
        let indices: Vec<usize> = (0..params.num_queries).map(|_| replay.sample_index(log_codeword_len)).collect();
        (proof.columns, proof.siblings) = data.open_columns(&indices).unwrap();
        let opened = Opened { commitment: commitment.clone(), point: point.clone(), value, proof };
        assert!(matches!(verify(&opened, &params), Err(ZkError::Column { .. })), "log_len {log_len}");
        // And v'’s own columns fail the Merkle check against v's root.
        let opened = Opened { commitment, point, value, proof: other_proof };
        assert_eq!(verify(&opened, &params), Err(ZkError::MerkleRoot), "log_len {log_len}");
    }
}

#[test]
fn another_root_is_rejected() {
    let (_, opened) = open_random(7, &FAST, 50);
    let (other, _) = pcs::commit(vec![F::ONE; 128], &FAST).unwrap();
    let moved = Opened { commitment: other.clone(), ..opened };
    // The transcript absorbs the other commitment too, so indices change; the siblings fail
    // (their count, or the root).
    assert!(matches!(
        verify(&moved, &FAST),
        Err(ZkError::MerkleRoot | ZkError::Length { what: "Merkle siblings", .. })
    ));
    // With the original transcript but the other root, the root check fails.
    let (_, opened) = open_random(7, &FAST, 50);
    let result = pcs::verify(
        &other,
        &opened.point,
        opened.value,
        &opened.proof,
        &FAST,
        &mut transcript(&opened.commitment, &opened.point, opened.value),
    );
    assert_eq!(result, Err(ZkError::MerkleRoot));
    // Another length: the shape (and the point's length) no longer fit.
    let longer = Commitment { log_len: 8, len: 256, root: opened.commitment.root };
    assert!(matches!(
        pcs::verify(
            &longer,
            &opened.point,
            opened.value,
            &opened.proof,
            &FAST,
            &mut transcript(&longer, &opened.point, opened.value)
        ),
        Err(ZkError::Length { .. })
    ));
}

/// The query indices `open` draws for `opened`, replayed.
fn drawn_indices(opened: &Opened, params: &PcsParams) -> Vec<usize> {
    let shape = params.shape(opened.commitment.log_len, 1 << opened.commitment.log_len).unwrap();
    let mut replay = transcript(&opened.commitment, &opened.point, opened.value);
    replay.absorb_ext(&opened.proof.combined_row);
    assert!(replay.check_pow(params.pow_bits, opened.proof.pow_witness));
    (0..params.num_queries).map(|_| replay.sample_index(shape.log_codeword_len)).collect()
}

/// The documented sibling order, from the full per-query paths: level by level from the
/// leaves, for each distinct node `i` ascending whose sibling `i ^ 1` is not queried, that
/// sibling's digest.
fn reference_siblings(data: &pcs::CommitmentData, indices: &[usize]) -> Vec<Digest> {
    let paths: Vec<Vec<Digest>> = indices.iter().map(|&index| data.open_column(index).unwrap().1).collect();
    let height = paths[0].len();
    let sibling = |query: usize, level: usize| paths[query][level];
    let mut nodes: Vec<(usize, usize)> = indices.iter().enumerate().map(|(query, &index)| (index, query)).collect();
    let mut siblings = vec![];
    for level in 0..height {
        nodes.sort_unstable();
        nodes.dedup_by_key(|(index, _)| *index);
        let queried: Vec<usize> = nodes.iter().map(|&(index, _)| index).collect();
        for &(index, query) in &nodes {
            if queried.binary_search(&(index ^ 1)).is_err() {
                siblings.push(sibling(query, level));
            }
        }
        nodes.iter_mut().for_each(|(index, _)| *index >>= 1);
    }
    siblings
}

#[test]
fn siblings_are_the_deduplicated_paths() {
    for (log_len, params, seed) in [(0, FAST, 1), (5, FAST, 2), (9, FAST, 3), (10, PcsParams::DEFAULT, 4)] {
        let (data, opened) = open_random(log_len, &params, seed);
        let indices = drawn_indices(&opened, &params);
        assert_eq!(opened.proof.siblings, reference_siblings(&data, &indices), "log_len {log_len}");
        for (column, &index) in opened.proof.columns.iter().zip(&indices) {
            assert_eq!(Some(column), data.open_column(index).map(|(column, _)| column).as_ref());
        }
    }
    // Every leaf queried: nothing to send. One leaf queried twice: its whole path, once.
    let (_, data) = pcs::commit((0..8u64).map(F::from_u64).collect(), &FAST).unwrap();
    let all: Vec<usize> = (0..data.shape().codeword_len()).rev().collect();
    assert!(data.open_columns(&all).unwrap().1.is_empty());
    let (columns, siblings) = data.open_columns(&[3, 3]).unwrap();
    assert_eq!((columns[0].clone(), siblings), data.open_column(3).unwrap());
    assert_eq!(columns[0], columns[1]);
    assert!(data.open_columns(&[0, data.shape().codeword_len()]).is_none());
}

#[test]
fn edited_siblings_are_rejected() {
    let (_, opened) = open_random(9, &FAST, 110);
    let siblings = opened.proof.siblings.len();
    assert!(siblings >= 3, "{siblings}");
    let check = |edit: &dyn Fn(&mut Vec<Digest>), expected: ZkError| {
        let mut proof = opened.proof.clone();
        edit(&mut proof.siblings);
        assert_eq!(verify_proof(&opened, &proof, &FAST), Err(expected));
    };
    let count = |got| ZkError::Length { what: "Merkle siblings", expected: siblings, got };
    check(&|s| _ = s.remove(0), count(siblings - 1));
    check(&|s| _ = s.remove(siblings / 2), count(siblings - 1));
    check(&|s| s.push(s[0]), count(siblings + 1));
    check(&|s| s.insert(1, [F::ZERO; 4]), count(siblings + 1));
    check(&|s| s[1][0] += F::ONE, ZkError::MerkleRoot);
    check(&|s| s[siblings - 1] = s[0], ZkError::MerkleRoot);
    check(&|s| s.swap(0, 1), ZkError::MerkleRoot);
    check(&|s| s.swap(1, siblings - 1), ZkError::MerkleRoot);
    check(&|s| s.reverse(), ZkError::MerkleRoot);
}

#[test]
fn a_repeated_index_must_open_one_column() {
    // Few leaves and many queries: some index is drawn twice.
    let params = PcsParams { log_blowup: 1, num_queries: 12, pow_bits: 0 };
    let (_, opened) = open_random(2, &params, 120);
    assert_eq!(verify(&opened, &params), Ok(()));
    let indices = drawn_indices(&opened, &params);
    let second = (1..indices.len()).find(|&q| indices[..q].contains(&indices[q])).expect("a repeated index");
    let first = indices.iter().position(|&index| index == indices[second]).unwrap();
    let mut proof = opened.proof.clone();
    proof.columns[second][0] += F::ONE;
    assert_eq!(verify_proof(&opened, &proof, &params), Err(ZkError::MerklePath { query: second }));
    // Changing the first of the two instead names the second too: they disagree.
    let mut proof = opened.proof.clone();
    proof.columns[first][0] += F::ONE;
    assert_eq!(verify_proof(&opened, &proof, &params), Err(ZkError::MerklePath { query: second }));
    // Changing both alike leaves them consistent; the root no longer matches.
    let mut proof = opened.proof.clone();
    for query in (0..indices.len()).filter(|&q| indices[q] == indices[second]) {
        proof.columns[query][0] += F::ONE;
    }
    assert_eq!(verify_proof(&opened, &proof, &params), Err(ZkError::MerkleRoot));
}

#[test]
fn rejects_bad_inputs() {
    assert!(matches!(pcs::commit(vec![], &FAST), Err(ZkError::Length { .. })));
    assert!(matches!(pcs::commit(vec![F::ONE; 3], &FAST), Err(ZkError::Length { .. })));
    let (commitment, data) = pcs::commit(vec![F::ONE; 4], &FAST).unwrap();
    let mut transcript = Transcript::new(b"pcs-test", &commitment.to_fields());
    assert!(matches!(pcs::open(&data, &[EF::ONE], &FAST, &mut transcript), Err(ZkError::Length { .. })));
    assert!(pcs::open(&data, &[EF::ONE; 2], &PcsParams::DEFAULT, &mut transcript).is_err());
    let (_, opened) = open_random(3, &FAST, 60);
    let mut short = opened.point.clone();
    short.pop();
    let too_long = Commitment { log_len: 31, len: 1, root: opened.commitment.root };
    for (commitment, point) in [(&opened.commitment, &short), (&too_long, &opened.point)] {
        let result =
            pcs::verify(commitment, point, opened.value, &opened.proof, &FAST, &mut Transcript::new(b"x", &[]));
        assert!(result.is_err());
    }
}

fn proof_layout(log_len: usize, params: &PcsParams) -> (usize, usize, usize, usize) {
    let shape = params.shape(log_len, 1 << log_len).unwrap();
    (shape.cols(), shape.rows(), params.num_queries, shape.log_codeword_len)
}

fn read(bytes: &[u8], layout: (usize, usize, usize, usize)) -> ZkResult<(OpeningProof, usize)> {
    let mut rest = bytes;
    let proof = OpeningProof::read_from(&mut rest, layout.0, layout.1, layout.2, layout.3)?;
    Ok((proof, rest.len()))
}

#[test]
fn opening_proof_round_trips() {
    for (log_len, params) in [(0, FAST), (5, FAST), (10, PcsParams::DEFAULT)] {
        let (_, opened) = open_random(log_len, &params, 70 + log_len as u64);
        let layout = proof_layout(log_len, &params);
        let mut bytes = vec![];
        opened.proof.write_to(&mut bytes);
        let (cols, rows, queries, path_len) = layout;
        let siblings = opened.proof.siblings.len();
        assert_eq!(bytes.len(), 8 * (2 * cols + 1 + queries * rows) + 4 + 32 * siblings);
        assert_eq!(OpeningProof::min_encoded_len(cols, rows, queries), Some(bytes.len() - 32 * siblings));
        let max = OpeningProof::max_encoded_len(cols, rows, queries, path_len).unwrap();
        assert_eq!(max, bytes.len() + 32 * (queries * path_len - siblings));
        assert_eq!(read(&bytes, layout), Ok((opened.proof.clone(), 0)));
        // Trailing bytes are left for the caller; a truncated proof is an error.
        bytes.push(0);
        assert_eq!(read(&bytes, layout), Ok((opened.proof.clone(), 1)));
        bytes.truncate(bytes.len() - 2);
        assert!(matches!(read(&bytes, layout), Err(ZkError::Decode(_))));
        assert!(matches!(read(&[], layout), Err(ZkError::Decode(_))));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random values, point and parameters: the opening verifies and both encodings round-trip.
    #[test]
    fn random_openings_verify_and_round_trip(
        log_len in 0usize..9,
        seed in any::<u64>(),
        log_blowup in 1usize..4,
        num_queries in 1usize..12,
    ) {
        let params = PcsParams { log_blowup, num_queries, pow_bits: 0 };
        let (_, opened) = open_random(log_len, &params, seed);
        prop_assert_eq!(verify(&opened, &params), Ok(()));
        let mut bytes = vec![];
        opened.proof.write_to(&mut bytes);
        prop_assert_eq!(read(&bytes, proof_layout(log_len, &params)), Ok((opened.proof.clone(), 0)));
        prop_assert_eq!(Commitment::from_bytes(&opened.commitment.to_bytes()), Ok(opened.commitment.clone()));
    }
}

#[test]
fn opening_proof_decoding_is_strict() {
    let (_, opened) = open_random(4, &FAST, 80);
    let layout = proof_layout(4, &FAST);
    let mut bytes = vec![];
    opened.proof.write_to(&mut bytes);
    // Each field element position made non-canonical (p itself) is rejected.
    let (cols, rows, queries, path_len) = layout;
    let count_at = 8 * (2 * cols + 1 + queries * rows);
    for start in (0..count_at).step_by(8).chain((count_at + 4..bytes.len()).step_by(8)) {
        let mut bad = bytes.clone();
        bad[start..start + 8].copy_from_slice(&P.to_le_bytes());
        assert!(matches!(read(&bad, layout), Err(ZkError::Decode(_))), "element at byte {start}");
    }
    // Huge caller lengths fail before allocating.
    assert!(matches!(read(&bytes, (usize::MAX, 1, 1, 1)), Err(ZkError::Decode(_))));
    assert!(matches!(read(&bytes, (1, 1, usize::MAX / 2, usize::MAX / 2)), Err(ZkError::Decode(_))));
    // The sibling count: at most num_queries · path_len, and no more than the bytes hold.
    let with_count = |count: u32| {
        let mut edited = bytes.clone();
        edited[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
        edited
    };
    let cap = u32::try_from(queries * path_len).unwrap();
    let result = read(&with_count(cap + 1), layout);
    assert!(matches!(&result, Err(ZkError::Decode(m)) if m.contains("at most")), "{result:?}");
    let result = read(&with_count(u32::MAX), layout);
    assert!(matches!(&result, Err(ZkError::Decode(m)) if m.contains("at most")), "{result:?}");
    let result = read(&with_count(cap), layout);
    assert!(matches!(&result, Err(ZkError::Decode(m)) if m.contains("truncated")), "{result:?}");
    // A sibling count that fits the cap and the bytes reads that many siblings.
    let siblings = opened.proof.siblings.len();
    let (fewer, rest) = read(&with_count(u32::try_from(siblings - 1).unwrap()), layout).unwrap();
    assert_eq!((fewer.siblings.len(), rest), (siblings - 1, 32));
    assert!(verify_proof(&opened, &fewer, &FAST).is_err());
    // A proof with exactly the cap round-trips.
    let mut full = opened.proof.clone();
    full.siblings = vec![[F::ONE; 4]; queries * path_len];
    let mut full_bytes = vec![];
    full.write_to(&mut full_bytes);
    assert_eq!(read(&full_bytes, layout), Ok((full, 0)));
}

#[test]
fn flipping_any_bit_of_the_proof_bytes_fails() {
    let (_, opened) = open_random(4, &FAST, 90);
    let layout = proof_layout(4, &FAST);
    let mut bytes = vec![];
    opened.proof.write_to(&mut bytes);
    for bit in 0..bytes.len() * 8 {
        let mut bad = bytes.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        if let Ok((proof, _)) = read(&bad, layout) {
            assert!(verify_proof(&opened, &proof, &FAST).is_err(), "bit {bit}");
        }
    }
}

#[test]
fn commitment_round_trips_strictly() {
    let (_, opened) = open_random(9, &FAST, 100);
    let bytes = opened.commitment.to_bytes();
    assert_eq!(bytes.len(), COMMITMENT_BYTES);
    assert_eq!(bytes[0], 9);
    assert_eq!(Commitment::from_bytes(&bytes), Ok(opened.commitment.clone()));
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(Commitment::from_bytes(&long), Err(ZkError::Decode(_))));
    assert!(matches!(Commitment::from_bytes(&bytes[..COMMITMENT_BYTES - 1]), Err(ZkError::Decode(_))));
    let mut big = bytes.clone();
    big[0] = 31;
    assert!(matches!(Commitment::from_bytes(&big), Err(ZkError::Decode(_))));
    let mut non_canonical = bytes.clone();
    non_canonical[5..13].copy_from_slice(&P.to_le_bytes());
    assert!(matches!(Commitment::from_bytes(&non_canonical), Err(ZkError::Decode(_))));
    for len in [0u32, 513] {
        let mut bad = bytes.clone();
        bad[1..5].copy_from_slice(&len.to_le_bytes());
        assert!(matches!(Commitment::from_bytes(&bad), Err(ZkError::Decode(_))), "len {len}");
    }
    assert_eq!(opened.commitment.to_fields()[..2], [F::from_u64(9), F::from_u64(512)]);
}

#[test]
fn a_committed_prefix_opens_only_its_rows() {
    // 2^10 values of which 300 are committed: the rows past them are zero by definition.
    let params = PcsParams::DEFAULT;
    let mut rng = Rng(77);
    let mut values: Vec<F> = (0..300).map(|_| rng.f()).collect();
    values.resize(1 << 10, F::ZERO);
    let point: Vec<EF> = (0..10).map(|_| rng.ef()).collect();
    let value = Mle::new(values.clone()).unwrap().evaluate(&point).unwrap();
    let (commitment, data) = pcs::commit_prefix(values.clone(), 300, &params).unwrap();
    assert_eq!((commitment.log_len, commitment.len), (10, 300));
    let shape = params.shape(10, 300).unwrap();
    assert!(shape.rows() < 1 << shape.log_rows, "{shape:?}");
    let (opened_value, proof) = pcs::open(&data, &point, &params, &mut transcript(&commitment, &point, value)).unwrap();
    assert_eq!(opened_value, value);
    assert!(proof.columns.iter().all(|c| c.len() == shape.rows()));
    let verify = |commitment: &Commitment| {
        pcs::verify(commitment, &point, value, &proof, &params, &mut transcript(commitment, &point, value))
    };
    assert_eq!(verify(&commitment), Ok(()));
    // The same root claimed for another prefix: another shape or transcript, rejected.
    for len in [299, 301, 1 << 10] {
        assert!(verify(&Commitment { len, ..commitment.clone() }).is_err(), "len {len}");
    }
    // A non-zero value past the prefix cannot be committed.
    values[700] = F::ONE;
    assert!(pcs::commit_prefix(values, 300, &params).is_err());
}

#[test]
#[ignore = "timing: cargo test --release -p veritas-zk --test it -- --ignored --nocapture pcs::timing"]
fn timing() {
    use std::time::Instant;
    let params = PcsParams::DEFAULT;
    let log_len = 16;
    let mut rng = Rng(2026);
    let values: Vec<F> = (0..1usize << log_len).map(|_| rng.f()).collect();
    let point: Vec<EF> = (0..log_len).map(|_| rng.ef()).collect();
    let value = Mle::new(values.clone()).unwrap().evaluate(&point).unwrap();
    let start = Instant::now();
    let (commitment, data) = pcs::commit(values, &params).unwrap();
    let committed = start.elapsed();
    let (_, proof) = pcs::open(&data, &point, &params, &mut transcript(&commitment, &point, value)).unwrap();
    let opened = start.elapsed();
    let start = Instant::now();
    pcs::verify(&commitment, &point, value, &proof, &params, &mut transcript(&commitment, &point, value)).unwrap();
    let verified = start.elapsed();
    let mut bytes = vec![];
    proof.write_to(&mut bytes);
    let shape = params.shape(log_len, 1 << log_len).unwrap();
    println!(
        "2^{log_len} values as {}×{} (codeword {}), {:.1} bits: commit {committed:?}, commit+open {opened:?}, \
         verify {verified:?}, proof {} bytes ({} Merkle siblings, {} without deduplication)",
        shape.rows(),
        shape.cols(),
        shape.codeword_len(),
        params.security_bits(),
        bytes.len(),
        proof.siblings.len(),
        params.num_queries * shape.log_codeword_len,
    );
}
