"""stack.py — the real parts of a gateway, started for tests and the demo: the mock
providers, llmgw-auditd on a PostgreSQL cluster, and Apache httpd (Debian's apache2
binary) with the built mod_llmgw and the shipped httpd-conf/llmgw.conf. Everything
listens on 127.0.0.1, on free ports, under one temporary directory."""

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from .pgcluster import PgCluster, free_port
from . import sanitizer   # LLMGW_SANITIZE=1: ASan runtime preloaded into apache2 (issue 8)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BUILD = os.environ.get("LLMGW_BUILD_DIR", ROOT)
APACHE = os.environ.get("LLMGW_APACHE", "/usr/sbin/apache2")
MODDIR = "/usr/lib/apache2/modules"

PROVIDER_KEYS = {
    "openai": "mock-openai-provider-secret",
    "anthropic": "mock-anthropic-provider-secret",
    "gemini": "mock-gemini-provider-secret",
    "azure": "mock-azure-provider-secret",
}
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY",
           "gemini": "GEMINI_API_KEY", "azure": "AZURE_OPENAI_API_KEY"}


def wait_port(port, timeout=20, proc=None):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not open" % port)


def child_user():
    """The account Apache's children run as (www-data on Debian)."""
    for name in ("www-data", "apache", "daemon"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    return pwd.getpwuid(os.geteuid())


class Mocks:
    def __init__(self, base, delay_ms=10):
        self.ready = os.path.join(base, "mock-ports.json")
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        argv = [python,
                os.path.join(ROOT, "tests", "mocks", "mock_providers.py"),
                "--openai", "0", "--anthropic", "0", "--gemini", "0", "--azure", "0",
                "--ready-file", self.ready, "--delay-ms", str(delay_ms), "--quiet"]
        for flavour, key in PROVIDER_KEYS.items():
            argv += ["--key-" + flavour, key]
        self.log = open(os.path.join(base, "mocks.log"), "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        end = time.time() + 20
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None or time.time() > end:
                raise RuntimeError("mock providers did not start (see %s)" % self.log.name)
            time.sleep(0.05)
        with open(self.ready) as f:
            self.ports = json.load(f)

    def url(self, flavour, path):
        return "http://127.0.0.1:%d%s" % (self.ports[flavour], path)

    def get(self, flavour, path):
        with urllib.request.urlopen(self.url(flavour, path), timeout=10) as r:
            return json.loads(r.read())

    def requests(self, flavour):
        return self.get(flavour, "/_mock/requests")

    def stats(self, flavour):
        return self.get(flavour, "/_mock/stats")

    def reset(self, flavour=None):
        for fl in [flavour] if flavour else self.ports:
            req = urllib.request.Request(self.url(fl, "/_mock/reset"), data=b"", method="POST")
            urllib.request.urlopen(req, timeout=10).read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class Auditd:
    def __init__(self, base, pg, threads=2):
        self.base = base
        self.pg = pg
        self.threads = threads
        self.sock = os.path.join(base, "auditd.sock")
        self.logpath = os.path.join(base, "auditd.log")
        self.bin = os.path.join(BUILD, "llmgw-auditd")
        self.proc = None
        subprocess.run([self.bin, "--migrate", "--db", pg.dsn,
                        "--sql-dir", os.path.join(ROOT, "sql")], check=True,
                       capture_output=True)

    @property
    def target(self):
        return "unix:" + self.sock

    def start(self):
        self.log = open(self.logpath, "a")
        argv = [self.bin, "--listen", self.target, "--db", self.pg.dsn,
                "--threads", str(self.threads), "--socket-mode", "0660"]
        if os.geteuid() == 0:
            argv += ["--socket-group", child_user().pw_name]   # Apache's children connect
        self.proc = subprocess.Popen(argv,
            stdout=self.log, stderr=subprocess.STDOUT)
        end = time.time() + 15
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.time() > end:
                raise RuntimeError("llmgw-auditd did not start (see %s)" % self.logpath)
            time.sleep(0.05)
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)
        self.proc = None

    def stop(self):
        self.kill(signal.SIGTERM)


class Httpd:
    """An Apache with mod_llmgw in its own server root."""

    def __init__(self, base, mocks, audit_target, extra="", mpm="event", keys="", port=None,
                 real=()):
        """real: provider flavours served by the real API (their keys from the
        environment) instead of the mocks."""
        self.base = base
        self.mocks = mocks
        self.real = set(real)
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.mpm = mpm
        self.audit_target = audit_target
        self.extra = extra
        for d in ("conf", "logs", "run", "spool"):
            os.makedirs(os.path.join(base, d), exist_ok=True)
        user = child_user()
        os.chmod(base, 0o755)
        if os.geteuid() == 0:
            os.chown(os.path.join(base, "spool"), user.pw_uid, user.pw_gid)
        self.keyfile = os.path.join(base, "conf", "keys")
        self.spool = os.path.join(base, "spool")
        self.error_log = os.path.join(base, "logs", "error.log")
        self.access_log = os.path.join(base, "logs", "access.log")
        self.write_keys(keys)
        self.write_conf()

    def write_keys(self, text):
        with open(self.keyfile, "w") as f:
            f.write(text)

    def write_conf(self, extra=None):
        if extra is not None:
            self.extra = extra
        m = self.mocks.ports
        user = child_user()
        conf = f"""
ServerRoot "{self.base}"
ServerName 127.0.0.1
Listen 127.0.0.1:{self.port}
PidFile {self.base}/run/httpd.pid
DefaultRuntimeDir {self.base}/run
Mutex file:{self.base}/run default
User {user.pw_name}
Group #{user.pw_gid}
ErrorLog {self.error_log}
LogLevel warn llmgw:info proxy:warn
LogFormat "%h %u \\"%r\\" %>s %b %D %{{X-Request-Id}}o" gw
CustomLog {self.access_log} gw
Timeout 60
KeepAliveTimeout 30
MaxKeepAliveRequests 0
LoadModule mpm_{self.mpm}_module {MODDIR}/mod_mpm_{self.mpm}.so
LoadModule authz_core_module {MODDIR}/mod_authz_core.so
LoadModule authz_host_module {MODDIR}/mod_authz_host.so
LoadModule proxy_module {MODDIR}/mod_proxy.so
LoadModule proxy_http_module {MODDIR}/mod_proxy_http.so
LoadModule headers_module {MODDIR}/mod_headers.so
LoadModule llmgw_module {BUILD}/.libs/mod_llmgw.so
{self.mock_defines()}
Define LLMGW_KEYFILE {self.keyfile}
Define LLMGW_AUDIT {self.audit_target}
Define LLMGW_SPOOL {self.spool}
Include {ROOT}/httpd-conf/llmgw.conf
LLMGWProvider azure type=azure url=http://127.0.0.1:{m['azure']} key=env:AZURE_OPENAI_API_KEY
<Location /azure>
  LLMGWRoute azure
  ProxyAddHeaders Off
</Location>
{self.extra}
"""
        self.conf = os.path.join(self.base, "conf", "httpd.conf")
        with open(self.conf, "w") as f:
            f.write(conf)

    def mock_defines(self):
        m = self.mocks.ports
        urls = {"openai": ("LLMGW_OPENAI_URL", "/v1"), "anthropic": ("LLMGW_ANTHROPIC_URL", ""),
                "gemini": ("LLMGW_GOOGLE_URL", "")}
        return "\n".join("Define %s http://127.0.0.1:%d%s" % (var, m[fl], suffix)
                         for fl, (var, suffix) in urls.items() if fl not in self.real)

    def env(self):
        env = dict(os.environ)
        for flavour, var in KEY_ENV.items():
            if flavour not in self.real:
                env[var] = PROVIDER_KEYS[flavour]
        return sanitizer.apache_env(env, os.path.join(BUILD, ".libs", "mod_llmgw.so"))

    def ctl(self, *args, check=True):
        return subprocess.run([APACHE, "-f", self.conf, *args], env=self.env(),
                              capture_output=True, text=True, check=check)

    def configtest(self):
        return self.ctl("-t", check=False)

    def start(self):
        r = self.ctl("-k", "start", check=False)
        if r.returncode != 0:
            raise RuntimeError("apache2 failed to start: %s%s\n%s" %
                               (r.stdout, r.stderr, self.log_tail()))
        wait_port(self.port)
        return self

    def pid(self):
        try:
            with open(os.path.join(self.base, "run", "httpd.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        pid = self.pid()
        self.ctl("-k", "stop", check=False)
        end = time.time() + 20
        while pid and time.time() < end:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.05)

    def graceful(self):
        self.ctl("-k", "graceful")
        time.sleep(0.5)
        wait_port(self.port)

    def log_tail(self, n=40):
        try:
            with open(self.error_log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def error_log_text(self):
        try:
            with open(self.error_log) as f:
                return f.read()
        except OSError:
            return ""


def make_key(user, **attrs):
    """Mints a key with the built llmgw-keygen; returns (key, key-file line)."""
    argv = [os.path.join(BUILD, "llmgw-keygen"), "--user", user]
    for k, v in attrs.items():
        argv += ["--" + k, v]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    key = line = None
    for ln in out.splitlines():
        if ln.startswith("key:"):
            key = ln.split(None, 1)[1]
        elif ln.startswith("line:"):
            line = ln.split(None, 1)[1]
    return key, line
