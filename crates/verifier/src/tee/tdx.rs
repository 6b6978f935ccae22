//! Intel TDX DCAP quotes with their collateral.

use super::{TeeError, TeeReport, TeeResult, policy::TdxPolicy};

pub(super) fn verify(
    _quote: &[u8],
    _collateral: &[u8],
    _policy: &TdxPolicy,
    _time: u64,
) -> TeeResult<(TeeReport, Vec<u8>)> {
    Err(TeeError::Layout("tdx quotes are not verified by this build yet".into()))
}
