"""fcgi.py — a small FastCGI client (responder role) for tests and benchmarks.

    r = fcgi.request("unix:/run/llmgw/auditd.sock", "POST", "/v1/records", body)
    r.status, r.headers["content-type"], r.json()

Addresses are written as llmgw-auditd's --listen: unix:PATH or tcp:HOST:PORT.
A Connection keeps its socket open between requests (FCGI_KEEP_CONN).
"""

import json
import socket
import struct

VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
RESPONDER = 1
KEEP_CONN = 1
MAX_RECORD = 65535
HEADER = struct.Struct("!BBHHBB")


class FcgiError(RuntimeError):
    pass


class Response:
    def __init__(self, status, headers, body, stderr, app_status):
        self.status = status
        self.headers = headers          # lower-case names
        self.body = body
        self.stderr = stderr
        self.app_status = app_status

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


def connect(address, timeout=30):
    if address.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target = address[5:]
    elif address.startswith("tcp:"):
        host, _, port = address[4:].rpartition(":")
        host = host.strip("[]")
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        target = (host, int(port))
    else:
        raise ValueError("address must be unix:PATH or tcp:HOST:PORT: %r" % address)
    s.settimeout(timeout)
    s.connect(target)
    return s


def _record(rtype, request_id, content=b""):
    padding = (8 - len(content) % 8) % 8
    return HEADER.pack(VERSION, rtype, request_id, len(content), padding, 0) + content + b"\0" * padding


def _stream(rtype, request_id, data):
    """data split into records, then the empty record that ends the stream."""
    out = [_record(rtype, request_id, data[i:i + MAX_RECORD])
           for i in range(0, len(data), MAX_RECORD)]
    out.append(_record(rtype, request_id))
    return b"".join(out)


def _length(n):
    return struct.pack("!B", n) if n < 128 else struct.pack("!I", n | 0x80000000)


def encode_params(params):
    out = []
    for name, value in params.items():
        name = name.encode() if isinstance(name, str) else name
        value = value.encode() if isinstance(value, str) else value
        out.append(_length(len(name)) + _length(len(value)) + name + value)
    return b"".join(out)


def parse_cgi(stdout):
    head, sep, body = stdout.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = stdout.partition(b"\n\n")
    headers = {}
    for line in head.decode("latin-1").splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    status = int(headers.get("status", "200").split()[0])
    return status, headers, body


class Connection:
    def __init__(self, address, timeout=30):
        self.address = address
        self.sock = connect(address, timeout)
        self.buf = b""
        self.next_id = 1

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise FcgiError("connection closed by the server")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def encode(self, method="POST", path="/v1/records", body=b"", params=None, keep=True,
               content_type="application/x-ndjson"):
        """Returns (request id, the bytes of the whole request) without sending them."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        rid = self.next_id
        self.next_id = self.next_id % 65535 + 1
        env = {"REQUEST_METHOD": method, "REQUEST_URI": path, "SCRIPT_NAME": path,
               "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": str(len(body))}
        if content_type:
            env["CONTENT_TYPE"] = content_type
        if params is not None:
            env = params
        begin = struct.pack("!HB5x", RESPONDER, KEEP_CONN if keep else 0)
        return rid, (_record(BEGIN_REQUEST, rid, begin)
                     + _stream(PARAMS, rid, encode_params(env))
                     + _stream(STDIN, rid, body))

    def request(self, method="POST", path="/v1/records", body=b"", params=None, keep=True,
                content_type="application/x-ndjson"):
        rid, data = self.encode(method, path, body, params, keep, content_type)
        self.sock.sendall(data)
        return self.response(rid)

    def response(self, rid):
        """Reads the answer to request rid."""
        out, err = [], []
        while True:
            _v, rtype, req, length, padding, _r = HEADER.unpack(self._read(8))
            content = self._read(length)
            self._read(padding)
            if req != rid:
                continue
            if rtype == STDOUT:
                out.append(content)
            elif rtype == STDERR:
                err.append(content)
            elif rtype == END_REQUEST:
                app_status = struct.unpack("!IB3x", content)[0]
                status, headers, body = parse_cgi(b"".join(out))
                return Response(status, headers, body, b"".join(err), app_status)


def request(address, method="POST", path="/v1/records", body=b"", params=None, timeout=30,
            content_type="application/x-ndjson"):
    """One request on a fresh connection, closed afterwards."""
    with Connection(address, timeout) as c:
        return c.request(method, path, body, params, keep=False, content_type=content_type)
