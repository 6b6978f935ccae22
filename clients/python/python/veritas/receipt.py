"""Receipts as the node sent them (their JSON text) and what the Rust verifier says of them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from . import _native
from .errors import InvalidReceipt

#: The levels `require=` accepts, weakest first: the receipt holds (`signed`), a quorum of
#: validators judged it valid (`quorum`), its batch is settled on chain (`settled`).
LEVELS = ("signed", "quorum", "settled")
_BADGES_AT = {"signed": ("pending", "verified", "settled"), "quorum": ("verified", "settled"), "settled": ("settled",)}


class Receipt:
    """A receipt: `text` is its JSON exactly as the node sent it, which is what gets verified;
    `data` is that text parsed, for reading."""

    def __init__(self, text: str):
        self.text = text
        self.data: dict[str, Any] = json.loads(text)

    @classmethod
    def of(cls, receipt: Union["Receipt", str, bytes, dict]) -> "Receipt":
        """A receipt from its JSON text (preferred), bytes, or a parsed dict (re-serialised: a
        float parameter such as `1.0` may then no longer hash as signed)."""
        if isinstance(receipt, Receipt):
            return receipt
        if isinstance(receipt, bytes):
            return cls(receipt.decode())
        if isinstance(receipt, dict):
            return cls(json.dumps(receipt))
        return cls(receipt)

    @property
    def claim(self) -> dict[str, Any]:
        return self.data.get("claim") or {}

    @property
    def mode(self) -> Optional[str]:
        return self.claim.get("mode")

    @property
    def model_id(self) -> Optional[str]:
        return self.claim.get("model_id")

    @property
    def output(self) -> Any:
        """The signed output (`body.output`)."""
        return (self.data.get("body") or {}).get("output")

    @property
    def text_output(self) -> Optional[str]:
        """A language model's signed answer text (`body.output.text.data[0]`)."""
        try:
            return self.output["text"]["data"][0]
        except (KeyError, IndexError, TypeError):
            return None

    def __repr__(self) -> str:
        return f"Receipt(mode={self.mode!r}, model_id={self.model_id!r})"


@dataclass
class Verification:
    """What the verifier found: `badge` (`pending`, `verified`, `settled`), the receipt id,
    worker, model id, mode and its guarantee, each check made, and for a `tee` claim the
    attestation's `tee` report (`insecure` for the simulated enclave, labelled UNTRUSTED /
    SIMULATED), for a `zk` claim the proof's `zk` report."""

    badge: str
    receipt_id: str
    model_id: str
    mode: str
    guarantee: str
    checks: list[dict[str, Any]]
    tee: Optional[dict[str, Any]] = None
    zk: Optional[dict[str, Any]] = None
    confidential: bool = False
    chain_check: Optional[dict[str, Any]] = None
    report: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def insecure(self) -> bool:
        """True for a simulated enclave's attestation: it proves nothing beyond the signature."""
        return bool(self.tee and self.tee.get("insecure"))

    def meets(self, require: str) -> bool:
        """Whether the badge reaches a level of `LEVELS`."""
        return self.badge in _BADGES_AT[require]


def describe(receipt: Union[Receipt, str], tee_policy: Union[str, dict, None] = None) -> dict[str, Any]:
    """The verifier's report as a dict, never raising: `badge` is `invalid` with `error` and
    `failed_check` when the receipt does not hold."""
    text = receipt.text if isinstance(receipt, Receipt) else receipt
    policy = json.dumps(tee_policy) if isinstance(tee_policy, dict) else (tee_policy or "")
    return json.loads(_native.describe(text, policy))


def verify(
    receipt: Union[Receipt, str, bytes, dict],
    tee_policy: Union[str, dict, None] = None,
    model_id: Optional[str] = None,
) -> Verification:
    """Verifies a receipt offline (signature, model id, hashes, verdicts and their quorum
    against the receipt's registry snapshot, the batch's Merkle path, a `zk` proof, a `tee`
    attestation under `tee_policy`, which by default accepts no enclave). Raises
    `InvalidReceipt` naming the failed check; optionally requires the model id."""
    receipt = Receipt.of(receipt)
    report = describe(receipt, tee_policy)
    if report.get("badge") == "invalid":
        raise InvalidReceipt(report.get("failed_check") or "receipt", report.get("error") or "invalid")
    verification = Verification(
        badge=report["badge"],
        receipt_id=report["receipt_id"],
        model_id=report["model_id"],
        mode=report["mode"],
        guarantee=report.get("guarantee", ""),
        checks=report.get("checks") or [],
        tee=report.get("tee"),
        zk=report.get("zk"),
        confidential=bool(report.get("confidential")),
        chain_check=report.get("chain_check"),
        report=report,
    )
    if model_id is not None and verification.model_id != model_id:
        raise InvalidReceipt("model", f"the receipt is for model {verification.model_id}, not {model_id}", verification.receipt_id)
    return verification

