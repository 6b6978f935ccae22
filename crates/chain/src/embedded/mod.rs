//! The embedded chain: the local EVM with signed transactions, blocks mined on demand (one per
//! transaction, like a development node's automine), and everything persisted in redb.
//!
//! Genesis deploys the contracts and funds the development accounts; a restart loads the state
//! of the last block written, which is the last block acknowledged.

pub mod rpc;
mod shared;
mod store;

use std::path::Path;

use alloy_consensus::{Header, Transaction, TxEnvelope, transaction::SignerRecoverable};
use alloy_eips::eip2718::{Decodable2718, Typed2718};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use revm::context::{TxEnv, result::ExecutionResult};
use serde::{Deserialize, Serialize};
pub use shared::SharedChain;
pub use store::{BlockRecord, LogRecord, ReceiptRecord, TransactionRecord};
use store::{BlockWrite, ChainStore};

use crate::{
    ChainError, ChainResult, LocalEvm,
    contracts::VeritasToken,
    genesis::{Contracts, GenesisConfig, deploy_contracts},
};

/// How a new embedded chain starts.
#[derive(Clone, Debug)]
pub struct DevGenesis {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Unix seconds of block 0.
    pub timestamp: u64,
    /// The contracts' parameters; its admin deploys them.
    pub config: GenesisConfig,
    /// Accounts funded with ether and tokens.
    pub accounts: Vec<Address>,
    /// Ether (wei) each account gets.
    pub ether: U256,
    /// Tokens (smallest unit) each account gets from the admin.
    pub tokens: U256,
}

#[derive(Serialize, Deserialize)]
struct GenesisMeta {
    chain_id: u64,
    token: Address,
    registry: Address,
    models: Address,
    settlement: Address,
}

/// Signs an EIP-1559 call from `key` with a generous gas limit (5,000,000) and a 1 gwei fee;
/// returns the raw EIP-2718 bytes and the transaction hash.
pub fn sign_eip1559(
    key: &veritas_primitives::WorkerKey,
    chain_id: u64,
    nonce: u64,
    to: Address,
    value: U256,
    data: Bytes,
) -> ChainResult<(Bytes, B256)> {
    let tx = alloy_consensus::TxEip1559 {
        chain_id,
        nonce,
        gas_limit: 5_000_000,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value,
        access_list: Default::default(),
        input: data,
    };
    crate::sign_envelope(key, tx)
}

/// The embedded chain.
pub struct EmbeddedChain {
    evm: LocalEvm,
    store: ChainStore,
    head: BlockRecord,
    contracts: Contracts,
    pending: Vec<PendingTransaction>,
    automine: bool,
}

fn header_hash(number: u64, parent_hash: B256, timestamp: u64, gas_used: u64) -> B256 {
    Header {
        parent_hash,
        number,
        timestamp,
        gas_used,
        gas_limit: BLOCK_GAS_LIMIT,
        base_fee_per_gas: Some(0),
        ..Default::default()
    }
    .hash_slow()
}

impl EmbeddedChain {
    /// Opens the chain stored at `path`, creating it from `genesis` if it does not exist yet.
    pub fn open(path: &Path, genesis: &DevGenesis) -> ChainResult<EmbeddedChain> {
        let store = ChainStore::open(path)?;
        match store.meta("genesis")? {
            Some(meta) => Self::load(store, &meta),
            None => Self::create(store, genesis),
        }
    }

    fn create(store: ChainStore, genesis: &DevGenesis) -> ChainResult<EmbeddedChain> {
        let mut evm = LocalEvm::new(genesis.chain_id, genesis.timestamp);
        let admin = genesis.config.admin;
        evm.fund(admin, genesis.ether);
        let contracts = deploy_contracts(&mut evm, &genesis.config)?;
        for &account in &genesis.accounts {
            evm.fund(account, genesis.ether);
            if account != admin {
                evm.send(admin, contracts.token, VeritasToken::transferCall { to: account, value: genesis.tokens })?;
            }
        }
        // Genesis is one state, not a history: the set-up transactions are not kept, and nonces
        // stay as they are so that dev accounts' first real transaction follows from them.
        evm.take_changes();
        let block = BlockRecord {
            number: 0,
            hash: header_hash(0, B256::ZERO, genesis.timestamp, 0),
            parent_hash: B256::ZERO,
            timestamp: genesis.timestamp,
            gas_used: 0,
            transactions: Vec::new(),
        };
        let dump = evm.dump();
        let meta = GenesisMeta {
            chain_id: genesis.chain_id,
            token: contracts.token,
            registry: contracts.registry,
            models: contracts.models,
            settlement: contracts.settlement,
        };
        store.write_genesis(
            &dump,
            &block,
            &serde_json::to_vec(&meta).map_err(|e| ChainError::Storage(e.to_string()))?,
        )?;
        evm.set_next_block(1, genesis.timestamp + 1);
        Ok(EmbeddedChain { evm, store, head: block, contracts, pending: Vec::new(), automine: true })
    }

    fn load(store: ChainStore, meta: &[u8]) -> ChainResult<EmbeddedChain> {
        let meta: GenesisMeta = serde_json::from_slice(meta).map_err(|e| ChainError::Storage(e.to_string()))?;
        let head = store.head()?.ok_or_else(|| ChainError::Storage("genesis metadata without block 0".into()))?;
        let mut evm = LocalEvm::new(meta.chain_id, head.timestamp + 1);
        for account in store.load_state()? {
            evm.insert_account(account);
        }
        evm.set_next_block(head.number + 1, head.timestamp + 1);
        let contracts =
            Contracts { token: meta.token, registry: meta.registry, models: meta.models, settlement: meta.settlement };
        Ok(EmbeddedChain { evm, store, head, contracts, pending: Vec::new(), automine: true })
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.evm.chain_id()
    }

    /// Where genesis deployed the contracts.
    pub fn contracts(&self) -> Contracts {
        self.contracts
    }

    /// The latest block.
    pub fn head(&self) -> &BlockRecord {
        &self.head
    }

    /// An account's balance in wei.
    pub fn balance(&self, account: Address) -> U256 {
        self.evm.account(account).balance
    }

    /// An account's nonce.
    pub fn nonce(&self, account: Address) -> u64 {
        self.evm.account(account).nonce
    }

    /// An account's code.
    pub fn code(&self, account: Address) -> Bytes {
        self.evm.code(account)
    }

    /// A storage slot.
    pub fn storage(&self, account: Address, slot: U256) -> U256 {
        self.evm.storage(account, slot)
    }

    /// A typed read-only call against the latest state.
    pub fn view<C: SolCall>(&mut self, to: Address, call: C) -> ChainResult<C::Return> {
        self.evm.view(Address::ZERO, to, call)
    }

    /// A read-only call with raw data; a revert is an error carrying its data.
    pub fn call(&mut self, from: Address, to: Address, data: Bytes) -> ChainResult<Bytes> {
        Ok(self.evm.simulate_call(from, TxKind::Call(to), data)?.output)
    }

    /// A block by number.
    pub fn block(&self, number: u64) -> ChainResult<Option<BlockRecord>> {
        self.store.block(number)
    }

    /// A block by hash.
    pub fn block_by_hash(&self, hash: &B256) -> ChainResult<Option<BlockRecord>> {
        match self.store.block_number(hash)? {
            Some(number) => self.store.block(number),
            None => Ok(None),
        }
    }

    /// The gas a transaction would use now (deployments when `to` is `None`).
    pub fn estimate_gas(&mut self, from: Address, to: Option<Address>, data: Bytes) -> ChainResult<u64> {
        let kind = to.map_or(TxKind::Create, TxKind::Call);
        Ok(self.evm.simulate_call(from, kind, data)?.gas_used)
    }

    /// A mined transaction.
    pub fn transaction(&self, hash: &B256) -> ChainResult<Option<TransactionRecord>> {
        self.store.transaction(hash)
    }

    /// A mined transaction's receipt.
    pub fn receipt(&self, hash: &B256) -> ChainResult<Option<ReceiptRecord>> {
        self.store.receipt(hash)
    }

    /// The logs `address` emitted with first topic `topic0` in blocks `from..=to` (up to the
    /// head), in chain order.
    pub fn logs(&self, address: Address, topic0: B256, from: u64, to: u64) -> ChainResult<Vec<crate::ChainLog>> {
        let mut out = Vec::new();
        for number in from..=to.min(self.head().number) {
            let Some(block) = self.block(number)? else { continue };
            for hash in &block.transactions {
                let Some(receipt) = self.receipt(hash)? else { continue };
                for log in receipt.logs {
                    if log.address == address && log.topics.first() == Some(&topic0) {
                        out.push(crate::ChainLog {
                            block: number,
                            transaction: *hash,
                            topics: log.topics,
                            data: log.data,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Signs a transaction from `key` with its next nonce (see [`sign_eip1559`]); returns the
    /// raw bytes and the hash, without sending it.
    pub fn sign_transaction(
        &self,
        key: &veritas_primitives::WorkerKey,
        to: Address,
        value: U256,
        data: Bytes,
    ) -> ChainResult<(Bytes, B256)> {
        sign_eip1559(key, self.chain_id(), self.pending_nonce(key.address()), to, value, data)
    }

    /// Signs and sends a transaction (see [`EmbeddedChain::sign_transaction`]); returns its
    /// receipt. For the node's own transactions and development tools.
    pub fn send_signed(
        &mut self,
        key: &veritas_primitives::WorkerKey,
        to: Address,
        value: U256,
        data: Bytes,
        now: u64,
    ) -> ChainResult<ReceiptRecord> {
        let (raw, _) = self.sign_transaction(key, to, value, data)?;
        let hash = self.send_raw_transaction(&raw, now)?;
        if self.pending.iter().any(|tx| tx.hash == hash) {
            self.mine(now)?;
        }
        self.receipt(&hash)?.ok_or_else(|| ChainError::Storage(format!("no receipt for mined {hash}")))
    }

    /// Accepts a signed EIP-2718 transaction. On demand (the default) it is mined at once in a
    /// new block at time `now` (or one second after the previous block, if later), written
    /// before this returns; with [`EmbeddedChain::set_automine`] off it waits for the next
    /// [`EmbeddedChain::mine`]. A transaction that reverts is still mined, with a failed receipt.
    pub fn send_raw_transaction(&mut self, raw: &[u8], now: u64) -> ChainResult<B256> {
        let reject = |reason: String| ChainError::Rejected(reason);
        let envelope =
            TxEnvelope::decode_2718_exact(raw).map_err(|err| reject(format!("malformed transaction: {err}")))?;
        if envelope.is_eip4844() || envelope.is_eip7702() {
            return Err(reject(format!("transaction type {} is not supported", envelope.ty())));
        }
        let from = envelope.recover_signer().map_err(|err| reject(format!("invalid signature: {err}")))?;
        match envelope.chain_id() {
            Some(id) if id == self.chain_id() => {}
            Some(id) => {
                return Err(reject(format!("wrong chain id: expected {}, got {id}", self.chain_id())));
            }
            None => {
                return Err(reject("transactions without a chain id (pre-EIP-155) are refused".into()));
            }
        }
        let hash = *envelope.tx_hash();
        if self.pending.iter().any(|tx| tx.hash == hash) || self.store.transaction(&hash)?.is_some() {
            return Err(reject(format!("transaction {hash} is already known")));
        }
        let expected = self.pending_nonce(from);
        if envelope.nonce() != expected {
            return Err(reject(format!("wrong nonce for {from}: expected {expected}, got {}", envelope.nonce())));
        }
        if envelope.gas_limit() > MAX_TRANSACTION_GAS {
            return Err(reject(format!(
                "gas limit {} exceeds the most one transaction may use, {MAX_TRANSACTION_GAS}",
                envelope.gas_limit()
            )));
        }
        let max_cost = U256::from(envelope.gas_limit()) * U256::from(envelope.max_fee_per_gas()) + envelope.value();
        let balance = self.balance(from);
        if balance < max_cost {
            return Err(reject(format!("insufficient funds for {from}: balance {balance}, needs {max_cost}")));
        }
        self.pending.push(PendingTransaction { hash, from, raw: Bytes::copy_from_slice(raw), envelope });
        if self.automine {
            self.mine(now)?;
        }
        Ok(hash)
    }

    /// Whether each transaction is mined as it arrives (the default); when off, transactions
    /// wait for [`EmbeddedChain::mine`], which the node calls on an interval.
    pub fn set_automine(&mut self, automine: bool) {
        self.automine = automine;
    }

    /// Transactions accepted but not yet mined.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// The next nonce of `account`, counting its transactions waiting to be mined.
    pub fn pending_nonce(&self, account: Address) -> u64 {
        self.nonce(account) + self.pending.iter().filter(|tx| tx.from == account).count() as u64
    }

    /// Mines a block at time `now` (or one second after the previous block, if later) holding
    /// every waiting transaction, in arrival order, and writes it; an empty block when none
    /// waits. A transaction the EVM refuses at this point (its sender's balance spent by an
    /// earlier one) is dropped, as a real node would.
    pub fn mine(&mut self, now: u64) -> ChainResult<BlockRecord> {
        let number = self.head.number + 1;
        let timestamp = now.max(self.head.timestamp + 1);
        let mut mined = Vec::new();
        let mut block_gas = 0u64;
        let mut log_index = 0u64;
        for pending in std::mem::take(&mut self.pending) {
            let envelope = &pending.envelope;
            let tx = TxEnv::builder()
                .tx_type(Some(envelope.ty()))
                .caller(pending.from)
                .kind(envelope.kind())
                .value(envelope.value())
                .data(envelope.input().clone())
                .nonce(envelope.nonce())
                .gas_limit(envelope.gas_limit())
                .gas_price(envelope.max_fee_per_gas())
                .gas_priority_fee(envelope.max_priority_fee_per_gas())
                .chain_id(Some(self.chain_id()))
                .access_list(envelope.access_list().cloned().unwrap_or_default())
                .build()
                .map_err(|err| ChainError::Rejected(format!("{err:?}")))?;
            if block_gas + envelope.gas_limit() > BLOCK_GAS_LIMIT {
                // Full: the rest waits for the next block.
                self.pending.push(pending);
                continue;
            }
            self.evm.set_next_block(number, timestamp);
            let result = match self.evm.execute(tx) {
                Ok(result) => result,
                Err(err) => {
                    tracing::warn!(transaction = %pending.hash, %err, "dropped a transaction the EVM refused");
                    continue;
                }
            };
            let gas_used = result.tx_gas_used();
            block_gas += gas_used;
            let (status, logs) = match &result {
                ExecutionResult::Success { logs, .. } => (true, logs.clone()),
                _ => (false, Vec::new()),
            };
            let index = mined.len() as u64;
            let receipt = ReceiptRecord {
                transaction_hash: pending.hash,
                block_number: number,
                block_hash: B256::ZERO,
                from: pending.from,
                to: envelope.to(),
                status,
                gas_used,
                effective_gas_price: envelope.effective_gas_price(Some(0)),
                contract_address: result.created_address(),
                logs: logs
                    .into_iter()
                    .map(|log| LogRecord { address: log.address, topics: log.topics().to_vec(), data: log.data.data })
                    .collect(),
                index,
                cumulative_gas_used: block_gas,
                first_log_index: log_index,
            };
            log_index += receipt.logs.len() as u64;
            let record = TransactionRecord {
                hash: pending.hash,
                raw: pending.raw.clone(),
                from: pending.from,
                block_number: number,
                index,
            };
            mined.push((record, receipt));
        }
        let changes = self.evm.take_changes();
        let block = BlockRecord {
            number,
            hash: header_hash(number, self.head.hash, timestamp, block_gas),
            parent_hash: self.head.hash,
            timestamp,
            gas_used: block_gas,
            transactions: mined.iter().map(|(tx, _)| tx.hash).collect(),
        };
        for (_, receipt) in &mut mined {
            receipt.block_hash = block.hash;
        }
        self.store.write_block(&BlockWrite { block: &block, transactions: &mined, changes: &changes })?;
        self.evm.set_next_block(number + 1, timestamp + 1);
        self.head = block.clone();
        Ok(block)
    }
}

/// A transaction accepted and waiting for a block.
struct PendingTransaction {
    hash: B256,
    from: Address,
    raw: Bytes,
    envelope: TxEnvelope,
}

/// The most gas one block holds.
pub const BLOCK_GAS_LIMIT: u64 = 1_000_000_000;

/// The most gas one transaction may ask for, as on Ethereum's mainnet (and what an `eth_call`
/// or `eth_estimateGas` runs with): the chain's lock is never held for more than one such run
/// per request.
pub const MAX_TRANSACTION_GAS: u64 = crate::evm::DEFAULT_GAS_LIMIT;

#[cfg(test)]
mod tests;
