"""rawhttp.py — HTTP/1.1 over plain sockets for tests that need what http.client hides:
requests with bytes no client library would send (conflicting framing, CR/LF or NUL in
header values, raw request targets), responses read as they arrive, and telling a
complete response from one the server cut short."""

import socket
import time


def request_bytes(method, target, headers=(), body=b"", host="127.0.0.1"):
    """The request exactly as given: headers is a list of (name, value) pairs, str or
    bytes, sent verbatim (nothing is validated or added except Host when absent)."""
    def b(x):
        return x if isinstance(x, bytes) else x.encode("latin-1")
    lines = [b(method) + b" " + b(target) + b" HTTP/1.1"]
    names = [b(k).lower() for k, _ in headers]
    if b"host" not in names:
        lines.append(b"Host: " + b(host))
    lines += [b(k) + b": " + b(v) for k, v in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + b(body)


class Response:
    def __init__(self):
        self.status = None
        self.headers = {}          # lower-case name -> last value
        self.body = b""
        self.complete = False      # the framing (chunked end, Content-Length) was met

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def __repr__(self):
        return "<Response %s complete=%s %r>" % (self.status, self.complete, self.body[:200])


def parse(data, head_only=False):
    """A Response from the bytes received so far (which may end anywhere)."""
    r = Response()
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return r
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    r.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        r.headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    if head_only:
        return r
    if r.header("transfer-encoding", "").lower() == "chunked":
        body, pos = [], 0
        while True:
            eol = rest.find(b"\r\n", pos)
            if eol < 0:
                break
            try:
                size = int(rest[pos:eol].split(b";")[0], 16)
            except ValueError:
                break
            if size == 0:
                r.complete = rest.find(b"\r\n", eol + 2) >= 0
                break
            chunk = rest[eol + 2:eol + 2 + size]
            body.append(chunk)
            if len(chunk) < size:
                break
            pos = eol + 2 + size + 2
        r.body = b"".join(body)
    elif r.header("content-length") is not None:
        n = int(r.header("content-length"))
        r.body = rest[:n]
        r.complete = len(rest) >= n
    else:
        r.body = rest
    return r


def exchange(port, raw, timeout=30, read_until_close=False):
    """Sends raw bytes, reads one response (or everything until the server closes) and
    returns (Response, all bytes received)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(raw)
        data = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
            if not read_until_close:
                r = parse(data)
                if r.complete:
                    break
        return parse(data), data
    finally:
        s.close()
