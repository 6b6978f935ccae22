//! Tests of receipt verification: a good receipt holds; each tampering fails with its reason.

use proptest::prelude::*;
use serde_json::json;
use veritas_primitives::{
    Check, Claim, ClaimDomain, Params, ReceiptBody, WorkerKey, keccak256,
    values::{values_from_json, values_hash},
};

use super::*;

fn manifest() -> serde_json::Value {
    json!({"format": "onnx", "files": [{"path": "model.onnx", "sha256": "00", "size": 1}]})
}

fn good_receipt() -> Receipt {
    let key = WorkerKey::from_bytes(&keccak256(b"verifier test")).unwrap();
    let input = values_from_json(&json!({"x": {"dtype": "float32", "shape": [1, 2], "data": [1.5, 2.0]}})).unwrap();
    let output = values_from_json(&json!({"y": {"dtype": "int64", "shape": [1], "data": [1]}})).unwrap();
    let params = Params::default();
    let claim = Claim {
        request_id: keccak256(b"r"),
        model_id: ModelId::of_manifest(&serde_json::to_vec(&manifest()).unwrap()),
        input_hash: values_hash(&input),
        output_hash: values_hash(&output),
        params_hash: params.hash(),
        mode: Mode::Signed,
        worker: key.address(),
        timestamp: 1,
    };
    let domain = ClaimDomain::dev();
    let mut receipt = Receipt::new(domain, key.sign_claim(claim, &domain).unwrap());
    receipt.body = ReceiptBody {
        model_name: Some("m".into()),
        model_version: Some(1),
        manifest: Some(manifest()),
        input: Some(input),
        output: Some(output),
        params: Some(params),
        registry: None,
        zk_proof: None,
    };
    receipt
}

fn check_fails(tamper: impl FnOnce(&mut Receipt), expected: &str) {
    let mut receipt = good_receipt();
    tamper(&mut receipt);
    let err = verify_receipt(&receipt, &Expectations::default()).unwrap_err();
    let err = err.to_string();
    assert!(err.contains(expected), "{err} does not contain {expected:?}");
}

#[test]
fn good_receipt_holds_with_every_check_performed() {
    let receipt = good_receipt();
    let report = verify_receipt(&receipt, &Expectations::default()).unwrap();
    assert_eq!(report.worker, receipt.claim.worker);
    assert_eq!(report.receipt_id, receipt.id());
    let names: Vec<_> = report.checks.iter().map(|c| (c.name, c.performed)).collect();
    assert_eq!(
        names,
        [("signature", true), ("model", true), ("input", true), ("output", true), ("params", true), ("batch", false)]
    );
    let json = serde_json::to_vec(&receipt).unwrap();
    assert_eq!(verify_receipt_json(&json, &Expectations::default()).unwrap(), report);
}

#[test]
fn a_receipt_without_body_holds_but_says_what_it_did_not_check() {
    let mut receipt = good_receipt();
    receipt.body = ReceiptBody::default();
    let report = verify_receipt_bytes(&receipt.canonical_bytes(), &Expectations::default()).unwrap();
    assert!(report.checks.iter().filter(|c| c.name != "signature").all(|c| !c.performed));
}

#[test]
fn tampering_fails_with_the_reason() {
    check_fails(|r| r.claim.timestamp += 1, "signed by");
    check_fails(|r| r.claim.worker = Address::repeat_byte(1), "signed by");
    check_fails(|r| r.domain.chain_id = 1, "signed by");
    check_fails(|r| r.signature.0[64] = 0, "v must be 27 or 28");
    check_fails(|r| r.version = 1, "unsupported receipt version: expected 2, got 1");
    check_fails(|r| r.version = 3, "unsupported receipt version: expected 2, got 3");
    check_fails(
        |r| {
            let output = json!({"y": {"dtype": "int64", "shape": [1], "data": [2]}});
            r.body.output = Some(values_from_json(&output).unwrap());
        },
        "output hash mismatch",
    );
    check_fails(
        |r| {
            let input = json!({"x": {"dtype": "float32", "shape": [2, 1], "data": [1.5, 2.0]}});
            r.body.input = Some(values_from_json(&input).unwrap());
        },
        "input hash mismatch",
    );
    check_fails(|r| r.body.params = Some(Params([("seed".to_owned(), json!(1))].into())), "params hash mismatch");
    check_fails(|r| r.body.manifest = Some(json!({"format": "gguf"})), "model id mismatch");
}

#[test]
fn each_failure_names_its_check() {
    let failed = |tamper: &dyn Fn(&mut Receipt)| {
        let mut receipt = good_receipt();
        tamper(&mut receipt);
        verify_receipt(&receipt, &Expectations::default()).unwrap_err().check()
    };
    assert_eq!(failed(&|r| r.claim.timestamp += 1), "signature");
    assert_eq!(failed(&|r| r.version = 1), "receipt");
    assert_eq!(failed(&|r| r.claim.input_hash = B256::ZERO), "signature");
    let input = json!({"x": {"dtype": "float32", "shape": [2, 1], "data": [1.5, 2.0]}});
    assert_eq!(failed(&|r| r.body.input = Some(values_from_json(&input).unwrap())), "input");
    assert_eq!(failed(&|r| r.body.params = Some(Params([("seed".to_owned(), json!(1))].into()))), "params");
    assert_eq!(failed(&|r| r.body.manifest = Some(json!({"format": "gguf"}))), "model");
    let output = json!({"y": {"dtype": "int64", "shape": [1], "data": [2]}});
    assert_eq!(failed(&|r| r.body.output = Some(values_from_json(&output).unwrap())), "output");
}

#[test]
fn expected_model_is_enforced() {
    let receipt = good_receipt();
    let other = ModelId::of_manifest(b"another");
    let err = verify_receipt(&receipt, &Expectations { model_id: Some(other), ..Default::default() }).unwrap_err();
    assert!(matches!(err, VerifyError::UnexpectedModel { .. }), "{err}");
}

#[test]
fn malformed_json_is_an_error_not_a_panic() {
    for text in ["", "{}", "[1]", "{\"version\": 1}", "null"] {
        let err = verify_receipt_json(text.as_bytes(), &Expectations::default()).unwrap_err();
        assert!(matches!(err, VerifyError::Malformed(_)), "{text}: {err}");
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = verify_receipt_bytes(&bytes, &Expectations::default());
        let _ = verify_receipt_json(&bytes, &Expectations::default());
    }

    #[test]
    fn any_changed_byte_of_the_canonical_form_fails(position in any::<prop::sample::Index>(), delta in 1u8..=255) {
        let mut bytes = good_receipt().canonical_bytes();
        let i = position.index(bytes.len());
        bytes[i] = bytes[i].wrapping_add(delta);
        prop_assert!(verify_receipt_bytes(&bytes, &Expectations::default()).is_err(), "byte {i}");
    }
}

fn settled(receipt: &mut Receipt, validator: &WorkerKey) {
    use veritas_primitives::{MerkleTree, Settlement, merkle_leaf};
    let others = [keccak256(b"a"), keccak256(b"b")];
    let ids = [others[0], receipt.id(), others[1]];
    let tree = MerkleTree::new(ids.iter().map(merkle_leaf).collect());
    receipt.settlement = Some(Settlement {
        chain_id: receipt.domain.chain_id,
        contract: receipt.domain.verifying_contract,
        batch_root: tree.root(),
        merkle_path: tree.proof(1).unwrap().0,
        transaction: keccak256(b"tx"),
        block: 7,
    });
    receipt.verdicts = vec![verdict_on(receipt, validator, true, Check::Signed)];
}

/// `validator`'s verdict on `receipt` from `check`, properly signed.
fn verdict_on(receipt: &Receipt, validator: &WorkerKey, valid: bool, check: Check) -> veritas_primitives::Verdict {
    use veritas_primitives::verdict::verdict_digest;
    let signature = validator.sign_digest(&verdict_digest(&receipt.domain, receipt.id(), valid, check)).unwrap();
    veritas_primitives::Verdict { validator: validator.address(), valid, check, signature: signature.to_vec().into() }
}

#[test]
fn settlement_and_verdicts_are_checked() {
    let validator = WorkerKey::from_bytes(&keccak256(b"validator")).unwrap();
    let mut receipt = good_receipt();
    settled(&mut receipt, &validator);
    let report = verify_receipt(&receipt, &Expectations::default()).unwrap();
    assert!(report.checks.iter().any(|c| c.name == "batch" && c.performed));
    assert!(report.checks.iter().any(|c| c.name == "verdict" && c.detail.contains(&validator.address().to_string())));
    // The canonical form carries them, and still decodes and verifies.
    verify_receipt_bytes(&receipt.canonical_bytes(), &Expectations::default()).unwrap();

    check_fails(
        |r| {
            settled(r, &validator);
            r.settlement.as_mut().unwrap().merkle_path[0] = keccak256(b"other");
        },
        "does not lead from this receipt",
    );
    check_fails(
        |r| {
            settled(r, &validator);
            r.settlement.as_mut().unwrap().chain_id = 1;
        },
        "recorded on chain 1",
    );
    check_fails(
        |r| {
            settled(r, &validator);
            r.verdicts[0].validator = Address::repeat_byte(9);
        },
        "verdict 0: signed by",
    );
    check_fails(
        |r| {
            settled(r, &validator);
            r.verdicts[0].valid = false;
        },
        "verdict 0",
    );
}

#[test]
fn the_quorum_is_counted_against_the_receipts_registry_snapshot() {
    use veritas_primitives::{RegistrySnapshot, U256, ValidatorSet};
    let validator = WorkerKey::from_bytes(&keccak256(b"validator")).unwrap();
    let other = Address::repeat_byte(7);
    let snapshot = |mine: u64, theirs: u64| RegistrySnapshot {
        registry: Address::repeat_byte(1),
        block: 9,
        validators: ValidatorSet {
            stakes: [(validator.address(), U256::from(mine)), (other, U256::from(theirs))]
                .into_iter()
                .filter(|(_, stake)| !stake.is_zero())
                .collect(),
            total: U256::from(mine + theirs),
        },
    };
    let mut receipt = good_receipt();
    settled(&mut receipt, &validator);
    // Without a snapshot the quorum is not checked offline, and the report says so.
    let report = verify_receipt(&receipt, &Expectations::default()).unwrap();
    assert!(report.checks.iter().any(|c| c.name == "quorum" && !c.performed));

    receipt.body.registry = Some(snapshot(70, 30));
    let report = verify_receipt(&receipt, &Expectations::default()).unwrap();
    let quorum = report.checks.iter().find(|c| c.name == "quorum").unwrap();
    assert!(quorum.performed && quorum.detail.contains("at block 9"), "{quorum:?}");

    // Exactly 2/3 is not more than 2/3.
    receipt.body.registry = Some(snapshot(2, 1));
    let err = verify_receipt(&receipt, &Expectations::default()).unwrap_err();
    assert!(err.to_string().starts_with("no quorum"), "{err}");
    // A verdict by a key the snapshot holds no stake for.
    receipt.body.registry = Some(snapshot(0, 100));
    let err = verify_receipt(&receipt, &Expectations::default()).unwrap_err();
    assert!(err.to_string().contains("is not a staked validator"), "{err}");
    // A quorum that says invalid.
    receipt.body.registry = Some(snapshot(70, 30));
    receipt.verdicts[0] = verdict_on(&receipt, &validator, false, Check::Signed);
    let err = verify_receipt(&receipt, &Expectations::default()).unwrap_err();
    assert!(err.to_string().contains("judged this claim INVALID"), "{err}");
}

/// Claims of `mode` with the given request names, with their receipt ids.
fn claims_of(mode: Mode, names: &[&[u8]]) -> Vec<Claim> {
    names.iter().map(|name| Claim { request_id: keccak256(name), mode, ..good_receipt().claim }).collect()
}

#[test]
fn a_batch_is_signed_only_when_its_root_quorums_and_transfers_hold() {
    use veritas_primitives::{
        MerkleTree, U256, ValidatorSet, Verdict,
        batch::{BatchToSign, ClaimVerdicts, Transfer, batch_digest},
        merkle_leaf,
        verdict::verdict_digest,
    };
    let domain = ClaimDomain::dev();
    let keys: Vec<WorkerKey> = (0u8..3).map(|i| WorkerKey::from_bytes(&keccak256([i])).unwrap()).collect();
    let validators =
        ValidatorSet { stakes: keys.iter().map(|k| (k.address(), U256::from(10))).collect(), total: U256::from(30) };
    let verdict_from = |key: &WorkerKey, id: B256, valid: bool, check: Check| Verdict {
        validator: key.address(),
        valid,
        check,
        signature: key.sign_digest(&verdict_digest(&domain, id, valid, check)).unwrap().to_vec().into(),
    };
    let verdict = |key: &WorkerKey, id: B256, valid: bool| verdict_from(key, id, valid, Check::Reexec);
    let claims = claims_of(Mode::Reexec, &[b"one", b"two"]);
    let ids: Vec<B256> = claims.iter().map(|c| c.signing_hash(&domain)).collect();
    let gateway = Address::repeat_byte(0x6a);
    let good = || BatchToSign {
        root: MerkleTree::new(ids.iter().map(merkle_leaf).collect()).root(),
        claims: claims
            .iter()
            .zip(&ids)
            .map(|(claim, id)| ClaimVerdicts {
                id: *id,
                claim: claim.clone(),
                verdicts: keys.iter().map(|k| verdict(k, *id, true)).collect(),
                payer: Address::repeat_byte(1),
                fee: U256::from(5),
                tokens: 0,
                output: None,
                params: None,
            })
            .collect(),
        debits: vec![Transfer::of(Address::repeat_byte(1), 10)],
        credits: vec![Transfer::of(Address::repeat_byte(2), 9), Transfer::of(Address::repeat_byte(3), 1)],
        gateway,
        deadline: 1_767_230_000,
    };
    let batch = good();
    let digest = check_batch(&domain, &batch, &validators, 10).unwrap();
    assert_eq!(digest, batch_digest(&domain, batch.root, 2, gateway, 1_767_230_000, &batch.debits, &batch.credits));
    let mut other_gateway = good();
    other_gateway.gateway = Address::repeat_byte(0x6b);
    assert_ne!(check_batch(&domain, &other_gateway, &validators, 10).unwrap(), digest, "the gateway is signed");
    let mut later = good();
    later.deadline += 1;
    assert_ne!(check_batch(&domain, &later, &validators, 10).unwrap(), digest, "and the deadline");
    // Signed checks count for a reexec claim (the share sampling leaves unexecuted).
    let mut signed = good();
    signed.claims[0].verdicts = keys.iter().map(|k| verdict_from(k, ids[0], true, Check::Signed)).collect();
    check_batch(&domain, &signed, &validators, 10).unwrap();

    let refused = |change: &dyn Fn(&mut BatchToSign), max: usize, expected: &str| {
        let mut batch = good();
        change(&mut batch);
        let err = check_batch(&domain, &batch, &validators, max).unwrap_err();
        assert!(err.contains(expected), "{err}");
    };
    refused(&|_| {}, 1, "1 to 1 claims");
    refused(&|b| b.root = keccak256(b"other"), 10, "is not the claims' Merkle root");
    refused(
        &|b| {
            b.claims[1] = b.claims[0].clone();
            b.root = MerkleTree::new([ids[0], ids[0]].iter().map(merkle_leaf).collect()).root();
        },
        10,
        "is in the batch twice",
    );
    // Two of three validators are exactly 2/3: not more.
    refused(&|b| drop(b.claims[1].verdicts.pop()), 10, "no quorum");
    refused(&|b| b.claims[1].verdicts[2] = b.claims[1].verdicts[0].clone(), 10, "not a valid signed");
    refused(&|b| b.claims[0].verdicts[0] = verdict(&keys[0], ids[0], false), 10, "not a valid signed");
    refused(&|b| b.claims[0].verdicts[0] = verdict(&keys[0], ids[1], true), 10, "not a valid signed");
    refused(&|b| b.credits[1].amount = U256::from(2), 10, "do not balance");
    refused(
        &|b| {
            b.debits = vec![Transfer { account: Address::ZERO, amount: U256::MAX }, Transfer::of(Address::ZERO, 11)];
        },
        10,
        "more than 2^256",
    );
    // A quorum of attestation checks says nothing about a reexec claim.
    refused(
        &|b| b.claims[0].verdicts = keys.iter().map(|k| verdict_from(k, ids[0], true, Check::Tee)).collect(),
        10,
        "a verdict from a tee check, which does not count for a reexec claim",
    );
    // A verdict relabelled as a stronger check than the one signed does not hold.
    refused(&|b| b.claims[0].verdicts[0].check = Check::Signed, 10, "not a valid signed");
    // The claim carried must be the one the id names: its mode decides which checks count.
    refused(&|b| b.claims[0].claim.mode = Mode::Signed, 10, "the claim carried is another");
    refused(&|b| b.claims[0].claim = b.claims[1].claim.clone(), 10, "the claim carried is another");
}

#[test]
fn a_verdict_counts_only_from_a_check_its_claims_mode_rests_on() {
    let validator = WorkerKey::from_bytes(&keccak256(b"validator")).unwrap();
    for mode in [Mode::Signed, Mode::Reexec, Mode::Zk, Mode::Tee] {
        let mut receipt = good_receipt();
        receipt.claim.mode = mode;
        for check in Check::ALL {
            let verdict = verdict_on(&receipt, &validator, true, check);
            let counts = verdict_counts(&receipt.domain, receipt.id(), mode, &verdict);
            assert_eq!(counts, check.counts_for(mode), "a {check} check on a {mode} claim");
            let forged = veritas_primitives::Verdict { signature: vec![1; 65].into(), ..verdict };
            assert!(!verdict_counts(&receipt.domain, receipt.id(), mode, &forged), "a signature that does not hold");
        }
    }
}

#[test]
fn a_quorum_of_tee_checks_on_a_reexec_claim_does_not_count() {
    use veritas_primitives::{RegistrySnapshot, U256, ValidatorSet};
    let key = WorkerKey::from_bytes(&keccak256(b"verifier test")).unwrap();
    let validators: Vec<WorkerKey> = (0u8..3).map(|i| WorkerKey::from_bytes(&keccak256([b'v', i])).unwrap()).collect();
    let mut receipt = good_receipt();
    receipt.claim.mode = Mode::Reexec;
    receipt.signature = key.sign_claim(receipt.claim.clone(), &receipt.domain).unwrap().signature.into();
    receipt.body.registry = Some(RegistrySnapshot {
        registry: Address::repeat_byte(1),
        block: 9,
        validators: ValidatorSet {
            stakes: validators.iter().map(|v| (v.address(), U256::from(10u64))).collect(),
            total: U256::from(30u64),
        },
    });
    let judged = |check: Check| {
        let mut receipt = receipt.clone();
        receipt.verdicts = validators.iter().map(|v| verdict_on(&receipt, v, true, check)).collect();
        receipt
    };

    // Every validator's signature holds, but none of them checked what a reexec claim rests on.
    let tee = judged(Check::Tee);
    let err = verify_receipt(&tee, &Expectations::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no quorum: valid verdicts hold 0.000000000000000000 and invalid ones 0.000000000000000000 of \
         0.000000000000000030 validator stake; more than 2/3 is needed (3 verdicts left out: from a check that does not count for this claim's mode, or not signed by the \
         validator named)"
    );
    let report = verdict_quorum(&tee, &tee.body.registry.as_ref().unwrap().validators).unwrap();
    assert_eq!((report.valid_stake, report.uncounted, report.outcome), (U256::ZERO, 3, None));
    assert_eq!(crate::badge(&verify_receipt(&tee, &Expectations::default())), Badge::Invalid);
    // Nor does a zk check; re-execution and (for the unsampled share) signature checks do.
    assert!(verify_receipt(&judged(Check::Zk), &Expectations::default()).is_err());
    for check in [Check::Reexec, Check::Signed] {
        let report = verify_receipt(&judged(check), &Expectations::default()).unwrap();
        let quorum = report.checks.iter().find(|c| c.name == "quorum").unwrap();
        assert!(quorum.performed && quorum.detail.starts_with("3 validators holding"), "{quorum:?}");
    }
    // One tee verdict among counted ones is reported as not counted, and left out of the sum.
    let mut mixed = judged(Check::Reexec);
    mixed.verdicts[2] = verdict_on(&mixed, &validators[2], true, Check::Tee);
    let err = verify_receipt(&mixed, &Expectations::default()).unwrap_err().to_string();
    assert!(err.starts_with("no quorum") && err.contains("1 verdicts left out"), "{err}");
    let mut shown = mixed.clone();
    shown.body.registry = None;
    let report = verify_receipt(&shown, &Expectations::default()).unwrap();
    let details: Vec<&str> = report.checks.iter().filter(|c| c.name == "verdict").map(|c| c.detail.as_str()).collect();
    assert!(details[0].starts_with("valid by a reexec check, signed by validator"), "{details:?}");
    assert!(details[2].ends_with("not counted: a tee check does not count for a reexec claim"), "{details:?}");
    // A verdict relabelled with another check than the one signed is refused outright.
    let mut relabelled = judged(Check::Signed);
    relabelled.verdicts[0].check = Check::Reexec;
    let err = verify_receipt(&relabelled, &Expectations::default()).unwrap_err();
    assert!(matches!(err, VerifyError::BadVerdict { index: 0, .. }), "{err}");
}

#[test]
fn the_badge_follows_what_the_receipt_itself_proves() {
    use veritas_primitives::{RegistrySnapshot, U256, ValidatorSet};
    let validator = WorkerKey::from_bytes(&keccak256(b"validator")).unwrap();
    let describe = |receipt: &Receipt| crate::describe_json(&serde_json::to_vec(receipt).unwrap(), &Default::default());
    // Fresh from the worker: it holds, nobody has judged it yet.
    let mut receipt = good_receipt();
    let fresh = describe(&receipt);
    assert_eq!(fresh["badge"], "pending", "{fresh}");
    assert_eq!(fresh["mode"], serde_json::to_value(receipt.claim.mode).unwrap());
    assert!(fresh["checks"].as_array().unwrap().iter().any(|c| c["name"] == "signature"), "{fresh}");
    // Verdicts without a snapshot to count them against: still pending.
    settled(&mut receipt, &validator);
    let settlement = receipt.settlement.take();
    assert_eq!(describe(&receipt)["badge"], "pending");
    // A quorum by the snapshot: verified; in a batch too: settled.
    receipt.body.registry = Some(RegistrySnapshot {
        registry: Address::repeat_byte(1),
        block: 9,
        validators: ValidatorSet {
            stakes: [(validator.address(), U256::from(10u64))].into_iter().collect(),
            total: U256::from(10u64),
        },
    });
    let verified = describe(&receipt);
    assert_eq!(verified["badge"], "verified");
    assert!(verified["chain_check"].is_null(), "nothing to ask the chain before settlement");
    receipt.settlement = settlement;
    let shown = describe(&receipt);
    assert_eq!(shown["badge"], "settled", "{shown}");
    assert_eq!(shown["receipt_id"], serde_json::to_value(receipt.id()).unwrap());
    // The question for the chain: isSettled(root, leaf, path) on the settlement contract.
    let settlement = receipt.settlement.as_ref().unwrap();
    let check = &shown["chain_check"];
    assert_eq!(check["chain_id"], settlement.chain_id);
    assert_eq!(check["to"], serde_json::to_value(settlement.contract).unwrap());
    let data = veritas_primitives::hex::decode(check["data"].as_str().unwrap()).unwrap();
    let selector = &keccak256(b"isSettled(bytes32,bytes32,bytes32[])")[..4];
    assert_eq!(&data[..4], selector);
    assert_eq!(&data[4..36], settlement.batch_root.as_slice());
    assert_eq!(&data[36..68], veritas_primitives::merkle_leaf(&receipt.id()).as_slice());
    // One changed output value, or bytes that are not a receipt: invalid, with the reason.
    let mut changed = serde_json::to_value(&receipt).unwrap();
    let output = changed["body"]["output"].as_object_mut().unwrap();
    let (name, _) = output.iter().next().map(|(k, v)| (k.clone(), v.clone())).unwrap();
    output.remove(&name);
    let shown = crate::describe_json(changed.to_string().as_bytes(), &Default::default());
    assert_eq!(shown["badge"], "invalid", "{shown}");
    assert!(shown["error"].as_str().unwrap().contains("output"), "{shown}");
    let garbage = crate::describe_json(b"{\"not\": \"a receipt\"}", &Default::default());
    assert_eq!(garbage["badge"], "invalid");
    assert!(garbage["error"].as_str().unwrap().starts_with("malformed"), "{garbage}");
}

fn tee_receipt(nonce: &[u8]) -> Receipt {
    let key = WorkerKey::from_bytes(&keccak256(b"verifier test")).unwrap();
    let mut receipt = good_receipt();
    receipt.claim.mode = Mode::Tee;
    receipt.signature = key.sign_claim(receipt.claim.clone(), &receipt.domain).unwrap().signature.into();
    let evidence = tee::simulated_evidence([3; 48], &receipt.id(), nonce);
    receipt.evidence = vec![evidence.to_evidence()];
    receipt
}

#[test]
fn a_simulated_tee_receipt_holds_only_where_simulation_is_allowed_and_says_so() {
    let receipt = tee_receipt(b"client nonce");
    let err = verify_receipt(&receipt, &Expectations::default()).unwrap_err();
    assert_eq!(err, VerifyError::Tee(tee::TeeError::SimulatedNotAllowed));
    let allow = Expectations { tee_policy: tee::Policy::simulated_only().into(), ..Default::default() };
    let report = verify_receipt(&receipt, &allow).unwrap();
    assert!(report.tee.as_ref().unwrap().insecure);
    let check = report.checks.iter().find(|c| c.name == "tee").unwrap();
    assert!(check.performed && check.detail.starts_with("UNTRUSTED / SIMULATED"), "{check:?}");
    let shown = crate::describe_json(&serde_json::to_vec(&receipt).unwrap(), &tee::Policy::simulated_only());
    assert_eq!(shown["tee"]["label"], "UNTRUSTED / SIMULATED", "{shown}");
    assert_eq!(shown["tee"]["insecure"], true);
    assert_eq!(shown["tee"]["nonce"], veritas_primitives::hex::encode(b"client nonce"));
    let refused = crate::describe_json(&serde_json::to_vec(&receipt).unwrap(), &Default::default());
    assert_eq!(refused["badge"], "invalid");
    assert!(refused["error"].as_str().unwrap().contains("UNTRUSTED"), "{refused}");
}

#[test]
fn tee_evidence_must_be_there_once_and_bind_this_claim() {
    let allow = Expectations { tee_policy: tee::Policy::simulated_only().into(), ..Default::default() };
    let mut missing = tee_receipt(b"");
    missing.evidence.clear();
    let err = verify_receipt(&missing, &allow).unwrap_err().to_string();
    assert!(err.contains("without TEE evidence"), "{err}");
    let mut twice = tee_receipt(b"");
    twice.evidence.push(twice.evidence[0].clone());
    let err = verify_receipt(&twice, &allow).unwrap_err().to_string();
    assert!(err.contains("more than one"), "{err}");
    // Evidence made for another claim (another request of the same worker) does not carry over.
    let other = {
        let mut receipt = good_receipt();
        receipt.claim.request_id = keccak256(b"another request");
        tee::simulated_evidence([3; 48], &receipt.id(), b"").to_evidence()
    };
    let mut moved = tee_receipt(b"");
    moved.evidence = vec![other];
    let err = verify_receipt(&moved, &allow).unwrap_err();
    assert!(matches!(err, VerifyError::Tee(tee::TeeError::Binding { .. })), "{err}");
    let mut wrong_mode = good_receipt();
    wrong_mode.evidence = tee_receipt(b"").evidence;
    let err = verify_receipt(&wrong_mode, &allow).unwrap_err().to_string();
    assert!(err.contains("only tee claims"), "{err}");
}

/// A `zk` receipt whose manifest publishes `key` (committed to by its SHA-256, as a node's
/// does) and whose evidence names `proof`, signed by the worker.
fn zk_receipt(key: &veritas_zk::model::VerifyingKey, proof: &[u8]) -> Receipt {
    use sha2::{Digest, Sha256};
    let worker = WorkerKey::from_bytes(&keccak256(b"verifier test")).unwrap();
    let mut receipt = good_receipt();
    let bytes = key.to_bytes();
    let manifest = json!({"format": "quantized", "zk": {
        "verifying_key": veritas_primitives::hex::encode(&bytes),
        "commitment": veritas_primitives::hex::encode(Sha256::digest(&bytes)),
        "security_bits": 100,
    }});
    receipt.claim.model_id = ModelId::of_manifest(&serde_json::to_vec(&manifest).unwrap());
    receipt.claim.mode = Mode::Zk;
    receipt.signature = worker.sign_claim(receipt.claim.clone(), &receipt.domain).unwrap().signature.into();
    receipt.body.manifest = Some(manifest);
    receipt.body.zk_proof = Some(proof.to_vec().into());
    let data = Sha256::digest(proof).to_vec().into();
    receipt.evidence = vec![veritas_primitives::Evidence { kind: zk::EVIDENCE_KIND.into(), data }];
    receipt
}

/// The key a manifest would publish for `architecture` (no parameters) with `params`: a
/// commitment of the length its layout needs.
fn crafted_key(
    architecture: veritas_quant::QuantizedModel,
    params: veritas_zk::pcs::PcsParams,
) -> veritas_zk::model::VerifyingKey {
    let layout = veritas_zk::model::layout::Layout::new(&architecture).unwrap();
    let mut commitment = vec![layout.log_len as u8];
    commitment.extend_from_slice(&(layout.used as u32).to_le_bytes());
    commitment.extend_from_slice(&[0; 32]);
    let commitment = veritas_zk::pcs::Commitment::from_bytes(&commitment).unwrap();
    veritas_zk::model::VerifyingKey { architecture, commitment, params }
}

#[test]
fn a_zk_receipt_of_a_crafted_manifest_is_refused_in_milliseconds() {
    use veritas_quant::geometry::Pool2d;
    use veritas_quant::{QuantLayer, QuantOp, QuantizedModel, Requant};
    use veritas_zk::ZkError;
    use veritas_zk::pcs::PcsParams;

    let requant = Requant { multiplier: 1 << 30, shift: 36 };
    let linear = |input, in_features, out_features| QuantLayer {
        op: QuantOp::Linear { input, in_features, out_features, weights: vec![], bias: vec![], requant, relu: false },
        shape: vec![out_features],
        scale: 1.0,
    };
    // A max pool of 1023 × 1023 windows of 1024 × 1024 each (2^40 comparisons), then a product.
    let pool =
        Pool2d { channels: 1, in_height: 1024, in_width: 1024, kernel: [1024, 1024], stride: [1, 1], pads: [511; 4] };
    let architecture = QuantizedModel {
        input_name: "x".into(),
        input_shape: vec![1, 1024, 1024],
        input_scale: 1.0,
        layers: vec![
            QuantLayer { op: QuantOp::MaxPool { input: 0, geometry: pool }, shape: vec![1, 1023, 1023], scale: 1.0 },
            linear(1, 1023 * 1023, 2),
        ],
        output: 2,
    };
    let start = std::time::Instant::now();
    let receipt = zk_receipt(&crafted_key(architecture, PcsParams::DEFAULT), &[7; 1000]);
    let err = verify_receipt(&receipt, &Expectations::default()).unwrap_err();
    assert!(
        matches!(err, VerifyError::Zk(ZkError::OverBudget { what: "work units", estimate, budget })
            if estimate > budget && budget == veritas_zk::model::bounds::MAX_WORK),
        "{err}"
    );
    assert!(err.to_string().starts_with("zk proof: verifying this key's proofs takes an estimated"), "{err}");

    // A valid small network with one query and no proof of work.
    let architecture = QuantizedModel {
        input_name: "x".into(),
        input_shape: vec![1, 2],
        input_scale: 1.0,
        layers: vec![linear(0, 2, 2)],
        output: 1,
    };
    let weak = PcsParams { log_blowup: 1, num_queries: 1, pow_bits: 0 };
    let receipt = zk_receipt(&crafted_key(architecture, weak), &[7; 1000]);
    let err = verify_receipt(&receipt, &Expectations::default()).unwrap_err();
    assert_eq!(err, VerifyError::Zk(ZkError::Insecure { bits: 0, required: 100 }));
    assert_eq!(
        err.to_string(),
        "zk proof: the key's parameters give 0 bits of proven soundness, at least 100 are required"
    );
    let elapsed = start.elapsed();
    assert!(elapsed < std::time::Duration::from_secs(1), "refused in {elapsed:?}");
}
