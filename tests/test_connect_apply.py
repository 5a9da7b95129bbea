"""``streammask connect apply`` against a fake Kafka Connect REST API over real HTTP (tests/fake_connect.py):
configs put idempotently, waiting until every connector and task is RUNNING, a FAILED task or the timeout
ending it with exit 1 and a clear line, Connect's refusals shown without config values, files with a
literal secret refused before anything is sent."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from streammask.cli import main
from tests.fake_connect import FakeConnect, free_port

REPO = Path(__file__).resolve().parent.parent
FAST = ["--poll-interval", "0.02"]

SOURCE = {"name": "src", "config": {
    "connector.class": "io.debezium.connector.postgresql.PostgresConnector", "tasks.max": "1",
    "database.hostname": "source-db.internal", "database.user": "debezium",
    "database.password": "${file:/opt/connect/secrets/connect.properties:source.password}",
}}
SINK = {"name": "sink", "config": {
    "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector", "tasks.max": "1",
    "connection.url": "jdbc:postgresql://qa-db.internal:5432/qa", "connection.username": "qa_sink",
    "connection.password": "${env:QA_PASSWORD}", "consumer.override.isolation.level": "read_committed",
}}


def write(tmp_path: Path, *docs: dict[str, Any]) -> list[str]:
    paths = []
    for i, doc in enumerate(docs):
        path = tmp_path / f"{i}-{doc.get('name', 'x')}.json"
        path.write_text(json.dumps(doc))
        paths.append(str(path))
    return paths


def apply(url: str, files: list[str], capsys: pytest.CaptureFixture[str], timeout: float = 5.0,
          ) -> tuple[int, str, str, float]:
    start = time.monotonic()
    code = main(["connect", "apply", "--url", url, "--timeout", str(timeout), *FAST, *files])
    out, err = capsys.readouterr()
    return code, out, err, time.monotonic() - start


def config_values(*docs: dict[str, Any]) -> list[str]:
    return [v for d in docs for k, v in d["config"].items() if len(v) >= 4]


def test_apply_creates_then_updates_and_waits_until_every_task_runs(
    fake_connect: FakeConnect, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write(tmp_path, SOURCE, SINK)
    code, out, err, _ = apply(fake_connect.url, files, capsys)
    assert code == 0, err
    assert out.splitlines() == [
        f"Kafka Connect 3.9.0 at {fake_connect.url}",
        "src: config created", "sink: config created", "src: RUNNING (1 task)", "sink: RUNNING (1 task)"]
    puts = [r for r in fake_connect.requests if r.method == "PUT"]
    assert [(r.path, r.body) for r in puts] == [
        ("/connectors/src/config", {**SOURCE["config"], "name": "src"}),
        ("/connectors/sink/config", {**SINK["config"], "name": "sink"})]
    # the fake's statuses went 404 -> connector RUNNING without tasks -> task RUNNING: all three were polled
    assert sum(r.path == "/connectors/src/status" for r in fake_connect.requests) == 3
    # idempotent: the same files again update in place and finish at once
    code, out, err, _ = apply(fake_connect.url, files, capsys)
    assert code == 0, err
    assert "src: config applied (updated or unchanged)" in out and "sink: RUNNING (1 task)" in out
    assert fake_connect.configs == {"src": {**SOURCE["config"], "name": "src"},
                                    "sink": {**SINK["config"], "name": "sink"}}
    for value in config_values(SOURCE, SINK):
        assert value not in out + err  # names and states only, never a config value


def test_a_failed_task_ends_it_at_once_with_the_first_line_of_the_trace(
    fake_connect: FakeConnect, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = ("org.apache.kafka.connect.errors.ConnectException: cannot connect to "
             "jdbc:postgresql://qa-db.internal:5432/qa as qa_sink\n\tat io.debezium.connector.jdbc.Foo(Foo.java:42)")
    fake_connect.script("sink", [("RUNNING", ["UNASSIGNED"]), ("RUNNING", [f"FAILED: {trace}"])])
    code, out, err, elapsed = apply(fake_connect.url, write(tmp_path, SOURCE, SINK), capsys, timeout=30)
    assert code == 1 and elapsed < 5
    assert ("error: sink: task 0 FAILED: org.apache.kafka.connect.errors.ConnectException: cannot connect to "
            "jdbc:postgresql://qa-db.internal:5432/qa as qa_sink") in err.splitlines()
    assert "Foo.java" not in err  # the first line only
    assert "POST /connectors/sink/restart?includeTasks=true&onlyFailed=true" in err


def test_a_failed_connector_is_reported_too(
    fake_connect: FakeConnect, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_connect.script("src", [("FAILED: io.debezium.DebeziumException: publication does not exist\n\tat x", [])])
    code, _, err, _ = apply(fake_connect.url, write(tmp_path, SOURCE), capsys)
    assert code == 1
    assert "error: src: connector FAILED: io.debezium.DebeziumException: publication does not exist" in err


def test_the_timeout_names_what_is_not_running(
    fake_connect: FakeConnect, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_connect.script("sink", [("RUNNING", ["RUNNING", "UNASSIGNED"])])
    fake_connect.script("src", [("PAUSED", ["PAUSED"])])
    code, out, err, elapsed = apply(fake_connect.url, write(tmp_path, SOURCE, SINK), capsys, timeout=0.6)
    assert code == 1 and 0.5 < elapsed < 3
    lines = err.splitlines()
    assert "error: src: not RUNNING after 0.6 s: connector PAUSED (resume it: PUT /connectors/<name>/resume), " \
           "task 0 PAUSED" in lines
    assert "error: sink: not RUNNING after 0.6 s: connector RUNNING, task 0 RUNNING, task 1 UNASSIGNED" in lines
    assert "RUNNING (" not in out


def test_a_connector_that_never_gets_a_status_times_out(
    fake_connect: FakeConnect, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_connect.script("src", [None])
    code, _, err, _ = apply(fake_connect.url, write(tmp_path, SOURCE), capsys, timeout=0.3)
    assert code == 1 and "error: src: not RUNNING after 0.3 s: no status yet" in err


def test_a_refused_config_is_reported_without_its_values(
    fake_connect: FakeConnect, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_connect.reply_next(1, 400, "Connector configuration is invalid and contains the following 1 error(s):\n"
                                    "Invalid value source-db.internal for configuration database.hostname")
    code, out, err, _ = apply(fake_connect.url, write(tmp_path, SOURCE, SINK), capsys)
    assert code == 1
    assert err.strip() == ("error: src: Connect refused the config (HTTP 400: Connector configuration is invalid and "
                           "contains the following 1 error(s):)")
    assert not any(r.path == "/connectors/sink/config" for r in fake_connect.requests)  # stops at the first


def test_a_refusal_quoting_a_credential_value_shows_its_key_instead(
    fake_connect: FakeConnect, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = SOURCE["config"]["database.password"]
    fake_connect.reply_next(1, 400, f"Invalid value {reference} for configuration database.password")
    code, _, err, _ = apply(fake_connect.url, write(tmp_path, SOURCE), capsys)
    assert code == 1 and "Invalid value <database.password> for configuration database.password" in err
    assert reference not in err


def test_rebalance_conflicts_and_a_starting_worker_are_waited_out(
    fake_connect: FakeConnect, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_connect.reply_next(2, 409, "Cannot complete request because of a conflicting operation (e.g. worker "
                                    "rebalance)")
    fake_connect.reply_next(1, 500, "Request timed out")
    code, out, err, _ = apply(fake_connect.url, write(tmp_path, SOURCE), capsys)
    assert code == 0, err
    assert sum(r.method == "PUT" for r in fake_connect.requests) == 4
    assert "src: config created" in out


def test_a_500_that_persists_is_a_refusal(
    fake_connect: FakeConnect, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_connect.reply_next(5, 500, "Failed to find any class that implements Connector and which name matches "
                                    "io.debezium.connector.postgresql.PostgresConnector")
    code, _, err, elapsed = apply(fake_connect.url, write(tmp_path, SOURCE), capsys, timeout=30)
    assert code == 1 and elapsed < 5
    assert sum(r.method == "PUT" for r in fake_connect.requests) == 3
    assert "HTTP 500: Failed to find any class that implements Connector" in err


def test_it_waits_for_connect_to_come_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeConnect(port=free_port())
    starter = threading.Timer(0.4, fake.start)
    starter.start()
    try:
        code, out, err, elapsed = apply(fake.url, write(tmp_path, SOURCE), capsys)
    finally:
        starter.join()
        fake.stop()
    assert code == 0, err
    assert elapsed >= 0.4 and "src: RUNNING (1 task)" in out


def test_connect_that_never_answers_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://someone:hunter22@127.0.0.1:{free_port()}"
    code, _, err, _ = apply(url, write(tmp_path, SOURCE), capsys, timeout=0.3)
    assert code == 1
    assert "did not answer before the timeout (connection failed)" in err
    assert "hunter22" not in err and "someone" not in err  # a URL's user information is never shown


@pytest.mark.parametrize(("doc", "expected"), [
    ({"name": "x", "config": {"connector.class": "C", "database.password": "hunter22"}},
     "config.database.password holds a secret in clear text"),
    ({"name": "x", "config": {"connector.class": "C", "basic.auth.user.info": "user:hunter22"}},
     "config.basic.auth.user.info holds a secret in clear text"),
    ({"name": "x", "config": {"connector.class": "C", "connection.url": "jdbc:postgresql://h/db?password=hunter22"}},
     "config.connection.url holds a secret in clear text"),
    ({"name": "x", "config": {"connector.class": "C", "tasks.max": 1}}, "config.tasks.max is int, not a string"),
    ({"name": "x", "config": {"connector.class": "C", "name": "y"}}, "config.name differs from name"),
    ({"name": "x", "config": {"tasks.max": "1"}}, "config.connector.class is missing"),
    ({"name": "x", "config": {"connector.class": "C"}, "_comment": "hi"}, "expected Connect's REST format"),
    ({"config": {"connector.class": "C"}}, "expected Connect's REST format"),
])
def test_invalid_files_are_refused_before_anything_is_sent(
    fake_connect: FakeConnect, tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: dict[str, Any],
    expected: str,
) -> None:
    files = write(tmp_path, SOURCE, doc)
    code, out, err, _ = apply(fake_connect.url, files, capsys)
    assert code == 2
    assert err.startswith(f"error: {files[1]}: ") and expected in err
    assert "hunter22" not in out + err
    assert fake_connect.requests == []


def test_a_name_given_twice_is_refused(fake_connect: FakeConnect, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err, _ = apply(fake_connect.url, write(tmp_path, SOURCE, SOURCE), capsys)
    assert code == 2 and "connector name given by more than one file: src" in err
    assert fake_connect.requests == []


def test_provider_references_and_credential_sources_are_not_secrets(
    fake_connect: FakeConnect, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = {"name": "x", "config": {
        "connector.class": "C", "database.password": "${file:/opt/connect/secrets/c.properties:pw}",
        "basic.auth.user.info": "${env:SR_AUTH}", "basic.auth.credentials.source": "USER_INFO",
        "sasl.jaas.config": "${file:/opt/connect/secrets/jaas.properties:config}",
    }}
    code, _, err, _ = apply(fake_connect.url, write(tmp_path, doc), capsys)
    assert code == 0, err


def test_the_kit_connectors_apply(fake_connect: FakeConnect, capsys: pytest.CaptureFixture[str]) -> None:
    """The files the compose file's connect-setup services apply pass the same checks."""
    files = sorted(str(p) for p in (REPO / "connectors").glob("*.json"))
    assert len(files) == 5
    code, out, err, _ = apply(fake_connect.url, files, capsys)
    assert code == 0, err
    assert sorted(fake_connect.configs) == ["qa-confluent-jdbc-sink", "qa-jdbc-sink", "qa-jdbc-sink-avro",
                                            "shop-postgres-source", "shop-postgres-source-avro"]
