"""A real OpenAI-compatible chat completions server on 127.0.0.1 for tests: it answers each request with the
next scripted reply (a model's text, an HTTP error, a slow or a cut-off reply) and records every request."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Scripted:
    """One reply: ``text`` as the assistant's message, or an HTTP ``status`` with an error body; ``delay_s``
    before answering; ``raw`` replaces the whole body (e.g. a JSON document cut in the middle)."""

    text: str = ""
    status: int = 200
    delay_s: float = 0.0
    raw: bytes | None = None
    tokens_in: int = 1200
    tokens_out: int = 300


def reply(text: str, **kwargs: Any) -> Scripted:
    return Scripted(text=text, **kwargs)


def error(status: int, message: str = "error") -> Scripted:
    return Scripted(status=status, text=message)


@dataclass
class LlmServer:
    """The running server: ``base`` is its /v1 URL, ``requests`` the JSON bodies received, in order."""

    base: str
    script: deque[Scripted]
    requests: list[dict[str, Any]] = field(default_factory=list)
    fallback: Callable[[dict[str, Any]], Scripted] | None = None


def _handler(server: LlmServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            return None

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
            if server.script:
                scripted = server.script.popleft()
            elif server.fallback is not None:
                scripted = server.fallback(body)
            else:
                scripted = error(500, "the test script has no more replies")
            if scripted.delay_s:
                time.sleep(scripted.delay_s)
            if scripted.raw is not None:
                payload = scripted.raw
            elif scripted.status != 200:
                kind = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(scripted.status, "server_error")
                payload = json.dumps({"error": {"message": scripted.text, "type": kind, "code": kind}}).encode()
            else:
                payload = json.dumps(
                    {
                        "id": f"chatcmpl-{len(server.requests)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "test"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": scripted.text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": scripted.tokens_in,
                            "completion_tokens": scripted.tokens_out,
                            "total_tokens": scripted.tokens_in + scripted.tokens_out,
                        },
                    }
                ).encode()
            try:
                self.send_response(scripted.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)

    return Handler


@contextmanager
def llm_server(*script: Scripted, fallback: Callable[[dict[str, Any]], Scripted] | None = None) -> Iterator[LlmServer]:
    """Serve ``script`` on a free port of 127.0.0.1 until the block ends."""
    state = LlmServer("", deque(script), fallback=fallback)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
