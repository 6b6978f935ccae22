"""The official `openai` client, verified: `wrap(OpenAI(base_url=…/v1))` checks the receipt of
every completion before returning it (a streamed one at the chunk that carries it) and raises
`InvalidReceipt` when it does not hold or does not sign the text returned.

Non-streamed answers are read through `with_raw_response`, so the receipt verified is the exact
JSON text the node sent. The `openai` package parses each streamed chunk into a model, which
would re-serialise the receipt; for streams the receipt is therefore fetched by its id from the
same base URL (`GET /v1/receipts/{id}`) and must have that id: the verifier computes the id from
the claim itself, so the receipt fetched is the one the answer named.
"""

from __future__ import annotations

import json
from typing import Any, Optional, Union

import httpx

from . import _core
from .errors import InvalidReceipt
from .receipt import Receipt, Verification, verify


class _Checker:
    def __init__(self, client: Any, tee_policy: Union[str, dict, None], timeout: float):
        self.base = str(client.base_url).rstrip("/")
        self.headers = {"authorization": f"Bearer {client.api_key}"} if getattr(client, "api_key", None) else {}
        self.tee_policy = tee_policy
        self.timeout = timeout
        self.published: Optional[dict] = None

    def policy(self, receipt: Receipt) -> Any:
        if self.tee_policy is not None or receipt.mode != "tee":
            return self.tee_policy
        if self.published is None:
            self.published = self._get("/tee/policy").json()["policy"]
        return self.published

    def _get(self, path: str) -> httpx.Response:
        response = httpx.get(self.base + path, headers=self.headers, timeout=self.timeout)
        if response.status_code >= 400:
            raise _core.error_from(response.status_code, response.text, response.headers)
        return response

    def fetch(self, receipt_id: str) -> Receipt:
        return Receipt(self._get(f"/receipts/{receipt_id}").text)

    def check(self, receipt: Receipt, model: Optional[str], text: str, receipt_id: Optional[str], calls: Any = ()) -> Verification:
        verification = verify(receipt, self.policy(receipt), model if model and _core.is_model_id(model) else None)
        if receipt_id is not None and verification.receipt_id != receipt_id:
            raise InvalidReceipt("receipt", f"the receipt is {verification.receipt_id}, the answer names {receipt_id}", verification.receipt_id)
        _core.check_text(receipt, verification, text, calls)
        return verification


def _extra(obj: Any) -> dict:
    return getattr(obj, "model_extra", None) or {}


def _content(completion: Any) -> str:
    choice = completion.choices[0]
    message = getattr(choice, "message", None)
    return (message.content if message is not None else choice.text) or ""


def _calls(completion: Any) -> list:
    """The tool calls a completion shows, as `[(name, arguments)]`."""
    message = getattr(completion.choices[0], "message", None)
    return [(c.function.name, c.function.arguments) for c in (getattr(message, "tool_calls", None) or [])]


def _chunk_calls(chunk: Any) -> list:
    """A chunk's tool-call deltas, as JSON."""
    if not chunk.choices:
        return []
    delta = getattr(chunk.choices[0], "delta", None)
    return [d.model_dump() for d in (getattr(delta, "tool_calls", None) or [])]


def _chunk_text(chunk: Any) -> str:
    if not chunk.choices:
        return ""
    choice = chunk.choices[0]
    delta = getattr(choice, "delta", None)
    return (delta.content if delta is not None else getattr(choice, "text", None)) or ""


def _wrap_create(create: Any, raw_create: Any, checker: _Checker, path: tuple[str, ...]) -> Any:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        model = kwargs.get("model")
        if kwargs.get("stream"):
            return _Verified(create(*args, **kwargs), checker, model)
        raw = raw_create(*args, **kwargs)
        completion = raw.parse()
        receipt = _core.receipt_in(raw.text, *path)
        receipt_id = (_extra(completion).get("veritas") or {}).get("receipt_id")
        checker.check(receipt, model, _content(completion), receipt_id, _calls(completion))
        return completion

    return wrapped


class _Verified:
    """A stream whose chunks pass through; the one carrying `veritas` is checked before it is
    yielded, and a stream that ends without one raises."""

    def __init__(self, stream: Any, checker: _Checker, model: Optional[str]):
        self._stream = stream
        self._checker = checker
        self._model = model
        self.verification: Optional[Verification] = None
        self.receipt: Optional[Receipt] = None

    def __iter__(self) -> Any:
        pieces: list[str] = []
        calls = _core.StreamedCalls()
        for chunk in self._stream:
            pieces.append(_chunk_text(chunk))
            calls.add(_chunk_calls(chunk))
            veritas = _extra(chunk).get("veritas")
            if veritas:
                receipt_id = veritas.get("receipt_id")
                if not receipt_id:
                    raise InvalidReceipt("receipt", "the last chunk names no receipt id")
                self.receipt = self._checker.fetch(receipt_id)
                self.verification = self._checker.check(self.receipt, self._model, "".join(pieces), receipt_id, calls.list())
            yield chunk
        if self.verification is None:
            raise InvalidReceipt("receipt", "the stream ended without a receipt")

    def __enter__(self) -> "_Verified":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def wrap(client: Any, *, verify: bool = True, tee_policy: Union[str, dict, None] = None, timeout: float = 30.0) -> Any:
    """Returns `client` (an `openai.OpenAI` whose base URL is a veritas gateway's `/v1`) with
    `chat.completions.create` and `completions.create` verified. `verify=False` returns it
    unchanged: turning verification off is explicit. `tee_policy`: the policy for `tee`
    receipts (default: the network's published one)."""
    if not verify:
        return client
    checker = _Checker(client, tee_policy, timeout)
    for resource in (client.chat.completions, client.completions):
        raw_create = resource.with_raw_response.create
        path = ("veritas", "receipt")
        resource.create = _wrap_create(resource.create, raw_create, checker, path)
    return client


__all__ = ["wrap"]
