"""docker-compose.yml, the QA replication kit: what it promises, read from the file (images pinned, the key
required from the environment, no password, healthchecks and startup order, Kafka's transaction log on one
broker, the `avro` profile, the ops/ mounts Prometheus and Grafana expect), validated by Compose itself
(`docker-compose config -q`) where it is installed, and brought up end to end where a Docker engine answers
(rows masked into the QA database). No engine runs on the CI machines: that last test skips there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docker_engine import compose_command, engine_missing

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
KEY_REF = re.compile(r"^\$\{STREAMMASK_KEY:\?[^}]+\}$")
PINNED = re.compile(r"^[\w./-]+:v?\d+(\.\d+)+([.-][\w.-]+)?$")  # name:1.2.3[-suffix], never latest or a bare major
OPS_MOUNTS = {  # agreed with ops/ (Prometheus and Grafana config live there, created beside this kit)
    "prometheus": ["./ops/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
                   "./ops/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro"],
    "grafana": ["./ops/grafana/provisioning:/etc/grafana/provisioning:ro",
                "./ops/grafana/dashboards:/var/lib/grafana/dashboards:ro"],
}
AVRO_SERVICES = {"schema-registry", "topics-avro", "connect-avro", "connect-setup-avro", "streammask-avro"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def dockerfile_images(path: Path) -> list[str]:
    """The images a Dockerfile builds FROM, with ARG defaults (and build args) substituted."""
    text = path.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    images = []
    for ref in re.findall(r"^FROM (\S+)", text, re.M):
        images.append(re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], ref))
    stages = set(re.findall(r"^FROM \S+ AS (\w+)", text, re.M))
    return [i for i in images if i not in stages]


def test_every_image_is_pinned_by_version(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        if "build" in svc:
            build = svc["build"]
            context = REPO / (build["context"] if isinstance(build, dict) else build)
            for image in dockerfile_images(context / "Dockerfile"):
                assert PINNED.match(image), (name, image)
            for arg, value in (build.get("args") or {}).items() if isinstance(build, dict) else ():
                if arg.endswith("_IMAGE"):
                    assert PINNED.match(value), (name, arg, value)
        else:
            assert PINNED.match(svc["image"]), (name, svc["image"])


def test_the_masking_key_is_required_from_the_environment(services: dict[str, dict[str, Any]]) -> None:
    proxies = [n for n, s in services.items() if s.get("command", [None])[0] == "run"]
    assert sorted(proxies) == ["streammask", "streammask-avro"]
    for name in proxies:
        assert KEY_REF.match(services[name]["environment"]["STREAMMASK_KEY"]), name
    for name, svc in services.items():  # nobody else is handed the key
        if name not in proxies:
            assert "STREAMMASK_KEY" not in (svc.get("environment") or {}), name


def test_no_password_is_written_in_the_file(services: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """Passwords come from the generated kit-secrets volume: *_FILE variables naming a file that
    compose/make-secrets.sh makes, never a value."""
    for name, svc in services.items():
        for var, value in (svc.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN", var) and "ALLOWLIST" not in var:
                assert var.endswith("_FILE") and str(value).startswith("/run/secrets/kit/"), (name, var)
    text = COMPOSE_FILE.read_text()
    assert "POSTGRES_PASSWORD:" not in text and "GF_SECURITY_ADMIN_PASSWORD:" not in text
    subprocess.run(["sh", str(REPO / "compose" / "make-secrets.sh"), str(tmp_path)], check=True, capture_output=True)
    generated = {p.name for p in tmp_path.iterdir()}
    for name, svc in services.items():
        for var, value in (svc.get("environment") or {}).items():
            if var.endswith("_FILE"):
                assert Path(value).name in generated, (name, var, value)


def test_streammask_runs_the_repository_image_with_its_config_policy_and_health(
    services: dict[str, dict[str, Any]]
) -> None:
    for name, config in (("streammask", "streammask.yaml"), ("streammask-avro", "streammask-avro.yaml")):
        svc = services[name]
        assert svc["build"] == {"context": "."} and svc["image"] == "streammask:kit"
        mounted = f"/etc/streammask/config/{config}"
        assert svc["command"] == ["run", "--config", mounted]
        assert f"./compose/{config}:{mounted}:ro" in svc["volumes"]
        # the config names its policy relative to itself: ../policies/ecommerce.yaml
        assert "./policies:/etc/streammask/policies:ro" in svc["volumes"]
        assert yaml.safe_load((REPO / "compose" / config).read_text())["policy"] == "../policies/ecommerce.yaml"
        check = " ".join(svc["healthcheck"]["test"])
        assert "http://127.0.0.1:9400/healthz" in check
        assert any(p.endswith(":9400") for p in svc["ports"])
    assert services["streammask"]["ports"] == ["127.0.0.1:9400:9400"]
    metrics = yaml.safe_load((REPO / "compose" / "streammask.yaml").read_text())["metrics"]
    assert metrics == {"host": "0.0.0.0", "port": 9400}  # Prometheus scrapes streammask:9400


def test_kafka_runs_kraft_with_its_transaction_log_on_one_broker(services: dict[str, dict[str, Any]]) -> None:
    env = services["kafka"]["environment"]
    assert services["kafka"]["image"].startswith("apache/kafka:3.")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller" and "CLUSTER_ID" in env
    assert not any("ZOOKEEPER" in k for k in env) and "zookeeper" not in services
    for var in ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
                "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"):
        assert env[var] == 1, var
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    for config in ("streammask.yaml", "streammask-avro.yaml"):
        source = yaml.safe_load((REPO / "compose" / config).read_text())["source"]
        assert source == {"bootstrap.servers": "kafka:9092"}


def test_startup_order_waits_for_health_and_one_shots(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, (name, dep)
            target = services[dep]
            if cond["condition"] == "service_healthy":
                assert "test" in target.get("healthcheck", {}), (name, dep)
            else:
                assert cond["condition"] == "service_completed_successfully", (name, dep)
                assert target.get("restart") == "no", (name, dep)
            # a default service never waits for one that only runs under a profile
            if not svc.get("profiles"):
                assert not target.get("profiles"), (name, dep)
    setup = services["connect-setup"]["depends_on"]
    assert {d: c["condition"] for d, c in setup.items()} == {
        "connect": "service_healthy", "source-db": "service_healthy", "qa-db": "service_healthy",
        "topics": "service_completed_successfully"}
    assert services["source-db"]["command"] == ["postgres", "-c", "wal_level=logical"]


def test_the_avro_profile_adds_a_schema_registry_and_its_own_pipeline(services: dict[str, dict[str, Any]]) -> None:
    assert {n for n, s in services.items() if s.get("profiles")} == AVRO_SERVICES
    assert all(services[n]["profiles"] == ["avro"] for n in AVRO_SERVICES)
    assert re.match(r"^confluentinc/cp-schema-registry:7\.\d+\.\d+$", services["schema-registry"]["image"])
    registry = yaml.safe_load((REPO / "compose" / "streammask-avro.yaml").read_text())["schema_registry"]
    assert registry["source"]["url"] == "http://schema-registry:8081"
    assert services["connect-avro"]["build"]["context"] == "docker/connect-avro"


def test_prometheus_and_grafana_mount_the_ops_files(services: dict[str, dict[str, Any]]) -> None:
    for name, mounts in OPS_MOUNTS.items():
        assert [m for m in services[name]["volumes"] if m.startswith("./ops/")] == mounts
    assert "command" not in services["prometheus"]  # the image's default: --config.file=/etc/prometheus/prometheus.yml
    assert services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == \
        "/var/lib/grafana/dashboards/streammask.json"


def test_every_other_mounted_file_is_in_the_repository(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for mount in svc.get("volumes") or []:
            source = mount.split(":")[0]
            if source.startswith("./") and not source.startswith("./ops/"):
                assert (REPO / source).exists(), (name, source)
    for name in ("connect-setup", "connect-setup-avro"):  # the files it applies are the mounted connectors
        files = [a for a in services[name]["command"] if a.startswith("/etc/streammask/connectors/")]
        assert files and all((REPO / "connectors" / Path(f).name).exists() for f in files)


def test_host_ports_bind_to_localhost_only(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for port in svc.get("ports") or []:
            assert str(port).startswith("127.0.0.1:"), (name, port)


@pytest.mark.parametrize("config", ["streammask.yaml", "streammask-avro.yaml"])
def test_the_compose_streammask_configs_validate(config: str) -> None:
    """`streammask validate --offline` (the real loader: config, policy, key), no broker needed."""
    env = {**os.environ, "STREAMMASK_KEY": "ab" * 32}
    command = [sys.executable, "-m", "streammask", "validate", "--offline", "--config", f"compose/{config}"]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "config valid" in proc.stdout and "same cluster" in proc.stdout


# -- Compose itself -------------------------------------------------------------------------------------


def _compose_cli() -> list[str]:
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed (.ci/run installs Debian's "
                    "docker-compose)")
    return command


@pytest.mark.parametrize("profile", [[], ["--profile", "avro"]], ids=["default", "avro"])
def test_compose_validates_the_file(profile: list[str]) -> None:
    """`config -q` checks the file against Compose's schema and resolves every variable; no engine needed."""
    cli = _compose_cli()
    env = {**os.environ, "STREAMMASK_KEY": "0" * 64}
    proc = subprocess.run([*cli, "-f", str(COMPOSE_FILE), *profile, "config", "-q"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    env.pop("STREAMMASK_KEY")
    proc = subprocess.run([*cli, "-f", str(COMPOSE_FILE), *profile, "config", "-q"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0 and "set STREAMMASK_KEY to the masking key" in proc.stderr


# -- the whole stack, where a Docker engine answers --------------------------------------------------------


class Stack:
    def __init__(self, cli: list[str], project: str, env: dict[str, str]) -> None:
        self.cli, self.project, self.env = cli, project, env

    def run(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*self.cli, "-p", self.project, "-f", str(COMPOSE_FILE), *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout, cwd=REPO)
        if check and proc.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)}: {proc.stderr[-2000:]}")
        return proc

    def sql(self, service: str, db: str, query: str) -> str:
        return self.run("exec", "-T", service, "psql", "-U", "postgres", "-d", db, "-Atc", query).stdout.strip()

    def wait_for(self, service: str, db: str, query: str, expected: str, timeout_s: float = 420) -> None:
        deadline, got = time.monotonic() + timeout_s, ""
        while time.monotonic() < deadline:
            got = self.run("exec", "-T", service, "psql", "-U", "postgres", "-d", db, "-Atc", query,
                           check=False).stdout.strip()
            if got == expected:
                return
            time.sleep(3)
        logs = self.run("logs", "--tail", "40", "streammask", "connect-setup", check=False).stdout
        raise AssertionError(f"{query!r} on {service}/{db}: {got!r}, expected {expected!r}\n{logs}")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    missing = engine_missing()
    if missing:
        pytest.skip(f"brings the kit's stack up, which needs a Docker engine: {missing}")
    cli = compose_command()
    if cli is None:
        pytest.skip("a Docker engine answers, but neither `docker compose` nor `docker-compose` is installed")
    for path in ("ops/prometheus/prometheus.yml", "ops/prometheus/alerts.yml", "ops/grafana/provisioning",
                 "ops/grafana/dashboards"):
        if not (REPO / path).exists():  # Docker would create a directory in its place
            pytest.skip(f"{path} is not in this checkout yet (ops/ provides it)")
    env = {**os.environ, "STREAMMASK_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
           "DOCKER_BUILDKIT": "1", "COMPOSE_DOCKER_CLI_BUILD": "1"}  # the Dockerfile mounts the build's wheels
    kit = Stack(cli, f"streammask-kit-test-{uuid.uuid4().hex[:8]}", env)
    try:
        kit.run("up", "-d", "--build")
        yield kit
    finally:
        kit.run("down", "-v", "--remove-orphans", check=False)


def test_the_stack_masks_the_shop_into_the_qa_database(stack: Stack) -> None:
    for table, count in (("customers", "11"), ("addresses", "8"), ("orders", "12")):
        stack.wait_for("qa-db", "qa", f"SELECT count(*) FROM public.{table}", count)
    assert "RUNNING" in stack.run("logs", "connect-setup").stdout
    # masked: no source email, national id or card number reached QA
    for column, table in (("email", "customers"), ("national_id", "customers"), ("card_number", "orders")):
        source = set(stack.sql("source-db", "shop", f"SELECT {column} FROM public.{table} WHERE {column} IS NOT NULL")
                     .splitlines())
        qa = set(stack.sql("qa-db", "qa", f"SELECT {column} FROM public.{table} WHERE {column} IS NOT NULL")
                 .splitlines())
        assert source and qa and not source & qa, column
    # joins hold: every masked customer_id names a masked customer (same tokenize domain)
    orphans = stack.sql("qa-db", "qa", "SELECT (SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM "
                        "customers c WHERE c.id = o.customer_id)) + (SELECT count(*) FROM addresses a WHERE NOT "
                        "EXISTS (SELECT 1 FROM customers c WHERE c.id = a.customer_id))")
    assert orphans == "0"
    # live changes: an insert arrives, a delete removes the row (delete.enabled)
    stack.sql("source-db", "shop", "INSERT INTO public.customers (id, first_name, last_name, email, created_at) "
              "VALUES (1012, 'Ingrid', 'Halvorsen', 'ingrid.halvorsen@example.com', '2024-06-04T10:00:00Z')")
    stack.sql("source-db", "shop", "DELETE FROM public.addresses WHERE id = 509")
    stack.wait_for("qa-db", "qa", "SELECT count(*) FROM public.customers", "12")
    stack.wait_for("qa-db", "qa", "SELECT count(*) FROM public.addresses", "7")
    assert stack.sql("qa-db", "qa", "SELECT count(*) FROM customers WHERE last_name = 'Halvorsen'") == "0"
    metrics = stack.run("exec", "-T", "streammask", "python", "-c", "import urllib.request; print(urllib.request."
                        "urlopen('http://127.0.0.1:9400/metrics').read().decode())").stdout
    assert re.search(r'^streammask_records_out_total\{topic="staging\.public\.customers"\} [1-9]', metrics, re.M)

