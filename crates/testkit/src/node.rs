//! Nodes in the test's own process: a configuration for tests, nodes opened with the example
//! models pushed, and a node serving its API on 127.0.0.1 until it is stopped.

use std::path::Path;

use veritas_node::{ChainConfig, ModelFormat, Node, NodeConfig, NodeHandle, PushRequest, wire::InferRequest};

pub use crate::{embedding_gguf, examples, gguf, ort, root};

/// A standalone node's configuration under `home`: one ONNX thread, two llama.cpp threads, no
/// chain.
pub fn config(home: &Path) -> NodeConfig {
    let mut config = NodeConfig::new(home.to_owned(), ort());
    config.threads = Some(1);
    config.llm_threads = Some(2);
    config
}

/// The same on the embedded development chain.
pub fn config_on_chain(home: &Path) -> NodeConfig {
    let mut config = config(home);
    config.chain = ChainConfig::Embedded { block_time: None };
    config
}

/// Opens a node (without its background rounds).
pub async fn open(config: &NodeConfig) -> Node {
    Node::open(config).await.unwrap()
}

/// Pushes a model file under `name`.
pub async fn push(node: &Node, name: &str, file: &Path, format: ModelFormat) {
    let core = node.core();
    let staged = core.stager().stage_file(file).await.unwrap();
    core.push_model(PushRequest { name: name.into(), staged, format }).await.unwrap();
}

/// Pushes the iris example as `iris`.
pub async fn push_iris(node: &Node) {
    push(node, "iris", &examples().join("iris-logreg.onnx"), ModelFormat::Onnx).await;
}

/// An iris request with the first feature `x`, in `mode` (the node's default if `None`).
pub fn iris(x: f64, mode: Option<veritas_primitives::Mode>) -> InferRequest {
    InferRequest {
        model: "iris".into(),
        input: serde_json::json!({"float_input": [[x, 3.5, 1.4, 0.2]]}),
        mode,
        request_id: None,
        nonce: None,
        sealed: None,
    }
}

/// A node serving its API on 127.0.0.1 (without background rounds unless `launched`).
pub struct Served {
    /// The API's base URL.
    pub url: String,
    /// The node.
    pub node: Node,
    handle: Option<NodeHandle>,
}

impl Served {
    /// Serves `node`'s API with `config`'s limits.
    pub async fn start(node: Node, config: veritas_api::ApiConfig) -> Served {
        Served::serve(NodeHandle::new(node), config).await
    }

    /// Launches a node from `config` (background rounds included) and serves its API.
    pub async fn launch(config: &NodeConfig) -> Served {
        Served::serve(veritas_node::launch(config).await.unwrap(), Default::default()).await
    }

    async fn serve(mut handle: NodeHandle, config: veritas_api::ApiConfig) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        veritas_api::serve(&mut handle, listener, config);
        Served { url, node: handle.node().clone(), handle: Some(handle) }
    }

    /// Stops the API (and every background round) and waits until it has.
    pub async fn stop(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await.unwrap();
        }
    }
}

/// Registers development account `n` as a gateway on `node`'s embedded chain (with 10,000
/// tokens of stake, funded by account 0): a key whose calls inference nodes and validators take.
pub async fn registered_gateway(node: &Node, n: usize) -> veritas_primitives::WorkerKey {
    use veritas_node::chain::genesis::{Registration, Role, register};
    let chain = node.core().embedded().expect("the embedded chain").clone();
    let mut keys = veritas_node::devnet::dev_keys();
    let key = keys.remove(n);
    let unit = veritas_primitives::U256::from(10u64).pow(veritas_primitives::U256::from(18u64));
    let stake = veritas_primitives::U256::from(10_000u64) * unit;
    let registration = Registration { signer: &key, role: Role::Gateway, endpoint: "", stake };
    register(&chain, &chain.contracts(), registration, Some(&keys[0]), Default::default()).await.unwrap();
    key
}

/// The headers of `gateway`'s call to the node registered as `to` at `path` with `body`, signed
/// now with a fresh nonce, in `node`'s network.
pub fn call_headers(
    gateway: &veritas_primitives::WorkerKey,
    node: &Node,
    to: veritas_primitives::Address,
    path: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use veritas_primitives::call::{CallEnvelope, CallTarget};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let nonce = veritas_primitives::keccak256(
        [now.as_nanos().to_be_bytes(), u128::from(CALLS.fetch_add(1, Ordering::SeqCst)).to_be_bytes()].concat(),
    );
    let target = CallTarget { to, method: "POST", path, body };
    let envelope = CallEnvelope::sign(gateway, &node.core().domain(), &target, now.as_secs(), nonce).unwrap();
    envelope.headers().to_vec()
}

/// The key the API tests' nodes take pushes from (see [`operator_config`]).
pub fn operator() -> veritas_primitives::WorkerKey {
    veritas_primitives::WorkerKey::from_bytes(&veritas_primitives::keccak256(b"veritas test operator")).unwrap()
}

/// API limits with [`operator`] as the node's one operator.
pub fn operator_config() -> veritas_api::ApiConfig {
    veritas_api::ApiConfig { operators: vec![operator().address()], ..Default::default() }
}

/// The headers of `publisher`'s push of `body` to `node` at `target` (the path and query),
/// signed now with a fresh nonce, with the content type a push needs.
pub fn push_headers(
    publisher: &veritas_primitives::WorkerKey,
    node: &Node,
    target: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    use sha2::Digest;
    use veritas_primitives::publish::{PushEnvelope, PushTarget};
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let content_sha256 = veritas_primitives::B256::from_slice(&sha2::Sha256::digest(body));
    let push = PushTarget { to: node.core().key(), target, content_sha256 };
    let nonce = veritas_primitives::B256::random();
    let envelope = PushEnvelope::sign(publisher, &node.core().domain(), &push, now.as_secs(), nonce).unwrap();
    let mut headers = envelope.headers().to_vec();
    headers.push(("content-type", "application/octet-stream".to_owned()));
    headers
}
