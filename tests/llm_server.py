"""A real OpenAI-compatible HTTP server on loopback for tests (SS extraction, IS enrichment).

`POST /v1/chat/completions` with `response_format: {type: json_schema, json_schema: {schema}}`
answers deterministically: the answer registered for a substring of the user message
(`LlmServer.answers`), else a default built from the schema (first enum value, nulls). Modes
(`LlmServer.mode`): `ok`, `error` (HTTP 500), `slow` (sleeps `slow_seconds` before answering).
Every request is recorded (`LlmServer.requests`).

Additions for IS enrichment: a user message may be a list of parts (text + `image_url` data
URLs); `LlmServer.responder(text, images, schema)` computes the answer deterministically from the
input when set (`images` = the decoded bytes of each data URL); `fail_on` needles answer HTTP 500
for matching messages only (a batch with some failures); `delay_seconds` is added to every answer
in `ok` mode (the benchmark's per-call latency).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def default_answer(schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in schema.get("properties", {}).items():
        out[name] = spec["enum"][0] if "enum" in spec else None
    return out


@dataclass
class LlmServer:
    """The server's state, changed by tests between calls."""

    url: str = ""
    mode: str = "ok"
    slow_seconds: float = 2.0
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    responder: Callable[[str, list[bytes], dict[str, Any]], dict[str, Any]] | None = None
    fail_on: set[str] = field(default_factory=set)
    delay_seconds: float = 0.0

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        user, images = user_message(body)
        schema = body["response_format"]["json_schema"]["schema"]
        if self.responder is not None:
            return self.responder(user, images, schema)
        base = default_answer(schema)
        for needle, values in self.answers.items():
            if needle in user:
                return {**base, **values}
        return base


def user_message(body: dict[str, Any]) -> tuple[str, list[bytes]]:
    """The user message's text and the decoded bytes of its data-URL images."""
    content = next(m["content"] for m in body["messages"] if m["role"] == "user")
    if isinstance(content, str):
        return content, []
    text = "".join(part["text"] for part in content if part["type"] == "text")
    images = [
        base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
        for part in content
        if part["type"] == "image_url"
    ]
    return text, images


def _handler(state: LlmServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            if state.mode == "error":
                self._send(500, {"error": {"message": "model crashed", "type": "server_error"}})
                return
            if state.fail_on and any(n in user_message(body)[0] for n in state.fail_on):
                self._send(500, {"error": {"message": "model crashed", "type": "server_error"}})
                return
            if state.mode == "slow":
                time.sleep(state.slow_seconds)
            elif state.delay_seconds:
                time.sleep(state.delay_seconds)
            content = json.dumps(state.answer(body), ensure_ascii=False)
            self._send(200, {
                "id": "chatcmpl-test", "object": "chat.completion", "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
            })

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # slow mode: the client gave up (its timeout) before the answer; nothing to report
        return


def start(state: LlmServer) -> ThreadingHTTPServer:
    server = _Server(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
