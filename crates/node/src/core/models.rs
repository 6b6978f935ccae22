//! The node's models: uploads inspected and committed to the hub (and listed in the model
//! registry), lookups, and models this node's hub lacks fetched by id from the hub it was
//! pointed at (`--hub-url`, a gateway's API), the bytes digest-checked against the id.

use std::collections::BTreeMap;

use alloy_primitives::{Address, U256};
use veritas_chain::{Chain, ChainError, contracts::ModelRegistry};
use veritas_hub::{HubError, ModelFormat, ModelVersion, PushOutcome, PushSpec, Staged, Stager, Tolerance};
use veritas_primitives::ModelId;
use veritas_runtime::inspect_onnx;

use super::Core;
use crate::{NodeError, NodeResult};

/// What to push.
pub struct PushRequest {
    /// The repository name.
    pub name: String,
    /// The uploaded bytes.
    pub staged: Staged,
    /// The declared format.
    pub format: ModelFormat,
}

impl Core {
    /// Publishes a model version in the model registry from the worker key at the node's
    /// default price, unless it is listed already.
    async fn publish(&self, version: &ModelVersion) -> NodeResult<()> {
        let Some(link) = &self.chain else { return Ok(()) };
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
            pricePerRequest: self.default_fee,
            pricePerToken: U256::ZERO,
        };
        match link.chain.send_call(&self.key, link.contracts.models, call, link.confirmations).await {
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
        self.push_model_as(request, tolerance, None).await
    }

    /// [`Node::push_model_with_tolerance`] by a publisher (an operator whose signature the API
    /// checked): the first publisher of a name owns it, and a push by another is refused
    /// ([`veritas_hub::HubError::NotOwner`]). `None`: the node's own push, which claims nothing.
    pub async fn push_model_as(
        &self,
        request: PushRequest,
        tolerance: Option<Tolerance>,
        publisher: Option<Address>,
    ) -> NodeResult<PushOutcome> {
        if let Some(owner) = self.hub.owner(&request.name)?
            && publisher.is_some_and(|publisher| publisher != owner)
        {
            return Err(veritas_hub::HubError::NotOwner { name: request.name, owner }.into());
        }
        veritas_hub::validate_name(&request.name)?;
        veritas_hub::validate_tolerance(request.format, tolerance.as_ref())?;
        let (mut zk, mut proving_key) = (None, None);
        let inspection = match request.format {
            ModelFormat::Quantized => {
                let path = request.staged.path().to_owned();
                let inspected =
                    tokio::task::spawn_blocking(move || super::quantized::inspect(&std::fs::read(path)?)).await??;
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
                let info = tokio::task::spawn_blocking(move || super::inspect_gguf(&path)).await??;
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
                // A sentence-embedding model takes texts and gives one vector each.
                let mut schema = veritas_primitives::Schema::default();
                if let Some(pooling) = info.pooling {
                    metadata.insert("pooling".to_owned(), pooling);
                    let spec = |name: &str, dtype: &str, shape: Vec<Option<u64>>| veritas_primitives::TensorSpec {
                        name: name.into(),
                        dtype: dtype.into(),
                        shape,
                    };
                    schema.inputs.push(spec("input", "string", vec![None]));
                    schema.outputs.push(spec("embeddings", "float32", vec![None, info.embedding_length]));
                }
                veritas_runtime::Inspection { schema, metadata }
            }
        };
        let spec = PushSpec {
            format: request.format,
            schema: inspection.schema,
            metadata: inspection.metadata,
            tolerance,
            zk,
            owner: publisher,
        };
        let outcome = self.hub.push(&request.name, request.staged, spec).await?;
        if let Some(key) = proving_key {
            self.engines.proving_keys.insert(outcome.version.id, std::sync::Arc::new(key));
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

    /// The publisher that owns a model name, if a publisher pushed it.
    pub fn model_owner(&self, name: &str) -> NodeResult<Option<Address>> {
        Ok(self.hub.owner(name)?)
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

    /// The file of a version as a stream of chunks, digest-checked as they pass
    /// ([`veritas_hub::ModelStore::stream`]): a download never holds the file in memory.
    pub async fn model_stream(&self, reference: &str) -> NodeResult<(ModelVersion, veritas_hub::FileStream)> {
        let version = self.hub.resolve(reference).await?;
        let (_, stream) = self.hub.stream(&version.id).await?;
        Ok((version, stream))
    }

    /// A model version by reference; a model id this node's hub lacks is fetched from the
    /// configured hub (`hub_url`) and must hash to the id.
    pub async fn resolve_model(&self, reference: &str) -> NodeResult<ModelVersion> {
        match self.hub.resolve(reference).await {
            Err(HubError::UnknownModel(_)) if self.hub_url.is_some() => {
                let id: ModelId = reference.parse().map_err(|_| HubError::UnknownModel(reference.to_owned()))?;
                self.model_by_id(&id).await
            }
            other => Ok(other?),
        }
    }

    /// A model version by id, fetched from the configured hub if this node's lacks it.
    pub async fn model_by_id(&self, id: &ModelId) -> NodeResult<ModelVersion> {
        if let Ok(version) = self.hub.resolve(&id.to_string()).await {
            return Ok(version);
        }
        let Some(hub) = &self.hub_url else {
            return Err(NodeError::Hub(HubError::UnknownModel(format!(
                "{id} (not in this node's hub, and no --hub-url)"
            ))));
        };
        let _one = self.fetching.lock().await;
        if let Ok(version) = self.hub.resolve(&id.to_string()).await {
            return Ok(version);
        }
        tracing::info!(model = %id, hub, "fetching a model");
        let mut upload = self.hub.stager().begin()?;
        let remote = self.peers.model(hub, id, &mut upload).await?;
        let staged = upload.finish().await?;
        let manifest = remote.manifest;
        // A quantized model's verifying key must commit to the file fetched (the file's digest
        // alone does not bind the key): checked before anything is stored.
        let proving_key = match (&manifest.format, &manifest.zk) {
            (ModelFormat::Quantized, Some(published)) => {
                let (path, published) = (staged.path().to_owned(), published.clone());
                let key = tokio::task::spawn_blocking(move || {
                    super::quantized::checked_key(&std::fs::read(path)?, &published)
                })
                .await?
                .map_err(|err| match err {
                    NodeError::BadQuantized(reason) => {
                        NodeError::BadQuantized(format!("model {id} from {hub}: {reason}"))
                    }
                    other => other,
                })?;
                Some(key)
            }
            (ModelFormat::Quantized, None) => {
                return Err(NodeError::BadQuantized(format!(
                    "model {id} from {hub}: a quantized model without a zk entry"
                )));
            }
            _ => None,
        };
        let spec = PushSpec {
            format: manifest.format,
            schema: manifest.schema,
            metadata: manifest.metadata,
            tolerance: manifest.tolerance,
            zk: manifest.zk,
            owner: None,
        };
        let outcome = self.hub.push(&remote.name, staged, spec).await?;
        if outcome.version.id != *id {
            return Err(NodeError::HubMismatch { hub: hub.clone(), got: outcome.version.id, expected: *id });
        }
        if let Some(key) = proving_key {
            self.engines.proving_keys.insert(*id, std::sync::Arc::new(key));
        }
        Ok(outcome.version)
    }

    /// Another ONNX model than `model` with the same inputs, from this node's hub or the one it
    /// fetches from (the `other-model` test fault).
    pub(crate) async fn other_model(&self, model: &ModelVersion) -> NodeResult<ModelVersion> {
        let same_inputs = |v: &ModelVersion| {
            v.id != model.id
                && v.manifest.format == ModelFormat::Onnx
                && v.manifest.schema.inputs == model.manifest.schema.inputs
        };
        let mut candidates: Vec<ModelVersion> = self.hub.list().await?.into_iter().filter(same_inputs).collect();
        if candidates.is_empty()
            && let Some(hub) = &self.hub_url
        {
            for id in self.peers.model_ids(hub).await? {
                if id != model.id
                    && let Ok(version) = self.model_by_id(&id).await
                    && same_inputs(&version)
                {
                    candidates.push(version);
                    break;
                }
            }
        }
        candidates
            .into_iter()
            .next()
            .ok_or_else(|| NodeError::Fault("other-model: no other model takes the same inputs".into()))
    }
}
