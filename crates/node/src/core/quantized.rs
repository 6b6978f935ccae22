//! Quantized models (docs/zk.md): their inspection at push (schema and verifying key), their
//! proving keys (the commitment to the parameters, made once per model version and cached), and
//! their runs by the bit-exact integer executor, with a proof in `zk` mode.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use veritas_hub::{ModelVersion, ZkEntry};
use veritas_primitives::{ModelId, Schema, TensorSpec, Values, hex};
use veritas_quant::QuantizedModel;
use veritas_verifier::zk::{OUTPUT_NAME, dequantized_output, quantized_input};
use veritas_zk::model::{Bounds, ProvingKey, VerifyingKey, prove};
use veritas_zk::pcs::PcsParams;

use super::Core;
use crate::{NodeError, NodeResult};

/// The proving keys made so far, by model id.
#[derive(Default)]
pub(crate) struct ProvingKeys {
    keys: Mutex<HashMap<ModelId, Arc<ProvingKey>>>,
}

fn bad_model(reason: impl std::fmt::Display) -> NodeError {
    NodeError::BadQuantized(reason.to_string())
}

/// Parses and validates a quantized model file (`veritas-quant`'s JSON).
pub(crate) fn parse(bytes: &[u8]) -> NodeResult<QuantizedModel> {
    let model: QuantizedModel = serde_json::from_slice(bytes).map_err(bad_model)?;
    model.validate().map_err(bad_model)?;
    Ok(model)
}

/// What a pushed quantized model gives: its schema and facts, the manifest's `zk` entry, and the
/// proving key made on the way (kept, so the first `zk` request does not commit again).
pub(crate) struct Inspected {
    pub schema: Schema,
    pub metadata: BTreeMap<String, String>,
    pub entry: ZkEntry,
    pub key: ProvingKey,
}

/// Inspects a quantized model file (blocking: commits to every parameter). A model whose
/// proofs verifiers would refuse (its key outside [`Bounds::DEFAULT`]: too much work or memory
/// to verify) is refused here, before it is published.
pub(crate) fn inspect(bytes: &[u8]) -> NodeResult<Inspected> {
    let model = parse(bytes)?;
    let key = ProvingKey::new(&model, PcsParams::DEFAULT).map_err(bad_model)?;
    let vk = key.verifying_key();
    let bounded = vk.bounded(&Bounds::DEFAULT).map_err(|e| bad_model(format!("zk verification: {e}")))?;
    let vk_bytes = vk.to_bytes();
    let dims = |shape: &[usize]| std::iter::once(Some(1)).chain(shape.iter().map(|&d| Some(d as u64))).collect();
    let output_len = model.output_len();
    let schema = Schema {
        inputs: vec![TensorSpec {
            name: model.input_name.clone(),
            dtype: "float32".into(),
            shape: dims(&model.input_shape),
        }],
        outputs: vec![TensorSpec { name: OUTPUT_NAME.into(), dtype: "float32".into(), shape: dims(&[output_len]) }],
    };
    let metadata = BTreeMap::from([
        ("layers".to_owned(), model.layers.len().to_string()),
        ("committed_parameters_log2".to_owned(), vk.commitment.log_len.to_string()),
    ]);
    let entry = ZkEntry {
        verifying_key: hex::encode(&vk_bytes),
        commitment: hex::encode(Sha256::digest(&vk_bytes)),
        security_bits: bounded.security_bits().floor() as u32,
    };
    Ok(Inspected { schema, metadata, entry, key })
}

/// What a quantized run gives: the outputs, and in `zk` mode the proof's bytes.
pub(crate) struct QuantRun {
    pub outputs: Values,
    pub proof: Option<Vec<u8>>,
}

/// Runs a quantized model on checked inputs (blocking), proving the run when `zk`.
pub(crate) fn run(key: &ProvingKey, inputs: &Values, zk: bool) -> NodeResult<QuantRun> {
    let model = key.model();
    let input = quantized_input(model, inputs).map_err(bad_model)?;
    if !zk {
        let output = model.run(&input).map_err(bad_model)?;
        return Ok(QuantRun { outputs: dequantized_output(model, &output), proof: None });
    }
    let (output, proof) = prove(key, &input).map_err(|e| bad_model(format!("proving: {e}")))?;
    Ok(QuantRun { outputs: dequantized_output(model, &output), proof: Some(proof.to_bytes()) })
}

/// The proving key of a quantized model file, checked against the `zk` entry its manifest
/// publishes (blocking: commits to every parameter). Every node that loads a quantized model
/// checks it, whether pushed to it or fetched from another hub: a manifest whose verifying key
/// commits to other parameters than its file (proofs about one network, re-execution of
/// another) is refused.
pub(crate) fn checked_key(bytes: &[u8], published: &ZkEntry) -> NodeResult<ProvingKey> {
    let vk_bytes = hex::decode(&published.verifying_key).map_err(bad_model)?;
    if hex::encode(Sha256::digest(&vk_bytes)) != published.commitment {
        return Err(bad_model("the manifest's verifying key does not hash to its commitment"));
    }
    let params = VerifyingKey::from_bytes(&vk_bytes).map_err(bad_model)?.params;
    let key = ProvingKey::new(&parse(bytes)?, params).map_err(bad_model)?;
    if key.verifying_key().to_bytes() != vk_bytes {
        return Err(bad_model(
            "the manifest's verifying key does not commit to this file's parameters (or names another architecture)",
        ));
    }
    Ok(key)
}

impl ProvingKeys {
    /// Keeps `key` as the proving key of `id`.
    pub(crate) fn insert(&self, id: ModelId, key: Arc<ProvingKey>) {
        self.keys.lock().unwrap_or_else(|e| e.into_inner()).insert(id, key);
    }
}

impl Core {
    /// The proving key of a quantized model version: made from the hub's (digest-checked) file
    /// on first use, and checked against the verifying key its manifest publishes.
    pub(crate) async fn proving_key(&self, version: &ModelVersion) -> NodeResult<Arc<ProvingKey>> {
        let keys = &self.engines.proving_keys;
        if let Some(key) = keys.keys.lock().unwrap_or_else(|e| e.into_inner()).get(&version.id) {
            return Ok(key.clone());
        }
        let published = version.manifest.zk.clone().ok_or_else(|| bad_model("the manifest has no zk entry"))?;
        let (_, bytes) = self.hub.load(&version.id).await?;
        let key = tokio::task::spawn_blocking(move || checked_key(&bytes, &published)).await??;
        let key = Arc::new(key);
        keys.insert(version.id, key.clone());
        tracing::info!(model = %version.name, version = version.version, id = %version.id, "proving key ready");
        Ok(key)
    }
}
