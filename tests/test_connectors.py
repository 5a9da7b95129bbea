"""connectors/*.json, the kit's Kafka Connect configs, checked against what they must agree with: Connect's
REST format, the keys each connector class needs, read_committed and deletes on the sinks, secrets only as
config provider references to what compose/make-secrets.sh generates, the source topics streammask's compose
configs read, the sinks' topics their routing writes, and tables, roles and databases the SQL files create."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streammask.proxy.config import load_config

REPO = Path(__file__).resolve().parent.parent
CONNECTORS = REPO / "connectors"
COMPOSE = REPO / "compose"
SECRET_KEY = re.compile(r"password|secret|user\.info", re.I)
PROVIDER_REF = re.compile(r"^\$\{(file|env|dir):[^{}]+\}$")
TABLES = ("customers", "addresses", "orders")

POSTGRES_SOURCE = "io.debezium.connector.postgresql.PostgresConnector"
DEBEZIUM_SINK = "io.debezium.connector.jdbc.JdbcSinkConnector"
CONFLUENT_SINK = "io.confluent.connect.jdbc.JdbcSinkConnector"
REQUIRED = {
    POSTGRES_SOURCE: {"database.hostname", "database.port", "database.user", "database.password", "database.dbname",
                      "topic.prefix", "plugin.name", "slot.name", "publication.name", "table.include.list"},
    DEBEZIUM_SINK: {"topics", "connection.url", "connection.username", "connection.password", "insert.mode",
                    "primary.key.mode", "delete.enabled", "consumer.override.isolation.level"},
    CONFLUENT_SINK: {"topics", "connection.url", "connection.user", "connection.password", "insert.mode", "pk.mode",
                     "delete.enabled", "consumer.override.isolation.level", "transforms"},
}
# file -> (the streammask compose config whose topics it produces or reads, the QA database it writes)
PIPELINES = {
    "debezium-postgres-source.json": ("streammask.yaml", None),
    "debezium-jdbc-sink.json": ("streammask.yaml", "qa"),
    "confluent-jdbc-sink.json": ("streammask.yaml", "qa"),
    "debezium-postgres-source-avro.json": ("streammask-avro.yaml", None),
    "debezium-jdbc-sink-avro.json": ("streammask-avro.yaml", "qa_avro"),
}


def load(name: str) -> dict[str, str]:
    doc = json.loads((CONNECTORS / name).read_text())
    assert set(doc) == {"name", "config"}, name  # Connect's REST format; a _comment key is not allowed
    config: dict[str, str] = doc["config"]
    assert all(isinstance(v, str) for v in config.values()), name
    return config


def files() -> list[str]:
    return sorted(p.name for p in CONNECTORS.glob("*.json"))


def test_the_expected_files_are_there() -> None:
    assert files() == sorted(PIPELINES)
    names = [json.loads((CONNECTORS / f).read_text())["name"] for f in files()]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_each_config_has_what_its_connector_class_needs(name: str) -> None:
    config = load(name)
    cls = config["connector.class"]
    assert REQUIRED[cls] <= set(config), sorted(REQUIRED[cls] - set(config))
    avro = name.endswith("-avro.json")
    for side in ("key", "value"):
        if avro:
            assert config[f"{side}.converter"] == "io.confluent.connect.avro.AvroConverter"
            assert config[f"{side}.converter.schema.registry.url"] == "http://schema-registry:8081"
        else:  # streammask's format: json reads JsonConverter with embedded schemas
            assert config[f"{side}.converter"] == "org.apache.kafka.connect.json.JsonConverter"
            assert config[f"{side}.converter.schemas.enable"] == "true"


@pytest.mark.parametrize("name", sorted(n for n in PIPELINES if "sink" in n))
def test_sinks_read_committed_upsert_by_record_key_and_apply_deletes(name: str) -> None:
    config = load(name)
    assert config["consumer.override.isolation.level"] == "read_committed"  # streammask writes transactions
    assert config["delete.enabled"] == "true"
    assert config["insert.mode"] == "upsert"
    if config["connector.class"] == DEBEZIUM_SINK:
        assert config["primary.key.mode"] == "record_key"
        assert config["schema.evolution"] == "none"  # the QA tables are compose/qa-init.sql's
    else:
        assert config["pk.mode"] == "record_key" and config["pk.fields"] == "id"
        transforms = config["transforms"].split(",")
        unwrap = next(t for t in transforms if config[f"transforms.{t}.type"].endswith("ExtractNewRecordState"))
        # deletes reach the sink as tombstones (Debezium 2.5+'s name for drop.tombstones=false)
        assert config[f"transforms.{unwrap}.delete.tombstone.handling.mode"] == "tombstone"
        assert config["auto.create"] == "false" and config["auto.evolve"] == "false"


def connect_secret_keys(tmp_path: Path) -> set[str]:
    subprocess.run(["sh", str(COMPOSE / "make-secrets.sh"), str(tmp_path)], check=True, capture_output=True)
    text = (tmp_path / "connect.properties").read_text()
    return {line.split("=", 1)[0] for line in text.splitlines() if "=" in line and not line.startswith("#")}


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_no_literal_secret(name: str, tmp_path: Path) -> None:
    """Every password-like value is a config provider reference, and a file reference names a key of the
    properties file the kit generates, in the directory the compose file mounts into Connect."""
    config = load(name)
    secrets = {k: v for k, v in config.items() if SECRET_KEY.search(k)}
    assert secrets, name  # each one has a password to hide
    generated = connect_secret_keys(tmp_path)
    for key, value in secrets.items():
        assert PROVIDER_REF.match(value), (name, key)
        if value.startswith("${file:"):
            path, prop = value[len("${file:"):-1].rsplit(":", 1)
            assert path == "/opt/connect/secrets/connect.properties" and prop in generated, (name, key)
    for key, value in config.items():  # nor a password inside a URL
        assert not re.search(r"password=(?!\$\{)", value, re.I), (name, key)


@pytest.mark.parametrize("name", sorted(n for n in PIPELINES if "source" in n))
def test_sources_produce_the_topics_streammask_reads(name: str) -> None:
    config = load(name)
    proxy, _ = load_config(COMPOSE / PIPELINES[name][0])
    produced = {f"{config['topic.prefix']}.{t}" for t in config["table.include.list"].split(",")}
    assert produced == set(proxy.topics or ())
    # where the compose file runs the database, and what compose/source-init.sql gives Debezium
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    db = services[config["database.hostname"]]
    assert config["database.dbname"] == db["environment"]["POSTGRES_DB"] and config["database.port"] == "5432"
    sql = (COMPOSE / "source-init.sql").read_text()
    assert f"CREATE ROLE {config['database.user']} WITH LOGIN REPLICATION" in sql
    assert f"CREATE PUBLICATION {config['publication.name']} FOR TABLE " \
           f"{', '.join(config['table.include.list'].split(','))};" in sql
    assert config["plugin.name"] == "pgoutput" and config["publication.autocreate.mode"] == "disabled"


def test_each_source_has_its_own_replication_slot() -> None:
    slots = [load(n)["slot.name"] for n in PIPELINES if "source" in n]
    assert len(set(slots)) == len(slots)


def java_replace(regex: str, replacement: str, topic: str) -> str | None:
    """What Kafka's RegexRouter does: a full match, `$1` for the group."""
    m = re.fullmatch(regex, topic)
    return m.expand(re.sub(r"\$(\d)", r"\\\1", replacement)) if m else None


@pytest.mark.parametrize("name", sorted(n for n in PIPELINES if "sink" in n))
def test_sinks_read_the_topics_streammask_writes_into_the_qa_tables(name: str) -> None:
    config = load(name)
    proxy, _ = load_config(COMPOSE / PIPELINES[name][0])
    routed = {proxy.target_topic(t) for t in proxy.topics or ()}
    assert set(config["topics"].split(",")) == routed
    router = next(t for t in config["transforms"].split(",")
                  if config[f"transforms.{t}.type"] == "org.apache.kafka.connect.transforms.RegexRouter")
    tables = {java_replace(config[f"transforms.{router}.regex"], config[f"transforms.{router}.replacement"], t)
              for t in routed}
    assert tables == set(TABLES)
    assert config.get("collection.name.format", "${topic}") == "${topic}"
    assert config.get("table.name.format", "${topic}") == "${topic}"
    # the QA database and role the compose file creates
    url = re.fullmatch(r"jdbc:postgresql://qa-db:5432/(\w+)(\?.*)?", config["connection.url"])
    assert url is not None and url.group(1) == PIPELINES[name][1]
    assert "CREATE DATABASE qa_avro" in (COMPOSE / "qa-init.sh").read_text()
    user = config.get("connection.username") or config["connection.user"]
    assert f"CREATE ROLE {user} WITH LOGIN" in (COMPOSE / "qa-role.sql").read_text()


def test_the_avro_pipeline_shares_nothing_with_the_json_one_but_the_databases() -> None:
    json_proxy, _ = load_config(COMPOSE / "streammask.yaml")
    avro_proxy, _ = load_config(COMPOSE / "streammask-avro.yaml")
    assert not set(json_proxy.topics or ()) & set(avro_proxy.topics or ())
    for a, b in ((json_proxy.group_id, avro_proxy.group_id), (json_proxy.audit_topic, avro_proxy.audit_topic),
                 (json_proxy.checkpoint_topic, avro_proxy.checkpoint_topic)):
        assert a != b
    sources: list[dict[str, Any]] = [load(n) for n in PIPELINES if "source" in n]
    assert len({s["topic.prefix"] for s in sources}) == len(sources)
