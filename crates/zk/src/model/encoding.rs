//! The canonical bytes of a [`VerifyingKey`] and of a [`ModelProof`] (docs/zk.md, "Model
//! proofs"). All integers little-endian, field elements canonical `u64`s (an `EF` two of them).
//!
//! Verifying key: version [`KEY_VERSION`]; `log_blowup` (`u8`), `num_queries` (`u16`),
//! `pow_bits` (`u8`); the commitment ([`Commitment::to_bytes`]); the architecture's JSON length
//! (`u32`) and the JSON (serde's field order, no whitespace). Decoding re-encodes and requires
//! the same bytes, so a key has one encoding.
//!
//! Proof: version [`PROOF_VERSION`]; every `Linear`/`Conv` layer's accumulators (`i32` each;
//! every tensor follows from them and the input); per such layer its bias block evaluations, its sumcheck's
//! round values (3 per round) and its weight block evaluations; the batch sumcheck's round values; `M̃(ρ)`; the opening
//! ([`OpeningProof::write_to`]). No lengths but the opening's Merkle sibling count: every other
//! follows from the verifying key. The total is checked against the least and the most a proof
//! for the key can have before anything is allocated, and no byte may follow the opening.

use veritas_quant::QuantizedModel;

use super::layout::{Layout, blocks};
use super::{LayerProof, ModelProof, VerifyingKey, shape_of};
use crate::encoding::{EF_BYTES, Reader, decode, put_ef};
use crate::pcs::{Commitment, OpeningProof, PcsParams};
use crate::sumcheck::ROUND_VALUES;
use crate::{SumcheckProof, ZkResult};

/// The verifying key encoding's version byte.
pub const KEY_VERSION: u8 = 1;
/// The proof encoding's version byte (2: the trace is the accumulators alone).
pub const PROOF_VERSION: u8 = 2;
/// The longest architecture JSON accepted.
pub const MAX_ARCHITECTURE_BYTES: usize = 1 << 20;

const COMMITMENT_BYTES: usize = crate::encoding::COMMITMENT_BYTES;

impl VerifyingKey {
    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let architecture = serde_json::to_vec(&self.architecture).unwrap_or_default();
        let mut out = Vec::with_capacity(10 + COMMITMENT_BYTES + architecture.len());
        out.push(KEY_VERSION);
        out.push(self.params.log_blowup as u8);
        out.extend_from_slice(&(self.params.num_queries as u16).to_le_bytes());
        out.push(self.params.pow_bits as u8);
        out.extend_from_slice(&self.commitment.to_bytes());
        out.extend_from_slice(&(architecture.len() as u32).to_le_bytes());
        out.extend_from_slice(&architecture);
        out
    }

    /// Decodes [`Self::to_bytes`]'s output: a valid architecture without parameters, valid
    /// PCS parameters, a commitment of the length the architecture's layout needs.
    pub fn from_bytes(bytes: &[u8]) -> ZkResult<Self> {
        let mut reader = Reader { bytes, offset: 0 };
        let version = reader.take(1, "version")?[0];
        if version != KEY_VERSION {
            return Err(decode(format!("verifying key version {version}, expected {KEY_VERSION}")));
        }
        let head = reader.take(4, "parameters")?;
        let params = PcsParams {
            log_blowup: usize::from(head[0]),
            num_queries: usize::from(u16::from_le_bytes([head[1], head[2]])),
            pow_bits: usize::from(head[3]),
        };
        params.validate()?;
        let commitment = Commitment::from_bytes(reader.take(COMMITMENT_BYTES, "commitment")?)?;
        let len = u32::from_le_bytes(reader.take(4, "architecture length")?.try_into().expect("OK: 4 bytes"));
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > MAX_ARCHITECTURE_BYTES {
            return Err(decode(format!("architecture of {len} bytes, at most {MAX_ARCHITECTURE_BYTES}")));
        }
        let json = reader.take(len, "architecture")?;
        reader.finish()?;
        let architecture: QuantizedModel =
            serde_json::from_slice(json).map_err(|e| decode(format!("architecture: {e}")))?;
        architecture.validate_architecture().map_err(|e| decode(format!("architecture: {e}")))?;
        let layout = Layout::new(&architecture)?;
        if layout.log_len != commitment.log_len {
            return Err(decode(format!(
                "commitment to 2^{} values, the architecture needs 2^{}",
                commitment.log_len, layout.log_len
            )));
        }
        let key = Self { architecture, commitment, params };
        if key.to_bytes() != bytes {
            return Err(decode("verifying key is not in canonical form".into()));
        }
        Ok(key)
    }
}

/// The sizes a proof for `key` has, from the key alone.
struct ProofShape {
    accumulator_lens: Vec<usize>,
    /// Per `Linear`/`Conv` layer: sumcheck rounds, bias blocks, weight blocks.
    layer_rounds: Vec<(usize, usize, usize)>,
    batch_rounds: usize,
    opening: (usize, usize, usize, usize),
}

impl ProofShape {
    fn of(key: &VerifyingKey) -> ZkResult<Self> {
        let model = &key.architecture;
        model.validate_architecture().map_err(|e| decode(format!("architecture: {e}")))?;
        let shapes: Vec<_> = model.layers.iter().filter_map(|l| shape_of(&l.op)).collect();
        let layout = Layout::new(model)?;
        let pcs = key.params.shape(layout.log_len)?;
        Ok(Self {
            accumulator_lens: shapes.iter().map(|s| s.rows * s.positions).collect(),
            layer_rounds: shapes
                .iter()
                .map(|s| {
                    let (rows, cols) = (blocks(s.rows).len(), blocks(s.cols).len());
                    (s.col_vars(), rows, rows * cols)
                })
                .collect(),
            batch_rounds: layout.log_len,
            opening: (pcs.cols(), pcs.rows(), key.params.num_queries, pcs.log_codeword_len),
        })
    }

    /// The least and the most encoded length (they differ only in the opening's Merkle
    /// siblings), `None` on overflow.
    fn encoded_len_range(&self) -> Option<(usize, usize)> {
        let accumulators = self.accumulator_lens.iter().sum::<usize>().checked_mul(4)?;
        let layer_values: usize = self.layer_rounds.iter().map(|(r, b, w)| b + ROUND_VALUES * r + w).sum();
        let values = layer_values + ROUND_VALUES * self.batch_rounds + 1;
        let (cols, rows, queries, path) = self.opening;
        let prefix = 1usize.checked_add(accumulators)?.checked_add(values.checked_mul(EF_BYTES)?)?;
        let min = prefix.checked_add(OpeningProof::min_encoded_len(cols, rows, queries)?)?;
        let max = prefix.checked_add(OpeningProof::max_encoded_len(cols, rows, queries, path)?)?;
        Some((min, max))
    }
}

fn read_rounds(reader: &mut Reader<'_>, rounds: usize) -> ZkResult<SumcheckProof> {
    let rounds = (0..rounds)
        .map(|_| (0..ROUND_VALUES).map(|_| reader.ef("sumcheck round value")).collect())
        .collect::<ZkResult<_>>()?;
    Ok(SumcheckProof { rounds })
}

impl ModelProof {
    /// The canonical bytes (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![PROOF_VERSION];
        for acc in &self.accumulators {
            for value in acc {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        let rounds =
            |out: &mut Vec<u8>, proof: &SumcheckProof| proof.rounds.iter().flatten().for_each(|v| put_ef(out, v));
        for layer in &self.layers {
            layer.bias_evals.iter().for_each(|v| put_ef(&mut out, v));
            rounds(&mut out, &layer.sumcheck);
            layer.weights_evals.iter().for_each(|v| put_ef(&mut out, v));
        }
        rounds(&mut out, &self.batch);
        put_ef(&mut out, &self.model_eval);
        self.opening.write_to(&mut out);
        out
    }

    /// Decodes a proof for `key`, every length taken from the key; anything but exactly the
    /// canonical bytes of a proof of that shape is an error. A decoded proof must still verify.
    pub fn from_bytes(bytes: &[u8], key: &VerifyingKey) -> ZkResult<Self> {
        let shape = ProofShape::of(key)?;
        match shape.encoded_len_range() {
            Some((min, max)) if (min..=max).contains(&bytes.len()) => {}
            Some((min, max)) => {
                return Err(decode(format!("proof of {} bytes, this model's proofs have {min} to {max}", bytes.len())));
            }
            None => return Err(decode("proof size overflows".into())),
        }
        let mut reader = Reader { bytes, offset: 0 };
        let version = reader.take(1, "version")?[0];
        if version != PROOF_VERSION {
            return Err(decode(format!("proof version {version}, expected {PROOF_VERSION}")));
        }
        let mut accumulators = Vec::with_capacity(shape.accumulator_lens.len());
        for &len in &shape.accumulator_lens {
            let bytes = reader.take(4 * len, "accumulators")?;
            accumulators
                .push(bytes.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("OK: 4 bytes"))).collect());
        }
        let mut layers = Vec::with_capacity(shape.layer_rounds.len());
        for &(rounds, bias_blocks, weight_blocks) in &shape.layer_rounds {
            let bias_evals = (0..bias_blocks).map(|_| reader.ef("bias evaluation")).collect::<ZkResult<_>>()?;
            let sumcheck = read_rounds(&mut reader, rounds)?;
            let weights_evals = (0..weight_blocks).map(|_| reader.ef("weights evaluation")).collect::<ZkResult<_>>()?;
            layers.push(LayerProof { bias_evals, sumcheck, weights_evals });
        }
        let batch = read_rounds(&mut reader, shape.batch_rounds)?;
        let model_eval = reader.ef("model evaluation")?;
        let mut rest = &bytes[reader.offset..];
        let (cols, rows, queries, path) = shape.opening;
        let opening = OpeningProof::read_from(&mut rest, cols, rows, queries, path)?;
        if !rest.is_empty() {
            return Err(decode(format!("{} trailing bytes", rest.len())));
        }
        Ok(Self { accumulators, layers, batch, model_eval, opening })
    }
}
