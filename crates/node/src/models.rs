//! The node's models: uploads inspected and committed to the hub (and listed in the model
//! registry), and lookups.

use std::collections::BTreeMap;

use alloy_primitives::U256;
use veritas_chain::{Chain, ChainError, contracts::ModelRegistry};
use veritas_hub::{ModelFormat, ModelVersion, PushOutcome, PushSpec, Stager, Tolerance};
use veritas_runtime::inspect_onnx;

use crate::{Node, NodeResult, PushRequest};

impl Node {
    /// Publishes a model version in the model registry from the worker key at the node's
    /// default price, unless it is listed already.
    async fn publish(&self, version: &ModelVersion) -> NodeResult<()> {
        let Some(settlement) = &self.settlement else { return Ok(()) };
        let call = ModelRegistry::publishCall {
            modelId: version.id.digest(),
            name: version.name.clone(),
            // A quantized model's commitment, so that contracts and auditors read it on chain.
            metadataUri: version
                .manifest
                .zk
                .as_ref()
                .map(|zk| format!("veritas:zk:sha256:{}", zk.commitment))
                .unwrap_or_default(),
            pricePerRequest: settlement.default_fee,
            pricePerToken: U256::ZERO,
        };
        let confirmations = settlement.batcher.confirmations;
        match settlement
            .batcher
            .chain
            .send_call(&self.key, settlement.batcher.contracts.models, call, confirmations)
            .await
        {
            Ok(_) => Ok(()),
            Err(ChainError::Reverted { reason, .. }) if reason.contains("AlreadyPublished") => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Where uploads are staged, with the size limit.
    pub fn stager(&self) -> &Stager {
        self.hub.stager()
    }

    /// Inspects an upload and commits it as a model version. Anything the runtime cannot load
    /// is refused here, not at inference. Re-executions of its claims must be exact.
    pub async fn push_model(&self, request: PushRequest) -> NodeResult<PushOutcome> {
        self.push_model_with_tolerance(request, None).await
    }

    /// [`Node::push_model`], declaring how far a validator's re-executed float outputs may be
    /// from the claimed ones (ONNX only; `None`: exact). The tolerance goes into the manifest, so
    /// it is part of the model id and every claim signs it.
    pub async fn push_model_with_tolerance(
        &self,
        request: PushRequest,
        tolerance: Option<Tolerance>,
    ) -> NodeResult<PushOutcome> {
        veritas_hub::validate_name(&request.name)?;
        veritas_hub::validate_tolerance(request.format, tolerance.as_ref())?;
        let (mut zk, mut proving_key) = (None, None);
        let inspection = match request.format {
            ModelFormat::Quantized => {
                let path = request.staged.path().to_owned();
                let inspected =
                    tokio::task::spawn_blocking(move || crate::zk::inspect(&std::fs::read(path)?)).await??;
                (zk, proving_key) = (Some(inspected.entry), Some(inspected.key));
                veritas_runtime::Inspection { schema: inspected.schema, metadata: inspected.metadata }
            }
            ModelFormat::Onnx => {
                let path = request.staged.path().to_owned();
                tokio::task::spawn_blocking(move || -> NodeResult<_> {
                    let bytes = std::fs::read(path)?;
                    Ok(inspect_onnx(&bytes)?)
                })
                .await??
            }
            ModelFormat::Gguf => {
                // A language model: its header is read and llama.cpp must know its architecture.
                let path = request.staged.path().to_owned();
                let info = tokio::task::spawn_blocking(move || veritas_llm::inspect_gguf(&path)).await??;
                let mut metadata = BTreeMap::from([
                    ("architecture".to_owned(), info.architecture),
                    ("tensors".to_owned(), info.tensors.to_string()),
                    ("chat_template".to_owned(), if info.chat_template.is_some() { "gguf" } else { "none" }.to_owned()),
                ]);
                if let Some(name) = info.name {
                    metadata.insert("name".to_owned(), name);
                }
                if let Some(context) = info.context_length {
                    metadata.insert("context_length".to_owned(), context.to_string());
                }
                veritas_runtime::Inspection { schema: Default::default(), metadata }
            }
        };
        let spec = PushSpec {
            format: request.format,
            schema: inspection.schema,
            metadata: inspection.metadata,
            tolerance,
            zk,
        };
        let outcome = self.hub.push(&request.name, request.staged, spec).await?;
        if let Some(key) = proving_key {
            self.proving_keys.insert(outcome.version.id, std::sync::Arc::new(key));
        }
        if outcome.created {
            self.metrics.models_pushed.inc();
        }
        if let Err(err) = self.publish(&outcome.version).await {
            tracing::warn!(%err, model = %outcome.version.id, "not listed in the model registry; the default price applies");
        }
        Ok(outcome)
    }

    /// Every model with its latest version.
    pub async fn models(&self) -> NodeResult<Vec<ModelVersion>> {
        Ok(self.hub.list().await?)
    }

    /// Every version of a model name.
    pub async fn model_versions(&self, name: &str) -> NodeResult<Vec<ModelVersion>> {
        Ok(self.hub.versions(name).await?)
    }

    /// One model version by reference.
    pub async fn model(&self, reference: &str) -> NodeResult<ModelVersion> {
        Ok(self.hub.resolve(reference).await?)
    }

    /// A `zk` claim's proof from the hub, by its SHA-256 (lowercase hex), digest-checked.
    pub async fn proof(&self, sha256: &str) -> NodeResult<Vec<u8>> {
        Ok(self.hub.blob(sha256).await?)
    }

    /// The bytes of a model version, digest-checked.
    pub async fn model_bytes(&self, reference: &str) -> NodeResult<(ModelVersion, Vec<u8>)> {
        let version = self.hub.resolve(reference).await?;
        let (_, bytes) = self.hub.load(&version.id).await?;
        Ok((version, bytes))
    }
}
