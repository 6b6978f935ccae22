//! A node assembled from its services, and its one lifecycle.
//!
//! [`Node::open`] builds the core and the services the node's role runs: a standalone node all
//! three (its gateway hands work to its own worker and verdicts to its own validator), every
//! other role one. This is the only place a role decides anything. [`launch`] opens a node and
//! starts its background rounds (verdict collection, contracts' requests, settlement, the
//! embedded chain's miner) in one [`NodeHandle`], which owns every task: when it is told to stop,
//! each round finishes what it is doing and ends, and [`NodeHandle::shutdown`] waits for all of
//! them. Dropping a handle aborts whatever still runs.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::{sync::watch, task::JoinSet};
use veritas_chain::embedded::SharedChain;

use crate::{
    NodeConfig, NodeError, NodeResult,
    core::Core,
    explorer::Explorer,
    gateway::{Backends, Gateway},
    protocol::Backoff,
    validator::Validator,
    worker::Worker,
};

/// The longest a failing settlement round waits before it tries again.
const SETTLE_CEILING: Duration = Duration::from_secs(60);

/// A node: its core and the services its role runs. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    core: Arc<Core>,
    gateway: Option<Arc<Gateway>>,
    worker: Option<Arc<Worker>>,
    validator: Option<Arc<Validator>>,
    explorer: Arc<Explorer>,
}

impl Node {
    /// Opens the node's state and assembles the services of its role, without starting any
    /// background round (tests drive them by hand; [`launch`] starts them).
    pub async fn open(config: &NodeConfig) -> NodeResult<Node> {
        let services = config.role.services();
        let (core, validator_key) = Core::open(config, services).await?;
        let core = Arc::new(core);
        let validator = validator_key.clone().map(|key| Arc::new(Validator::new(core.clone(), key, config)));
        let worker = if services.worker { Some(Arc::new(Worker::open(core.clone(), config)?)) } else { None };
        let gateway = services.gateway.then(|| {
            let backends = match &worker {
                Some(worker) => Backends::Local { worker: worker.clone(), validator: validator.clone() },
                None => Backends::Network,
            };
            // A standalone node's settlement transactions come from its validator key, which the
            // development chain funds; a gateway's from its own key.
            let sender = validator_key.unwrap_or_else(|| core.key.clone());
            Arc::new(Gateway::new(core.clone(), backends, sender, config))
        });
        let explorer = Arc::new(Explorer::new(core.clone()));
        Ok(Node { core, gateway, worker, validator, explorer })
    }

    /// What every service shares: key, chain, models, store, metrics.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// The gateway, or the error of a node that runs none.
    pub fn gateway(&self) -> NodeResult<&Arc<Gateway>> {
        self.gateway.as_ref().ok_or(NodeError::NotAGateway)
    }

    /// The worker, or the error of a node that runs none.
    pub fn worker(&self) -> NodeResult<&Arc<Worker>> {
        self.worker.as_ref().ok_or(NodeError::NotAWorker)
    }

    /// The validator, or the error of a node that judges nothing.
    pub fn validator(&self) -> NodeResult<&Arc<Validator>> {
        self.validator.as_ref().ok_or(NodeError::NotAValidator)
    }

    /// The explorer's reader of this node's data.
    pub fn explorer(&self) -> &Arc<Explorer> {
        &self.explorer
    }

    /// `POST /v1/infer`: a client's request admitted and charged by this node's gateway, or,
    /// on an inference node, a gateway's request run and recorded.
    pub async fn infer(
        &self,
        request: veritas_wire::InferRequest,
        account: Option<veritas_primitives::Address>,
    ) -> NodeResult<veritas_wire::InferResponse> {
        match (&self.gateway, &self.worker) {
            (Some(gateway), _) => gateway.infer(request, account).await,
            (None, Some(worker)) => worker.infer(request).await,
            (None, None) => Err(NodeError::NotAGateway),
        }
    }

    /// `POST /v1/confidential/key`: an enclave's key offer for a client's nonce (hex), from
    /// this node's gateway (which asks one of its inference nodes) or its own worker.
    pub async fn key_offer(&self, nonce: &str) -> NodeResult<veritas_wire::KeyOffer> {
        match (&self.gateway, &self.worker) {
            (Some(gateway), _) => gateway.key_offer(nonce).await,
            (None, Some(worker)) => worker.key_offer(nonce).await,
            (None, None) => Err(NodeError::NotAGateway),
        }
    }
}

/// Resolves when a node's handle is told to stop.
#[derive(Clone)]
pub struct Stopping(watch::Receiver<bool>);

impl Stopping {
    /// Waits until the node is told to stop (at once if it was).
    pub async fn wait(mut self) {
        // An error means the handle is gone: stopping too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Whether the node was told to stop.
    pub fn is_stopping(&self) -> bool {
        *self.0.borrow()
    }
}

/// A running node: every background task it started, and the signal that stops them.
pub struct NodeHandle {
    node: Node,
    tasks: JoinSet<(&'static str, NodeResult<()>)>,
    stop: watch::Sender<bool>,
}

impl NodeHandle {
    /// A handle over `node` with no task yet.
    pub fn new(node: Node) -> NodeHandle {
        NodeHandle { node, tasks: JoinSet::new(), stop: watch::channel(false).0 }
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// A future that resolves when the node is told to stop: a task's cue to finish.
    pub fn stopping(&self) -> Stopping {
        Stopping(self.stop.subscribe())
    }

    /// Runs `task` until it ends; it must end once [`NodeHandle::stopping`] resolves.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = NodeResult<()>> + Send + 'static) {
        self.tasks.spawn(async move { (name, task.await) });
    }

    /// Runs until `signal` resolves or a task fails, then stops every task and waits for them.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> NodeResult<()> {
        tokio::pin!(signal);
        let failed = loop {
            tokio::select! {
                () = &mut signal => break None,
                joined = self.tasks.join_next(), if !self.tasks.is_empty() => match joined {
                    Some(Ok((name, Err(err)))) => break Some((name, err)),
                    Some(Err(err)) => break Some(("a task", NodeError::Join(err))),
                    Some(Ok((name, Ok(())))) => tracing::debug!(task = name, "task finished"),
                    None => {}
                },
            }
        };
        if let Some((name, err)) = &failed {
            tracing::error!(task = name, %err, "a task of the node failed; stopping");
        }
        let stopped = self.shutdown().await;
        match failed {
            Some((_, err)) => Err(err),
            None => stopped,
        }
    }

    /// Tells every task to stop and waits until they have: a round under way finishes, the
    /// API answers what it accepted. Returns the first failure.
    pub async fn shutdown(mut self) -> NodeResult<()> {
        self.stop.send_replace(true);
        let mut first = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            let result = match joined {
                Ok((name, result)) => result.inspect_err(|err| tracing::warn!(task = name, %err, "task failed")),
                Err(err) => Err(NodeError::Join(err)),
            };
            if first.is_ok() {
                first = result;
            }
        }
        tracing::info!("node stopped");
        first
    }
}

/// Opens a node and starts its background rounds: a gateway on a chain collects verdicts (at
/// once when a claim is logged, and every `intervals.verdicts`), serves contracts' requests and
/// settles; the embedded chain with a block time is mined.
pub async fn launch(config: &NodeConfig) -> NodeResult<NodeHandle> {
    let node = Node::open(config).await?;
    let mut handle = NodeHandle::new(node.clone());
    let intervals = config.intervals;
    if let Some(chain) = node.core.chain().and_then(|c| c.embedded.clone().zip(c.block_time)) {
        handle.spawn("miner", mine(chain.0, chain.1, handle.stopping()));
    }
    if let Some(gateway) = node.gateway.clone().filter(|g| g.settles()) {
        // Rounds of verdicts side by side over disjoint claims, each going again at once while
        // its rounds come back full.
        for _ in 0..crate::gateway::PARALLEL_ROUNDS {
            let (core, stopping, verifier) = (node.core.clone(), handle.stopping(), gateway.clone());
            handle.spawn("verdicts", async move {
                let round = || async {
                    match verifier.verify_round().await {
                        // At once again only while rounds are full and make progress: with
                        // the validators away, the interval paces the asking.
                        Ok((quorums, full)) => full && quorums > 0,
                        Err(err) => {
                            tracing::warn!(%err, "collecting verdicts failed; the claims keep waiting");
                            false
                        }
                    }
                };
                rounds(stopping, intervals.verdicts, Some(&core.logged), round).await
            });
        }
        let (stopping, requests) = (handle.stopping(), gateway.clone());
        handle.spawn("requests", async move {
            let round = || async {
                if let Err(err) = requests.serve_requests().await {
                    tracing::warn!(%err, "reading contracts' requests failed; trying again");
                }
                false
            };
            rounds(stopping, intervals.requests, None, round).await
        });
        let stopping = handle.stopping();
        handle.spawn("settlement", settle(gateway, intervals.settle, stopping));
    }
    Ok(handle)
}

/// Runs `round` every `interval` (and when `wake` is notified, and at once after a round that
/// says more work is waiting) until the node stops; a round under way finishes first. A failed
/// round is logged by `round` and tried again next time.
async fn rounds<F: Future<Output = bool>>(
    stopping: Stopping,
    interval: Duration,
    wake: Option<&tokio::sync::Notify>,
    mut round: impl FnMut() -> F,
) -> NodeResult<()> {
    let stop = stopping.clone().wait();
    tokio::pin!(stop);
    let mut more = false;
    loop {
        let woken = async {
            match wake {
                Some(wake) => wake.notified().await,
                None => std::future::pending().await,
            }
        };
        if more {
            // Still let a stop through between back-to-back rounds.
            if stopping.is_stopping() {
                return Ok(());
            }
        } else {
            tokio::select! {
                () = &mut stop => return Ok(()),
                () = tokio::time::sleep(interval) => {}
                () = woken => {}
            }
        }
        more = round().await;
    }
}

/// Settles pending receipts every `interval` until the node stops; after a failure it waits
/// twice as long (up to a minute) before trying again, and nothing is lost meanwhile.
async fn settle(gateway: Arc<Gateway>, interval: Duration, stopping: Stopping) -> NodeResult<()> {
    let mut backoff = Backoff::new(interval, SETTLE_CEILING);
    let stop = stopping.wait();
    tokio::pin!(stop);
    let mut wait = interval;
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
        let settled = gateway.settle_pending().await;
        gateway.record_settlement(&settled);
        wait = backoff.after(settled.is_ok());
        if let Err(err) = settled {
            tracing::warn!(%err, retry_in = ?wait, "settlement failed; the receipts stay queued");
        }
    }
}

/// Mines the embedded chain's block every `interval` until the node stops.
async fn mine(chain: SharedChain, interval: Duration, stopping: Stopping) -> NodeResult<()> {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let stop = stopping.wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            _ = ticker.tick() => {}
        }
        if let Err(err) = chain.mine().await {
            tracing::warn!(%err, "mining a block failed");
        }
    }
}
