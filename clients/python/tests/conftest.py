"""Fixtures: the network under test (`VERITAS_URL`, a `veritas up` gateway with `smollm2` and
`iris`), a stopped gateway (`VERITAS_STOPPED_URL`), and in-process HTTP servers in front of the
network that tamper with answers or refuse the first tries."""

from __future__ import annotations

import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator, Optional

import httpx
import pytest

CHAT = dict(max_tokens=8, temperature=0, seed=7)
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
IRIS_INPUT = {"float_input": [[5.1, 3.5, 1.4, 0.2]]}


@pytest.fixture(scope="session")
def url() -> str:
    url = os.environ.get("VERITAS_URL")
    if not url:
        pytest.skip("VERITAS_URL is not set: these tests run against a running `veritas up`")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def stopped_url() -> str:
    url = os.environ.get("VERITAS_STOPPED_URL")
    if url:
        return url.rstrip("/")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _tamper_text(text: str) -> str:
    return "NOT " + text


class _Proxy(BaseHTTPRequestHandler):
    """Forwards to the upstream network; `behaviour` may answer instead or change the answer."""

    upstream = ""
    tamper = False
    refuse: list = []
    seen: list = []

    def log_message(self, *args: object) -> None:
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        self.seen.append((self.command, self.path))
        if self.refuse:
            status, code = self.refuse.pop(0)
            payload = json.dumps({"error": {"code": code, "message": "try later", "retry_after": 0}}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("retry-after", "0")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection", "accept-encoding")}
        with httpx.Client(timeout=120) as http:
            with http.stream(self.command, self.upstream + self.path, content=body, headers=headers) as answer:
                streamed = answer.headers.get("content-type", "").startswith("text/event-stream")
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(key, value)
                if streamed:
                    self.end_headers()
                    changed = not self.tamper
                    for line in answer.iter_lines():
                        if not changed and line.startswith("data: {"):
                            event = json.loads(line[6:])
                            delta = ((event.get("choices") or [{}])[0]).get("delta") or {}
                            if delta.get("content"):
                                delta["content"] = _tamper_text(delta["content"])
                                line = "data: " + json.dumps(event, ensure_ascii=False)
                                changed = True
                        self.wfile.write((line + "\n").encode())
                        self.wfile.flush()
                    return
                payload = answer.read()
                if self.tamper and self.path.endswith("/completions") and answer.status_code == 200:
                    text = payload.decode()
                    answer_json = json.loads(text)
                    choice = answer_json["choices"][0]
                    content = choice["message"]["content"] if "message" in choice else choice["text"]
                    quoted = json.dumps(content, ensure_ascii=False)
                    assert quoted in text, "the proxy could not find the content to change"
                    # Only the answer's content, not the receipt's copy of it (which comes later).
                    payload = text.replace(quoted, json.dumps(_tamper_text(content), ensure_ascii=False), 1).encode()
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

    do_GET = _forward
    do_POST = _forward


@pytest.fixture
def proxy(url: str) -> Iterator[Callable[..., str]]:
    """Starts a proxy in front of the network: `proxy(tamper=True)` changes one token of each
    chat answer's content, `proxy(refuse=[(503, "overloaded")])` answers the first tries so."""
    servers = []

    def start(tamper: bool = False, refuse: Optional[list] = None) -> str:
        handler = type("Proxy", (_Proxy,), {"upstream": url, "tamper": tamper, "refuse": list(refuse or []), "seen": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        start.handler = handler  # type: ignore[attr-defined]
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
