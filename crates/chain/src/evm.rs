//! A local EVM: revm over an in-memory state, with blocks advanced per transaction.

use alloy_primitives::{Address, Bytes, Log, TxKind, U256};
use alloy_sol_types::SolCall;
use revm::{
    Context, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext,
    context::{BlockEnv, CfgEnv, TxEnv, result::ExecutionResult},
    database::{CacheDB, EmptyDB},
    primitives::hardfork::SpecId,
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

/// revm over an in-memory state. Each transaction is mined in its own block.
pub struct LocalEvm {
    db: Db,
    chain_id: u64,
    block_number: u64,
    timestamp: u64,
}

impl LocalEvm {
    /// An empty chain with `chain_id`, starting at `timestamp`.
    pub fn new(chain_id: u64, timestamp: u64) -> LocalEvm {
        LocalEvm {
            db: CacheDB::new(EmptyDB::new()),
            chain_id,
            block_number: 1,
            timestamp,
        }
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The current block's timestamp.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The current block number.
    pub fn block_number(&self) -> u64 {
        self.block_number
    }

    /// Moves the clock forward.
    pub fn advance_time(&mut self, seconds: u64) {
        self.timestamp += seconds;
    }

    /// Sets an account's ether balance.
    pub fn fund(&mut self, account: Address, wei: U256) {
        let mut info = self
            .db
            .cache
            .accounts
            .get(&account)
            .map(|a| a.info.clone())
            .unwrap_or_default();
        info.balance = wei;
        self.db.insert_account_info(account, info);
    }

    fn nonce(&self, account: Address) -> u64 {
        self.db
            .cache
            .accounts
            .get(&account)
            .map_or(0, |a| a.info.nonce)
    }

    fn tx(&self, from: Address, kind: TxKind, data: Bytes, gas_limit: u64) -> ChainResult<TxEnv> {
        TxEnv::builder()
            .caller(from)
            .kind(kind)
            .data(data)
            .nonce(self.nonce(from))
            .chain_id(Some(self.chain_id))
            .gas_limit(gas_limit)
            .build()
            .map_err(|err| ChainError::Invalid(format!("{err:?}")))
    }

    fn finish(result: ExecutionResult) -> ChainResult<Outcome> {
        match result {
            ExecutionResult::Success {
                gas, logs, output, ..
            } => Ok(Outcome {
                output: output.into_data(),
                logs,
                gas_used: gas.tx_gas_used(),
            }),
            ExecutionResult::Revert { gas, output, .. } => Err(ChainError::Reverted {
                reason: revert_reason(&output),
                data: output,
                gas_used: gas.tx_gas_used(),
            }),
            ExecutionResult::Halt { reason, .. } => Err(ChainError::Halted(format!("{reason:?}"))),
        }
    }

    /// Executes a transaction and commits its effects in a new block.
    pub fn transact(&mut self, from: Address, kind: TxKind, data: Bytes) -> ChainResult<Outcome> {
        self.transact_with_gas(from, kind, data, DEFAULT_GAS_LIMIT)
    }

    /// Executes a transaction with a gas limit and commits its effects in a new block.
    pub fn transact_with_gas(
        &mut self,
        from: Address,
        kind: TxKind,
        data: Bytes,
        gas_limit: u64,
    ) -> ChainResult<Outcome> {
        let tx = self.tx(from, kind, data, gas_limit)?;
        let mut evm = build_evm(
            &mut self.db,
            self.chain_id,
            self.block_number,
            self.timestamp,
        );
        let result = evm
            .transact_commit(tx)
            .map_err(|err| ChainError::Invalid(format!("{err:?}")))?;
        self.block_number += 1;
        self.timestamp += 1;
        Self::finish(result)
    }

    /// Deploys creation code (with constructor arguments appended).
    pub fn deploy(&mut self, from: Address, code: Bytes) -> ChainResult<Deployment> {
        let tx = self.tx(from, TxKind::Create, code, DEFAULT_GAS_LIMIT)?;
        let mut evm = build_evm(
            &mut self.db,
            self.chain_id,
            self.block_number,
            self.timestamp,
        );
        let result = evm
            .transact_commit(tx)
            .map_err(|err| ChainError::Invalid(format!("{err:?}")))?;
        self.block_number += 1;
        self.timestamp += 1;
        let address = result.created_address();
        let outcome = Self::finish(result)?;
        let address =
            address.ok_or_else(|| ChainError::Decode("deployment created no contract".into()))?;
        Ok(Deployment {
            address,
            gas_used: outcome.gas_used,
        })
    }

    /// Sends a typed call as a transaction.
    pub fn send<C: SolCall>(
        &mut self,
        from: Address,
        to: Address,
        call: C,
    ) -> ChainResult<Outcome> {
        self.transact(from, TxKind::Call(to), call.abi_encode().into())
    }

    /// Executes a typed call without committing anything, and decodes its return value.
    pub fn view<C: SolCall>(
        &mut self,
        from: Address,
        to: Address,
        call: C,
    ) -> ChainResult<C::Return> {
        let tx = self.tx(
            from,
            TxKind::Call(to),
            call.abi_encode().into(),
            DEFAULT_GAS_LIMIT,
        )?;
        let mut evm = build_evm(
            &mut self.db,
            self.chain_id,
            self.block_number,
            self.timestamp,
        );
        let result = evm
            .transact(tx)
            .map_err(|err| ChainError::Invalid(format!("{err:?}")))?
            .result;
        let outcome = Self::finish(result)?;
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
    Context::mainnet()
        .with_db(db)
        .with_cfg(cfg)
        .with_block(block)
        .build_mainnet()
}
