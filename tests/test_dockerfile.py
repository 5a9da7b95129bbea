"""The container images: streammask's Dockerfile (pinned base, non-root, runtime dependencies only, pinned by
docker/constraints.txt, `streammask` as entrypoint, a /healthz healthcheck), its build context
(.dockerignore), and the Connect image of the `avro` profile (its plugin fetcher, run here on a local zip).
`docker build` needs an engine, which the CI machines do not run: that test skips there."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import io
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.docker_engine import engine_missing

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = (REPO / "Dockerfile").read_text()
FETCH = REPO / "docker" / "connect-avro" / "fetch_plugin.py"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^(\w+)\s+(.*)$", joined, re.M)]


def runtime_stage() -> list[tuple[str, str]]:
    steps = instructions(DOCKERFILE)
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def test_base_image_is_a_pinned_slim_python() -> None:
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE, re.M))
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", args["PYTHON_IMAGE"])
    froms = [a for op, a in instructions(DOCKERFILE) if op == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]


def test_runtime_runs_streammask_as_a_non_root_user_with_health_and_metrics() -> None:
    steps = dict(runtime_stage()[1:])
    user = steps["USER"].split(":")[0]
    assert user.isdigit() and int(user) >= 1000
    assert json.loads(steps["ENTRYPOINT"]) == ["streammask"]
    assert json.loads(steps["CMD"]) == ["run", "--config", "/etc/streammask/streammask.yaml"]
    assert steps["EXPOSE"] == "9400"
    assert "http://127.0.0.1:9400/healthz" in steps["HEALTHCHECK"] and "curl" not in steps["HEALTHCHECK"]


def test_runtime_installs_only_the_built_wheels_and_no_build_tools() -> None:
    build = [a for op, a in instructions(DOCKERFILE) if op == "RUN"][0]
    assert "pip wheel" in build and "--constraint /constraints.txt" in build and "--only-binary=:all:" in build
    runtime = [a for op, a in runtime_stage() if op == "RUN"]
    assert len(runtime) == 1
    assert "pip install --no-index --find-links=/wheels streammask" in runtime[0]
    assert "--mount=type=bind,from=build,source=/wheels" in runtime[0]  # never a layer of its own
    for tool in ("apt-get", "gcc", "build-essential", "[demo]", "[test]"):
        assert tool not in DOCKERFILE
    assert not [a for op, a in runtime_stage() if op in ("COPY", "ADD")]  # no sources in the runtime


def constraint_pins() -> dict[str, str]:
    lines = [ln for ln in (REPO / "docker" / "constraints.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    pins = {}
    for line in lines:
        name, sep, version = line.partition("==")
        assert sep and re.fullmatch(r"[\w.+-]+", version), line
        pins[str(canonicalize_name(name))] = version
    return pins


def test_constraints_pin_every_runtime_dependency_within_pyproject_ranges() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = constraint_pins()
    for text in project["dependencies"]:
        req = Requirement(text)
        name = str(canonicalize_name(req.name))
        assert name in pins, name
        assert req.specifier.contains(pins[name], prereleases=True), (name, pins[name], str(req.specifier))
    # the whole closure, as the installed metadata declares it (extras and other platforms left out)
    closure, todo = set(), [str(canonicalize_name(Requirement(t).name)) for t in project["dependencies"]]
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        closure.add(name)
        for text in md.requires(name) or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(str(canonicalize_name(req.name)))
    assert set(pins) == closure


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    rules = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert rules[0] == "*"  # everything excluded, then the few paths re-included
    included = {r[1:] for r in rules if r.startswith("!")}
    copied = set()
    for op, args in instructions(DOCKERFILE):
        if op == "COPY" and "--from" not in args:
            copied.update(args.split()[:-1])
    assert copied == included == {"docker/constraints.txt", "pyproject.toml", "README.md", "streammask"}


def plugin_zip(tmp_path: Path) -> tuple[Path, str]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        root = "confluentinc-kafka-connect-avro-converter-7.9.0"
        z.writestr(f"{root}/manifest.json", "{}")
        z.writestr(f"{root}/lib/kafka-connect-avro-converter-7.9.0.jar", b"jar1")
        z.writestr(f"{root}/lib/avro-1.11.4.jar", b"jar2")
        z.writestr(f"{root}/doc/LICENSE", "text")
    path = tmp_path / "plugin.zip"
    path.write_bytes(buf.getvalue())
    return path, hashlib.sha256(buf.getvalue()).hexdigest()


def fetch(url: str, sha: str, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(FETCH), url, sha, str(dest)], capture_output=True, text=True,
                          timeout=60)


def test_connect_plugin_fetcher_keeps_the_jars_and_checks_the_digest(tmp_path: Path) -> None:
    path, digest = plugin_zip(tmp_path)
    proc = fetch(path.as_uri(), digest, tmp_path / "ok")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "ok").iterdir()) == ["avro-1.11.4.jar",
                                                                   "kafka-connect-avro-converter-7.9.0.jar"]
    proc = fetch(path.as_uri(), "0" * 64, tmp_path / "bad")
    assert proc.returncode == 1 and "sha256 mismatch" in proc.stderr and not (tmp_path / "bad").exists()
    proc = fetch(path.as_uri(), "", tmp_path / "unpinned")
    assert proc.returncode == 0 and f"AVRO_CONVERTER_SHA256={digest}" in proc.stdout


def test_connect_avro_image_extends_the_pinned_debezium_image() -> None:
    text = (REPO / "docker" / "connect-avro" / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S*)$", text, re.M))
    assert args["DEBEZIUM_IMAGE"] == "quay.io/debezium/connect:3.2.7.Final"
    assert re.fullmatch(r"7\.\d+\.\d+", args["AVRO_CONVERTER_VERSION"])
    assert "COPY --from=fetch /plugin /kafka/connect/confluent-avro-converter" in text


def test_the_image_builds_and_runs_as_non_root(tmp_path: Path) -> None:
    missing = engine_missing()
    if missing:
        pytest.skip(f"docker build needs a Docker engine: {missing}")
    tag = "streammask:test-dockerfile"
    build = subprocess.run(["docker", "build", "-t", tag, str(REPO)], capture_output=True, text=True, timeout=1800,
                           env={"DOCKER_BUILDKIT": "1", "PATH": "/usr/local/bin:/usr/bin:/bin"})
    assert build.returncode == 0, build.stderr[-3000:]
    try:
        who = subprocess.run(["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"], capture_output=True,
                             text=True, timeout=120)
        assert who.stdout.strip() == "10001"
        validate = subprocess.run(
            ["docker", "run", "--rm", "-e", "STREAMMASK_KEY=" + "ab" * 32,
             "-v", f"{REPO / 'compose' / 'streammask.yaml'}:/etc/streammask/config/streammask.yaml:ro",
             "-v", f"{REPO / 'policies'}:/etc/streammask/policies:ro",
             tag, "validate", "--config", "/etc/streammask/config/streammask.yaml"],
            capture_output=True, text=True, timeout=120)
        assert validate.returncode == 0 and "config valid" in validate.stdout, validate.stderr
        tools = subprocess.run(["docker", "run", "--rm", "--entrypoint", "sh", tag, "-c",
                                "command -v gcc cc make || true; python -c 'import setuptools' 2>&1 || true"],
                               capture_output=True, text=True, timeout=120)
        assert "gcc" not in tools.stdout and "ModuleNotFoundError" in tools.stdout + tools.stderr
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, timeout=120)
