//! The node's configuration.

use std::path::PathBuf;

use veritas_chain::genesis::Contracts;
use veritas_hub::HubConfig;
use veritas_primitives::ClaimDomain;

/// Where a node settles.
#[derive(Clone, Debug, Default)]
pub enum ChainConfig {
    /// Nowhere: receipts are signed in the configured domain and stay queued.
    #[default]
    None,
    /// The embedded development chain (state in `home/chain.redb`), with its funded
    /// development accounts; development account 1 pays requests that name no account.
    Embedded {
        /// Mine a block every this often; each transaction at once when `None`.
        block_time: Option<std::time::Duration>,
    },
    /// Any EVM chain over JSON-RPC, where the contracts were deployed (`veritas chain deploy`)
    /// and the node's worker and validator keys registered (`veritas node register`).
    Rpc {
        /// The JSON-RPC endpoint.
        url: String,
        /// Where the contracts are.
        contracts: Contracts,
        /// Blocks a settlement must be under before its receipts say so (1: mined).
        confirmations: u64,
        /// The block the contracts were deployed in: contracts' requests are read from there.
        from_block: u64,
    },
}

/// What a node does in the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// Everything in one process: serves the API, runs models with its own worker key, judges
    /// its claims with its own validator key and settles them (`veritas node`).
    #[default]
    Standalone,
    /// Serves the API and accounts, sends each request to a registered inference node, collects
    /// validators' verdicts, opens and resolves disputes and settles quorum-verified claims.
    Gateway,
    /// Runs models and signs claims for gateways; charges nobody (the gateway does).
    Inference,
    /// Judges claims (signed or re-executed) and signs verdicts and batches.
    Validator,
}

/// The services a node runs: a standalone node all three, every other role one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Services {
    /// Serves clients: admission, payment, dispatch, verdict collection, settlement.
    pub gateway: bool,
    /// Runs models and signs claims.
    pub worker: bool,
    /// Judges claims and signs verdicts and batches.
    pub validator: bool,
}

impl NodeRole {
    /// The services a node in this role runs.
    pub fn services(self) -> Services {
        match self {
            NodeRole::Standalone => Services { gateway: true, worker: true, validator: true },
            NodeRole::Gateway => Services { gateway: true, worker: false, validator: false },
            NodeRole::Inference => Services { gateway: false, worker: true, validator: false },
            NodeRole::Validator => Services { gateway: false, worker: false, validator: true },
        }
    }

    /// The role's name, as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            NodeRole::Standalone => "standalone",
            NodeRole::Gateway => "gateway",
            NodeRole::Inference => "inference",
            NodeRole::Validator => "validator",
        }
    }
}

/// A deliberate lie, for byzantine tests on development networks only: a node refuses to start
/// with one unless its chain is the development chain (id 31337).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// An inference node that returns (and signs) a changed output.
    WrongOutput,
    /// An inference node that runs a different model than the one it names.
    OtherModel,
    /// An inference node that cuts a completion short and claims it finished.
    Truncate,
    /// An inference node that computes nothing and signs a made-up answer.
    MadeUp,
    /// An inference node that streams an honest chat answer to the gateway and signs another.
    StreamOther,
    /// An inference node whose enclave offers another key than the one its evidence binds.
    OtherKey,
    /// A validator that signs "valid" for every claim without checking it.
    ApproveAll,
    /// A validator whose verdicts do not hold, by turns (by the claim's digest): its verdict on
    /// another claim replayed, one signed by a key of no validator, one naming another
    /// validator, one with a garbled signature.
    BadVerdicts,
}

impl Fault {
    /// Every fault, with its CLI name.
    pub const ALL: [(Fault, &'static str); 8] = [
        (Fault::WrongOutput, "wrong-output"),
        (Fault::OtherModel, "other-model"),
        (Fault::Truncate, "truncate"),
        (Fault::MadeUp, "made-up"),
        (Fault::StreamOther, "stream-other"),
        (Fault::OtherKey, "other-key"),
        (Fault::ApproveAll, "approve-all"),
        (Fault::BadVerdicts, "bad-verdicts"),
    ];

    /// The fault's CLI name.
    pub fn name(self) -> &'static str {
        Fault::ALL.iter().find(|(f, _)| *f == self).map_or("?", |(_, n)| n)
    }

    /// Whether an inference node tells this lie (else a validator does).
    pub fn is_worker_fault(self) -> bool {
        matches!(
            self,
            Fault::WrongOutput
                | Fault::OtherModel
                | Fault::Truncate
                | Fault::MadeUp
                | Fault::StreamOther
                | Fault::OtherKey
        )
    }
}

/// How often a node's background rounds run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Intervals {
    /// A gateway asks validators about claims still waiting this often (and at once when a
    /// claim is logged).
    pub verdicts: std::time::Duration,
    /// A gateway reads contracts' new requests this often.
    pub requests: std::time::Duration,
    /// A gateway settles a batch of verified receipts this often.
    pub settle: std::time::Duration,
    /// A contract's request that fails for a passing reason is tried again for this long, then
    /// refused with the last reason.
    pub request_retry: std::time::Duration,
}

impl Default for Intervals {
    fn default() -> Intervals {
        use std::time::Duration;
        Intervals {
            verdicts: Duration::from_millis(500),
            requests: Duration::from_secs(1),
            settle: Duration::from_secs(2),
            request_retry: Duration::from_secs(120),
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An inference node or validator asked to run the embedded chain.
    #[error("an inference node or validator joins a gateway's chain (--chain-rpc), it does not run one")]
    JoinsAChain,
    /// A test fault off the development chain.
    #[error("the test fault {fault} is only allowed on the development chain ({dev}), this is chain {chain}")]
    FaultOffDevChain {
        /// The fault's name.
        fault: &'static str,
        /// The development chain's id.
        dev: u64,
        /// This node's chain.
        chain: u64,
    },
    /// A TEE policy that cannot be applied.
    #[error(transparent)]
    TeePolicy(#[from] veritas_verifier::tee::TeeError),
}

/// How to start a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The data directory: key, hub, claim log.
    pub home: PathBuf,
    /// The model hub.
    pub hub: HubConfig,
    /// The ONNX Runtime shared library.
    pub onnxruntime: PathBuf,
    /// The EIP-712 domain claims are signed in.
    pub domain: ClaimDomain,
    /// Intra-op threads per ONNX session; ONNX Runtime's default if `None`.
    pub threads: Option<usize>,
    /// llama.cpp threads per generation; all cores if `None`.
    pub llm_threads: Option<usize>,
    /// Generations under way at once; further chat requests queue. Those of one model decode
    /// together, one sequence each in one llama.cpp context (continuous batching: one decode
    /// a step for all of them, with prompts read in chunks beside), so that all advance and
    /// the cores are shared by one thread pool. `None`: 16.
    pub max_generations: Option<usize>,
    /// KV cache cells (tokens of prompt and answer) the generations of one model share; a
    /// request waits until its prompt and `max_tokens` fit. Default 16384.
    pub llm_context: usize,
    /// Requests that may wait for an inference or a generation place; past it they are refused
    /// with 503 and `Retry-After` (`NodeError::Overloaded`).
    pub max_queue: usize,
    /// Claims awaiting verdicts past which a gateway refuses new requests (503, `Retry-After`).
    pub max_backlog: u64,
    /// ONNX models kept loaded (a session each); the least recently used is dropped past it.
    pub max_sessions: usize,
    /// Language models kept loaded; the least recently used is dropped past it.
    pub max_language_models: usize,
    /// The worker key as hex, overriding the key file (from `VERITAS_WORKER_KEY`).
    pub key_hex: Option<String>,
    /// Where results settle.
    pub chain: ChainConfig,
    /// The price of one request of a model the model registry does not list, in the token's
    /// smallest unit; 0.001 token if `None`.
    pub fee_per_request: Option<alloy_primitives::U256>,
    /// What the node does.
    pub role: NodeRole,
    /// Where to fetch models this node's hub lacks, by id (a gateway's API): inference nodes
    /// and validators get them from the gateway, digest-checked.
    pub hub_url: Option<String>,
    /// A validator re-executes this share of `reexec` claims (chosen by the claim's hash, so
    /// every validator picks the same ones and no one chooses); the others it checks `signed`.
    pub reexec_sampling: f64,
    /// The mode of requests that name none.
    pub default_mode: veritas_primitives::Mode,
    /// A deliberate lie (byzantine tests; development chain only).
    pub fault: Option<Fault>,
    /// Whether the development chain's account 1 pays the requests that name no payer. The CLI
    /// turns it off on a node that listens beyond loopback: anonymous requests are paid only on
    /// a development node that nobody else can reach.
    pub dev_payer: bool,
    /// The enclave the network's `tee` claims come from: an inference node attests with it, a
    /// gateway offers `tee` mode. `None`: no `tee` mode.
    pub tee: Option<crate::TeeBackend>,
    /// The enclaves this node accepts when it checks `tee` claims (gateway, validator), and
    /// publishes at `/v1/tee/policy`. The default accepts none.
    pub tee_policy: veritas_verifier::tee::Policy,
    /// How often the background rounds run.
    pub intervals: Intervals,
}

impl NodeConfig {
    /// A configuration with everything under `home`.
    pub fn new(home: PathBuf, onnxruntime: PathBuf) -> NodeConfig {
        NodeConfig {
            hub: HubConfig::local(home.join("hub")),
            home,
            onnxruntime,
            domain: ClaimDomain::dev(),
            threads: None,
            llm_threads: None,
            max_generations: None,
            llm_context: 16_384,
            max_queue: 256,
            max_backlog: 10_000,
            max_sessions: 32,
            max_language_models: 2,
            key_hex: None,
            chain: ChainConfig::None,
            fee_per_request: None,
            role: NodeRole::Standalone,
            hub_url: None,
            reexec_sampling: 1.0,
            default_mode: veritas_primitives::Mode::Signed,
            fault: None,
            dev_payer: true,
            tee: None,
            tee_policy: Default::default(),
            intervals: Intervals::default(),
        }
    }
}
