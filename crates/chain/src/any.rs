//! `AnyChain`: the embedded chain or a JSON-RPC one, chosen at run time.

use alloy_primitives::{Address, B256, Bytes, U256};

use crate::{
    Chain, ChainResult, RpcChain,
    chain::{ChainLog, Fees, Mined},
    embedded::SharedChain,
};

/// Either chain, behind one type, for code that picks at run time (the node, the CLI).
#[derive(Clone)]
pub enum AnyChain {
    /// In-process.
    Embedded(SharedChain),
    /// Over JSON-RPC.
    Rpc(RpcChain),
}

macro_rules! both {
    ($self:ident, $chain:ident => $body:expr) => {
        match $self {
            AnyChain::Embedded($chain) => $body,
            AnyChain::Rpc($chain) => $body,
        }
    };
}

impl Chain for AnyChain {
    fn chain_id(&self) -> u64 {
        both!(self, c => c.chain_id())
    }

    async fn block_number(&self) -> ChainResult<u64> {
        both!(self, c => c.block_number().await)
    }

    async fn call(&self, from: Address, to: Address, data: Bytes) -> ChainResult<Bytes> {
        both!(self, c => c.call(from, to, data).await)
    }

    async fn nonce(&self, account: Address) -> ChainResult<u64> {
        both!(self, c => c.nonce(account).await)
    }

    async fn mined_nonce(&self, account: Address) -> ChainResult<u64> {
        both!(self, c => c.mined_nonce(account).await)
    }

    async fn balance(&self, account: Address) -> ChainResult<U256> {
        both!(self, c => c.balance(account).await)
    }

    async fn fees(&self) -> ChainResult<Fees> {
        both!(self, c => c.fees().await)
    }

    async fn estimate_gas(&self, from: Address, to: Option<Address>, value: U256, data: Bytes) -> ChainResult<u64> {
        both!(self, c => c.estimate_gas(from, to, value, data).await)
    }

    async fn send_raw(&self, raw: Bytes) -> ChainResult<B256> {
        both!(self, c => c.send_raw(raw).await)
    }

    async fn mined(&self, transaction: B256) -> ChainResult<Option<Mined>> {
        both!(self, c => c.mined(transaction).await)
    }

    async fn logs(&self, address: Address, topic0: B256, from: u64, to: u64) -> ChainResult<Vec<ChainLog>> {
        both!(self, c => c.logs(address, topic0, from, to).await)
    }
}
