//! The canonical binary encoding of a [`MatVecProof`] (docs/zk.md, "Sumcheck").
//!
//! Layout, all integers little-endian: the version byte [`VERSION`]; the round count (`u32`);
//! for each round the count of its values (`u8`) and the values; then `weights_eval` and
//! `input_eval`. Each extension element is its two base coordinates, each a canonical `u64`
//! (`< p`). Decoding is strict: the version, the caps [`MAX_ROUNDS`] and [`MAX_ROUND_VALUES`]
//! (checked before allocating), canonical coordinates and the exact length are all required, so
//! every accepted byte string is the encoding of the proof it decodes to.

use p3_field::integers::QuotientMap;
use p3_field::{BasedVectorSpace, PrimeField64};

use crate::{EF, F, MatVecProof, SumcheckProof, ZkError, ZkResult};

/// The encoding's version byte.
pub const VERSION: u8 = 1;
/// The most rounds a decoded proof may have (the statement's limits need at most 24).
pub const MAX_ROUNDS: usize = 64;
/// The most values a decoded round may have (a valid round has 3).
pub const MAX_ROUND_VALUES: usize = 8;

/// The encoded size of one extension element: two `u64` coordinates.
const EF_BYTES: usize = 8 * <EF as BasedVectorSpace<F>>::DIMENSION;

fn put_ef(out: &mut Vec<u8>, value: &EF) {
    for coordinate in BasedVectorSpace::<F>::as_basis_coefficients_slice(value) {
        out.extend_from_slice(&coordinate.as_canonical_u64().to_le_bytes());
    }
}

/// A cursor over the bytes being decoded.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &str) -> ZkResult<&'a [u8]> {
        let rest = &self.bytes[self.offset..];
        if rest.len() < len {
            return Err(decode(format!("truncated at byte {} reading {what}", self.offset)));
        }
        self.offset += len;
        Ok(&rest[..len])
    }

    fn ef(&mut self, what: &str) -> ZkResult<EF> {
        let start = self.offset;
        let bytes = self.take(EF_BYTES, what)?;
        let coordinates = bytes.chunks_exact(8).map(|chunk| {
            let value = u64::from_le_bytes(chunk.try_into().expect("OK because chunks are 8 bytes"));
            <F as QuotientMap<u64>>::from_canonical_checked(value)
        });
        let coordinates: Option<Vec<F>> = coordinates.collect();
        coordinates
            .and_then(|c| BasedVectorSpace::<F>::from_basis_coefficients_slice(&c))
            .ok_or_else(|| decode(format!("non-canonical field element at byte {start} ({what})")))
    }
}

fn decode(message: String) -> ZkError {
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
        if reader.offset != bytes.len() {
            return Err(decode(format!("{} trailing bytes", bytes.len() - reader.offset)));
        }
        Ok(Self { sumcheck: SumcheckProof { rounds }, weights_eval, input_eval })
    }
}
