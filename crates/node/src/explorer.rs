//! The explorer's figures, from the node's own data: its claim log's timeline (recent claims,
//! calls per minute, share verified, latency), the registry on chain (nodes, roles, stakes),
//! slashes and disputes from the chain's events, and each node's own health.

use std::{collections::HashMap, sync::Arc, time::Duration};

use alloy_primitives::U256;
use alloy_sol_types::SolEvent;
use veritas_chain::{
    Chain,
    contracts::{NodeRegistry, Settlement as SettlementContract},
};
use veritas_primitives::{Address, Receipt};

pub use veritas_wire::{ClaimSummary, Figures, Minute, NodeSummary};

use crate::{
    NodeResult,
    core::Core,
    store::{Activity, Entry, Judged, Origin, now_ms},
};

/// Blocks read per `eth_getLogs` query.
const SPAN: u64 = 1_000;
/// How far back the first look for slashes and disputes goes.
const LOOKBACK: u64 = 10_000;
/// The most claims one figure is computed over.
const MAX_WINDOW: usize = 100_000;

/// The explorer's reader of a node's data.
pub struct Explorer {
    core: Arc<Core>,
    chain_events: tokio::sync::Mutex<ChainEvents>,
}

/// Slashes and disputes read from the chain so far.
#[derive(Debug, Default)]
struct ChainEvents {
    /// The next block to read; `None` before the first look.
    next: Option<u64>,
    /// Per slashed node: how often, and how much in all.
    slashes: HashMap<Address, (u64, U256)>,
    /// Disputes opened.
    disputes: u64,
    /// The first block read.
    since: u64,
}

/// The most claims one explorer page lists.
pub const MAX_PAGE: usize = 100;

/// The most stored receipt bytes one explorer page reads.
pub const MAX_PAGE_BYTES: usize = 4 << 20;

impl Explorer {
    pub(crate) fn new(core: Arc<Core>) -> Explorer {
        Explorer { core, chain_events: Default::default() }
    }

    /// The latest claims on this node's timeline, newest first (`before`: a position, to page),
    /// at most [`MAX_PAGE`] of them and as many as fit in [`MAX_PAGE_BYTES`] of stored receipts
    /// (at least one): a page costs a bounded read whatever the receipts hold.
    pub async fn recent_claims(&self, limit: usize, before: Option<u64>) -> NodeResult<Vec<ClaimSummary>> {
        let store = self.core.store.clone();
        let limit = limit.clamp(1, MAX_PAGE);
        tokio::task::spawn_blocking(move || -> NodeResult<Vec<ClaimSummary>> {
            let mut out = Vec::new();
            let mut read = 0;
            for entry in store.timeline().recent(limit, before)? {
                let Some((receipt, size)) = store.receipts().get_sized(&entry.id)? else { continue };
                out.push(summary(entry, &receipt));
                read += size;
                if read >= MAX_PAGE_BYTES {
                    break;
                }
            }
            Ok(out)
        })
        .await?
    }

    /// Figures over the last `minutes` minutes (at most a day).
    pub async fn figures(&self, minutes: u64) -> NodeResult<Figures> {
        let minutes = minutes.clamp(1, 24 * 60);
        let first = (now_ms() / 60_000).saturating_sub(minutes - 1) * 60_000;
        let store = self.core.store.clone();
        let (entries, all_time) = tokio::task::spawn_blocking(move || -> NodeResult<_> {
            let timeline = store.timeline();
            Ok((timeline.since(first, MAX_WINDOW)?, timeline.len()?))
        })
        .await??;
        let mut buckets: Vec<Minute> =
            (0..minutes).map(|i| Minute { start_ms: first + i * 60_000, ..Minute::default() }).collect();
        let mut latencies = Vec::with_capacity(entries.len());
        let mut pending = 0;
        for entry in entries.iter().filter(|e| e.origin != Origin::Recorded) {
            let index = ((entry.logged_ms - first) / 60_000) as usize;
            let Some(bucket) = buckets.get_mut(index) else { continue };
            bucket.calls += 1;
            match entry.judged {
                Judged::Valid => bucket.valid += 1,
                Judged::Invalid => bucket.invalid += 1,
                Judged::Pending => pending += 1,
                Judged::NotHere => {}
            }
            latencies.push(entry.latency_us);
        }
        let valid: u64 = buckets.iter().map(|b| b.valid).sum();
        let invalid: u64 = buckets.iter().map(|b| b.invalid).sum();
        latencies.sort_unstable();
        let median_latency_ms = (!latencies.is_empty()).then(|| latencies[latencies.len() / 2] as f64 / 1000.0);
        let events = match self.chain_events().await {
            Ok(events) => Some(events),
            Err(err) => {
                tracing::warn!(%err, "reading slashes and disputes from the chain failed");
                None
            }
        };
        Ok(Figures {
            calls: buckets.iter().map(|b| b.calls).sum(),
            minutes: buckets,
            share_verified: (valid + invalid > 0).then(|| valid as f64 / (valid + invalid) as f64),
            invalid,
            pending,
            median_latency_ms,
            all_time,
            disputes: events.as_ref().map(|e| e.1),
            slashes: events.as_ref().map(|e| e.0.values().map(|s| s.0).sum()),
            chain_since: events.as_ref().map(|e| e.2),
        })
    }

    /// The registered nodes, each with its stake, what it did, its slashes and its health.
    pub async fn node_summaries(&self) -> NodeResult<Vec<NodeSummary>> {
        let registry = self.core.chain_or_err()?.registry().await?;
        let (slashes, _, _) = self.chain_events().await?;
        let probes = registry.members.iter().map(|member| async move {
            let health = self.core.peers.health(&member.endpoint, Duration::from_secs(2)).await;
            (member, health)
        });
        let healths = futures_util::future::join_all(probes).await;
        let store = self.core.store.clone();
        let signers: Vec<Address> = registry.members.iter().map(|m| m.signer).collect();
        let activities = tokio::task::spawn_blocking(move || -> NodeResult<Vec<Activity>> {
            signers.iter().map(|signer| Ok(store.timeline().activity(signer)?)).collect()
        })
        .await??;
        let mut out = Vec::new();
        for ((member, health), activity) in healths.into_iter().zip(activities) {
            let signer = member.signer;
            let (uptime_s, down) = match health {
                Ok(health) => (Some(health.uptime_s), None),
                Err(err) => (None, Some(err.to_string())),
            };
            out.push(NodeSummary {
                signer,
                role: member.role,
                endpoint: member.endpoint.clone(),
                stake: member.stake,
                activity,
                slashes: slashes.get(&signer).copied().unwrap_or_default(),
                uptime_s,
                down,
            });
        }
        Ok(out)
    }

    /// Slashes per node, disputes opened, and the first block read: the chain's events read so
    /// far, brought up to the head.
    async fn chain_events(&self) -> NodeResult<(HashMap<Address, (u64, U256)>, u64, u64)> {
        let link = self.core.chain_or_err()?;
        let (chain, contracts) = (&link.chain, link.contracts);
        let mut events = self.chain_events.lock().await;
        let head = chain.block_number().await?;
        let mut from = match events.next {
            Some(next) => next,
            None => {
                events.since = head.saturating_sub(LOOKBACK);
                events.since
            }
        };
        while from <= head {
            let to = head.min(from + SPAN - 1);
            for log in chain.logs(contracts.registry, NodeRegistry::Slashed::SIGNATURE_HASH, from, to).await? {
                if let Ok(slash) = NodeRegistry::Slashed::decode_raw_log(log.topics.iter().copied(), &log.data) {
                    let entry = events.slashes.entry(slash.signer).or_default();
                    *entry = (entry.0 + 1, entry.1.saturating_add(slash.amount));
                }
            }
            let opened = SettlementContract::DisputeOpened::SIGNATURE_HASH;
            events.disputes += chain.logs(contracts.settlement, opened, from, to).await?.len() as u64;
            from = to + 1;
            events.next = Some(from);
        }
        Ok((events.slashes.clone(), events.disputes, events.since))
    }
}

fn summary(entry: Entry, receipt: &Receipt) -> ClaimSummary {
    let body = &receipt.body;
    let model = body.model_name.as_ref().map(|name| match body.model_version {
        Some(version) => format!("{name} v{version}"),
        None => name.clone(),
    });
    let valid = receipt.verdicts.iter().filter(|v| v.valid).count();
    ClaimSummary {
        entry,
        model,
        model_id: receipt.claim.model_id.0,
        mode: receipt.claim.mode,
        worker: receipt.claim.worker,
        verdicts: (valid, receipt.verdicts.len() - valid),
        transaction: receipt.settlement.as_ref().map(|s| s.transaction),
    }
}
