//! `SharedChain`: the embedded chain behind a lock, as a [`Chain`].
//!
//! Every call goes to the blocking pool: mining writes a block with an fsync, and an async
//! worker thread must not wait on that.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{SystemTime, UNIX_EPOCH},
};

use alloy_primitives::{Address, B256, Bytes, U256};

use super::EmbeddedChain;
use crate::{
    Chain, ChainError, ChainResult,
    chain::{ChainLog, Fees, Mined},
    genesis::Contracts,
};

/// The embedded chain, shared by the node, its batcher and its JSON-RPC endpoint.
#[derive(Clone)]
pub struct SharedChain {
    inner: Arc<Mutex<EmbeddedChain>>,
    chain_id: u64,
    contracts: Contracts,
}

/// Unix seconds now.
pub(crate) fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl SharedChain {
    /// Shares `chain`.
    pub fn new(chain: EmbeddedChain) -> SharedChain {
        let (chain_id, contracts) = (chain.chain_id(), chain.contracts());
        SharedChain { inner: Arc::new(Mutex::new(chain)), chain_id, contracts }
    }

    /// Where genesis deployed the contracts.
    pub fn contracts(&self) -> Contracts {
        self.contracts
    }

    /// Locks the chain for direct use (the JSON-RPC endpoint, tests). A panic while it was
    /// held leaves it usable: every write is one redb transaction.
    pub fn lock(&self) -> MutexGuard<'_, EmbeddedChain> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the chain in the blocking pool.
    pub async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut EmbeddedChain) -> ChainResult<T> + Send + 'static,
    ) -> ChainResult<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&mut inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())))
            .await
            .map_err(|err| ChainError::Storage(format!("embedded chain task: {err}")))?
    }

    /// Mines a block with whatever waits, now.
    pub async fn mine(&self) -> ChainResult<u64> {
        self.with(|chain| Ok(chain.mine(now_seconds())?.number)).await
    }
}

impl Chain for SharedChain {
    fn chain_id(&self) -> u64 {
        self.chain_id
    }

    async fn block_number(&self) -> ChainResult<u64> {
        Ok(self.lock().head().number)
    }

    async fn call(&self, from: Address, to: Address, data: Bytes) -> ChainResult<Bytes> {
        self.with(move |chain| chain.call(from, to, data)).await
    }

    async fn nonce(&self, account: Address) -> ChainResult<u64> {
        Ok(self.lock().pending_nonce(account))
    }

    async fn mined_nonce(&self, account: Address) -> ChainResult<u64> {
        Ok(self.lock().nonce(account))
    }

    async fn balance(&self, account: Address) -> ChainResult<U256> {
        Ok(self.lock().balance(account))
    }

    async fn fees(&self) -> ChainResult<Fees> {
        // The embedded chain's base fee is zero; the tip is what its JSON-RPC suggests.
        Ok(Fees { max_fee_per_gas: 1_000_000_000, max_priority_fee_per_gas: 1_000_000_000 })
    }

    async fn estimate_gas(&self, from: Address, to: Option<Address>, _value: U256, data: Bytes) -> ChainResult<u64> {
        self.with(move |chain| chain.estimate_gas(from, to, data)).await
    }

    async fn send_raw(&self, raw: Bytes) -> ChainResult<B256> {
        self.with(move |chain| chain.send_raw_transaction(&raw, now_seconds())).await
    }

    async fn mined(&self, transaction: B256) -> ChainResult<Option<Mined>> {
        let receipt = self.lock().receipt(&transaction)?;
        Ok(receipt.map(|receipt| Mined {
            transaction,
            block: receipt.block_number,
            status: receipt.status,
            gas_used: receipt.gas_used,
            contract_address: receipt.contract_address,
        }))
    }

    async fn logs(&self, address: Address, topic0: B256, from: u64, to: u64) -> ChainResult<Vec<ChainLog>> {
        self.with(move |chain| chain.logs(address, topic0, from, to)).await
    }
}
