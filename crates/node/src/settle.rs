//! The batcher: settles the claim log's pending receipts on the node's chain, a batch at a time.
//!
//! Until the verification network exists, the node's own validator key (a second key, in
//! `validator.key`) is the network's only validator: it signs each batch and a verdict on each
//! claim, and the receipt carries that verdict, so a reader sees who vouched. Each receipt is
//! charged to the account that paid for its request; a batch debits each payer's escrow once.
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
use alloy_sol_types::SolCall;
use veritas_chain::{
    AnyChain, Chain, ChainError, Confirmations,
    contracts::{Settlement as SettlementContract, settle_batch_call},
    genesis::Contracts,
};
use veritas_primitives::{
    Address, B256, ClaimDomain, MerkleTree, Receipt, Settlement, Verdict, WorkerKey,
    batch::{Transfer, batch_digest},
    merkle_leaf,
    verdict::verdict_digest,
};

use crate::{ClaimLog, InflightBatch, NodeError, NodeResult};

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

/// The chain, the contracts and who signs.
pub(crate) struct Batcher {
    pub chain: AnyChain,
    pub contracts: Contracts,
    pub validator: WorkerKey,
    pub worker: Address,
    pub confirmations: Confirmations,
}

fn chain_err(err: ChainError) -> NodeError {
    NodeError::Chain(err)
}

/// Nets a batch's charges: one debit per payer (in address order), the worker's nine tenths
/// and the validator's rest as credits; zero amounts are left out.
fn transfers(charges: &[crate::Charge], worker: Address, validator: Address) -> (Vec<Transfer>, Vec<Transfer>) {
    let mut by_payer = BTreeMap::<Address, U256>::new();
    for charge in charges {
        *by_payer.entry(charge.payer).or_default() += charge.fee;
    }
    let total: U256 = by_payer.values().copied().sum();
    let to_worker = total * U256::from(9u64) / U256::from(10u64);
    let debits = by_payer
        .into_iter()
        .filter(|(_, amount)| !amount.is_zero())
        .map(|(account, amount)| Transfer { account, amount })
        .collect();
    let credits = [(worker, to_worker), (validator, total - to_worker)]
        .into_iter()
        .filter(|(_, amount)| !amount.is_zero())
        .map(|(account, amount)| Transfer { account, amount })
        .collect();
    (debits, credits)
}

impl Batcher {
    /// The domain claims, batches and verdicts are signed in.
    pub fn domain(&self) -> ClaimDomain {
        self.contracts.domain(self.chain.chain_id())
    }

    /// Settles the next batch, or finishes the one in flight; `None` when nothing is pending.
    pub async fn settle(&self, claims: &ClaimLog) -> NodeResult<Option<SettledBatch>> {
        let batch = match claims.inflight()? {
            Some(batch) => batch,
            None => match self.prepare(claims).await? {
                Some(batch) => batch,
                None => return Ok(None),
            },
        };
        self.resume(claims, batch).await
    }

    /// Builds, signs and records (before anything is sent) the next batch of pending receipts.
    pub(crate) async fn prepare(&self, claims: &ClaimLog) -> NodeResult<Option<InflightBatch>> {
        let queued = self.payable(claims.queued(MAX_BATCH * 4)?).await?;
        if queued.is_empty() {
            return Ok(None);
        }
        let domain = self.domain();
        let ids: Vec<B256> = queued.iter().map(|entry| entry.id).collect();
        let count = ids.len() as u32;
        let tree = MerkleTree::new(ids.iter().map(merkle_leaf).collect());
        let charges: Vec<_> = queued.iter().map(|entry| entry.charge).collect();
        let (debits, credits) = transfers(&charges, self.worker, self.validator.address());
        let digest = batch_digest(&domain, tree.root(), count, &debits, &credits);
        let signature = Bytes::from(self.validator.sign_digest(&digest)?.to_vec());
        let call = settle_batch_call(tree.root(), count, &debits, &credits, vec![signature]);
        let signed = self
            .chain
            .sign(&self.validator, Some(domain.verifying_contract), U256::ZERO, call.abi_encode().into())
            .await
            .map_err(chain_err)?;
        let batch = InflightBatch {
            sequences: queued.iter().map(|entry| entry.sequence).collect(),
            ids,
            raw_transaction: signed.raw,
            transaction: signed.hash,
            nonce: signed.nonce,
        };
        claims.begin_batch(&batch)?;
        Ok(Some(batch))
    }

    /// Sends the batch's transaction if it is not mined yet, waits for its confirmations, then
    /// records the settlement.
    async fn resume(&self, claims: &ClaimLog, batch: InflightBatch) -> NodeResult<Option<SettledBatch>> {
        let chain = &self.chain;
        let unmined = chain.mined(batch.transaction).await.map_err(chain_err)?.is_none();
        if unmined && let Err(err) = chain.send_raw(batch.raw_transaction.clone()).await {
            // Already in the chain's pool is fine; a nonce used by another transaction means
            // this one can never be mined, so its receipts go back to the queue.
            let stale = chain.mined(batch.transaction).await.map_err(chain_err)?.is_none()
                && chain.mined_nonce(self.validator.address()).await.map_err(chain_err)? > batch.nonce;
            if stale {
                claims.abandon_batch()?;
            }
            if stale || !matches!(err, ChainError::Rejected(ref reason) if reason.contains("already known")) {
                return Err(chain_err(err));
            }
        }
        let mined = chain.wait(batch.transaction, self.confirmations).await.map_err(chain_err)?;
        if !mined.status {
            claims.abandon_batch()?;
            return Err(NodeError::Internal(format!("settlement transaction {} reverted", mined.transaction)));
        }
        let domain = self.domain();
        let tree = MerkleTree::new(batch.ids.iter().map(merkle_leaf).collect());
        let mut receipts = Vec::with_capacity(batch.ids.len());
        for (index, id) in batch.ids.iter().enumerate() {
            let mut receipt: Receipt = claims.get(id)?.ok_or_else(|| NodeError::UnknownReceipt(id.to_string()))?;
            let verdict = self.validator.sign_digest(&verdict_digest(&domain, *id, true))?;
            receipt.verdicts = vec![Verdict {
                validator: self.validator.address(),
                valid: true,
                signature: Bytes::from(verdict.to_vec()),
            }];
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
        claims.finish_batch(&batch, &receipts)?;
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
    async fn payable(&self, queued: Vec<crate::Queued>) -> NodeResult<Vec<crate::Queued>> {
        let mut left = BTreeMap::<Address, U256>::new();
        let mut payable = Vec::with_capacity(queued.len().min(MAX_BATCH));
        for entry in queued {
            if payable.len() == MAX_BATCH {
                break;
            }
            let payer = entry.charge.payer;
            let remaining = match left.get(&payer) {
                Some(remaining) => *remaining,
                None => self.escrow(payer).await?,
            };
            if remaining < entry.charge.fee {
                left.insert(payer, U256::ZERO);
                tracing::warn!(%payer, receipt = %entry.id, "the payer's escrow does not cover this receipt; it stays queued");
                continue;
            }
            left.insert(payer, remaining - entry.charge.fee);
            payable.push(entry);
        }
        Ok(payable)
    }

    /// An account's escrow in the settlement contract.
    pub async fn escrow(&self, account: Address) -> NodeResult<U256> {
        let call = SettlementContract::balanceOfCall { account };
        self.chain.view(self.contracts.settlement, call).await.map_err(chain_err)
    }
}

#[cfg(test)]
mod tests {
    use veritas_chain::embedded::SharedChain;
    use veritas_primitives::{Claim, Mode, keccak256};

    use super::*;
    use crate::{Charge, devnet};

    struct Setup {
        _dir: tempfile::TempDir,
        chain: SharedChain,
        claims: ClaimLog,
        batcher: Batcher,
        ids: Vec<B256>,
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
            validator,
            worker: worker.address(),
            confirmations: Confirmations::default(),
        };
        let domain = batcher.domain();
        let claims = ClaimLog::open(&dir.path().join("claims.redb")).unwrap();
        let mut ids = Vec::new();
        for (i, payer) in payers.iter().enumerate() {
            let claim = Claim {
                request_id: claims.next_request_id(&worker.address()),
                model_id: veritas_primitives::ModelId::of_manifest(b"m"),
                input_hash: keccak256([i as u8]),
                output_hash: keccak256([i as u8, 1]),
                params_hash: keccak256(b"{}"),
                mode: Mode::Signed,
                worker: worker.address(),
                timestamp: 1,
            };
            let receipt = Receipt::new(domain, worker.sign_claim(claim, &domain).unwrap());
            claims.append(&receipt, Charge { payer: *payer, fee: fee() }).unwrap();
            ids.push(receipt.id());
        }
        Setup { _dir: dir, chain, claims, batcher, ids }
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
        let batch = s.batcher.prepare(&s.claims).await.unwrap().unwrap();
        // Crash here: recorded, not sent. The next round sends the very same transaction.
        let settled = s.batcher.settle(&s.claims).await.unwrap().unwrap();
        assert_eq!(settled.transaction, batch.transaction);
        assert_eq!(batches_on_chain(&s).await, U256::from(1));
        assert!(s.claims.pending(10).unwrap().is_empty());
        assert!(s.claims.inflight().unwrap().is_none());
        assert_eq!(s.claims.committed(&payer()).unwrap(), U256::ZERO, "settled fees are no longer committed");
    }

    #[tokio::test]
    async fn a_batch_mined_before_a_crash_is_finished_not_settled_again() {
        let s = setup(&[payer(); 3]).await;
        let batch = s.batcher.prepare(&s.claims).await.unwrap().unwrap();
        s.chain.send_raw(batch.raw_transaction.clone()).await.unwrap();
        // Crash here: mined, receipts not yet updated.
        let head = s.chain.block_number().await.unwrap();
        let settled = s.batcher.settle(&s.claims).await.unwrap().unwrap();
        assert_eq!(settled.transaction, batch.transaction);
        assert_eq!(s.chain.block_number().await.unwrap(), head, "no second transaction");
        assert_eq!(batches_on_chain(&s).await, U256::from(1));
        for id in &s.ids {
            assert!(s.claims.get(id).unwrap().unwrap().settlement.is_some());
        }
        assert!(s.batcher.settle(&s.claims).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_batch_whose_nonce_was_taken_goes_back_to_the_queue() {
        let s = setup(&[payer(); 2]).await;
        s.batcher.prepare(&s.claims).await.unwrap().unwrap();
        // Another transaction from the validator key takes the batch's nonce.
        let validator = &s.batcher.validator;
        s.chain
            .transact(validator, Some(payer()), U256::from(1u64), Bytes::new(), Confirmations::default())
            .await
            .unwrap();
        assert!(s.batcher.settle(&s.claims).await.is_err());
        assert!(s.claims.inflight().unwrap().is_none());
        assert_eq!(s.claims.pending(10).unwrap().len(), 2, "nothing lost");
        s.batcher.settle(&s.claims).await.unwrap().unwrap();
        assert!(s.claims.pending(10).unwrap().is_empty());
    }

    #[tokio::test]
    async fn each_payer_is_debited_for_its_own_requests() {
        let other = devnet::dev_keys()[2].address();
        let s = setup(&[payer(), other, payer()]).await;
        // Account 2 has no escrow yet: account 1's receipts settle, account 2's wait.
        let before = s.batcher.escrow(payer()).await.unwrap();
        assert_eq!(s.batcher.settle(&s.claims).await.unwrap().unwrap().count, 2);
        assert_eq!(s.claims.pending(10).unwrap(), vec![s.ids[1]]);
        assert!(s.claims.inflight().unwrap().is_none());
        assert!(s.batcher.settle(&s.claims).await.unwrap().is_none(), "nothing payable");
        let key = &devnet::dev_keys()[2];
        let token = s.chain.contracts().token;
        let settlement = s.chain.contracts().settlement;
        let now = Confirmations::default();
        let approve = veritas_chain::contracts::VeritasToken::approveCall { spender: settlement, value: fee() };
        s.chain.send_call(key, token, approve, now).await.unwrap();
        s.chain.send_call(key, settlement, SettlementContract::depositCall { amount: fee() }, now).await.unwrap();
        assert_eq!(s.batcher.settle(&s.claims).await.unwrap().unwrap().count, 1);
        assert!(s.claims.pending(10).unwrap().is_empty());
        assert_eq!(before - s.batcher.escrow(payer()).await.unwrap(), fee() * U256::from(2u64));
        assert_eq!(s.batcher.escrow(other).await.unwrap(), U256::ZERO);
        let worker = s.batcher.escrow(s.batcher.worker).await.unwrap();
        assert_eq!(worker, fee() * U256::from(3u64) * U256::from(9u64) / U256::from(10u64));
    }
}
