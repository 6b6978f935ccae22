//! The canonical bytes of a [`VerifyingKey`] and of a [`ModelProof`] (docs/zk.md, "Model
//! proofs"). All integers little-endian, field elements canonical `u64`s (an `EF` two of them).
//!
//! Verifying key: version [`KEY_VERSION`]; `log_blowup` (`u8`), `num_queries` (`u16`),
//! `pow_bits` (`u8`); the commitment ([`Commitment::to_bytes`]); the architecture's JSON length
//! (`u32`) and the JSON (serde's field order, no whitespace). Decoding re-encodes and requires
//! the same bytes, so a key has one encoding.
//!
//! Proof: version [`PROOF_VERSION`]; every `Linear`/`Conv` layer's outputs (`i8` each); the
//! public multiplicities (`u32` each, none when committed); the witness commitment; per such layer its bias block evaluations, its limb evaluations, its
//! sumcheck's round values (3 per round) and its weight block evaluations; the
//! lookup proof (root numerator and denominator; per GKR layer its round values, 4 per round,
//! and its 4 child values; `f̃` and `m̃`); then the witness batch and the model batch, each its
//! sumcheck's round values, the evaluation and the opening ([`OpeningProof::write_to`]). No
//! lengths but the openings' Merkle sibling counts: every other follows from the verifying key.
//! The total is checked against the least and the most a proof for the key can have before
//! anything is allocated, and no byte may follow the last opening.

use veritas_quant::QuantizedModel;

use super::batch::BatchProof;
use super::bounds::BoundedKey;
use super::layout::{Layout, blocks};
use super::linear::LayerShape;
use super::witness::WitnessLayout;
use super::{LayerProof, ModelProof, VerifyingKey, weighted_layers};
use crate::encoding::{EF_BYTES, Reader, decode, put_ef};
use crate::logup::{self, LookupProof};
use crate::pcs::{Commitment, OpeningProof, PcsParams};
use crate::sumcheck::{CUBIC_ROUND_VALUES, ROUND_VALUES};
use crate::{SumcheckProof, ZkResult};

/// The verifying key encoding's version byte (2: the commitment names its committed prefix).
pub const KEY_VERSION: u8 = 2;
/// The proof encoding's version byte (3: committed requantization remainders, range-checked by lookups).
pub const PROOF_VERSION: u8 = 3;
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
        if (layout.log_len, layout.used) != (commitment.log_len, commitment.len) {
            return Err(decode(format!(
                "commitment to {} of 2^{} values, the architecture needs {} of 2^{}",
                commitment.len, commitment.log_len, layout.used, layout.log_len
            )));
        }
        let key = Self { architecture, commitment, params };
        if key.to_bytes() != bytes {
            return Err(decode("verifying key is not in canonical form".into()));
        }
        Ok(key)
    }
}

/// The shape of an opening: row length, row count, queries, Merkle path length.
type OpeningShape = (usize, usize, usize, usize);

/// The sizes a proof for `key` has, from the key alone.
struct ProofShape {
    activation_lens: Vec<usize>,
    /// Public multiplicities (0 when committed).
    multiplicities: usize,
    /// Per `Linear`/`Conv` layer: sumcheck rounds, bias blocks, weight blocks, limb segments.
    layer_rounds: Vec<(usize, usize, usize, usize)>,
    /// The fraction tree's depth: `max(n, k)`.
    lookup_depth: usize,
    /// `log2` of the length, the committed prefix and the opening's shape.
    witness: (usize, usize, OpeningShape),
    model: (usize, usize, OpeningShape),
}

impl ProofShape {
    fn of(key: &VerifyingKey) -> ZkResult<Self> {
        let model = &key.architecture;
        model.validate_architecture().map_err(|e| decode(format!("architecture: {e}")))?;
        let shapes: Vec<_> = weighted_layers(model).into_iter().map(|(_, _, s)| s).collect();
        Self::with(key, &shapes, &Layout::new(model)?, &WitnessLayout::new(&shapes)?)
    }

    /// The shape given the key's (validated) layer shapes and layouts.
    fn with(key: &VerifyingKey, shapes: &[LayerShape], layout: &Layout, witness: &WitnessLayout) -> ZkResult<Self> {
        let opening = |log_len: usize, len: usize| -> ZkResult<OpeningShape> {
            let pcs = key.params.shape(log_len, len)?;
            Ok((pcs.cols(), pcs.rows(), key.params.num_queries, pcs.log_codeword_len))
        };
        Ok(Self {
            activation_lens: shapes.iter().map(|s| s.rows * s.positions).collect(),
            multiplicities: if witness.multiplicities.is_none() { 1 << witness.limb_bits } else { 0 },
            layer_rounds: shapes
                .iter()
                .zip(&witness.layers)
                .map(|(s, slots)| {
                    let (rows, cols) = (blocks(s.rows).len(), blocks(s.cols).len());
                    let limb_segments = slots.segments.iter().map(Vec::len).sum();
                    (s.col_vars(), rows, rows * cols, limb_segments)
                })
                .collect(),
            lookup_depth: witness.lookup_vars.max(witness.limb_bits),
            witness: (witness.log_len, witness.used, opening(witness.log_len, witness.used)?),
            model: (layout.log_len, layout.used, opening(layout.log_len, layout.used)?),
        })
    }

    /// The least and the most encoded length (they differ only in the openings' Merkle
    /// siblings), `None` on overflow.
    fn encoded_len_range(&self) -> Option<(usize, usize)> {
        let activations = self.activation_lens.iter().sum::<usize>();
        let layer_values: usize = self.layer_rounds.iter().map(|(r, b, w, l)| b + ROUND_VALUES * r + w + l).sum();
        let d = self.lookup_depth;
        let lookup_values = 2 + CUBIC_ROUND_VALUES * d * (d + 1) / 2 + 4 * (d + 1) + 2;
        let batch_values = ROUND_VALUES * (self.witness.0 + self.model.0) + 2;
        let values = layer_values + lookup_values + batch_values;
        let prefix = (1 + crate::encoding::COMMITMENT_BYTES)
            .checked_add(activations)?
            .checked_add(4 * self.multiplicities)?
            .checked_add(values.checked_mul(EF_BYTES)?)?;
        let (mut min, mut max) = (prefix, prefix);
        for (_, _, (cols, rows, queries, path)) in [self.witness, self.model] {
            min = min.checked_add(OpeningProof::min_encoded_len(cols, rows, queries)?)?;
            max = max.checked_add(OpeningProof::max_encoded_len(cols, rows, queries, path)?)?;
        }
        Some((min, max))
    }
}

fn read_rounds(reader: &mut Reader<'_>, rounds: usize, values: usize) -> ZkResult<SumcheckProof> {
    let rounds = (0..rounds)
        .map(|_| (0..values).map(|_| reader.ef("sumcheck round value")).collect())
        .collect::<ZkResult<_>>()?;
    Ok(SumcheckProof { rounds })
}

fn read_efs(reader: &mut Reader<'_>, count: usize, what: &'static str) -> ZkResult<Vec<crate::EF>> {
    (0..count).map(|_| reader.ef(what)).collect()
}

fn put_rounds(out: &mut Vec<u8>, proof: &SumcheckProof) {
    proof.rounds.iter().flatten().for_each(|v| put_ef(out, v));
}

fn put_batch(out: &mut Vec<u8>, batch: &BatchProof) {
    put_rounds(out, &batch.sumcheck);
    put_ef(out, &batch.eval);
    batch.opening.write_to(out);
}

/// Reads a batch of `rounds` variables whose opening has `shape`; returns it and the bytes after.
fn read_batch(bytes: &[u8], rounds: usize, shape: OpeningShape) -> ZkResult<(BatchProof, &[u8])> {
    let mut reader = Reader { bytes, offset: 0 };
    let sumcheck = read_rounds(&mut reader, rounds, ROUND_VALUES)?;
    let eval = reader.ef("batch evaluation")?;
    let mut rest = &bytes[reader.offset..];
    let (cols, rows, queries, path) = shape;
    let opening = OpeningProof::read_from(&mut rest, cols, rows, queries, path)?;
    Ok((BatchProof { sumcheck, eval, opening }, rest))
}

impl ModelProof {
    /// The canonical bytes (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![PROOF_VERSION];
        for tensor in &self.activations {
            out.extend(tensor.iter().map(|&v| v as u8));
        }
        for count in &self.multiplicities {
            out.extend_from_slice(&count.to_le_bytes());
        }
        out.extend_from_slice(&self.witness.to_bytes());
        for layer in &self.layers {
            layer.bias_evals.iter().for_each(|v| put_ef(&mut out, v));
            layer.limb_evals.iter().for_each(|v| put_ef(&mut out, v));
            put_rounds(&mut out, &layer.sumcheck);
            layer.weights_evals.iter().for_each(|v| put_ef(&mut out, v));
        }
        let lookup = &self.lookup;
        put_ef(&mut out, &lookup.root_p);
        put_ef(&mut out, &lookup.root_q);
        for layer in &lookup.layers {
            put_rounds(&mut out, &layer.sumcheck);
            layer.children.iter().for_each(|v| put_ef(&mut out, v));
        }
        put_ef(&mut out, &lookup.f_eval);
        put_ef(&mut out, &lookup.m_eval);
        put_batch(&mut out, &self.witness_batch);
        put_batch(&mut out, &self.model_batch);
        out
    }

    /// Decodes a proof for `key`, every length taken from the key; anything but exactly the
    /// canonical bytes of a proof of that shape is an error. A decoded proof must still verify.
    pub fn from_bytes(bytes: &[u8], key: &VerifyingKey) -> ZkResult<Self> {
        Self::decode(bytes, &ProofShape::of(key)?)
    }

    fn decode(bytes: &[u8], shape: &ProofShape) -> ZkResult<Self> {
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
        let mut activations = Vec::with_capacity(shape.activation_lens.len());
        for &len in &shape.activation_lens {
            activations.push(reader.take(len, "layer outputs")?.iter().map(|&b| b as i8).collect());
        }
        let multiplicities = reader
            .take(4 * shape.multiplicities, "multiplicities")?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("OK: 4 bytes")))
            .collect();
        let witness = Commitment::from_bytes(reader.take(crate::encoding::COMMITMENT_BYTES, "witness commitment")?)?;
        if witness.log_len != shape.witness.0 {
            return Err(decode(format!(
                "witness commitment to 2^{} values, expected 2^{}",
                witness.log_len, shape.witness.0
            )));
        }
        let mut layers = Vec::with_capacity(shape.layer_rounds.len());
        for &(rounds, bias_blocks, weight_blocks, limb_segments) in &shape.layer_rounds {
            let bias_evals = read_efs(&mut reader, bias_blocks, "bias evaluation")?;
            let limb_evals = read_efs(&mut reader, limb_segments, "limb evaluation")?;
            let sumcheck = read_rounds(&mut reader, rounds, ROUND_VALUES)?;
            let weights_evals = read_efs(&mut reader, weight_blocks, "weights evaluation")?;
            layers.push(LayerProof { bias_evals, limb_evals, sumcheck, weights_evals });
        }
        let (root_p, root_q) = (reader.ef("lookup root")?, reader.ef("lookup root")?);
        let mut lookup_layers = Vec::with_capacity(shape.lookup_depth + 1);
        for depth in 0..=shape.lookup_depth {
            let sumcheck = read_rounds(&mut reader, depth, CUBIC_ROUND_VALUES)?;
            let children =
                [reader.ef("gkr child")?, reader.ef("gkr child")?, reader.ef("gkr child")?, reader.ef("gkr child")?];
            lookup_layers.push(logup::LayerProof { sumcheck, children });
        }
        let (f_eval, m_eval) = (reader.ef("lookup evaluation")?, reader.ef("lookup evaluation")?);
        let lookup = LookupProof { root_p, root_q, layers: lookup_layers, f_eval, m_eval };
        let (witness_batch, rest) = read_batch(&bytes[reader.offset..], shape.witness.0, shape.witness.2)?;
        let (model_batch, rest) = read_batch(rest, shape.model.0, shape.model.2)?;
        if !rest.is_empty() {
            return Err(decode(format!("{} trailing bytes", rest.len())));
        }
        Ok(Self { activations, multiplicities, witness, layers, lookup, witness_batch, model_batch })
    }
}

impl BoundedKey<'_> {
    /// [`ModelProof::from_bytes`] for this key, with the layouts its bounds were checked on.
    pub fn decode_proof(&self, bytes: &[u8]) -> ZkResult<ModelProof> {
        let shapes: Vec<_> = weighted_layers(&self.key.architecture).into_iter().map(|(_, _, s)| s).collect();
        ModelProof::decode(bytes, &ProofShape::with(self.key, &shapes, &self.layout, &self.witness)?)
    }
}
