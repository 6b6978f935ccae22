//! `zk` claims: the proof that the quantized network of the claimed model maps the claimed input
//! to the claimed output (docs/zk.md).
//!
//! A `zk` claim's receipt carries one piece of evidence of kind [`EVIDENCE_KIND`], whose data is
//! the SHA-256 of the proof's bytes; the body carries the proof, the manifest (whose `zk` entry
//! holds the verifying key, so the model id binds it) and the input and output. The statement's
//! int8 input is the claimed float input quantized by the architecture's input scale; its int8
//! output must dequantize to exactly the claimed float output.
//!
//! The key is checked against [`Bounds::DEFAULT`] before the proof is read: a manifest naming an
//! architecture whose verification would take more work or memory than the budget, or
//! parameters below 100 bits of proven soundness, is refused in time linear in the key's size.

use sha2::{Digest, Sha256};
use veritas_primitives::{Tensor, TensorData, Value, Values, hex};
use veritas_quant::QuantizedModel;
use veritas_zk::model::{Bounds, VerifyingKey};

use crate::{Check, VerifyError, VerifyResult};

/// The evidence kind of a `zk` claim: its data is the proof's SHA-256.
pub const EVIDENCE_KIND: &str = "zk-model";
/// The name of a quantized model's one output (its input keeps the ONNX graph input's name,
/// `QuantizedModel::input_name`).
pub const OUTPUT_NAME: &str = "output";

/// What a verified `zk` proof shows, in plain words.
pub const PROVEN: &str = "the int8 network that the model commitment binds, run by the integer executor, maps this \
     input (quantized by the network's input scale) to this output (dequantized); its Linear and Conv layers are \
     proven, and pooling, Add and ReLU layers are recomputed by the verifier from the proven layer outputs";

/// What a `zk` proof reveals beyond the input, the output and the model commitment, in plain
/// words: today's proofs are not zero-knowledge (docs/zk.md, "Limits").
pub const REVEALS: &str = "not zero-knowledge: the proof carries every Linear and Conv layer's int8 output, and its \
     openings give linear combinations of the weights, from which about a dozen proofs solve for all of them";

/// What a verified proof shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkReport {
    /// The model commitment: SHA-256 of the verifying key, hex.
    pub commitment: String,
    /// The proof's proven soundness, in whole bits (from the commitment's parameters).
    pub security_bits: u32,
    /// The proof's size in bytes.
    pub proof_bytes: usize,
    /// The network's layers.
    pub layers: usize,
}

fn evidence_error(reason: impl Into<String>) -> VerifyError {
    VerifyError::ZkEvidence(reason.into())
}

/// The verifying key of a manifest's `zk` entry (the JSON the model id hashes), checked against
/// the entry's commitment.
pub fn verifying_key(manifest: &serde_json::Value) -> VerifyResult<(VerifyingKey, String)> {
    let entry = manifest.get("zk").ok_or_else(|| evidence_error("the model's manifest has no zk entry"))?;
    let text = |field: &str| {
        entry
            .get(field)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| evidence_error(format!("zk entry without {field}")))
    };
    let bytes = hex::decode(text("verifying_key")?).map_err(|e| evidence_error(format!("verifying key hex: {e}")))?;
    let commitment = hex::encode(Sha256::digest(&bytes));
    if commitment != text("commitment")? {
        return Err(evidence_error("the verifying key does not hash to the manifest's commitment"));
    }
    let key = VerifyingKey::from_bytes(&bytes).map_err(VerifyError::Zk)?;
    Ok((key, commitment))
}

/// The statement's int8 input: the model's one float32 input tensor in `values`, quantized.
pub fn quantized_input(architecture: &QuantizedModel, values: &Values) -> VerifyResult<Vec<i8>> {
    let expected = architecture.input_len();
    let name = &architecture.input_name;
    match values.get(name) {
        Some(Value::Tensor(Tensor { data: TensorData::Float32(data), .. })) if data.len() == expected => {
            Ok(architecture.quantize_input(data))
        }
        _ => Err(evidence_error(format!("the input must be one float32 tensor {name:?} of {expected} values"))),
    }
}

/// The claimed output of an int8 result: `output`, float32, shape `[1, n]`, dequantized.
pub fn dequantized_output(architecture: &QuantizedModel, output: &[i8]) -> Values {
    let data = architecture.dequantize_output(output);
    let tensor = Tensor { shape: vec![1, data.len() as u64], data: TensorData::Float32(data) };
    Values::from([(OUTPUT_NAME.to_owned(), Value::Tensor(tensor))])
}

/// Checks a receipt's `zk` evidence: none on a claim of another mode; on a `zk` claim exactly
/// one, naming the proof in the body, which must verify against the manifest's key for the
/// claimed input and output.
pub(crate) fn check(receipt: &veritas_primitives::Receipt, checks: &mut Vec<Check>) -> VerifyResult<Option<ZkReport>> {
    let mut found = receipt.evidence.iter().filter(|e| e.kind == EVIDENCE_KIND);
    if receipt.claim.mode != veritas_primitives::Mode::Zk {
        return match found.next() {
            Some(_) => Err(evidence_error(format!(
                "zk evidence on a claim of mode {}; only zk claims carry it",
                receipt.claim.mode
            ))),
            None => Ok(None),
        };
    }
    let evidence = match (found.next(), found.next()) {
        (Some(evidence), None) => evidence,
        (None, _) => return Err(evidence_error("a zk claim without zk evidence")),
        (Some(_), Some(_)) => return Err(evidence_error("more than one piece of zk evidence")),
    };
    if evidence.data.len() != 32 {
        return Err(evidence_error(format!("zk evidence of {} bytes, a SHA-256 has 32", evidence.data.len())));
    }
    let body = &receipt.body;
    let proof_bytes = body.zk_proof.as_ref().ok_or_else(|| {
        evidence_error(format!("the proof is not in the receipt (hub blob {})", hex::encode(&evidence.data)))
    })?;
    if Sha256::digest(proof_bytes)[..] != evidence.data[..] {
        return Err(evidence_error("the receipt's proof does not hash to its evidence"));
    }
    let manifest =
        body.manifest.as_ref().ok_or_else(|| evidence_error("a zk receipt must carry the model's manifest"))?;
    let (key, commitment) = verifying_key(manifest)?;
    let bounded = key.bounded(&Bounds::DEFAULT).map_err(VerifyError::Zk)?;
    let (Some(input), Some(output)) = (&body.input, &body.output) else {
        return Err(evidence_error("a zk receipt must carry its input and output"));
    };
    let input = quantized_input(&key.architecture, input)?;
    let proof = bounded.decode_proof(proof_bytes).map_err(VerifyError::Zk)?;
    let proven = bounded.verify_output(&input, &proof).map_err(VerifyError::Zk)?;
    if dequantized_output(&key.architecture, &proven) != *output {
        return Err(evidence_error("the claimed output is not the proven int8 output dequantized"));
    }
    let report = ZkReport {
        commitment,
        security_bits: bounded.security_bits().floor() as u32,
        proof_bytes: proof_bytes.len(),
        layers: key.architecture.layers.len(),
    };
    checks.push(Check {
        name: "zk",
        detail: format!(
            "the proof holds: model commitment {} ({} layers), {} bytes, {} bits of proven soundness",
            report.commitment, report.layers, report.proof_bytes, report.security_bits
        ),
        performed: true,
    });
    Ok(Some(report))
}
