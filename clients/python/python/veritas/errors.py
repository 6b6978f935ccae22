"""The SDK's exceptions: every failure is a `VeritasError`, typed by what a program does next."""

from __future__ import annotations

from typing import Any, Optional


class VeritasError(Exception):
    """Anything that went wrong talking to a veritas network or checking its answers."""


class InvalidReceipt(VeritasError):
    """An answer whose receipt does not hold, or is not about the answer shown.

    `check` names the failed check: the verifier's (`receipt`, `signature`, `model`, `input`,
    `output`, `params`, `verdict`, `quorum`, `batch`, `tee`, `zk`) or the client's own
    (`answer`: the content or output shown is not what the receipt signs; `nonce`: a `tee`
    attestation bound to another request; `mode`: a `zk` answer without a proof; `chain`: the
    batch is not recorded on chain).
    """

    def __init__(self, check: str, reason: str, receipt_id: Optional[str] = None):
        super().__init__(f"invalid receipt ({check}): {reason}")
        self.check = check
        self.reason = reason
        self.receipt_id = receipt_id


class NotVerifiedYet(VeritasError):
    """A receipt that holds but did not reach the level asked for (`quorum`, `settled`) in time."""

    def __init__(self, receipt_id: str, badge: str, required: str, waited: float):
        super().__init__(f"receipt {receipt_id} is {badge}, not {required}, after {waited:.0f} s")
        self.receipt_id = receipt_id
        self.badge = badge
        self.required = required


class Unreachable(VeritasError):
    """No gateway answered: every URL failed to connect or timed out, retries included."""

    def __init__(self, urls: list[str], reason: str):
        super().__init__(f"no gateway answered ({', '.join(urls)}): {reason}")
        self.urls = urls
        self.reason = reason


class ApiError(VeritasError):
    """The gateway refused the request: `status` (None for an error inside a stream), the
    stable `code` (`unknown_model`, `bad_request`, …) and its `message`."""

    def __init__(self, status: Optional[int], code: str, message: str, body: Optional[dict] = None):
        super().__init__(f"{code}: {message}" + (f" (HTTP {status})" if status else ""))
        self.status = status
        self.code = code
        self.message = message
        self.body = body or {}


class Unauthorized(ApiError):
    """401/403: an unknown API key, a bad signature, or a route this caller may not use."""


class InsufficientFunds(ApiError):
    """402: the paying account cannot cover the request. Amounts are integers in the token's
    smallest unit: `balance` (escrow this gateway may charge), `committed` (owed by unsettled
    requests) and `price` (of this request)."""

    def __init__(self, status: Optional[int], code: str, message: str, body: Optional[dict] = None):
        super().__init__(status, code, message, body)
        funds: dict[str, Any] = ((body or {}).get("error") or {}).get("funds") or {}
        self.account: Optional[str] = funds.get("account")
        self.balance: Optional[int] = _int(funds.get("balance"))
        self.committed: Optional[int] = _int(funds.get("committed"))
        self.price: Optional[int] = _int(funds.get("price"))


class RateLimited(ApiError):
    """429 `rate_limited`: come back in `retry_after` seconds (None when the gateway named none)."""

    def __init__(
        self,
        status: Optional[int],
        code: str,
        message: str,
        body: Optional[dict] = None,
        retry_after: Optional[float] = None,
    ):
        super().__init__(status, code, message, body)
        self.retry_after = retry_after


class Overloaded(RateLimited):
    """503 `overloaded`: the gateway has no capacity now; come back in `retry_after` seconds."""


def _int(text: Any) -> Optional[int]:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None
