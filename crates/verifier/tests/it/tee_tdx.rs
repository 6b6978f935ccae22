//! Intel TDX DCAP quotes against the verifier: the trimmed TDX vector of
//! `tests/vectors/tee/MANIFEST.md` accepts at its time under a policy allowing its platform
//! flags, and fails outside its collateral window, under the default policy, outside the TCB
//! statuses or the allowlist, against a binding, with the shipped trailing bytes, and with a bit
//! flipped at any position of the quote, or of the collateral where the flip changes a value.
//! Of the two quote v5 vectors (TD report 1.5), Open Enclave's accepts at its time under a policy
//! allowing its TCB status, advisories and platform flags, and fails outside its window and with a
//! bit flipped anywhere; dcap-qvl's passes the layout, every signature and chain, and fails only
//! where its provenance says: its collateral's TCB info has no level for its platform.

use veritas_primitives::B256;
use veritas_verifier::tee::{
    self, Attestation, Policy, TeeError, TeeEvidence,
    policy::{TdxMeasurement, TdxPolicy},
};

const QUOTE: &[u8] = include_bytes!("../vectors/tee/tdx_quote.trimmed");
const QUOTE_AS_SHIPPED: &[u8] = include_bytes!("../vectors/tee/tdx_quote");
const COLLATERAL: &[u8] = include_bytes!("../vectors/tee/tdx_quote_collateral.json");
const SGX_QUOTE: &[u8] = include_bytes!("../vectors/tee/sgx_quote");
const SGX_COLLATERAL: &[u8] = include_bytes!("../vectors/tee/sgx_quote_collateral.json");
/// A quote v5 with a TD report 1.5, and its collateral in compact JSON.
const V5_QUOTE: &[u8] = include_bytes!("../vectors/tee/tdx_v5_quote");
const V5_COLLATERAL: &[u8] = include_bytes!("../vectors/tee/tdx_v5_quote_collateral.json");
/// 2026-03-01T00:00:00Z, inside the v5 collateral's window.
const V5_TIME: u64 = 1_772_323_200;
/// The v5 collateral window: 2026-02-18T10:58:51Z – 2026-03-20T10:41:15Z.
const V5_WINDOW: (u64, u64) = (1_771_412_331, 1_774_003_275);
const V5_MRTD: &str =
    "273828c46252fcbdd8ad2dd907130222b03466d52a2911d70c1a5950895d6bd1ae451d382d5a9b1b4c0ed0e5ae9a3dbd";
/// Where the v5 quote's TD report 1.5 starts (after the header and the body descriptor).
const V5_BODY: usize = 48 + 6;
/// Open Enclave's quote v5 with a TD report 1.5 (a TD launched before a TDX module update at run
/// time), and the collateral Open Enclave verifies it with, as `QuoteCollateralV3` JSON.
const OE_QUOTE: &[u8] = include_bytes!("../vectors/tee/tdx_v5_oe_quote");
const OE_COLLATERAL: &[u8] = include_bytes!("../vectors/tee/tdx_v5_oe_quote_collateral.json");
/// 2025-03-01T00:00:00Z, inside the collateral's window.
const OE_TIME: u64 = 1_740_787_200;
/// The window, both ends included: 2025-02-26T10:37:20Z (TCB info issued) – 2025-03-22T11:31:38Z
/// (QE identity's next update).
const OE_WINDOW: (u64, u64) = (1_740_566_240, 1_742_643_098);
const OE_MRTD: &str =
    "ece51dc95034ed0e1aad68e57b2d9d0a54d79f5b75626adbc4bbe9576971e85ed33702d96be68134a841fb5de7f839bf";
/// The first 32 bytes of the OE quote's report_data (the rest are zero): not a veritas binding.
const OE_REPORT_DATA: &str = "9aa5e2de08cdb4cc1cf982ea2179b20f2b7fd9e18b74aac533b6aa760bb3d680";
/// The TCB status of the TD's launch-time module (`OutOfDate`) with the advisories its level names,
/// and of the module running now (`UpToDate`): dcap-qvl reports `TDRelaunchAdvised`.
const OE_STATUS: &str = "TDRelaunchAdvised";
const OE_ADVISORIES: [&str; 2] = ["INTEL-SA-01036", "INTEL-SA-01099"];
/// 2025-07-01T00:00:00Z.
const TIME: u64 = 1_751_328_000;
/// The collateral window: 2025-06-19T10:32:27Z – 2025-07-19T10:00:35Z.
const WINDOW: (u64, u64) = (1_750_329_147, 1_752_919_235);
const MRTD: &str = "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";

fn attestation(quote: &[u8], collateral: &[u8]) -> Attestation {
    Attestation::Tdx { quote: quote.to_vec(), collateral: collateral.to_vec() }
}

/// The policy the vector passes: its MRTD (and RTMR3, all zero) on the allowlist, and the three
/// platform flags its PCK certificate sets allowed.
fn policy() -> Policy {
    Policy {
        tdx: TdxPolicy {
            measurements: vec![TdxMeasurement {
                mrtd: MRTD.into(),
                rtmr0: None,
                rtmr1: None,
                rtmr2: None,
                rtmr3: Some("00".repeat(48)),
            }],
            allow_dynamic_platform: true,
            allow_cached_keys: true,
            allow_smt: true,
            ..TdxPolicy::default()
        },
        ..Policy::default()
    }
}

fn check(quote: &[u8], collateral: &[u8], policy: &Policy, time: u64) -> Result<tee::TeeReport, TeeError> {
    tee::verify_attestation(&attestation(quote, collateral), policy, time).map(|(report, _)| report)
}

#[test]
fn the_pinned_intel_root_is_the_published_one() {
    use sha2::{Digest, Sha256};
    assert_eq!(
        veritas_primitives::hex::encode(Sha256::digest(tee::INTEL_SGX_ROOT_CA_DER)),
        tee::INTEL_SGX_ROOT_CA_SHA256
    );
    assert_eq!(tee::INTEL_SGX_ROOT_CA_SHA256, "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
}

#[test]
fn the_trimmed_quote_verifies_at_its_time_and_inside_its_window() {
    for time in [TIME, WINDOW.0, WINDOW.1 - 1] {
        let (report, bound) = tee::verify_attestation(&attestation(QUOTE, COLLATERAL), &policy(), time).unwrap();
        assert_eq!(report.kind, tee::TeeKind::Tdx);
        assert_eq!(report.tcb_status.as_deref(), Some("UpToDate"));
        assert!(report.advisories.is_empty());
        assert_eq!(report.measurements[0], ("MRTD".to_string(), MRTD.to_string()));
        assert_eq!(report.measurements[1].0, "RTMR3");
        assert!(report.vendor_root.contains(tee::INTEL_SGX_ROOT_CA_SHA256));
        assert_eq!(bound.len(), 64);
        assert!(veritas_primitives::hex::encode(&bound).starts_with("9a9d48e7"));
    }
}

#[test]
fn the_quote_fails_before_and_after_its_collateral_window() {
    for time in [WINDOW.0 - 1, WINDOW.1 + 1, WINDOW.1 + 86_400, 1_780_272_000] {
        let err = check(QUOTE, COLLATERAL, &policy(), time).unwrap_err();
        assert!(matches!(err, TeeError::Time(_)), "at {time}: {err}");
    }
}

#[test]
fn the_default_policy_names_the_platform_flag() {
    let mut strict = policy();
    strict.tdx.allow_dynamic_platform = false;
    strict.tdx.allow_cached_keys = false;
    strict.tdx.allow_smt = false;
    let err = check(QUOTE, COLLATERAL, &strict, TIME).unwrap_err();
    assert!(matches!(&err, TeeError::Platform(m) if m.contains("dynamic platform")), "{err}");
    // Any one or two of the flags are not enough.
    for (dynamic, cached, smt, named) in [
        (true, false, false, "cached keys"),
        (true, true, false, "SMT"),
        (false, true, true, "dynamic platform"),
        (true, false, true, "cached keys"),
    ] {
        let mut p = policy();
        (p.tdx.allow_dynamic_platform, p.tdx.allow_cached_keys, p.tdx.allow_smt) = (dynamic, cached, smt);
        let err = check(QUOTE, COLLATERAL, &p, TIME).unwrap_err();
        assert!(matches!(&err, TeeError::Platform(m) if m.contains(named)), "{err}");
    }
    // The default policy (nothing on the allowlist either) stops at the platform first.
    let err = check(QUOTE, COLLATERAL, &Policy::default(), TIME).unwrap_err();
    assert!(matches!(&err, TeeError::Platform(m) if m.contains("dynamic platform")), "{err}");
}

#[test]
fn a_tcb_status_outside_the_policy_fails() {
    let mut p = policy();
    p.tdx.tcb_statuses = vec!["SWHardeningNeeded".into()];
    let err = check(QUOTE, COLLATERAL, &p, TIME).unwrap_err();
    assert!(matches!(&err, TeeError::Platform(m) if m.contains("TCB status UpToDate")), "{err}");
}

#[test]
fn measurements_off_the_allowlist_fail_naming_the_register() {
    let mut p = policy();
    p.tdx.measurements.clear();
    let err = check(QUOTE, COLLATERAL, &p, TIME).unwrap_err();
    assert!(matches!(&err, TeeError::Measurement { name: "MRTD", hint, .. } if hint.contains("empty")), "{err}");
    let mut p = policy();
    p.tdx.measurements[0].mrtd = "11".repeat(48);
    let err = check(QUOTE, COLLATERAL, &p, TIME).unwrap_err();
    assert!(matches!(err, TeeError::Measurement { name: "MRTD", hint: "", .. }), "{err}");
    let mut p = policy();
    p.tdx.measurements[0].rtmr3 = Some("11".repeat(48));
    let err = check(QUOTE, COLLATERAL, &p, TIME).unwrap_err();
    assert!(matches!(err, TeeError::Measurement { name: "RTMR3", .. }), "{err}");
}

#[test]
fn the_binding_check_fails() {
    let evidence = TeeEvidence { nonce: b"nonce".to_vec(), attestation: attestation(QUOTE, COLLATERAL) };
    let err = tee::verify(&evidence, &B256::repeat_byte(0x42), TIME, &policy()).unwrap_err();
    assert!(matches!(err, TeeError::Binding { .. }), "{err}");
}

#[test]
fn the_quote_as_shipped_fails_on_its_trailing_bytes_and_sgx_quotes_fail() {
    let err = check(QUOTE_AS_SHIPPED, COLLATERAL, &policy(), TIME).unwrap_err();
    assert!(matches!(&err, TeeError::Layout(m) if m.contains("signature data length")), "{err}");
    let err = check(SGX_QUOTE, SGX_COLLATERAL, &policy(), TIME).unwrap_err();
    assert!(matches!(&err, TeeError::Layout(m) if m.contains("SGX")), "{err}");
}

/// Flips `bit` at `position` and checks that the quote fails.
fn assert_flip_fails(quote: &mut [u8], position: usize, bit: u8, policy: &Policy) {
    quote[position] ^= 1 << bit;
    let result = check(quote, COLLATERAL, policy, TIME);
    assert!(result.is_err(), "a flip of bit {bit} at byte {position} of the quote was accepted");
    quote[position] ^= 1 << bit;
}

/// Every position of the quote, bit 0 and bit 7 (about 10 s in a debug build): every flip fails,
/// at the strict layout parser or at dcap-qvl.
#[test]
fn a_flipped_bit_at_every_position_of_the_quote_fails() {
    let policy = policy();
    let mut quote = QUOTE.to_vec();
    for position in 0..quote.len() {
        for bit in [0, 7] {
            assert_flip_fails(&mut quote, position, bit, &policy);
        }
    }
}

/// Every position of the quote, each of the 8 bits (about 40 s in a debug build):
/// `cargo test -p veritas-verifier --test it -- --ignored tee_tdx::`.
#[test]
#[ignore = "exhaustive over all 8 bits; run with --ignored"]
fn every_bit_of_the_quote_flipped_fails() {
    let policy = policy();
    let mut quote = QUOTE.to_vec();
    for position in 0..quote.len() {
        for bit in 0..8 {
            assert_flip_fails(&mut quote, position, bit, &policy);
        }
    }
}

/// Replaces the first occurrence of `from` in the collateral, which must be present.
fn collateral_with(from: &str, to: &str) -> Vec<u8> {
    let text = std::str::from_utf8(COLLATERAL).unwrap();
    assert!(text.contains(from), "{from} is not in the collateral");
    text.replacen(from, to, 1).into_bytes()
}

#[test]
fn the_collaterals_unsigned_parts_are_checked() {
    let policy = policy();
    let text = std::str::from_utf8(COLLATERAL).unwrap();
    let field = |name: &str| -> String {
        let start = text.find(&format!("\"{name}\": \"")).unwrap() + name.len() + 5;
        text[start..start + text[start..].find('"').unwrap()].to_string()
    };
    // pck_crl_issuer_chain, which dcap-qvl does not read: emptied, or replaced by the TCB
    // signing chain (valid PEM, the right root, but not the PCK CRL's issuer).
    let pck_crl_chain = field("pck_crl_issuer_chain");
    let tcb_chain = field("tcb_info_issuer_chain");
    for (replacement, expect_chain) in [("", false), (tcb_chain.as_str(), true)] {
        let collateral = collateral_with(&pck_crl_chain, replacement);
        let err = check(QUOTE, &collateral, &policy, TIME).unwrap_err();
        if expect_chain {
            assert!(matches!(&err, TeeError::Chain(m) if m.contains("pck_crl_issuer_chain")), "{err}");
        } else {
            assert!(matches!(&err, TeeError::Layout(m) if m.contains("pck_crl_issuer_chain")), "{err}");
        }
    }
    // The root copy in the issuer chains: a flipped base64 character inside it.
    let root_start = tcb_chain.find("\\n-----BEGIN").unwrap() + 2;
    let mut tampered_chain = tcb_chain.clone();
    let at = root_start + 200;
    let flipped = if &tampered_chain[at..=at] == "A" { "B" } else { "A" };
    tampered_chain.replace_range(at..=at, flipped);
    let collateral = text.replace(&tcb_chain, &tampered_chain).into_bytes();
    let err = check(QUOTE, &collateral, &policy, TIME).unwrap_err();
    assert!(matches!(err, TeeError::Layout(_) | TeeError::Chain(_)), "{err}");
    // A `\n` escape turned into `\f` in each issuer chain.
    for name in ["tcb_info_issuer_chain", "qe_identity_issuer_chain", "pck_crl_issuer_chain"] {
        let chain = field(name);
        let at = chain.rfind("\\n").unwrap();
        let mut tampered = chain.clone();
        tampered.replace_range(at..at + 2, "\\f");
        let collateral = text.replacen(&format!("\"{name}\": \"{chain}"), &format!("\"{name}\": \"{tampered}"), 1);
        let err = check(QUOTE, collateral.as_bytes(), &policy, TIME).unwrap_err();
        assert!(matches!(&err, TeeError::Layout(m) if m.contains(name)), "{name}: {err}");
    }
    // A PCK chain in the collateral, which dcap-qvl would prefer to the quote's own.
    let pck_chain = serde_json::to_string(&tcb_chain.replace("\\n", "\n")).unwrap();
    let collateral = collateral_with("{\n", &format!("{{\n  \"pck_certificate_chain\": {pck_chain},\n"));
    let err = check(QUOTE, &collateral, &policy, TIME).unwrap_err();
    assert!(matches!(&err, TeeError::Layout(m) if m.contains("pck_certificate_chain is given")), "{err}");
    // Unknown and repeated fields.
    let collateral = collateral_with("{\n", "{\n  \"note\": \"\",\n");
    let err = check(QUOTE, &collateral, &policy, TIME).unwrap_err();
    assert!(matches!(&err, TeeError::Layout(m) if m.contains("unknown field `note`")), "{err}");
    let root_ca_crl = field("root_ca_crl");
    let collateral = collateral_with("{\n", &format!("{{\n  \"root_ca_crl\": \"{root_ca_crl}\",\n"));
    let err = check(QUOTE, &collateral, &policy, TIME).unwrap_err();
    assert!(matches!(&err, TeeError::Layout(m) if m.contains("duplicate field `root_ca_crl`")), "{err}");
}

/// The collateral's values, not its layout, are what count: the same values written compactly,
/// with fields in another order, hex in uppercase, or with JSON's escapes for other characters,
/// verify; a null `pck_certificate_chain` is the same as none.
#[test]
fn the_collateral_verifies_in_any_json_layout_of_its_values() {
    let policy = policy();
    let value: serde_json::Value = serde_json::from_slice(COLLATERAL).unwrap();
    let serde_json::Value::Object(fields) = &value else { panic!("not an object") };
    let compact = serde_json::to_vec(&value).unwrap();
    let reversed: serde_json::Map<String, serde_json::Value> =
        fields.iter().rev().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut reversed_text = b"{".to_vec();
    for (i, (k, v)) in reversed.iter().enumerate() {
        if i > 0 {
            reversed_text.push(b',');
        }
        reversed_text.extend(format!("\n\t{}:\t{}", serde_json::to_string(k).unwrap(), v).bytes());
    }
    reversed_text.extend(b"\n}\n");
    let mut upper = fields.clone();
    for name in ["root_ca_crl", "pck_crl", "tcb_info_signature", "qe_identity_signature"] {
        let hex = upper[name].as_str().unwrap().to_uppercase();
        upper.insert(name.into(), hex.into());
    }
    let upper = serde_json::to_vec_pretty(&upper).unwrap();
    // `\u002d` for each `-` of the PEM armour, `\/` for `/`.
    let escaped = String::from_utf8(compact.clone()).unwrap().replace("-----", "\\u002d----").replace('/', "\\/");
    let mut with_null = fields.clone();
    with_null.insert("pck_certificate_chain".into(), serde_json::Value::Null);
    let with_null = serde_json::to_vec(&with_null).unwrap();
    for (name, collateral) in [
        ("compact", compact),
        ("reversed", reversed_text),
        ("uppercase hex", upper),
        ("escaped", escaped.into_bytes()),
        ("null pck_certificate_chain", with_null),
    ] {
        assert_ne!(collateral, COLLATERAL, "{name}");
        check(QUOTE, &collateral, &policy, TIME).unwrap_or_else(|err| panic!("{name}: {err}"));
    }
}

/// The collateral's values as dcap-qvl reads them (hex decoded to bytes), or `None` where
/// dcap-qvl does not read it.
fn collateral_values(json: &[u8]) -> Option<dcap_qvl::QuoteCollateralV3> {
    serde_json::from_slice(json).ok()
}

/// Every position of the collateral, bits 0 and 5 (5 turns hex letters into the other case):
/// a flip that dcap-qvl reads as the same values may verify, and does; every flip that changes a
/// value, or that dcap-qvl cannot read, fails.
#[test]
fn a_flipped_bit_of_the_collateral_fails_unless_the_values_stay_the_same() {
    let policy = policy();
    let original = collateral_values(COLLATERAL).unwrap();
    let mut collateral = COLLATERAL.to_vec();
    let mut same_values = 0;
    for position in 0..collateral.len() {
        for bit in [0, 5] {
            collateral[position] ^= 1 << bit;
            let result = check(QUOTE, &collateral, &policy, TIME);
            if collateral_values(&collateral).as_ref() == Some(&original) {
                same_values += 1;
                assert!(
                    result.is_ok(),
                    "a flip of bit {bit} at byte {position} keeps the values but failed: {result:?}"
                );
            } else {
                assert!(result.is_err(), "a flip of bit {bit} at byte {position} changes a value but was accepted");
            }
            collateral[position] ^= 1 << bit;
        }
    }
    // The hex digits a–f of the CRLs and signatures, each flipped to uppercase.
    assert!(same_values > 1000, "only {same_values} flips kept the values");
}

/// The v5 vector's policy: its MRTD, every TCB status, every flag: nothing but the quote itself
/// can fail it.
fn v5_policy() -> Policy {
    let mut p = policy();
    p.tdx.measurements[0] = TdxMeasurement { mrtd: V5_MRTD.into(), rtmr0: None, rtmr1: None, rtmr2: None, rtmr3: None };
    p.tdx.tcb_statuses = [
        "UpToDate",
        "SWHardeningNeeded",
        "ConfigurationNeeded",
        "ConfigurationAndSWHardeningNeeded",
        "OutOfDate",
        "OutOfDateConfigurationNeeded",
    ]
    .map(String::from)
    .to_vec();
    p
}

/// The error the v5 vector fails with at `time`.
fn v5_error(quote: &[u8], time: u64) -> TeeError {
    check(quote, V5_COLLATERAL, &v5_policy(), time).unwrap_err()
}

#[test]
fn the_v5_quote_verifies_up_to_its_tcb_level_which_its_collateral_lacks() {
    // Inside its window: the layout, the collateral's compact JSON, the QE and PCK chains and
    // every signature hold; the platform's TCB matches no level of the TCB info.
    for time in [V5_TIME, V5_WINDOW.0, V5_WINDOW.1 - 1] {
        let err = v5_error(V5_QUOTE, time);
        assert!(matches!(&err, TeeError::Quote(m) if m.contains("No matching TCB level")), "at {time}: {err}");
    }
    // Before the window, and after the TCB info and QE identity expire (2026-03-20T10:58:51Z;
    // between the PCK CRL's expiry at the window's end and then, dcap-qvl stops at the missing
    // TCB level before the window is checked).
    for time in [V5_WINDOW.0 - 1, 1_774_004_332, 1_780_272_000] {
        let err = v5_error(V5_QUOTE, time);
        assert!(matches!(err, TeeError::Time(_)), "at {time}: {err}");
    }
}

#[test]
fn the_v5_layout_is_checked_before_dcap_qvl() {
    let flipped = |at: usize, mask: u8| {
        let mut quote = V5_QUOTE.to_vec();
        quote[at] ^= mask;
        v5_error(&quote, V5_TIME)
    };
    // Body type 3 → 1 (SGX) and → 4 (TD report 1.5 with the service-TD extension).
    for mask in [2, 7] {
        let err = flipped(48, mask);
        assert!(matches!(&err, TeeError::Layout(m) if m.contains("body type")), "{err}");
    }
    // Body type 3 → 2: a TD report 1.0 declared, 648 bytes given.
    let err = flipped(48, 1);
    assert!(matches!(&err, TeeError::Layout(m) if m.contains("body size 648 for body type 2")), "{err}");
    let err = flipped(50, 1);
    assert!(matches!(&err, TeeError::Layout(m) if m.contains("body size 649")), "{err}");
    // Version 5 → 4: the body descriptor is read as the report, and the lengths no longer add up.
    let err = flipped(0, 1);
    assert!(matches!(&err, TeeError::Layout(m) if m.contains("signature data length")), "{err}");
    // MRSERVICETD, the last 48 bytes of the TD report 1.5, not zero.
    let err = flipped(V5_BODY + 648 - 1, 1);
    assert!(matches!(&err, TeeError::Platform(m) if m.contains("MRSERVICETD")), "{err}");
}

/// Every position of the v5 quote, bit 0 and bit 7 (about 10 s in a debug build): no flip leaves
/// the verdict where it was (a missing TCB level), so every byte is checked before it.
#[test]
fn a_flipped_bit_anywhere_in_the_v5_quote_fails_earlier() {
    let unflipped = v5_error(V5_QUOTE, V5_TIME);
    let mut quote = V5_QUOTE.to_vec();
    for position in 0..quote.len() {
        for bit in [0, 7] {
            quote[position] ^= 1 << bit;
            let err = v5_error(&quote, V5_TIME);
            assert_ne!(err, unflipped, "a flip of bit {bit} at byte {position} of the v5 quote went unnoticed");
            quote[position] ^= 1 << bit;
        }
    }
}

/// The policy Open Enclave's v5 quote passes: its MRTD (and RTMR3, all zero), its TCB status and
/// advisories, and the two platform flags its PCK certificate sets (dynamic platform, SMT; not
/// cached keys).
fn oe_policy() -> Policy {
    let mut p = policy();
    p.tdx.measurements[0].mrtd = OE_MRTD.into();
    p.tdx.tcb_statuses = vec![OE_STATUS.into()];
    p.tdx.advisories = OE_ADVISORIES.map(String::from).to_vec();
    p.tdx.allow_cached_keys = false;
    p
}

#[test]
fn the_oe_v5_quote_verifies_at_its_time_and_inside_its_window() {
    for time in [OE_TIME, OE_WINDOW.0, OE_WINDOW.1] {
        let (report, bound) = tee::verify_attestation(&attestation(OE_QUOTE, OE_COLLATERAL), &oe_policy(), time)
            .unwrap_or_else(|err| panic!("at {time}: {err}"));
        assert_eq!(report.kind, tee::TeeKind::Tdx);
        assert!(!report.insecure);
        assert_eq!(report.tcb_status.as_deref(), Some(OE_STATUS));
        assert_eq!(report.advisories, OE_ADVISORIES);
        assert_eq!(report.measurements[0], ("MRTD".to_string(), OE_MRTD.to_string()));
        assert_eq!(report.measurements[1], ("RTMR3".to_string(), "00".repeat(48)));
        assert!(report.vendor_root.contains(tee::INTEL_SGX_ROOT_CA_SHA256));
        assert_eq!(veritas_primitives::hex::encode(&bound), format!("{}{}", OE_REPORT_DATA, "00".repeat(32)));
    }
    // Intel's collateral for the same FMSPC a year later, published with dcap-qvl's v5 quote:
    // the same TCB levels for this platform, so the same verdict inside that window.
    let report = check(OE_QUOTE, V5_COLLATERAL, &oe_policy(), V5_TIME).unwrap();
    assert_eq!(report.tcb_status.as_deref(), Some(OE_STATUS));
}

#[test]
fn the_oe_v5_quote_fails_outside_its_window_and_against_a_binding() {
    for time in [OE_WINDOW.0 - 1, OE_WINDOW.1 + 1, OE_WINDOW.1 + 86_400, V5_TIME - 86_400 * 30, 1_780_272_000] {
        let err = check(OE_QUOTE, OE_COLLATERAL, &oe_policy(), time).unwrap_err();
        assert!(matches!(err, TeeError::Time(_)), "at {time}: {err}");
    }
    let evidence = TeeEvidence { nonce: b"nonce".to_vec(), attestation: attestation(OE_QUOTE, OE_COLLATERAL) };
    let err = tee::verify(&evidence, &B256::repeat_byte(0x42), OE_TIME, &oe_policy()).unwrap_err();
    assert!(matches!(err, TeeError::Binding { .. }), "{err}");
}

/// Each part of the policy the OE quote needs, left out, fails naming it.
#[test]
fn the_oe_v5_quote_needs_its_status_advisories_flags_and_mrtd() {
    let fails = |p: &Policy, what: &str| {
        let err = check(OE_QUOTE, OE_COLLATERAL, p, OE_TIME).unwrap_err();
        assert!(err.to_string().contains(what), "expected {what:?}: {err}");
        err
    };
    let mut p = oe_policy();
    p.tdx.tcb_statuses = TdxPolicy::default().tcb_statuses;
    assert!(matches!(fails(&p, "TCB status TDRelaunchAdvised"), TeeError::Platform(_)));
    for open in OE_ADVISORIES {
        let mut p = oe_policy();
        p.tdx.advisories.retain(|id| id != open);
        assert!(matches!(fails(&p, open), TeeError::Platform(_)));
    }
    let mut p = oe_policy();
    p.tdx.allow_dynamic_platform = false;
    assert!(matches!(fails(&p, "dynamic platform"), TeeError::Platform(_)));
    let mut p = oe_policy();
    p.tdx.allow_smt = false;
    assert!(matches!(fails(&p, "SMT"), TeeError::Platform(_)));
    let mut p = oe_policy();
    p.tdx.measurements[0].mrtd = V5_MRTD.into();
    assert!(matches!(fails(&p, "MRTD"), TeeError::Measurement { name: "MRTD", .. }));
    // The default policy (UpToDate only, no flags, an empty allowlist) stops at the status.
    assert!(matches!(fails(&Policy::default(), "TCB status"), TeeError::Platform(_)));
}

/// Every position of the OE v5 quote, bit 0 and bit 7 (about 10 s in a debug build): every flip
/// fails, at the strict layout parser, the MRSERVICETD check, dcap-qvl or the policy.
#[test]
fn a_flipped_bit_at_every_position_of_the_oe_v5_quote_fails() {
    let policy = oe_policy();
    let mut quote = OE_QUOTE.to_vec();
    for position in 0..quote.len() {
        for bit in [0, 7] {
            quote[position] ^= 1 << bit;
            let result = check(&quote, OE_COLLATERAL, &policy, OE_TIME);
            assert!(result.is_err(), "a flip of bit {bit} at byte {position} of the OE v5 quote was accepted");
            quote[position] ^= 1 << bit;
        }
    }
}
