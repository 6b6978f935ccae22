//! A local EVM: revm over an in-memory state, one block per transaction.
//!
//! Used directly by tests and benchmarks, and by the embedded chain, which persists the state
//! changes it hands out (see [`LocalEvm::take_changes`]).

use alloy_primitives::{Address, Bytes, Log, TxKind, U256};
use alloy_sol_types::SolCall;
use revm::{
    Context, DatabaseCommit, ExecuteEvm, MainBuilder, MainContext,
    bytecode::Bytecode,
    context::{BlockEnv, CfgEnv, TxEnv, result::ExecutionResult},
    database::{CacheDB, EmptyDB},
    primitives::hardfork::SpecId,
    state::{AccountInfo, EvmState},
};

use crate::{ChainError, ChainResult, contracts::revert_reason};

type Db = CacheDB<EmptyDB>;

/// The gas limit of transactions that do not set one.
pub const DEFAULT_GAS_LIMIT: u64 = 30_000_000;

/// What a successful transaction did.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The return data.
    pub output: Bytes,
    /// The logs emitted.
    pub logs: Vec<Log>,
    /// Gas used, including the 21,000 of the transaction itself.
    pub gas_used: u64,
}

/// Where a deployment went.
#[derive(Clone, Copy, Debug)]
pub struct Deployment {
    /// The contract's address.
    pub address: Address,
    /// Gas used by the deployment.
    pub gas_used: u64,
}

/// One account of a state, with its code and storage.
#[derive(Clone, Debug, Default)]
pub struct AccountState {
    /// The address.
    pub address: Address,
    /// Balance, nonce and code hash.
    pub info: AccountInfo,
    /// The code (empty for an externally owned account).
    pub code: Bytes,
    /// Storage slots and their values.
    pub storage: Vec<(U256, U256)>,
}

/// revm over an in-memory state. Each transaction is mined in its own block.
pub struct LocalEvm {
    db: Db,
    chain_id: u64,
    block_number: u64,
    timestamp: u64,
    changes: Vec<EvmState>,
}

impl LocalEvm {
    /// An empty chain with `chain_id`, starting at `timestamp`.
    pub fn new(chain_id: u64, timestamp: u64) -> LocalEvm {
        LocalEvm { db: CacheDB::new(EmptyDB::new()), chain_id, block_number: 1, timestamp, changes: Vec::new() }
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The timestamp the next block gets.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The number the next block gets.
    pub fn block_number(&self) -> u64 {
        self.block_number
    }

    /// Sets the number and timestamp of the next block.
    pub fn set_next_block(&mut self, number: u64, timestamp: u64) {
        self.block_number = number;
        self.timestamp = timestamp;
    }

    /// Moves the clock forward.
    pub fn advance_time(&mut self, seconds: u64) {
        self.timestamp += seconds;
    }

    /// Sets an account's ether balance.
    pub fn fund(&mut self, account: Address, wei: U256) {
        let mut info = self.account(account);
        info.balance = wei;
        self.db.insert_account_info(account, info);
    }

    /// An account's balance, nonce and code hash (empty if it never existed).
    pub fn account(&self, account: Address) -> AccountInfo {
        self.db.cache.accounts.get(&account).map(|a| a.info.clone()).unwrap_or_default()
    }

    /// A storage slot's value.
    pub fn storage(&self, account: Address, slot: U256) -> U256 {
        self.db.cache.accounts.get(&account).and_then(|a| a.storage.get(&slot).copied()).unwrap_or_default()
    }

    /// An account's code.
    pub fn code(&self, account: Address) -> Bytes {
        let info = self.account(account);
        info.code
            .or_else(|| self.db.cache.contracts.get(&info.code_hash).cloned())
            .map(|code| code.original_bytes())
            .unwrap_or_default()
    }

    /// Seeds the state with an account, its code and storage (used when loading a chain).
    pub fn insert_account(&mut self, account: AccountState) {
        let mut info = account.info;
        if !account.code.is_empty() {
            info.code = Some(Bytecode::new_raw(account.code));
        }
        self.db.insert_account_info(account.address, info);
        for (slot, value) in account.storage {
            // OK to ignore: inserting into a cached account cannot fail with an empty backing db.
            let _ = self.db.insert_account_storage(account.address, slot, value);
        }
    }

    /// Every account with its code and storage, for persisting a whole state.
    pub fn dump(&self) -> Vec<AccountState> {
        self.db
            .cache
            .accounts
            .iter()
            .map(|(address, account)| AccountState {
                address: *address,
                info: account.info.clone(),
                code: self.code(*address),
                storage: account.storage.iter().map(|(k, v)| (*k, *v)).collect(),
            })
            .collect()
    }

    /// The state changes of every transaction since the last call, in order.
    pub fn take_changes(&mut self) -> Vec<EvmState> {
        std::mem::take(&mut self.changes)
    }

    fn tx(&self, from: Address, kind: TxKind, data: Bytes, gas_limit: u64) -> ChainResult<TxEnv> {
        TxEnv::builder()
            .caller(from)
            .kind(kind)
            .data(data)
            .nonce(self.account(from).nonce)
            .chain_id(Some(self.chain_id))
            .gas_limit(gas_limit)
            .build()
            .map_err(|err| ChainError::Invalid(format!("{err:?}")))
    }

    /// Executes a transaction in a new block and commits its effects; the result is returned
    /// whatever it is (a reverted transaction is still mined).
    pub fn execute(&mut self, tx: TxEnv) -> ChainResult<ExecutionResult> {
        let mut evm = build_evm(&mut self.db, self.chain_id, self.block_number, self.timestamp);
        let outcome = evm.transact(tx).map_err(|err| ChainError::Invalid(format!("{err:?}")))?;
        self.db.commit(outcome.state.clone());
        self.changes.push(outcome.state);
        self.block_number += 1;
        self.timestamp += 1;
        Ok(outcome.result)
    }

    /// Executes a transaction without committing anything.
    pub fn simulate(&mut self, tx: TxEnv) -> ChainResult<ExecutionResult> {
        let mut evm = build_evm(&mut self.db, self.chain_id, self.block_number, self.timestamp);
        Ok(evm.transact(tx).map_err(|err| ChainError::Invalid(format!("{err:?}")))?.result)
    }

    /// Executes a call (or a deployment) from `from` without committing anything; a revert is
    /// an error.
    pub fn simulate_call(&mut self, from: Address, kind: TxKind, data: Bytes) -> ChainResult<Outcome> {
        let tx = self.tx(from, kind, data, DEFAULT_GAS_LIMIT)?;
        Self::outcome(self.simulate(tx)?)
    }

    /// A successful result's outcome, or the revert or halt as an error.
    pub fn outcome(result: ExecutionResult) -> ChainResult<Outcome> {
        match result {
            ExecutionResult::Success { gas, logs, output, .. } => {
                Ok(Outcome { output: output.into_data(), logs, gas_used: gas.tx_gas_used() })
            }
            ExecutionResult::Revert { gas, output, .. } => {
                Err(ChainError::Reverted { reason: revert_reason(&output), data: output, gas_used: gas.tx_gas_used() })
            }
            ExecutionResult::Halt { reason, .. } => Err(ChainError::Halted(format!("{reason:?}"))),
        }
    }

    /// Executes a transaction from `from` (no signature: a development shortcut) and commits it.
    pub fn transact(&mut self, from: Address, kind: TxKind, data: Bytes) -> ChainResult<Outcome> {
        self.transact_with_gas(from, kind, data, DEFAULT_GAS_LIMIT)
    }

    /// [`LocalEvm::transact`] with a gas limit.
    pub fn transact_with_gas(
        &mut self,
        from: Address,
        kind: TxKind,
        data: Bytes,
        gas_limit: u64,
    ) -> ChainResult<Outcome> {
        let tx = self.tx(from, kind, data, gas_limit)?;
        Self::outcome(self.execute(tx)?)
    }

    /// Deploys creation code (with constructor arguments appended).
    pub fn deploy(&mut self, from: Address, code: Bytes) -> ChainResult<Deployment> {
        let tx = self.tx(from, TxKind::Create, code, DEFAULT_GAS_LIMIT)?;
        let result = self.execute(tx)?;
        let address = result.created_address();
        let outcome = Self::outcome(result)?;
        let address = address.ok_or_else(|| ChainError::Decode("deployment created no contract".into()))?;
        Ok(Deployment { address, gas_used: outcome.gas_used })
    }

    /// Sends a typed call as a transaction.
    pub fn send<C: SolCall>(&mut self, from: Address, to: Address, call: C) -> ChainResult<Outcome> {
        self.transact(from, TxKind::Call(to), call.abi_encode().into())
    }

    /// Executes a typed call without committing anything, and decodes its return value.
    pub fn view<C: SolCall>(&mut self, from: Address, to: Address, call: C) -> ChainResult<C::Return> {
        let outcome = self.simulate_call(from, TxKind::Call(to), call.abi_encode().into())?;
        C::abi_decode_returns(&outcome.output).map_err(|err| ChainError::Decode(err.to_string()))
    }
}

fn build_evm(
    db: &mut Db,
    chain_id: u64,
    number: u64,
    timestamp: u64,
) -> revm::MainnetEvm<revm::handler::MainnetContext<&mut Db>> {
    let mut cfg = CfgEnv::new_with_spec(SpecId::CANCUN);
    cfg.chain_id = chain_id;
    let block = BlockEnv {
        number: U256::from(number),
        timestamp: U256::from(timestamp),
        gas_limit: 1_000_000_000,
        ..Default::default()
    };
    Context::mainnet().with_db(db).with_cfg(cfg).with_block(block).build_mainnet()
}
