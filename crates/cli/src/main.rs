//! The `veritas` command: runs a node and talks to one.
//!
//! Architecture invariant: this is the only crate that knows the argument parser, and with
//! `xtask` the only one that uses `anyhow`.

/// Prints a line to standard output, as `println!` does; a reader that went away (`veritas …
/// | head`) ends the program quietly with success instead of a panic.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output_line(format_args!($($arg)*))
    };
}

mod chat;
mod client;
mod commands;
mod confidential;
mod env;
mod network;
mod node;
mod onchain;
mod pins;
mod proxy;
mod quantize;
mod receipts;
mod request;
mod setup;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes, documented in the README.
pub mod exit {
    /// The receipt did not verify.
    pub const INVALID: u8 = 1;
    /// The node answered with an error.
    pub const REFUSED: u8 = 3;
    /// The node could not be reached.
    pub const UNREACHABLE: u8 = 4;
    /// A local failure: a file, the setup, the node's own start.
    pub const LOCAL: u8 = 5;
}

#[derive(Parser)]
#[command(name = "veritas", version, about = "Verifiable AI inference: run models, get receipts anyone can check")]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch what is missing and start a whole local network: chain, gateway, inference nodes
    /// and validators, each node its own process (the quick start).
    Up(network::UpArgs),
    /// Start a node, or register its keys on a chain.
    Node(node::NodeCli),
    /// Fetch ONNX Runtime into the data directory.
    Setup,
    /// Push, list, show and pull models.
    #[command(subcommand)]
    Model(commands::ModelCommand),
    /// Run a model and get its output and receipt.
    Infer(commands::InferArgs),
    /// Ask for inference on chain, as a contract does: escrow the fee, wait for the network to
    /// serve, verify and deliver the answer (`fulfill`), print it.
    Request(request::RequestArgs),
    /// Chat with a language model in the terminal (or one message with -m).
    Chat(chat::ChatArgs),
    /// Verify a receipt offline: signature, model id, hashes.
    Verify(receipts::VerifyArgs),
    /// The nodes of the network: role, stake, endpoint, health and counts.
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// The chain the node settles on.
    #[command(subcommand)]
    Chain(commands::ChainCommand),
    /// Escrow and API keys of the account that pays for requests.
    #[command(subcommand)]
    Account(onchain::AccountCommand),
    /// Read receipts from a node.
    #[command(subcommand)]
    Receipt(receipts::ReceiptCommand),
    /// A local OpenAI-compatible endpoint that forwards to a node and passes on only answers
    /// whose receipts verify: any OpenAI client gets verified answers.
    Proxy(proxy::ProxyArgs),
}

/// Writes one line to standard output; a closed pipe ends the program with success (its reader
/// has all it wanted).
pub(crate) fn output_line(line: std::fmt::Arguments<'_>) {
    output(format_args!("{line}\n"));
}

/// Writes text to standard output at once, as [`output_line`] does.
pub(crate) fn output(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {err}");
        std::process::exit(i32::from(exit::LOCAL));
    }
}

/// mimalloc: under a node's sustained load glibc's per-thread arenas fill with fragments and
/// the process keeps growing (bench/RESULTS.md, "Limits and load").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("VERITAS_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(exit::LOCAL);
        }
    };
    let out = commands::Output { json: cli.json };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => network::up(args, &out).await,
            Command::Network(cmd) => network::network(cmd, &out).await,
            Command::Node(cli) => match cli.action {
                Some(node::NodeAction::Register(args)) => onchain::register_node(args, &out).await,
                None => node::node(cli.args, &out).await,
            },
            Command::Account(cmd) => onchain::account(cmd, &out).await,
            Command::Setup => commands::setup(&out).await,
            Command::Model(cmd) => commands::model(cmd, &out).await,
            Command::Infer(args) => commands::infer(args, &out).await,
            Command::Request(args) => request::request(args, &out).await,
            Command::Chat(args) => chat::chat(args, &out).await,
            Command::Verify(args) => receipts::verify(args, &out).await,
            Command::Receipt(cmd) => receipts::receipt(cmd, &out).await,
            Command::Chain(cmd) => commands::chain(cmd, &out).await,
            Command::Proxy(args) => proxy::proxy(args, &out).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let code = err.downcast_ref::<client::ClientError>().map_or(exit::LOCAL, client::ClientError::exit_code);
            eprintln!("error: {err:#}");
            ExitCode::from(code)
        }
    }
}
