//! Ethereum JSON-RPC over the embedded chain: the methods wallets and client libraries use to
//! read state, send signed transactions and read receipts and logs. Transport-free: the `api`
//! crate serves [`handle`] over HTTP.

use alloy_primitives::{Address, B256, Bytes, U256};
use serde_json::{Value, json};

use super::{BlockRecord, EmbeddedChain, ReceiptRecord};
use crate::ChainError;

/// The most blocks one `eth_getLogs` may scan.
const MAX_LOG_RANGE: u64 = 10_000;

/// A JSON-RPC error: code, message and optional data.
#[derive(Debug)]
struct RpcError {
    code: i64,
    message: String,
    data: Option<Value>,
}

type RpcResult = Result<Value, RpcError>;

fn invalid_params(message: impl Into<String>) -> RpcError {
    RpcError { code: -32602, message: message.into(), data: None }
}

impl From<ChainError> for RpcError {
    fn from(err: ChainError) -> RpcError {
        match err {
            ChainError::Reverted { reason, data, .. } => {
                RpcError { code: 3, message: format!("execution reverted: {reason}"), data: Some(json!(data)) }
            }
            ChainError::Rejected(message) => RpcError { code: -32000, message, data: None },
            other => RpcError { code: -32000, message: other.to_string(), data: None },
        }
    }
}

/// The most requests one batch may hold.
pub const MAX_BATCH: usize = 100;

/// Answers one JSON-RPC request or a batch (of at most [`MAX_BATCH`]); `now` is the time a new
/// block gets.
pub fn handle(chain: &mut EmbeddedChain, request: &Value, now: u64) -> Value {
    match request {
        Value::Array(batch) if batch.is_empty() => error_response(Value::Null, invalid_request("empty batch")),
        Value::Array(batch) if batch.len() > MAX_BATCH => error_response(
            Value::Null,
            invalid_request(&format!(
                "a batch of {} requests is over the {MAX_BATCH} this node answers at once",
                batch.len()
            )),
        ),
        Value::Array(batch) => Value::Array(batch.iter().map(|one| handle_one(chain, one, now)).collect()),
        one => handle_one(chain, one, now),
    }
}

/// The answer to a body that is not JSON (code -32700), naming why.
pub fn parse_error(reason: impl std::fmt::Display) -> Value {
    error_response(Value::Null, RpcError { code: -32700, message: format!("parse error: {reason}"), data: None })
}

/// The answer to a request the server failed to handle (code -32603).
pub fn internal_error(reason: impl std::fmt::Display) -> Value {
    error_response(Value::Null, RpcError { code: -32603, message: reason.to_string(), data: None })
}

fn invalid_request(message: &str) -> RpcError {
    RpcError { code: -32600, message: format!("invalid request: {message}"), data: None }
}

fn error_response(id: Value, err: RpcError) -> Value {
    let mut error = json!({"code": err.code, "message": err.message});
    if let Some(data) = err.data {
        error["data"] = data;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

fn handle_one(chain: &mut EmbeddedChain, request: &Value, now: u64) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return error_response(id, invalid_request("no method"));
    };
    let empty = Vec::new();
    let params = match request.get("params") {
        None | Some(Value::Null) => &empty,
        Some(Value::Array(params)) => params,
        Some(_) => return error_response(id, invalid_params("params must be an array")),
    };
    match dispatch(chain, method, params, now) {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(err) => error_response(id, err),
    }
}

fn param<'a>(params: &'a [Value], index: usize, what: &str) -> Result<&'a Value, RpcError> {
    params.get(index).ok_or_else(|| invalid_params(format!("missing parameter {index} ({what})")))
}

fn parse<T: std::str::FromStr>(value: &Value, what: &str) -> Result<T, RpcError> {
    value.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| invalid_params(format!("{what}: cannot parse {value}")))
}

fn quantity(value: &Value, what: &str) -> Result<u64, RpcError> {
    let text = value.as_str().ok_or_else(|| invalid_params(format!("{what}: expected a hex quantity, got {value}")))?;
    let digits = text.strip_prefix("0x").ok_or_else(|| invalid_params(format!("{what}: {text:?} lacks 0x")))?;
    u64::from_str_radix(digits, 16).map_err(|_| invalid_params(format!("{what}: {text:?} is not a hex quantity")))
}

fn hex_u64(n: u64) -> Value {
    json!(format!("{n:#x}"))
}

/// Resolves a block tag or number; only the latest state exists, so other blocks are refused
/// for state reads.
fn block_number(chain: &EmbeddedChain, tag: Option<&Value>) -> Result<u64, RpcError> {
    let head = chain.head().number;
    match tag.and_then(Value::as_str) {
        None | Some("latest" | "pending" | "safe" | "finalized") => Ok(head),
        Some("earliest") => Ok(0),
        Some(_) => tag.map_or(Ok(head), |t| quantity(t, "block")),
    }
}

fn latest_only(chain: &EmbeddedChain, tag: Option<&Value>) -> Result<(), RpcError> {
    let number = block_number(chain, tag)?;
    if number != chain.head().number {
        return Err(RpcError {
            code: -32000,
            message: format!("state at block {number} is not kept; the latest block is {}", chain.head().number),
            data: None,
        });
    }
    Ok(())
}

fn call_request(params: &[Value]) -> Result<(Address, Option<Address>, Bytes), RpcError> {
    let call = param(params, 0, "call object")?;
    let from = call.get("from").map(|v| parse(v, "from")).transpose()?.unwrap_or(Address::ZERO);
    let to = call.get("to").filter(|v| !v.is_null()).map(|v| parse(v, "to")).transpose()?;
    let data =
        call.get("input").or_else(|| call.get("data")).map(|v| parse(v, "data")).transpose()?.unwrap_or_default();
    Ok((from, to, data))
}

fn dispatch(chain: &mut EmbeddedChain, method: &str, params: &[Value], now: u64) -> RpcResult {
    Ok(match method {
        "web3_clientVersion" => json!(concat!("veritas/", env!("CARGO_PKG_VERSION"))),
        "net_version" => json!(chain.chain_id().to_string()),
        "net_listening" => json!(true),
        "eth_chainId" => hex_u64(chain.chain_id()),
        "eth_blockNumber" => hex_u64(chain.head().number),
        "eth_syncing" => json!(false),
        "eth_accounts" => json!([]),
        "eth_gasPrice" | "eth_maxPriorityFeePerGas" => hex_u64(1_000_000_000),
        "eth_feeHistory" => {
            let count = quantity(param(params, 0, "block count")?, "block count")?.clamp(1, 1024);
            let newest = block_number(chain, params.get(1))?;
            let oldest = newest.saturating_sub(count - 1);
            let n = (newest - oldest + 1) as usize;
            json!({
                "oldestBlock": hex_u64(oldest),
                "baseFeePerGas": vec![hex_u64(0); n + 1],
                "gasUsedRatio": vec![0.0; n],
                "reward": vec![vec![hex_u64(1_000_000_000)]; n],
            })
        }
        "eth_getBalance" => {
            let address: Address = parse(param(params, 0, "address")?, "address")?;
            latest_only(chain, params.get(1))?;
            json!(chain.balance(address))
        }
        "eth_getTransactionCount" => {
            let address: Address = parse(param(params, 0, "address")?, "address")?;
            if params.get(1).and_then(Value::as_str) == Some("pending") {
                hex_u64(chain.pending_nonce(address))
            } else {
                latest_only(chain, params.get(1))?;
                hex_u64(chain.nonce(address))
            }
        }
        "eth_getCode" => {
            let address: Address = parse(param(params, 0, "address")?, "address")?;
            latest_only(chain, params.get(1))?;
            json!(chain.code(address))
        }
        "eth_getStorageAt" => {
            let address: Address = parse(param(params, 0, "address")?, "address")?;
            let slot: U256 = parse(param(params, 1, "slot")?, "slot")?;
            latest_only(chain, params.get(2))?;
            json!(B256::from(chain.storage(address, slot)))
        }
        "eth_call" => {
            let (from, to, data) = call_request(params)?;
            latest_only(chain, params.get(1))?;
            let to = to.ok_or_else(|| invalid_params("eth_call needs `to`"))?;
            json!(chain.call(from, to, data)?)
        }
        "eth_estimateGas" => {
            let (from, to, data) = call_request(params)?;
            let used = chain.estimate_gas(from, to, data)?;
            hex_u64(used + used / 5)
        }
        "eth_sendRawTransaction" => {
            let raw: Bytes = parse(param(params, 0, "raw transaction")?, "raw transaction")?;
            json!(chain.send_raw_transaction(&raw, now)?)
        }
        "eth_getTransactionReceipt" => {
            let hash: B256 = parse(param(params, 0, "transaction hash")?, "transaction hash")?;
            match chain.receipt(&hash)? {
                Some(receipt) => receipt_json(&receipt),
                None => Value::Null,
            }
        }
        "eth_getTransactionByHash" => {
            let hash: B256 = parse(param(params, 0, "transaction hash")?, "transaction hash")?;
            match chain.transaction(&hash)? {
                Some(tx) => transaction_json(chain, &tx)?,
                None => Value::Null,
            }
        }
        "eth_getBlockByNumber" => {
            let number = block_number(chain, params.first())?;
            let full = params.get(1).and_then(Value::as_bool).unwrap_or(false);
            match chain.block(number)? {
                Some(block) => block_json(chain, &block, full)?,
                None => Value::Null,
            }
        }
        "eth_getBlockByHash" => {
            let hash: B256 = parse(param(params, 0, "block hash")?, "block hash")?;
            let full = params.get(1).and_then(Value::as_bool).unwrap_or(false);
            match chain.block_by_hash(&hash)? {
                Some(block) => block_json(chain, &block, full)?,
                None => Value::Null,
            }
        }
        "eth_getLogs" => logs(chain, param(params, 0, "filter")?)?,
        other => {
            return Err(RpcError { code: -32601, message: format!("method {other} is not supported"), data: None });
        }
    })
}

fn receipt_json(receipt: &ReceiptRecord) -> Value {
    json!({
        "transactionHash": receipt.transaction_hash,
        "transactionIndex": hex_u64(receipt.index),
        "blockHash": receipt.block_hash,
        "blockNumber": hex_u64(receipt.block_number),
        "from": receipt.from,
        "to": receipt.to,
        "cumulativeGasUsed": hex_u64(receipt.cumulative_gas_used.max(receipt.gas_used)),
        "gasUsed": hex_u64(receipt.gas_used),
        "effectiveGasPrice": format!("{:#x}", receipt.effective_gas_price),
        "contractAddress": receipt.contract_address,
        "logs": receipt_logs(receipt, receipt.first_log_index),
        "logsBloom": Bytes::from(vec![0u8; 256]),
        "status": if receipt.status { "0x1" } else { "0x0" },
        "type": "0x2",
    })
}

fn receipt_logs(receipt: &ReceiptRecord, first_index: u64) -> Vec<Value> {
    receipt
        .logs
        .iter()
        .enumerate()
        .map(|(i, log)| {
            json!({
                "address": log.address,
                "topics": log.topics,
                "data": log.data,
                "blockNumber": hex_u64(receipt.block_number),
                "blockHash": receipt.block_hash,
                "transactionHash": receipt.transaction_hash,
                "transactionIndex": hex_u64(receipt.index),
                "logIndex": hex_u64(first_index + i as u64),
                "removed": false,
            })
        })
        .collect()
}

fn transaction_json(chain: &EmbeddedChain, tx: &super::TransactionRecord) -> RpcResult {
    use alloy_consensus::{Transaction, TxEnvelope};
    use alloy_eips::eip2718::{Decodable2718, Typed2718};
    let envelope =
        TxEnvelope::decode_2718_exact(&tx.raw).map_err(|e| RpcError::from(ChainError::Storage(e.to_string())))?;
    let block = chain.block(tx.block_number)?;
    Ok(json!({
        "hash": tx.hash,
        "from": tx.from,
        "to": envelope.to(),
        "nonce": hex_u64(envelope.nonce()),
        "value": envelope.value(),
        "input": envelope.input(),
        "gas": hex_u64(envelope.gas_limit()),
        "gasPrice": format!("{:#x}", envelope.effective_gas_price(Some(0))),
        "maxFeePerGas": format!("{:#x}", envelope.max_fee_per_gas()),
        "maxPriorityFeePerGas": envelope.max_priority_fee_per_gas().map(|p| format!("{p:#x}")),
        "chainId": envelope.chain_id().map(hex_u64),
        "type": format!("{:#x}", envelope.ty()),
        "blockNumber": hex_u64(tx.block_number),
        "blockHash": block.map(|b| b.hash),
        "transactionIndex": hex_u64(tx.index),
        "accessList": envelope.access_list().map(|l| json!(l)).unwrap_or(json!([])),
        "v": "0x0", "r": "0x0", "s": "0x0",
    }))
}

fn block_json(chain: &EmbeddedChain, block: &BlockRecord, full: bool) -> RpcResult {
    let transactions: Vec<Value> = if full {
        block
            .transactions
            .iter()
            .filter_map(|hash| chain.transaction(hash).transpose())
            .map(|tx| transaction_json(chain, &tx?))
            .collect::<Result<_, _>>()?
    } else {
        block.transactions.iter().map(|hash| json!(hash)).collect()
    };
    Ok(json!({
        "number": hex_u64(block.number),
        "hash": block.hash,
        "parentHash": block.parent_hash,
        "timestamp": hex_u64(block.timestamp),
        "gasLimit": hex_u64(1_000_000_000),
        "gasUsed": hex_u64(block.gas_used),
        "baseFeePerGas": "0x0",
        "miner": Address::ZERO,
        "difficulty": "0x0",
        "totalDifficulty": "0x0",
        "extraData": "0x",
        "nonce": "0x0000000000000000",
        "mixHash": B256::ZERO,
        "sha3Uncles": B256::ZERO,
        "stateRoot": B256::ZERO,
        "transactionsRoot": B256::ZERO,
        "receiptsRoot": B256::ZERO,
        "logsBloom": Bytes::from(vec![0u8; 256]),
        "size": "0x0",
        "uncles": [],
        "transactions": transactions,
    }))
}

fn logs(chain: &EmbeddedChain, filter: &Value) -> RpcResult {
    let head = chain.head().number;
    let (from, to) = if let Some(hash) = filter.get("blockHash").filter(|v| !v.is_null()) {
        let hash: B256 = parse(hash, "blockHash")?;
        let block = chain.block_by_hash(&hash)?.ok_or_else(|| invalid_params("unknown blockHash"))?;
        (block.number, block.number)
    } else {
        (block_number(chain, filter.get("fromBlock"))?, block_number(chain, filter.get("toBlock"))?.min(head))
    };
    if to >= from && to - from >= MAX_LOG_RANGE {
        return Err(invalid_params(format!("block range {from}..={to} is over {MAX_LOG_RANGE} blocks")));
    }
    let addresses: Vec<Address> = match filter.get("address") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.iter().map(|v| parse(v, "address")).collect::<Result<_, _>>()?,
        Some(one) => vec![parse(one, "address")?],
    };
    let topics: Vec<Vec<B256>> = match filter.get("topics") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|slot| match slot {
                Value::Null => Ok(Vec::new()),
                Value::Array(any) => any.iter().map(|t| parse(t, "topic")).collect(),
                one => Ok(vec![parse(one, "topic")?]),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid_params("topics must be an array")),
    };
    let mut out = Vec::new();
    for number in from..=to {
        let Some(block) = chain.block(number)? else {
            continue;
        };
        let mut index = 0u64;
        for hash in &block.transactions {
            let Some(receipt) = chain.receipt(hash)? else {
                continue;
            };
            for (log, json) in receipt.logs.iter().zip(receipt_logs(&receipt, index)) {
                let address_ok = addresses.is_empty() || addresses.contains(&log.address);
                let topics_ok = topics
                    .iter()
                    .enumerate()
                    .all(|(i, wanted)| wanted.is_empty() || log.topics.get(i).is_some_and(|t| wanted.contains(t)));
                if address_ok && topics_ok {
                    out.push(json);
                }
            }
            index += receipt.logs.len() as u64;
        }
    }
    Ok(Value::Array(out))
}
