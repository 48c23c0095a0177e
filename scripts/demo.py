#!/usr/bin/python3
"""demo.py — the body of scripts/demo (see there). Starts the stack with the test
harness's classes, on 127.0.0.1:8080 (--port to change)."""

import argparse
import datetime
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from llmgwtest.pgcluster import PgCluster  # noqa: E402
from llmgwtest.stack import Auditd, Httpd, Mocks, make_key, BUILD  # noqa: E402

# Example prices (USD per 1K tokens) so the demo's cost report has figures; check your
# providers' current price lists before copying them.
DEMO_PRICES = """
LLMGWPrice openai    gpt-4o-mini*       input=0.00015 output=0.0006 cached_input=0.000075
LLMGWPrice anthropic claude-3-5-haiku*  input=0.0008  output=0.004  cached_input=0.00008 cache_write=0.001
LLMGWPrice google    gemini-2.0-flash*  input=0.0001  output=0.0004 cached_input=0.000025
"""

REAL_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}


def post(port, path, body, headers, stream=False):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", path, json.dumps(body), dict(headers, **{"Content-Type": "application/json"}))
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, r.getheader("X-Request-Id"), data


def smoke_requests(port, key):
    """One request per provider, streaming and not. Returns a list of (name, status)."""
    auth = {"Authorization": "Bearer " + key}
    msgs = [{"role": "user", "content": "Say hello."}]
    calls = [
        ("openai chat", "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": msgs}, auth),
        ("openai chat stream", "/v1/chat/completions",
         {"model": "gpt-4o-mini", "messages": msgs, "stream": True}, auth),
        ("anthropic messages", "/anthropic/v1/messages",
         {"model": "claude-3-5-haiku-latest", "max_tokens": 64, "messages": msgs},
         {"x-api-key": key, "anthropic-version": "2023-06-01"}),
        ("anthropic messages stream", "/anthropic/v1/messages",
         {"model": "claude-3-5-haiku-latest", "max_tokens": 64, "messages": msgs, "stream": True},
         {"x-api-key": key, "anthropic-version": "2023-06-01"}),
        ("google generateContent", "/google/v1beta/models/gemini-2.0-flash:generateContent",
         {"contents": [{"parts": [{"text": "Say hello."}]}]}, {"x-goog-api-key": key}),
        ("google streamGenerateContent", "/google/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
         {"contents": [{"parts": [{"text": "Say hello."}]}]}, {"x-goog-api-key": key}),
    ]
    out = []
    for name, path, body, hdrs in calls:
        st, rid, data = post(port, path, body, dict(hdrs, **{"X-Conversation-Id": "demo-smoke"}))
        print("  %-30s %d  %s" % (name, st, rid))
        out.append((name, st))
    return out


def wait_rows(pg, n, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        c = int(pg.scalar("SELECT count(*) FROM llmgw.audit_log WHERE conversation_id='demo-smoke'"))
        if c >= n:
            return c
        time.sleep(0.2)
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--port", type=int, default=8080)
    args = ap.parse_args()

    real = {fl for fl, var in REAL_ENV.items() if os.environ.get(var)}
    base = tempfile.mkdtemp(prefix="llmgw-demo-")
    os.chmod(base, 0o755)
    started = []
    ok = False
    try:
        print("starting PostgreSQL ...", flush=True)
        pg = PgCluster()
        started.append(pg.destroy)
        mocks = Mocks(base)
        started.append(mocks.stop)
        auditd = Auditd(base, pg).start()
        started.append(auditd.stop)
        key, line = make_key("demo", email="demo@example.com", team="demo", roles="premium")
        httpd = Httpd(os.path.join(base, "httpd"), mocks, auditd.target, keys=line + "\n",
                      port=args.port, real=real, extra=DEMO_PRICES)
        httpd.start()
        started.append(httpd.stop)
        url = httpd.url
        print("\nmod_llmgw demo gateway is up (Apache %s)" % url)
        for fl, prefix in (("openai", "/v1"), ("anthropic", "/anthropic"), ("gemini", "/google"),
                           ("azure", "/azure")):
            how = "real API" if fl in real else "mock on 127.0.0.1:%d" % mocks.ports[fl]
            print("  %-10s base URL %s%s  -> %s" % (fl, url, prefix, how))
        print("  demo gateway key: %s" % key)
        print("  audit database:   psql '%s'" % pg.dsn)
        print("\ntry:\n  curl -s %s/v1/chat/completions -H 'Authorization: Bearer %s' \\\n"
              "       -H 'Content-Type: application/json' \\\n"
              "       -d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'\n"
              % (url, key))
        if args.smoke:
            print("smoke: one request per provider, streaming and not")
            results = smoke_requests(args.port, key)
            n = wait_rows(pg, len(results))
            print("\naudit rows (llmgw.audit_log):")
            print(subprocess.run(["psql", "-X", "-d", pg.dsn, "-c",
                                  "SELECT ts, user_id, provider, model, endpoint, status, stream, "
                                  "prompt_tokens AS prompt, completion_tokens AS completion, "
                                  "total_tokens AS total, cost_usd FROM llmgw.audit_log "
                                  "WHERE conversation_id='demo-smoke' ORDER BY ts"],
                                 capture_output=True, text=True).stdout)
            month = datetime.datetime.utcnow().strftime("%Y-%m")
            rep = subprocess.run([os.path.join(BUILD, "llmgw-report"), "--db", pg.dsn, "--month",
                                  month, "--by", "provider"], capture_output=True, text=True)
            print("cost report for %s (llmgw-report --by provider):\n%s%s" % (month, rep.stdout, rep.stderr))
            providers = pg.query("SELECT DISTINCT provider FROM llmgw.audit_log "
                                 "WHERE conversation_id='demo-smoke' AND status=200")
            got = {p[0] for p in providers}
            ok = (all(st == 200 for _, st in results) and n == len(results) and
                  {"openai", "anthropic", "google"} <= got and rep.returncode == 0)
            print("smoke: %s" % ("OK" if ok else "FAILED"))
        else:
            print("serving until Ctrl-C ...", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        ok = True
    finally:
        print("stopping ...", flush=True)
        for stop in reversed(started):
            try:
                stop()
            except Exception as e:  # keep stopping the rest
                print("  stop: %s" % e)
        shutil.rmtree(base, ignore_errors=True)
    return 0 if ok else 1


def on_term(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_term)
    sys.exit(main())
