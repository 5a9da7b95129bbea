"""A throw-away PostgreSQL server from the machine's own binaries (test infrastructure for the Docker kit's
SQL, which no container can run here). Listens on a Unix socket only, in a temporary directory.

Passwords are real: ``postgres`` logs in without one (as the image's init scripts do over its socket), every
other role with SCRAM, so a test proves a role's password is the secret the kit hands to Kafka Connect.
As root (initdb refuses it) the server runs as the ``postgres`` system user. Skipped, with the reason,
where no ``initdb`` is installed.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BINDIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # Debian's layout, newest first


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    return next((str(d / name) for d in PG_BINDIRS if (d / name).exists()), None)


@dataclass
class LocalPostgres:
    bindir: Path
    socket_dir: Path
    port: int
    run_as: str | None
    version: str

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return {**base, "PGHOST": str(self.socket_dir), "PGPORT": str(self.port), **extra}

    def run(self, args: list[str], env: dict[str, str] | None = None, check: bool = True,
            ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(args, env=env or self.env(), user=self.run_as, capture_output=True, text=True,
                              timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"{args[0]} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def psql(self, sql: str, db: str = "postgres", user: str = "postgres", password: str | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        """One statement through psql (tuples only, unaligned): stdout holds the rows."""
        env = self.env(**({"PGPASSWORD": password} if password is not None else {}))
        return self.run([str(self.bindir / "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-At", "-U", user, "-d", db,
                         "-c", sql], env=env, check=check)

    def query(self, sql: str, db: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        return self.psql(sql, db, user, password).stdout.strip()


@pytest.fixture(scope="module")
def local_postgres() -> Iterator[LocalPostgres]:
    initdb = _bin("initdb")
    if initdb is None and os.environ.get("STREAMMASK_REQUIRE_POSTGRES") == "1":
        pytest.fail("STREAMMASK_REQUIRE_POSTGRES=1 but no PostgreSQL server binaries (initdb) are installed")
    if initdb is None:
        pytest.skip("no PostgreSQL server binaries (initdb) on this machine: the kit's SQL runs only in Docker "
                    "(apt-get install postgresql to run these tests)")
    bindir = Path(initdb).resolve().parent
    run_as = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run initdb as")
        run_as = "postgres"
    version = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True).stdout.strip()
    major = re.search(r"(\d+)\.", version)
    if major is None or int(major.group(1)) < 15:  # psql's \getenv, and role settings as the init scripts use them
        pytest.skip(f"the kit's init scripts need PostgreSQL 15 or later (the compose file runs 16); found {version}")
    root = Path(tempfile.mkdtemp(prefix="streammask-pg-"))
    if run_as:
        shutil.chown(root, run_as)
    data, port = root / "data", 54329
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8", "--auth-local=trust",
                    "--no-sync"], env=env, user=run_as, check=True, capture_output=True, timeout=120)
    (data / "pg_hba.conf").write_text("local all postgres trust\nlocal all all scram-sha-256\n")
    if run_as:
        shutil.chown(data / "pg_hba.conf", run_as)
    options = f"-c listen_addresses='' -c unix_socket_directories={root} -c port={port} -c fsync=off " \
              "-c wal_level=logical"
    subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(root / "log"), "start"],
                   env=env, user=run_as, check=True, capture_output=True, timeout=120)
    try:
        yield LocalPostgres(bindir, root, port, run_as, version)
    finally:
        subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], env=env, user=run_as,
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
