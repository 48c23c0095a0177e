#!/usr/bin/env python3
"""Mock LLM providers for mod_llmgw's integration tests, client tests and demo.

One process serves one or more provider flavours, each on its own 127.0.0.1 port:

    python3 tests/mocks/mock_providers.py --openai 0 --anthropic 0 --gemini 0 --azure 0 \\
        --key-openai K1 --key-anthropic K2 --key-gemini K3 --key-azure K4 \\
        [--ready-file PATH] [--delay-ms 10] [--quiet]

Port 0 picks a free port.  Once every listener is bound, the JSON object
{"openai": port, "anthropic": port, ...} (only the flavours asked for) is written to
--ready-file (atomically: written to PATH.tmp, then renamed) and printed as one line on
stdout.  Python 3 standard library only.

Credentials (the key the gateway must inject), checked on every non-control request:
  openai     Authorization: Bearer K
  anthropic  x-api-key: K  (Authorization: Bearer K is accepted too, like the real API's
             OAuth tokens) and an anthropic-version header (missing -> 400)
  gemini     x-goog-api-key: K
  azure      api-key: K and the api-version query parameter (missing -> 400)
A wrong or missing key gives 401 in the provider's own error format:
  OpenAI/Azure {"error":{"message","type","param","code"}}
  Anthropic    {"type":"error","error":{"type","message"}}
  Gemini       {"error":{"code","message","status"}}

Routes
  openai    POST /v1/chat/completions   (stream and not; stream_options.include_usage)
            POST /v1/responses          (stream and not)
            POST /v1/embeddings         (encoding_format float or base64)
            GET  /v1/models, GET /v1/models/{id}
  anthropic POST /v1/messages           (stream and not)
            POST /v1/messages/count_tokens
            GET  /v1/models (limit, after_id, before_id), GET /v1/models/{id}
  gemini    POST /v1beta/models/{m}:generateContent
            POST /v1beta/models/{m}:streamGenerateContent?alt=sse  (without alt=sse: a JSON
                 array, streamed)
            POST /v1beta/models/{m}:embedContent, :batchEmbedContents (what @google/genai's
                 models.embedContent calls), :countTokens
            GET  /v1beta/models (pageSize, default 50; pageToken / nextPageToken),
            GET  /v1beta/models/{m}.   The /v1/ prefix works as well as /v1beta/.
  azure     POST /openai/deployments/{d}/chat/completions?api-version=...  (stream and not;
                 streams open with Azure's prompt_filter_results chunk, "choices": [])
            POST /openai/deployments/{d}/embeddings?api-version=...

Usage figures: fixed per endpoint, independent of the request, identical in the stream and
non-stream form of the same endpoint (see USAGE below and GET /_mock/usage):
  OpenAI chat + Azure chat  prompt_tokens 25 (prompt_tokens_details.cached_tokens 5),
                            completion_tokens 12 (completion_tokens_details.reasoning_tokens 3),
                            total_tokens 37.  The stream carries them only in the final
                            usage chunk, sent only when stream_options.include_usage is true.
  OpenAI responses          input_tokens 30 (input_tokens_details.cached_tokens 6),
                            output_tokens 14 (output_tokens_details.reasoning_tokens 4),
                            total_tokens 44.  Stream: in response.completed.
  OpenAI/Azure embeddings   prompt_tokens 8, total_tokens 8 (per request).
  Anthropic messages        input_tokens 20, cache_creation_input_tokens 7,
                            cache_read_input_tokens 9, output_tokens 15
                            (output_tokens_details.thinking_tokens 4).
                            Gateway view: prompt 36 = 20+7+9, cached 9, cache_write 7,
                            completion 15, reasoning 4, total 51.
                            Stream: message_start carries input 20 / cache_creation 7 /
                            cache_read 9 / output_tokens 1; message_delta carries the
                            cumulative finals (input 20, cache_creation 7, cache_read 9,
                            output 15, thinking 4) - taking the latest figure gives the same
                            totals, adding them would double count.
  Anthropic count_tokens    input_tokens 20.
  Gemini generateContent    promptTokenCount 18, cachedContentTokenCount 4,
                            candidatesTokenCount 11, thoughtsTokenCount 6,
                            totalTokenCount 35.  Gateway view: prompt 18, cached 4,
                            completion 17 = 11+6, reasoning 6, total 35.
                            Stream: every chunk has usageMetadata with running figures
                            (prompt 18, cached 4, thoughts 6, candidatesTokenCount growing
                            to 11, totalTokenCount = 18 + candidates + 6); the last chunk
                            carries the complete figures above.
  Gemini embedContent / batchEmbedContents: no usage (like the real API).
  Gemini countTokens        totalTokens 18, cachedContentTokenCount 4.

Reply texts (streamed as word deltas; the concatenation is exactly the text):
  see TEXTS below, e.g. "Hello from the mock OpenAI provider."

Fault modes, chosen by the model name (the body's "model", or the model / deployment in
the URL for Gemini / Azure); the name only has to CONTAIN the marker, so "gpt-4o-mock-slow"
is both allowed by a "gpt-4*" policy and slow:
  mock-error-NNN  answer status NNN in the provider's format (e.g. mock-error-500,
                  mock-error-429 - the latter with Retry-After: 1 and x-ratelimit-*-requests
                  headers (Anthropic: retry-after and anthropic-ratelimit-requests-*),
                  mock-error-503, mock-error-400 ...)
  mock-slow       wait x-mock-delay-ms (default 3000 ms) before answering, then answer
                  normally (stream events keep the server's default spacing)
  mock-pieces     non-stream: write the JSON body in 4 pieces, 30 ms apart, so that the
                  gateway receives it in several reads (streams are unchanged)
  mock-reset      stream: send the headers and 3 events, then reset the TCP connection
                  (SO_LINGER 0 -> RST); non-stream: reset without any answer
  mock-hang       read the request and never answer, until the client closes the
                  connection (or --hang-max seconds, default 600, pass)
Faults are checked after the credential, so a bad key still gets its 401.

Streaming: Transfer-Encoding: chunked over HTTP/1.1 keep-alive (an HTTP/1.0 request gets a
Connection: close stream instead); every event is written and flushed on its own, with a
pause of x-mock-delay-ms (request header; default --delay-ms, 10) before each event after
the first.

Control endpoints on every port, no key needed:
  GET  /_mock/requests  JSON list of the recorded (non-control) requests on this port:
                        {"id","time","connection","method","path","query","params",
                         "headers" (dict, lower-case names), "body" (text), "status"}.
                        Optional filters: ?path=SUBSTRING, ?since=ID (ids > ID).
  POST /_mock/reset     clears the records and the counters
  GET  /_mock/stats     {"connections": TCP connections accepted since the last reset that
                         carried at least one non-control request,
                         "tcp_connections": every TCP connection accepted since the reset
                         (control ones included),
                         "requests": non-control requests since the reset,
                         "open_connections": connections open now (pooled ones of
                         earlier gateways included),
                         "active_requests": non-control requests received since the
                         last reset and still being answered (a stream counts until it
                         ends or its reader leaves)}
                        Counting happens in the handler's setup(), once per accepted
                        connection, so "connections" is exact: N requests over one reused
                        upstream connection count 1.
  GET  /_mock/usage     the usage table and reply texts (the rules above, as JSON)
  POST /_mock/gate/NAME opens the gate of a stream sent with request header
                        x-mock-gate: NAME (held after its first event, at most 15 s)
"""

import argparse
import base64
import hashlib
import json
import math
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

FLAVOURS = ("openai", "anthropic", "gemini", "azure")

USAGE = {
    "openai_chat": {
        "prompt_tokens": 25, "completion_tokens": 12, "total_tokens": 37,
        "cached_tokens": 5, "reasoning_tokens": 3,
    },
    "openai_responses": {
        "input_tokens": 30, "output_tokens": 14, "total_tokens": 44,
        "cached_tokens": 6, "reasoning_tokens": 4,
    },
    "openai_embeddings": {"prompt_tokens": 8, "total_tokens": 8},
    "anthropic_messages": {
        "input_tokens": 20, "cache_creation_input_tokens": 7,
        "cache_read_input_tokens": 9, "output_tokens": 15, "thinking_tokens": 4,
    },
    "anthropic_count_tokens": {"input_tokens": 20},
    "gemini_generate": {
        "promptTokenCount": 18, "cachedContentTokenCount": 4,
        "candidatesTokenCount": 11, "thoughtsTokenCount": 6, "totalTokenCount": 35,
    },
    "gemini_count_tokens": {"totalTokens": 18, "cachedContentTokenCount": 4},
    "azure_chat": "same as openai_chat",
    "azure_embeddings": "same as openai_embeddings",
}

TEXTS = {
    "openai_chat": "Hello from the mock OpenAI provider.",
    "openai_responses": "Hello from the mock OpenAI Responses API.",
    "anthropic_messages": "Hello from the mock Anthropic provider.",
    "gemini_generate": "Hello from the mock Gemini provider.",
    "azure_chat": "Hello from the mock Azure OpenAI provider.",
}

OPENAI_MODELS = [
    ("gpt-4o", 1715367049, "system"),
    ("gpt-4o-mini", 1721172741, "system"),
    ("gpt-4.1", 1744316542, "system"),
    ("gpt-3.5-turbo", 1677610602, "openai"),
    ("o3-mini", 1737146383, "system"),
    ("text-embedding-3-small", 1705948997, "system"),
    ("text-embedding-3-large", 1705953180, "system"),
]

ANTHROPIC_MODELS = [
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-22T00:00:00Z"),
    ("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", "2025-02-24T00:00:00Z"),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
    ("claude-3-opus-20240229", "Claude Opus 3", "2024-02-29T00:00:00Z"),
    ("claude-3-haiku-20240307", "Claude Haiku 3", "2024-03-07T00:00:00Z"),
]

GEMINI_MODELS = [
    ("gemini-2.5-pro", "Gemini 2.5 Pro", ["generateContent", "countTokens"]),
    ("gemini-2.5-flash", "Gemini 2.5 Flash", ["generateContent", "countTokens"]),
    ("gemini-2.0-flash", "Gemini 2.0 Flash", ["generateContent", "countTokens"]),
    ("gemini-1.5-pro", "Gemini 1.5 Pro", ["generateContent", "countTokens"]),
    ("gemini-pro", "Gemini Pro", ["generateContent", "countTokens"]),
    ("text-embedding-004", "Text Embedding 004", ["embedContent"]),
    ("gemini-embedding-001", "Gemini Embedding 001", ["embedContent"]),
]

GEMINI_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 409: "ABORTED", 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED", 500: "INTERNAL", 501: "NOT_IMPLEMENTED", 503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
ANTHROPIC_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 529: "overloaded_error",
}
OPENAI_TYPES = {
    400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "not_found"), 429: ("rate_limit_exceeded", "rate_limit_exceeded"),
    500: ("server_error", None), 503: ("server_error", None),
}

FAULT_RE = re.compile(r"mock-error-(\d{3})")


class ClientGone(Exception):
    """The client closed the connection while we were writing."""


class MockServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, flavour, key, opts):
        self.flavour = flavour
        self.key = key
        self.opts = opts
        self.lock = threading.Lock()
        self.records = []
        self.gates = {}
        self.epoch = 0
        self.tcp_connections = 0
        self.connections = 0
        self.requests = 0
        self.open_connections = 0
        self.active_requests = 0
        self.next_conn_id = 0
        self.next_req_id = 0
        super().__init__(("127.0.0.1", opts.port_of[flavour]), Handler)

    def reset(self):
        with self.lock:
            self.records = []
            self.epoch += 1
            self.tcp_connections = 0
            self.connections = 0
            self.requests = 0
            self.active_requests = 0


def word_deltas(text):
    """Split a text into deltas whose concatenation is exactly the text."""
    return re.findall(r"\s*\S+", text)


def fake_embedding(text, dims):
    dims = max(1, min(int(dims), 4096))
    vals = []
    counter = 0
    while len(vals) < dims:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        for i in range(0, len(digest), 2):
            vals.append((int.from_bytes(digest[i:i + 2], "little") / 65535.0) * 2.0 - 1.0)
        counter += 1
    vals = vals[:dims]
    norm = math.sqrt(sum(v * v for v in vals)) or 1.0
    # round-trip through float32 so base64 and float encodings carry the same numbers
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in vals]


def new_id(prefix):
    return prefix + uuid.uuid4().hex[:24]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-llm-provider/1.0"
    sys_version = ""
    disable_nagle_algorithm = True  # each stream event leaves at once

    def version_string(self):
        return self.server_version

    # ---------------------------------------------------------------- connection
    def setup(self):
        super().setup()
        srv = self.server
        if srv.opts.idle_timeout > 0:
            self.connection.settimeout(srv.opts.idle_timeout)
        with srv.lock:
            srv.tcp_connections += 1
            srv.open_connections += 1
            srv.next_conn_id += 1
            self.conn_id = srv.next_conn_id
            self.conn_epoch = srv.epoch
        self.conn_counted = False

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        with self.server.lock:
            self.server.open_connections -= 1

    def log_message(self, fmt, *args):
        if not self.server.opts.quiet:
            sys.stderr.write("[mock %s:%d] %s\n" % (self.server.flavour, self.server.server_address[1],
                                                    fmt % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # ---------------------------------------------------------------- request
    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            data = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    break
                data += self.rfile.read(size)
                self.rfile.readline(65537)
            return bytes(data)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def dispatch(self):
        self.fault_slow = self.fault_reset = self.fault_pieces = False
        self.deployment = None
        self.record = None
        split = urlsplit(self.path)
        self.req_path = unquote(split.path)
        self.req_query = split.query
        self.params = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        try:
            self.body_bytes = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        self.body_text = self.body_bytes.decode("utf-8", errors="replace")
        self.json = None
        srv = self.server

        if self.req_path.startswith("/_mock/"):
            return self.control()

        hdrs = {}
        for name, value in self.headers.items():
            n = name.lower()
            hdrs[n] = hdrs[n] + ", " + value if n in hdrs else value
        with srv.lock:
            srv.requests += 1
            if not self.conn_counted and self.conn_epoch == srv.epoch:
                srv.connections += 1
                self.conn_counted = True
            srv.next_req_id += 1
            srv.active_requests += 1
            req_epoch = srv.epoch
            self.record = {
                "id": srv.next_req_id, "time": time.time(), "connection": self.conn_id,
                "method": self.command, "path": self.req_path, "query": self.req_query,
                "params": self.params, "headers": hdrs, "body": self.body_text, "status": None,
            }
            srv.records.append(self.record)
            if len(srv.records) > srv.opts.max_records:
                del srv.records[: len(srv.records) - srv.opts.max_records]

        try:
            self.answer()
        finally:
            with srv.lock:
                if srv.epoch == req_epoch:
                    srv.active_requests -= 1

    def answer(self):
        srv = self.server
        try:
            if not self.check_auth():
                return
            if self.command == "POST" and self.body_bytes:
                try:
                    self.json = json.loads(self.body_text)
                except ValueError:
                    return self.error(400, "Request body is not valid JSON.")
                if not isinstance(self.json, dict):
                    return self.error(400, "Request body must be a JSON object.")
            elif self.command == "POST":
                self.json = {}
            getattr(self, "route_" + srv.flavour)()
        except ClientGone:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception:  # a bug in the mock: say so in the provider's format
            import traceback
            traceback.print_exc()
            self.close_connection = True
            try:
                self.error(500, "mock internal error")
            except Exception:
                pass

    # ---------------------------------------------------------------- control
    def control(self):
        srv = self.server
        p = self.req_path
        if p == "/_mock/requests" and self.command == "GET":
            with srv.lock:
                recs = list(srv.records)
            sub = self.params.get("path")
            if sub:
                recs = [r for r in recs if sub in r["path"]]
            since = self.params.get("since")
            if since:
                recs = [r for r in recs if r["id"] > int(since)]
            return self.send_json(200, recs)
        if p == "/_mock/reset" and self.command == "POST":
            srv.reset()
            return self.send_json(200, {"ok": True})
        if p == "/_mock/stats" and self.command == "GET":
            with srv.lock:
                st = {"flavour": srv.flavour, "connections": srv.connections,
                      "tcp_connections": srv.tcp_connections, "requests": srv.requests,
                      "open_connections": srv.open_connections,
                      "active_requests": srv.active_requests}
            return self.send_json(200, st)
        if p == "/_mock/usage" and self.command == "GET":
            return self.send_json(200, {"usage": USAGE, "texts": TEXTS})
        if p.startswith("/_mock/gate/") and self.command == "POST":
            with srv.lock:
                ev = srv.gates.setdefault(p[len("/_mock/gate/"):], threading.Event())
            ev.set()
            return self.send_json(200, {"ok": True})
        return self.send_json(404, {"error": "unknown control endpoint"})

    # ---------------------------------------------------------------- output
    def send_json(self, status, obj, headers=None):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.common_headers(headers)
        self.end_headers()
        if self.command != "HEAD":
            self.write_body(body)
        self.set_status(status)

    def write_body(self, body):
        if not getattr(self, "fault_pieces", False):
            self.wfile.write(body)
            return
        step = max(1, (len(body) + 3) // 4)
        for i in range(0, len(body), step):
            self.wfile.write(body[i:i + step])
            self.wfile.flush()
            time.sleep(0.03)

    def set_status(self, status):
        rec = getattr(self, "record", None)
        if rec is not None:
            with self.server.lock:
                rec["status"] = status

    def common_headers(self, headers=None):
        fl = self.server.flavour
        rid = new_id("req_")
        if fl == "anthropic":
            self.send_header("request-id", rid)
        else:
            self.send_header("x-request-id", rid)
        if fl in ("openai", "azure"):
            self.send_header("openai-processing-ms", "1")
        for k, v in (headers or {}).items():
            self.send_header(k, v)

    def error(self, status, message, headers=None):
        fl = self.server.flavour
        if fl == "anthropic":
            obj = {"type": "error",
                   "error": {"type": ANTHROPIC_TYPES.get(status, "api_error"), "message": message}}
        elif fl == "gemini":
            obj = {"error": {"code": status, "message": message,
                             "status": GEMINI_STATUS.get(status, "UNKNOWN")}}
        else:
            typ, code = OPENAI_TYPES.get(status, ("server_error" if status >= 500 else
                                                  "invalid_request_error", None))
            obj = {"error": {"message": message, "type": typ, "param": None, "code": code}}
        self.send_json(status, obj, headers)

    def start_stream(self, content_type="text/event-stream"):
        self.chunked = self.request_version != "HTTP/1.0"
        self.events_sent = 0
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        if self.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.common_headers()
        self.end_headers()
        self.set_status(200)

    def stream_delay(self):
        hdr = self.headers.get("x-mock-delay-ms")
        if hdr is not None and not self.fault_slow:
            try:
                return max(0.0, float(hdr)) / 1000.0
            except ValueError:
                pass
        return self.server.opts.delay_ms / 1000.0

    def wait_gate(self):
        """x-mock-gate: NAME holds the stream after its first event until a client
        calls POST /_mock/gate/NAME (at most 15 s): a test that must see the first
        event before the gate opens proves the path in between does not buffer."""
        name = self.headers.get("x-mock-gate")
        if not name:
            return
        with self.server.lock:
            ev = self.server.gates.setdefault(name, threading.Event())
        ev.wait(15)

    def write_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.events_sent == 1:
            self.wait_gate()
        if self.events_sent:
            delay = self.stream_delay()
            if delay:
                time.sleep(delay)
        self.events_sent += 1
        try:
            if self.chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError) as e:
            raise ClientGone() from e
        if self.fault_reset and self.events_sent >= 3:
            time.sleep(0.05)  # let the events reach the peer before the RST
            self.reset_connection()
            raise ClientGone()

    def sse(self, obj, event=None):
        data = json.dumps(obj, separators=(",", ":"))
        if event:
            self.write_raw("event: %s\ndata: %s\n\n" % (event, data))
        else:
            self.write_raw("data: %s\n\n" % data)

    def end_stream(self):
        try:
            if self.chunked:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except OSError as e:
            raise ClientGone() from e

    def reset_connection(self):
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    # ---------------------------------------------------------------- auth, faults
    def check_auth(self):
        fl = self.server.flavour
        key = self.server.key
        h = self.headers
        if fl == "openai":
            ok = h.get("Authorization", "") == "Bearer " + key
            msg = "Incorrect API key provided. You can find your API key at the mock's command line."
        elif fl == "anthropic":
            ok = h.get("x-api-key") == key or h.get("Authorization", "") == "Bearer " + key
            msg = "invalid x-api-key"
        elif fl == "gemini":
            ok = h.get("x-goog-api-key") == key
            msg = "API key not valid. Please pass a valid API key."
        else:
            ok = h.get("api-key") == key
            msg = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure "
                   "to provide a valid key for an active subscription and use a correct regional "
                   "API endpoint for your resource.")
        if not ok:
            self.error(401, msg)
            return False
        if fl == "anthropic" and not h.get("anthropic-version"):
            self.error(400, "anthropic-version: header is required")
            return False
        if fl == "azure" and "api-version" not in self.params:
            self.error(400, "Missing required query parameter: api-version")
            return False
        return True

    def apply_faults(self, model, stream):
        """Handle fault-mode models.  Returns True when the request has been dealt with."""
        model = model or ""
        self.fault_slow = "mock-slow" in model
        self.fault_reset = "mock-reset" in model
        self.fault_pieces = "mock-pieces" in model and not stream
        m = FAULT_RE.search(model)
        if m:
            status = int(m.group(1))
            headers = {}
            if status == 429:
                headers = {"Retry-After": "1", "x-ratelimit-limit-requests": "60",
                           "x-ratelimit-remaining-requests": "0",
                           "x-ratelimit-reset-requests": "1s"}
                if self.server.flavour == "anthropic":
                    headers = {"retry-after": "1",
                               "anthropic-ratelimit-requests-limit": "60",
                               "anthropic-ratelimit-requests-remaining": "0"}
            self.error(status, "Mock fault %s for model %s." % (m.group(0), model), headers)
            return True
        if "mock-hang" in model:
            self.hang()
            return True
        if self.fault_reset and not stream:
            self.reset_connection()
            return True
        if self.fault_slow:
            wait = 3.0
            hdr = self.headers.get("x-mock-delay-ms")
            if hdr is not None:
                try:
                    wait = max(0.0, float(hdr)) / 1000.0
                except ValueError:
                    pass
            time.sleep(wait)
        return False

    def hang(self):
        self.close_connection = True
        deadline = time.monotonic() + self.server.opts.hang_max
        sock = self.connection
        while time.monotonic() < deadline:
            try:
                r, _, _ = select.select([sock], [], [], 0.25)
                if r:
                    peek = sock.recv(1, socket.MSG_PEEK)
                    if not peek:
                        return  # the client gave up
                    time.sleep(0.25)
            except OSError:
                return

    # ---------------------------------------------------------------- OpenAI
    def route_openai(self):
        p, meth = self.req_path, self.command
        if p == "/v1/chat/completions" and meth == "POST":
            return self.chat_completions("openai")
        if p == "/v1/responses" and meth == "POST":
            return self.openai_responses()
        if p == "/v1/embeddings" and meth == "POST":
            return self.embeddings()
        if p == "/v1/models" and meth == "GET":
            return self.send_json(200, {"object": "list", "data": [
                {"id": i, "object": "model", "created": c, "owned_by": o} for i, c, o in OPENAI_MODELS]})
        if p.startswith("/v1/models/") and meth == "GET":
            mid = p[len("/v1/models/"):]
            for i, c, o in OPENAI_MODELS:
                if i == mid:
                    return self.send_json(200, {"id": i, "object": "model", "created": c, "owned_by": o})
            return self.send_json(404, {"error": {
                "message": "The model '%s' does not exist" % mid, "type": "invalid_request_error",
                "param": "model", "code": "model_not_found"}})
        return self.error(404, "Invalid URL (%s %s)" % (meth, p))

    def route_azure(self):
        p, meth = self.req_path, self.command
        m = re.fullmatch(r"/openai/deployments/([^/]+)/(chat/completions|embeddings)", p)
        if m and meth == "POST":
            self.deployment = m.group(1)
            if m.group(2) == "embeddings":
                return self.embeddings(model=self.deployment)
            return self.chat_completions("azure", model=self.deployment)
        return self.error(404, "Resource not found")

    def chat_usage(self):
        u = USAGE["openai_chat"]
        return {
            "prompt_tokens": u["prompt_tokens"], "completion_tokens": u["completion_tokens"],
            "total_tokens": u["total_tokens"],
            "prompt_tokens_details": {"cached_tokens": u["cached_tokens"], "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": u["reasoning_tokens"], "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0},
        }

    def chat_completions(self, flavour, model=None):
        body = self.json
        fault_model = model if model else body.get("model")
        if flavour == "azure" and body.get("model"):
            fault_model = "%s %s" % (model, body.get("model"))
        model = body.get("model") or model or "unknown"
        stream = bool(body.get("stream"))
        if self.apply_faults(fault_model, stream):
            return
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return self.error(400, "'messages' is a required property and must be a non-empty array")
        text = TEXTS["azure_chat" if flavour == "azure" else "openai_chat"]
        cid = new_id("chatcmpl-mock")
        created = int(time.time())
        filt = {"hate": {"filtered": False, "severity": "safe"},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": False, "severity": "safe"}}
        if not stream:
            resp = {
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                                                     "refusal": None, "annotations": []},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": self.chat_usage(), "service_tier": "default",
                "system_fingerprint": "fp_mock",
            }
            if flavour == "azure":
                resp["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": filt}]
                resp["choices"][0]["content_filter_results"] = filt
            return self.send_json(200, resp)

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.start_stream()

        def chunk(delta, finish=None):
            c = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                 "service_tier": "default", "system_fingerprint": "fp_mock",
                 "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            if include_usage:
                c["usage"] = None
            return c

        if flavour == "azure":
            first = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                     "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filt}]}
            if include_usage:
                first["usage"] = None
            self.sse(first)
        self.sse(chunk({"role": "assistant", "content": "", "refusal": None}))
        for d in word_deltas(text):
            self.sse(chunk({"content": d}))
        self.sse(chunk({}, "stop"))
        if include_usage:
            self.sse({"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                      "service_tier": "default", "system_fingerprint": "fp_mock", "choices": [],
                      "usage": self.chat_usage()})
        self.write_raw("data: [DONE]\n\n")
        self.end_stream()

    def responses_usage(self):
        u = USAGE["openai_responses"]
        return {"input_tokens": u["input_tokens"],
                "input_tokens_details": {"cached_tokens": u["cached_tokens"]},
                "output_tokens": u["output_tokens"],
                "output_tokens_details": {"reasoning_tokens": u["reasoning_tokens"]},
                "total_tokens": u["total_tokens"]}

    def openai_responses(self):
        body = self.json
        model = body.get("model") or "unknown"
        stream = bool(body.get("stream"))
        if self.apply_faults(model, stream):
            return
        if body.get("input") is None:
            return self.error(400, "Missing required parameter: 'input'.")
        text = TEXTS["openai_responses"]
        rid = new_id("resp_mock")
        mid = new_id("msg_mock")
        created = int(time.time())

        def response_obj(status, output, usage):
            return {
                "id": rid, "object": "response", "created_at": created, "status": status,
                "background": False, "error": None, "incomplete_details": None,
                "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
                "model": model, "output": output, "parallel_tool_calls": True,
                "previous_response_id": body.get("previous_response_id"),
                "reasoning": {"effort": None, "summary": None}, "service_tier": "default",
                "store": body.get("store", True), "temperature": 1.0,
                "text": {"format": {"type": "text"}, "verbosity": "medium"},
                "tool_choice": "auto", "tools": [], "top_p": 1.0, "truncation": "disabled",
                "usage": usage, "user": None, "metadata": body.get("metadata") or {},
            }

        part_done = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        item_done = {"id": mid, "type": "message", "status": "completed", "role": "assistant",
                     "content": [part_done]}
        if not stream:
            return self.send_json(200, response_obj("completed", [item_done], self.responses_usage()))

        self.start_stream()
        seq = [0]

        def ev(name, **fields):
            obj = {"type": name, "sequence_number": seq[0]}
            obj.update(fields)
            seq[0] += 1
            self.sse(obj, event=name)

        ev("response.created", response=response_obj("in_progress", [], None))
        ev("response.in_progress", response=response_obj("in_progress", [], None))
        ev("response.output_item.added", output_index=0,
           item={"id": mid, "type": "message", "status": "in_progress", "role": "assistant", "content": []})
        ev("response.content_part.added", item_id=mid, output_index=0, content_index=0,
           part={"type": "output_text", "text": "", "annotations": [], "logprobs": []})
        for d in word_deltas(text):
            ev("response.output_text.delta", item_id=mid, output_index=0, content_index=0, delta=d,
               logprobs=[])
        ev("response.output_text.done", item_id=mid, output_index=0, content_index=0, text=text, logprobs=[])
        ev("response.content_part.done", item_id=mid, output_index=0, content_index=0, part=part_done)
        ev("response.output_item.done", output_index=0, item=item_done)
        ev("response.completed", response=response_obj("completed", [item_done], self.responses_usage()))
        self.end_stream()

    def embeddings(self, model=None):
        body = self.json
        model = body.get("model") or model or "unknown"
        fault = model if not getattr(self, "deployment", None) else "%s %s" % (self.deployment, model)
        if self.apply_faults(fault, False):
            return
        inp = body.get("input")
        if inp is None or inp == "" or inp == []:
            return self.error(400, "'input' is a required property")
        if isinstance(inp, str) or (isinstance(inp, list) and inp and isinstance(inp[0], int)):
            inputs = [inp]
        else:
            inputs = list(inp)
        dims = body.get("dimensions") or 16
        b64 = body.get("encoding_format") == "base64"
        data = []
        for i, item in enumerate(inputs):
            vec = fake_embedding(json.dumps(item) if not isinstance(item, str) else item, dims)
            emb = base64.b64encode(struct.pack("<%df" % len(vec), *vec)).decode() if b64 else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        u = USAGE["openai_embeddings"]
        return self.send_json(200, {"object": "list", "data": data, "model": model,
                                    "usage": {"prompt_tokens": u["prompt_tokens"],
                                              "total_tokens": u["total_tokens"]}})

    # ---------------------------------------------------------------- Anthropic
    def route_anthropic(self):
        p, meth = self.req_path, self.command
        if p == "/v1/messages" and meth == "POST":
            return self.messages()
        if p == "/v1/messages/count_tokens" and meth == "POST":
            if self.apply_faults(self.json.get("model"), False):
                return
            if not isinstance(self.json.get("messages"), list):
                return self.error(400, "messages: Field required")
            return self.send_json(200, {"input_tokens": USAGE["anthropic_count_tokens"]["input_tokens"]})
        if p == "/v1/models" and meth == "GET":
            return self.anthropic_models()
        if p.startswith("/v1/models/") and meth == "GET":
            mid = p[len("/v1/models/"):]
            for i, name, created in ANTHROPIC_MODELS:
                if i == mid:
                    return self.send_json(200, {"type": "model", "id": i, "display_name": name,
                                                "created_at": created})
            return self.error(404, "model: %s" % mid)
        return self.error(404, "Not found: %s %s" % (meth, p))

    def anthropic_models(self):
        try:
            limit = int(self.params.get("limit", "20"))
        except ValueError:
            return self.error(400, "limit: Input should be a valid integer")
        limit = max(1, min(limit, 1000))
        ids = [m[0] for m in ANTHROPIC_MODELS]
        start, end = 0, len(ids)
        if self.params.get("after_id"):
            if self.params["after_id"] not in ids:
                return self.error(400, "after_id: unknown model id")
            start = ids.index(self.params["after_id"]) + 1
            end = min(len(ids), start + limit)
        elif self.params.get("before_id"):
            if self.params["before_id"] not in ids:
                return self.error(400, "before_id: unknown model id")
            end = ids.index(self.params["before_id"])
            start = max(0, end - limit)
        else:
            end = min(len(ids), limit)
        page = ANTHROPIC_MODELS[start:end]
        data = [{"type": "model", "id": i, "display_name": n, "created_at": c} for i, n, c in page]
        has_more = end < len(ids) if not self.params.get("before_id") else start > 0
        return self.send_json(200, {"data": data, "has_more": has_more,
                                    "first_id": data[0]["id"] if data else None,
                                    "last_id": data[-1]["id"] if data else None})

    def messages(self):
        body = self.json
        model = body.get("model") or "unknown"
        stream = bool(body.get("stream"))
        if self.apply_faults(model, stream):
            return
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return self.error(400, "messages: Field required")
        if not isinstance(body.get("max_tokens"), int):
            return self.error(400, "max_tokens: Field required")
        u = USAGE["anthropic_messages"]
        text = TEXTS["anthropic_messages"]
        mid = new_id("msg_mock")
        full_usage = {
            "input_tokens": u["input_tokens"],
            "cache_creation_input_tokens": u["cache_creation_input_tokens"],
            "cache_read_input_tokens": u["cache_read_input_tokens"],
            "cache_creation": {"ephemeral_5m_input_tokens": u["cache_creation_input_tokens"],
                               "ephemeral_1h_input_tokens": 0},
            "output_tokens": u["output_tokens"],
            "output_tokens_details": {"thinking_tokens": u["thinking_tokens"]},
            "service_tier": "standard",
        }
        if not stream:
            return self.send_json(200, {
                "id": mid, "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                "stop_sequence": None, "usage": full_usage})
        self.start_stream()
        start_usage = dict(full_usage)
        start_usage["output_tokens"] = 1
        del start_usage["output_tokens_details"]
        self.sse({"type": "message_start", "message": {
            "id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}}, event="message_start")
        self.sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                 event="content_block_start")
        self.sse({"type": "ping"}, event="ping")
        for d in word_deltas(text):
            self.sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": d}},
                     event="content_block_delta")
        self.sse({"type": "content_block_stop", "index": 0}, event="content_block_stop")
        self.sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                  "usage": {"input_tokens": u["input_tokens"],
                            "cache_creation_input_tokens": u["cache_creation_input_tokens"],
                            "cache_read_input_tokens": u["cache_read_input_tokens"],
                            "output_tokens": u["output_tokens"],
                            "output_tokens_details": {"thinking_tokens": u["thinking_tokens"]}}},
                 event="message_delta")
        self.sse({"type": "message_stop"}, event="message_stop")
        self.end_stream()

    # ---------------------------------------------------------------- Gemini
    def route_gemini(self):
        p, meth = self.req_path, self.command
        m = re.fullmatch(r"/(v1beta|v1)/models", p)
        if m and meth == "GET":
            return self.gemini_models()
        m = re.fullmatch(r"/(v1beta|v1)/models/([^:/]+)(?::([A-Za-z]+))?", p)
        if m:
            model, action = m.group(2), m.group(3)
            if action is None and meth == "GET":
                for i, name, methods in GEMINI_MODELS:
                    if i == model:
                        return self.send_json(200, self.gemini_model(i, name, methods))
                return self.error(404, "models/%s is not found for API version %s" % (model, m.group(1)))
            if meth == "POST" and action == "generateContent":
                return self.generate(model, stream=False)
            if meth == "POST" and action == "streamGenerateContent":
                return self.generate(model, stream=True)
            if meth == "POST" and action in ("embedContent", "batchEmbedContents"):
                return self.gemini_embed(model, action == "batchEmbedContents")
            if meth == "POST" and action == "countTokens":
                if self.apply_faults(model, False):
                    return
                u = USAGE["gemini_count_tokens"]
                return self.send_json(200, {"totalTokens": u["totalTokens"],
                                            "cachedContentTokenCount": u["cachedContentTokenCount"]})
        return self.error(404, "Method not found: %s %s" % (meth, p))

    @staticmethod
    def gemini_model(i, name, methods):
        return {"name": "models/" + i, "version": "001", "displayName": name,
                "description": "Mock " + name, "inputTokenLimit": 1048576, "outputTokenLimit": 8192,
                "supportedGenerationMethods": methods, "temperature": 1.0, "topP": 0.95, "topK": 40}

    def gemini_models(self):
        try:
            size = int(self.params.get("pageSize") or 50)
            offset = 0
            if self.params.get("pageToken"):
                tok = self.params["pageToken"]
                offset = int(base64.urlsafe_b64decode((tok + "=" * (-len(tok) % 4)).encode()).decode()
                              .split(":", 1)[1])
        except (ValueError, IndexError, UnicodeDecodeError):
            return self.error(400, "Invalid pageSize or pageToken.")
        size = max(1, min(size, 1000))
        page = GEMINI_MODELS[offset:offset + size]
        out = {"models": [self.gemini_model(*m) for m in page]}
        if offset + size < len(GEMINI_MODELS):
            out["nextPageToken"] = base64.urlsafe_b64encode(
                ("offset:%d" % (offset + size)).encode()).decode().rstrip("=")
        return self.send_json(200, out)

    def gemini_usage(self, candidates=None):
        u = USAGE["gemini_generate"]
        cand = u["candidatesTokenCount"] if candidates is None else candidates
        return {"promptTokenCount": u["promptTokenCount"], "candidatesTokenCount": cand,
                "totalTokenCount": u["promptTokenCount"] + cand + u["thoughtsTokenCount"],
                "cachedContentTokenCount": u["cachedContentTokenCount"],
                "thoughtsTokenCount": u["thoughtsTokenCount"],
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": u["promptTokenCount"]}],
                "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": u["cachedContentTokenCount"]}]}

    def generate(self, model, stream):
        if self.apply_faults(model, stream):
            return
        body = self.json
        if not isinstance(body.get("contents"), list) or not body["contents"]:
            return self.error(400, "* GenerateContentRequest.contents: contents is not specified")
        text = TEXTS["gemini_generate"]
        rid = uuid.uuid4().hex[:22]
        if not stream:
            return self.send_json(200, {
                "candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": self.gemini_usage(), "modelVersion": model, "responseId": rid})
        sse = self.params.get("alt") == "sse"
        self.start_stream("text/event-stream" if sse else "application/json")
        deltas = word_deltas(text)
        n = len(deltas)
        total = USAGE["gemini_generate"]["candidatesTokenCount"]
        for k, d in enumerate(deltas, 1):
            cand = {"content": {"parts": [{"text": d}], "role": "model"}, "index": 0}
            if k == n:
                cand["finishReason"] = "STOP"
            running = total if k == n else (total * k) // n
            chunk = {"candidates": [cand], "usageMetadata": self.gemini_usage(running),
                     "modelVersion": model, "responseId": rid}
            if sse:
                self.sse(chunk)
            else:
                self.write_raw(("[" if k == 1 else ",\r\n") + json.dumps(chunk) + ("]" if k == n else ""))
        self.end_stream()

    def gemini_embed(self, model, batch):
        if self.apply_faults(model, False):
            return
        body = self.json

        def one(req):
            content = req.get("content") if isinstance(req, dict) else None
            if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
                return None
            txt = "".join(p.get("text", "") for p in content["parts"] if isinstance(p, dict))
            return {"values": fake_embedding(txt, req.get("outputDimensionality") or 16)}

        if batch:
            reqs = body.get("requests")
            if not isinstance(reqs, list) or not reqs:
                return self.error(400, "* BatchEmbedContentsRequest.requests: requests is not specified")
            out = [one(r) for r in reqs]
            if any(o is None for o in out):
                return self.error(400, "* BatchEmbedContentsRequest.requests[].content: content is not specified")
            return self.send_json(200, {"embeddings": out})
        out = one(body)
        if out is None:
            return self.error(400, "* EmbedContentRequest.content: content is not specified")
        return self.send_json(200, {"embedding": out})


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Mock LLM providers (OpenAI, Anthropic, Gemini, Azure OpenAI)")
    for fl in FLAVOURS:
        ap.add_argument("--" + fl, type=int, metavar="PORT", help="serve the %s flavour on PORT (0 = any free)" % fl)
        ap.add_argument("--key-" + fl, default="mock-%s-key" % fl, metavar="KEY",
                        help="provider key the %s flavour expects (default mock-%s-key)" % (fl, fl))
    ap.add_argument("--ready-file", metavar="PATH", help="write the {flavour: port} JSON here once bound")
    ap.add_argument("--delay-ms", type=float, default=10.0,
                    help="default pause between stream events, ms (request header x-mock-delay-ms overrides)")
    ap.add_argument("--hang-max", type=float, default=600.0, help="longest a mock-hang request is held, s")
    ap.add_argument("--idle-timeout", type=float, default=300.0,
                    help="close a keep-alive connection idle this long, s (0 = never)")
    ap.add_argument("--max-records", type=int, default=10000, help="recorded requests kept per port")
    ap.add_argument("--quiet", action="store_true", help="no access log on stderr")
    opts = ap.parse_args(argv)
    opts.port_of = {fl: getattr(opts, fl) for fl in FLAVOURS}
    if all(v is None for v in opts.port_of.values()):
        ap.error("give at least one of --openai/--anthropic/--gemini/--azure PORT")
    return opts


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    servers = {}
    for fl in FLAVOURS:
        if opts.port_of[fl] is None:
            continue
        try:
            servers[fl] = MockServer(fl, getattr(opts, "key_" + fl), opts)
        except OSError as e:
            sys.stderr.write("mock_providers: cannot listen on 127.0.0.1:%s for %s: %s\n"
                             % (opts.port_of[fl], fl, e))
            return 1
    ports = {fl: s.server_address[1] for fl, s in servers.items()}
    threads = []
    for fl, s in servers.items():
        t = threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2},
                             name="mock-" + fl, daemon=True)
        t.start()
        threads.append(t)
    line = json.dumps(ports)
    if opts.ready_file:
        tmp = opts.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(line + "\n")
        os.replace(tmp, opts.ready_file)
    print(line, flush=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for s in servers.values():
            s.shutdown()
            s.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
