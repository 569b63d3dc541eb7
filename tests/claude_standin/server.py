"""The loopback HTTP server: answers the Messages API from scripts and records every request."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from . import sse
from .record import Request
from .script import Scripts, Turn, turn

# The reply to a request without tools (the CLI's title / topic requests): no script consumed.
CANNED = turn({"blocks": [{"text": "Scripted session"}],
               "usage": {"input_tokens": 0, "output_tokens": 0}})


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the test reads `requests`, not stderr

    def do_GET(self) -> None:
        self._record(None, "json")
        self._json(200, {})

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        if path.rstrip("/") != "/v1/messages" or not isinstance(body, dict):
            self._record(body, "json")
            self._json(200, {"input_tokens": 10} if path.endswith("count_tokens") else {})
            return
        model = str(body.get("model") or "claude-standin")
        if not body.get("tools"):
            self._record(body, "canned")
            self._answer(model, CANNED, bool(body.get("stream")))
            return
        name, index, chosen, fail = self.server.scripts.pick(body)
        kind = "error" if fail else "hang" if chosen.hang else "turn"
        self._record(body, kind, name, index)
        if fail and chosen.error is not None:
            self._error(chosen.error)
        elif chosen.hang:
            self._hang(model, chosen)
        else:
            self._answer(model, chosen, bool(body.get("stream")))

    def _record(self, body: dict[str, Any] | None, answered: str, script: str | None = None,
                index: int | None = None) -> None:
        path, _, query = self.path.partition("?")
        self.server.log(Request(self.command, path, query, dict(self.headers.items()), body,
                                script, index, answered))

    def _head(self, status: int, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
        self.send_header("Connection", "close")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def _json(self, status: int, payload: dict[str, Any],
              extra: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._head(status, "application/json", {"Content-Length": str(len(data)), **(extra or {})})
        self._write(data)

    def _error(self, error: dict[str, Any]) -> None:
        self._json(error["status"], json.loads(sse.error_body(error)), error.get("headers"))

    def _answer(self, model: str, chosen: Turn, stream: bool) -> None:
        if not stream:  # the non-streaming form: the whole message at once
            content = [dict(b, id=b["id"] or sse.tool_id()) if b["type"] == "tool_use" else b
                       for b in chosen.blocks]
            self._json(200, {"id": sse.message_id(), "type": "message", "role": "assistant",
                             "model": model, "content": content,
                             "stop_reason": chosen.stop_reason, "stop_sequence": None,
                             "usage": chosen.usage})
            return
        self._head(200, "text/event-stream", {"Cache-Control": "no-cache"})
        for chunk in sse.stream(model, chosen):
            if not self._write(chunk):
                return

    def _hang(self, model: str, chosen: Turn) -> None:
        """Open the stream, send `message_start`, then nothing until the server closes."""
        self._head(200, "text/event-stream", {"Cache-Control": "no-cache"})
        if self._write(sse.start(model, chosen.usage)):
            self.server.closing.wait()

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, scripts: Scripts) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scripts = scripts
        self.closing = threading.Event()
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    def log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away (a killed CLI) is not an error of the stand-in


class StandIn:
    """A Messages API stand-in on 127.0.0.1 (random port) in a daemon thread; a context
    manager. `url` is the ANTHROPIC_BASE_URL to give the CLI."""

    def __init__(self, scripts: dict[str, list[Any]] | None = None) -> None:
        self.scripts = Scripts(scripts)
        self._server = _Server(self.scripts)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name="claude-standin")
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, name: str, turns: list[Any]) -> str:
        """Set (or replace) the script NAME; returns the marker to put in the prompt."""
        self.scripts.set(name, turns)
        return f"[script:{name}]"

    @property
    def requests(self) -> list[Request]:
        with self._server._lock:
            return list(self._server.requests)

    def agent_requests(self, name: str | None = None) -> list[Request]:
        """The requests with tools (agent turns, errors and hangs included), of script NAME if
        given, in arrival order."""
        return [r for r in self.requests
                if r.has_tools and (name is None or r.script == name)]

    def close(self) -> None:
        """Stop serving; hanging replies end (their connections close)."""
        self._server.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
