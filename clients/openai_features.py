"""The official openai package, unmodified, against `veritas up`: a tool-calling loop (plain and
streamed), a `json_schema` request, an embeddings request, and sixteen chats at once. Prints a
JSON summary with every answer's receipt id; run by crates/cli/tests/it/serving.rs, which checks
the receipts and their verdicts."""

import json
import sys
from concurrent.futures import ThreadPoolExecutor

from openai import OpenAI

client = OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused-on-the-development-network", max_retries=0)
# Re-executed by the validators (scored teacher-forced, the grammar applied).
REEXEC = {"veritas_mode": "reexec"}
summary = {}


def receipt_id(answer):
    return (answer.model_extra or {}).get("veritas", {}).get("receipt_id")


# A tool-calling loop: the model calls the function, the tool answers, the model answers.
tools = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                "required": ["city", "unit"],
                "additionalProperties": False,
            },
        },
    }
]
messages = [{"role": "user", "content": "What is the weather in Paris? Use celsius."}]
first = client.chat.completions.create(
    model="smollm2", messages=messages, tools=tools, tool_choice="required", temperature=0, max_tokens=96, extra_body=REEXEC
)
call = first.choices[0].message.tool_calls[0]
messages.append(first.choices[0].message)
messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature": 18, "unit": "celsius"})})
final = client.chat.completions.create(
    model="smollm2", messages=messages, tools=tools, tool_choice="none", temperature=0, max_tokens=48, extra_body=REEXEC
)
summary["tools"] = {
    "finish_reason": first.choices[0].finish_reason,
    "name": call.function.name,
    "arguments": json.loads(call.function.arguments),
    "call_id": call.id,
    "final": final.choices[0].message.content,
    "receipts": [receipt_id(first), receipt_id(final)],
}

# The same call streamed: OpenAI's deltas, reassembled as its own docs show.
calls, finish, streamed_receipt = {}, None, None
for chunk in client.chat.completions.create(
    model="smollm2", messages=messages[:1], tools=tools, tool_choice={"type": "function", "function": {"name": "get_weather"}},
    temperature=0, max_tokens=96, stream=True, extra_body=REEXEC,
):
    extra = chunk.model_extra or {}
    if "veritas" in extra:
        streamed_receipt = extra["veritas"]["receipt_id"]
    if not chunk.choices:
        continue
    finish = chunk.choices[0].finish_reason or finish
    for delta in chunk.choices[0].delta.tool_calls or []:
        entry = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
        entry["id"] = delta.id or entry["id"]
        entry["name"] += (delta.function.name or "") if delta.function else ""
        entry["arguments"] += (delta.function.arguments or "") if delta.function else ""
summary["tools_stream"] = {
    "finish_reason": finish,
    "calls": [{"id": c["id"], "name": c["name"], "arguments": json.loads(c["arguments"])} for c in calls.values()],
    "receipt": streamed_receipt,
}

# Structured output: a strict JSON Schema.
schema = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "hobbies": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["name", "age", "hobbies"],
    "additionalProperties": False,
}
person = client.chat.completions.create(
    model="smollm2",
    messages=[{"role": "user", "content": "Invent a person and describe them in JSON."}],
    response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}},
    temperature=0.7,
    seed=11,
    max_tokens=128,
    extra_body=REEXEC,
)
summary["json_schema"] = {
    "content": json.loads(person.choices[0].message.content),
    "finish_reason": person.choices[0].finish_reason,
    "receipt": receipt_id(person),
}

# Schema conformance: every schema of clients/schemas.json, sixteen requests at once, each answer
# checked by the `jsonschema` package (formats too, where it checks them).
import pathlib

import jsonschema

SCHEMAS = json.loads((pathlib.Path(__file__).parent / "schemas.json").read_text())


def conform(i):
    case = SCHEMAS[i]
    answer = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": f"Give an example of {case['name'].replace('_', ' ')} as JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": case["name"], "schema": case["schema"], "strict": True}},
        temperature=0.7,
        seed=i,
        max_tokens=256,
        extra_body=REEXEC,
    )
    text = answer.choices[0].message.content
    result = {"name": case["name"], "finish_reason": answer.choices[0].finish_reason, "receipt": receipt_id(answer)}
    try:
        checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
        jsonschema.Draft202012Validator(case["schema"], format_checker=checker).validate(json.loads(text))
        result["valid"] = True
    except (ValueError, jsonschema.ValidationError) as err:
        result["valid"] = False
        result["error"] = f"{type(err).__name__}: {err}"[:300]
        result["text"] = text[:300]
    return result


with ThreadPoolExecutor(16) as pool:
    summary["schemas"] = list(pool.map(conform, range(len(SCHEMAS))))

# Embeddings (the client asks for base64 and decodes it).
vectors = client.embeddings.create(model="minilm", input=["A cat sits on the mat.", "Stocks fell sharply today."], extra_body=REEXEC)
summary["embeddings"] = {
    "count": len(vectors.data),
    "dimensions": len(vectors.data[0].embedding),
    "norm": sum(x * x for x in vectors.data[0].embedding),
    "receipt": receipt_id(vectors),
}

# Sixteen chats at once.
QUESTIONS = [
    "Tell me about the sea.", "Name three colours.", "Write a haiku about rain.", "What is 2 + 2?",
    "Say hello in Spanish.", "Why is the sky blue?", "List the days of the week.", "What do bees make?",
    "What is a hash function?", "Describe a good breakfast.", "How do plants make food?", "What makes a good friend?",
    "Explain what a rainbow is.", "Tell a short story about a robot.", "Why is exercise important?", "Name a planet.",
]


def chat(i):
    answer = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": QUESTIONS[i]}], temperature=0.8, seed=i, max_tokens=48,
        extra_body=REEXEC,
    )
    return {"content": answer.choices[0].message.content, "receipt": receipt_id(answer)}


with ThreadPoolExecutor(16) as pool:
    summary["concurrent"] = list(pool.map(chat, range(16)))

print(json.dumps(summary))
