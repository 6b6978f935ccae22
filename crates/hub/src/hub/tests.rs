//! Tests of the hub against the local-directory and in-memory backends.

use std::collections::BTreeMap;

use veritas_primitives::TensorSpec;

use veritas_primitives::Schema;

use crate::{ModelFormat, Tolerance};

use super::*;

fn schema(n: u64) -> Schema {
    Schema {
        inputs: vec![TensorSpec { name: "x".into(), dtype: "float32".into(), shape: vec![None, Some(n)] }],
        outputs: vec![],
    }
}

fn spec(format: ModelFormat, tolerance: Option<Tolerance>) -> PushSpec {
    PushSpec { format, schema: schema(4), metadata: BTreeMap::new(), tolerance, zk: None, owner: None }
}

fn configs(dir: &std::path::Path) -> Vec<HubConfig> {
    vec![
        HubConfig::local(dir.join("local")),
        HubConfig { dir: dir.join("mem"), store: StoreLocation::Memory, max_model_bytes: 1 << 20 },
    ]
}

async fn push(hub: &Hub, name: &str, bytes: &[u8]) -> HubResult<PushOutcome> {
    let staged = hub.stager().stage_bytes(bytes).await?;
    hub.push(name, staged, spec(ModelFormat::Onnx, None)).await
}

#[tokio::test]
async fn versions_are_immutable_and_pushes_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    for config in configs(dir.path()) {
        let hub = Hub::open(&config).unwrap();
        let first = push(&hub, "iris", b"model one").await.unwrap();
        assert!(first.created);
        assert_eq!(first.version.version, 1);

        let again = push(&hub, "iris", b"model one").await.unwrap();
        assert!(!again.created, "same bytes must be a no-op");
        assert_eq!(again.version.id, first.version.id);
        assert_eq!(again.version.version, 1);

        let second = push(&hub, "iris", b"model two").await.unwrap();
        assert!(second.created);
        assert_eq!(second.version.version, 2);
        assert_ne!(second.version.id, first.version.id);

        assert_eq!(hub.resolve("iris").await.unwrap().version, 2);
        assert_eq!(hub.resolve("iris@1").await.unwrap().id, first.version.id);
        assert_eq!(hub.resolve(&first.version.id.to_string()).await.unwrap().version, 1);
        assert_eq!(hub.versions("iris").await.unwrap().len(), 2);

        push(&hub, "other", b"model one").await.unwrap();
        let listed: Vec<_> = hub.list().await.unwrap().into_iter().map(|v| (v.name, v.version)).collect();
        assert_eq!(listed, [("iris".to_owned(), 2), ("other".to_owned(), 1)]);

        let (manifest, bytes) = hub.load(&first.version.id).await.unwrap();
        assert_eq!(bytes, b"model one");
        assert_eq!(manifest.id(), first.version.id);
        assert_eq!(manifest.files[0].size, 9);
    }
}

#[tokio::test]
async fn a_tolerance_makes_another_version_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open(&HubConfig::local(dir.path().to_owned())).unwrap();
    let exact = push(&hub, "iris", b"model").await.unwrap().version;
    assert_eq!(exact.manifest.tolerance, None);
    let tolerance = Tolerance { abs: 1e-3, rel: 0.0 };
    let hub = &hub;
    let push_tolerant = |tolerance: Tolerance, format: ModelFormat| async move {
        let staged = hub.stager().stage_bytes(b"model").await?;
        hub.push("iris", staged, spec(format, Some(tolerance))).await
    };
    let tolerant = push_tolerant(tolerance, ModelFormat::Onnx).await.unwrap();
    assert!(tolerant.created, "the same bytes with a tolerance are another manifest");
    assert_eq!(tolerant.version.version, 2);
    assert_ne!(tolerant.version.id, exact.id);
    assert_eq!(tolerant.version.manifest.tolerance, Some(tolerance));
    let (manifest, _) = hub.load(&tolerant.version.id).await.unwrap();
    assert_eq!(manifest.tolerance, Some(tolerance));
    assert!(!push_tolerant(tolerance, ModelFormat::Onnx).await.unwrap().created);
    // Both versions stay reachable by id.
    assert_eq!(hub.resolve(&exact.id.to_string()).await.unwrap().manifest.tolerance, None);

    for (bad, format) in [
        (Tolerance { abs: -1e-3, rel: 0.0 }, ModelFormat::Onnx),
        (Tolerance { abs: 0.0, rel: 0.0 }, ModelFormat::Onnx),
        (tolerance, ModelFormat::Gguf),
    ] {
        let err = push_tolerant(bad, format).await.unwrap_err();
        assert!(matches!(err, HubError::InvalidTolerance(_)), "{err}");
    }
    assert_eq!(hub.versions("iris").await.unwrap().len(), 2);
}

#[tokio::test]
async fn unknown_references_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open(&HubConfig::local(dir.path().to_owned())).unwrap();
    push(&hub, "iris", b"x").await.unwrap();
    for reference in ["nope", "iris@7", "iris@x", "bagaaierax5iuyfd5n3a3dbvuxhgyamk7m3y5spj5ufgaoxf7j4aegsfypcya"] {
        let err = hub.resolve(reference).await.unwrap_err();
        assert!(matches!(err, HubError::UnknownModel(_)), "{reference}: {err}");
    }
    assert!(matches!(hub.versions("nope").await.unwrap_err(), HubError::UnknownModel(_)));
}

#[tokio::test]
async fn bad_names_are_refused_before_anything_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open(&HubConfig::local(dir.path().to_owned())).unwrap();
    let err = push(&hub, "../../etc/passwd", b"x").await.unwrap_err();
    assert!(matches!(err, HubError::InvalidName { .. }), "{err}");
    assert!(hub.list().await.unwrap().is_empty());
    assert!(!dir.path().join("objects/blobs").exists());
}

#[tokio::test]
async fn uploads_over_the_limit_are_cut_off_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = HubConfig { max_model_bytes: 10, ..HubConfig::local(dir.path().to_owned()) };
    let hub = Hub::open(&config).unwrap();
    let mut upload = hub.stager().begin().unwrap();
    upload.write(b"0123456789").await.unwrap();
    let err = upload.write(b"a").await.unwrap_err();
    assert!(err.to_string().contains("limit is 10 bytes, got at least 11"), "{err}");
    drop(upload);
    let leftovers = std::fs::read_dir(dir.path().join("staging")).unwrap().count();
    assert_eq!(leftovers, 0, "a cut-off upload must leave no staged file");
}

#[tokio::test]
async fn bytes_changed_behind_the_hubs_back_are_detected_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open(&HubConfig::local(dir.path().to_owned())).unwrap();
    let pushed = push(&hub, "iris", b"honest bytes").await.unwrap().version;
    let sha = &pushed.manifest.files[0].sha256;
    let blob = dir.path().join("objects/blobs/sha256").join(sha);
    std::fs::write(&blob, b"evil bytes!!").unwrap();
    let err = hub.load(&pushed.id).await.unwrap_err();
    assert!(matches!(err, HubError::Integrity { .. }), "{err}");
    assert!(err.to_string().contains(sha), "{err}");

    std::fs::remove_file(&blob).unwrap();
    let err = hub.load(&pushed.id).await.unwrap_err();
    assert!(err.to_string().contains("file missing"), "{err}");
}

#[tokio::test]
async fn a_changed_manifest_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open(&HubConfig::local(dir.path().to_owned())).unwrap();
    let pushed = push(&hub, "iris", b"bytes").await.unwrap().version;
    let path = dir.path().join(format!("objects/manifests/{}.json", pushed.id));
    let text = std::fs::read_to_string(&path).unwrap().replace("float32", "float64");
    std::fs::write(&path, text).unwrap();
    assert!(matches!(hub.load(&pushed.id).await.unwrap_err(), HubError::ManifestMismatch { .. }));
}

#[tokio::test]
async fn the_index_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = HubConfig::local(dir.path().to_owned());
    let id = {
        let hub = Hub::open(&config).unwrap();
        push(&hub, "iris", b"kept").await.unwrap().version.id
    };
    let hub = Hub::open(&config).unwrap();
    assert_eq!(hub.resolve("iris").await.unwrap().id, id);
    assert_eq!(hub.load(&id).await.unwrap().1, b"kept");
}

#[test]
fn store_locations_parse() {
    assert_eq!(StoreLocation::parse("memory"), StoreLocation::Memory);
    assert_eq!(StoreLocation::parse("s3://bucket/models"), StoreLocation::S3("s3://bucket/models".into()));
    assert_eq!(StoreLocation::parse("file:///data/x"), StoreLocation::Local("/data/x".into()));
    assert_eq!(StoreLocation::parse("rel/dir"), StoreLocation::Local("rel/dir".into()));
}

#[tokio::test]
async fn uploads_cut_off_by_a_crash_are_swept_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = HubConfig::local(dir.path().to_owned());
    drop(Hub::open(&config).unwrap());
    // What a killed process leaves: a staged file nobody will commit.
    std::fs::create_dir_all(dir.path().join("staging")).unwrap();
    std::fs::write(dir.path().join("staging/.tmpcrash"), b"half an upload").unwrap();
    let hub = Hub::open(&config).unwrap();
    assert_eq!(std::fs::read_dir(dir.path().join("staging")).unwrap().count(), 0);
    assert!(hub.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn blobs_are_content_addressed_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    for config in configs(dir.path()) {
        let hub = Hub::open(&config).unwrap();
        let digest = hub.put_blob(b"a proof".to_vec()).await.unwrap();
        assert_eq!(digest, hex::encode(Sha256::digest(b"a proof")));
        assert_eq!(hub.put_blob(b"a proof".to_vec()).await.unwrap(), digest);
        assert_eq!(hub.blob(&digest).await.unwrap(), b"a proof");
        assert!(matches!(hub.blob(&"0".repeat(64)).await, Err(HubError::UnknownModel(_))));
        assert!(matches!(hub.blob("../etc/passwd").await, Err(HubError::UnknownModel(_))));
        assert!(matches!(hub.blob(&digest.to_uppercase()).await, Err(HubError::UnknownModel(_))));
    }
}

#[tokio::test]
async fn a_name_belongs_to_its_first_publisher_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let config = HubConfig::local(dir.path().join("hub"));
    let (alice, mallory) = (Address::repeat_byte(0xa1), Address::repeat_byte(0x66));
    async fn push_as(hub: &Hub, name: &str, bytes: &[u8], owner: Option<Address>) -> HubResult<PushOutcome> {
        let staged = hub.stager().stage_bytes(bytes).await?;
        hub.push(name, staged, PushSpec { owner, ..spec(ModelFormat::Onnx, None) }).await
    }
    {
        let hub = Hub::open(&config).unwrap();
        // The node's own push claims nothing; the first publisher then owns the name.
        push_as(&hub, "iris", b"node's own", None).await.unwrap();
        assert_eq!(hub.owner("iris").unwrap(), None);
        push_as(&hub, "iris", b"alice v2", Some(alice)).await.unwrap();
        assert_eq!(hub.owner("iris").unwrap(), Some(alice));
    }
    let hub = Hub::open(&config).unwrap();
    let err = push_as(&hub, "iris", b"mallory's", Some(mallory)).await.unwrap_err();
    assert!(matches!(err, HubError::NotOwner { owner, .. } if owner == alice), "{err}");
    assert_eq!(hub.resolve("iris").await.unwrap().version, 2, "nothing was added");
    push_as(&hub, "iris", b"alice v3", Some(alice)).await.unwrap();
    push_as(&hub, "mallory-iris", b"mallory's", Some(mallory)).await.unwrap();
    assert_eq!(hub.owner("mallory-iris").unwrap(), Some(mallory));
}

#[tokio::test]
async fn a_streamed_file_is_checked_as_it_passes() {
    use futures_util::TryStreamExt;
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open(&HubConfig::local(dir.path().to_owned())).unwrap();
    let honest: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let pushed = push(&hub, "big", &honest).await.unwrap().version;
    let (manifest, stream) = hub.stream(&pushed.id).await.unwrap();
    assert_eq!(manifest, pushed.manifest);
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.unwrap();
    assert!(chunks.len() > 1, "streamed in chunks, not read whole");
    assert_eq!(chunks.concat(), honest);

    let blob = dir.path().join("objects/blobs/sha256").join(&pushed.manifest.files[0].sha256);
    let mut evil = honest.clone();
    evil[2_999_999] ^= 1;
    std::fs::write(&blob, &evil).unwrap();
    let (_, stream) = hub.stream(&pushed.id).await.unwrap();
    let err = stream.try_collect::<Vec<bytes::Bytes>>().await.unwrap_err();
    assert!(matches!(err, HubError::Integrity { .. }), "{err}");
    std::fs::write(&blob, &honest[..1000]).unwrap();
    let (_, stream) = hub.stream(&pushed.id).await.unwrap();
    assert!(matches!(stream.try_collect::<Vec<bytes::Bytes>>().await, Err(HubError::Integrity { .. })), "cut short");
}
