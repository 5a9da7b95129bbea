"""The proxy config's wire-format options (``format``, ``key_format``, ``schema_registry``): names, the
rules between them, problems with file and line, ``${ENV}`` references checked at load and never expanded
into the config, and what ``validate`` says about them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from streammask import cli
from streammask.errors import ConfigError
from streammask.proxy.config import load_config

BASE = """\
source:
  bootstrap.servers: prod:9092
topics: [dbserver1.public.customers]
routing:
  - {match: 'dbserver1\\.(.*)', to: 'staging.\\1'}
policy: p.yaml
"""
AVRO = BASE + """\
format: avro
schema_registry:
  source: {url: "http://registry:8081", basic.auth.user.info: "${SM_TEST_SR_AUTH}"}
  target: {url: "http://qa-registry:8081"}
  subject_name_strategy: record
"""
SECRET = "sr-user:sr-Pa55word"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "streammask.yaml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[tuple[int | None, str]]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert all(p.file == str(path) for p in info.value.problems)
    return [(p.line, p.message) for p in info.value.problems]


@pytest.fixture(autouse=True)
def sr_auth(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The registry secret in the environment; the root logger as it was (``cli.main`` configures it, and a
    handler left on a closed capture stream would break later tests' logging)."""
    monkeypatch.setenv("SM_TEST_SR_AUTH", SECRET)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_the_documented_block_loads_and_keeps_its_env_references_unexpanded(tmp_path: Path) -> None:
    config, _ = load_config(write(tmp_path, AVRO))
    assert (config.format, config.key_format) == ("avro", None)
    registries = config.schema_registry
    assert registries is not None and registries.subject_name_strategy == "record"
    assert registries.source.url == "http://registry:8081"
    assert registries.target is not None and registries.target.url == "http://qa-registry:8081"
    # the registry client resolves it when it is built: the config object never holds the secret
    assert registries.source.basic_auth_user_info is not None
    assert registries.source.basic_auth_user_info.get_secret_value() == "${SM_TEST_SR_AUTH}"
    assert SECRET not in repr(config)


def test_defaults_are_json_without_a_registry_and_topic_subjects(tmp_path: Path) -> None:
    config, _ = load_config(write(tmp_path, BASE))
    assert (config.format, config.key_format, config.schema_registry) == ("json", None, None)
    config, _ = load_config(write(tmp_path, BASE + "format: avro\nschema_registry:\n  source: {url: 'http://r:1'}\n"))
    assert config.schema_registry is not None
    assert (config.schema_registry.target, config.schema_registry.subject_name_strategy) == (None, "topic")


def test_key_format_overrides_format_for_keys(tmp_path: Path) -> None:
    config, _ = load_config(write(tmp_path, AVRO + "key_format: json\n"))
    assert (config.format, config.key_format) == ("avro", "json")
    text = BASE + "key_format: avro\nschema_registry:\n  source: {url: 'http://r:1'}\n"
    config, _ = load_config(write(tmp_path, text))
    assert (config.format, config.key_format) == ("json", "avro")


def test_avro_without_a_registry_is_refused_at_the_format_line(tmp_path: Path) -> None:
    [(line, message)] = problems(write(tmp_path, BASE + "format: avro\n"))
    assert line == 7 and message.startswith("format avro needs `schema_registry` with `source`")


def test_avro_keys_without_a_registry_are_refused_at_the_key_format_line(tmp_path: Path) -> None:
    [(line, message)] = problems(write(tmp_path, BASE + "metrics: {port: 1}\nkey_format: avro\n"))
    assert line == 8 and message.startswith("key_format avro needs `schema_registry`")


def test_a_registry_without_anything_in_avro_is_refused_not_ignored(tmp_path: Path) -> None:
    text = AVRO.replace("format: avro\n", "format: json\n")
    [(line, message)] = problems(write(tmp_path, text))
    assert line == 8 and "`schema_registry` is set but nothing is avro" in message


def test_a_registry_block_without_source_names_the_missing_option(tmp_path: Path) -> None:
    text = BASE + "format: avro\nschema_registry:\n  target: {url: 'http://r:1'}\n"
    [(line, message)] = problems(write(tmp_path, text))
    assert line == 8 and message == "option 'source' is required here"


@pytest.mark.parametrize(("edit", "line", "expected"), [
    (("format: avro", "format: protobuf"), 7, "format: Input should be 'json' or 'avro'"),
    (("subject_name_strategy: record", "subject_name_strategy: topic_record"), 11, "subject_name_strategy"),
    (("basic.auth.user.info:", "basic.auth.user:"), 9, "unknown option 'basic.auth.user' in 'source'"),
    (("{url: \"http://qa-registry:8081\"}", "{url: ''}"), 10, "url: String should have at least 1 character"),
    (("{url: \"http://qa-registry:8081\"}", "{url: 'http://q:1', bearer.auth.logical.cluster: lsrc-1}"), 10,
     "bearer.auth.logical.cluster needs bearer.auth.token"),
])
def test_registry_field_errors_name_their_line(tmp_path: Path, edit: tuple[str, str], line: int, expected: str) -> None:
    [(found_line, message)] = problems(write(tmp_path, AVRO.replace(*edit)))
    assert found_line == line and expected in message


def test_an_unset_variable_fails_at_load_naming_it_and_its_line_never_a_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SM_TEST_SR_AUTH")
    monkeypatch.setenv("SM_TEST_SR_HOST", "registry.internal")
    text = AVRO.replace('"http://registry:8081"', '"https://${SM_TEST_SR_HOST}:8081"')
    [(line, message)] = problems(write(tmp_path, text))
    assert (line, message) == (
        9, "config.schema_registry.source.basic.auth.user.info: environment variable SM_TEST_SR_AUTH is not set")


def test_an_unset_variable_elsewhere_now_names_its_line_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SM_TEST_NOPE", raising=False)
    [(line, message)] = problems(write(tmp_path, BASE.replace("policy: p.yaml", "policy: ${SM_TEST_NOPE}")))
    assert (line, message) == (6, "config.policy: environment variable SM_TEST_NOPE is not set")


@pytest.mark.parametrize(("target", "expected"), [
    ("{url: 'ftp://qa:21'}", "registry setting url: ftp://qa:21 is not an http(s)://host[:port] URL"),
    ("{url: 'http://qa:1', ssl.ca.location: /nonexistent/ca.pem}", "registry setting ssl.ca.location: no file at"),
    ("{url: 'http://qa:1', basic.auth.user.info: no-colon}", "basic.auth.user.info: expected the form user:password"),
])
def test_settings_a_client_cannot_use_fail_at_load_with_the_line(tmp_path: Path, target: str, expected: str) -> None:
    text = AVRO.replace("{url: \"http://qa-registry:8081\"}", target)
    [(line, message)] = problems(write(tmp_path, text))
    assert line == 10 and message.startswith("config.schema_registry.target: ") and expected in message


def test_a_malformed_secret_is_reported_without_its_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_TEST_SR_AUTH", "sr-Pa55word-without-a-user")
    [(line, message)] = problems(write(tmp_path, AVRO))
    assert line == 9 and "expected the form user:password" in message and "Pa55word" not in message


POLICY = """\
version: 1
key: {env: SM_TEST_KEY, id: k1}
tables:
  public.customers:
    fields:
      id: {strategy: tokenize}
"""


def test_validate_names_the_wire_format_and_registries_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SM_TEST_KEY", bytes(range(32)).hex())
    (tmp_path / "p.yaml").write_text(POLICY)
    text = AVRO.replace('{url: "http://qa-registry:8081"}', "{url: 'http://qa-user:qa-Pa55@qa-registry:8081'}")
    path = write(tmp_path, text)
    assert cli.main(["validate", "--offline", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert ("avro (schemas from http://registry:8081, output ids from http://qa-registry:8081, record subjects)"
            in out), out + err
    assert "Pa55" not in out + err


def test_validate_of_a_json_config_says_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SM_TEST_KEY", bytes(range(32)).hex())
    (tmp_path / "p.yaml").write_text(POLICY)
    assert cli.main(["validate", "--offline", "--config", str(write(tmp_path, BASE + "key_format: json\n"))]) == 0
    assert capsys.readouterr().out.rstrip().endswith("; json")


def test_the_example_configs_registry_block_loads_once_uncommented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped example documents the block commented out; uncommented, it is a valid config."""
    monkeypatch.setenv("SR_AUTH", "u:p")
    example = Path(__file__).resolve().parent.parent / "config" / "streammask.example.yaml"
    lines, in_block = [], False
    for line in example.read_text().splitlines():
        in_block = line.startswith("# schema_registry:") or (in_block and line.startswith("#   "))
        lines.append(line[2:] if in_block or line.startswith("# key_format:") else line)
    text = "\n".join(lines).replace("\nformat: json", "\nformat: avro", 1)
    config, _ = load_config(write(tmp_path, text))
    assert (config.format, config.key_format) == ("avro", "json")
    assert config.schema_registry is not None and config.schema_registry.target is not None
    assert config.schema_registry.subject_name_strategy == "topic"
