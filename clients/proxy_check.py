"""The official openai package, unmodified, against `veritas proxy`: a chat answer and a streamed
one, each reported as its text or the error that refused it. Prints a JSON summary; run by
crates/cli/tests/it/proxy.rs."""

import json
import sys

from openai import OpenAI

client = OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused-on-the-development-network", max_retries=0)
messages = [{"role": "user", "content": "Name one colour."}]
summary = {}

try:
    answer = client.chat.completions.create(model="smollm2", messages=messages, temperature=0, max_tokens=12, seed=3)
    summary["plain"] = {"content": answer.choices[0].message.content, "receipt_id": (answer.model_extra or {}).get("veritas", {}).get("receipt_id")}
except Exception as err:  # noqa: BLE001 - the refusal is what is reported
    summary["plain"] = {"error": f"{type(err).__name__}: {err}"}

try:
    pieces, receipt_id = [], None
    stream = client.chat.completions.create(
        model="smollm2", messages=messages, temperature=0, max_tokens=12, seed=3, stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        extra = chunk.model_extra or {}
        if "veritas" in extra:
            receipt_id = extra["veritas"]["receipt_id"]
    summary["stream"] = {"content": "".join(pieces), "receipt_id": receipt_id}
except Exception as err:  # noqa: BLE001
    summary["stream"] = {"error": f"{type(err).__name__}: {err}"}

print(json.dumps(summary))
