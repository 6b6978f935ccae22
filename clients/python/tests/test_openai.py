"""The official `openai` client, wrapped: honest completions verify, changed ones raise."""

from __future__ import annotations

import pytest

import veritas
import veritas.openai
from conftest import CHAT, MESSAGES

openai = pytest.importorskip("openai")


def _client(base: str):
    return veritas.openai.wrap(openai.OpenAI(base_url=base + "/v1", api_key="unused"))


def test_wrapped_openai_verifies(url: str) -> None:
    client = _client(url)
    answer = client.chat.completions.create(model="smollm2", messages=MESSAGES, **CHAT)
    assert answer.choices[0].message.content
    stream = client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True, **CHAT)
    text = "".join((chunk.choices[0].delta.content or "") for chunk in stream if chunk.choices)
    assert text and stream.verification is not None and stream.receipt.text_output == text
    completion = client.completions.create(model="smollm2", prompt="The capital of France is", max_tokens=8, temperature=0)
    assert completion.choices[0].text is not None


def test_wrapped_openai_raises_on_a_tampered_answer(proxy) -> None:
    client = _client(proxy(tamper=True))
    with pytest.raises(veritas.InvalidReceipt) as raised:
        client.chat.completions.create(model="smollm2", messages=MESSAGES, **CHAT)
    assert raised.value.check == "answer"
    with pytest.raises(veritas.InvalidReceipt):
        for _ in client.chat.completions.create(model="smollm2", messages=MESSAGES, stream=True, **CHAT):
            pass
    # Explicitly unverified: the change goes unnoticed.
    plain = veritas.openai.wrap(openai.OpenAI(base_url=client.base_url, api_key="unused"), verify=False)
    changed = plain.chat.completions.create(model="smollm2", messages=MESSAGES, **CHAT)
    assert changed.choices[0].message.content.startswith("NOT ")


TOOLS = [{"type": "function", "function": {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}}]
WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]


def test_wrapped_openai_verifies_tool_calls(url: str) -> None:
    client = _client(url)
    # One call: parallel calls off.
    answer = client.chat.completions.create(
        model="smollm2", messages=WEATHER, tools=TOOLS, tool_choice="required", parallel_tool_calls=False,
        temperature=0, max_tokens=64,
    )
    call = answer.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and answer.choices[0].finish_reason == "tool_calls"
    assert len(answer.choices[0].message.tool_calls) == 1
    stream = client.chat.completions.create(
        model="smollm2", messages=WEATHER, tools=TOOLS, tool_choice="required", parallel_tool_calls=False,
        temperature=0, max_tokens=64, stream=True,
    )
    names = [d.function.name for c in stream if c.choices for d in (c.choices[0].delta.tool_calls or []) if d.function.name]
    assert names == ["get_weather"] and stream.verification is not None
