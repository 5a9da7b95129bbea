"""A real PostgreSQL for the QA-database tests, as a pytest plugin, and the example tables' QA schema.

Registered from ``tests/conftest.py`` (``pytest_plugins``). It provides:

- ``qa_postgres`` (session): a ``PgServer`` started once from the installed binaries (``pg_config --bindir``,
  else the newest ``/usr/lib/postgresql/*/bin``): a throw-away cluster (``initdb``, trust authentication,
  superuser ``postgres``) listening on a unix socket only, in a temp dir, stopped at the end of the session.
  initdb and postgres refuse to run as root: when the tests run as root (CI does) both run as the ``postgres``
  system user (``subprocess``'s ``user=``/``group=``), and the temp dir is that user's;
- ``kit_postgres`` (module): another such cluster for the Docker kit's init scripts, which need what the
  compose file's postgres image has: logical decoding, PostgreSQL 15 or later, and real passwords
  (``postgres`` logs in without one over the socket, as the image's init scripts do; every other role
  with SCRAM, so a test proves a role's password is the secret the kit hands to Kafka Connect);
- ``connect(server)``: a psycopg connection (autocommit: transactions are explicit);
- ``create_shop_schema(conn, schema)``: the QA DDL of ``public.customers``/``addresses``/``orders``;
- ``row_counts``, ``orphans``, ``join_profile``, ``table_rows``, ``column_values``: what the acceptance test
  compares between schemas.

PostgreSQL not installed (or no ``postgres`` user to run it as root, or psycopg missing): the tests that use
it skip, saying so, unless ``STREAMMASK_REQUIRE_POSTGRES=1`` (``.ci/run`` sets it after installing
PostgreSQL): then they fail. A server that is installed but does not start always fails, with its log. When
a test that used the server fails, the tail of the server's log is attached to its report.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

from tests.child_process import DIE_WITH_PARENT, stop_process

if TYPE_CHECKING:
    import psycopg

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 60
PG_USER = "postgres"  # the system user the server runs as under root, and the cluster's superuser
PORT = 5432  # names the socket file only: the server listens on no TCP port
REQUIRE_ENV = "STREAMMASK_REQUIRE_POSTGRES"
# The server's settings: a unix socket only, no durability (a throw-away cluster), terse errors in the log
# (no DETAIL lines: they would hold row values), UTC.
SERVER_SETTINGS = {
    "listen_addresses": "", "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
    "log_error_verbosity": "terse", "log_min_messages": "warning", "TimeZone": "UTC", "max_connections": "20",
    "shared_buffers": "16MB",
}


class PostgresStartError(RuntimeError):
    """The server did not start; the message ends with the tail of its log."""


class PostgresUnavailable(Exception):
    """PostgreSQL (or what it needs here) is not installed: a reason to skip."""


def find_bindir() -> Path:
    """The directory holding ``initdb`` and ``postgres``: ``pg_config --bindir``, else the newest
    ``/usr/lib/postgresql/<version>/bin`` (Debian's server packages put no ``initdb`` on PATH)."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            candidates.append(Path(out.stdout.strip()))

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in path.parent.name.split(".") if p.isdigit())

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    raise PostgresUnavailable(
        "PostgreSQL is not installed (no initdb/postgres in `pg_config --bindir` or /usr/lib/postgresql/*/bin); "
        ".ci/run installs it: apt-get install postgresql")


@dataclass
class PgServer:
    """One throw-away PostgreSQL cluster; ``start()`` returns once it accepts connections."""

    bindir: Path
    log_path: Path
    hba: str | None = None
    """pg_hba.conf's text, when not initdb's (trust for every local connection)."""
    settings: dict[str, str] = field(default_factory=dict)
    """Settings on top of ``SERVER_SETTINGS``."""
    root: Path = field(default_factory=Path)
    """The temp dir holding the data dir and the socket dir (owned by the user the server runs as)."""
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def as_user(self) -> str | None:
        """The user the binaries run as: ``postgres`` under root, else the current user (None)."""
        return PG_USER if os.geteuid() == 0 else None

    def conninfo(self, dbname: str = "postgres") -> dict[str, Any]:
        return {"host": str(self.socket_dir), "port": PORT, "user": PG_USER, "dbname": dbname}

    def version(self) -> tuple[str, int]:
        """``postgres --version``'s line and the major version it names (0 when it names none)."""
        line = subprocess.run([str(self.bindir / "postgres"), "--version"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
        major = re.search(r"(\d+)\.", line)
        return line, int(major.group(1)) if major else 0

    def env(self, **extra: str) -> dict[str, str]:
        """For a client of this server: no PG* variable from the developer's shell, its socket as PGHOST."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return {**base, "PGHOST": str(self.socket_dir), "PGPORT": str(PORT), **extra}

    def run(self, args: list[str], env: dict[str, str] | None = None, check: bool = True,
            ) -> subprocess.CompletedProcess[str]:
        """A client program, as the server's user (its socket and files are that user's)."""
        proc = subprocess.run(args, env=env or self.env(), capture_output=True, text=True, timeout=60,
                              **self._user_args())
        if check and proc.returncode != 0:
            raise AssertionError(f"{args[0]} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def psql(self, sql: str, db: str = "postgres", user: str = PG_USER, password: str | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        """One statement through psql (tuples only, unaligned): stdout holds the rows."""
        env = self.env(**({"PGPASSWORD": password} if password is not None else {}))
        return self.run([str(self.bindir / "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-At", "-U", user, "-d", db,
                         "-c", sql], env=env, check=check)

    def query(self, sql: str, db: str = "postgres", user: str = PG_USER, password: str | None = None) -> str:
        return self.psql(sql, db, user, password).stdout.strip()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_size(self) -> int:
        with contextlib.suppress(OSError):
            return self.log_path.stat().st_size
        return 0

    def log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(offset)
                return handle.read().decode(errors="replace")
        except OSError as exc:
            return f"(server log {self.log_path} unreadable: {exc.strerror})"

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        tail = self.log_since(0).splitlines()[-lines:]
        return "\n".join(tail) if tail else "(server log is empty)"

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, timeout_s: float = START_TIMEOUT_S) -> PgServer:
        self._make_root()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the server's lifetime
        initdb = [str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", PG_USER, "--auth=trust",
                  "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        self._note(initdb)
        try:
            code = subprocess.run(initdb, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                  env=self._env(), timeout=120, **self._user_args()).returncode
        except (OSError, subprocess.SubprocessError) as exc:
            self._fail(f"initdb could not run: {type(exc).__name__}: {exc}")
        if code != 0:
            self._fail(f"initdb exited with code {code}")
        if self.hba is not None:
            hba = self.data_dir / "pg_hba.conf"
            hba.write_text(self.hba)
            if self.as_user is not None:
                entry = pwd.getpwnam(self.as_user)
                os.chown(hba, entry.pw_uid, entry.pw_gid)
        command = [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(PORT),
                   "-c", f"unix_socket_directories={self.socket_dir}"]
        for name, value in {**SERVER_SETTINGS, **self.settings}.items():
            command += ["-c", f"{name}={value}"]
        self._note(command)
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=self._env(),
            preexec_fn=DIE_WITH_PARENT,  # noqa: PLW1509
            **self._user_args(),
        )
        self._wait_ready(timeout_s)
        return self

    def _make_root(self) -> None:
        base = Path(tempfile.gettempdir())
        if self.as_user is not None and not base.stat().st_mode & 0o001:
            base = Path("/tmp")  # a TMPDIR only root can traverse: the server's user could not reach its files
        self.root = Path(tempfile.mkdtemp(prefix="streammask-pg-", dir=base))
        self.socket_dir.mkdir()
        if self.as_user is not None:
            entry = pwd.getpwnam(self.as_user)
            for path in (self.root, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def _user_args(self) -> dict[str, Any]:
        if self.as_user is None:
            return {}
        entry = pwd.getpwnam(self.as_user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _env(self) -> dict[str, str]:
        """No PG* variable from the developer's shell reaches the binaries; a HOME the user can read."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", HOME=str(self.root))
        return env

    def _note(self, command: Sequence[str]) -> None:
        assert self._log is not None
        self._log.write(f"\n=== {' '.join(command)}\n".encode())
        self._log.flush()

    def _wait_ready(self, timeout_s: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        last = "no connection attempted"
        while time.monotonic() < deadline:
            if not self.alive():
                assert self.process is not None
                self._fail(f"postgres exited with code {self.process.returncode} ({last})")
            try:
                with psycopg.connect(**self.conninfo(), connect_timeout=2, autocommit=True) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last = f"connection failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}"
                time.sleep(0.1)
        self._fail(f"not ready after {timeout_s:.0f} s: {last}")

    def _fail(self, problem: str) -> None:
        self.stop()
        raise PostgresStartError(f"PostgreSQL ({self.bindir}) did not start: {problem}\n"
                                 f"log {self.log_path}, last lines:\n{self.log_tail()}")

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then kill; removes the cluster's files; idempotent."""
        proc, self.process = self.process, None
        stop_process(proc, signal.SIGINT, STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.root != Path() and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)


def connect(server: PgServer) -> psycopg.Connection[Any]:
    """A connection in autocommit mode: a transaction is ``with conn.transaction():``."""
    import psycopg

    return psycopg.connect(**server.conninfo(), autocommit=True)


# -- pytest fixtures and hooks ------------------------------------------------------------------------

_running: dict[str, PgServer] = {}
"""The servers up, by the fixture that started them."""


def _stop_at_exit() -> None:
    for server in list(_running.values()):
        server.stop()


atexit.register(_stop_at_exit)


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: PostgreSQL must be there)", pytrace=False)
    pytest.skip(reason)


def _installed_bindir() -> Path:
    """The server binaries, and what running them here needs; skips (or fails, when required) without."""
    try:
        import psycopg  # noqa: F401

        bindir = find_bindir()
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(PG_USER)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root, and initdb/postgres refuse root, but there is no `{PG_USER}` system user "
                    "to run them as (apt-get install postgresql creates it)") from None
    except ImportError:
        _unavailable("psycopg is not installed: pip install -e '.[test]'")
    except PostgresUnavailable as exc:
        _unavailable(str(exc))
    return bindir


def _serve(name: str, server: PgServer) -> Iterator[PgServer]:
    """Starts ``server`` for the fixture ``name``; an installed server that does not start fails, never skips."""
    failure: str | None = None
    try:
        server.start()
    except PostgresStartError as exc:
        failure = str(exc)
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    _running[name] = server
    try:
        yield server
    finally:
        _running.pop(name, None)
        server.stop()


@pytest.fixture(scope="session")
def qa_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    bindir = _installed_bindir()
    yield from _serve("qa_postgres", PgServer(bindir, tmp_path_factory.mktemp("postgres") / "postgres.log"))


KIT_HBA = "local all postgres trust\nlocal all all scram-sha-256\n"
"""As the compose file's postgres image: the superuser over the socket without a password, every other role
with its password."""
KIT_MIN_MAJOR = 15  # psql's \getenv and the role settings the kit's init scripts use


@pytest.fixture(scope="module")
def kit_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    server = PgServer(_installed_bindir(), tmp_path_factory.mktemp("kit-postgres") / "postgres.log", hba=KIT_HBA,
                      settings={"wal_level": "logical"})
    line, major = server.version()
    if major < KIT_MIN_MAJOR:
        pytest.skip(f"the kit's init scripts need PostgreSQL {KIT_MIN_MAJOR} or later (the compose file runs 16); "
                    f"found {line}")
    yield from _serve("kit_postgres", server)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not report.failed:
        return
    for name, server in list(_running.items()):
        if name in getattr(item, "fixturenames", ()):
            state = "running" if server.alive() else "NOT running"
            report.sections.append((f"postgresql log ({state}; {server.log_path})", server.log_tail()))


# -- the QA schema of the example tables ------------------------------------------------------------------

SHOP_TABLES = ("customers", "addresses", "orders")
"""In the order their rows may be created (parents first)."""

# The example tables as a production database would declare them (see examples/make_customers.py): the
# columns and types the Connect schemas describe, with their keys, foreign keys, unique and check
# constraints. The foreign keys are DEFERRABLE INITIALLY DEFERRED and the tests apply a whole stream in one
# transaction, in source order: the constraints are checked at its commit, on the end state, which is what
# masking answers for. A real sink gives no such order: Kafka Connect consumes each topic's partitions on
# their own, and Debezium's JDBC sink buffers per table and commits each table's flush in a transaction of
# its own, the tables of a batch in no set order (JdbcChangeEventSink.flushBuffers, RecordWriter.write). So
# a QA database fed by sinks cannot enforce foreign keys while it loads, deferrable or not: create them
# NOT VALID and VALIDATE CONSTRAINT once the sinks have caught up, or check them with queries (``orphans``).
# Unique constraints stay immediate: ON CONFLICT's arbiter (the primary key) cannot be deferrable.
SHOP_DDL = """
CREATE TABLE {schema}.customers (
    id               integer PRIMARY KEY,
    first_name       text NOT NULL,
    last_name        text NOT NULL,
    email            text NOT NULL CONSTRAINT customers_email_key UNIQUE
                          CONSTRAINT customers_email_shape CHECK (email ~ '^[^@\\s]+@[^@\\s]+$'),
    phone            text,
    birth_date       date,
    balance          numeric(12,2) NOT NULL DEFAULT 0,
    notes            text,
    national_id      text CONSTRAINT customers_national_id_key UNIQUE,
    tier             text NOT NULL DEFAULT 'bronze'
                          CONSTRAINT customers_tier_check CHECK (tier IN ('bronze', 'silver', 'gold', 'platinum')),
    created_at       timestamp with time zone NOT NULL,
    updated_at       timestamp with time zone,
    status           text NOT NULL DEFAULT 'active',
    marketing_opt_in boolean NOT NULL DEFAULT false,
    CONSTRAINT customers_updated_after_created CHECK (updated_at IS NULL OR updated_at >= created_at)
);
CREATE TABLE {schema}.addresses (
    id           integer PRIMARY KEY,
    customer_id  integer NOT NULL CONSTRAINT addresses_customer_fk
                      REFERENCES {schema}.customers (id) DEFERRABLE INITIALLY DEFERRED,
    street       text NOT NULL,
    city         text NOT NULL,
    postcode     text,
    country_code character(2) NOT NULL CONSTRAINT addresses_country_code_check CHECK (country_code ~ '^[A-Z]{{2}}$'),
    kind         text NOT NULL CONSTRAINT addresses_kind_check CHECK (kind IN ('billing', 'shipping')),
    CONSTRAINT addresses_customer_kind_key UNIQUE (customer_id, kind)
);
CREATE TABLE {schema}.orders (
    id          bigint PRIMARY KEY,
    customer_id integer NOT NULL CONSTRAINT orders_customer_fk
                     REFERENCES {schema}.customers (id) DEFERRABLE INITIALLY DEFERRED,
    status      text NOT NULL DEFAULT 'placed'
                     CONSTRAINT orders_status_check CHECK (status IN ('placed', 'shipped', 'delivered', 'cancelled')),
    currency    character(3) NOT NULL DEFAULT 'EUR' CONSTRAINT orders_currency_check CHECK (currency ~ '^[A-Z]{{3}}$'),
    total       numeric(10,2) NOT NULL CONSTRAINT orders_total_check CHECK (total >= 0),
    item_count  smallint NOT NULL CONSTRAINT orders_item_count_check CHECK (item_count > 0),
    placed_at   timestamp without time zone NOT NULL,
    shipped_at  timestamp without time zone,
    card_number text CONSTRAINT orders_card_number_check CHECK (card_number ~ '^[0-9]{{13,19}}$'),
    gift_note   text,
    CONSTRAINT orders_shipped_after_placed CHECK (shipped_at IS NULL OR shipped_at >= placed_at)
);
CREATE INDEX ON {schema}.addresses (customer_id);
CREATE INDEX ON {schema}.orders (customer_id);
"""

FOREIGN_KEYS = (("addresses", "customer_id", "customers", "id"), ("orders", "customer_id", "customers", "id"))
UNIQUE_KEYS = (("customers", ("email",)), ("customers", ("national_id",)), ("addresses", ("customer_id", "kind")))


def create_shop_schema(conn: psycopg.Connection[Any], schema: str) -> None:
    """(Re)create ``schema`` holding the example tables."""
    from psycopg import sql

    name = sql.Identifier(schema)
    with conn.transaction():
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(name))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(name))
        # SHOP_DDL is this module's constant; the only thing put into it is the quoted schema identifier
        conn.execute(sql.SQL(SHOP_DDL).format(schema=name))


def column_types(conn: psycopg.Connection[Any], schema: str, table: str) -> dict[str, str]:
    """Column -> its declared type as PostgreSQL prints it (``format_type``: ``numeric(12,2)``, ``character(2)``)."""
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (schema, table)).fetchall()
    return {name: type_name for name, type_name in rows}


def scalar(conn: psycopg.Connection[Any], query: Any) -> Any:
    """The one value a query returns."""
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def row_counts(conn: psycopg.Connection[Any], schema: str) -> dict[str, int]:
    from psycopg import sql

    return {table: scalar(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
            for table in SHOP_TABLES}


def orphans(conn: psycopg.Connection[Any], schema: str) -> dict[str, int]:
    """Per foreign key, the rows whose parent is missing (the constraint was checked at commit: this
    checks again with a query, which a disabled or NOT VALID constraint would not have done)."""
    from psycopg import sql

    found = {}
    for child, column, parent, parent_column in FOREIGN_KEYS:
        query = sql.SQL("SELECT count(*) FROM {c} ch WHERE ch.{col} IS NOT NULL AND NOT EXISTS "
                        "(SELECT 1 FROM {p} pa WHERE pa.{pcol} = ch.{col})").format(
            c=sql.Identifier(schema, child), col=sql.Identifier(column), p=sql.Identifier(schema, parent),
            pcol=sql.Identifier(parent_column))
        found[f"{child}.{column} -> {parent}.{parent_column}"] = scalar(conn, query)
    return found


def constraints(conn: psycopg.Connection[Any], schema: str) -> dict[str, tuple[str, bool, bool]]:
    """Constraint name -> (type letter: p, f, u, c; validated; deferrable) of ``schema``'s tables."""
    rows = conn.execute(
        "SELECT con.conname, con.contype::text, con.convalidated, con.condeferrable FROM pg_constraint con "
        "JOIN pg_namespace n ON n.oid = con.connamespace WHERE n.nspname = %s", (schema,)).fetchall()
    return {name: (kind, valid, deferrable) for name, kind, valid, deferrable in rows}


def duplicate_keys(conn: psycopg.Connection[Any], schema: str) -> dict[str, int]:
    """Per unique key, the values held by more than one row (NULLs are distinct, as in the constraint)."""
    from psycopg import sql

    found = {}
    for table, columns in UNIQUE_KEYS:
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        not_null = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in columns)
        query = sql.SQL("SELECT count(*) FROM (SELECT {cols} FROM {t} WHERE {nn} GROUP BY {cols} "
                        "HAVING count(*) > 1) d").format(cols=cols, t=sql.Identifier(schema, table), nn=not_null)
        found[f"{table}({', '.join(columns)})"] = scalar(conn, query)
    return found


# Joins on the (masked) ids, as a QA test would run them. Each query's result does not depend on the id
# values themselves, only on which rows join: source and masked schemas must give the same answers.
JOIN_QUERIES = {
    "customers JOIN orders": "SELECT count(*) FROM {s}.customers c JOIN {s}.orders o ON o.customer_id = c.id",
    "customers JOIN addresses":
        "SELECT count(*) FROM {s}.customers c JOIN {s}.addresses a ON a.customer_id = c.id",
    "orders JOIN addresses (same customer)":
        "SELECT count(*) FROM {s}.orders o JOIN {s}.addresses a ON a.customer_id = o.customer_id",
    "customers with an order and an address":
        "SELECT count(DISTINCT c.id) FROM {s}.customers c JOIN {s}.orders o ON o.customer_id = c.id "
        "JOIN {s}.addresses a ON a.customer_id = c.id",
    "customers LEFT JOIN orders":
        "SELECT count(*) FROM {s}.customers c LEFT JOIN {s}.orders o ON o.customer_id = c.id",
    "orders per customer (multiset)":
        "SELECT n, count(*) FROM (SELECT count(o.id) AS n FROM {s}.customers c LEFT JOIN {s}.orders o "
        "ON o.customer_id = c.id GROUP BY c.id) per GROUP BY n ORDER BY n",
    "per customer: tier, orders, order total, address kinds (multiset)":
        "SELECT tier, n_orders, total, kinds, count(*) FROM (SELECT c.tier, "
        "(SELECT count(*) FROM {s}.orders o WHERE o.customer_id = c.id) AS n_orders, "
        "(SELECT coalesce(sum(o.total), 0) FROM {s}.orders o WHERE o.customer_id = c.id) AS total, "
        "(SELECT string_agg(a.kind, ',' ORDER BY a.kind) FROM {s}.addresses a WHERE a.customer_id = c.id) AS kinds "
        "FROM {s}.customers c) per GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 NULLS FIRST",
    "orders per tier and currency":
        "SELECT c.tier, o.currency, count(*), sum(o.total) FROM {s}.orders o JOIN {s}.customers c "
        "ON c.id = o.customer_id GROUP BY 1, 2 ORDER BY 1, 2",
}


def join_profile(conn: psycopg.Connection[Any], schema: str) -> dict[str, list[tuple[Any, ...]]]:
    from psycopg import sql

    return {label: conn.execute(sql.SQL(query).format(s=sql.Identifier(schema))).fetchall()
            for label, query in JOIN_QUERIES.items()}


def table_rows(conn: psycopg.Connection[Any], schema: str, table: str) -> list[tuple[Any, ...]]:
    """Every row, ordered by the primary key (the first column of the example tables)."""
    from psycopg import sql

    return conn.execute(sql.SQL("SELECT * FROM {} ORDER BY 1").format(sql.Identifier(schema, table))).fetchall()


def column_values(conn: psycopg.Connection[Any], schema: str, table: str, column: str) -> Counter[Any]:
    """The non-NULL values of a column, with their counts."""
    from psycopg import sql

    query = sql.SQL("SELECT {c} FROM {t} WHERE {c} IS NOT NULL").format(
        c=sql.Identifier(column), t=sql.Identifier(schema, table))
    return Counter(value for (value,) in conn.execute(query).fetchall())


__all__ = [
    "FOREIGN_KEYS", "SHOP_TABLES", "UNIQUE_KEYS", "PgServer", "PostgresStartError", "column_types", "column_values",
    "connect", "constraints", "create_shop_schema", "duplicate_keys", "find_bindir", "join_profile", "orphans",
    "row_counts", "table_rows",
]
