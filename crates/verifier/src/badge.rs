//! What a person is shown about a receipt: one badge (pending, verified, settled or invalid)
//! and the checks behind it, decided here from the receipt alone, so that a browser running this
//! crate as WebAssembly takes nobody's word for it.

use serde_json::{Value, json};

use crate::{Expectations, Report, VerifyResult, verify_receipt};

/// A receipt's state, as far as its own contents prove it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Badge {
    /// It holds, but carries no quorum that could be counted (verdicts still being collected).
    Pending,
    /// It holds and a quorum of validator stake, counted against the receipt's registry
    /// snapshot, judged it valid.
    Verified,
    /// Verified, and included in a settled batch (its Merkle path leads to the batch root; that
    /// the root is on chain is a question for the chain).
    Settled,
    /// Something in it does not hold: a signature, a hash, a verdict, the quorum or the path.
    Invalid,
}

impl Badge {
    /// The badge's name: `pending`, `verified`, `settled` or `invalid`.
    pub fn name(self) -> &'static str {
        match self {
            Badge::Pending => "pending",
            Badge::Verified => "verified",
            Badge::Settled => "settled",
            Badge::Invalid => "invalid",
        }
    }
}

fn performed(report: &Report, name: &str) -> bool {
    report.checks.iter().any(|check| check.name == name && check.performed)
}

/// The badge of a verification's outcome.
pub fn badge(result: &VerifyResult<Report>) -> Badge {
    match result {
        Err(_) => Badge::Invalid,
        Ok(report) if !performed(report, "quorum") => Badge::Pending,
        Ok(report) if performed(report, "batch") => Badge::Settled,
        Ok(_) => Badge::Verified,
    }
}

/// Verifies a receipt's JSON, `tee` claims under `tee_policy`, and describes the outcome as JSON
/// for a user interface: `{"badge", "error"?, "failed_check"?, "receipt_id", "worker", "model_id", "mode",
/// "guarantee", "checks": [{"name", "detail", "performed"}], "chain_check"?, "tee"?,
/// "confidential"}` (`confidential`: the input and output were sealed to the enclave, and the
/// receipt holds only commitments to them). A `tee`
/// claim's `tee` is `{"label", "insecure", "assumptions"}`: the label of the simulated enclave
/// is `UNTRUSTED / SIMULATED`, and an interface shows it wherever it shows the badge.
///
/// A settled receipt's `chain_check` (`{"chain_id", "to", "data"}`) is the `eth_call` that asks
/// the settlement contract whether the batch root is recorded and the receipt is in it: what
/// the receipt alone cannot prove, a client confirms with the chain it trusts.
pub fn describe_json(receipt_json: &[u8], tee_policy: &crate::tee::Policy) -> Value {
    let receipt = serde_json::from_slice::<veritas_primitives::Receipt>(receipt_json);
    let expect = Expectations { tee_policy: tee_policy.clone().into(), ..Expectations::default() };
    let result = match &receipt {
        Ok(receipt) => verify_receipt(receipt, &expect),
        Err(err) => Err(crate::VerifyError::Malformed(err.to_string())),
    };
    let badge = badge(&result);
    let chain_check = match (&receipt, badge) {
        (Ok(receipt), Badge::Settled) => receipt.settlement.as_ref().map(|settlement| {
            let data = veritas_primitives::is_settled_calldata(settlement, &receipt.id());
            json!({
                "chain_id": settlement.chain_id,
                "to": settlement.contract,
                "data": format!("0x{}", veritas_primitives::hex::encode(data)),
            })
        }),
        _ => None,
    };
    let badge = badge.name();
    match result {
        Err(err) => json!({"badge": badge, "error": err.to_string(), "failed_check": err.check()}),
        Ok(report) => json!({
            "chain_check": chain_check,
            "tee": report.tee.as_ref().map(|tee| json!({
                "label": tee.label(),
                "insecure": tee.insecure,
                "assumptions": tee.assumptions(),
                "nonce": report.tee_nonce.as_ref().map(veritas_primitives::hex::encode),
            })),
            "zk": report.zk.as_ref().map(|zk| json!({
                "commitment": zk.commitment,
                "security_bits": zk.security_bits,
                "proof_bytes": zk.proof_bytes,
                "layers": zk.layers,
                "proven": crate::zk::PROVEN,
                "reveals": crate::zk::REVEALS,
            })),
            "confidential": report.confidential,
            "badge": badge,
            "receipt_id": report.receipt_id,
            "worker": report.worker,
            "model_id": report.model_id.to_string(),
            "mode": report.mode,
            "guarantee": report.guarantee(),
            "checks": report
                .checks
                .iter()
                .map(|c| json!({"name": c.name, "detail": c.detail, "performed": c.performed}))
                .collect::<Vec<_>>(),
        }),
    }
}
