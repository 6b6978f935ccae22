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
/// After a request fails to reach the endpoint, how long further requests fail at once instead
/// of waiting for their own connection timeout: callers that fall back on what they read last
/// (prices, escrows, the registry) then answer without delay while the chain is away.
pub const AWAY_RETRY: Duration = Duration::from_secs(3);

/// An EVM chain over HTTP JSON-RPC.
#[derive(Clone, Debug)]
pub struct RpcChain {
    provider: RootProvider,
    url: String,
    chain_id: u64,
    /// When a request last failed to reach the endpoint; cleared by the next that reaches it.
    away: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
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
        let mut chain = RpcChain { provider, url: url.to_owned(), chain_id: 0, away: Default::default() };
        chain.chain_id = chain.provider.get_chain_id().await.map_err(|err| chain.error("eth_chainId", err))?;
        Ok(chain)
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs one request: at once an error while the endpoint failed to answer less than
    /// [`AWAY_RETRY`] ago, else the request, noting whether it reached the endpoint.
    async fn guarded<T>(
        &self,
        method: &str,
        request: impl std::future::IntoFuture<Output = Result<T, TransportError>>,
    ) -> ChainResult<T> {
        let since = *self.away.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(since) = since
            && since.elapsed() < AWAY_RETRY
        {
            return Err(ChainError::Rpc(format!(
                "{method} at {}: unreachable (a request failed {:.1} s ago; trying again {} s after)",
                self.url,
                since.elapsed().as_secs_f64(),
                AWAY_RETRY.as_secs()
            )));
        }
        match request.await {
            Ok(value) => {
                *self.away.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Ok(value)
            }
            Err(err) => {
                let err = self.error(method, err);
                if matches!(err, ChainError::Rpc(_)) {
                    *self.away.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::time::Instant::now());
                }
                Err(err)
            }
        }
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
        self.guarded("eth_blockNumber", self.provider.get_block_number()).await
    }

    async fn call(&self, from: Address, to: Address, data: Bytes) -> ChainResult<Bytes> {
        let request = Self::request(from, Some(to), U256::ZERO, data);
        self.guarded("eth_call", self.provider.call(request)).await
    }

    async fn nonce(&self, account: Address) -> ChainResult<u64> {
        self.guarded("eth_getTransactionCount", self.provider.get_transaction_count(account).pending()).await
    }

    async fn mined_nonce(&self, account: Address) -> ChainResult<u64> {
        self.guarded("eth_getTransactionCount", self.provider.get_transaction_count(account)).await
    }

    async fn balance(&self, account: Address) -> ChainResult<U256> {
        self.guarded("eth_getBalance", self.provider.get_balance(account)).await
    }

    async fn fees(&self) -> ChainResult<Fees> {
        let price = self.guarded("eth_gasPrice", self.provider.get_gas_price()).await?;
        let tip = self.guarded("eth_maxPriorityFeePerGas", self.provider.get_max_priority_fee_per_gas()).await?;
        // Room for the base fee to double before the transaction is priced out.
        Ok(Fees { max_fee_per_gas: price.saturating_mul(2).max(tip), max_priority_fee_per_gas: tip })
    }

    async fn estimate_gas(&self, from: Address, to: Option<Address>, value: U256, data: Bytes) -> ChainResult<u64> {
        let request = Self::request(from, to, value, data);
        self.guarded("eth_estimateGas", self.provider.estimate_gas(request)).await
    }

    async fn send_raw(&self, raw: Bytes) -> ChainResult<B256> {
        let pending = self.guarded("eth_sendRawTransaction", self.provider.send_raw_transaction(&raw)).await?;
        Ok(*pending.tx_hash())
    }

    async fn mined(&self, transaction: B256) -> ChainResult<Option<Mined>> {
        let receipt =
            self.guarded("eth_getTransactionReceipt", self.provider.get_transaction_receipt(transaction)).await?;
        Ok(receipt.and_then(mined))
    }

    async fn logs(&self, address: Address, topic0: B256, from: u64, to: u64) -> ChainResult<Vec<ChainLog>> {
        let filter = Filter::new().address(address).event_signature(topic0).from_block(from).to_block(to);
        let logs = self.guarded("eth_getLogs", self.provider.get_logs(&filter)).await?;
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
