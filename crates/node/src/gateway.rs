//! A gateway's side of a request: it picks a registered inference node, sends it the work,
//! checks the signed answer against the request (the network, the worker it asked, the model,
//! the mode, the input), and only then logs the receipt, charged, and hands it to the
//! validators. Inference nodes and validators fetch the models they lack from the gateway's
//! hub by id; the bytes are digest-checked against the id before use.

use std::{ops::ControlFlow, sync::atomic::Ordering};

use veritas_hub::{HubError, ModelVersion};
use veritas_primitives::{Mode, ModelId, Receipt, Values, values::values_hash};
use veritas_verifier::{Expectations, verify_receipt};

use crate::{
    Charge, ChatResponse, InferRequest, InferResponse, Node, NodeError, NodeResult, WorkChat, infer::Queue,
    network::Member,
};

impl Node {
    /// A model version by reference; a model id this node's hub lacks is fetched from the
    /// configured hub (`hub_url`) and must hash to the id.
    pub(crate) async fn resolve_model(&self, reference: &str) -> NodeResult<ModelVersion> {
        match self.hub.resolve(reference).await {
            Err(HubError::UnknownModel(_)) if self.hub_url.is_some() => {
                let id: ModelId = reference.parse().map_err(|_| HubError::UnknownModel(reference.to_owned()))?;
                self.model_by_id(&id).await
            }
            other => Ok(other?),
        }
    }

    /// A model version by id, fetched from the configured hub if this node's lacks it.
    pub(crate) async fn model_by_id(&self, id: &ModelId) -> NodeResult<ModelVersion> {
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
        let (remote, bytes) = self.peers.model(hub, id).await?;
        let mut upload = self.hub.stager().begin()?;
        upload.write(&bytes).await?;
        drop(bytes);
        let staged = upload.finish().await?;
        let manifest = remote.manifest;
        let spec = veritas_hub::PushSpec {
            format: manifest.format,
            schema: manifest.schema,
            metadata: manifest.metadata,
            tolerance: manifest.tolerance,
            zk: manifest.zk,
        };
        let outcome = self.hub.push(&remote.name, staged, spec).await?;
        if outcome.version.id != *id {
            return Err(NodeError::BadWork(format!(
                "the hub at {hub} sent model bytes that hash to {}, not {id}",
                outcome.version.id
            )));
        }
        Ok(outcome.version)
    }

    /// The staked inference nodes, starting with the next in turn.
    async fn workers(&self) -> NodeResult<Vec<Member>> {
        let registry = self.registry().await?;
        let mut workers: Vec<Member> = registry.workers().into_iter().cloned().collect();
        if workers.is_empty() {
            return Err(NodeError::NoWorkers("the registry lists no staked inference node with an endpoint".into()));
        }
        let start = self.next_worker.fetch_add(1, Ordering::Relaxed) % workers.len();
        workers.rotate_left(start);
        Ok(workers)
    }

    /// Sends an inference to the workers in turn until one answers, checks its receipt and logs it.
    pub(crate) async fn dispatch_infer(
        &self,
        model: ModelVersion,
        inputs: &Values,
        request: InferRequest,
        queue: Queue,
    ) -> NodeResult<InferResponse> {
        let started = std::time::Instant::now();
        let mode = request.mode.unwrap_or(self.default_mode);
        let mut failures = Vec::new();
        for worker in self.workers().await? {
            match self.peers.infer(&worker.endpoint, &request).await {
                Ok(answer) => {
                    let receipt = answer.receipt;
                    self.check_work(
                        &receipt,
                        &worker,
                        &model.id,
                        mode,
                        Some(values_hash(inputs)),
                        request.nonce.as_deref(),
                    )?;
                    if let Some(id) = request.request_id
                        && receipt.claim.request_id != id
                    {
                        return Err(NodeError::BadWork(format!(
                            "worker {}: the claim answers request {}, not {id}",
                            worker.signer, receipt.claim.request_id
                        )));
                    }
                    // A zk claim's proof (verified by check_work) goes into this hub too, where the
                    // client's API serves it.
                    if let Some(proof) = &receipt.body.zk_proof {
                        self.hub.put_blob(proof.to_vec()).await?;
                    }
                    let receipt = self.log_work(receipt, queue, started).await?;
                    let output = receipt.body.output.clone().unwrap_or_default();
                    return Ok(InferResponse { receipt_id: receipt.id(), model, output, receipt });
                }
                // A worker that refuses the request itself (bad input) would refuse it anywhere.
                Err(err @ NodeError::PeerRejected(_)) => return Err(err),
                Err(err) => {
                    tracing::warn!(%err, worker = %worker.signer, "worker failed; trying the next");
                    failures.push(format!("{}: {err}", worker.signer));
                }
            }
        }
        Err(NodeError::NoWorkers(failures.join("; ")))
    }

    /// Sends a chat request to a worker, streaming its text through; checks and logs the receipt.
    pub(crate) async fn dispatch_chat(
        &self,
        model: ModelVersion,
        request: WorkChat,
        charge: Charge,
        mut on_text: impl FnMut(&str) -> ControlFlow<()> + Send + 'static,
    ) -> NodeResult<ChatResponse> {
        let started = std::time::Instant::now();
        let mut failures = Vec::new();
        for worker in self.workers().await? {
            let mut streamed = false;
            let mut relay = |text: &str| {
                streamed = true;
                on_text(text)
            };
            match self.peers.chat(&worker.endpoint, &request, &mut relay).await {
                Ok(done) => {
                    self.check_work(&done.receipt, &worker, &model.id, request.mode, None, request.nonce.as_deref())?;
                    let input = done.receipt.body.input.as_ref();
                    if crate::validate::string_value(input, "messages").unwrap_or_default()
                        != request.input.messages_json()
                    {
                        return Err(NodeError::BadWork(format!("worker {} changed the messages", worker.signer)));
                    }
                    if let crate::ChatInput::Prompt(prompt) = &request.input
                        && crate::validate::string_value(input, "prompt").as_deref() != Some(prompt.as_str())
                    {
                        return Err(NodeError::BadWork(format!("worker {} changed the prompt", worker.signer)));
                    }
                    let charge = Charge {
                        fee: charge.fee.min(self.price_for(&model.id, done.generation.tokens.len() as u64).await?),
                        ..charge
                    };
                    let receipt = self.log_work(done.receipt, Queue::Paid(charge), started).await?;
                    return Ok(ChatResponse { model, generation: done.generation, pieces: done.pieces, receipt });
                }
                Err(NodeError::Cancelled) => return Err(NodeError::Cancelled),
                Err(err) if streamed => return Err(err),
                Err(err @ NodeError::PeerRejected(_)) => return Err(err),
                Err(err) => {
                    tracing::warn!(%err, worker = %worker.signer, "worker failed; trying the next");
                    failures.push(format!("{}: {err}", worker.signer));
                }
            }
        }
        Err(NodeError::NoWorkers(failures.join("; ")))
    }

    /// What a gateway checks of a worker's receipt before it logs it: a receipt that holds, in
    /// this network, signed by the worker asked, for the model and mode asked and (when known)
    /// the input sent; a `tee` claim's evidence under the network's policy, bound to the nonce
    /// sent. Whether the output is right is the validators' question.
    fn check_work(
        &self,
        receipt: &Receipt,
        worker: &Member,
        model: &ModelId,
        mode: Mode,
        input_hash: Option<veritas_primitives::B256>,
        nonce: Option<&str>,
    ) -> NodeResult<()> {
        let bad = |why: String| Err(NodeError::BadWork(format!("worker {}: {why}", worker.signer)));
        let expect = Expectations { model_id: Some(*model), tee_policy: self.tee_policy.clone() };
        let report = match verify_receipt(receipt, &expect) {
            Ok(report) => report,
            Err(err) => return bad(format!("its receipt does not hold: {err}")),
        };
        if mode == Mode::Tee {
            let sent = nonce.map(crate::parse_nonce).transpose()?.unwrap_or_default();
            if report.tee_nonce != Some(sent) {
                return bad("its attestation binds another nonce than the one sent".into());
            }
        }
        if receipt.domain != self.domain {
            return bad("its receipt is for another network".into());
        }
        if receipt.claim.worker != worker.signer {
            return bad(format!("the receipt is signed by {}", receipt.claim.worker));
        }
        if receipt.claim.mode != mode {
            return bad(format!("the claim's mode is {}, {mode} was asked", receipt.claim.mode));
        }
        if let Some(hash) = input_hash
            && receipt.claim.input_hash != hash
        {
            return bad("the claim is about another input".into());
        }
        if !receipt.verdicts.is_empty() || receipt.settlement.is_some() {
            return bad("a fresh claim carries no verdicts or settlement".into());
        }
        Ok(())
    }

    /// Logs a worker's receipt as `queue` says and wakes the verdict collection.
    async fn log_work(&self, receipt: Receipt, queue: Queue, started: std::time::Instant) -> NodeResult<Receipt> {
        let claims = self.claims.clone();
        let logged = receipt.clone();
        let timing = crate::Timing::since(started);
        tokio::task::spawn_blocking(move || crate::infer::log_receipt(&claims, &logged, queue, timing)).await??;
        self.metrics.claims_logged.inc();
        self.verification.wake.notify_one();
        Ok(receipt)
    }
}
