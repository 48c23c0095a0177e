"""pgcluster.py — a private, throw-away PostgreSQL cluster for tests and benchmarks.

PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres``
user (runuser). It listens on 127.0.0.1 and a free port, keeps its unix socket in its
own directory, runs with fsync off, trusts local connections and has a database
``llmgw``. There is no psycopg on these machines: queries go through ``psql --csv``.
"""

import csv
import glob
import io
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

NULL = "\\N"


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def pg_bindir():
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                             check=True).stdout.strip()
        if os.path.exists(os.path.join(out, "initdb")):
            return out
    except (OSError, subprocess.CalledProcessError):
        pass
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return os.path.dirname(found[-1])


class PgError(RuntimeError):
    pass


class PgCluster:
    def __init__(self, dbname="llmgw", port=None, durable=False):
        """durable=False (tests) turns fsync and synchronous_commit off."""
        self.durable = durable
        self.bindir = pg_bindir()
        self.dbname = dbname
        self.port = port or free_port()
        self.base = tempfile.mkdtemp(prefix="llmgw-pg-")
        self.datadir = os.path.join(self.base, "data")
        self.sockdir = os.path.join(self.base, "run")
        self.logfile = os.path.join(self.base, "postgres.log")
        self.as_root = os.geteuid() == 0
        self.owner = "postgres" if self.as_root else pwd.getpwuid(os.geteuid()).pw_name
        os.makedirs(self.sockdir)
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            for path in (self.base, self.sockdir):
                os.chown(path, pw.pw_uid, pw.pw_gid)
            os.chmod(self.base, 0o755)
        self._initdb()
        self.start()
        self._psql("postgres", "CREATE DATABASE %s" % dbname)

    # --- process control -------------------------------------------------------------

    def _run_as_owner(self, argv, **kw):
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        return subprocess.run(argv, capture_output=True, text=True, **kw)

    def _initdb(self):
        r = self._run_as_owner([os.path.join(self.bindir, "initdb"), "-D", self.datadir,
                                "-U", "postgres", "--auth=trust", "-E", "UTF8",
                                "--locale=C", "--no-sync"])
        if r.returncode != 0:
            raise PgError("initdb failed: %s%s" % (r.stdout, r.stderr))
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write("\nlisten_addresses = '127.0.0.1'\nport = %d\n"
                    "unix_socket_directories = '%s'\n"
                    "max_connections = 200\nlog_min_messages = warning\n"
                    % (self.port, self.sockdir))
            if not self.durable:
                f.write("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")

    def _pg_ctl(self, *args):
        r = self._run_as_owner([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir,
                                "-l", self.logfile, "-w", "-t", "60"] + list(args))
        if r.returncode != 0:
            raise PgError("pg_ctl %s failed: %s%s\n%s" % (" ".join(args), r.stdout, r.stderr,
                                                          self.log_tail()))

    def start(self):
        self._pg_ctl("start")

    def stop(self):
        self._pg_ctl("stop", "-m", "fast")

    def restart(self):
        self._pg_ctl("restart", "-m", "fast")

    def running(self):
        r = self._run_as_owner([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "status"])
        return r.returncode == 0

    def destroy(self):
        if os.path.isdir(self.datadir) and self.running():
            try:
                self.stop()
            except PgError:
                pass
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, n=30):
        try:
            with open(self.logfile) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    # --- connections ---------------------------------------------------------------------

    @property
    def dsn(self):
        """A libpq conninfo string usable by llmgw-auditd, llmgw-report and psql."""
        return "host=127.0.0.1 port=%d dbname=%s user=postgres" % (self.port, self.dbname)

    def dsn_for(self, dbname):
        return "host=127.0.0.1 port=%d dbname=%s user=postgres" % (self.port, dbname)

    def _psql(self, dbname, sql):
        r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--csv", "-t",
                            "-P", "null=" + NULL, "-d", self.dsn_for(dbname), "-c", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise PgError("psql: %s\nSQL: %s" % (r.stderr.strip(), sql))
        return r.stdout

    def create_database(self, name, encoding="UTF8"):
        self._psql("postgres", "CREATE DATABASE %s ENCODING '%s' TEMPLATE template0"
                   " LC_COLLATE 'C' LC_CTYPE 'C'" % (name, encoding))
        return self.dsn_for(name)

    def query(self, sql):
        """Runs sql; returns the rows of its last statement as lists of strings, with None
        for SQL NULL."""
        out = self._psql(self.dbname, sql)
        rows = []
        for row in csv.reader(io.StringIO(out)):
            rows.append([None if v == NULL else v for v in row])
        return rows

    def scalar(self, sql):
        rows = self.query(sql)
        return rows[0][0] if rows else None

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                self.query("SELECT 1")
                return
            except PgError:
                time.sleep(0.2)
        raise PgError("PostgreSQL did not become ready")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()
