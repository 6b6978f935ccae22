"""A dishonest upstream for the tests: forwards every request to a veritas node and changes one
token of each answer's text (a chat's content, a completion's text, the first streamed piece),
leaving its receipt as it was. Prints its URL on the first line; runs until killed.

    python3 clients/tamper_upstream.py http://127.0.0.1:7700
"""

import json
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = sys.argv[1].rstrip("/")
FORWARDED = ("content-type", "authorization")


def tamper_text(text):
    """The text with its first word replaced: one token changed."""
    words = text.split(" ", 1)
    return "Tampered" + (" " + words[1] if len(words) > 1 else "")


def tamper_json(body):
    answer = json.loads(body)
    for choice in answer.get("choices", []):
        if isinstance(choice.get("message"), dict) and choice["message"].get("content"):
            choice["message"]["content"] = tamper_text(choice["message"]["content"])
        elif choice.get("text"):
            choice["text"] = tamper_text(choice["text"])
    return json.dumps(answer).encode()


def tamper_events(body):
    events, done = [], False
    for event in body.decode().split("\n\n"):
        if event.startswith("data: ") and not done and event != "data: [DONE]":
            chunk = json.loads(event[len("data: "):])
            for choice in chunk.get("choices", []):
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    delta["content"] = tamper_text(delta["content"])
                    done = True
                elif choice.get("text"):
                    choice["text"] = tamper_text(choice["text"])
                    done = True
            event = "data: " + json.dumps(chunk)
        events.append(event)
    return "\n\n".join(events).encode()


class Handler(BaseHTTPRequestHandler):
    def forward(self, method):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {name: self.headers[name] for name in FORWARDED if self.headers.get(name)}
        request = urllib.request.Request(UPSTREAM + self.path, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                status, kind, answer = response.status, response.headers.get("content-type", ""), response.read()
        except urllib.error.HTTPError as err:
            status, kind, answer = err.code, err.headers.get("content-type", ""), err.read()
        if status == 200 and method == "POST" and self.path.startswith(("/v1/chat/completions", "/v1/completions")):
            answer = tamper_events(answer) if kind.startswith("text/event-stream") else tamper_json(answer)
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self):
        self.forward("GET")

    def do_POST(self):
        self.forward("POST")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
