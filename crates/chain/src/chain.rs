//! The `Chain` trait: what settlement needs from an EVM chain, whether it runs in-process
//! ([`crate::embedded::SharedChain`]) or is reached over JSON-RPC ([`crate::rpc_chain::RpcChain`]).
//!
//! The required methods are the few JSON-RPC calls every EVM node answers; the provided ones
//! (typed views, signing with the right nonce and fees, waiting for confirmations, deploying)
//! are built on them, so both implementations behave the same by construction.

use std::{future::Future, time::Duration};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use veritas_primitives::WorkerKey;

use crate::{ChainError, ChainResult, contracts::revert_reason};

/// A mined transaction, as far as its sender cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mined {
    /// The transaction.
    pub transaction: B256,
    /// The block that holds it.
    pub block: u64,
    /// Whether it succeeded (a reverted transaction is mined too).
    pub status: bool,
    /// Gas it used.
    pub gas_used: u64,
    /// The contract it created, for deployments.
    pub contract_address: Option<Address>,
}

/// A log a contract emitted, as far as a watcher cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainLog {
    /// The block that holds it.
    pub block: u64,
    /// The transaction that emitted it.
    pub transaction: B256,
    /// Its topics (the first is the event's signature hash).
    pub topics: Vec<B256>,
    /// Its data.
    pub data: Bytes,
}

/// A signed transaction, not yet sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The EIP-2718 bytes.
    pub raw: Bytes,
    /// Its hash.
    pub hash: B256,
    /// Its nonce.
    pub nonce: u64,
}

/// What a transaction offers to pay per gas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fees {
    /// The most per gas, base fee included.
    pub max_fee_per_gas: u128,
    /// The tip per gas.
    pub max_priority_fee_per_gas: u128,
}

/// How long to wait for a transaction, and how deep it must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Confirmations {
    /// Blocks on top of the one that holds it, itself included (1: mined).
    pub depth: u64,
    /// How often to poll.
    pub poll: Duration,
    /// When to give up (the transaction may still be mined later).
    pub timeout: Duration,
}

impl Default for Confirmations {
    fn default() -> Confirmations {
        Confirmations { depth: 1, poll: Duration::from_millis(100), timeout: Duration::from_secs(120) }
    }
}

/// An EVM chain.
pub trait Chain: Send + Sync {
    /// Its EIP-155 chain id.
    fn chain_id(&self) -> u64;

    /// The latest block number.
    fn block_number(&self) -> impl Future<Output = ChainResult<u64>> + Send;

    /// A read-only call against the latest state; a revert is [`ChainError::Reverted`].
    fn call(&self, from: Address, to: Address, data: Bytes) -> impl Future<Output = ChainResult<Bytes>> + Send;

    /// The next nonce of `account`, counting transactions not yet mined.
    fn nonce(&self, account: Address) -> impl Future<Output = ChainResult<u64>> + Send;

    /// The next nonce of `account` counting mined transactions only.
    fn mined_nonce(&self, account: Address) -> impl Future<Output = ChainResult<u64>> + Send;

    /// An account's ether balance in wei.
    fn balance(&self, account: Address) -> impl Future<Output = ChainResult<U256>> + Send;

    /// What to offer per gas now.
    fn fees(&self) -> impl Future<Output = ChainResult<Fees>> + Send;

    /// The gas a transaction would use now (a deployment when `to` is `None`); a revert is
    /// [`ChainError::Reverted`].
    fn estimate_gas(
        &self,
        from: Address,
        to: Option<Address>,
        value: U256,
        data: Bytes,
    ) -> impl Future<Output = ChainResult<u64>> + Send;

    /// Submits a signed EIP-2718 transaction; returns its hash.
    fn send_raw(&self, raw: Bytes) -> impl Future<Output = ChainResult<B256>> + Send;

    /// A mined transaction, or `None` while it is not (or never will be) mined.
    fn mined(&self, transaction: B256) -> impl Future<Output = ChainResult<Option<Mined>>> + Send;

    /// The logs `address` emitted with first topic `topic0` in blocks `from..=to`, in chain
    /// order (`eth_getLogs`). `to` must not pass the head (nodes such as anvil refuse it), and
    /// nodes cap the range of one query: keep it to a few thousand blocks.
    fn logs(
        &self,
        address: Address,
        topic0: B256,
        from: u64,
        to: u64,
    ) -> impl Future<Output = ChainResult<Vec<ChainLog>>> + Send;

    /// A typed read-only call.
    fn view<C: SolCall + Send>(&self, to: Address, call: C) -> impl Future<Output = ChainResult<C::Return>> + Send {
        async move {
            let output = self.call(Address::ZERO, to, call.abi_encode().into()).await?;
            C::abi_decode_returns(&output)
                .map_err(|err| ChainError::Decode(format!("{} returned {} bytes: {err}", C::SIGNATURE, output.len())))
        }
    }

    /// Signs a transaction from `key` with its next nonce, the chain's fees and the estimated
    /// gas plus a quarter; returns the raw bytes and the hash without sending them. A call that
    /// would revert is refused here, with its reason.
    fn sign(
        &self,
        key: &WorkerKey,
        to: Option<Address>,
        value: U256,
        data: Bytes,
    ) -> impl Future<Output = ChainResult<Signed>> + Send {
        self.sign_with_gas(key, to, value, data, 0)
    }

    /// [`Chain::sign`] with `extra_gas` on top of the estimate: for calls that hand a fixed gas
    /// budget to a callee (whose use the estimate does not see) and check that it is there.
    fn sign_with_gas(
        &self,
        key: &WorkerKey,
        to: Option<Address>,
        value: U256,
        data: Bytes,
        extra_gas: u64,
    ) -> impl Future<Output = ChainResult<Signed>> + Send {
        async move {
            let from = key.address();
            let gas = self.estimate_gas(from, to, value, data.clone()).await?.saturating_add(extra_gas);
            let nonce = self.nonce(from).await?;
            let fees = self.fees().await?;
            let tx = TxEip1559 {
                chain_id: self.chain_id(),
                nonce,
                gas_limit: gas + gas / 4,
                max_fee_per_gas: fees.max_fee_per_gas,
                max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
                to: to.map_or(TxKind::Create, TxKind::Call),
                value,
                access_list: Default::default(),
                input: data,
            };
            let (raw, hash) = sign_envelope(key, tx)?;
            Ok(Signed { raw, hash, nonce })
        }
    }

    /// Waits until `transaction` is mined under `confirmations.depth - 1` more blocks.
    fn wait(&self, transaction: B256, confirmations: Confirmations) -> impl Future<Output = ChainResult<Mined>> + Send {
        async move {
            let started = tokio::time::Instant::now();
            loop {
                if let Some(mined) = self.mined(transaction).await? {
                    let head = self.block_number().await?;
                    if head + 1 >= mined.block + confirmations.depth {
                        return Ok(mined);
                    }
                }
                if started.elapsed() >= confirmations.timeout {
                    return Err(ChainError::Timeout(format!(
                        "transaction {transaction} not confirmed ({} blocks) after {:?}",
                        confirmations.depth, confirmations.timeout
                    )));
                }
                tokio::time::sleep(confirmations.poll).await;
            }
        }
    }

    /// Signs, sends and waits for a transaction; a reverted one is an error naming it.
    fn transact(
        &self,
        key: &WorkerKey,
        to: Option<Address>,
        value: U256,
        data: Bytes,
        confirmations: Confirmations,
    ) -> impl Future<Output = ChainResult<Mined>> + Send {
        self.transact_with_gas(key, to, value, data, 0, confirmations)
    }

    /// [`Chain::transact`] with `extra_gas` on top of the estimate (see [`Chain::sign_with_gas`]).
    fn transact_with_gas(
        &self,
        key: &WorkerKey,
        to: Option<Address>,
        value: U256,
        data: Bytes,
        extra_gas: u64,
        confirmations: Confirmations,
    ) -> impl Future<Output = ChainResult<Mined>> + Send {
        async move {
            let hash = {
                let lock = sender_lock(self.chain_id(), key.address());
                let _sending = lock.lock().await;
                let signed = self.sign_with_gas(key, to, value, data, extra_gas).await?;
                self.send_raw(signed.raw).await?
            };
            let mined = self.wait(hash, confirmations).await?;
            if !mined.status {
                return Err(ChainError::Reverted {
                    reason: format!("transaction {hash} reverted on chain"),
                    data: Bytes::new(),
                    gas_used: mined.gas_used,
                });
            }
            Ok(mined)
        }
    }

    /// [`Chain::transact`] of an ABI-encoded call.
    fn send_call<C: SolCall + Send>(
        &self,
        key: &WorkerKey,
        to: Address,
        call: C,
        confirmations: Confirmations,
    ) -> impl Future<Output = ChainResult<Mined>> + Send {
        async move { self.transact(key, Some(to), U256::ZERO, call.abi_encode().into(), confirmations).await }
    }
}

/// The lock an account's transactions on a chain are signed and sent under, one per account and
/// chain in this process: the nonce manager. A transaction's nonce is read, signed and sent
/// (into the pool) while the lock is held, so two transactions of one key, say a gateway's batch
/// and a model's listing, never take the same nonce, nor reach a pool out of order.
/// [`Chain::transact`] takes it; whoever signs with [`Chain::sign`] and sends later takes it
/// around both.
pub fn sender_lock(chain_id: u64, account: Address) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    type Locks = std::collections::HashMap<(u64, Address), std::sync::Arc<tokio::sync::Mutex<()>>>;
    static LOCKS: std::sync::LazyLock<std::sync::Mutex<Locks>> = std::sync::LazyLock::new(Default::default);
    let mut locks = LOCKS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    locks.entry((chain_id, account)).or_default().clone()
}

/// Signs an EIP-1559 transaction; returns its EIP-2718 bytes and its hash.
pub fn sign_envelope(key: &WorkerKey, tx: TxEip1559) -> ChainResult<(Bytes, B256)> {
    let raw = key.sign_digest(&tx.signature_hash()).map_err(|err| ChainError::Rejected(err.to_string()))?;
    let signature =
        alloy_primitives::Signature::from_raw_array(&raw).map_err(|err| ChainError::Rejected(err.to_string()))?;
    let envelope = TxEnvelope::Eip1559(tx.into_signed(signature));
    Ok((envelope.encoded_2718().into(), *envelope.tx_hash()))
}

/// The error of a call that reverted with `data`.
pub(crate) fn reverted(data: Bytes, gas_used: u64) -> ChainError {
    ChainError::Reverted { reason: revert_reason(&data), data, gas_used }
}
