"""The synchronous client: requests with retries and failover across gateways, paid by an API
key or signed by an account key, every answer's receipt verified before it is returned."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Iterator, Optional, Sequence, Union

import httpx

from . import _core
from ._core import ChatChunk, ChatResult, InferResult
from .errors import ApiError, InvalidReceipt, NotVerifiedYet, Unreachable, VeritasError
from .receipt import Receipt, Verification, verify

DEFAULT_URL = "http://127.0.0.1:7700"


def _urls(base_url: Union[str, Sequence[str], None]) -> list[str]:
    if base_url is None:
        base_url = os.environ.get("VERITAS_API", DEFAULT_URL)
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    if not urls:
        raise ValueError("at least one gateway URL is needed")
    return [url.rstrip("/") for url in urls]


class _Settings:
    """What both clients take: the gateways, how to pay, how long to wait and how often to try."""

    def __init__(
        self,
        base_url: Union[str, Sequence[str], None],
        api_key: Optional[str],
        account_key: Optional[str],
        timeout: float,
        retries: int,
        backoff: float,
        verify: bool,
        tee_policy: Union[str, dict, None],
        wait: float,
    ):
        if api_key and account_key:
            raise ValueError("pay with an api_key or an account_key, not both")
        self.urls = _urls(base_url)
        self.api_key = api_key if api_key is not None else os.environ.get("VERITAS_API_KEY")
        self.account_key = account_key
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self.retries = retries
        self.backoff = backoff
        self.verify = verify
        self.tee_policy = tee_policy
        self.wait = wait
        # The gateway that answered last: tried first next time.
        self.current = 0
        self.networks: dict[str, dict] = {}
        self.published_policy: Optional[dict] = None

    def order(self) -> list[str]:
        return self.urls[self.current :] + self.urls[: self.current]

    def answered(self, url: str) -> None:
        self.current = self.urls.index(url)

    def headers(self) -> dict[str, str]:
        headers = {"accept": "application/json"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        return headers


class Client:
    """A veritas client.

    `base_url`: one gateway URL or several, tried in order when one cannot be reached (default
    `$VERITAS_API`, else http://127.0.0.1:7700). Pay with `api_key` (`$VERITAS_API_KEY`) or sign
    each request with `account_key` (hex; EIP-191, bound to the gateway and chain of
    `GET /v1/network`); with neither, the development network's default payer pays.
    `verify=False` turns verification off (it is on by default). `tee_policy`: the TEE policy
    `tee` receipts are checked by (default: the one the network publishes at
    `/v1/tee/policy`). `retries` and `backoff`: tries after the first, and the base of the
    exponential wait between them, for what may be retried (connection failures, 429, 502, 503,
    504). `wait`: how long `require=` waits for a receipt to reach its level.
    """

    def __init__(
        self,
        base_url: Union[str, Sequence[str], None] = None,
        *,
        api_key: Optional[str] = None,
        account_key: Optional[str] = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.25,
        verify: bool = True,
        tee_policy: Union[str, dict, None] = None,
        wait: float = 30.0,
        http: Optional[httpx.Client] = None,
    ):
        self._s = _Settings(base_url, api_key, account_key, timeout, retries, backoff, verify, tee_policy, wait)
        self._http = http or httpx.Client(timeout=self._s.timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None, *, stream: bool = False, signed: bool = False) -> httpx.Response:
        """Sends with retries and failover; returns a successful response (open when `stream`)."""
        s = self._s
        data = json.dumps(body).encode() if body is not None else None
        error: Optional[Exception] = None
        for attempt in range(s.retries + 1):
            if attempt:
                wait = _core.backoff(attempt - 1, s.backoff, error)
                if wait > _core.MAX_RETRY_WAIT:
                    break
                time.sleep(wait)
            for url in s.order():
                headers = s.headers()
                if data is not None:
                    headers["content-type"] = "application/json"
                try:
                    if signed and s.account_key:
                        network = self._network(url)
                        headers.update(_core.sign(s.account_key, network, method, path, data or b""))
                    request = self._http.build_request(method, url + path, content=data, headers=headers)
                    response = self._http.send(request, stream=stream)
                except (httpx.ConnectError, httpx.ConnectTimeout) as err:
                    error = Unreachable([url], str(err) or type(err).__name__)
                    continue
                except httpx.TransportError as err:
                    if method != "GET":
                        # Sent, then lost: the request may have run and been charged.
                        raise Unreachable([url], f"{type(err).__name__}: {err}") from err
                    error = Unreachable([url], f"{type(err).__name__}: {err}")
                    continue
                except Unreachable as err:
                    error = err
                    continue
                if response.status_code < 400:
                    s.answered(url)
                    return response
                text = response.read().decode(errors="replace")
                response.close()
                error = _core.error_from(response.status_code, text, response.headers)
                if response.status_code not in _core.RETRY_STATUSES:
                    raise error
        if isinstance(error, Unreachable):
            raise Unreachable(s.urls, error.reason)
        raise error or Unreachable(s.urls, "no try was made")

    def _get_text(self, path: str, url: Optional[str] = None) -> str:
        if url is None:
            return self._request("GET", path).text
        try:
            response = self._http.get(url + path, headers=self._s.headers())
        except httpx.HTTPError as err:
            raise Unreachable([url], str(err) or type(err).__name__) from err
        if response.status_code >= 400:
            raise _core.error_from(response.status_code, response.text, response.headers)
        return response.text

    def _network(self, url: str) -> dict:
        if url not in self._s.networks:
            self._s.networks[url] = json.loads(self._get_text("/v1/network", url))
        return self._s.networks[url]

    def _policy_for(self, receipt: Receipt) -> Any:
        if self._s.tee_policy is not None or receipt.mode != "tee":
            return self._s.tee_policy
        if self._s.published_policy is None:
            self._s.published_policy = self.tee_policy()["policy"]
        return self._s.published_policy

    # --- the API -----------------------------------------------------------------------------

    def network(self) -> dict:
        """`GET /v1/network`: the chain, the claims' EIP-712 domain and the gateway's address."""
        return json.loads(self._get_text("/v1/network"))

    def tee_policy(self) -> dict:
        """`GET /v1/tee/policy`: the enclave of the network's `tee` claims and its policy."""
        return json.loads(self._get_text("/v1/tee/policy"))

    def models(self) -> list[dict]:
        """`GET /v1/models`: each model's latest version (`id` is its name, details in `veritas`)."""
        return json.loads(self._get_text("/v1/models"))["data"]

    def infer(
        self,
        model: str,
        input: Any,
        *,
        mode: Optional[str] = None,
        nonce: Optional[str] = None,
        require: Optional[str] = None,
    ) -> InferResult:
        """Runs an ONNX model (`name`, `name@version` or a model id) on named inputs. Verified
        (unless turned off): the receipt holds, is for the model asked when asked by id, its
        input is `input` and its output the one returned; `require=` waits for `quorum` or
        `settled`."""
        _core.check_level(require)
        if mode == "tee" and nonce is None:
            nonce = _core.fresh_nonce()[:64]
        body = {"model": model, "input": input, "mode": mode, "nonce": nonce}
        text = self._request("POST", "/v1/infer", {k: v for k, v in body.items() if v is not None}, signed=True).text
        answer = json.loads(text)
        receipt = _core.receipt_in(text, "receipt")
        verification = None
        if self._s.verify:
            verification = _core.check_receipt(receipt, self._policy_for(receipt), model, mode, nonce)
            _core.check_infer(receipt, verification, answer, input)
            receipt, verification = self._reach(receipt, verification, require)
        return InferResult(answer["output"], answer["receipt_id"], receipt, answer["model"], verification)

    def chat(
        self,
        model: str,
        messages: list,
        *,
        stream: bool = False,
        max_tokens: Optional[int] = None,
        temperature: Optional[float] = None,
        seed: Optional[int] = None,
        mode: Optional[str] = None,
        require: Optional[str] = None,
        **options: Any,
    ) -> Union[ChatResult, Iterator[ChatChunk]]:
        """A chat completion. Verified (unless turned off): the receipt holds, is for the model
        asked when asked by id, and signs the very text returned. With `stream=True`, an
        iterator of `ChatChunk`s whose last carries the verified receipt; an invalid one raises
        `InvalidReceipt` there, before the stream ends."""
        _core.check_level(require)
        nonce = _core.fresh_nonce()[:64] if mode == "tee" else None
        extra = dict(options, max_tokens=max_tokens, temperature=temperature, seed=seed, veritas_mode=mode, veritas_nonce=nonce)
        body = _core.chat_body(model, messages, stream, extra)
        if stream:
            return self._chat_stream(body, model, mode, nonce, require)
        text = self._request("POST", "/v1/chat/completions", body, signed=True).text
        answer = json.loads(text)
        choice = answer["choices"][0]
        content = choice["message"].get("content") or ""
        receipt = _core.receipt_in(text, "veritas", "receipt")
        verification = None
        if self._s.verify:
            verification = _core.check_receipt(receipt, self._policy_for(receipt), model, mode, nonce)
            _core.check_text(receipt, verification, content, _core.message_calls(choice["message"]))
            receipt, verification = self._reach(receipt, verification, require)
        receipt_id = answer["veritas"]["receipt_id"]
        return ChatResult(content, choice.get("finish_reason"), answer.get("usage"), receipt_id, receipt, verification, answer)

    def _chat_stream(self, body: dict, model: str, mode: Optional[str], nonce: Optional[str], require: Optional[str]) -> Iterator[ChatChunk]:
        response = self._request("POST", "/v1/chat/completions", body, stream=True, signed=True)
        try:
            pieces: list[str] = []
            calls = _core.StreamedCalls()
            receipt_seen = False
            for line in response.iter_lines():
                data = _core.sse_data(line)
                if data is None:
                    continue
                if data.strip() == "[DONE]":
                    break
                event = json.loads(data)
                if "error" in event:
                    raise _core.error_from(None, data)
                choice = (event.get("choices") or [None])[0] or {}
                content = (choice.get("delta") or {}).get("content") or ""
                pieces.append(content)
                calls.add((choice.get("delta") or {}).get("tool_calls"))
                chunk = ChatChunk(content, choice.get("finish_reason"), event)
                if event.get("veritas"):
                    chunk.receipt = _core.receipt_in(data, "veritas", "receipt")
                    if self._s.verify:
                        verification = _core.check_receipt(chunk.receipt, self._policy_for(chunk.receipt), model, mode, nonce)
                        _core.check_text(chunk.receipt, verification, "".join(pieces), calls.list())
                        chunk.receipt, chunk.verification = self._reach(chunk.receipt, verification, require)
                    receipt_seen = True
                yield chunk
            if not receipt_seen and self._s.verify:
                raise InvalidReceipt("receipt", "the stream ended without a receipt")
        except httpx.HTTPError as err:
            raise Unreachable([str(response.url)], f"the stream broke: {err}") from err
        finally:
            response.close()

    def receipt(self, id: str, *, wait_settled: Optional[float] = None, require: Optional[str] = None) -> Receipt:
        """`GET /v1/receipts/{id}`, as the node logged it. `wait_settled=SECONDS` polls until it
        is settled; `require=` checks it (verified here) reaches a level, waiting `wait`."""
        _core.check_level(require)
        if wait_settled is not None:
            require = "settled"
        receipt = Receipt(self._get_text(f"/v1/receipts/{id}"))
        if require is None:
            return receipt
        verification = self.verify(receipt)
        return self._reach(receipt, verification, require, wait_settled)[0]

    def verify(
        self,
        receipt: Union[Receipt, str, bytes, dict],
        *,
        tee_policy: Union[str, dict, None] = None,
        rpc: Optional[str] = None,
        model_id: Optional[str] = None,
    ) -> Verification:
        """Verifies a receipt (see `veritas.verify`); `tee_policy` defaults to the client's,
        else the network's published one. With `rpc` (an Ethereum JSON-RPC URL), also asks the
        chain whether a settled receipt's batch is recorded."""
        receipt = Receipt.of(receipt)
        policy = tee_policy if tee_policy is not None else self._policy_for(receipt)
        verification = verify(receipt, policy, model_id)
        if rpc is not None and verification.chain_check:
            call = verification.chain_check
            payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [{"to": call["to"], "data": call["data"]}, "latest"]}
            try:
                answer = self._http.post(rpc, json=payload).json()
            except (httpx.HTTPError, ValueError) as err:
                raise Unreachable([rpc], str(err)) from err
            if not _core.settled_on_chain(answer):
                raise InvalidReceipt("chain", f"its batch is not recorded on chain {call['chain_id']} ({answer})", verification.receipt_id)
        return verification

    def _reach(self, receipt: Receipt, verification: Verification, require: Optional[str], wait: Optional[float] = None) -> tuple[Receipt, Verification]:
        """Polls the receipt until its badge reaches `require` (bounded by `wait`)."""
        if require is None or verification.meets(require):
            return receipt, verification
        wait = self._s.wait if wait is None else wait
        deadline = time.monotonic() + wait
        delay = 0.25
        while time.monotonic() < deadline:
            time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, 2.0)
            fetched = Receipt(self._get_text(f"/v1/receipts/{verification.receipt_id}"))
            later = verify(fetched, self._policy_for(fetched))
            if later.receipt_id != verification.receipt_id:
                raise InvalidReceipt("receipt", "the node returned another receipt for this id", verification.receipt_id)
            receipt, verification = fetched, later
            if verification.meets(require):
                return receipt, verification
        raise NotVerifiedYet(verification.receipt_id, verification.badge, require, wait)


__all__ = ["Client", "ApiError", "VeritasError"]
