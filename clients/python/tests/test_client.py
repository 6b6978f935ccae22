"""The SDK against a running network: honest answers verify, changed ones raise."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import time

import httpx
import pytest

import veritas
from conftest import CHAT, IRIS_INPUT, MESSAGES


def test_infer_verifies(url: str) -> None:
    client = veritas.Client(url)
    answer = client.infer("iris", IRIS_INPUT)
    assert answer.output["output_label"]["data"] == [0]
    assert answer.verification.badge in ("pending", "verified", "settled")
    assert answer.verification.receipt_id == answer.receipt_id
    names = {check["name"] for check in answer.verification.checks if check["performed"]}
    assert {"signature", "model", "input", "output"} <= names
    # Asked by model id, the receipt must be for that id.
    again = client.infer(answer.model["id"], IRIS_INPUT)
    assert again.verification.model_id == answer.model["id"]


def test_chat_verifies_and_streams(url: str) -> None:
    client = veritas.Client(url)
    answer = client.chat("smollm2", MESSAGES, **CHAT)
    assert answer.content and answer.content == answer.receipt.text_output
    assert answer.verification.mode in ("signed", "reexec")
    chunks = list(client.chat("smollm2", MESSAGES, stream=True, **CHAT))
    last = chunks[-1]
    assert last.verification is not None and last.receipt is not None
    assert "".join(chunk.content for chunk in chunks) == last.receipt.text_output


def test_a_receipt_changed_in_one_byte_raises_naming_the_check(url: str) -> None:
    answer = veritas.Client(url).infer("iris", IRIS_INPUT)
    text = answer.receipt.text
    veritas.verify(text)
    # One hex digit of the signature, of the claimed output hash, one byte of the signed output.
    signature = text.index('"signature":"0x') + len('"signature":"0x') + 10
    output_hash = text.index('"output_hash":"0x') + len('"output_hash":"0x') + 5
    for index, check in [(signature, "signature"), (output_hash, "signature")]:
        changed = text[:index] + ("1" if text[index] != "1" else "2") + text[index + 1 :]
        with pytest.raises(veritas.InvalidReceipt) as raised:
            veritas.verify(changed)
        assert raised.value.check == check, raised.value
    changed = text.replace('"data":[0]', '"data":[1]', 1)
    assert changed != text
    with pytest.raises(veritas.InvalidReceipt) as raised:
        veritas.verify(changed)
    assert raised.value.check == "output", raised.value
    # The client's own check: the output shown must be the one signed.
    report = veritas.describe(changed)
    assert report["badge"] == "invalid" and report["failed_check"] == "output"


def test_insufficient_funds_names_balance_and_price(url: str) -> None:
    client = veritas.Client(url, account_key=secrets.token_hex(32))
    with pytest.raises(veritas.InsufficientFunds) as raised:
        client.infer("iris", IRIS_INPUT)
    error = raised.value
    assert error.status == 402 and error.code == "insufficient_funds"
    assert error.balance == 0 and error.price is not None and error.price > 0
    assert error.account and error.account.lower() == veritas.account_address(client._s.account_key).lower()


def test_a_signed_request_from_a_paying_account(url: str) -> None:
    # Development account 1 of the well-known test mnemonic: funded, and allows the gateway.
    key = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
    assert veritas.account_address(key) == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    answer = veritas.Client(url, account_key=key).infer("iris", IRIS_INPUT)
    assert answer.verification is not None


def test_failover_to_the_second_gateway(url: str, stopped_url: str) -> None:
    client = veritas.Client([stopped_url, url], retries=0)
    answer = client.infer("iris", IRIS_INPUT)
    assert answer.verification is not None
    assert client._s.urls[client._s.current] == url
    with pytest.raises(veritas.Unreachable):
        veritas.Client(stopped_url, retries=1, backoff=0.01).models()


def test_retries_what_may_be_retried(proxy) -> None:
    base = proxy(refuse=[(503, "overloaded"), (429, "rate_limited")])
    answer = veritas.Client(base, backoff=0.01).infer("iris", IRIS_INPUT)
    assert answer.verification is not None
    base = proxy(refuse=[(503, "overloaded")])
    with pytest.raises(veritas.Overloaded) as raised:
        veritas.Client(base, retries=0).infer("iris", IRIS_INPUT)
    assert raised.value.retry_after == 0
    base = proxy(refuse=[(429, "rate_limited")])
    with pytest.raises(veritas.RateLimited):
        veritas.Client(base, retries=0).models()


def test_a_tampered_answer_raises(proxy) -> None:
    client = veritas.Client(proxy(tamper=True))
    with pytest.raises(veritas.InvalidReceipt) as raised:
        client.chat("smollm2", MESSAGES, **CHAT)
    assert raised.value.check == "answer"
    with pytest.raises(veritas.InvalidReceipt) as raised:
        for _ in client.chat("smollm2", MESSAGES, stream=True, **CHAT):
            pass
    assert raised.value.check == "answer"
    # Turned off, explicitly: the changed answer passes through.
    unchecked = veritas.Client(client._s.urls, verify=False).chat("smollm2", MESSAGES, **CHAT)
    assert unchecked.content.startswith("NOT ") and unchecked.verification is None


def test_receipt_waits_for_a_quorum(url: str) -> None:
    client = veritas.Client(url, wait=30)
    answer = client.infer("iris", IRIS_INPUT, require="quorum")
    assert answer.verification.badge in ("verified", "settled")
    receipt = client.receipt(answer.receipt_id, require="quorum")
    assert client.verify(receipt).receipt_id == answer.receipt_id
    settled = client.receipt(answer.receipt_id, wait_settled=30)
    assert client.verify(settled, rpc=url + "/rpc").badge == "settled"


def test_the_async_client(url: str) -> None:
    async def run() -> None:
        async with veritas.AsyncClient(url) as client:
            assert any(model["id"] == "iris" for model in await client.models())
            answer = await client.infer("iris", IRIS_INPUT)
            assert answer.verification is not None
            chat = await client.chat("smollm2", MESSAGES, **CHAT)
            assert chat.content == chat.receipt.text_output
            chunks = [chunk async for chunk in await client.chat("smollm2", MESSAGES, stream=True, **CHAT)]
            assert chunks[-1].verification is not None
            with pytest.raises(veritas.InsufficientFunds):
                await veritas.AsyncClient(url, account_key=secrets.token_hex(32)).infer("iris", IRIS_INPUT)

    asyncio.run(run())


def test_veritas_proxy_when_available(url: str) -> None:
    binary = os.environ.get("VERITAS_BIN") or shutil.which("veritas")
    if not binary or subprocess.run([binary, "proxy", "--help"], capture_output=True).returncode != 0:
        pytest.skip("`veritas proxy` is not available in this binary")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([binary, "proxy", "--upstream", url, "--listen", f"127.0.0.1:{port}"])
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(base + "/v1/models", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        answer = veritas.Client(base).chat("smollm2", MESSAGES, **CHAT)
        assert answer.content == answer.receipt.text_output
    finally:
        process.terminate()
        process.wait(10)


def test_tee_answers_are_attested_and_labelled(url: str) -> None:
    setup = httpx.get(url + "/v1/tee/policy").json()
    if not setup.get("enclave"):
        pytest.skip("the network runs no enclave (veritas up --tee simulated)")
    client = veritas.Client(url)
    answer = client.infer("iris", IRIS_INPUT, mode="tee")
    assert answer.verification.mode == "tee"
    assert answer.verification.tee["insecure"] and answer.verification.tee["label"] == "UNTRUSTED / SIMULATED"
    chat = client.chat("smollm2", MESSAGES, mode="tee", **CHAT)
    assert chat.verification.mode == "tee" and chat.verification.tee["insecure"]


def test_tool_calls_are_checked_against_the_signed_text() -> None:
    # What the node reads out of the text it signs; a call shown with other arguments is refused.
    text = 'Sure.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    assert veritas._core.read_tool_calls(text) == ("Sure.", [("get_weather", '{"city": "Paris"}')])

    class Signed:
        text_output = text

    class Checked:
        receipt_id = "0x00"

    veritas._core.check_text(Signed(), Checked(), "Sure.", [("get_weather", '{"city":"Paris"}')])
    for content, calls in [("Sure.", [("get_weather", '{"city": "Rome"}')]), ("Sure.", []), ("", [("get_weather", '{"city": "Paris"}')])]:
        with pytest.raises(veritas.InvalidReceipt):
            veritas._core.check_text(Signed(), Checked(), content, calls)
