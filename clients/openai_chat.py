"""The official openai package, unmodified, against a veritas node: a chat answer, a streamed
chat answer and a completion. Prints a JSON summary; run by crates/api/tests/chat.rs."""

import json
import sys

from openai import OpenAI

client = OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused-on-the-development-network")
messages = [{"role": "user", "content": "What is the capital of France?"}]

answer = client.chat.completions.create(model="smollm2", messages=messages, temperature=0, max_tokens=24, seed=5)
raw = client.chat.completions.with_raw_response.create(model="smollm2", messages=messages, temperature=0, max_tokens=8)

streamed, receipt_id, finish = [], None, None
stream = client.chat.completions.create(
    model="smollm2", messages=messages, temperature=0, max_tokens=24, seed=5, stream=True
)
for chunk in stream:
    choice = chunk.choices[0] if chunk.choices else None
    if choice and choice.delta.content:
        streamed.append(choice.delta.content)
    if choice and choice.finish_reason:
        finish = choice.finish_reason
    extra = chunk.model_extra or {}
    if "veritas" in extra:
        receipt_id = extra["veritas"]["receipt_id"]

completion = client.completions.create(model="smollm2", prompt="The capital of France is", max_tokens=8, temperature=0)

print(json.dumps({
    "content": answer.choices[0].message.content,
    "finish_reason": answer.choices[0].finish_reason,
    "usage": answer.usage.total_tokens,
    "receipt_id": (answer.model_extra or {}).get("veritas", {}).get("receipt_id"),
    "header_receipt": raw.headers.get("x-veritas-receipt"),
    "streamed": "".join(streamed),
    "stream_finish": finish,
    "stream_receipt_id": receipt_id,
    "completion": completion.choices[0].text,
}))
