//! The batcher: settles the claim log's pending receipts on the node's chain, a batch at a time.
//!
//! Only claims that a quorum of validators judged valid are settled (see `quorum`); their
//! receipts already carry those verdicts. A batch is signed by validators holding more than 2/3
//! of the stake: a standalone node's own validator key, or the network's validators, each of
//! which checks every claim's quorum before signing. Each receipt is charged to the account
//! that paid for its request; a batch debits each payer's escrow once and credits each worker
//! nine tenths of its claims' fees and the validators that judged them the rest.
//!
//! A claim is never settled twice and never lost: the batch (its queue positions, receipt ids
//! and the signed transaction) is written to the claim log before the transaction is sent, and
//! the receipts leave the queue in the same write that records their settlement. After a crash
//! or while the chain is unreachable the batch in flight is resumed: finished once its
//! transaction is mined and confirmed, re-sent while it is not, and dropped (its receipts
//! stay queued) only when it can never be mined: its nonce was used by another transaction or
//! it reverted.

use std::collections::BTreeMap;

use alloy_primitives::{Bytes, U256};
use alloy_sol_types::{SolCall, SolEvent};
use veritas_chain::{
    AnyChain, Chain, ChainError, Confirmations, Mined,
    contracts::{ModelRegistry, Settlement as SettlementContract, settle_batch_call},
    genesis::Contracts,
};
use veritas_primitives::{
    Address, B256, ClaimDomain, MerkleTree, ModelId, Receipt, Settlement, WorkerKey,
    batch::{ClaimVerdicts, Transfer, batch_digest},
    merkle_leaf,
};

use super::Gateway;
use crate::{
    NodeError, NodeResult,
    protocol::{
        Prices, payable,
        settlement::{batch_transfers, payers, proven_tokens},
    },
    store::{InflightBatch, Queued, Store},
};

/// The most claims one batch settles.
pub const MAX_BATCH: usize = 1000;

/// The default fee of one request: 0.001 token.
pub fn dev_fee_per_claim() -> U256 {
    U256::from(10u64).pow(U256::from(15u64))
}

/// A settled batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettledBatch {
    /// The Merkle root recorded on chain.
    pub root: B256,
    /// How many claims it settled.
    pub count: usize,
    /// The settling transaction.
    pub transaction: B256,
    /// Its block.
    pub block: u64,
}

/// The chain, the contracts and who sends the transactions.
#[derive(Clone)]
pub(crate) struct Batcher {
    pub chain: AnyChain,
    pub contracts: Contracts,
    /// Signs and pays for the settlement transactions.
    pub sender: std::sync::Arc<WorkerKey>,
    pub confirmations: Confirmations,
}

/// How long validators' signatures on a batch may settle it: a batch that did not settle by
/// then is dead, and its claims can be batched again.
pub const BATCH_LIFETIME: u64 = 600;

/// A batch before validators sign it.
pub(crate) struct BatchPlan {
    pub queued: Vec<Queued>,
    pub ids: Vec<B256>,
    pub tree: MerkleTree,
    /// Each claim with its verdicts and charge, in batch order: what validators check.
    pub claims: Vec<ClaimVerdicts>,
    pub debits: Vec<Transfer>,
    pub credits: Vec<Transfer>,
    /// The gateway whose payers' allowances the debits use.
    pub gateway: Address,
    /// The last second it may settle.
    pub deadline: u64,
    /// The EIP-712 digest validators sign.
    pub digest: B256,
}

fn chain_err(err: ChainError) -> NodeError {
    NodeError::Chain(err)
}

impl Batcher {
    /// The domain claims, batches and verdicts are signed in.
    pub fn domain(&self) -> ClaimDomain {
        self.contracts.domain(self.chain.chain_id())
    }

    /// Settles the next batch with one key's batch signature (a standalone node's validator),
    /// or finishes the one in flight; `None` when nothing is pending.
    #[cfg(test)]
    pub async fn settle(&self, claims: &Store, signer: &WorkerKey) -> NodeResult<Option<SettledBatch>> {
        if let Some(batch) = claims.settlement().inflight()? {
            return self.resume(claims, batch).await;
        }
        let Some(plan) = self.plan(claims).await? else { return Ok(None) };
        let signature = Bytes::from(signer.sign_digest(&plan.digest)?.to_vec());
        let batch = self.commit(claims, &plan, vec![signature]).await?;
        self.resume(claims, batch).await
    }

    /// The next batch: the oldest quorum-verified claims whose payers can pay, each charged at
    /// most the price this gateway lists for its model now, with their transfers and the digest
    /// validators sign; `None` when there are none. Claims of a model this gateway lists no
    /// price for stay queued.
    pub(crate) async fn plan(&self, claims: &Store) -> NodeResult<Option<BatchPlan>> {
        let queued = self.payable(claims.settlement().settleable(MAX_BATCH * 4)?).await?;
        let gateway = self.sender.address();
        let mut listings = BTreeMap::new();
        let mut taken = Vec::with_capacity(queued.len());
        let mut entries = Vec::with_capacity(queued.len());
        for entry in queued {
            let receipt = claims.receipts().get(&entry.id)?.ok_or(NodeError::UnknownReceipt(entry.id))?;
            let model = receipt.claim.model_id;
            if let std::collections::btree_map::Entry::Vacant(entry) = listings.entry(model) {
                entry.insert(self.listing(model, gateway).await?);
            }
            let Some(prices) = listings[&model] else {
                tracing::warn!(%model, receipt = %entry.id, "this gateway lists no price for the model on chain; the receipt stays queued");
                continue;
            };
            let output = receipt.body.output.clone().unwrap_or_default();
            // A confidential claim's tokens are named in its attested parameters.
            let confidential = receipt.body.params.clone().filter(veritas_verifier::confidential::is_confidential);
            let proven = match &confidential {
                Some(params) => veritas_verifier::confidential::completion_tokens(params).unwrap_or(0),
                None => proven_tokens(&output),
            };
            let tokens = if prices.per_token.is_zero() { 0 } else { proven };
            let fee = prices.of(tokens).map_or(entry.charge.fee, |price| entry.charge.fee.min(price));
            entries.push(ClaimVerdicts {
                id: entry.id,
                claim: receipt.claim.clone(),
                verdicts: receipt.verdicts.iter().filter(|v| v.valid).cloned().collect(),
                payer: entry.charge.payer,
                fee,
                tokens,
                output: (tokens > 0 && confidential.is_none()).then_some(output),
                params: confidential.filter(|_| tokens > 0),
            });
            taken.push(entry);
        }
        if taken.is_empty() {
            return Ok(None);
        }
        let listed = listings.into_iter().filter_map(|(model, prices)| Some((model, prices?))).collect();
        let (debits, credits) = batch_transfers(&entries, &listed).map_err(NodeError::BatchRefused)?;
        let ids: Vec<B256> = taken.iter().map(|entry| entry.id).collect();
        let tree = MerkleTree::new(ids.iter().map(merkle_leaf).collect());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let deadline = now + BATCH_LIFETIME;
        let digest = batch_digest(&self.domain(), tree.root(), ids.len() as u32, gateway, deadline, &debits, &credits);
        Ok(Some(BatchPlan { queued: taken, ids, tree, claims: entries, debits, credits, gateway, deadline, digest }))
    }

    /// The prices `gateway` lists for `model` in the model registry, if it lists any.
    async fn listing(&self, model: ModelId, gateway: Address) -> NodeResult<Option<Prices>> {
        let call = ModelRegistry::listingOfCall { modelId: model.digest(), publisher: gateway };
        let listing = self.chain.view(self.contracts.models, call).await.map_err(chain_err)?;
        Ok(listing.listed.then_some(Prices { per_request: listing.perRequest, per_token: listing.perToken }))
    }

    /// Signs the settlement transaction with the validators' signatures (in ascending signer
    /// order) and records the batch before anything is sent.
    pub(crate) async fn commit(
        &self,
        claims: &Store,
        plan: &BatchPlan,
        signatures: Vec<Bytes>,
    ) -> NodeResult<InflightBatch> {
        let domain = self.domain();
        let count = plan.ids.len() as u32;
        let call = settle_batch_call(
            plan.tree.root(),
            count,
            plan.gateway,
            plan.deadline,
            &plan.debits,
            &plan.credits,
            signatures,
        );
        let signed = self
            .chain
            .sign(&self.sender, Some(domain.verifying_contract), U256::ZERO, call.abi_encode().into())
            .await
            .map_err(chain_err)?;
        let batch = InflightBatch {
            sequences: plan.queued.iter().map(|entry| entry.sequence).collect(),
            ids: plan.ids.clone(),
            raw_transaction: signed.raw,
            transaction: signed.hash,
            nonce: signed.nonce,
        };
        claims.settlement().begin_batch(&batch)?;
        Ok(batch)
    }

    /// Sends the batch's transaction if it is not mined yet, waits for its confirmations, then
    /// records the settlement. A batch whose root the chain already holds was settled by
    /// someone else's transaction (the signatures bind no sender, so anyone may replay them):
    /// it is finished from the chain, never queued again.
    pub(crate) async fn resume(&self, claims: &Store, batch: InflightBatch) -> NodeResult<Option<SettledBatch>> {
        let queue = claims.settlement();
        let chain = &self.chain;
        let root = MerkleTree::new(batch.ids.iter().map(merkle_leaf).collect()).root();
        let unmined = chain.mined(batch.transaction).await.map_err(chain_err)?.is_none();
        if unmined && let Some(mined) = self.settled_by_another(root).await? {
            return self.finish(claims, &batch, mined);
        }
        if unmined && let Err(err) = chain.send_raw(batch.raw_transaction.clone()).await {
            // Already in the chain's pool is fine; a nonce used by another transaction means
            // this one can never be mined, so its receipts go back to the queue.
            let stale = chain.mined(batch.transaction).await.map_err(chain_err)?.is_none()
                && chain.mined_nonce(self.sender.address()).await.map_err(chain_err)? > batch.nonce;
            if stale {
                if let Some(mined) = self.settled_by_another(root).await? {
                    return self.finish(claims, &batch, mined);
                }
                queue.abandon_batch()?;
            }
            // geth and the embedded chain say "already known", anvil "already imported".
            let pooled = matches!(err, ChainError::Rejected(ref reason)
                if reason.contains("already known") || reason.contains("already imported"));
            if stale || !pooled {
                return Err(chain_err(err));
            }
        }
        let mined = chain.wait(batch.transaction, self.confirmations).await.map_err(chain_err)?;
        if !mined.status {
            if let Some(mined) = self.settled_by_another(root).await? {
                return self.finish(claims, &batch, mined);
            }
            queue.abandon_batch()?;
            return Err(NodeError::SettlementReverted(mined.transaction));
        }
        self.finish(claims, &batch, mined)
    }

    /// The transaction that settled `root`, when the chain records it settled: the
    /// `BatchSettled` event in the block `settledAt` names.
    async fn settled_by_another(&self, root: B256) -> NodeResult<Option<Mined>> {
        let settlement = self.contracts.settlement;
        let call = SettlementContract::settledAtCall { root };
        let block = self.chain.view(settlement, call).await.map_err(chain_err)?;
        if block == 0 {
            return Ok(None);
        }
        let topic = SettlementContract::BatchSettled::SIGNATURE_HASH;
        let logs = self.chain.logs(settlement, topic, block, block).await.map_err(chain_err)?;
        let log = logs.into_iter().find(|log| log.topics.get(1) == Some(&root)).ok_or_else(|| {
            chain_err(ChainError::Decode(format!(
                "batch {root} is settled in block {block}, which has no BatchSettled for it"
            )))
        })?;
        tracing::warn!(%root, transaction = %log.transaction, "the batch was settled by another transaction; finished from the chain");
        Ok(Some(Mined { transaction: log.transaction, block, status: true, gas_used: 0, contract_address: None }))
    }

    /// Records a mined batch's settlement in its receipts and takes them off the queue.
    fn finish(&self, claims: &Store, batch: &InflightBatch, mined: Mined) -> NodeResult<Option<SettledBatch>> {
        let queue = claims.settlement();
        let domain = self.domain();
        let tree = MerkleTree::new(batch.ids.iter().map(merkle_leaf).collect());
        let mut receipts = Vec::with_capacity(batch.ids.len());
        for (index, id) in batch.ids.iter().enumerate() {
            let mut receipt: Receipt = claims.receipts().get(id)?.ok_or(NodeError::UnknownReceipt(*id))?;
            receipt.settlement = Some(Settlement {
                chain_id: domain.chain_id,
                contract: domain.verifying_contract,
                batch_root: tree.root(),
                merkle_path: tree.proof(index).map(|p| p.0).unwrap_or_default(),
                transaction: mined.transaction,
                block: mined.block,
            });
            receipts.push(receipt);
        }
        queue.finish_batch(batch, &receipts)?;
        tracing::info!(root = %tree.root(), count = receipts.len(), block = mined.block, "batch settled");
        Ok(Some(SettledBatch {
            root: tree.root(),
            count: receipts.len(),
            transaction: mined.transaction,
            block: mined.block,
        }))
    }

    /// The oldest queued receipts whose payers' escrow covers them, at most [`MAX_BATCH`]: a
    /// payer that can no longer pay (it withdrew) holds back only its own receipts, which stay
    /// queued until it deposits again.
    async fn payable(&self, queued: Vec<Queued>) -> NodeResult<Vec<Queued>> {
        let mut escrows = BTreeMap::new();
        for payer in payers(&queued) {
            escrows.insert(payer, self.chargeable(payer).await?);
        }
        let (take, held) = payable(queued, &escrows, MAX_BATCH);
        for entry in held {
            tracing::warn!(payer = %entry.charge.payer, receipt = %entry.id, "the payer's escrow (or its allowance for this gateway) does not cover this receipt; it stays queued");
        }
        Ok(take)
    }

    /// An account's escrow in the settlement contract.
    pub async fn escrow(&self, account: Address) -> NodeResult<U256> {
        let call = SettlementContract::balanceOfCall { account };
        self.chain.view(self.contracts.settlement, call).await.map_err(chain_err)
    }

    /// What this gateway may charge an account: its escrow, capped by the allowance it gave
    /// this gateway.
    pub async fn chargeable(&self, account: Address) -> NodeResult<U256> {
        let escrow = self.escrow(account).await?;
        let call = SettlementContract::allowanceCall { payer: account, gateway: self.sender.address() };
        let allowance = self.chain.view(self.contracts.settlement, call).await.map_err(chain_err)?;
        Ok(escrow.min(allowance))
    }
}

impl Gateway {
    /// Settles the next batch of pending receipts on the node's chain (or finishes the batch in
    /// flight): first a round of verdicts, then contracts' verified answers, then the batch;
    /// `None` when there is nothing to settle or no chain.
    pub async fn settle_pending(&self) -> NodeResult<Option<SettledBatch>> {
        let Some(batcher) = self.batcher() else { return Ok(None) };
        let store = &self.core.store;
        if let Some(batch) = store.settlement().inflight()? {
            return batcher.resume(store, batch).await;
        }
        self.verify_pending().await?;
        // Contracts' verified answers go out one by one, from the same key, between batches.
        if let Err(err) = self.fulfill_requests().await {
            tracing::warn!(%err, "delivering contracts' answers failed; they stay queued");
        }
        let Some(plan) = batcher.plan(store).await? else { return Ok(None) };
        let signatures = self.batch_signatures(&plan).await?;
        // The key's nonce is taken and used under its sending lock, so that no other
        // transaction of this node's key (a model's listing, a dispute, a contract's answer)
        // takes the batch's nonce between its signing and its sending.
        let lock = veritas_chain::sender_lock(batcher.chain.chain_id(), batcher.sender.address());
        let sending = lock.lock().await;
        let batch = batcher.commit(store, &plan, signatures).await?;
        if let Err(err) = batcher.chain.send_raw(batch.raw_transaction.clone()).await {
            tracing::debug!(%err, "sending the batch failed; it is sent again as it resumes");
        }
        drop(sending);
        batcher.resume(store, batch).await
    }

    /// Counts a settlement round's outcome in the node's metrics, with the claims still pending.
    pub(crate) fn record_settlement(&self, outcome: &NodeResult<Option<SettledBatch>>) {
        let metrics = &self.core.metrics;
        match outcome {
            Ok(Some(batch)) => {
                metrics.batches_settled.inc();
                metrics.claims_settled.inc_by(batch.count as u64);
            }
            Ok(None) => {}
            Err(_) => {
                metrics.settlement_failures.inc();
            }
        }
        if let Ok(pending) = self.core.store.settlement().pending_count() {
            metrics.pending_settlement.set(i64::try_from(pending).unwrap_or(i64::MAX));
        }
    }

    /// The batcher, when the node settles on a chain.
    fn batcher(&self) -> Option<Batcher> {
        let link = self.core.chain()?;
        Some(Batcher {
            chain: link.chain.clone(),
            contracts: link.contracts,
            sender: self.sender.clone(),
            confirmations: link.confirmations,
        })
    }
}

#[cfg(test)]
mod tests {
    use veritas_chain::embedded::SharedChain;
    use veritas_primitives::{Claim, Mode, keccak256};

    use super::*;
    use crate::{devnet, store::Charge};

    struct Setup {
        _dir: tempfile::TempDir,
        chain: SharedChain,
        claims: Store,
        batcher: Batcher,
        validator: WorkerKey,
        worker: Address,
        ids: Vec<B256>,
    }

    /// Plans, signs and records the next batch without sending it.
    async fn prepare(s: &Setup) -> NodeResult<Option<InflightBatch>> {
        let Some(plan) = s.batcher.plan(&s.claims).await? else { return Ok(None) };
        let signature = Bytes::from(s.validator.sign_digest(&plan.digest)?.to_vec());
        Ok(Some(s.batcher.commit(&s.claims, &plan, vec![signature]).await?))
    }

    fn fee() -> U256 {
        dev_fee_per_claim()
    }

    async fn setup(payers: &[Address]) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let chain = SharedChain::new(devnet::open_dev_chain(&dir.path().join("chain.redb"), 1_767_225_600).unwrap());
        let worker = WorkerKey::from_bytes(&keccak256(b"worker")).unwrap();
        let validator = WorkerKey::from_bytes(&keccak256(b"validator")).unwrap();
        devnet::bootstrap(&chain, &worker, &validator).await.unwrap();
        let batcher = Batcher {
            chain: AnyChain::Embedded(chain.clone()),
            contracts: chain.contracts(),
            sender: std::sync::Arc::new(WorkerKey::from_bytes(&keccak256(b"validator")).unwrap()),
            confirmations: Confirmations::default(),
        };
        let domain = batcher.domain();
        // The gateway (here the validator key, as in a standalone node) lists the model's price.
        let list = ModelRegistry::listCall {
            modelId: veritas_primitives::ModelId::of_manifest(b"m").digest(),
            perRequest: fee(),
            perToken: U256::ZERO,
        };
        chain.send_call(&validator, chain.contracts().models, list, Confirmations::default()).await.unwrap();
        let claims = Store::open(&dir.path().join("claims.redb")).unwrap();
        let registry =
            crate::network::read_registry(&batcher.chain, batcher.contracts.registry).await.unwrap().snapshot();
        let mut ids = Vec::new();
        for (i, payer) in payers.iter().enumerate() {
            let claim = Claim {
                request_id: claims.receipts().next_request_id(&worker.address()),
                model_id: veritas_primitives::ModelId::of_manifest(b"m"),
                input_hash: keccak256([i as u8]),
                output_hash: keccak256([i as u8, 1]),
                params_hash: keccak256(b"{}"),
                mode: Mode::Signed,
                worker: worker.address(),
                timestamp: 1,
            };
            let receipt = Receipt::new(domain, worker.sign_claim(claim, &domain).unwrap());
            claims.settlement().append(&receipt, Charge { payer: *payer, fee: fee() }, Default::default()).unwrap();
            // A quorum (the only validator) judged it valid.
            let check = veritas_primitives::Check::Signed;
            let digest = veritas_primitives::verdict::verdict_digest(&domain, receipt.id(), true, check);
            let verdict = veritas_primitives::Verdict {
                validator: validator.address(),
                valid: true,
                check,
                signature: Bytes::from(validator.sign_digest(&digest).unwrap().to_vec()),
            };
            claims.settlement().finish_verification(&receipt.id(), vec![verdict], registry.clone(), true).unwrap();
            ids.push(receipt.id());
        }
        Setup { _dir: dir, chain, claims, batcher, validator, worker: worker.address(), ids }
    }

    async fn batches_on_chain(s: &Setup) -> U256 {
        s.chain.view(s.chain.contracts().settlement, SettlementContract::batchCountCall {}).await.unwrap()
    }

    fn payer() -> Address {
        devnet::dev_accounts()[1]
    }

    #[tokio::test]
    async fn a_batch_recorded_but_never_sent_is_sent_on_the_next_round() {
        let s = setup(&[payer(); 3]).await;
        let batch = prepare(&s).await.unwrap().unwrap();
        // Crash here: recorded, not sent. The next round sends the very same transaction.
        let settled = s.batcher.settle(&s.claims, &s.validator).await.unwrap().unwrap();
        assert_eq!(settled.transaction, batch.transaction);
        assert_eq!(batches_on_chain(&s).await, U256::from(1));
        assert!(s.claims.settlement().pending(10).unwrap().is_empty());
        assert!(s.claims.settlement().inflight().unwrap().is_none());
        assert_eq!(
            s.claims.accounts().committed(&payer()).unwrap(),
            U256::ZERO,
            "settled fees are no longer committed"
        );
    }

    #[tokio::test]
    async fn a_batch_mined_before_a_crash_is_finished_not_settled_again() {
        let s = setup(&[payer(); 3]).await;
        let batch = prepare(&s).await.unwrap().unwrap();
        s.chain.send_raw(batch.raw_transaction.clone()).await.unwrap();
        // Crash here: mined, receipts not yet updated.
        let head = s.chain.block_number().await.unwrap();
        let settled = s.batcher.settle(&s.claims, &s.validator).await.unwrap().unwrap();
        assert_eq!(settled.transaction, batch.transaction);
        assert_eq!(s.chain.block_number().await.unwrap(), head, "no second transaction");
        assert_eq!(batches_on_chain(&s).await, U256::from(1));
        for id in &s.ids {
            assert!(s.claims.receipts().get(id).unwrap().unwrap().settlement.is_some());
        }
        assert!(s.batcher.settle(&s.claims, &s.validator).await.unwrap().is_none());
    }

    /// The `settleBatch` call anyone can make from a plan's public parts and its signature.
    fn copy_of(plan: &BatchPlan, signature: Bytes) -> SettlementContract::settleBatchCall {
        settle_batch_call(
            plan.tree.root(),
            plan.ids.len() as u32,
            plan.gateway,
            plan.deadline,
            &plan.debits,
            &plan.credits,
            vec![signature],
        )
    }

    #[tokio::test]
    async fn a_batch_replayed_by_another_account_is_finished_from_the_chain_and_charged_once() {
        let s = setup(&[payer(); 3]).await;
        let plan = s.batcher.plan(&s.claims).await.unwrap().unwrap();
        let signature = Bytes::from(s.validator.sign_digest(&plan.digest).unwrap().to_vec());
        let ours = s.batcher.commit(&s.claims, &plan, vec![signature.clone()]).await.unwrap();
        let before = s.batcher.escrow(payer()).await.unwrap();
        // A stranger copies the signed batch (it is public once sent) and settles it first.
        let stranger = &devnet::dev_keys()[7];
        let call = copy_of(&plan, signature);
        let settlement = s.chain.contracts().settlement;
        let theirs = s.chain.send_call(stranger, settlement, call, Confirmations::default()).await.unwrap();
        let settled = s.batcher.settle(&s.claims, &s.validator).await.unwrap().unwrap();
        assert_eq!(settled.transaction, theirs.transaction, "finished from the transaction that settled it");
        assert_ne!(settled.transaction, ours.transaction);
        assert_eq!(batches_on_chain(&s).await, U256::from(1));
        assert_eq!(before - s.batcher.escrow(payer()).await.unwrap(), fee() * U256::from(3u64), "charged once");
        for id in &s.ids {
            let receipt = s.claims.receipts().get(id).unwrap().unwrap();
            assert_eq!(receipt.settlement.unwrap().transaction, theirs.transaction);
        }
        assert!(s.claims.settlement().pending(10).unwrap().is_empty(), "nothing queued again");
        assert!(s.batcher.settle(&s.claims, &s.validator).await.unwrap().is_none());
        assert_eq!(before - s.batcher.escrow(payer()).await.unwrap(), fee() * U256::from(3u64));
    }

    #[tokio::test]
    async fn a_batch_whose_transaction_reverts_because_another_settled_it_is_finished() {
        let s = setup(&[payer(); 2]).await;
        let plan = s.batcher.plan(&s.claims).await.unwrap().unwrap();
        let signature = Bytes::from(s.validator.sign_digest(&plan.digest).unwrap().to_vec());
        let ours = s.batcher.commit(&s.claims, &plan, vec![signature.clone()]).await.unwrap();
        // Ours is sent, and mined after a copy: it reverts with AlreadySettled.
        let call = copy_of(&plan, signature);
        let settlement = s.chain.contracts().settlement;
        let theirs =
            s.chain.send_call(&devnet::dev_keys()[7], settlement, call, Confirmations::default()).await.unwrap();
        s.chain.send_raw(ours.raw_transaction.clone()).await.unwrap();
        let mined = s.chain.wait(ours.transaction, Confirmations::default()).await.unwrap();
        assert!(!mined.status, "ours reverted");
        let settled = s.batcher.settle(&s.claims, &s.validator).await.unwrap().unwrap();
        assert_eq!(settled.transaction, theirs.transaction);
        assert!(s.claims.settlement().pending(10).unwrap().is_empty());
        assert!(s.claims.settlement().inflight().unwrap().is_none());
    }

    #[tokio::test]
    async fn a_batch_whose_nonce_was_taken_goes_back_to_the_queue() {
        let s = setup(&[payer(); 2]).await;
        prepare(&s).await.unwrap().unwrap();
        // Another transaction from the validator key takes the batch's nonce.
        let validator = &s.validator;
        s.chain
            .transact(validator, Some(payer()), U256::from(1u64), Bytes::new(), Confirmations::default())
            .await
            .unwrap();
        assert!(s.batcher.settle(&s.claims, &s.validator).await.is_err());
        assert!(s.claims.settlement().inflight().unwrap().is_none());
        assert_eq!(s.claims.settlement().pending(10).unwrap().len(), 2, "nothing lost");
        s.batcher.settle(&s.claims, &s.validator).await.unwrap().unwrap();
        assert!(s.claims.settlement().pending(10).unwrap().is_empty());
    }

    #[tokio::test]
    async fn each_payer_is_debited_for_its_own_requests() {
        let other = devnet::dev_keys()[2].address();
        let s = setup(&[payer(), other, payer()]).await;
        // Account 2 has no escrow yet: account 1's receipts settle, account 2's wait.
        let before = s.batcher.escrow(payer()).await.unwrap();
        assert_eq!(s.batcher.settle(&s.claims, &s.validator).await.unwrap().unwrap().count, 2);
        assert_eq!(s.claims.settlement().pending(10).unwrap(), vec![s.ids[1]]);
        assert!(s.claims.settlement().inflight().unwrap().is_none());
        assert!(s.batcher.settle(&s.claims, &s.validator).await.unwrap().is_none(), "nothing payable");
        let key = &devnet::dev_keys()[2];
        let token = s.chain.contracts().token;
        let settlement = s.chain.contracts().settlement;
        let now = Confirmations::default();
        let approve = veritas_chain::contracts::VeritasToken::approveCall { spender: settlement, value: fee() };
        s.chain.send_call(key, token, approve, now).await.unwrap();
        s.chain.send_call(key, settlement, SettlementContract::depositCall { amount: fee() }, now).await.unwrap();
        // Escrow alone is not enough: the account must allow this gateway to charge it.
        assert!(s.batcher.settle(&s.claims, &s.validator).await.unwrap().is_none(), "not allowed yet");
        let allow = SettlementContract::approveGatewayCall { gateway: s.validator.address(), amount: fee() };
        s.chain.send_call(key, settlement, allow, now).await.unwrap();
        assert_eq!(s.batcher.settle(&s.claims, &s.validator).await.unwrap().unwrap().count, 1);
        assert!(s.claims.settlement().pending(10).unwrap().is_empty());
        assert_eq!(before - s.batcher.escrow(payer()).await.unwrap(), fee() * U256::from(2u64));
        assert_eq!(s.batcher.escrow(other).await.unwrap(), U256::ZERO);
        let worker = s.batcher.escrow(s.worker).await.unwrap();
        assert_eq!(worker, fee() * U256::from(3u64) * U256::from(9u64) / U256::from(10u64));
    }
}
