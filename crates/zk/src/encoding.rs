//! Canonical binary encodings: a [`MatVecProof`] (docs/zk.md, "Sumcheck"), and a commitment
//! and an opening proof of [`crate::pcs`] (docs/zk.md, "Commitment").
//!
//! `MatVecProof` layout, all integers little-endian: the version byte [`VERSION`]; the round count (`u32`);
//! for each round the count of its values (`u8`) and the values; then `weights_eval` and
//! `input_eval`. Each extension element is its two base coordinates, each a canonical `u64`
//! (`< p`). Decoding is strict: the version, the caps [`MAX_ROUNDS`] and [`MAX_ROUND_VALUES`]
//! (checked before allocating), canonical coordinates and the exact length are all required, so
//! every accepted byte string is the encoding of the proof it decodes to.

use p3_field::integers::QuotientMap;
use p3_field::{BasedVectorSpace, PrimeField64};

use crate::pcs::{Commitment, MAX_LOG_LEN, OpeningProof};
use crate::{EF, F, MatVecProof, SumcheckProof, ZkError, ZkResult};

/// The encoding's version byte.
pub const VERSION: u8 = 1;
/// The most rounds a decoded proof may have (the statement's limits need at most 24).
pub const MAX_ROUNDS: usize = 64;
/// The most values a decoded round may have (a valid round has 3).
pub const MAX_ROUND_VALUES: usize = 8;

/// The encoded size of one extension element: two `u64` coordinates.
pub(crate) const EF_BYTES: usize = 8 * <EF as BasedVectorSpace<F>>::DIMENSION;

/// The encoded size of one base element: a canonical `u64`.
pub(crate) const F_BYTES: usize = 8;

pub(crate) fn put_f(out: &mut Vec<u8>, value: &F) {
    out.extend_from_slice(&value.as_canonical_u64().to_le_bytes());
}

pub(crate) fn put_ef(out: &mut Vec<u8>, value: &EF) {
    for coordinate in BasedVectorSpace::<F>::as_basis_coefficients_slice(value) {
        put_f(out, coordinate);
    }
}

/// A cursor over the bytes being decoded.
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) offset: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, len: usize, what: &str) -> ZkResult<&'a [u8]> {
        let rest = &self.bytes[self.offset..];
        if rest.len() < len {
            return Err(decode(format!("truncated at byte {} reading {what}", self.offset)));
        }
        self.offset += len;
        Ok(&rest[..len])
    }

    pub(crate) fn f(&mut self, what: &str) -> ZkResult<F> {
        let start = self.offset;
        let bytes = self.take(F_BYTES, what)?;
        let value = u64::from_le_bytes(bytes.try_into().expect("OK because take returns F_BYTES bytes"));
        <F as QuotientMap<u64>>::from_canonical_checked(value)
            .ok_or_else(|| decode(format!("non-canonical field element at byte {start} ({what})")))
    }

    pub(crate) fn ef(&mut self, what: &str) -> ZkResult<EF> {
        let coordinates = [self.f(what)?, self.f(what)?];
        Ok(BasedVectorSpace::<F>::from_basis_coefficients_fn(|i| coordinates[i]))
    }
}

impl Reader<'_> {
    pub(crate) fn finish(&self) -> ZkResult<()> {
        if self.offset != self.bytes.len() {
            return Err(decode(format!("{} trailing bytes", self.bytes.len() - self.offset)));
        }
        Ok(())
    }
}

pub(crate) fn decode(message: String) -> ZkError {
    ZkError::Decode(message)
}

impl MatVecProof {
    /// The canonical encoding. Panics only if the proof has more than `u32::MAX` rounds or a
    /// round more than 255 values, which no prover makes and [`MatVecProof::from_bytes`] rejects.
    pub fn to_bytes(&self) -> Vec<u8> {
        let rounds = &self.sumcheck.rounds;
        let values: usize = rounds.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(5 + rounds.len() + (values + 2) * EF_BYTES);
        out.push(VERSION);
        let count = u32::try_from(rounds.len()).expect("round count fits u32");
        out.extend_from_slice(&count.to_le_bytes());
        for round in rounds {
            out.push(u8::try_from(round.len()).expect("round value count fits u8"));
            for value in round {
                put_ef(&mut out, value);
            }
        }
        put_ef(&mut out, &self.weights_eval);
        put_ef(&mut out, &self.input_eval);
        out
    }

    /// Decodes [`MatVecProof::to_bytes`]'s output, rejecting anything else with
    /// [`ZkError::Decode`]. A decoded proof still has to be verified.
    pub fn from_bytes(bytes: &[u8]) -> ZkResult<Self> {
        let mut reader = Reader { bytes, offset: 0 };
        let version = reader.take(1, "version")?[0];
        if version != VERSION {
            return Err(decode(format!("unsupported version {version}, expected {VERSION}")));
        }
        let count = u32::from_le_bytes(reader.take(4, "round count")?.try_into().expect("OK: 4 bytes"));
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if count > MAX_ROUNDS {
            return Err(decode(format!("{count} rounds, at most {MAX_ROUNDS}")));
        }
        let mut rounds = Vec::with_capacity(count);
        for round in 0..count {
            let len = usize::from(reader.take(1, "round value count")?[0]);
            if len > MAX_ROUND_VALUES {
                return Err(decode(format!("round {round} has {len} values, at most {MAX_ROUND_VALUES}")));
            }
            let values = (0..len).map(|_| reader.ef("round value")).collect::<ZkResult<Vec<EF>>>()?;
            rounds.push(values);
        }
        let weights_eval = reader.ef("weights_eval")?;
        let input_eval = reader.ef("input_eval")?;
        reader.finish()?;
        Ok(Self { sumcheck: SumcheckProof { rounds }, weights_eval, input_eval })
    }
}

/// The encoded size of a [`Commitment`]: `log_len` (`u8`), `len` (`u32`) and the root's four
/// canonical `u64`s.
pub const COMMITMENT_BYTES: usize = 1 + 4 + 4 * F_BYTES;

impl Commitment {
    /// The canonical encoding, [`COMMITMENT_BYTES`] long. Panics only if `log_len` exceeds
    /// 255, which [`crate::pcs::commit`] never makes and [`Commitment::from_bytes`] rejects.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(COMMITMENT_BYTES);
        out.push(u8::try_from(self.log_len).expect("log_len fits u8"));
        out.extend_from_slice(&u32::try_from(self.len).expect("len fits u32").to_le_bytes());
        for value in &self.root {
            put_f(&mut out, value);
        }
        out
    }

    /// Decodes exactly [`COMMITMENT_BYTES`] bytes: `log_len` at most [`MAX_LOG_LEN`], `len` in
    /// `1..=2^log_len`, canonical root elements.
    pub fn from_bytes(bytes: &[u8]) -> ZkResult<Self> {
        let mut reader = Reader { bytes, offset: 0 };
        let log_len = usize::from(reader.take(1, "log_len")?[0]);
        if log_len > MAX_LOG_LEN {
            return Err(decode(format!("log_len {log_len}, at most {MAX_LOG_LEN}")));
        }
        let len = u32::from_le_bytes(reader.take(4, "len")?.try_into().expect("OK: 4 bytes"));
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if !(1..=1 << log_len).contains(&len) {
            return Err(decode(format!("committed prefix of {len} values, the vector has 2^{log_len}")));
        }
        let root = [reader.f("root")?, reader.f("root")?, reader.f("root")?, reader.f("root")?];
        reader.finish()?;
        Ok(Self { log_len, len, root })
    }
}

/// The encoded size of a Merkle digest: four canonical `u64`s.
const DIGEST_BYTES: usize = 4 * F_BYTES;

impl OpeningProof {
    /// Appends the canonical encoding: `combined_row` (each element two `u64`s),
    /// `pow_witness`, every column, the sibling count (`u32`), then the siblings (each digest
    /// four `u64`s). Only the sibling count is written: the other lengths follow from the
    /// commitment and the parameters, while the count depends on the drawn queries. Panics
    /// only with more than `u32::MAX` siblings, which no prover makes and
    /// [`OpeningProof::read_from`] rejects.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for value in &self.combined_row {
            put_ef(out, value);
        }
        put_f(out, &self.pow_witness);
        for value in self.columns.iter().flatten() {
            put_f(out, value);
        }
        let count = u32::try_from(self.siblings.len()).expect("sibling count fits u32");
        out.extend_from_slice(&count.to_le_bytes());
        for value in self.siblings.iter().flatten() {
            put_f(out, value);
        }
    }

    /// The most siblings [`OpeningProof::read_from`] accepts: `num_queries · path_len`, the
    /// count without deduplication. `None` if it overflows `usize`.
    pub fn max_siblings(num_queries: usize, path_len: usize) -> Option<usize> {
        num_queries.checked_mul(path_len)
    }

    /// The encoded size of a proof of this shape without siblings (up to and including the
    /// sibling count), the least [`OpeningProof::read_from`] can accept; `None` on overflow.
    pub fn min_encoded_len(cols: usize, rows: usize, num_queries: usize) -> Option<usize> {
        let elements = cols.checked_mul(2)?.checked_add(1)?.checked_add(num_queries.checked_mul(rows)?)?;
        elements.checked_mul(F_BYTES)?.checked_add(4)
    }

    /// The encoded size of a proof of this shape with [`OpeningProof::max_siblings`] siblings,
    /// the most [`OpeningProof::read_from`] can accept; `None` on overflow.
    pub fn max_encoded_len(cols: usize, rows: usize, num_queries: usize, path_len: usize) -> Option<usize> {
        let siblings = Self::max_siblings(num_queries, path_len)?.checked_mul(DIGEST_BYTES)?;
        Self::min_encoded_len(cols, rows, num_queries)?.checked_add(siblings)
    }

    /// Reads a proof of `cols` combined-row elements and `num_queries` columns of `rows`
    /// elements in a tree of height `path_len` (from [`crate::pcs::PcsParams::shape`], never
    /// from the bytes), advancing `bytes` past it. The fixed part's length is checked before
    /// anything is allocated, and the sibling count against [`OpeningProof::max_siblings`] and
    /// the bytes left before the siblings are read; every element must be canonical.
    pub fn read_from(
        bytes: &mut &[u8],
        cols: usize,
        rows: usize,
        num_queries: usize,
        path_len: usize,
    ) -> ZkResult<Self> {
        match Self::min_encoded_len(cols, rows, num_queries) {
            Some(len) if len <= bytes.len() => {}
            _ => return Err(decode(format!("truncated opening proof: {} bytes", bytes.len()))),
        }
        let max_siblings = Self::max_siblings(num_queries, path_len)
            .ok_or_else(|| decode("opening proof sibling limit overflows".into()))?;
        let mut reader = Reader { bytes, offset: 0 };
        let combined_row = (0..cols).map(|_| reader.ef("combined row")).collect::<ZkResult<_>>()?;
        let pow_witness = reader.f("pow witness")?;
        let columns =
            (0..num_queries).map(|_| (0..rows).map(|_| reader.f("column")).collect()).collect::<ZkResult<_>>()?;
        let count = u32::from_le_bytes(reader.take(4, "sibling count")?.try_into().expect("OK: 4 bytes"));
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if count > max_siblings {
            return Err(decode(format!("{count} Merkle siblings, at most {max_siblings}")));
        }
        let left = bytes.len() - reader.offset;
        if count.checked_mul(DIGEST_BYTES).is_none_or(|len| len > left) {
            return Err(decode(format!("truncated opening proof: {count} Merkle siblings in {left} bytes")));
        }
        let siblings = (0..count)
            .map(|_| Ok([reader.f("sibling")?, reader.f("sibling")?, reader.f("sibling")?, reader.f("sibling")?]))
            .collect::<ZkResult<_>>()?;
        *bytes = &bytes[reader.offset..];
        Ok(Self { combined_row, pow_witness, columns, siblings })
    }
}
