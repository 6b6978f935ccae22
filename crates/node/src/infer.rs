//! Inference: a request to run a model, its checks, the run (ONNX Runtime, or the quantized
//! executor with a proof in `zk` mode), and the signing and logging of its claim, which chat and
//! contracts' requests share.

use std::{collections::BTreeMap, time::Instant};

use serde::{Deserialize, Serialize};
use veritas_hub::{ModelFormat, ModelVersion};
use veritas_primitives::{
    Address, B256, Claim, ClaimDomain, Mode, ModelId, Params, Receipt, ReceiptBody, Values, WorkerKey,
    values::values_hash,
};
use veritas_runtime::parse_inputs;

use crate::{Charge, ClaimLog, Node, NodeError, NodeResult, node::now_seconds};

/// A request to run a model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferRequest {
    /// The model: `name`, `name@version` or a model id.
    pub model: String,
    /// Named inputs: nested arrays typed by the model's schema, or `{"dtype","shape","data"}`.
    pub input: serde_json::Value,
    /// The verification mode; the node's default (`signed`, or what it was started with) if
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// The request id the claim carries; a fresh one if absent. A contract's request is
    /// answered with its on-chain id, which `fulfill` checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<B256>,
    /// A `tee` request's nonce (hex, at most 64 bytes), bound into the attestation with the
    /// claim so that the client knows the evidence was made for its request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// The answer to an inference request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InferResponse {
    /// The receipt's id.
    pub receipt_id: B256,
    /// The model that ran.
    pub model: ModelVersion,
    /// The outputs.
    pub output: Values,
    /// The receipt, with the inputs, outputs and manifest it covers.
    pub receipt: Receipt,
}

impl Node {
    /// Runs a model, signs the claim and logs the receipt before returning it; `account` pays
    /// (the node's default payer when `None`).
    pub async fn infer(&self, request: InferRequest, account: Option<Address>) -> NodeResult<InferResponse> {
        let started = Instant::now();
        let model = request.model.clone();
        let result = self.infer_inner(request, account).await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.metrics.count_inference(&model, outcome);
        if result.is_ok() {
            self.metrics.inference_seconds.observe(started.elapsed().as_secs_f64());
        }
        result
    }

    async fn infer_inner(&self, request: InferRequest, account: Option<Address>) -> NodeResult<InferResponse> {
        let mode = self.mode(request.mode)?;
        let model = self.resolve_model(&request.model).await?;
        if !matches!(model.manifest.format, ModelFormat::Onnx | ModelFormat::Quantized) {
            return Err(NodeError::UnsupportedFormat { model: request.model, format: model.manifest.format });
        }
        check_zk_format(mode, &model)?;
        let inputs = parse_inputs(&model.manifest.schema, &request.input)?;
        let (charge, _reservation) = self.reserve_payment(&model.id, account, 0).await?;
        let queue = if self.role == crate::NodeRole::Inference { Queue::Record } else { Queue::Paid(charge) };
        let ask = Ask { mode, request_id: request.request_id, nonce: request.nonce };
        self.run_and_log(model, inputs, request.input, ask, queue).await
    }

    /// Runs a checked request (or has a worker run it, on a gateway) and logs its receipt.
    pub(crate) async fn run_and_log(
        &self,
        model: ModelVersion,
        inputs: Values,
        input: serde_json::Value,
        ask: Ask,
        queue: Queue,
    ) -> NodeResult<InferResponse> {
        let started = Instant::now();
        let Ask { mode, request_id, nonce } = ask;
        if self.role == crate::NodeRole::Gateway {
            let request = InferRequest { model: model.id.to_string(), input, mode: Some(mode), request_id, nonce };
            return self.dispatch_infer(model, &inputs, request, queue).await;
        }
        let attest = self.attester(mode, nonce.as_deref())?;
        let quantized = if model.manifest.format == ModelFormat::Quantized {
            let proving_key = self.proving_key(&model).await?;
            let checked = inputs.clone();
            let run =
                tokio::task::spawn_blocking(move || crate::zk::run(&proving_key, &checked, mode == Mode::Zk)).await??;
            // The proof is in the hub before the receipt that names it leaves.
            if let Some(proof) = &run.proof {
                self.hub.put_blob(proof.clone()).await?;
            }
            Some(run)
        } else {
            None
        };
        let faulty =
            if self.fault.is_some() && quantized.is_none() { self.faulty_onnx(&model, &inputs).await? } else { None };
        if faulty.is_none() && quantized.is_none() {
            self.load_onnx(&model).await?;
        }
        // Inference, hashing, signing and the durable log write are blocking work: one hop to
        // the blocking pool for all of them.
        let runtime = self.runtime.clone();
        let key = self.key.clone();
        let claims = self.claims.clone();
        let (domain, timestamp) = (self.domain, now_seconds());
        let manifest_json = model.manifest.to_json();
        let (model_id, model_name, model_version) = (model.id, model.name.clone(), model.version);
        let receipt = tokio::task::spawn_blocking(move || -> NodeResult<Receipt> {
            let (outputs, zk_proof) = match (quantized, faulty) {
                (Some(run), _) => (run.outputs, run.proof),
                (None, Some(outputs)) => (outputs, None),
                (None, None) => (runtime.run(&model_id, &inputs)?, None),
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
                params: Params(BTreeMap::new()),
                request_id,
                zk_proof,
            };
            sign_and_log(&key, &claims, domain, answer, attest, queue, started)
        })
        .await??;
        self.metrics.claims_logged.inc();
        self.verification.wake.notify_one();
        let output = receipt.body.output.clone().unwrap_or_default();
        Ok(InferResponse { receipt_id: receipt.id(), model, output, receipt })
    }

    /// The mode a request runs in: the one it names, else the node's default; only modes the
    /// node can serve.
    pub(crate) fn mode(&self, requested: Option<Mode>) -> NodeResult<Mode> {
        let mode = requested.unwrap_or(self.default_mode);
        let available = if self.tee.is_some() {
            "signed, reexec, zk, tee"
        } else {
            "signed, reexec, zk (start with --tee for tee)"
        };
        let served = match mode {
            // zk: any node proves a quantized model (the model's format is checked with it).
            Mode::Signed | Mode::Reexec | Mode::Zk => true,
            Mode::Tee => self.tee.is_some(),
        };
        if !served {
            return Err(NodeError::UnsupportedMode { mode, available });
        }
        Ok(mode)
    }

    /// Loads an ONNX model version into the runtime (digest-checked), unless it is loaded.
    async fn load_onnx(&self, model: &ModelVersion) -> NodeResult<()> {
        if !self.runtime.is_loaded(&model.id) {
            let (_, bytes) = self.hub.load(&model.id).await?;
            let runtime = self.runtime.clone();
            let id = model.id;
            tokio::task::spawn_blocking(move || runtime.load(&id, &bytes)).await??;
            tracing::info!(model = %model.name, version = model.version, id = %model.id, "model loaded");
        }
        Ok(())
    }

    /// Runs an ONNX model version on inputs already checked (a validator's re-execution).
    pub(crate) async fn run_onnx(&self, model: &ModelVersion, inputs: Values) -> NodeResult<Values> {
        self.load_onnx(model).await?;
        let runtime = self.runtime.clone();
        let id = model.id;
        Ok(tokio::task::spawn_blocking(move || runtime.run(&id, &inputs)).await??)
    }
}

/// What a receipt records of one answer, before it is signed.
pub(crate) struct Answer {
    pub model_id: ModelId,
    pub model_name: String,
    pub model_version: u64,
    pub manifest: serde_json::Value,
    pub mode: Mode,
    pub timestamp: u64,
    pub input: Values,
    pub output: Values,
    pub params: Params,
    /// The request id to claim; a fresh one when `None`.
    pub request_id: Option<B256>,
    /// A `zk` claim's proof.
    pub zk_proof: Option<Vec<u8>>,
}

/// `zk` mode proves quantized models only.
pub(crate) fn check_zk_format(mode: Mode, model: &ModelVersion) -> NodeResult<()> {
    if mode == Mode::Zk && model.manifest.format != ModelFormat::Quantized {
        return Err(NodeError::ModeForModel {
            mode,
            model: format!("{} ({})", model.name, model.id),
            reason: format!(
                "zk mode proves quantized models, and this one is {:?}; push a quantized version (veritas model \
                 push MODEL.onnx --zk-calibration SAMPLES.json)",
                model.manifest.format
            ),
        });
    }
    Ok(())
}

/// What a request asks of its claim besides the computation.
pub(crate) struct Ask {
    /// The verification mode.
    pub mode: Mode,
    /// The request id to claim; a fresh one when `None`.
    pub request_id: Option<B256>,
    /// A `tee` request's nonce, hex.
    pub nonce: Option<String>,
}

/// How a logged receipt waits for the rest of the network.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Queue {
    /// Queued for verdicts and batch settlement, charged to an escrow account.
    Paid(Charge),
    /// Queued for verdicts, then delivered to a contract's on-chain request (by its id), which
    /// pays from its own escrow.
    Contract(u64),
    /// Only recorded: an inference node's, which its gateway queues.
    Record,
}

/// Signs the claim over an answer and writes its receipt to the claim log (blocking: the write
/// is durable before this returns), queued as `queue` says, for a request that arrived at
/// `started`.
pub(crate) fn sign_and_log(
    key: &WorkerKey,
    claims: &ClaimLog,
    domain: ClaimDomain,
    answer: Answer,
    attest: Option<crate::enclave::Attest>,
    queue: Queue,
    started: Instant,
) -> NodeResult<Receipt> {
    let claim = Claim {
        request_id: answer.request_id.unwrap_or_else(|| claims.next_request_id(&key.address())),
        model_id: answer.model_id,
        input_hash: values_hash(&answer.input),
        output_hash: values_hash(&answer.output),
        params_hash: answer.params.hash(),
        mode: answer.mode,
        worker: key.address(),
        timestamp: answer.timestamp,
    };
    let mut receipt = Receipt::new(domain, key.sign_claim(claim, &domain)?);
    receipt.body = ReceiptBody {
        model_name: Some(answer.model_name),
        model_version: Some(answer.model_version),
        manifest: Some(answer.manifest),
        input: Some(answer.input),
        output: Some(answer.output),
        params: Some(answer.params),
        registry: None,
        zk_proof: None,
    };
    if let Some(attest) = attest {
        receipt.evidence.push(attest.evidence(&receipt.id())?);
    }
    if let Some(proof) = answer.zk_proof {
        let digest = <sha2::Sha256 as sha2::Digest>::digest(&proof);
        receipt.evidence.push(veritas_primitives::Evidence {
            kind: veritas_verifier::zk::EVIDENCE_KIND.into(),
            data: digest.to_vec().into(),
        });
        receipt.body.zk_proof = Some(proof.into());
    }
    log_receipt(claims, &receipt, queue, crate::Timing::since(started))?;
    Ok(receipt)
}

/// Writes a receipt to the claim log as `queue` says (blocking, durable).
pub(crate) fn log_receipt(claims: &ClaimLog, receipt: &Receipt, queue: Queue, timing: crate::Timing) -> NodeResult<()> {
    match queue {
        Queue::Paid(charge) => claims.append(receipt, charge, timing),
        Queue::Contract(request) => claims.append_contract(receipt, request, timing),
        Queue::Record => claims.record(receipt, timing),
    }
}
