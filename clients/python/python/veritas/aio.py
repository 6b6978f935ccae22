"""The asynchronous client: the same surface as `Client`, on `httpx.AsyncClient`. Written as
a mirror of client.py (the checks themselves are shared in _core.py): keep the two in step."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, AsyncIterator, Optional, Sequence, Union

import httpx

from . import _core
from ._core import ChatChunk, ChatResult, InferResult
from .client import _Settings
from .errors import InvalidReceipt, NotVerifiedYet, Unreachable
from .receipt import Receipt, Verification, verify


class AsyncClient:
    """The asynchronous client: `Client`'s surface with `await` (`chat(stream=True)` returns an
    async iterator).

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
        http: Optional[httpx.AsyncClient] = None,
    ):
        self._s = _Settings(base_url, api_key, account_key, timeout, retries, backoff, verify, tee_policy, wait)
        self._http = http or httpx.AsyncClient(timeout=self._s.timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    # --- transport ---------------------------------------------------------------------------

    async def _request(self, method: str, path: str, body: Any = None, *, stream: bool = False, signed: bool = False) -> httpx.Response:
        """Sends with retries and failover; returns a successful response (open when `stream`)."""
        s = self._s
        data = json.dumps(body).encode() if body is not None else None
        error: Optional[Exception] = None
        for attempt in range(s.retries + 1):
            if attempt:
                wait = _core.backoff(attempt - 1, s.backoff, error)
                if wait > _core.MAX_RETRY_WAIT:
                    break
                await asyncio.sleep(wait)
            for url in s.order():
                headers = s.headers()
                if data is not None:
                    headers["content-type"] = "application/json"
                try:
                    if signed and s.account_key:
                        network = await self._network(url)
                        headers.update(_core.sign(s.account_key, network, method, path, data or b""))
                    request = self._http.build_request(method, url + path, content=data, headers=headers)
                    response = await self._http.send(request, stream=stream)
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
                text = (await response.aread()).decode(errors="replace")
                await response.aclose()
                error = _core.error_from(response.status_code, text, response.headers)
                if response.status_code not in _core.RETRY_STATUSES:
                    raise error
        if isinstance(error, Unreachable):
            raise Unreachable(s.urls, error.reason)
        raise error or Unreachable(s.urls, "no try was made")

    async def _get_text(self, path: str, url: Optional[str] = None) -> str:
        if url is None:
            return (await self._request("GET", path)).text
        try:
            response = await self._http.get(url + path, headers=self._s.headers())
        except httpx.HTTPError as err:
            raise Unreachable([url], str(err) or type(err).__name__) from err
        if response.status_code >= 400:
            raise _core.error_from(response.status_code, response.text, response.headers)
        return response.text

    async def _network(self, url: str) -> dict:
        if url not in self._s.networks:
            self._s.networks[url] = json.loads(await self._get_text("/v1/network", url))
        return self._s.networks[url]

    async def _policy_for(self, receipt: Receipt) -> Any:
        if self._s.tee_policy is not None or receipt.mode != "tee":
            return self._s.tee_policy
        if self._s.published_policy is None:
            self._s.published_policy = (await self.tee_policy())["policy"]
        return self._s.published_policy

    # --- the API -----------------------------------------------------------------------------

    async def network(self) -> dict:
        """`GET /v1/network`: the chain, the claims' EIP-712 domain and the gateway's address."""
        return json.loads(await self._get_text("/v1/network"))

    async def tee_policy(self) -> dict:
        """`GET /v1/tee/policy`: the enclave of the network's `tee` claims and its policy."""
        return json.loads(await self._get_text("/v1/tee/policy"))

    async def models(self) -> list[dict]:
        """`GET /v1/models`: each model's latest version (`id` is its name, details in `veritas`)."""
        return json.loads(await self._get_text("/v1/models"))["data"]

    async def infer(
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
        text = (await self._request("POST", "/v1/infer", {k: v for k, v in body.items() if v is not None}, signed=True)).text
        answer = json.loads(text)
        receipt = _core.receipt_in(text, "receipt")
        verification = None
        if self._s.verify:
            verification = _core.check_receipt(receipt, await self._policy_for(receipt), model, mode, nonce)
            _core.check_infer(receipt, verification, answer, input)
            receipt, verification = await self._reach(receipt, verification, require)
        return InferResult(answer["output"], answer["receipt_id"], receipt, answer["model"], verification)

    async def chat(
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
    ) -> Union[ChatResult, AsyncIterator[ChatChunk]]:
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
        text = (await self._request("POST", "/v1/chat/completions", body, signed=True)).text
        answer = json.loads(text)
        choice = answer["choices"][0]
        content = choice["message"].get("content") or ""
        receipt = _core.receipt_in(text, "veritas", "receipt")
        verification = None
        if self._s.verify:
            verification = _core.check_receipt(receipt, await self._policy_for(receipt), model, mode, nonce)
            _core.check_text(receipt, verification, content, _core.message_calls(choice["message"]))
            receipt, verification = await self._reach(receipt, verification, require)
        receipt_id = answer["veritas"]["receipt_id"]
        return ChatResult(content, choice.get("finish_reason"), answer.get("usage"), receipt_id, receipt, verification, answer)

    async def _chat_stream(self, body: dict, model: str, mode: Optional[str], nonce: Optional[str], require: Optional[str]) -> AsyncIterator[ChatChunk]:
        response = await self._request("POST", "/v1/chat/completions", body, stream=True, signed=True)
        try:
            pieces: list[str] = []
            calls = _core.StreamedCalls()
            receipt_seen = False
            async for line in response.aiter_lines():
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
                        verification = _core.check_receipt(chunk.receipt, await self._policy_for(chunk.receipt), model, mode, nonce)
                        _core.check_text(chunk.receipt, verification, "".join(pieces), calls.list())
                        chunk.receipt, chunk.verification = await self._reach(chunk.receipt, verification, require)
                    receipt_seen = True
                yield chunk
            if not receipt_seen and self._s.verify:
                raise InvalidReceipt("receipt", "the stream ended without a receipt")
        except httpx.HTTPError as err:
            raise Unreachable([str(response.url)], f"the stream broke: {err}") from err
        finally:
            await response.aclose()

    async def receipt(self, id: str, *, wait_settled: Optional[float] = None, require: Optional[str] = None) -> Receipt:
        """`GET /v1/receipts/{id}`, as the node logged it. `wait_settled=SECONDS` polls until it
        is settled; `require=` checks it (verified here) reaches a level, waiting `wait`."""
        _core.check_level(require)
        if wait_settled is not None:
            require = "settled"
        receipt = Receipt(await self._get_text(f"/v1/receipts/{id}"))
        if require is None:
            return receipt
        verification = await self.verify(receipt)
        return (await self._reach(receipt, verification, require, wait_settled))[0]

    async def verify(
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
        policy = tee_policy if tee_policy is not None else await self._policy_for(receipt)
        verification = verify(receipt, policy, model_id)
        if rpc is not None and verification.chain_check:
            call = verification.chain_check
            payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [{"to": call["to"], "data": call["data"]}, "latest"]}
            try:
                answer = (await self._http.post(rpc, json=payload)).json()
            except (httpx.HTTPError, ValueError) as err:
                raise Unreachable([rpc], str(err)) from err
            if not _core.settled_on_chain(answer):
                raise InvalidReceipt("chain", f"its batch is not recorded on chain {call['chain_id']} ({answer})", verification.receipt_id)
        return verification

    async def _reach(self, receipt: Receipt, verification: Verification, require: Optional[str], wait: Optional[float] = None) -> tuple[Receipt, Verification]:
        """Polls the receipt until its badge reaches `require` (bounded by `wait`)."""
        if require is None or verification.meets(require):
            return receipt, verification
        wait = self._s.wait if wait is None else wait
        deadline = time.monotonic() + wait
        delay = 0.25
        while time.monotonic() < deadline:
            await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, 2.0)
            fetched = Receipt(await self._get_text(f"/v1/receipts/{verification.receipt_id}"))
            later = verify(fetched, await self._policy_for(fetched))
            if later.receipt_id != verification.receipt_id:
                raise InvalidReceipt("receipt", "the node returned another receipt for this id", verification.receipt_id)
            receipt, verification = fetched, later
            if verification.meets(require):
                return receipt, verification
        raise NotVerifiedYet(verification.receipt_id, verification.badge, require, wait)


__all__ = ["AsyncClient"]
