//! Contracts' requests: a gateway reads `InferenceRequested` events from the settlement
//! contract, serves each request once with the request's on-chain id in the claim, has the
//! claim judged by the validators like any other, and once a quorum finds it valid, delivers
//! the output with `fulfill`, which pays the worker from the request's escrow, calls the
//! requesting contract back and records the claim as settled (a batch of one).
//!
//! A request that cannot be served (its input is not canonical values, the model is unknown or
//! not ONNX, the mode is not offered, the deadline passed) is recorded as refused, with the
//! reason, and never retried; its requester gets its fee back with `refund` after the deadline.
//! A request that fails for a passing reason (no worker answers, the chain is unreachable) is
//! tried again every round for a while (`Intervals::request_retry`, two minutes), then refused with the last reason; the requests
//! after it are served meanwhile (the cursor stays on its block, and what was served since is
//! skipped).

use alloy_primitives::{Bytes, U256};
use alloy_sol_types::SolEvent;
use veritas_chain::{
    Chain, ChainError, ChainLog,
    contracts::{Settlement as SettlementContract, claim_struct},
};
use veritas_hub::ModelFormat;
use veritas_primitives::{
    B256, Mode, ModelId, Receipt, Settlement, keccak256, merkle_leaf,
    values::{canonical_bytes, values_from_canonical, values_hash, values_to_json},
};

use super::Gateway;
use crate::{
    NodeError, NodeResult, claims::Queue, core::now_seconds, metrics::Metrics, protocol::check_zk_format, worker::Job,
};

/// Blocks read per `eth_getLogs` query.
const SPAN: u64 = 1_000;
/// Queries per round, so a gateway far behind catches up without stalling the rest.
const SPANS_PER_ROUND: usize = 10;
/// Deliveries per round.
const DELIVERIES: usize = 16;
/// How far back a delivery made before a crash is looked for.
const LOOKBACK: u64 = 10_000;
/// Gas on top of the callback's limit for `fulfill`'s own check (`limit + limit/63 + 10_000`).
const CALLBACK_MARGIN: u64 = 20_000;

/// The settlement of a claim delivered by `fulfill`: a batch of one, its leaf the root.
fn alone(chain_id: u64, contract: veritas_primitives::Address, id: &B256, transaction: B256, block: u64) -> Settlement {
    Settlement { chain_id, contract, batch_root: merkle_leaf(id), merkle_path: Vec::new(), transaction, block }
}

fn refused(request: u64, reason: impl std::fmt::Display) -> NodeError {
    NodeError::RequestRefused { request, reason: reason.to_string() }
}

impl Gateway {
    /// Reads the settlement contract's new requests and serves them; returns how many were
    /// served.
    pub async fn serve_requests(&self) -> NodeResult<usize> {
        if !self.settles() {
            return Ok(0);
        }
        let link = self.link()?;
        let (chain, contracts) = (&link.chain, link.contracts);
        let requests = self.core.store.requests();
        let head = chain.block_number().await?;
        let mut served = 0;
        let mut next = requests.cursor()?.unwrap_or(0);
        // The first request that failed for a passing reason: read again from its block next
        // round (the ones served since are skipped), while those after it are served now.
        let mut failed: Option<(u64, NodeError)> = None;
        for _ in 0..SPANS_PER_ROUND {
            if next > head {
                break;
            }
            let to = head.min(next + SPAN - 1);
            let topic = SettlementContract::InferenceRequested::SIGNATURE_HASH;
            for log in chain.logs(contracts.settlement, topic, next, to).await? {
                match self.serve_request(&log).await {
                    Ok(true) => served += 1,
                    Ok(false) => {}
                    Err(err) => {
                        if failed.is_none() {
                            failed = Some((log.block, err));
                        }
                    }
                }
            }
            next = to + 1;
        }
        match failed {
            Some((block, err)) => {
                requests.set_cursor(block)?;
                if served == 0 {
                    return Err(err);
                }
                tracing::warn!(%err, "a contract's request failed; tried again next round");
            }
            None => requests.set_cursor(next)?,
        }
        Ok(served)
    }

    /// Serves one request unless it was served or refused before. `Err` only for a passing
    /// failure; anything else refuses the request for good.
    async fn serve_request(&self, log: &ChainLog) -> NodeResult<bool> {
        let event = match SettlementContract::InferenceRequested::decode_raw_log(log.topics.iter().copied(), &log.data)
        {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(%err, block = log.block, "an InferenceRequested log that does not decode; skipped");
                return Ok(false);
            }
        };
        let Ok(id) = u64::try_from(event.id) else {
            tracing::warn!(id = %event.id, "a request id over 2^64; skipped");
            return Ok(false);
        };
        if self.core.store.requests().served(id)?.is_some() {
            return Ok(false);
        }
        match self.answer_request(id, &event).await {
            Ok(receipt) => {
                Metrics::count(&self.core.metrics.contract_requests, "event", "served");
                tracing::info!(request = id, receipt = %receipt.id(), "a contract's request served");
                Ok(true)
            }
            Err(err) if err.retryable() => {
                let now = now_seconds();
                let since = self.core.store.requests().failing_since(id, now)?;
                let retry_for = self.intervals.request_retry.as_secs();
                if now.saturating_sub(since) < retry_for {
                    return Err(err);
                }
                let reason = format!("serving it failed for {retry_for} s; the last time: {err}");
                self.core.store.requests().refuse(id, &reason)?;
                Metrics::count(&self.core.metrics.contract_requests, "event", "refused");
                tracing::warn!(request = id, %reason, "a contract's request refused; its requester may take a refund after the deadline");
                Ok(false)
            }
            Err(err) => {
                let reason = err.to_string();
                self.core.store.requests().refuse(id, &reason)?;
                Metrics::count(&self.core.metrics.contract_requests, "event", "refused");
                tracing::warn!(request = id, %reason, "a contract's request refused; its requester may take a refund after the deadline");
                Ok(false)
            }
        }
    }

    async fn answer_request(&self, id: u64, event: &SettlementContract::InferenceRequested) -> NodeResult<Receipt> {
        if now_seconds() >= event.deadline {
            return Err(refused(id, format!("its deadline {} has passed", event.deadline)));
        }
        let mode = Mode::from_code(event.mode).map_err(|err| refused(id, err))?;
        let mode = self.core.offer.mode(Some(mode))?;
        let inputs = values_from_canonical(&event.input).map_err(|err| refused(id, format!("input: {err}")))?;
        let model = self.core.model_by_id(&ModelId(event.modelId)).await.map_err(|err| match err {
            NodeError::Hub(err) => refused(id, format!("model {}: {err}", ModelId(event.modelId))),
            other => other,
        })?;
        if !matches!(model.manifest.format, ModelFormat::Onnx | ModelFormat::Quantized) {
            return Err(refused(
                id,
                format!(
                    "model {} is {:?}; contracts' requests are served for ONNX and quantized models",
                    model.id, model.manifest.format
                ),
            ));
        }
        check_zk_format(mode, &model).map_err(|err| refused(id, err))?;
        // The inputs must be what the model takes, and still hash as the request's did.
        let input = values_to_json(&inputs);
        let checked = veritas_runtime::parse_inputs(&model.manifest.schema, &input)
            .map_err(|err| refused(id, format!("input: {err}")))?;
        if values_hash(&checked) != keccak256(&event.input) {
            return Err(refused(id, "its input does not survive the model's schema unchanged"));
        }
        let request_id = B256::from(U256::from(id));
        let job = Job { model, inputs: checked, mode, request_id: Some(request_id), nonce: None, sealed: None };
        let answer = self.run(job, input, Queue::Contract(id)).await?;
        Ok(answer.receipt)
    }

    /// Delivers verified answers to their contracts (`fulfill`), and records each delivery in
    /// its receipt's settlement; returns how many were delivered.
    pub(crate) async fn fulfill_requests(&self) -> NodeResult<usize> {
        let Some(link) = self.core.chain() else { return Ok(0) };
        let requests = self.core.store.requests();
        let mut delivered = 0;
        for (id, request) in requests.to_fulfill(DELIVERIES)? {
            let mut receipt = self.core.store.receipts().get(&id)?.ok_or(NodeError::UnknownReceipt(id))?;
            let output = canonical_bytes(&receipt.body.output.clone().unwrap_or_default());
            let (check, valid) = crate::protocol::verdicts::one_check(&receipt.verdicts, true)
                .unwrap_or((veritas_primitives::Check::Signed, Vec::new()));
            let call = SettlementContract::fulfillCall {
                id: U256::from(request),
                output: Bytes::from(output),
                claim: claim_struct(&receipt.claim),
                workerSignature: Bytes::from(receipt.signature.to_vec()),
                check: check.code(),
                validSignatures: valid.iter().map(|v| v.signature.clone()).collect(),
            };
            let contract = link.contracts.settlement;
            let limit = link.chain.view(contract, SettlementContract::callbackGasLimitCall {}).await?;
            let extra = u64::try_from(limit).unwrap_or(u64::MAX / 2).saturating_mul(64) / 63 + CALLBACK_MARGIN;
            let data = alloy_sol_types::SolCall::abi_encode(&call).into();
            let sent = link
                .chain
                .transact_with_gas(&self.sender, Some(contract), U256::ZERO, data, extra, link.confirmations)
                .await;
            match sent {
                Ok(mined) => {
                    receipt.settlement =
                        Some(alone(link.chain.chain_id(), contract, &id, mined.transaction, mined.block));
                    requests.finish_fulfill(&receipt)?;
                    delivered += 1;
                    Metrics::count(&self.core.metrics.contract_requests, "event", "fulfilled");
                    tracing::info!(request, receipt = %id, block = mined.block, "a contract's request fulfilled");
                }
                Err(ChainError::Reverted { reason, .. })
                    if ["RequestClosed", "RequestExpired", "NoSuchRequest", "ClaimMismatch"]
                        .iter()
                        .any(|r| reason.contains(r)) =>
                {
                    // Delivered already (by this node before a crash, or by anyone with the
                    // same claim): the delivery is the receipt's settlement. Otherwise never
                    // deliverable: the receipt stays verified and unsettled.
                    if let Some(log) = self.find_delivery(request, &id).await? {
                        let chain_id = link.chain.chain_id();
                        receipt.settlement = Some(alone(chain_id, contract, &id, log.transaction, log.block));
                        requests.finish_fulfill(&receipt)?;
                        delivered += 1;
                        tracing::info!(request, receipt = %id, block = log.block, "a contract's request was fulfilled already");
                        continue;
                    }
                    requests.finish_fulfill(&receipt)?;
                    Metrics::count(&self.core.metrics.contract_requests, "event", "undeliverable");
                    tracing::warn!(request, receipt = %id, %reason, "a verified answer cannot be delivered");
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(delivered)
    }

    /// The `InferenceFulfilled` event of `request` delivering claim `id`, among the last
    /// [`LOOKBACK`] blocks.
    async fn find_delivery(&self, request: u64, id: &B256) -> NodeResult<Option<ChainLog>> {
        let link = self.link()?;
        let (chain, contracts) = (&link.chain, link.contracts);
        let head = chain.block_number().await?;
        let topic = SettlementContract::InferenceFulfilled::SIGNATURE_HASH;
        let mut from = head.saturating_sub(LOOKBACK);
        while from <= head {
            let to = head.min(from + SPAN - 1);
            for log in chain.logs(contracts.settlement, topic, from, to).await? {
                let Ok(event) =
                    SettlementContract::InferenceFulfilled::decode_raw_log(log.topics.iter().copied(), &log.data)
                else {
                    continue;
                };
                if event.id == U256::from(request) && event.claimDigest == *id {
                    return Ok(Some(log));
                }
            }
            from = to + 1;
        }
        Ok(None)
    }
}
