"""What the sync and async clients share, without I/O: error mapping, the retry policy, and the
checks that make an answer "verified" (the same as the CLI's)."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from . import _native, _raw
from .errors import (
    ApiError,
    InsufficientFunds,
    InvalidReceipt,
    Overloaded,
    RateLimited,
    Unauthorized,
)
from .receipt import LEVELS, Receipt, Verification, verify

#: Statuses worth another try (before any byte of an answer was read): the gateway asked us to
#: wait, or a proxy in front of it could not reach it.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: The longest wait between tries that the client accepts from a `retry_after`; a gateway that
#: asks for more gets its error raised instead.
MAX_RETRY_WAIT = 10.0


def error_from(status: Optional[int], text: str, headers: Optional[Mapping[str, str]] = None) -> ApiError:
    """The typed exception of an error answer (`{"error": {"code", "message", …}}`)."""
    try:
        body = json.loads(text) if text else {}
    except ValueError:
        body = {}
    detail = body.get("error") if isinstance(body, dict) else None
    if not isinstance(detail, dict):
        detail, body = {"code": f"http_{status}", "message": text[:200] or "no body"}, {}
    code = str(detail.get("code") or f"http_{status}")
    message = str(detail.get("message") or "")
    retry_after = detail.get("retry_after")
    if retry_after is None and headers is not None and headers.get("retry-after", "").isdigit():
        retry_after = int(headers["retry-after"])
    if code == "insufficient_funds" or status == 402:
        return InsufficientFunds(status, code, message, body)
    if code == "overloaded" or status == 503:
        return Overloaded(status, code, message, body, retry_after)
    if code == "rate_limited" or status == 429:
        return RateLimited(status, code, message, body, retry_after)
    if status in (401, 403):
        return Unauthorized(status, code, message, body)
    return ApiError(status, code, message, body)


def backoff(attempt: int, base: float, error: Optional[Exception]) -> float:
    """Seconds to wait before try `attempt + 1`: what the gateway asked for, else exponential."""
    asked = getattr(error, "retry_after", None)
    if asked is not None:
        return float(asked)
    return min(base * (2**attempt), MAX_RETRY_WAIT)


def is_model_id(model: str) -> bool:
    """Whether a model reference is a model id (a CIDv1, `bagaaiera…`) rather than a name."""
    return model.startswith("bagaa") and "@" not in model and len(model) > 40


def fresh_nonce() -> str:
    """A request nonce: 32 random bytes, hex."""
    return secrets.token_hex(32)


def sign(account_key: str, network: Mapping[str, Any], method: str, path: str, body: bytes) -> dict[str, str]:
    """The `X-Veritas-*` headers of a request signed by `account_key` for this gateway."""
    gateway = network.get("gateway")
    if not gateway:
        raise ApiError(None, "not_a_gateway", "signed requests go to the network's gateway; this node is none")
    chain_id = int(network["claim_domain"]["chain_id"])
    return dict(_native.sign_request(account_key, chain_id, gateway, method, path, int(time.time()), fresh_nonce(), body))


@dataclass
class InferResult:
    """An ONNX answer: `output` (named values), its `receipt`, and what verifying it found
    (`verification`, None when verification was turned off)."""

    output: dict[str, Any]
    receipt_id: str
    receipt: Receipt
    model: dict[str, Any]
    verification: Optional[Verification]


@dataclass
class ChatResult:
    """A chat answer: `content`, `finish_reason`, `usage`, its `receipt` and `verification`."""

    content: str
    finish_reason: Optional[str]
    usage: Optional[dict[str, Any]]
    receipt_id: str
    receipt: Receipt
    verification: Optional[Verification]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass
class ChatChunk:
    """One streamed chunk: `content` (the text it adds), `finish_reason`, and on the last one
    the answer's `receipt` and `verification`."""

    content: str
    finish_reason: Optional[str]
    raw: dict[str, Any] = field(repr=False)
    receipt: Optional[Receipt] = None
    verification: Optional[Verification] = None


def check_level(require: Optional[str]) -> Optional[str]:
    if require is not None and require not in LEVELS:
        raise ValueError(f"require must be one of {LEVELS}, got {require!r}")
    return require


def check_receipt(
    receipt: Receipt,
    tee_policy: Any,
    model: Optional[str],
    mode: Optional[str],
    nonce: Optional[str],
) -> Verification:
    """An answer's receipt holds under the policy, for the model asked when asked by id, with a
    `zk` proof when `zk` was asked, and a `tee` attestation bound to the nonce this client sent."""
    verification = verify(receipt, tee_policy, model if model and is_model_id(model) else None)
    if mode is not None and verification.mode != mode:
        raise InvalidReceipt("mode", f"asked for mode {mode}, the receipt's claim is {verification.mode}", verification.receipt_id)
    if mode == "zk" and not verification.zk:
        raise InvalidReceipt("zk", "the node answered a zk request without a proof", verification.receipt_id)
    if nonce is not None and verification.mode == "tee":
        bound = (verification.tee or {}).get("nonce")
        if bound != nonce:
            raise InvalidReceipt("nonce", "the attestation does not bind the nonce this client sent", verification.receipt_id)
    return verification


def check_infer(receipt: Receipt, verification: Verification, answer: dict[str, Any], sent: Any) -> None:
    """The answer is the one its receipt signs: the model named is the receipt's, the input is
    the one sent, the output shown is the signed output."""
    model_id = (answer.get("model") or {}).get("id")
    if model_id != verification.model_id:
        raise InvalidReceipt("model", "the model the node names is not the one its receipt signs", verification.receipt_id)
    reason = _native.check_answer(receipt.text, json.dumps(sent), json.dumps(answer.get("output")))
    if reason is not None:
        check = "input" if "input" in reason else "answer"
        raise InvalidReceipt(check, reason, verification.receipt_id)


TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"


def read_tool_calls(text: str) -> tuple:
    """A chat text's content and its tool calls `[(name, arguments)]`, read as the node reads
    the text it signs (`<tool_call>{"name", "arguments"}</tool_call>` blocks)."""
    content, calls, rest = [], [], text
    while True:
        start = rest.find(TOOL_CALL_OPEN)
        if start < 0:
            if not calls:
                content.append(rest)
            break
        if rest[:start].strip():
            content.append(rest[:start])
        end = rest.find(TOOL_CALL_CLOSE, start + len(TOOL_CALL_OPEN))
        if end < 0:
            if not calls:
                content.append(rest[start:])
            break
        body = rest[start + len(TOOL_CALL_OPEN) : end].strip()
        try:
            call = json.loads(body)
            name, arguments = call["name"], call["arguments"]
            if not isinstance(name, str):
                raise ValueError(name)
            calls.append((name, arguments if isinstance(arguments, str) else json.dumps(arguments)))
        except (ValueError, KeyError, TypeError):
            content.append(f"{TOOL_CALL_OPEN}\n{body}\n{TOOL_CALL_CLOSE}")
        rest = rest[end + len(TOOL_CALL_CLOSE) :]
    return "".join(content).rstrip(), calls


def _same_arguments(shown: str, signed: str) -> bool:
    try:
        return json.loads(shown) == json.loads(signed)
    except ValueError:
        return False


def check_text(receipt: Receipt, verification: Verification, content: str, calls: Sequence = ()) -> None:
    """The text shown, and the tool calls `[(name, arguments)]` shown, are what the receipt signs."""
    signed = receipt.text_output
    if signed is None:
        raise InvalidReceipt("answer", "the receipt signs no text output", verification.receipt_id)
    if not calls and signed == content:
        return
    signed_content, signed_calls = read_tool_calls(signed)
    same = (
        signed_content == content
        and len(calls) == len(signed_calls)
        and all(name == signed_name and _same_arguments(arguments, signed_arguments)
                for (name, arguments), (signed_name, signed_arguments) in zip(calls, signed_calls))
    )
    if not same:
        raise InvalidReceipt("answer", "the content shown is not the text the receipt signs", verification.receipt_id)


def message_calls(message: dict) -> list:
    """The tool calls of an answer's message (JSON), as `[(name, arguments)]`."""
    return [(c["function"]["name"], c["function"]["arguments"]) for c in (message.get("tool_calls") or [])]


class StreamedCalls:
    """Tool calls reassembled from streamed deltas (JSON), by index."""

    def __init__(self) -> None:
        self.calls: dict = {}

    def add(self, deltas: Optional[list]) -> None:
        for delta in deltas or []:
            function = delta.get("function") or {} if isinstance(delta, dict) else {}
            index = delta.get("index", 0) if isinstance(delta, dict) else 0
            name, arguments = self.calls.get(index, ("", ""))
            self.calls[index] = (name + (function.get("name") or ""), arguments + (function.get("arguments") or ""))

    def list(self) -> list:
        return [self.calls[i] for i in sorted(self.calls)]


def receipt_in(text: str, *path: str) -> Receipt:
    """The receipt at `path` of an answer's JSON text, as its exact text."""
    raw = _raw.member(text, *path)
    if raw is None or raw == "null":
        raise InvalidReceipt("receipt", f"the answer carries no receipt at {'.'.join(path)}")
    return Receipt(raw)


def chat_body(model: str, messages: list, stream: bool, options: dict[str, Any]) -> dict[str, Any]:
    body = {"model": model, "messages": messages, "stream": stream}
    body.update({key: value for key, value in options.items() if value is not None})
    return body


def sse_data(line: str) -> Optional[str]:
    """The data of one server-sent event line, or None for other lines."""
    if not line.startswith("data:"):
        return None
    data = line[5:]
    return data[1:] if data.startswith(" ") else data


def settled_on_chain(answer: Any) -> bool:
    """Whether an `eth_call` of `isSettled` answered true."""
    result = answer.get("result") if isinstance(answer, dict) else None
    return isinstance(result, str) and result.startswith("0x") and int(result, 16) == 1
