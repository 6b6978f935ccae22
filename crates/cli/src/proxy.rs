//! `veritas proxy`: a local OpenAI-compatible endpoint that forwards to a veritas node and passes
//! on only answers whose receipts it verified (docs/proxy.md).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use veritas_api::{ProxyConfig, Require};

use crate::{commands::Output, env};

/// Options of `veritas proxy`.
#[derive(Args)]
pub struct ProxyArgs {
    /// The veritas node to forward to (a gateway's URL).
    #[arg(long)]
    upstream: String,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:7800")]
    listen: String,
    /// What a receipt must show before its answer is passed on: signed (it holds: signature,
    /// hashes, model, attestation or proof), quorum (and validators with more than 2/3 of the
    /// stake judged it valid) or settled (and it is in a settled batch).
    #[arg(long, default_value = "signed", value_parser = |s: &str| s.parse::<Require>())]
    require: Require,
    /// The enclaves `tee` receipts may come from (default: the policy the upstream publishes).
    #[arg(long, value_name = "FILE")]
    tee_policy: Option<PathBuf>,
    /// Where verified receipts are kept (default: proxy-receipts in the data directory).
    #[arg(long, value_name = "DIR")]
    receipts: Option<PathBuf>,
    /// How long to wait for a quorum or a settlement, in seconds.
    #[arg(long, default_value_t = 120)]
    wait: u64,
}

/// `veritas proxy`.
pub async fn proxy(args: ProxyArgs, out: &Output) -> anyhow::Result<u8> {
    let tee_policy = args.tee_policy.as_deref().map(crate::receipts::read_tee_policy).transpose()?;
    let receipts = args.receipts.unwrap_or_else(|| env::home().join("proxy-receipts"));
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let url = format!("http://{}", listener.local_addr()?);
    let require = format!("{:?}", args.require).to_lowercase();
    if out.json {
        out.print_json(&serde_json::json!({
            "proxy": url,
            "upstream": args.upstream,
            "require": require,
            "receipts": receipts,
        }));
    } else {
        eprintln!(
            "veritas proxy at {url}/v1 → {}: answers pass once their receipts verify (--require {require}); \
             receipts kept in {}",
            args.upstream,
            receipts.display()
        );
    }
    let config = ProxyConfig {
        upstream: args.upstream,
        require: args.require,
        tee_policy,
        receipts: Some(receipts),
        wait: std::time::Duration::from_secs(args.wait),
    };
    veritas_api::serve_proxy(listener, config, crate::node::shutdown_signal()).await?;
    Ok(0)
}
