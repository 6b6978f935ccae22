//! Output, and the subcommands for the chain, setup, models and inference.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use veritas_node::{
    chain::{AnyChain, Chain, RpcChain, contracts::VeritasToken},
    wire::{InferRequest, InferResponse, ModelEntry, ModelList, NetworkInfo, PushAnswer},
};

use crate::{
    client::{Client, ClientError},
    env, setup,
};

/// How output is printed.
pub struct Output {
    /// JSON for scripts instead of text for people.
    pub json: bool,
}

impl Output {
    pub(crate) fn print_json(&self, value: &impl serde::Serialize) {
        say!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
    }
}

/// `veritas chain …`.
#[derive(Subcommand)]
pub enum ChainCommand {
    /// The chain the node settles on: id, head block, contracts.
    Status,
    /// The development accounts with their ether and token balances.
    Accounts,
    /// Deploy the contracts on any EVM chain and write a deployment file.
    Deploy(crate::onchain::DeployArgs),
}

pub(crate) use veritas_verifier::tokens;

/// The embedded chain of the node at `api`, over its JSON-RPC endpoint.
pub(crate) async fn embedded_chain(api: &str, network: &NetworkInfo) -> anyhow::Result<AnyChain> {
    let chain = network.chain.as_ref().context("this node runs no chain (it was started with --no-chain)")?;
    let path =
        chain.rpc.as_deref().context("this node settles on an external chain: it has no development accounts")?;
    Ok(AnyChain::Rpc(RpcChain::connect(&format!("{}{path}", api.trim_end_matches('/'))).await?))
}

/// `veritas chain …`.
pub async fn chain(cmd: ChainCommand, out: &Output) -> anyhow::Result<u8> {
    let status = match cmd {
        ChainCommand::Deploy(args) => return crate::onchain::deploy_contracts(args, out).await,
        ChainCommand::Status => true,
        ChainCommand::Accounts => false,
    };
    let api = env::api();
    let network: NetworkInfo = Client::new(&api).get("/v1/network").await?;
    let Some(chain) = &network.chain else { bail!("this node runs no chain (it was started with --no-chain)") };
    if status {
        if out.json {
            out.print_json(&json!({"network": network, "block": chain.block}));
        } else {
            say!("chain id       {} ({})", chain.chain_id, chain.kind);
            if let Some(path) = &chain.rpc {
                say!("rpc            {}{path}", api.trim_end_matches('/'));
            }
            say!("block          {}", chain.block);
            let contracts = &chain.contracts;
            for (name, address) in [
                ("token", contracts.token),
                ("node registry", contracts.node_registry),
                ("model registry", contracts.model_registry),
                ("settlement", contracts.settlement),
            ] {
                say!("{name:<14} {address}");
            }
        }
        return Ok(0);
    }
    let rpc = embedded_chain(&api, &network).await?;
    let mut rows = Vec::new();
    for account in &chain.dev_accounts {
        let ether = rpc.balance(*account).await?;
        let vrt = rpc.view(chain.contracts.token, VeritasToken::balanceOfCall { account: *account }).await?;
        rows.push((*account, ether, vrt));
    }
    if out.json {
        let list: Vec<Value> = rows.iter().map(|(a, e, t)| json!({"address": a, "ether": e, "tokens": t})).collect();
        out.print_json(&list);
    } else {
        say!("development accounts of the test mnemonic (their keys are public: development only)");
        for (account, ether, vrt) in rows {
            say!("{account}  {} ETH  {} VRT", tokens(ether), tokens(vrt));
        }
    }
    Ok(0)
}

/// `veritas setup`.
pub async fn setup(out: &Output) -> anyhow::Result<u8> {
    let path = setup::ensure_onnxruntime(&env::home(), out.json)?;
    if out.json {
        out.print_json(&json!({"onnxruntime": path}));
    } else {
        say!("ONNX Runtime {} at {}", setup::ONNXRUNTIME_VERSION, path.display());
    }
    Ok(0)
}

/// `veritas model …`.
#[derive(Subcommand)]
pub enum ModelCommand {
    /// Push a model file as the next version of NAME.
    Push {
        /// The model file.
        file: PathBuf,
        /// The repository name.
        #[arg(long)]
        name: String,
        /// The file's format; default: `gguf` for a `.gguf` file, `quantized` for a
        /// `.quant.json` file, else `onnx`.
        #[arg(long, value_parser = ["onnx", "gguf", "quantized"])]
        format: Option<String>,
        /// Quantize the ONNX file to int8 here, calibrated on these samples (a JSON array, each
        /// sample the model's input as `infer --input` takes it), print the accuracy against the
        /// float model, and push the quantized network: the node commits to its parameters and
        /// serves it in every mode, `zk` included.
        #[arg(long, value_name = "FILE")]
        zk_calibration: Option<PathBuf>,
        /// ONNX only: validators accept re-executed floats within ABS + REL·|re-executed| of the
        /// claimed ones instead of requiring the same output hash (for networks whose hardware or
        /// ONNX Runtime builds differ in the last bits). Part of the model id.
        #[arg(long, value_name = "ABS")]
        tolerance_abs: Option<f64>,
        /// ONNX only: the relative part of the tolerance (see --tolerance-abs); 0 if left out.
        #[arg(long, value_name = "REL")]
        tolerance_rel: Option<f64>,
    },
    /// List models with their latest versions.
    Ls,
    /// Show a model version: NAME, NAME@VERSION or a model id.
    Show {
        /// The model.
        reference: String,
    },
    /// Download a model file, checked against its digest.
    Pull {
        /// The model.
        reference: String,
        /// Where to write it (default: NAME-vVERSION.onnx).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

/// The push route for a file: its name, format and any declared tolerance, checked here so that
/// a refused tolerance costs no upload.
fn push_path(name: &str, format: &str, abs: Option<f64>, rel: Option<f64>) -> anyhow::Result<String> {
    let mut path = format!("/v1/models?name={name}&format={format}");
    if abs.is_none() && rel.is_none() {
        return Ok(path);
    }
    if format != "onnx" {
        bail!(
            "--tolerance-abs and --tolerance-rel apply to ONNX models only; a language model's completion is \
             checked by rescoring, not against a tolerance"
        );
    }
    let tolerance = veritas_node::Tolerance::new(abs.unwrap_or(0.0), rel.unwrap_or(0.0)).map_err(|err| {
        anyhow::anyhow!(err.replace("tolerance.abs", "--tolerance-abs").replace("tolerance.rel", "--tolerance-rel"))
    })?;
    path.push_str(&format!("&tolerance_abs={}&tolerance_rel={}", tolerance.abs, tolerance.rel));
    Ok(path)
}

/// The operator key pushes are signed with: `VERITAS_OPERATOR_KEY` (hex), else the
/// operator.key a node keeps in its data directory (`VERITAS_HOME`).
fn operator_key() -> anyhow::Result<veritas_primitives::WorkerKey> {
    if let Some(hex) = std::env::var("VERITAS_OPERATOR_KEY").ok().filter(|v| !v.is_empty()) {
        return veritas_node::load_or_create_key(std::path::Path::new(""), Some(&hex))
            .context("VERITAS_OPERATOR_KEY is not a key");
    }
    let path = env::home().join(crate::node::OPERATOR_KEY_FILE);
    if !path.is_file() {
        bail!(
            "pushing a model needs the node's operator key: set VERITAS_OPERATOR_KEY to it, or run where the node \
             keeps its data ({} does not exist)",
            path.display()
        );
    }
    veritas_node::load_or_create_key(&path, None).with_context(|| format!("cannot read {}", path.display()))
}

/// The headers that sign a push of `file` to `path` on the node `client` talks to, by the
/// operator key: its SHA-256, the node's key and network, the time and a fresh nonce.
async fn push_headers(
    client: &Client,
    path: &str,
    file: &std::path::Path,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    use sha2::Digest;
    let key = operator_key()?;
    let content_sha256 = {
        let file = file.to_owned();
        tokio::task::spawn_blocking(move || -> std::io::Result<veritas_primitives::B256> {
            let mut hasher = sha2::Sha256::new();
            std::io::copy(&mut std::fs::File::open(&file)?, &mut hasher)?;
            Ok(veritas_primitives::B256::from_slice(&hasher.finalize()))
        })
        .await??
    };
    let network: NetworkInfo = client.get("/v1/network").await?;
    let health: veritas_node::wire::Health = client.get("/healthz").await?;
    let target = veritas_primitives::publish::PushTarget { to: health.key, target: path, content_sha256 };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let nonce = veritas_primitives::B256::random();
    let envelope = veritas_primitives::publish::PushEnvelope::sign(&key, &network.claim_domain, &target, now, nonce)?;
    Ok(envelope.headers().into())
}

fn version_line(model: &ModelEntry) -> String {
    let v = &model.veritas;
    format!("{:<20} {:>7} {:<6} {}", v.name, v.version, v.format.name(), v.model_id)
}

/// `veritas model …`.
pub async fn model(cmd: ModelCommand, out: &Output) -> anyhow::Result<u8> {
    let client = Client::new(&env::api());
    match cmd {
        ModelCommand::Push { file, name, format, tolerance_abs, tolerance_rel, zk_calibration } => {
            if !file.is_file() {
                bail!("no such file: {}", file.display());
            }
            let quantized_file;
            let (file, format) = match zk_calibration {
                Some(samples) => {
                    if format.as_deref().is_some_and(|f| f != "onnx") {
                        bail!(
                            "--zk-calibration quantizes an ONNX file; --format {} was given",
                            format.unwrap_or_default()
                        );
                    }
                    quantized_file = crate::quantize::quantize(&file, &samples, out.json)?;
                    (quantized_file.path().to_owned(), "quantized".to_owned())
                }
                None => {
                    let format = format.unwrap_or_else(|| {
                        let lower = file.to_string_lossy().to_ascii_lowercase();
                        if lower.ends_with(".gguf") {
                            "gguf"
                        } else if lower.ends_with(".quant.json") {
                            "quantized"
                        } else {
                            "onnx"
                        }
                        .to_owned()
                    });
                    (file, format)
                }
            };
            let path = push_path(&name, &format, tolerance_abs, tolerance_rel)?;
            let headers = push_headers(&client, &path, &file).await?;
            let answer: PushAnswer = client.upload(&path, &file, &headers, out.json).await?;
            if out.json {
                out.print_json(&answer);
            } else {
                let verb = if answer.created { "pushed" } else { "unchanged:" };
                say!("{verb} {} version {}", answer.name, answer.version);
                say!("model id {}", answer.model_id);
            }
        }
        ModelCommand::Ls => {
            let list: ModelList = client.get("/v1/models").await?;
            if out.json {
                out.print_json(&list);
            } else {
                say!("{:<20} {:>7} {:<6} MODEL ID", "NAME", "VERSION", "FORMAT");
                for model in &list.data {
                    say!("{}", version_line(model));
                }
            }
        }
        ModelCommand::Show { reference } => {
            let model: ModelEntry = client.get(&format!("/v1/models/{reference}")).await?;
            if out.json {
                out.print_json(&model);
            } else {
                print_model(&model);
            }
        }
        ModelCommand::Pull { reference, output } => {
            let model: ModelEntry = client.get(&format!("/v1/models/{reference}")).await?;
            let v = &model.veritas;
            let ext = if v.format == veritas_node::ModelFormat::Gguf { "gguf" } else { "onnx" };
            let output = output.unwrap_or_else(|| PathBuf::from(format!("{}-v{}.{ext}", v.name, v.version)));
            let expected = v.manifest.main_file().map(|f| f.sha256.clone()).context("the manifest lists no file")?;
            client.download(&format!("/v1/models/{reference}/content"), &output, out.json).await?;
            let bytes = std::fs::read(&output)?;
            let got = veritas_primitives::hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
            if got != expected {
                std::fs::remove_file(&output)?;
                bail!("downloaded bytes hash to {got}, the manifest says {expected}; file removed");
            }
            if out.json {
                out.print_json(&json!({"file": output, "sha256": got, "model_id": v.model_id}));
            } else {
                say!("wrote {} ({} bytes, sha256 {got} matches the manifest)", output.display(), bytes.len());
            }
        }
    }
    Ok(0)
}

fn print_model(model: &ModelEntry) {
    let v = &model.veritas;
    let manifest = &v.manifest;
    say!("name      {}", v.name);
    say!("version   {}", v.version);
    say!("model id  {}", v.model_id);
    say!("format    {}", v.format.name());
    if let Some(tolerance) = &manifest.tolerance {
        say!("tolerance abs {} + rel {} (re-executed floats; everything else exact)", tolerance.abs, tolerance.rel);
    }
    if let Some(zk) = &manifest.zk {
        say!(
            "zk        model commitment {} ({} bits of proven soundness; the verifying key is in the manifest)",
            zk.commitment,
            zk.security_bits
        );
    }
    for file in &manifest.files {
        say!("file      {} {} bytes sha256 {}", file.path, file.size, file.sha256);
    }
    for (title, specs) in [("inputs", &manifest.schema.inputs), ("outputs", &manifest.schema.outputs)] {
        say!("{title}:");
        for spec in specs {
            let dims: Vec<String> = spec.shape.iter().map(|d| d.map_or("?".to_owned(), |d| d.to_string())).collect();
            say!("  {:<24} {} [{}]", spec.name, spec.dtype, dims.join(", "));
        }
    }
    if let Some(versions) = &v.versions {
        say!("versions:");
        for version in versions {
            say!("  {:>4}  {}", version.version, version.model_id);
        }
    }
}

/// Options of `veritas infer`.
#[derive(Args)]
pub struct InferArgs {
    /// The model: NAME, NAME@VERSION or a model id.
    model: String,
    /// The inputs as JSON, `@FILE` to read a file, or `-` for standard input.
    #[arg(long)]
    input: String,
    /// The verification mode: signed, reexec, zk (a quantized model's proof, verified here) or tee
    /// (default: the node's).
    #[arg(long)]
    mode: Option<veritas_primitives::Mode>,
    /// A `tee` request's nonce (hex, at most 64 bytes); default: 32 random bytes.
    #[arg(long, value_name = "HEX")]
    nonce: Option<String>,
    /// Write the receipt to this file.
    #[arg(long)]
    receipt: Option<PathBuf>,
    /// Pay with this API key (`veritas account key create`); the development network's
    /// default payer pays when none is given.
    #[arg(long, env = "VERITAS_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Seal the inputs to an enclave's attested key (a `tee` request): nobody outside the
    /// enclave sees them or the outputs; the receipt holds only commitments to both.
    #[arg(long)]
    confidential: bool,
    /// The TEE policy the enclave must hold under before anything is sealed to it (default: the
    /// one the network publishes).
    #[arg(long, value_name = "FILE", requires = "confidential")]
    tee_policy: Option<PathBuf>,
}

pub(crate) fn read_input(text: &str) -> anyhow::Result<Value> {
    let raw = if text == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else if let Some(path) = text.strip_prefix('@') {
        std::fs::read_to_string(path).with_context(|| format!("cannot read the input file {path}"))?
    } else {
        text.to_owned()
    };
    serde_json::from_str(&raw).context("--input is not valid JSON")
}

/// `veritas infer`.
pub async fn infer(args: InferArgs, out: &Output) -> anyhow::Result<u8> {
    let input = read_input(&args.input)?;
    let client = Client::new(&env::api()).with_api_key(args.api_key.clone().filter(|k| !k.is_empty()));
    if args.confidential {
        return infer_confidential(args, input, &client, out).await;
    }
    let nonce = match (args.mode, &args.nonce) {
        (_, Some(nonce)) => Some(veritas_node::parse_nonce(nonce)?),
        (Some(veritas_primitives::Mode::Tee), None) => Some(veritas_primitives::B256::random().to_vec()),
        _ => None,
    };
    let request = InferRequest {
        model: args.model,
        input,
        mode: args.mode,
        request_id: None,
        nonce: nonce.as_ref().map(veritas_primitives::hex::encode),
        sealed: None,
    };
    let sent = request.input.clone();
    let (answer, _): (InferResponse, _) = client.post("/v1/infer", &request).await?;
    let receipt = &answer.receipt;
    let asked = request.model.parse::<veritas_primitives::ModelId>().ok();
    crate::receipts::check_answer(&client, receipt, args.mode, nonce.as_deref().unwrap_or_default(), asked).await?;
    let output = signed_output(&answer, &sent)?;
    if let Some(path) = &args.receipt {
        let receipt = serde_json::to_string_pretty(&answer.receipt)?;
        std::fs::write(path, receipt + "\n")
            .with_context(|| format!("cannot write the receipt to {}", path.display()))?;
    }
    if out.json {
        out.print_json(&answer);
    } else {
        out.print_json(output);
        let where_ = args.receipt.as_ref().map(|p| format!(" written to {}", p.display())).unwrap_or_default();
        eprintln!("receipt {}{where_}", answer.receipt_id);
    }
    Ok(0)
}

/// `veritas infer --confidential`: the enclave's key checked, the inputs sealed to it, the sealed
/// outputs opened and checked against the receipt's commitments.
async fn infer_confidential(args: InferArgs, input: Value, client: &Client, out: &Output) -> anyhow::Result<u8> {
    if args.mode.is_some_and(|mode| mode != veritas_primitives::Mode::Tee) {
        anyhow::bail!("--confidential is a tee request: leave --mode out, or say tee");
    }
    let model: ModelEntry = client.get(&format!("/v1/models/{}", args.model)).await?;
    let model = model.veritas;
    // The inputs are checked here, since the node cannot say what is wrong with sealed ones.
    let inputs = veritas_node::parse_inputs(&model.manifest.schema, &input)
        .map_err(|err| ClientError::Invalid { reason: format!("the input does not fit the model: {err}") })?;
    let policy = crate::confidential::client_policy(client, args.tee_policy.as_deref()).await?;
    let enclave = crate::confidential::attested_enclave(client, policy).await?;
    let (sealed, reader) = enclave.seal(&model.model_id, input)?;
    let request = InferRequest {
        model: model.model_id.to_string(),
        input: Value::Null,
        mode: Some(veritas_primitives::Mode::Tee),
        request_id: None,
        nonce: None,
        sealed: Some(sealed.clone()),
    };
    let (answer, _): (InferResponse, _) = client.post("/v1/infer", &request).await?;
    let sealed_answer = answer.sealed.as_ref().ok_or_else(|| ClientError::Invalid {
        reason: "the node answered a confidential request without a sealed answer".into(),
    })?;
    let opening = crate::confidential::check_answer(
        &enclave,
        &answer.receipt,
        &sealed,
        &reader,
        sealed_answer,
        false,
        &model.model_id,
    )?;
    if opening.input != inputs {
        return Err(ClientError::Invalid { reason: "the enclave ran other inputs than the ones sealed".into() }.into());
    }
    if let Some(path) = &args.receipt {
        let receipt = serde_json::to_string_pretty(&answer.receipt)?;
        std::fs::write(path, receipt + "\n")
            .with_context(|| format!("cannot write the receipt to {}", path.display()))?;
    }
    if out.json {
        out.print_json(&serde_json::json!({
            "receipt_id": answer.receipt_id,
            "output": opening.output,
            "receipt": answer.receipt,
            "enclave": enclave.report.label(),
        }));
    } else {
        out.print_json(&opening.output);
        let where_ = args.receipt.as_ref().map(|p| format!(" written to {}", p.display())).unwrap_or_default();
        eprintln!("receipt {}{where_} (confidential: it holds commitments, not the data)", answer.receipt_id);
    }
    Ok(0)
}

/// What an answer's receipt signs as the output of the input this client sent, or why the
/// answer is not that: a model other than the one the receipt names, another input, or an
/// output other than the signed one.
fn signed_output<'a>(answer: &'a InferResponse, sent: &Value) -> Result<&'a veritas_primitives::Values, ClientError> {
    let invalid = |reason: &str| ClientError::Invalid { reason: reason.to_owned() };
    let receipt = &answer.receipt;
    if answer.model.id != receipt.claim.model_id || answer.model.manifest.id() != answer.model.id {
        return Err(invalid("the model the node names is not the one its receipt signs"));
    }
    let inputs = veritas_node::parse_inputs(&answer.model.manifest.schema, sent)
        .map_err(|err| ClientError::Invalid { reason: format!("the input sent does not fit the model: {err}") })?;
    if veritas_primitives::values::values_hash(&inputs) != receipt.claim.input_hash {
        return Err(invalid("the receipt is about another input than the one sent"));
    }
    match &receipt.body.output {
        Some(output) if *output == answer.output => Ok(output),
        Some(_) => Err(invalid("the output shown is not the output the receipt signs")),
        None => Err(invalid("the receipt carries no output")),
    }
}

#[cfg(test)]
mod tests {
    use super::push_path;

    #[test]
    fn push_paths_carry_a_checked_tolerance() {
        assert_eq!(push_path("iris", "onnx", None, None).unwrap(), "/v1/models?name=iris&format=onnx");
        assert_eq!(
            push_path("iris", "onnx", Some(1e-5), None).unwrap(),
            "/v1/models?name=iris&format=onnx&tolerance_abs=0.00001&tolerance_rel=0"
        );
        assert_eq!(
            push_path("iris", "onnx", None, Some(0.25)).unwrap(),
            "/v1/models?name=iris&format=onnx&tolerance_abs=0&tolerance_rel=0.25"
        );
        for (format, abs, rel, expected) in [
            ("gguf", Some(1e-3), None, "ONNX models only"),
            ("onnx", Some(-1.0), None, "--tolerance-abs must not be negative"),
            ("onnx", None, Some(f64::NAN), "--tolerance-rel must be a finite number"),
            ("onnx", Some(0.0), Some(0.0), "leave the tolerance out"),
        ] {
            let err = push_path("m", format, abs, rel).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
