//! The batcher: settles the claim log's pending receipts on the node's chain, a batch at a time.
//!
//! Until the verification network exists, the node's own validator key (a second key, in
//! `validator.key`) is the network's only validator: it signs each batch and a verdict on each
//! claim, and the receipt carries that verdict, so a reader sees who vouched. On the embedded
//! development network the fees are paid from development account 1's escrow.
//!
//! A claim is never settled twice and never lost: the batch (its queue positions, receipt ids
//! and the signed transaction) is written to the claim log before the transaction is sent, and
//! the receipts leave the queue in the same write that records their settlement. After a crash
//! the batch in flight is resumed: finished if its transaction was mined, re-sent if not.

use std::sync::Mutex;

use alloy_primitives::{Bytes, U256};
use alloy_sol_types::SolCall;
use veritas_chain::{
    ChainError,
    contracts::{NodeRegistry, Settlement as SettlementContract, VeritasToken, settle_batch_call},
    embedded::EmbeddedChain,
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

/// The fee charged per claim on the development network: 0.001 token.
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

/// Who signs and who pays.
pub(crate) struct Batcher {
    pub validator: WorkerKey,
    pub payer: WorkerKey,
    pub worker: Address,
    pub fee_per_claim: U256,
}

fn chain_err(err: ChainError) -> NodeError {
    NodeError::Chain(err)
}

/// Registers the worker (inference) and validator keys and funds the payer's escrow on the
/// development chain, once: funded by development account 0, which holds the token supply.
pub(crate) fn bootstrap(
    chain: &mut EmbeddedChain,
    admin: &WorkerKey,
    batcher: &Batcher,
    worker: &WorkerKey,
    now: u64,
) -> NodeResult<()> {
    let contracts = chain.contracts();
    let registered = chain
        .view(contracts.registry, NodeRegistry::nodeOfCall { signer: batcher.validator.address() })
        .map_err(chain_err)?
        .operator
        != Address::ZERO;
    if registered {
        return Ok(());
    }
    let unit = U256::from(10u64).pow(U256::from(18u64));
    let stake = unit * U256::from(10_000u64);
    let send = |chain: &mut EmbeddedChain, key: &WorkerKey, to: Address, value: U256, data: Vec<u8>| {
        let receipt = chain.send_signed(key, to, value, Bytes::from(data), now).map_err(chain_err)?;
        if receipt.status {
            Ok(())
        } else {
            Err(NodeError::Internal(format!("development bootstrap transaction {} failed", receipt.transaction_hash)))
        }
    };
    for (key, role) in [(&batcher.validator, 2u8), (worker, 1u8)] {
        let signer = key.address();
        send(chain, admin, signer, unit, Vec::new())?;
        send(
            chain,
            admin,
            contracts.token,
            U256::ZERO,
            VeritasToken::transferCall { to: signer, value: stake }.abi_encode(),
        )?;
        send(
            chain,
            key,
            contracts.token,
            U256::ZERO,
            VeritasToken::approveCall { spender: contracts.registry, value: stake }.abi_encode(),
        )?;
        let digest = chain
            .view(contracts.registry, NodeRegistry::registrationDigestCall { operator: signer })
            .map_err(chain_err)?;
        let proof = Bytes::from(key.sign_digest(&digest)?.to_vec());
        let register = NodeRegistry::registerCall { signer, role, endpoint: String::new(), stake, signerProof: proof };
        send(chain, key, contracts.registry, U256::ZERO, register.abi_encode())?;
    }
    let deposit = unit * U256::from(100_000u64);
    let payer = &batcher.payer;
    send(
        chain,
        payer,
        contracts.token,
        U256::ZERO,
        VeritasToken::approveCall { spender: contracts.settlement, value: deposit }.abi_encode(),
    )?;
    send(
        chain,
        payer,
        contracts.settlement,
        U256::ZERO,
        SettlementContract::depositCall { amount: deposit }.abi_encode(),
    )?;
    tracing::info!(validator = %batcher.validator.address(), worker = %worker.address(), "registered on the development chain");
    Ok(())
}

impl Batcher {
    /// Settles the next batch, or finishes the one in flight; `None` when nothing is pending.
    pub fn settle(
        &self,
        chain: &Mutex<EmbeddedChain>,
        claims: &ClaimLog,
        domain: &ClaimDomain,
        now: u64,
    ) -> NodeResult<Option<SettledBatch>> {
        let mut chain = chain.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let batch = match claims.inflight()? {
            Some(batch) => batch,
            None => match self.prepare(&chain, claims, domain)? {
                Some(batch) => batch,
                None => return Ok(None),
            },
        };
        self.resume(&mut chain, claims, domain, batch, now)
    }

    /// Builds, signs and records (before anything is sent) the next batch of pending receipts.
    fn prepare(
        &self,
        chain: &EmbeddedChain,
        claims: &ClaimLog,
        domain: &ClaimDomain,
    ) -> NodeResult<Option<InflightBatch>> {
        let pending = claims.pending_with_sequence(MAX_BATCH)?;
        if pending.is_empty() {
            return Ok(None);
        }
        let ids: Vec<B256> = pending.iter().map(|(_, id)| *id).collect();
        let count = ids.len() as u32;
        let tree = MerkleTree::new(ids.iter().map(merkle_leaf).collect());
        let total = self.fee_per_claim * U256::from(count);
        let to_worker = total * U256::from(9u64) / U256::from(10u64);
        let debits = vec![Transfer { account: self.payer.address(), amount: total }];
        let credits = vec![
            Transfer { account: self.worker, amount: to_worker },
            Transfer { account: self.validator.address(), amount: total - to_worker },
        ];
        let digest = batch_digest(domain, tree.root(), count, &debits, &credits);
        let signature = Bytes::from(self.validator.sign_digest(&digest)?.to_vec());
        let call = settle_batch_call(tree.root(), count, &debits, &credits, vec![signature]);
        let (raw, transaction) = chain
            .sign_transaction(&self.validator, domain.verifying_contract, U256::ZERO, call.abi_encode().into())
            .map_err(chain_err)?;
        let batch = InflightBatch {
            sequences: pending.iter().map(|(sequence, _)| *sequence).collect(),
            ids,
            raw_transaction: raw,
            transaction,
        };
        claims.begin_batch(&batch)?;
        Ok(Some(batch))
    }

    /// Sends the batch's transaction if it is not mined yet, then records the settlement.
    fn resume(
        &self,
        chain: &mut EmbeddedChain,
        claims: &ClaimLog,
        domain: &ClaimDomain,
        batch: InflightBatch,
        now: u64,
    ) -> NodeResult<Option<SettledBatch>> {
        let mined = match chain.receipt(&batch.transaction).map_err(chain_err)? {
            Some(receipt) => receipt,
            None => match chain.send_raw_transaction(&batch.raw_transaction, now) {
                Ok(hash) => chain
                    .receipt(&hash)
                    .map_err(chain_err)?
                    .ok_or_else(|| NodeError::Internal(format!("settlement transaction {hash} has no receipt")))?,
                Err(err) => {
                    // Never mined (a stale nonce, a refused transaction): the receipts stay
                    // queued and the next round builds a fresh batch.
                    claims.abandon_batch()?;
                    return Err(chain_err(err));
                }
            },
        };
        if !mined.status {
            claims.abandon_batch()?;
            return Err(NodeError::Internal(format!("settlement transaction {} reverted", mined.transaction_hash)));
        }
        let tree = MerkleTree::new(batch.ids.iter().map(merkle_leaf).collect());
        let mut receipts = Vec::with_capacity(batch.ids.len());
        for (index, id) in batch.ids.iter().enumerate() {
            let mut receipt: Receipt = claims.get(id)?.ok_or_else(|| NodeError::UnknownReceipt(id.to_string()))?;
            let verdict = self.validator.sign_digest(&verdict_digest(domain, *id, true))?;
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
                transaction: mined.transaction_hash,
                block: mined.block_number,
            });
            receipts.push(receipt);
        }
        claims.finish_batch(&batch, &receipts)?;
        tracing::info!(root = %tree.root(), count = receipts.len(), block = mined.block_number, "batch settled");
        Ok(Some(SettledBatch {
            root: tree.root(),
            count: receipts.len(),
            transaction: mined.transaction_hash,
            block: mined.block_number,
        }))
    }
}

#[cfg(test)]
mod tests {
    use veritas_primitives::{Claim, Mode, keccak256};

    use super::*;
    use crate::devnet;

    struct Setup {
        _dir: tempfile::TempDir,
        chain: Mutex<EmbeddedChain>,
        claims: ClaimLog,
        batcher: Batcher,
        domain: ClaimDomain,
        ids: Vec<B256>,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let mut chain = devnet::open_dev_chain(&dir.path().join("chain.redb"), 1_767_225_600).unwrap();
        let keys = devnet::dev_keys();
        let worker = WorkerKey::from_bytes(&keccak256(b"worker")).unwrap();
        let batcher = Batcher {
            validator: WorkerKey::from_bytes(&keccak256(b"validator")).unwrap(),
            payer: WorkerKey::from_bytes(&keys[1].secret()).unwrap(),
            worker: worker.address(),
            fee_per_claim: dev_fee_per_claim(),
        };
        bootstrap(&mut chain, &keys[0], &batcher, &worker, 1_767_225_601).unwrap();
        let domain = chain.contracts().domain(chain.chain_id());
        let claims = ClaimLog::open(&dir.path().join("claims.redb")).unwrap();
        let mut ids = Vec::new();
        for i in 0..3u8 {
            let claim = Claim {
                request_id: claims.next_request_id(&worker.address()),
                model_id: veritas_primitives::ModelId::of_manifest(b"m"),
                input_hash: keccak256([i]),
                output_hash: keccak256([i, i]),
                params_hash: keccak256(b"{}"),
                mode: Mode::Signed,
                worker: worker.address(),
                timestamp: 1,
            };
            let receipt = Receipt::new(domain, worker.sign_claim(claim, &domain).unwrap());
            claims.append(&receipt).unwrap();
            ids.push(receipt.id());
        }
        Setup { _dir: dir, chain: Mutex::new(chain), claims, batcher, domain, ids }
    }

    fn batches_on_chain(s: &Setup) -> U256 {
        let mut chain = s.chain.lock().unwrap();
        let settlement = chain.contracts().settlement;
        chain.view(settlement, SettlementContract::batchCountCall {}).unwrap()
    }

    #[test]
    fn a_batch_recorded_but_never_sent_is_sent_on_the_next_round() {
        let s = setup();
        let batch = s.batcher.prepare(&s.chain.lock().unwrap(), &s.claims, &s.domain).unwrap().unwrap();
        // Crash here: recorded, not sent. The next round sends the very same transaction.
        let settled = s.batcher.settle(&s.chain, &s.claims, &s.domain, 1_767_225_700).unwrap().unwrap();
        assert_eq!(settled.transaction, batch.transaction);
        assert_eq!(batches_on_chain(&s), U256::from(1));
        assert!(s.claims.pending(10).unwrap().is_empty());
        assert!(s.claims.inflight().unwrap().is_none());
    }

    #[test]
    fn a_batch_mined_before_a_crash_is_finished_not_settled_again() {
        let s = setup();
        let batch = s.batcher.prepare(&s.chain.lock().unwrap(), &s.claims, &s.domain).unwrap().unwrap();
        s.chain.lock().unwrap().send_raw_transaction(&batch.raw_transaction, 1_767_225_700).unwrap();
        // Crash here: mined, receipts not yet updated.
        let head = s.chain.lock().unwrap().head().number;
        let settled = s.batcher.settle(&s.chain, &s.claims, &s.domain, 1_767_225_800).unwrap().unwrap();
        assert_eq!(settled.transaction, batch.transaction);
        assert_eq!(s.chain.lock().unwrap().head().number, head, "no second transaction");
        assert_eq!(batches_on_chain(&s), U256::from(1));
        for id in &s.ids {
            assert!(s.claims.get(id).unwrap().unwrap().settlement.is_some());
        }
        assert!(s.batcher.settle(&s.chain, &s.claims, &s.domain, 1_767_225_900).unwrap().is_none());
    }

    #[test]
    fn a_payer_that_cannot_pay_leaves_the_receipts_queued() {
        let s = setup();
        let broke = Batcher {
            validator: WorkerKey::from_bytes(&s.batcher.validator.secret()).unwrap(),
            payer: WorkerKey::from_bytes(&keccak256(b"nobody")).unwrap(),
            worker: s.batcher.worker,
            fee_per_claim: dev_fee_per_claim(),
        };
        let err = broke.settle(&s.chain, &s.claims, &s.domain, 1_767_225_700).unwrap_err();
        assert!(err.to_string().contains("reverted"), "{err}");
        assert_eq!(s.claims.pending(10).unwrap().len(), 3, "nothing lost");
        assert!(s.claims.inflight().unwrap().is_none());
        // With a payer that can pay, the same receipts settle.
        s.batcher.settle(&s.chain, &s.claims, &s.domain, 1_767_225_800).unwrap().unwrap();
        assert!(s.claims.pending(10).unwrap().is_empty());
    }
}
