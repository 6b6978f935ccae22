//! The worker: an inference node's service. It runs models (ONNX Runtime, the quantized
//! executor with a proof in `zk` mode, language models on llama.cpp), attests `tee` claims with
//! its enclave, signs each claim with the node key and logs the receipt before it answers. A
//! standalone node's gateway hands it paid requests directly; an inference node serves its
//! gateways over HTTP and only records what it signed (the gateway queues and charges it).

mod chat;
mod confidential;
pub(crate) mod enclave;
mod faults;

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use veritas_hub::{ModelFormat, ModelVersion};
use veritas_primitives::{B256, Mode, Params, Values};
use veritas_runtime::parse_inputs;
use veritas_wire::{InferRequest, InferResponse};

pub use chat::{ChatJob, ChatResponse, ENGINE, completion_id};
pub use enclave::{EnclaveError, SIMULATED_WARNING, TeeBackend, parse_nonce, simulated_measurement};

use crate::{
    Fault, NodeConfig, NodeError, NodeResult,
    claims::{Answer, Queue, sign_and_log},
    core::{Core, now_seconds},
    protocol::check_zk_format,
};

/// A checked request to run a model: the version, its parsed inputs and what the claim asks.
pub(crate) struct Job {
    pub model: ModelVersion,
    pub inputs: Values,
    pub mode: Mode,
    /// The request id to claim; a fresh one when `None`.
    pub request_id: Option<B256>,
    /// A `tee` request's nonce, hex.
    pub nonce: Option<String>,
    /// A confidential request: the inputs sealed to this node's enclave (then `inputs` is empty).
    pub sealed: Option<veritas_wire::SealedRequest>,
}

impl Job {
    /// The job a request asks for, once admitted.
    fn of(request: &InferRequest, model: ModelVersion, inputs: Values, mode: Mode) -> Job {
        Job {
            model,
            inputs,
            mode,
            request_id: request.request_id,
            nonce: request.nonce.clone(),
            sealed: request.sealed.clone(),
        }
    }
}

/// An inference node's service.
pub struct Worker {
    core: Arc<Core>,
    /// The enclave this node attests `tee` claims with.
    enclave: Option<enclave::Enclave>,
    /// The enclave's key for confidential requests (with the enclave only).
    sealing_key: Option<Arc<veritas_verifier::confidential::EnclaveKey>>,
    /// A deliberate lie (byzantine tests).
    fault: Option<Fault>,
    /// Generations that may run at once; the others wait their turn, in order, so that memory
    /// (a context and its KV cache each) stays bounded, and past `max_queue` waiting are
    /// refused (503).
    generations: crate::core::lane::Lane,
}

impl Worker {
    pub(crate) fn open(core: Arc<Core>, config: &NodeConfig) -> NodeResult<Worker> {
        let enclave = config.tee.map(enclave::Enclave::open).transpose()?;
        let sealing_key = enclave.as_ref().map(|_| Arc::new(enclave::sealing_key()));
        let generations = config.max_generations.unwrap_or(crate::core::engines::DEFAULT_GENERATIONS).max(1);
        Ok(Worker {
            core,
            enclave,
            sealing_key,
            fault: config.fault.filter(|f| f.is_worker_fault()),
            generations: crate::core::lane::Lane::new("chat", generations, config.max_queue),
        })
    }

    /// Runs a model for a gateway (`POST /v1/infer` on an inference node), signs the claim and
    /// records the receipt before returning it; the gateway queues and charges it.
    pub async fn infer(&self, request: InferRequest) -> NodeResult<InferResponse> {
        let started = Instant::now();
        let model = request.model.clone();
        let result = async {
            let job = self.core.admit_infer(&request).await?;
            self.run(job, Queue::Record).await
        }
        .await;
        self.core.metrics.observe_inference(&model, started, result.is_ok());
        result
    }

    /// What a claim of `mode` will be attested with: nothing unless it is `tee`, then this
    /// node's enclave and the request's nonce (checked here, before anything runs).
    pub(crate) fn attester(&self, mode: Mode, nonce: Option<&str>) -> NodeResult<Option<enclave::Attest>> {
        if mode != Mode::Tee {
            return Ok(None);
        }
        let enclave = self.enclave.clone().ok_or(NodeError::UnsupportedMode {
            mode,
            available: "signed, reexec (this node runs in no enclave: start it with --tee)",
        })?;
        let nonce = nonce.map(parse_nonce).transpose()?.unwrap_or_default();
        Ok(Some(enclave::Attest { enclave, nonce }))
    }

    /// Runs a checked request, signs the claim and logs the receipt as `queue` says; a
    /// confidential one is opened here, in the enclave, and its answer sealed.
    pub(crate) async fn run(&self, job: Job, queue: Queue) -> NodeResult<InferResponse> {
        let started = Instant::now();
        let Job { model, inputs, mode, request_id, nonce, sealed } = job;
        let core = &self.core;
        let (inputs, attest, sealer) = match &sealed {
            None => (inputs, self.attester(mode, nonce.as_deref())?, None),
            Some(sealed) => {
                let opened = self.open_sealed(sealed, &model.id)?;
                let inputs = parse_inputs(&model.manifest.schema, &opened.input).map_err(|_| {
                    NodeError::Confidential(format!(
                        "the sealed inputs do not fit model {}'s schema (the details would show them to the gateway: \
                         check them against GET /v1/models/{})",
                        model.id, model.name
                    ))
                })?;
                (inputs, Some(opened.attest), Some(opened.sealer))
            }
        };
        let quantized = if model.manifest.format == ModelFormat::Quantized {
            let run = core.run_quantized(&model, inputs.clone(), mode == Mode::Zk).await?;
            // The proof is in the hub before the receipt that names it leaves.
            if let Some(proof) = &run.proof {
                core.hub.put_blob(proof.clone()).await?;
            }
            Some(run)
        } else {
            None
        };
        // A sentence-embedding model (GGUF) embeds its texts: outputs computed here.
        let embedded =
            if model.manifest.format == ModelFormat::Gguf { Some(core.embed(&model, &inputs).await?) } else { None };
        let faulty = if self.fault.is_some() && quantized.is_none() && embedded.is_none() {
            self.faulty_onnx(&model, &inputs).await?
        } else {
            None
        };
        if faulty.is_none() && quantized.is_none() && embedded.is_none() {
            core.load_onnx(&model).await?;
        }
        // Inference, hashing, signing and the durable log write are blocking work: one hop to
        // the blocking pool for all of them. The inference holds one of the lane's places
        // (one per core, a bounded queue: 503 past it); the signing and the log do not.
        let place = if quantized.is_none() && faulty.is_none() && embedded.is_none() {
            Some(core.engines.inference.enter().await?)
        } else {
            None
        };
        let runtime = core.engines.onnx.clone();
        let signer = core.signer();
        let timestamp = now_seconds();
        let manifest_json = model.manifest.to_json();
        let (model_id, model_name, model_version) = (model.id, model.name.clone(), model.version);
        let (receipt, sealed) = tokio::task::spawn_blocking(move || -> NodeResult<_> {
            let mut params = Params(BTreeMap::new());
            let (outputs, zk_proof) = match (quantized, faulty, embedded) {
                (Some(run), _, _) => (run.outputs, run.proof),
                (None, Some(outputs), _) => (outputs, None),
                (None, None, Some((outputs, facts))) => {
                    params = facts;
                    (outputs, None)
                }
                (None, None, None) => (runtime.run(&model_id, &inputs)?, None),
            };
            drop(place);
            let (params, commitments, sealed) = match &sealer {
                None => (params, None, None),
                Some(sealer) => (
                    confidential::confidential_params(params, None),
                    Some(sealer.commitments(&inputs, &outputs)),
                    Some(sealer.finish(inputs.clone(), outputs.clone())?),
                ),
            };
            let answer = Answer {
                model_id,
                model_name,
                model_version,
                manifest: manifest_json,
                mode,
                timestamp,
                input: inputs,
                output: outputs,
                params,
                request_id,
                zk_proof,
                commitments,
            };
            Ok((sign_and_log(&signer, answer, attest, queue, 0, started)?, sealed))
        })
        .await??;
        core.claim_logged();
        let output = receipt.body.output.clone().unwrap_or_default();
        Ok(InferResponse { receipt_id: receipt.id(), model, output, receipt, sealed })
    }
}

impl Core {
    /// The checks of a request to run a model, before anything runs or is charged: the mode is
    /// offered, the model is ONNX or quantized (and quantized for `zk`), the inputs are what its
    /// schema takes (a confidential request's are sealed: the enclave checks them). Returns the
    /// job to run.
    pub(crate) async fn admit_infer(&self, request: &InferRequest) -> NodeResult<Job> {
        let mode = self.offer.mode(request.mode)?;
        let model = self.resolve_model(&request.model).await?;
        if !(matches!(model.manifest.format, ModelFormat::Onnx | ModelFormat::Quantized)
            || model.manifest.is_embedding())
        {
            return Err(NodeError::UnsupportedFormat { model: request.model.clone(), format: model.manifest.format });
        }
        check_zk_format(mode, &model)?;
        if request.sealed.is_some() {
            // The inputs are sealed: the enclave that opens them checks them.
            if mode != Mode::Tee {
                return Err(NodeError::Confidential(format!("a confidential request is a tee request, not {mode}")));
            }
            if !request.input.is_null() {
                return Err(NodeError::Confidential(
                    "a confidential request carries its inputs sealed only: `input` must be null".into(),
                ));
            }
            return Ok(Job::of(request, model, Values::new(), mode));
        }
        let inputs = parse_inputs(&model.manifest.schema, &request.input)?;
        Ok(Job::of(request, model, inputs, mode))
    }
}
