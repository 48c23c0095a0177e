"""scripts/demo --smoke (SPEC §2): the whole stack from scratch, one request per provider,
audit rows and the month's report printed, everything stopped, exit 0. Run here through
scripts/demo.py on a free port (scripts/demo itself only adds deps and build)."""

import os
import subprocess
import sys

from llmgwtest.pgcluster import free_port
from llmgwtest.stack import ROOT


def test_demo_smoke_end_to_end():
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")}
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "demo.py"), "--smoke",
                        "--port", str(port)], capture_output=True, text=True, timeout=300, env=env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "smoke: OK" in out
    for provider in ("openai", "anthropic", "google"):
        assert " %s " % provider in out, provider          # audit rows and report lines
    assert "TOTAL" in out and "(6 rows)" in out
    # it stopped what it started: nothing listens on its port any more
    import socket
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
