"""limits.py — helpers for the rate-limit tests: a private redis-server on a free
loopback port in a temp dir, and bursts of truly concurrent requests (all threads
released by one barrier) against a gateway."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

from .pgcluster import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
CHAT_TOKENS = 37        # tests/mocks/README.md: chat usage total


class Redis:
    """redis-server --port P --bind 127.0.0.1 --save '' --appendonly no, in a temp dir."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="llmgw-redis-")
        self.proc = None

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self):
        self.log = open(os.path.join(self.dir, "redis.log"), "a")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        end = time.time() + 15
        while True:
            try:
                if self.command("PING") == "PONG":
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > end:
                raise RuntimeError("redis-server did not start (%s)" % self.dir)
            time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def command(self, *args):
        """One command over RESP; returns the decoded reply (simple types only)."""
        payload = "*%d\r\n" % len(args) + "".join(
            "$%d\r\n%s\r\n" % (len(str(a).encode()), a) for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(payload.encode())
            f = s.makefile("rb")
            return _read_reply(f)


def _read_reply(f):
    line = f.readline().decode().rstrip("\r\n")
    kind, rest = line[0], line[1:]
    if kind == "+":
        return rest
    if kind == "-":
        raise RuntimeError(rest)
    if kind == ":":
        return int(rest)
    if kind == "$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:n]
        return data.decode()
    if kind == "*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise RuntimeError("unexpected reply " + line)


def call(url, method="POST", body=None, key=None, headers=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    h = {"Content-Type": "application/json"} if data is not None else {}
    if key:
        h["Authorization"] = "Bearer " + key
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def burst(targets, timeout=60):
    """targets: list of (url, method, body, key, headers). Starts one thread per target,
    releases them together, returns the (status, headers, body) list in order."""
    results = [None] * len(targets)
    gate = threading.Barrier(len(targets))

    def run(i, t):
        url, method, body, key, headers = t
        try:
            gate.wait(timeout)
        except threading.BrokenBarrierError:
            pass
        try:
            results[i] = call(url, method, body, key, headers, timeout)
        except Exception as e:     # a connection failure is a result too
            results[i] = (0, {}, repr(e).encode())

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout + 30)
    return results


def usage(g, key, path="/llmgw/usage"):
    status, headers, body = call(g.httpd.url + path, "GET", key=key)
    return status, headers, (json.loads(body) if body else None)


def rule_usage(g, key, rule):
    status, _, doc = usage(g, key)
    assert status == 200, doc
    for lim in doc["limits"]:
        if lim["rule"] == rule:
            return lim
    raise AssertionError("rule %s not in %s" % (rule, doc))


def wait_used(g, key, rule, expect, timeout=10):
    """Charges land in log_transaction, just after the client has its answer: wait
    until the counter shows them."""
    end = time.time() + timeout
    while True:
        lim = rule_usage(g, key, rule)
        if lim["used"] == expect or time.time() > end:
            return lim
        time.sleep(0.05)
