//! A gateway's work on the network: it picks a registered inference node, sends it the work,
//! checks the signed answer against the request (`protocol::admission`), and only then logs the
//! receipt, charged, and hands it to the validators. A worker that cannot be reached (or fails
//! before it streamed anything) is passed over for the next; a worker that refuses the request
//! itself, or whose answer does not hold, ends the request.

use std::{ops::ControlFlow, sync::atomic::Ordering, time::Instant};

use futures_util::future::BoxFuture;

use veritas_primitives::{Address, Receipt, values::values_hash};
use veritas_verifier::confidential::request_nonce;
use veritas_wire::{ChatInput, InferRequest, InferResponse, Member, SealedRequest, WorkChat};

use super::Gateway;
use crate::{
    NodeError, NodeResult,
    claims::{Queue, log_receipt},
    protocol::{Bill, Order, Refusal, check_chat, check_chat_answer, check_confidential_answer, check_work},
    store::Timing,
    worker::{ChatJob, ChatResponse, Job, parse_nonce},
};

/// How an attempt at one worker failed.
enum Failed {
    /// Try the next worker.
    Next(NodeError),
    /// End the request with this error.
    Stop(NodeError),
}

impl Failed {
    /// A failure of the call to the worker: the next worker is tried if the call may succeed
    /// elsewhere and nothing reached the client yet.
    fn of_call(err: NodeError, streamed: bool) -> Failed {
        if err.retryable() && !streamed { Failed::Next(err) } else { Failed::Stop(err) }
    }
}

/// The nonce a `tee` answer's evidence must bind: a confidential request's hash, else the
/// client's nonce (none: empty).
fn bound_nonce(sealed: Option<&SealedRequest>, nonce: Option<&str>) -> NodeResult<Vec<u8>> {
    match sealed {
        Some(sealed) => Ok(request_nonce(&sealed.request).to_vec()),
        None => Ok(nonce.map(parse_nonce).transpose()?.unwrap_or_default()),
    }
}

impl Gateway {
    /// The staked inference nodes, starting with the next in turn; only `only`, when a
    /// confidential request was sealed to its enclave.
    async fn workers(&self, only: Option<Address>) -> NodeResult<Vec<Member>> {
        let registry = self.registry().await?;
        let mut workers: Vec<Member> =
            registry.workers().into_iter().filter(|w| only.is_none_or(|only| w.signer == only)).cloned().collect();
        if workers.is_empty() {
            if let Some(only) = only {
                return Err(NodeError::Confidential(format!(
                    "sealed to inference node {only}, which is not a staked inference node of this network \
                     (ask for a fresh key: POST /v1/confidential/key)"
                )));
            }
            return Err(NodeError::NoWorkers(Vec::new()));
        }
        let start = self.next_worker.fetch_add(1, Ordering::Relaxed) % workers.len();
        workers.rotate_left(start);
        Ok(workers)
    }

    /// Tries the workers in turn until one attempt succeeds or says to stop.
    async fn each_worker<'env, T>(
        &self,
        only: Option<Address>,
        attempt: impl Fn(Member) -> BoxFuture<'env, Result<T, Failed>>,
    ) -> NodeResult<T> {
        let mut failures = Vec::new();
        for worker in self.workers(only).await? {
            match attempt(worker.clone()).await {
                Ok(done) => return Ok(done),
                Err(Failed::Stop(err)) => return Err(err),
                Err(Failed::Next(err)) => {
                    tracing::warn!(%err, worker = %worker.signer, "worker failed; trying the next");
                    failures.push((worker.signer, err.to_string()));
                }
            }
        }
        Err(NodeError::NoWorkers(failures))
    }

    /// What a worker's answer must be to `job`'s request.
    fn order<'a>(&'a self, worker: &Member, job: &Job, nonce: &'a [u8]) -> crate::protocol::Order<'a> {
        Order {
            domain: self.core.domain,
            worker: worker.signer,
            model: job.model.id,
            mode: job.mode,
            // A confidential claim's input hash is a commitment only the client can open.
            input_hash: job.sealed.is_none().then(|| values_hash(&job.inputs)),
            request_id: job.request_id,
            nonce,
            tee_policy: &self.core.tee_policy,
        }
    }

    /// Sends an inference to the workers in turn until one answers, checks its receipt and logs
    /// it as `queue` says.
    pub(crate) async fn dispatch_infer(
        &self,
        job: Job,
        input: serde_json::Value,
        queue: Queue,
    ) -> NodeResult<InferResponse> {
        let started = Instant::now();
        let nonce = bound_nonce(job.sealed.as_ref(), job.nonce.as_deref())?;
        let request = InferRequest {
            model: job.model.id.to_string(),
            input,
            mode: Some(job.mode),
            request_id: job.request_id,
            nonce: job.nonce.clone(),
            sealed: job.sealed.clone(),
        };
        let only = job.sealed.as_ref().map(|sealed| sealed.worker);
        let (request, job_ref, nonce_ref) = (&request, &job, &nonce);
        let answer = self
            .each_worker(only, |worker| {
                Box::pin(async move {
                    let answer = self
                        .core
                        .peers
                        .infer(&self.caller(worker.signer), &worker.endpoint, request)
                        .await
                        .map_err(|e| Failed::of_call(e, false))?;
                    check_work(&answer.receipt, &self.order(&worker, job_ref, nonce_ref))
                        .and_then(|()| match &job_ref.sealed {
                            Some(_) if answer.sealed.is_none() => {
                                Err(Refusal::NotConfidential("comes without its sealed answer"))
                            }
                            Some(_) => check_confidential_answer(&answer.receipt, None).map(|_| ()),
                            None => Ok(()),
                        })
                        .map_err(|refusal| Failed::Stop(NodeError::BadWork { worker: worker.signer, refusal }))?;
                    Ok(answer)
                })
            })
            .await?;
        // A zk claim's proof (verified by check_work) goes into this hub too, where the client's
        // API serves it.
        if let Some(proof) = &answer.receipt.body.zk_proof {
            self.core.hub.put_blob(proof.to_vec()).await?;
        }
        let receipt = self.log_work(answer.receipt, queue, 0, started).await?;
        let output = receipt.body.output.clone().unwrap_or_default();
        Ok(InferResponse { receipt_id: receipt.id(), model: job.model, output, receipt, sealed: answer.sealed })
    }

    /// Sends a chat request to the workers in turn, streaming the text of the one that answers
    /// through; checks its receipt (the text streamed must be the text it signs) and logs it,
    /// charged for the tokens it produced.
    pub(crate) async fn dispatch_chat(
        &self,
        model: veritas_hub::ModelVersion,
        job: ChatJob,
        bill: Bill,
        on_text: impl FnMut(&str) -> ControlFlow<()> + Send + 'static,
    ) -> NodeResult<ChatResponse> {
        let started = Instant::now();
        let sealed = match &job.input {
            ChatInput::Sealed(sealed) => Some(sealed),
            _ => None,
        };
        let nonce = bound_nonce(sealed, job.nonce.as_deref())?;
        let sealed = sealed.map(|sealed| sealed.worker);
        let messages = job.input.messages_json();
        let request = WorkChat {
            model: model.id.to_string(),
            input: job.input,
            sampling: job.sampling,
            logprobs: job.logprobs,
            mode: job.mode,
            nonce: job.nonce,
            top_logprobs: job.top_logprobs,
            constraint: (!job.constraint.is_empty()).then_some(job.constraint),
        };
        let on_text = std::sync::Mutex::new(on_text);
        let (request, on_text, nonce, messages, model_id) = (&request, &on_text, &nonce, &messages, model.id);
        let done = self
            .each_worker(sealed, |worker| {
                Box::pin(async move {
                    // What the client was shown, to be compared with what the receipt signs.
                    let mut streamed = String::new();
                    let mut relay = |text: &str| {
                        streamed.push_str(text);
                        (on_text.lock().unwrap_or_else(|p| p.into_inner()))(text)
                    };
                    let caller = self.caller(worker.signer);
                    let done = match self.core.peers.chat(&caller, &worker.endpoint, request, &mut relay).await {
                        Ok(done) => done,
                        Err(err) => return Err(Failed::of_call(err, !streamed.is_empty())),
                    };
                    let order = Order {
                        domain: self.core.domain,
                        worker: worker.signer,
                        model: model_id,
                        mode: request.mode,
                        input_hash: None,
                        request_id: None,
                        nonce,
                        tee_policy: &self.core.tee_policy,
                    };
                    let tokens = check_work(&done.receipt, &order)
                        .and_then(|()| match (&request.input, &done.sealed) {
                            // Sealed: nothing to compare but the marks; the client opens and checks.
                            (ChatInput::Sealed(_), Some(_)) => {
                                check_confidential_answer(&done.receipt, Some(&request.sampling))
                            }
                            (ChatInput::Sealed(_), None) => {
                                Err(Refusal::NotConfidential("comes without its sealed answer"))
                            }
                            _ => check_chat(&done.receipt, messages, request.input.prompt())
                                .and_then(|()| {
                                    check_chat_answer(
                                        &done.receipt,
                                        &done.generation,
                                        &streamed,
                                        &request.sampling,
                                        request.constraint.as_ref().unwrap_or(&Default::default()),
                                    )
                                })
                                .map(|()| done.generation.tokens.len() as u64),
                        })
                        .map_err(|refusal| Failed::Stop(NodeError::BadWork { worker: worker.signer, refusal }))?;
                    Ok((done, tokens))
                })
            })
            .await?;
        let (done, tokens) = done;
        let receipt = self.log_work(done.receipt, Queue::Paid(bill), tokens, started).await?;
        Ok(ChatResponse {
            model,
            generation: done.generation,
            pieces: done.pieces,
            top_pieces: done.top_pieces,
            receipt,
            sealed: done.sealed,
        })
    }

    /// An enclave's key offer for a client's nonce: this node's own worker's, or the next
    /// inference node's that answers (the client checks the offer; the gateway only relays it,
    /// and checks that it comes from the node it asked).
    pub async fn key_offer(&self, nonce: &str) -> NodeResult<veritas_wire::KeyOffer> {
        parse_nonce(nonce)?;
        if let super::Backends::Local { worker, .. } = &self.backends {
            return worker.key_offer(nonce).await;
        }
        let request = &veritas_wire::KeyRequest { nonce: nonce.to_owned() };
        self.each_worker(None, |worker| {
            Box::pin(async move {
                // A node that cannot offer a key (no enclave, unreachable) is passed over: asking
                // the next costs nothing.
                let offer = self
                    .core
                    .peers
                    .key_offer(&self.caller(worker.signer), &worker.endpoint, request)
                    .await
                    .map_err(Failed::Next)?;
                if offer.worker != worker.signer {
                    return Err(Failed::Stop(NodeError::Confidential(format!(
                        "inference node {} offered the key of {}",
                        worker.signer, offer.worker
                    ))));
                }
                Ok(offer)
            })
        })
        .await
    }

    /// Logs a worker's receipt as `queue` says and wakes the verdict collection.
    async fn log_work(&self, receipt: Receipt, queue: Queue, tokens: u64, started: Instant) -> NodeResult<Receipt> {
        let store = self.core.store.clone();
        let logged = receipt.clone();
        let timing = Timing::since(started);
        tokio::task::spawn_blocking(move || log_receipt(&store, &logged, queue, tokens, timing)).await??;
        self.core.claim_logged();
        Ok(receipt)
    }
}
