//! Claims: what a receipt records of one answer, its signing by the worker key and its durable
//! write to the store, queued as its origin says (a paid request's charge, a contract's
//! request, or an inference node's own record that its gateway queues).

use std::time::Instant;

use veritas_primitives::{
    B256, Claim, ClaimDomain, Evidence, Mode, ModelId, Params, Receipt, ReceiptBody, Values, WorkerKey,
    values::values_hash,
};

use crate::{
    NodeResult,
    protocol::Bill,
    store::{Store, Timing},
    worker::enclave::Attest,
};

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
    /// A confidential claim's input and output commitments: the claim signs them in place of the
    /// hashes, and the receipt carries neither input nor output.
    pub commitments: Option<(B256, B256)>,
}

/// What signs and logs claims: the worker key, the store, the network's domain.
#[derive(Clone)]
pub(crate) struct Signer {
    pub key: std::sync::Arc<WorkerKey>,
    pub store: std::sync::Arc<Store>,
    pub domain: ClaimDomain,
}

/// How a logged receipt waits for the rest of the network.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Queue {
    /// Queued for verdicts and batch settlement, charged to an escrow account for what the
    /// answer produced (`tokens`: the tokens a language model generated, else 0).
    Paid(Bill),
    /// Queued for verdicts, then delivered to a contract's on-chain request (by its id), which
    /// pays from its own escrow.
    Contract(u64),
    /// Only recorded: an inference node's, which its gateway queues.
    Record,
}

/// Signs the claim over an answer and writes its receipt to the store (blocking: the write is
/// durable before this returns), queued as `queue` says for an answer of `tokens` tokens, for a
/// request that arrived at `started`.
pub(crate) fn sign_and_log(
    signer: &Signer,
    answer: Answer,
    attest: Option<Attest>,
    queue: Queue,
    tokens: u64,
    started: Instant,
) -> NodeResult<Receipt> {
    let Signer { key, store, domain } = signer;
    let domain = *domain;
    let claim = Claim {
        request_id: answer.request_id.unwrap_or_else(|| store.receipts().next_request_id(&key.address())),
        model_id: answer.model_id,
        input_hash: answer.commitments.map_or_else(|| values_hash(&answer.input), |(input, _)| input),
        output_hash: answer.commitments.map_or_else(|| values_hash(&answer.output), |(_, output)| output),
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
        input: answer.commitments.is_none().then_some(answer.input),
        output: answer.commitments.is_none().then_some(answer.output),
        params: Some(answer.params),
        registry: None,
        zk_proof: None,
    };
    if let Some(attest) = attest {
        receipt.evidence.push(attest.evidence(&receipt.id())?);
    }
    if let Some(proof) = answer.zk_proof {
        let digest = <sha2::Sha256 as sha2::Digest>::digest(&proof);
        receipt
            .evidence
            .push(Evidence { kind: veritas_verifier::zk::EVIDENCE_KIND.into(), data: digest.to_vec().into() });
        receipt.body.zk_proof = Some(proof.into());
    }
    log_receipt(store, &receipt, queue, tokens, Timing::since(started))?;
    Ok(receipt)
}

/// Writes a receipt to the store as `queue` says (blocking, durable).
pub(crate) fn log_receipt(
    store: &Store,
    receipt: &Receipt,
    queue: Queue,
    tokens: u64,
    timing: Timing,
) -> NodeResult<()> {
    match queue {
        Queue::Paid(bill) => store.settlement().append(receipt, bill.charge(tokens), timing)?,
        Queue::Contract(request) => store.requests().append(receipt, request, timing)?,
        Queue::Record => store.receipts().record(receipt, timing)?,
    }
    Ok(())
}
