"""A loopback HTTP server that answers like the DingTalk and WeCom group robots.

It checks what the platforms check (the DingTalk token, timestamp and HMAC-SHA256
signature recomputed from its own copy of the secret; the WeCom key; the message
shape) and answers with the platforms' JSON bodies. A test can script replies
(a 500, a 429 with Retry-After, a rate-limit errcode, a slow answer) that are served
before the platform logic, one per request, or for every request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

DINGTALK_PATH = "/robot/send"
WECOM_PATH = "/cgi-bin/webhook/send"

DINGTALK_TOKEN = "tok-SENTINEL-7f3a9c"
DINGTALK_SECRET = "SEC-SENTINEL-91bc+/=&%"  # characters that must be URL-encoded
WECOM_KEY = "key-SENTINEL-55d0-4e1f"

DINGTALK_OK = {"errcode": 0, "errmsg": "ok"}
DINGTALK_SIGN_MISMATCH = {
    "errcode": 310000,
    "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
}
DINGTALK_STALE = {
    "errcode": 310000,
    "errmsg": "invalid timestamp, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
}
DINGTALK_NO_TOKEN = {"errcode": 300001, "errmsg": "token is not exist"}
DINGTALK_TOO_FAST = {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
DINGTALK_BAD_JSON = {"errcode": 40035, "errmsg": "缺少参数 json"}
WECOM_OK = {"errcode": 0, "errmsg": "ok"}
WECOM_BAD_KEY = {
    "errcode": 93000,
    "errmsg": "invalid webhook url, hint: [1700000000_7_a1b2c3], from ip: 127.0.0.1, more info "
    "at https://open.work.weixin.qq.com/devtool/query?e=93000",
}
WECOM_FREQ = {
    "errcode": 45009,
    "errmsg": "api freq out of limit, hint: [1700000000_7_d4e5f6], from ip: 127.0.0.1, more "
    "info at https://open.work.weixin.qq.com/devtool/query?e=45009",
}
WECOM_BAD_TYPE = {"errcode": 40008, "errmsg": "invalid message type"}


@dataclass(frozen=True)
class Reply:
    """A scripted answer: status, JSON (or raw) body, headers, and a delay before it."""

    status: int = 200
    body: dict[str, Any] | bytes = field(default_factory=lambda: dict(DINGTALK_OK))
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    """One request the server got."""

    path: str
    query: dict[str, str]
    body: Any
    at: float


class RobotServer:
    """The loopback robot: ``received`` lists the requests, ``script`` queues replies."""

    def __init__(self) -> None:
        self.dingtalk_token = DINGTALK_TOKEN
        self.dingtalk_secret: str | None = DINGTALK_SECRET
        self.wecom_key = WECOM_KEY
        self.script: deque[Reply] = deque()
        self.always: Reply | None = None
        self.received: list[Received] = []
        self._lock = threading.Lock()
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                reply = robot._answer(self.path, raw)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = (
                    reply.body
                    if isinstance(reply.body, bytes)
                    else json.dumps(reply.body, ensure_ascii=False).encode()
                )
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json;charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up waiting (timeout tests)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def dingtalk_url(self, **query: str) -> str:
        """A ``dingtalk+http://`` URL for this server; token and secret unless overridden."""
        params = {"access_token": self.dingtalk_token}
        if self.dingtalk_secret is not None:
            params["secret"] = self.dingtalk_secret
        params.update(query)
        return f"dingtalk+http://127.0.0.1:{self.port}{DINGTALK_PATH}?{urlencode(params)}"

    def wecom_url(self, **query: str) -> str:
        """A ``wecom+http://`` URL for this server with its key unless overridden."""
        params = {"key": self.wecom_key, **query}
        return f"wecom+http://127.0.0.1:{self.port}{WECOM_PATH}?{urlencode(params)}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- what the platforms do ------------------------------------------------------------

    def _answer(self, target: str, raw: bytes) -> Reply:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            self.received.append(Received(parts.path, query, body, time.monotonic()))
            if self.script:
                return self.script.popleft()
            if self.always is not None:
                return self.always
        if parts.path == DINGTALK_PATH:
            return Reply(body=self._dingtalk(query, body))
        if parts.path == WECOM_PATH:
            return Reply(body=self._wecom(query, body))
        return Reply(status=404, body=b"<html>404 Not Found</html>")

    def _dingtalk(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        if query.get("access_token") != self.dingtalk_token:
            return DINGTALK_NO_TOKEN
        if self.dingtalk_secret is not None:
            timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
            if not timestamp.isdigit() or not sign:
                return DINGTALK_SIGN_MISMATCH
            if abs(time.time() * 1000 - int(timestamp)) > 3600 * 1000:
                return DINGTALK_STALE
            string_to_sign = f"{timestamp}\n{self.dingtalk_secret}".encode()
            key = self.dingtalk_secret.encode()
            expected = base64.b64encode(hmac.new(key, string_to_sign, hashlib.sha256).digest())
            if not hmac.compare_digest(expected, sign.encode()):
                return DINGTALK_SIGN_MISMATCH
        if not isinstance(body, dict):
            return DINGTALK_BAD_JSON
        kind = body.get("msgtype")
        if kind == "markdown":
            markdown = body.get("markdown") or {}
            if not markdown.get("title") or not markdown.get("text"):
                return DINGTALK_BAD_JSON
        elif kind == "text":
            if not (body.get("text") or {}).get("content"):
                return DINGTALK_BAD_JSON
        else:
            return {"errcode": 40035, "errmsg": "不合法的参数 msgtype"}
        return DINGTALK_OK

    def _wecom(self, query: dict[str, str], body: Any) -> dict[str, Any]:
        if query.get("key") != self.wecom_key:
            return WECOM_BAD_KEY
        if not isinstance(body, dict) or body.get("msgtype") not in {"markdown", "text"}:
            return WECOM_BAD_TYPE
        content = (body.get(body["msgtype"]) or {}).get("content", "")
        limit = 4096 if body["msgtype"] == "markdown" else 2048
        if not content or len(content.encode()) > limit:
            return {"errcode": 40058, "errmsg": "content exceed max length"}
        return WECOM_OK
