//! `veritas request`: ask for inference the way a contract does, on chain. The request escrows
//! its fee in the settlement contract (`requestInference`); a gateway reads the event, serves
//! it, has the claim judged by the validators and delivers the verified output (`fulfill`), which
//! pays the worker and settles the claim. The command waits for that and prints the output.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use alloy_primitives::{U256, utils::parse_units};
use alloy_sol_types::SolEvent;
use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;
use veritas_node::chain::{
    Chain,
    contracts::{ModelRegistry, Settlement, VeritasToken},
};
use veritas_node::wire::{ModelEntry, RequestStatus};
use veritas_primitives::{Mode, Receipt, values::canonical_bytes};

use crate::{
    client::Client,
    commands::{Output, tokens},
    env,
    onchain::ChainArgs,
};

/// Options of `veritas request`.
#[derive(Args)]
pub struct RequestArgs {
    /// The model: NAME, NAME@VERSION or a model id (ONNX, or quantized for `zk`).
    model: String,
    /// The inputs as JSON, `@FILE` to read a file, or `-` for standard input.
    #[arg(long)]
    input: String,
    /// The verification mode the request asks for.
    #[arg(long, default_value = "reexec")]
    mode: Mode,
    /// The most to pay, in tokens (e.g. 0.5); default: the model's price on chain.
    #[arg(long, value_name = "TOKENS")]
    max_fee: Option<String>,
    /// Write the receipt to this file.
    #[arg(long)]
    receipt: Option<PathBuf>,
    /// Return once the request is on chain, without waiting for its answer.
    #[arg(long)]
    no_wait: bool,
    /// How long to wait for the answer, in seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    #[command(flatten)]
    chain: ChainArgs,
}

/// `veritas request`: exit 0 delivered, 1 refused by the network.
pub async fn request(args: RequestArgs, out: &Output) -> anyhow::Result<u8> {
    let input = crate::commands::read_input(&args.input)?;
    let client = Client::new(&env::api());
    let model: ModelEntry = client.get(&format!("/v1/models/{}", args.model)).await?;
    let model_id = model.veritas.model_id;
    let values = veritas_node::parse_inputs(&model.veritas.manifest.schema, &input).context("--input")?;
    let bytes = canonical_bytes(&values);

    let chain = args.chain.connect().await?;
    let contracts = args.chain.contracts(&chain).await?;
    let key = args.chain.key(&chain, 0)?;
    let price = chain
        .view(contracts.models, ModelRegistry::priceOfCall { modelId: model_id.digest(), tokens: U256::ZERO })
        .await?;
    let max_fee = match &args.max_fee {
        Some(tokens) => {
            parse_units(tokens, 18).with_context(|| format!("--max-fee {tokens:?} is not a number of tokens"))?.into()
        }
        None => price,
    };
    if max_fee < price {
        bail!("--max-fee {} is below the model's price of {} tokens", tokens(max_fee), tokens(price));
    }
    let held = chain.view(contracts.token, VeritasToken::balanceOfCall { account: key.address() }).await?;
    if held < max_fee {
        bail!("account {} holds {} tokens; the request escrows {}", key.address(), tokens(held), tokens(max_fee));
    }
    let confirmations = args.chain.confirmations();
    let approve = VeritasToken::approveCall { spender: contracts.settlement, value: max_fee };
    chain.send_call(&key, contracts.token, approve, confirmations).await?;
    let call = Settlement::requestInferenceCall {
        modelId: model_id.digest(),
        input: bytes.into(),
        mode: args.mode.code(),
        maxFee: max_fee,
        callback: key.address(),
    };
    let mined = chain.send_call(&key, contracts.settlement, call, confirmations).await?;
    let topic = Settlement::InferenceRequested::SIGNATURE_HASH;
    let logs = chain.logs(contracts.settlement, topic, mined.block, mined.block).await?;
    let event = logs
        .iter()
        .filter(|log| log.transaction == mined.transaction)
        .find_map(|log| Settlement::InferenceRequested::decode_raw_log(log.topics.iter().copied(), &log.data).ok())
        .context("the request's transaction emitted no InferenceRequested event")?;
    let id = event.id;
    if !out.json {
        eprintln!(
            "request {id} on chain (block {}, {} tokens escrowed by {}); waiting for the network…",
            mined.block,
            tokens(max_fee),
            key.address()
        );
    }
    if args.no_wait {
        if out.json {
            out.print_json(&json!({"request": id.to_string(), "transaction": mined.transaction, "block": mined.block}));
        } else {
            say!("{id}");
        }
        return Ok(0);
    }

    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let waited = |what: &str| -> anyhow::Result<()> {
        if Instant::now() > deadline {
            bail!("request {id}: {what} after {} s (see `GET /v1/requests/{id}`)", args.timeout);
        }
        Ok(())
    };
    let receipt_id = loop {
        let status: RequestStatus = client.get(&format!("/v1/requests/{id}")).await?;
        match &status {
            RequestStatus::Served { receipt_id, .. } => break *receipt_id,
            RequestStatus::Refused { reason, .. } => {
                if out.json {
                    out.print_json(&status);
                } else {
                    eprintln!(
                        "request {id} refused by the network: {reason}\n(its fee can be refunded after the deadline)"
                    );
                }
                return Ok(1);
            }
            RequestStatus::Unseen { .. } => waited("not served")?,
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let (receipt, settlement) = loop {
        let receipt: Receipt = client.get(&format!("/v1/receipts/{receipt_id}")).await?;
        if let Some(settlement) = receipt.settlement.clone() {
            break (receipt, settlement);
        }
        waited("served, not delivered")?;
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if let Some(path) = &args.receipt {
        std::fs::write(path, serde_json::to_vec_pretty(&receipt)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let output = receipt.body.output.clone().unwrap_or_default();
    if out.json {
        out.print_json(
            &json!({"request": id.to_string(), "receipt_id": receipt_id, "output": output, "settlement": settlement}),
        );
    } else {
        out.print_json(&output);
        eprintln!(
            "receipt {receipt_id}: {} verdicts; delivered in transaction {} (block {})",
            receipt.verdicts.len(),
            settlement.transaction,
            settlement.block
        );
    }
    Ok(0)
}
