//! Prometheus metrics of the node.

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

type Labels = Vec<(String, String)>;

/// The node's counters and histograms.
pub(crate) struct Metrics {
    registry: Registry,
    pub inferences: Family<Labels, Counter>,
    pub inference_seconds: Histogram,
    pub claims_logged: Counter,
    pub models_pushed: Counter,
    pub verdicts: Family<Labels, Counter>,
    /// Claims whose quorum formed, by outcome (gateway).
    pub quorums: Family<Labels, Counter>,
    /// Time from a claim's log write to its quorum (gateway).
    pub verdict_seconds: Histogram,
    /// Verdicts received from validators and refused (bad signature, wrong claim, not staked).
    pub verdicts_refused: Family<Labels, Counter>,
    /// Disputes opened and resolved, slashes made (gateway).
    pub disputes: Family<Labels, Counter>,
    /// Claims waiting for a quorum.
    pub awaiting: prometheus_client::metrics::gauge::Gauge,
    /// Contracts' requests seen on chain, by event: served, refused, fulfilled (gateway).
    pub contract_requests: Family<Labels, Counter>,
    /// Batches settled on chain (gateway).
    pub batches_settled: Counter,
    /// Claims settled on chain, in those batches (gateway).
    pub claims_settled: Counter,
    /// Settlement rounds that failed (chain unreachable, signatures missing, a transaction
    /// refused); the receipts stay queued (gateway).
    pub settlement_failures: Counter,
    /// Claims logged and not settled yet, as `network status` counts them (gateway).
    pub pending_settlement: prometheus_client::metrics::gauge::Gauge,
    /// The latest verdict latencies in seconds (at most [`RECENT`]), for percentiles in counts.
    recent_verdict_seconds: std::sync::Mutex<std::collections::VecDeque<f64>>,
}

/// How many recent verdict latencies [`Metrics::verdict_percentiles`] looks at.
const RECENT: usize = 1024;

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("veritas");
        let inferences = Family::<Labels, Counter>::default();
        let inference_seconds =
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(1e-4, 2.0, 18));
        let claims_logged = Counter::default();
        let models_pushed = Counter::default();
        registry.register("inferences", "Inference requests by model and outcome", inferences.clone());
        registry.register(
            "inference_seconds",
            "Time from request to logged claim, in seconds",
            inference_seconds.clone(),
        );
        registry.register("claims_logged", "Claims signed and written to the claim log", claims_logged.clone());
        registry.register("models_pushed", "Model versions created", models_pushed.clone());
        let verdicts = Family::<Labels, Counter>::default();
        registry.register("verdicts", "Verdicts this node signed as a validator, by outcome", verdicts.clone());
        let quorums = Family::<Labels, Counter>::default();
        registry.register("quorums", "Claims whose validators' quorum formed, by outcome", quorums.clone());
        let verdict_seconds = Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(1e-3, 2.0, 18));
        registry.register(
            "verdict_seconds",
            "Time from a claim's log write to its quorum of verdicts, in seconds",
            verdict_seconds.clone(),
        );
        let verdicts_refused = Family::<Labels, Counter>::default();
        registry.register("verdicts_refused", "Verdicts from validators refused, by reason", verdicts_refused.clone());
        let disputes = Family::<Labels, Counter>::default();
        registry.register("disputes", "Disputes opened and resolved and verdicts slashed, by event", disputes.clone());
        let awaiting = prometheus_client::metrics::gauge::Gauge::default();
        registry.register("claims_awaiting_verdicts", "Claims waiting for a quorum of verdicts", awaiting.clone());
        let contract_requests = Family::<Labels, Counter>::default();
        registry.register(
            "contract_requests",
            "Contracts' inference requests read from the chain, by event (served, refused, fulfilled, undeliverable)",
            contract_requests.clone(),
        );
        let batches_settled = Counter::default();
        registry.register("batches_settled", "Batches of receipts settled on chain", batches_settled.clone());
        let claims_settled = Counter::default();
        registry.register("claims_settled", "Claims settled on chain", claims_settled.clone());
        let settlement_failures = Counter::default();
        registry.register(
            "settlement_failures",
            "Settlement rounds that failed; their receipts stay queued",
            settlement_failures.clone(),
        );
        let pending_settlement = prometheus_client::metrics::gauge::Gauge::default();
        registry.register("claims_pending_settlement", "Claims logged and not settled yet", pending_settlement.clone());
        Metrics {
            registry,
            batches_settled,
            claims_settled,
            settlement_failures,
            pending_settlement,
            inferences,
            inference_seconds,
            claims_logged,
            models_pushed,
            verdicts,
            quorums,
            verdict_seconds,
            verdicts_refused,
            disputes,
            awaiting,
            contract_requests,
            recent_verdict_seconds: Default::default(),
        }
    }

    /// Records the time a claim took from its log write to its quorum.
    pub fn observe_verdict(&self, seconds: f64) {
        self.verdict_seconds.observe(seconds);
        let mut recent = self.recent_verdict_seconds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(seconds);
    }

    /// The median and 90th percentile of the recent verdict latencies, in milliseconds.
    pub fn verdict_percentiles(&self) -> Option<(u64, u64)> {
        let recent = self.recent_verdict_seconds.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut sorted: Vec<f64> = recent.iter().copied().collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| (sorted[((sorted.len() - 1) as f64 * q) as usize] * 1000.0).round() as u64;
        Some((at(0.5), at(0.9)))
    }

    /// Verdicts this node signed, by the check made.
    pub fn verdicts_checked(&self, check: &str) -> u64 {
        ["valid", "invalid"]
            .iter()
            .map(|outcome| {
                self.verdicts
                    .get_or_create(&vec![("verdict".into(), (*outcome).into()), ("check".into(), check.into())])
                    .get()
            })
            .sum()
    }

    /// Verdicts refused, over every reason.
    pub fn verdicts_refused_total(&self) -> u64 {
        let mut total = 0;
        for refusal in crate::protocol::VerdictRefusal::ALL {
            total += Metrics::value(&self.verdicts_refused, "reason", refusal.label());
        }
        total
    }

    /// Counts an inference request by model and outcome, and times a successful one.
    pub fn observe_inference(&self, model: &str, started: std::time::Instant, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.inferences.get_or_create(&vec![("model".into(), model.into()), ("outcome".into(), outcome.into())]).inc();
        if ok {
            self.inference_seconds.observe(started.elapsed().as_secs_f64());
        }
    }

    pub fn count_verdict(&self, valid: bool, check: &str) {
        let outcome = if valid { "valid" } else { "invalid" };
        self.verdicts.get_or_create(&vec![("verdict".into(), outcome.into()), ("check".into(), check.into())]).inc();
    }

    pub fn count(family: &Family<Labels, Counter>, key: &str, value: &str) {
        family.get_or_create(&vec![(key.into(), value.into())]).inc();
    }

    /// A counter's value in a family with one label.
    pub fn value(family: &Family<Labels, Counter>, key: &str, value: &str) -> u64 {
        family.get_or_create(&vec![(key.into(), value.into())]).get()
    }

    /// Verdicts signed, by outcome, over both checks.
    pub fn verdicts_signed(&self, valid: bool) -> u64 {
        let outcome = if valid { "valid" } else { "invalid" };
        ["signed", "reexec"]
            .iter()
            .map(|check| {
                self.verdicts
                    .get_or_create(&vec![("verdict".into(), outcome.into()), ("check".into(), (*check).into())])
                    .get()
            })
            .sum()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // OK to ignore: writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
