"""llmgw-keygen (SPEC §5): the key it prints once, the key-file line holding only the
key's SHA-256, and refusal (exit 2, nothing on stdout) of any line the module's key-file
parser would refuse, since a key file Apache cannot read keeps it from starting."""

import base64
import hashlib
import os
import re
import subprocess

from llmgwtest.stack import BUILD

KEYGEN = os.path.join(BUILD, "llmgw-keygen")


def keygen(*args):
    return subprocess.run([KEYGEN, *args], capture_output=True, text=True, timeout=30)


def test_line_holds_the_hash_and_the_attributes_in_order():
    r = keygen("--roles", "premium,developer", "--team", "research", "--user", "alice",
               "--email", "alice@example.com")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("key:  ") and lines[1].startswith("line: ")
    key, line = lines[0].split(None, 1)[1], lines[1].split(None, 1)[1]
    assert re.fullmatch(r"llmgw_[A-Za-z0-9_-]{43}", key)
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert line == (f"sha256:{digest} user=alice email=alice@example.com team=research "
                    "roles=premium,developer")
    assert key not in line


def test_every_key_is_new_and_32_random_bytes_in_canonical_base64url():
    keys = {keygen("--user", "u").stdout.splitlines()[0].split()[1] for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        text = key[len("llmgw_"):]
        raw = base64.urlsafe_b64decode(text + "=")
        assert len(raw) == 32
        assert base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == text


def test_delegation_key_with_the_four_librechat_headers():
    r = keygen("--user", "librechat",
               "--delegate", "X-User-Id,X-User-Email,X-User-Role,X-User-Team")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].endswith(
        " user=librechat delegate=X-User-Id,X-User-Email,X-User-Role,X-User-Team")


def refused(args, why):
    r = keygen(*args)
    assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
    assert r.stdout == "", "a refused key must not be printed"
    assert why in r.stderr, r.stderr


def test_lines_the_module_would_refuse_are_not_printed():
    refused(["--user", "lc", "--delegate", "X-User-Id,X(User)"], "bad header name 'X(User)'")
    refused(["--user", "lc", "--delegate", "A,B,C,D,E"], "too many delegate headers (at most 4")
    refused(["--user", "u", "--roles", ",".join(f"r{i}" for i in range(33))],
            "too many roles (at most 32)")
    refused(["--user", "lc", "--delegate", "X-User-\u00e9"], "mod_llmgw would refuse this key line")


def test_usage_errors():
    refused(["--user", "has space"], "must be non-empty without spaces")
    refused(["--user", ""], "must be non-empty without spaces")
    refused(["--team", "t"], "usage: llmgw-keygen")
    refused(["--user", "u", "extra"], "usage: llmgw-keygen")
    refused(["--user", "u", "--bogus", "x"], "usage: llmgw-keygen")


def test_short_forms_are_the_documented_ones():
    """--help names -u -e -t -r -d; each one sets the attribute its long form does."""
    help_text = keygen("--help").stdout
    for short, long in (("-u", "--user"), ("-e", "--email"), ("-t", "--team"),
                        ("-r", "--roles"), ("-d", "--delegate"), ("-h", "--help")):
        assert f"{short} ({long})" in help_text, help_text
    r = keygen("-u", "bob", "-e", "bob@example.com", "-t", "ops", "-r", "admin", "-d", "X-User-Id")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1].split(None, 2)[2] == (
        "user=bob email=bob@example.com team=ops roles=admin delegate=X-User-Id")
