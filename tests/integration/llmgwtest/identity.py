"""identity.py — an identity provider for the identity tests: tokens and JWKS documents
minted by the npm `jose` library (tests/clients/jwt-mint.mjs), and a JWKS endpoint on
127.0.0.1 (Python stdlib) that can be switched to another document, stopped and started
again on the same port, and that counts how often it was fetched."""

import http.server
import json
import os
import shutil
import subprocess
import threading

from .pgcluster import free_port
from .stack import ROOT

CLIENTS = os.path.join(ROOT, "tests", "clients")
ISSUER = "https://idp.llmgw.test"
AUDIENCE = "llmgw-gateway"


def node_ready():
    return bool(shutil.which("node")) and os.path.isdir(
        os.path.join(CLIENTS, "node_modules", "jose"))


def mint(keys, tokens, jwks=None, issuer=ISSUER, audience=AUDIENCE):
    """keys/tokens/jwks as jwt-mint.mjs documents them; returns its JSON answer."""
    spec = {"issuer": issuer, "audience": audience, "keys": keys, "tokens": tokens,
            "jwks": jwks or {}}
    r = subprocess.run(["node", os.path.join(CLIENTS, "jwt-mint.mjs")], cwd=CLIENTS,
                       input=json.dumps(spec), capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("jwt-mint.mjs failed: %s" % r.stderr[-2000:])
    return json.loads(r.stdout)


class JwksServer:
    """Serves one JWKS document at /jwks.json; anything else is 404."""

    def __init__(self, doc=None):
        self.port = free_port()
        self.doc = doc or {"keys": []}
        self.hits = 0
        self._lock = threading.Lock()
        self._srv = None
        self.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/jwks.json" % self.port

    def set(self, doc):
        with self._lock:
            self.doc = doc

    def start(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with owner._lock:
                    owner.hits += 1
                    body = json.dumps(owner.doc).encode()
                if self.path != "/jwks.json":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self._srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._srv.daemon_threads = True
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._srv:
            self._srv.shutdown()
            self._srv.server_close()
            self._srv = None


# One httpd child, so "this child already has the keys" is a fact the tests can rely on.
ONE_CHILD = """
StartServers 1
ServerLimit 1
ThreadsPerChild 25
MaxRequestWorkers 25
MinSpareThreads 1
MaxSpareThreads 25
"""


def jwt_conf(jwks_url, algs="RS256,ES256,PS256,EdDSA", refresh=300, extra=""):
    return """
LimitRequestFieldSize 65536
LLMGWIdentity key jwt
LLMGWJWT jwks=%s issuer=%s audience=%s algs=%s leeway=30 refresh=%d
%s
%s
""" % (jwks_url, ISSUER, AUDIENCE, algs, refresh, extra, ONE_CHILD)
