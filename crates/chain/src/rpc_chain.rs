//! `RpcChain`: any EVM chain reached over HTTP JSON-RPC, through an alloy provider.

use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_provider::{Provider, RootProvider};
use alloy_rpc_client::RpcClient;
use alloy_rpc_types_eth::{Filter, TransactionInput, TransactionReceipt, TransactionRequest};
use alloy_transport::TransportError;
use alloy_transport_http::Http;

use crate::{
    Chain, ChainError, ChainResult,
    chain::{ChainLog, Fees, Mined, reverted},
};

/// How long one JSON-RPC request may take.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(30);

/// An EVM chain over HTTP JSON-RPC.
#[derive(Clone, Debug)]
pub struct RpcChain {
    provider: RootProvider,
    url: String,
    chain_id: u64,
}

impl RpcChain {
    /// Connects to the JSON-RPC endpoint at `url` and reads its chain id, so that an endpoint
    /// that is down or answers garbage is an error here, naming it.
    pub async fn connect(url: &str) -> ChainResult<RpcChain> {
        let parsed: reqwest::Url =
            url.parse().map_err(|err| ChainError::Rpc(format!("`{url}` is not a JSON-RPC URL: {err}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ChainError::Rpc(format!("`{url}`: only http and https JSON-RPC endpoints are supported")));
        }
        let client = reqwest::Client::builder()
            .timeout(RPC_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            // Below the idle limit servers put on kept-alive connections (a
            // veritas node's is its 10 s header timeout): a connection the
            // server has just closed is never picked for the next call.
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .map_err(|err| ChainError::Rpc(format!("HTTP client: {err}")))?;
        let local = parsed.host_str().is_some_and(|host| host == "127.0.0.1" || host == "localhost" || host == "::1");
        let provider = RootProvider::new(RpcClient::new(Http::with_client(client, parsed), local));
        let mut chain = RpcChain { provider, url: url.to_owned(), chain_id: 0 };
        chain.chain_id = chain.provider.get_chain_id().await.map_err(|err| chain.error("eth_chainId", err))?;
        Ok(chain)
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn error(&self, method: &str, err: TransportError) -> ChainError {
        if let Some(data) = err.as_error_resp().and_then(|payload| payload.as_revert_data()) {
            return reverted(data, 0);
        }
        if let Some(payload) = err.as_error_resp() {
            if payload.message.contains("revert") {
                return ChainError::Reverted { reason: payload.message.to_string(), data: Bytes::new(), gas_used: 0 };
            }
            return ChainError::Rejected(format!(
                "{method} at {}: {} (code {})",
                self.url, payload.message, payload.code
            ));
        }
        ChainError::Rpc(format!("{method} at {}: {err}", self.url))
    }

    fn request(from: Address, to: Option<Address>, value: U256, data: Bytes) -> TransactionRequest {
        let mut request = TransactionRequest::default().from(from).value(value).input(TransactionInput::new(data));
        if let Some(to) = to {
            request = request.to(to);
        } else {
            request.to = Some(alloy_primitives::TxKind::Create);
        }
        request
    }
}

fn mined(receipt: TransactionReceipt) -> Option<Mined> {
    Some(Mined {
        transaction: receipt.transaction_hash,
        block: receipt.block_number?,
        status: receipt.status(),
        gas_used: receipt.gas_used,
        contract_address: receipt.contract_address,
    })
}

impl Chain for RpcChain {
    fn chain_id(&self) -> u64 {
        self.chain_id
    }

    async fn block_number(&self) -> ChainResult<u64> {
        self.provider.get_block_number().await.map_err(|err| self.error("eth_blockNumber", err))
    }

    async fn call(&self, from: Address, to: Address, data: Bytes) -> ChainResult<Bytes> {
        let request = Self::request(from, Some(to), U256::ZERO, data);
        self.provider.call(request).await.map_err(|err| self.error("eth_call", err))
    }

    async fn nonce(&self, account: Address) -> ChainResult<u64> {
        self.provider
            .get_transaction_count(account)
            .pending()
            .await
            .map_err(|err| self.error("eth_getTransactionCount", err))
    }

    async fn mined_nonce(&self, account: Address) -> ChainResult<u64> {
        self.provider.get_transaction_count(account).await.map_err(|err| self.error("eth_getTransactionCount", err))
    }

    async fn balance(&self, account: Address) -> ChainResult<U256> {
        self.provider.get_balance(account).await.map_err(|err| self.error("eth_getBalance", err))
    }

    async fn fees(&self) -> ChainResult<Fees> {
        let price = self.provider.get_gas_price().await.map_err(|err| self.error("eth_gasPrice", err))?;
        let tip = self
            .provider
            .get_max_priority_fee_per_gas()
            .await
            .map_err(|err| self.error("eth_maxPriorityFeePerGas", err))?;
        // Room for the base fee to double before the transaction is priced out.
        Ok(Fees { max_fee_per_gas: price.saturating_mul(2).max(tip), max_priority_fee_per_gas: tip })
    }

    async fn estimate_gas(&self, from: Address, to: Option<Address>, value: U256, data: Bytes) -> ChainResult<u64> {
        let request = Self::request(from, to, value, data);
        self.provider.estimate_gas(request).await.map_err(|err| self.error("eth_estimateGas", err))
    }

    async fn send_raw(&self, raw: Bytes) -> ChainResult<B256> {
        let pending =
            self.provider.send_raw_transaction(&raw).await.map_err(|err| self.error("eth_sendRawTransaction", err))?;
        Ok(*pending.tx_hash())
    }

    async fn mined(&self, transaction: B256) -> ChainResult<Option<Mined>> {
        let receipt = self
            .provider
            .get_transaction_receipt(transaction)
            .await
            .map_err(|err| self.error("eth_getTransactionReceipt", err))?;
        Ok(receipt.and_then(mined))
    }

    async fn logs(&self, address: Address, topic0: B256, from: u64, to: u64) -> ChainResult<Vec<ChainLog>> {
        let filter = Filter::new().address(address).event_signature(topic0).from_block(from).to_block(to);
        let logs = self.provider.get_logs(&filter).await.map_err(|err| self.error("eth_getLogs", err))?;
        logs.into_iter()
            .map(|log| {
                let (Some(block), Some(transaction)) = (log.block_number, log.transaction_hash) else {
                    return Err(ChainError::Decode(format!("eth_getLogs at {}: a log without its block", self.url)));
                };
                Ok(ChainLog { block, transaction, topics: log.topics().to_vec(), data: log.data().data.clone() })
            })
            .collect()
    }
}
