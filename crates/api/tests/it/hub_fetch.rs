//! Models fetched from another node's hub (`--hub-url`): the file must hash to its manifest,
//! and a quantized model's verifying key must commit to that file's parameters. A manifest
//! whose key commits to other weights (proofs about one network, re-execution of another) is
//! refused at fetch, before anything is stored.

use veritas_hub::{ModelStore, PushSpec};
use veritas_node::{ModelFormat, PushRequest};

use crate::harness::{self, Served};

/// The first `weights` array in a quantized model's JSON.
fn first_weights(value: &mut serde_json::Value) -> Option<&mut Vec<serde_json::Value>> {
    match value {
        serde_json::Value::Object(map) => {
            if map.get("weights").is_some_and(serde_json::Value::is_array) {
                return map.get_mut("weights").and_then(serde_json::Value::as_array_mut);
            }
            map.values_mut().find_map(first_weights)
        }
        serde_json::Value::Array(items) => items.iter_mut().find_map(first_weights),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fetched_quantized_model_whose_key_commits_to_other_weights_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = std::fs::read(harness::examples().join("mnist-mlp.onnx")).unwrap();
    let honest = veritas_quantize::quantize(&onnx, &[vec![0.5f32; 784]]).unwrap();
    let mut other = serde_json::to_value(&honest).unwrap();
    let weight = &mut first_weights(&mut other).expect("a weighted layer")[0];
    *weight = serde_json::json!(if weight.as_i64().unwrap() > 0 { 0 } else { 1 });
    let (honest_file, other_file) = (dir.path().join("honest.quant.json"), dir.path().join("other.quant.json"));
    std::fs::write(&honest_file, serde_json::to_vec(&honest).unwrap()).unwrap();
    std::fs::write(&other_file, serde_json::to_vec(&other).unwrap()).unwrap();

    // A node of the test's own computes both files' manifests (schema, metadata, zk entry).
    let helper_home = tempfile::tempdir().unwrap();
    let helper = harness::open(&harness::config(helper_home.path())).await;
    let mut manifests = Vec::new();
    for (name, file) in [("honest", &honest_file), ("other", &other_file)] {
        let staged = helper.core().stager().stage_file(file).await.unwrap();
        let pushed =
            helper.core().push_model(PushRequest { name: name.into(), staged, format: ModelFormat::Quantized });
        manifests.push(pushed.await.unwrap().version.manifest);
    }
    assert_ne!(manifests[0].zk, manifests[1].zk, "one weight changes the commitment");

    // The serving node's hub holds the honest model, and the honest file under the other
    // file's verifying key: what a dishonest publisher or a tampered hub would serve.
    let home = tempfile::tempdir().unwrap();
    let config = harness::config(home.path());
    let (honest_id, forged_id) = {
        let hub = veritas_hub::Hub::open(&config.hub).unwrap();
        let mut ids = Vec::new();
        for (name, zk) in [("mlp", manifests[0].zk.clone()), ("forged", manifests[1].zk.clone())] {
            let manifest = &manifests[0];
            let spec = PushSpec {
                format: ModelFormat::Quantized,
                schema: manifest.schema.clone(),
                metadata: manifest.metadata.clone(),
                tolerance: None,
                zk,
                owner: None,
            };
            let staged = hub.stager().stage_file(&honest_file).await.unwrap();
            ids.push(hub.push(name, staged, spec).await.unwrap().version.id);
        }
        (ids[0], ids[1])
    };
    let served = Served::start(harness::open(&config).await, Default::default()).await;

    let fetcher_home = tempfile::tempdir().unwrap();
    let mut fetcher_config = harness::config(fetcher_home.path());
    fetcher_config.hub_url = Some(served.url.clone());
    let fetcher = harness::open(&fetcher_config).await;
    // The honest model is fetched, and its key made on the way.
    let fetched = fetcher.core().model_by_id(&honest_id).await.unwrap();
    assert_eq!(fetched.manifest.zk, manifests[0].zk);
    // The forged one is refused, naming why, and nothing of it is stored.
    let err = fetcher.core().model_by_id(&forged_id).await.unwrap_err().to_string();
    assert!(err.contains("does not commit to this file's parameters"), "{err}");
    assert!(err.contains(&forged_id.to_string()), "{err}");
    let again = fetcher.core().resolve_model(&forged_id.to_string()).await;
    assert!(again.is_err(), "a refused model must not be stored: {again:?}");
    served.stop().await;
}
