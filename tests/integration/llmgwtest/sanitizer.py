"""sanitizer.py — the integration suite against the ASan/UBSan build (scripts/build-asan).

Load it as a plugin: `LLMGW_SANITIZE=1 LLMGW_BUILD_DIR=… LLMGW_BINDIR=… pytest -p
llmgwtest.sanitizer`. Without LLMGW_SANITIZE=1 it does nothing.

- Every sanitizer report goes to a file in one session directory (log_path), not to
  stderr, so no report can hide in a log nobody reads.
- Binaries linked with ASan (llmgw-auditd, llmgw-report, llmgw-keygen) inherit
  ASAN_OPTIONS with detect_leaks=1 from this process's environment: a leak at their exit
  is a report.
- Apache is not instrumented but loads an instrumented module, so stack.Httpd.env() asks
  apache_env() for LD_PRELOAD of the very ASan/UBSan runtimes the module was linked
  against, and detect_leaks=0 (httpd frees its pools by exiting).
- An autouse fixture fails the test after which a new report file appeared; reports
  written during the session's final teardown (a daemon's exit) fail the run at the end.
"""

import os
import re
import subprocess
import tempfile

import pytest

ENABLED = os.environ.get("LLMGW_SANITIZE") == "1"
DIR = None          # where the reports go; made in pytest_configure

COMMON = "abort_on_error=0:halt_on_error=1:handle_abort=1:print_summary=1:strip_path_prefix=/"


def _options(name, leaks):
    return "%s:detect_leaks=%d:log_path=%s/%s" % (COMMON, leaks, DIR, name)


def pytest_configure(config):
    global DIR
    if not ENABLED:
        return
    DIR = os.environ.get("LLMGW_SANITIZER_DIR") or tempfile.mkdtemp(prefix="llmgw-san-")
    os.makedirs(DIR, exist_ok=True)
    os.chmod(DIR, 0o1777)           # Apache's children (www-data) write here too
    os.environ["ASAN_OPTIONS"] = _options("asan", 1)
    os.environ["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:log_path=%s/ubsan" % DIR


def _runtimes(module):
    """The ASan and UBSan shared runtimes the module was linked against (ldd order)."""
    out = subprocess.run(["ldd", module], capture_output=True, text=True).stdout
    libs = re.findall(r"=>\s*(\S*lib(?:asan|ubsan)\.so[.\d]*)\s", out)
    asan = [l for l in libs if "asan" in l]
    if not asan:
        raise RuntimeError("LLMGW_SANITIZE=1 but %s is not linked with ASan" % module)
    return asan + [l for l in libs if "ubsan" in l]


def apache_env(env, module):
    """env for apache2 running `module`; unchanged unless the sanitizer run is on."""
    if not ENABLED:
        return env
    env["LD_PRELOAD"] = " ".join(_runtimes(module) + [env.get("LD_PRELOAD", "")]).strip()
    env["ASAN_OPTIONS"] = _options("httpd", 0)
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:log_path=%s/ubsan-httpd" % DIR
    return env


def reports():
    if not DIR:
        return {}
    return {f: os.path.join(DIR, f) for f in sorted(os.listdir(DIR))}


def _text(paths):
    out = []
    for p in paths:
        with open(p, errors="replace") as f:
            out.append("--- %s ---\n%s" % (p, f.read()[-6000:]))
    return "\n".join(out)


@pytest.fixture(autouse=True)
def no_sanitizer_report():
    if not ENABLED:
        yield
        return
    before = set(reports())
    yield
    new = [p for f, p in reports().items() if f not in before]
    if new:
        pytest.fail("sanitizer report(s) during this test:\n" + _text(new), pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    if not ENABLED:
        return
    all_reports = reports()
    if all_reports:
        print("\nsanitizer reports in %s:\n%s" % (DIR, _text(all_reports.values())))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        print("\nsanitizer: no ASan/UBSan/LSan report (%s)" % DIR)
