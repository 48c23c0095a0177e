"""metrics.py — helpers for the observability tests: read a Prometheus text exposition
into samples, sum them by label subset, run promtool, and run a real Prometheus server
that scrapes a gateway (to evaluate the dashboard's queries)."""

import decimal
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from .pgcluster import free_port
from .stack import wait_port

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def parse(text):
    """{(name, ((label, value), ...)): Decimal} plus {family: type}."""
    samples, types = {}, {}
    for ln in text.splitlines():
        if ln.startswith("# TYPE "):
            _, _, name, typ = ln.split(" ", 3)
            types[name] = typ
            continue
        if not ln or ln.startswith("#"):
            continue
        m = SAMPLE.match(ln)
        assert m, "not a sample line: %r" % ln
        labels = tuple(sorted((k, unescape(v)) for k, v, _ in LABEL.findall(m.group(2) or "")))
        key = (m.group(1), labels)
        assert key not in samples, "duplicate series %r" % (key,)
        samples[key] = decimal.Decimal(m.group(3)) if m.group(3) != "+Inf" else m.group(3)
    return samples, types


def total(samples, name, **labels):
    """Sum of the samples of one metric whose labels include all of `labels`."""
    want = set(labels.items())
    return sum((v for (n, ls), v in samples.items() if n == name and want <= set(ls)),
               decimal.Decimal(0))


def scrape(g, path="/metrics", headers=None):
    st, h, body = g.call("GET", path, headers=headers)
    assert st == 200, body[:300]
    assert h["Content-Type"].startswith("text/plain; version=0.0.4"), h["Content-Type"]
    return body.decode("utf-8")


def promtool_check(text):
    """(returncode, output) of `promtool check metrics` on the exposition."""
    r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).decode()


class Prometheus:
    """A Prometheus server (Debian's package) scraping one gateway every second."""

    def __init__(self, base, target_port):
        self.dir = os.path.join(base, "prometheus")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        conf = os.path.join(self.dir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: llmgw\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % target_port)
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [shutil.which("prometheus") or "/usr/bin/prometheus", "--config.file", conf,
             "--storage.tsdb.path", os.path.join(self.dir, "data"),
             "--web.listen-address", "127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, timeout=30, proc=self.proc)

    def query(self, expr):
        """The API's answer for an instant query (status, data or error)."""
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (
            self.port, urllib.parse.urlencode({"query": expr}))
        try:
            with urllib.request.urlopen(url, timeout=20) as r:
                body = r.read()
        except urllib.error.HTTPError as e:
            body = e.read()         # a bad query is a 400 with a JSON error
        try:
            return json.loads(body)
        except ValueError:          # 503 "Service Unavailable" while it starts
            return {"status": "unavailable", "error": body[:200].decode(errors="replace")}

    def wait_for(self, expr, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            ans = self.query(expr)
            if ans.get("status") == "success" and ans["data"]["result"]:
                return ans
            time.sleep(0.5)
        raise AssertionError("no result for %s" % expr)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
