//! Output, and the subcommands for the chain, setup, models and inference.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::{client::Client, env, setup};

/// How output is printed.
pub struct Output {
    /// JSON for scripts instead of text for people.
    pub json: bool,
}

impl Output {
    pub(crate) fn print_json(&self, value: &Value) {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
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

async fn rpc(client: &Client, method: &str, params: Value) -> anyhow::Result<Value> {
    let (answer, _) =
        client.post("/rpc", &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})).await?;
    if let Some(error) = answer.get("error") {
        bail!("{method}: {}", error["message"].as_str().unwrap_or("error"));
    }
    Ok(answer["result"].clone())
}

pub(crate) fn hex_u256(value: &Value) -> alloy_primitives::U256 {
    value.as_str().and_then(|s| s.parse().ok()).unwrap_or_default()
}

pub(crate) use veritas_verifier::tokens;

/// `veritas chain …`.
pub async fn chain(cmd: ChainCommand, out: &Output) -> anyhow::Result<u8> {
    let status = match cmd {
        ChainCommand::Deploy(args) => return crate::onchain::deploy_contracts(args, out).await,
        ChainCommand::Status => true,
        ChainCommand::Accounts => false,
    };
    let client = Client::new(&env::api());
    let network = client.get("/v1/network").await?;
    let chain = &network["chain"];
    if chain.is_null() {
        bail!("this node runs no chain (it was started with --no-chain)");
    }
    if status {
        {
            let block = chain["block"].as_u64().unwrap_or_default();
            if out.json {
                out.print_json(&json!({"network": network, "block": block}));
            } else {
                println!("chain id       {} ({})", chain["chain_id"], chain["kind"].as_str().unwrap_or("?"));
                if let Some(path) = chain["rpc"].as_str() {
                    println!("rpc            {}{path}", env::api().trim_end_matches('/'));
                }
                println!("block          {block}");
                for (name, key) in [
                    ("token", "token"),
                    ("node registry", "node_registry"),
                    ("model registry", "model_registry"),
                    ("settlement", "settlement"),
                ] {
                    let address = chain["contracts"][key].as_str().unwrap_or("?");
                    let address =
                        address.parse::<alloy_primitives::Address>().map_or(address.to_owned(), |a| a.to_string());
                    println!("{name:<14} {address}");
                }
            }
        }
    } else {
        {
            if chain["rpc"].is_null() {
                bail!("this node settles on an external chain: it has no development accounts");
            }
            let token = chain["contracts"]["token"].as_str().unwrap_or_default().to_owned();
            let mut rows = Vec::new();
            for account in chain["dev_accounts"].as_array().into_iter().flatten() {
                let account = account.as_str().unwrap_or_default();
                let ether = hex_u256(&rpc(&client, "eth_getBalance", json!([account, "latest"])).await?);
                let data = format!("0x70a08231{:0>64}", account.trim_start_matches("0x"));
                let vrt = hex_u256(&rpc(&client, "eth_call", json!([{"to": token, "data": data}, "latest"])).await?);
                rows.push((account.to_owned(), ether, vrt));
            }
            if out.json {
                let list: Vec<Value> =
                    rows.iter().map(|(a, e, t)| json!({"address": a, "ether": e, "tokens": t})).collect();
                out.print_json(&json!(list));
            } else {
                println!("development accounts of the test mnemonic (their keys are public: development only)");
                for (account, ether, vrt) in rows {
                    let account = account.parse::<alloy_primitives::Address>().map_or(account, |a| a.to_string());
                    println!("{account}  {} ETH  {} VRT", tokens(ether), tokens(vrt));
                }
            }
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
        println!("ONNX Runtime {} at {}", setup::ONNXRUNTIME_VERSION, path.display());
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

fn version_line(model: &Value) -> String {
    let v = &model["veritas"];
    format!(
        "{:<20} {:>7} {:<6} {}",
        v["name"].as_str().unwrap_or("?"),
        v["version"].as_u64().unwrap_or(0),
        v["format"].as_str().unwrap_or("?"),
        v["model_id"].as_str().unwrap_or("?")
    )
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
            let answer = client.upload(&path, &file, out.json).await?;
            if out.json {
                out.print_json(&answer);
            } else {
                let verb = if answer["created"].as_bool() == Some(true) { "pushed" } else { "unchanged:" };
                println!("{verb} {} version {}", answer["name"].as_str().unwrap_or(&name), answer["version"]);
                println!("model id {}", answer["model_id"].as_str().unwrap_or("?"));
            }
        }
        ModelCommand::Ls => {
            let list = client.get("/v1/models").await?;
            if out.json {
                out.print_json(&list);
            } else {
                println!("{:<20} {:>7} {:<6} MODEL ID", "NAME", "VERSION", "FORMAT");
                for model in list["data"].as_array().into_iter().flatten() {
                    println!("{}", version_line(model));
                }
            }
        }
        ModelCommand::Show { reference } => {
            let model = client.get(&format!("/v1/models/{reference}")).await?;
            if out.json {
                out.print_json(&model);
            } else {
                print_model(&model);
            }
        }
        ModelCommand::Pull { reference, output } => {
            let model = client.get(&format!("/v1/models/{reference}")).await?;
            let v = &model["veritas"];
            let ext = if v["format"] == "gguf" { "gguf" } else { "onnx" };
            let output = output.unwrap_or_else(|| {
                PathBuf::from(format!("{}-v{}.{ext}", v["name"].as_str().unwrap_or("model"), v["version"]))
            });
            client.download(&format!("/v1/models/{reference}/content"), &output, out.json).await?;
            let expected = v["manifest"]["files"][0]["sha256"].as_str().unwrap_or_default().to_owned();
            let bytes = std::fs::read(&output)?;
            let got = veritas_primitives::hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
            if got != expected {
                std::fs::remove_file(&output)?;
                bail!("downloaded bytes hash to {got}, the manifest says {expected}; file removed");
            }
            if out.json {
                out.print_json(&json!({"file": output, "sha256": got, "model_id": v["model_id"]}));
            } else {
                println!("wrote {} ({} bytes, sha256 {got} matches the manifest)", output.display(), bytes.len());
            }
        }
    }
    Ok(0)
}

fn print_model(model: &Value) {
    let v = &model["veritas"];
    let manifest = &v["manifest"];
    println!("name      {}", v["name"].as_str().unwrap_or("?"));
    println!("version   {}", v["version"]);
    println!("model id  {}", v["model_id"].as_str().unwrap_or("?"));
    println!("format    {}", v["format"].as_str().unwrap_or("?"));
    let tolerance = &manifest["tolerance"];
    if tolerance.is_object() {
        println!(
            "tolerance abs {} + rel {} (re-executed floats; everything else exact)",
            tolerance["abs"], tolerance["rel"]
        );
    }
    let zk = &manifest["zk"];
    if zk.is_object() {
        println!(
            "zk        model commitment {} ({} bits of proven soundness; the verifying key is in the manifest)",
            zk["commitment"].as_str().unwrap_or("?"),
            zk["security_bits"]
        );
    }
    for file in manifest["files"].as_array().into_iter().flatten() {
        println!(
            "file      {} {} bytes sha256 {}",
            file["path"].as_str().unwrap_or("?"),
            file["size"],
            file["sha256"].as_str().unwrap_or("?")
        );
    }
    for (title, key) in [("inputs", "inputs"), ("outputs", "outputs")] {
        println!("{title}:");
        for spec in manifest["schema"][key].as_array().into_iter().flatten() {
            let dims: Vec<String> = spec["shape"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| d.as_u64().map_or("?".to_owned(), |d| d.to_string()))
                .collect();
            println!(
                "  {:<24} {} [{}]",
                spec["name"].as_str().unwrap_or("?"),
                spec["dtype"].as_str().unwrap_or("?"),
                dims.join(", ")
            );
        }
    }
    if let Some(versions) = v["versions"].as_array() {
        println!("versions:");
        for version in versions {
            println!("  {:>4}  {}", version["version"], version["model_id"].as_str().unwrap_or("?"));
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
    let client = Client::new(&env::api()).with_api_key(args.api_key.filter(|k| !k.is_empty()));
    let mut body = json!({"model": args.model, "input": input});
    if let Some(mode) = args.mode {
        body["mode"] = json!(mode);
    }
    let nonce = match (args.mode, &args.nonce) {
        (_, Some(nonce)) => Some(veritas_node::parse_nonce(nonce)?),
        (Some(veritas_primitives::Mode::Tee), None) => Some(veritas_primitives::B256::random().to_vec()),
        _ => None,
    };
    if let Some(nonce) = &nonce {
        body["nonce"] = json!(veritas_primitives::hex::encode(nonce));
    }
    let (answer, _) = client.post("/v1/infer", &body).await?;
    if args.mode == Some(veritas_primitives::Mode::Tee) {
        crate::receipts::check_tee_answer(&client, &answer["receipt"], nonce.as_deref().unwrap_or_default()).await?;
    }
    if args.mode == Some(veritas_primitives::Mode::Zk) {
        crate::receipts::check_zk_answer(&answer["receipt"])?;
    }
    if let Some(path) = &args.receipt {
        let receipt = serde_json::to_string_pretty(&answer["receipt"])?;
        std::fs::write(path, receipt + "\n")
            .with_context(|| format!("cannot write the receipt to {}", path.display()))?;
    }
    if out.json {
        out.print_json(&answer);
    } else {
        out.print_json(&answer["output"]);
        let where_ = args.receipt.as_ref().map(|p| format!(" written to {}", p.display())).unwrap_or_default();
        eprintln!("receipt {}{where_}", answer["receipt_id"].as_str().unwrap_or("?"));
    }
    Ok(0)
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
