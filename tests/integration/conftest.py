"""Integration fixtures, the httpd way (test/pyhttpd): one real stack per session —
PostgreSQL (initdb into a temp dir), llmgw-auditd, the mock providers and Apache with
mod_llmgw and the shipped snippet — and a check that the error log holds no crash."""

import decimal
import json
import os
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from llmgwtest.pgcluster import PgCluster
from llmgwtest.stack import Auditd, Httpd, Mocks, make_key


class Keys:
    def __init__(self):
        self.alice, alice_line = make_key("alice", email="alice@example.com", team="research",
                                          roles="premium,developer")
        self.bob, bob_line = make_key("bob", team="sales", roles="standard")
        self.librechat, lc_line = make_key("librechat", team="frontend",
                                           delegate="X-User-Id,X-User-Email,X-User-Role")
        self.text = "# test keys\n%s\n%s\n%s\n" % (alice_line, bob_line, lc_line)


class Stack:
    """The shared infrastructure (PostgreSQL, auditd, mocks, keys) and one gateway.
    Gateway() starts further Apache instances on the same infrastructure with their
    own extra configuration; the caller stops them (or uses the `gateway` fixture)."""

    def __init__(self, base, httpd=None, parent=None):
        self.base = base
        if parent:
            self.pg, self.mocks, self.auditd, self.keys = (parent.pg, parent.mocks,
                                                           parent.auditd, parent.keys)
            self.httpd = httpd
            self.parent = parent
            return
        self.parent = None
        self.pg = PgCluster()
        self.mocks = Mocks(base)
        self.auditd = Auditd(base, self.pg).start()
        self.keys = Keys()
        self.dead = _closed_port()
        self.httpd = Httpd(os.path.join(base, "httpd"), self.mocks, self.auditd.target,
                           keys=self.keys.text,
                           extra=DEFAULT_EXTRA % self.dead.getsockname()[1])
        self.httpd.start()
        self._n = 0

    def gateway(self, extra="", mpm="event", keys=None, start=True):
        """A new Stack view sharing this infrastructure, with its own Apache."""
        root = self.parent or self
        root._n += 1
        h = Httpd(os.path.join(root.base, "httpd%d" % root._n), root.mocks, root.auditd.target,
                  keys=self.keys.text if keys is None else keys, extra=extra, mpm=mpm)
        if start:
            h.start()
        return Stack(root.base, httpd=h, parent=root)

    def close(self):
        self.httpd.stop()
        if self.parent:
            return
        self.auditd.stop()
        self.mocks.stop()
        self.pg.destroy()
        self.dead.close()

    # --- client helpers ---------------------------------------------------------
    def call(self, method, path, body=None, headers=None, key=None, timeout=30):
        """Returns (status, headers, body bytes); never raises on HTTP errors."""
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        h = {"Content-Type": "application/json"} if data is not None else {}
        if key:
            h["Authorization"] = "Bearer " + key
        h.update(headers or {})
        req = urllib.request.Request(self.httpd.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def rows(self, where, expect=1, timeout=15):
        """Audit rows matching a WHERE clause, waiting until `expect` of them landed."""
        sql = "SELECT row_to_json(a) FROM llmgw.audit_log a WHERE %s ORDER BY ts" % where
        end = time.time() + timeout
        while True:
            got = [json.loads(r[0], parse_float=decimal.Decimal) for r in self.pg.query(sql)]
            if len(got) >= expect or time.time() > end:
                return got
            time.sleep(0.1)

    def row_for(self, request_id, timeout=15):
        got = self.rows("request_id = '%s'" % request_id.replace("'", ""), 1, timeout)
        assert got, "no audit row for request %s" % request_id
        assert len(got) == 1
        return got[0]


DEFAULT_EXTRA = """
LLMGWPrice openai gpt-4o* input=0.0025 output=0.01 cached_input=0.00125
LLMGWPrice openai gpt-4o-mini* input=0.00015 output=0.0006
LLMGWPrice anthropic claude-3-haiku* input=0.00025 output=0.00125 cached_input=0.000025 cache_write=0.0003
LLMGWProvider dead type=openai url=http://127.0.0.1:%d/v1 key=env:OPENAI_API_KEY
<Location /dead>
  LLMGWRoute dead
</Location>
"""


def _closed_port():
    """A socket bound to a port of 127.0.0.1 that never listens, held for the session:
    connecting to it is refused, and no server a later test starts can take the port
    (a port merely found free once was, and then answered the "dead" route with 401)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s


@pytest.fixture(scope="session")
def stack():
    base = tempfile.mkdtemp(prefix="llmgw-it-")
    os.chmod(base, 0o755)
    s = Stack(base)
    yield s
    s.close()
    if os.environ.get("LLMGW_KEEP_TMP") != "1":
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def gateway(stack):
    """Factory: gateway(extra=..., mpm=..., keys=...) → a Stack with its own Apache,
    stopped at the end of the test."""
    made = []

    def make(**kw):
        g = stack.gateway(**kw)
        made.append(g)
        return g
    yield make
    for g in made:
        g.close()


@pytest.fixture(autouse=True)
def no_crash_in_error_log(request):
    """httpd's own tests check the error log after each test; we look for crashes."""
    if "stack" not in request.fixturenames:
        yield
        return
    s = request.getfixturevalue("stack")
    before = len(s.httpd.error_log_text())
    yield
    new = s.httpd.error_log_text()[before:]
    for bad in ("Segmentation fault", "exit signal", "AddressSanitizer", "runtime error:"):
        assert bad not in new, "error log: %s" % new[-2000:]
