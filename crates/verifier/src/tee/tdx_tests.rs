//! Tests of the DCAP platform policy on the SGX vector (which `tee-tdx` evidence rejects as a
//! whole): its TCB status `ConfigurationAndSWHardeningNeeded` and advisories fail a strict policy
//! and pass only one that allows them.

use super::super::{TeeError, dcap, policy::TdxPolicy, tdx_layout};

const SGX_QUOTE: &[u8] = include_bytes!("../../tests/vectors/tee/sgx_quote");
const SGX_COLLATERAL: &[u8] = include_bytes!("../../tests/vectors/tee/sgx_quote_collateral.json");
const TIME: u64 = 1_751_328_000;

#[test]
fn the_sgx_vector_passes_the_layout_but_its_tcb_status_needs_the_policy() {
    let layout = tdx_layout::parse(SGX_QUOTE).unwrap();
    assert_eq!(layout.kind, tdx_layout::QuoteKind::Sgx);
    let claims = dcap::verify(SGX_QUOTE, &layout, SGX_COLLATERAL, TIME).unwrap();
    let err = dcap::platform(&claims, &TdxPolicy::default()).unwrap_err();
    assert!(matches!(&err, TeeError::Platform(m) if m.contains("ConfigurationAndSWHardeningNeeded")), "{err}");
    let mut policy =
        TdxPolicy { tcb_statuses: vec!["ConfigurationAndSWHardeningNeeded".into()], ..TdxPolicy::default() };
    let err = dcap::platform(&claims, &policy).unwrap_err();
    assert!(matches!(&err, TeeError::Platform(m) if m.contains("advisory INTEL-SA-")), "{err}");
    policy.advisories = vec!["INTEL-SA-00289".into(), "INTEL-SA-00615".into()];
    let (status, advisories) = dcap::platform(&claims, &policy).unwrap();
    assert_eq!(status, "ConfigurationAndSWHardeningNeeded");
    assert_eq!(advisories.len(), 2);
}

#[test]
fn the_sgx_vector_fails_outside_its_collateral_window() {
    let layout = tdx_layout::parse(SGX_QUOTE).unwrap();
    // Window: 2025-06-19T10:56:11Z – 2025-07-19T10:01:18Z.
    for time in [1_750_330_571 - 1, 1_752_919_278 + 1] {
        let err = dcap::verify(SGX_QUOTE, &layout, SGX_COLLATERAL, time).unwrap_err();
        assert!(matches!(err, TeeError::Time(_)), "{err}");
    }
    dcap::verify(SGX_QUOTE, &layout, SGX_COLLATERAL, 1_750_330_571).unwrap();
    dcap::verify(SGX_QUOTE, &layout, SGX_COLLATERAL, 1_752_919_278 - 1).unwrap();
}

#[test]
fn the_layout_reads_quote_v4_and_v5_td_reports() {
    const V4: &[u8] = include_bytes!("../../tests/vectors/tee/tdx_quote.trimmed");
    const V5: &[u8] = include_bytes!("../../tests/vectors/tee/tdx_v5_quote");
    let v4 = tdx_layout::parse(V4).unwrap();
    assert_eq!((v4.kind, v4.mr_service_td), (tdx_layout::QuoteKind::Tdx, None));
    let v5 = tdx_layout::parse(V5).unwrap();
    assert_eq!((v5.kind, v5.mr_service_td), (tdx_layout::QuoteKind::Tdx, Some([0; 48])));
    assert_eq!(v4.pck_chain[2], v5.pck_chain[2]);
}
