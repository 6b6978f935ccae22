//! `veritas verify` (offline, and with `--rpc` against the chain: the batch and the verdicts'
//! quorum) and `veritas receipt show`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use veritas_node::{TeePolicy, wire::TeePolicyInfo};
use veritas_primitives::{ModelId, Receipt};
use veritas_verifier::{Expectations, verify_receipt};

use crate::{
    client::{Client, ClientError},
    commands::Output,
    env, exit,
};

/// Options of `veritas verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// The receipt file (JSON).
    file: PathBuf,
    /// Also require the receipt to be for this model id.
    #[arg(long)]
    model_id: Option<ModelId>,
    /// Also check, over this Ethereum JSON-RPC endpoint, that the receipt's batch is recorded
    /// on chain (the only check that is not offline).
    #[arg(long)]
    rpc: Option<String>,
    /// The TEE policy (JSON file) that a `tee` receipt's attestation must satisfy: allowlisted
    /// measurements, accepted TCB statuses and platform flags. Without it no enclave is accepted.
    #[arg(long, value_name = "FILE")]
    tee_policy: Option<PathBuf>,
    /// Accept the simulated development enclave in `tee` receipts (reported UNTRUSTED /
    /// SIMULATED: it proves nothing beyond the worker's signature).
    #[arg(long)]
    allow_simulated: bool,
}

/// The TEE policy a reader chose: a file, and whether simulated evidence may pass.
pub(crate) fn reader_tee_policy(file: Option<&std::path::Path>, allow_simulated: bool) -> anyhow::Result<TeePolicy> {
    let mut policy = match file {
        Some(path) => read_tee_policy(path)?,
        None => TeePolicy::default(),
    };
    policy.simulated.allow |= allow_simulated;
    Ok(policy)
}

/// A TEE policy from a JSON file, checked.
pub(crate) fn read_tee_policy(path: &std::path::Path) -> anyhow::Result<TeePolicy> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the TEE policy {}", path.display()))?;
    TeePolicy::from_json(&bytes).with_context(|| format!("the TEE policy {}", path.display()))
}

/// Prints what a `tee` receipt's attestation proves and under which assumptions.
pub(crate) fn print_tee(tee: &veritas_verifier::tee::TeeReport) {
    if tee.insecure {
        say!("!! UNTRUSTED / SIMULATED enclave: accepted only because the policy allows simulated evidence");
    }
    say!("tee {}: proven: this enclave produced this claim, bound with the client's nonce; assuming:", tee.label());
    for line in tee.assumptions() {
        say!("  - {line}");
    }
}

/// Whether the receipt's verdicts add up to a quorum of the validator stake the registry on
/// chain records now, and whether the receipt's own snapshot names that registry.
async fn check_quorum(rpc_url: &str, receipt: &Receipt) -> anyhow::Result<Result<String, String>> {
    use veritas_node::chain::{AnyChain, Chain, RpcChain, contracts::Settlement};
    let chain = AnyChain::Rpc(RpcChain::connect(rpc_url).await?);
    let registry = chain.view(receipt.domain.verifying_contract, Settlement::registryCall {}).await?;
    if let Some(snapshot) = &receipt.body.registry
        && snapshot.registry != registry
    {
        return Ok(Err(format!(
            "the receipt's snapshot is of registry {}, but its settlement contract uses {registry}",
            snapshot.registry
        )));
    }
    let now = veritas_node::read_registry(&chain, registry).await?;
    Ok(veritas_verifier::check_quorum(receipt, &now.validators)
        .map(|report| format!("{} (registry on chain at block {})", report.describe(receipt), now.block))
        .map_err(|err| err.to_string()))
}

/// Asks the chain whether the receipt's batch root is recorded and the receipt is in it.
async fn check_on_chain(rpc_url: &str, receipt: &Receipt) -> anyhow::Result<Result<String, String>> {
    use veritas_node::chain::{AnyChain, Chain, RpcChain, contracts::Settlement};
    let Some(settlement) = &receipt.settlement else {
        return Ok(Err("the receipt is not settled yet, so there is nothing to find on chain".into()));
    };
    let chain = AnyChain::Rpc(RpcChain::connect(rpc_url).await?);
    if chain.chain_id() != settlement.chain_id {
        return Ok(Err(format!(
            "{rpc_url} serves chain {}, the receipt settled on chain {}",
            chain.chain_id(),
            settlement.chain_id
        )));
    }
    let call = Settlement::isSettledCall {
        root: settlement.batch_root,
        leaf: veritas_primitives::merkle_leaf(&receipt.id()),
        path: settlement.merkle_path.clone(),
    };
    let settled = chain.view(settlement.contract, call).await.context("eth_call isSettled failed")?;
    Ok(if settled {
        Ok(format!(
            "batch {} is recorded by {} on chain {}",
            settlement.batch_root, settlement.contract, settlement.chain_id
        ))
    } else {
        Err(format!(
            "batch {} is not recorded by {} on chain {}",
            settlement.batch_root, settlement.contract, settlement.chain_id
        ))
    })
}

/// `veritas verify`: offline; exit 0 valid, 1 invalid.
pub async fn verify(args: VerifyArgs, out: &Output) -> anyhow::Result<u8> {
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let expect = Expectations {
        model_id: args.model_id,
        tee_policy: reader_tee_policy(args.tee_policy.as_deref(), args.allow_simulated)?.into(),
    };
    let receipt = serde_json::from_slice::<Receipt>(&bytes);
    let mut result = receipt
        .as_ref()
        .map_err(|err| veritas_verifier::VerifyError::Malformed(err.to_string()))
        .and_then(|receipt| verify_receipt(receipt, &expect))
        .map_err(|err| err.to_string());
    if let (Ok(report), Some(rpc_url), Ok(receipt)) = (&mut result, &args.rpc, &receipt) {
        match check_on_chain(rpc_url, receipt).await? {
            Ok(detail) => report.checks.push(veritas_verifier::Check { name: "chain", detail, performed: true }),
            Err(reason) if receipt.settlement.is_none() => {
                report.checks.push(veritas_verifier::Check { name: "chain", detail: reason, performed: false });
            }
            Err(reason) => result = Err(format!("settlement: {reason}")),
        }
    }
    if let (Ok(report), Some(rpc_url), Ok(receipt)) = (&mut result, &args.rpc, &receipt)
        && !receipt.verdicts.is_empty()
    {
        match check_quorum(rpc_url, receipt).await? {
            Ok(detail) => {
                // The chain's count replaces the one against the receipt's own snapshot.
                report.checks.retain(|check| check.name != "quorum");
                report.checks.push(veritas_verifier::Check { name: "quorum", detail, performed: true });
            }
            Err(reason) => result = Err(format!("quorum: {reason}")),
        }
    }
    match result {
        Ok(report) => {
            if out.json {
                let checks: Vec<Value> = report
                    .checks
                    .iter()
                    .map(|c| json!({"check": c.name, "performed": c.performed, "detail": c.detail}))
                    .collect();
                out.print_json(&json!({
                    "valid": true,
                    "receipt_id": report.receipt_id,
                    "worker": report.worker,
                    "model_id": report.model_id,
                    "mode": report.mode,
                    "guarantee": report.guarantee(),
                    "checks": checks,
                    "tee": report.tee.as_ref().map(|tee| json!({
                        "label": tee.label(),
                        "insecure": tee.insecure,
                        "assumptions": tee.assumptions(),
                    })),
                    "zk": report.zk.as_ref().map(|zk| json!({
                        "commitment": zk.commitment,
                        "security_bits": zk.security_bits,
                        "proof_bytes": zk.proof_bytes,
                        "layers": zk.layers,
                        "proven": veritas_verifier::zk::PROVEN,
                        "reveals": veritas_verifier::zk::REVEALS,
                    })),
                }));
            } else {
                say!("VALID receipt {}", report.receipt_id);
                for check in &report.checks {
                    let mark = if check.performed { "ok  " } else { "skip" };
                    say!("  {mark} {:<9} {}", check.name, check.detail);
                }
                say!("mode {}: {}", report.mode, report.guarantee());
                if let Some(tee) = &report.tee {
                    print_tee(tee);
                }
                if report.zk.is_some() {
                    say!("zk proves: {}", veritas_verifier::zk::PROVEN);
                    say!("zk reveals: {}", veritas_verifier::zk::REVEALS);
                }
            }
            Ok(0)
        }
        Err(err) => {
            if out.json {
                out.print_json(&json!({"valid": false, "reason": err.to_string()}));
            } else {
                say!("INVALID receipt: {err}");
            }
            Ok(exit::INVALID)
        }
    }
}

/// `veritas receipt …`.
#[derive(Subcommand)]
pub enum ReceiptCommand {
    /// Fetch a receipt from the node by id.
    Show {
        /// The receipt id (0x-prefixed hex).
        id: String,
        /// Also write it to this file.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Wait (up to this many seconds) until the receipt is settled on chain.
        #[arg(long, value_name = "SECONDS")]
        wait_settled: Option<u64>,
    },
}

/// `veritas receipt …`.
pub async fn receipt(cmd: ReceiptCommand, out: &Output) -> anyhow::Result<u8> {
    let ReceiptCommand::Show { id, output, wait_settled } = cmd;
    let client = Client::new(&env::api());
    let mut receipt: Receipt = client.get(&format!("/v1/receipts/{id}")).await?;
    if let Some(seconds) = wait_settled {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        if receipt.settlement.is_none() && !out.json {
            eprintln!("waiting for the receipt to settle …");
        }
        while receipt.settlement.is_none() {
            if std::time::Instant::now() >= deadline {
                bail!("receipt {id} was not settled within {seconds} s; it stays queued on the node");
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            receipt = client.get(&format!("/v1/receipts/{id}")).await?;
        }
    }
    let text = serde_json::to_string_pretty(&receipt)?;
    if let Some(path) = output {
        std::fs::write(&path, format!("{text}\n"))?;
    }
    let _ = out;
    say!("{text}");
    Ok(0)
}

/// The client's own check of an answer's receipt, before anything of the answer is shown: it
/// holds (signature, hashes, a `zk` proof; a `tee` attestation under the network's published
/// policy, bound to the nonce this client sent), for the model asked when it was asked by id.
/// What to show of the answer is then the receipt's own output.
pub(crate) async fn check_answer(
    client: &Client,
    receipt: &Receipt,
    mode: Option<veritas_primitives::Mode>,
    nonce: &[u8],
    model_id: Option<ModelId>,
) -> anyhow::Result<()> {
    let invalid = |reason: String| anyhow::Error::from(ClientError::Invalid { reason });
    let tee = mode == Some(veritas_primitives::Mode::Tee);
    let tee_policy = if tee {
        let published: TeePolicyInfo = client.get("/v1/tee/policy").await?;
        published.policy.into()
    } else {
        Default::default()
    };
    let started = std::time::Instant::now();
    let report = verify_receipt(receipt, &Expectations { model_id, tee_policy })
        .map_err(|err| invalid(format!("its receipt does not hold: {err}")))?;
    if let Some(zk) = &report.zk {
        eprintln!(
            "zk: proof verified here in {:.1} ms ({} bytes, model commitment {}, {} bits); not zero-knowledge: \
             it reveals the layers' outputs",
            started.elapsed().as_secs_f64() * 1e3,
            zk.proof_bytes,
            zk.commitment,
            zk.security_bits
        );
    } else if mode == Some(veritas_primitives::Mode::Zk) {
        return Err(invalid("the node answered a zk request without a proof".into()));
    }
    if tee {
        if report.tee_nonce.as_deref() != Some(nonce) {
            return Err(invalid("the attestation does not bind the nonce this client sent".into()));
        }
        if let Some(tee) = &report.tee {
            if tee.insecure {
                eprintln!(
                    "!! UNTRUSTED / SIMULATED enclave: this tee receipt proves nothing beyond the worker's signature"
                );
            } else {
                eprintln!(
                    "tee: {} attestation holds under the network's policy, bound to this request's nonce",
                    tee.label()
                );
            }
        }
    }
    Ok(())
}
