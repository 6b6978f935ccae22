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
}

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
        Metrics { registry, inferences, inference_seconds, claims_logged, models_pushed, verdicts }
    }

    pub fn count_inference(&self, model: &str, outcome: &str) {
        self.inferences.get_or_create(&vec![("model".into(), model.into()), ("outcome".into(), outcome.into())]).inc();
    }

    pub fn count_verdict(&self, valid: bool) {
        let outcome = if valid { "valid" } else { "invalid" };
        self.verdicts.get_or_create(&vec![("verdict".into(), outcome.into())]).inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // OK to ignore: writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
